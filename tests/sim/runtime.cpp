// The runtime of the CUDA emulator: devices, memory, streams and events (see include/
// cuda_runtime.h for what is modelled). Streams are queues with a worker thread each; the host
// and the workers are ordered only by what the code declares (enqueue, event record/wait,
// synchronize calls, blocking copies, cudaFree). By default the queues run lazily: nothing runs
// until the host needs it, then one op at a time in an order the seed picks among those the
// declared dependencies allow (the scheduler below), so a missing event wait or synchronize is
// a wrong result on every run of a seed. Under ThreadSanitizer they run eagerly and only those
// edges are happens-before: ops run on an executor context whose effects do not flow back
// through the queue's lock (simt.cpp, run_isolated), so a missing event wait or stream
// synchronize is reported as a data race.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "sim.h"

#if defined(__SANITIZE_THREAD__)
#define DDNET_SIM_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DDNET_SIM_TSAN 1
#endif
#endif
#if DDNET_SIM_TSAN
#include <sanitizer/tsan_interface.h>
#define SIM_RELEASE(p) __tsan_release(const_cast<void*>(static_cast<const void*>(p)))
#define SIM_ACQUIRE(p) __tsan_acquire(const_cast<void*>(static_cast<const void*>(p)))
#else
#define SIM_RELEASE(p) ((void)(p))
#define SIM_ACQUIRE(p) ((void)(p))
#endif

namespace ddnet::sim {
void run_grid(const LaunchConfig& cfg, std::function<void()>& body, std::uint64_t launch_seed);
}

using namespace ddnet::sim;

struct CUstream_st;

// ---------------------------------------------------------------------------------------------
// Event records: one per cudaEventRecord, completed by the stream's worker when it reaches it.
struct Record {
  std::mutex m;
  std::condition_variable cv;
  std::atomic<bool> done{false};
  std::chrono::steady_clock::time_point when{};
  int device = 0;
  CUstream_st* stream = nullptr;  // where it was recorded, and as which op: what a wait on it
  std::uint64_t index = 0;        // needs to have run (the lazy scheduler's dependency)
  void complete() {
    SIM_RELEASE(this);
    std::lock_guard<std::mutex> lock(m);
    when = std::chrono::steady_clock::now();
    done.store(true);
    cv.notify_all();
  }
  void wait() {
    std::unique_lock<std::mutex> lock(m);
    cv.wait(lock, [&] { return done.load(); });
    lock.unlock();
    SIM_ACQUIRE(this);
  }
  bool query() {
    std::lock_guard<std::mutex> lock(m);
    const bool d = done.load();
    if (d) SIM_ACQUIRE(this);
    return d;
  }
};

struct CUevent_st {
  unsigned flags = 0;
  int device = 0;
  std::mutex m;
  std::shared_ptr<Record> last;  // the latest record, nullptr before the first
};

struct Op {
  std::string what;
  std::function<void()> work;
  std::uint64_t index = 0;
  OpKind kind = OpKind::local;
  std::shared_ptr<Record> waits_for;  // a cudaStreamWaitEvent's record
};

// A stream's state lives under the scheduler's one mutex (Sched::m below).
struct CUstream_st {
  int device = 0;
  unsigned flags = 0;
  std::uint64_t id = 0;
  std::condition_variable cv;             // the worker waits for a grant
  std::deque<std::unique_ptr<Op>> queue;  // submitted, not started; front has index `started`
  std::uint64_t submitted = 0;            // ops queued so far
  std::uint64_t started = 0;              // ops the worker took
  std::uint64_t completed = 0;            // ops done
  std::uint64_t granted = 0;              // ops the worker may take (all of them when eager)
  std::uint64_t wanted = 0;  // lazy: ops the host (or a dependency, or NCCL) needs done
  bool running = false, closing = false, finished = false;
  char done_sync = 0;  // TSan: everything the worker completed, released after each op
  std::thread worker;
};

namespace {

struct Allocation {
  std::size_t bytes;
  int device;
};

struct Global {
  std::mutex m;
  std::map<std::uintptr_t, Allocation> device_allocs;  // by base address
  std::map<std::uintptr_t, std::size_t> pinned;
  std::set<CUstream_st*> live_streams;
  std::set<CUevent_st*> live_events;
  std::size_t used[kDeviceCount] = {};
  CUstream_st* null_stream[kDeviceCount] = {};
  std::uint64_t next_stream_id = 1;
  std::mutex count_m;
  std::map<std::string, std::uint64_t> counts;
};

Global& g() {
  static Global* global = new Global();  // never destroyed: workers may outlive main's statics
  return *global;
}

thread_local int t_device = 0;
thread_local cudaError_t t_last_error = cudaSuccess;

std::size_t device_memory_bytes() {
  static const std::size_t bytes = [] {
    const char* v = std::getenv("DDNET_SIM_DEVICE_MEMORY_MB");
    const long mb = v ? std::atol(v) : 0;
    return static_cast<std::size_t>(mb > 0 ? mb : 8192) << 20;
  }();
  return bytes;
}

unsigned delay_us() {
  static const unsigned us = [] {
    const char* v = std::getenv("DDNET_SIM_DELAY_US");
    return v ? static_cast<unsigned>(std::atol(v)) : 100u;
  }();
  return us;
}

// DDNET_SIM_STREAMS=lazy|eager. Lazy (the default except under ThreadSanitizer) runs nothing until
// the host needs it and then one op at a time in a seeded order; eager runs every stream's work
// as soon as it is queued, concurrently, with seeded delays (under TSan, where only the declared
// edges are happens-before, that makes the ordering checks independent of the interleaving).
bool lazy_streams() {
  static const bool lazy = [] {
    const char* v = std::getenv("DDNET_SIM_STREAMS");
    if (v && std::strcmp(v, "lazy") == 0) return true;
    if (v && std::strcmp(v, "eager") == 0) return false;
    if (v && *v) fail(std::string("DDNET_SIM_STREAMS=") + v + ": expected lazy or eager");
#if DDNET_SIM_TSAN
    return false;
#else
    return true;
#endif
  }();
  return lazy;
}

// Lazy mode's backstop: when work is queued that nothing has asked for, nothing runs and no
// CUDA call has come for this long, the work runs anyway (a host may wait for something that
// needs the device to progress on its own, as a real GPU does: a peer process, a pinned flag).
unsigned idle_flush_ms() {
  static const unsigned ms = [] {
    const char* v = std::getenv("DDNET_SIM_IDLE_FLUSH_MS");
    const long n = v ? std::atol(v) : 0;
    return static_cast<unsigned>(n > 0 ? n : 200);
  }();
  return ms;
}

cudaError_t ret(cudaError_t err) {
  if (err != cudaSuccess) t_last_error = err;
  return err;
}

bool valid_device(int d) {
  return d >= 0 && d < kDeviceCount;
}

// ---------------------------------------------------------------------------------------------
// The stream scheduler. Eager: every op is granted when queued. Lazy: an op is granted only when
// it is wanted (the host synchronizes or queries a stream or an event after it, a blocking copy
// or cudaFree needs it, a wanted op of another stream waits for an event recorded after it, or
// it is an NCCL collective, which peers outside this host's control wait for) and it can run
// (its stream's previous op is done; a wait's event has completed). Among the ops that can run,
// one is granted at a time, chosen by the seed (a collective, which may block on its peers,
// does not count against that one). So work the code forgot to order runs in an order the seed
// picks, or not at all before the host reads: a missing wait is a wrong result on every run.
struct Sched {
  std::mutex m;
  std::condition_variable done_cv;    // hosts wait for completions
  std::vector<CUstream_st*> streams;  // every stream made, in creation order
  int serial_running = 0;
  std::uint64_t decisions = 0;
  std::uint64_t activity = 0;  // bumped by every queue, demand and completion
  bool flusher = false;
};

Sched& sched() {
  static Sched* s = new Sched();  // never destroyed, as g()
  return *s;
}

// Raises what must complete on `s` to its first `target` ops, and, through the event waits among
// them, what must complete on the streams they wait for. Each op is looked at once per raise.
void want(CUstream_st* s, std::uint64_t target) {
  std::vector<std::pair<CUstream_st*, std::uint64_t>> work{{s, target}};
  while (!work.empty()) {
    auto [st, t] = work.back();
    work.pop_back();
    if (t <= st->wanted) continue;
    const std::uint64_t from = std::max(st->wanted, st->started);
    st->wanted = t;
    for (std::uint64_t i = from; i < t; ++i) {
      const Op& op = *st->queue[i - st->started];
      if (op.waits_for && !op.waits_for->done.load())
        work.emplace_back(op.waits_for->stream, op.waits_for->index + 1);
    }
  }
}

bool can_grant(const CUstream_st* s, int serial_running) {
  if (s->running || s->started >= s->wanted || s->queue.empty()) return false;
  const Op& op = *s->queue.front();
  if (op.waits_for && !op.waits_for->done.load()) return false;
  return op.kind == OpKind::collective || serial_running == 0;
}

// Grants what may run now (lazy), under Sched::m.
void schedule(Sched& q) {
  if (!lazy_streams()) return;
  std::vector<CUstream_st*> ready;
  for (;;) {
    ready.clear();
    for (CUstream_st* s : q.streams)
      if (can_grant(s, q.serial_running)) ready.push_back(s);
    if (ready.empty()) return;
    CUstream_st* s = ready[mix(mix(seed(), 0x5eed), ++q.decisions) % ready.size()];
    s->granted = s->started + 1;
    s->running = true;
    if (s->queue.front()->kind != OpKind::collective) ++q.serial_running;
    s->cv.notify_one();
  }
}

void idle_flusher() {
  Sched& q = sched();
  std::uint64_t seen = ~0ull;
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(idle_flush_ms()));
    std::lock_guard<std::mutex> lock(q.m);
    const bool idle = q.activity == seen && q.serial_running == 0;
    seen = q.activity;
    if (!idle) continue;
    std::uint64_t unasked = 0;
    std::string first;
    for (CUstream_st* s : q.streams)
      if (s->submitted > s->wanted) {
        if (first.empty())
          first = s->queue[std::max(s->wanted, s->started) - s->started]->what + " on stream " +
                  std::to_string(s->id);
        unasked += s->submitted - std::max(s->wanted, s->started);
        want(s, s->submitted);
      }
    if (unasked > 0) {
      count("ddnet-sim: idle flush (lazy streams)");
      if (std::getenv("DDNET_SIM_VERBOSE"))
        std::fprintf(stderr,
                     "ddnet-sim: idle flush: %llu queued ops nothing asked for (first: %s)\n",
                     static_cast<unsigned long long>(unasked), first.c_str());
      schedule(q);
    }
  }
}

void worker_main(CUstream_st* s) {
  t_device = s->device;
  Sched& q = sched();
  for (;;) {
    std::unique_ptr<Op> op;
    {
      std::unique_lock<std::mutex> lock(q.m);
      s->cv.wait(lock, [&] {
        return s->granted > s->started || (s->closing && s->queue.empty() && !s->running);
      });
      if (s->granted <= s->started) break;
      op = std::move(s->queue.front());
      s->queue.pop_front();
      ++s->started;
      s->running = true;
    }
    const OpKind kind = op->kind;
    if (!lazy_streams()) {
      // A seeded delay before some ops, so that work the host or another stream does not wait
      // for properly tends to run too late (or too early) and produce a wrong result.
      const std::uint64_t r = mix(mix(seed(), s->id), op->index);
      if (delay_us() > 0 && (r & 3) == 0)
        std::this_thread::sleep_for(std::chrono::microseconds((r >> 8) % delay_us()));
    }
    // The op is run and destroyed on the executor context only (see run_isolated).
    Op* raw = op.release();
    run_isolated([raw, s] {
      raw->work();
      delete raw;
      SIM_RELEASE(&s->done_sync);
    });
    {
      std::lock_guard<std::mutex> lock(q.m);
      ++s->completed;
      s->running = false;
      if (lazy_streams() && kind != OpKind::collective) --q.serial_running;
      ++q.activity;
      schedule(q);
    }
    q.done_cv.notify_all();
  }
  {
    std::lock_guard<std::mutex> lock(q.m);
    s->finished = true;
  }
  q.done_cv.notify_all();
  // The stream object is kept (never deleted, so no leak report: Sched lists it): a host thread
  // may still be leaving drain() on it, and a late use is caught by the live set.
}

CUstream_st* make_stream(int device, unsigned flags) {
  auto* s = new CUstream_st();
  s->device = device;
  s->flags = flags;
  {
    std::lock_guard<std::mutex> lock(g().m);
    s->id = g().next_stream_id++;
    g().live_streams.insert(s);
  }
  {
    Sched& q = sched();
    std::lock_guard<std::mutex> lock(q.m);
    q.streams.push_back(s);
    if (lazy_streams() && !q.flusher) {
      q.flusher = true;
      std::thread(idle_flusher).detach();
    }
  }
  s->worker = std::thread(worker_main, s);
  s->worker.detach();
  return s;
}

CUstream_st* null_stream(int device) {
  std::unique_lock<std::mutex> lock(g().m);
  CUstream_st*& s = g().null_stream[device];
  if (!s) {
    lock.unlock();
    CUstream_st* made = make_stream(device, 0);
    lock.lock();
    if (!s) s = made;
  }
  return s;
}

// The stream behind a handle (the current device's null stream for nullptr), checked live.
CUstream_st* resolve(cudaStream_t stream, const char* what) {
  if (stream == nullptr) return null_stream(t_device);
  std::lock_guard<std::mutex> lock(g().m);
  if (!g().live_streams.count(stream))
    fail(std::string(what) + ": the stream " +
         std::to_string(reinterpret_cast<std::uintptr_t>(stream)) +
         " was destroyed or never created");
  return stream;
}

// Queues an op; returns its index on the stream.
// `records`: the event record this op completes (its stream and index are set here).
std::uint64_t push(CUstream_st* s, const char* what, std::function<void()> work,
                   OpKind kind = OpKind::local, std::shared_ptr<Record> waits_for = nullptr,
                   Record* records = nullptr) {
  auto op = std::make_unique<Op>();
  op->what = what;
  op->work = std::move(work);
  op->kind = kind;
  op->waits_for = std::move(waits_for);
  Sched& q = sched();
  std::lock_guard<std::mutex> lock(q.m);
  if (s->closing) fail(std::string(what) + ": work queued on a destroyed stream");
  const std::uint64_t index = op->index = s->submitted++;
  if (records) {
    records->stream = s;
    records->index = index;
  }
  s->queue.push_back(std::move(op));
  ++q.activity;
  if (!lazy_streams()) {
    s->granted = s->submitted;
    s->cv.notify_one();
  } else if (kind == OpKind::collective) {
    want(s, index + 1);
    schedule(q);
  }
  return index;
}

// Lazy: asks for the first `target` ops of `s` (and what they wait for) to run.
void demand(CUstream_st* s, std::uint64_t target) {
  if (!lazy_streams()) return;
  Sched& q = sched();
  std::lock_guard<std::mutex> lock(q.m);
  ++q.activity;
  want(s, target);
  schedule(q);
}

// Waits until the stream has completed everything submitted before the call.
void drain(CUstream_st* s) {
  Sched& q = sched();
  std::unique_lock<std::mutex> lock(q.m);
  const std::uint64_t target = s->submitted;
  if (lazy_streams()) {
    ++q.activity;
    want(s, target);
    schedule(q);
  }
  q.done_cv.wait(lock, [&] { return s->completed >= target || s->finished; });
  lock.unlock();
  SIM_ACQUIRE(&s->done_sync);
}

void drain_device(int device) {
  std::vector<CUstream_st*> streams;
  {
    Sched& q = sched();
    std::lock_guard<std::mutex> lock(q.m);
    for (CUstream_st* s : q.streams)
      if (s->device == device && !s->finished) {
        streams.push_back(s);
        if (lazy_streams()) want(s, s->submitted);  // all at once: they interleave by the seed
      }
    ++q.activity;
    schedule(q);
  }
  for (CUstream_st* s : streams) drain(s);
}

bool is_pinned(const void* p, std::size_t bytes) {
  std::lock_guard<std::mutex> lock(g().m);
  auto it = g().pinned.upper_bound(reinterpret_cast<std::uintptr_t>(p));
  if (it == g().pinned.begin()) return false;
  --it;
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  return a >= it->first && a + bytes <= it->first + it->second;
}

bool is_device(const void* p) {
  DeviceRange r;
  return find_allocation(p, &r);
}

// The kind a copy really is, checked against the kind the caller declared.
cudaMemcpyKind check_kind(const char* call, void* dst, const void* src, cudaMemcpyKind kind) {
  const bool dd = is_device(dst), sd = is_device(src);
  const cudaMemcpyKind actual = dd ? (sd ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                                   : (sd ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
  if (kind != cudaMemcpyDefault && kind != actual) {
    static const char* names[] = {"HostToHost", "HostToDevice", "DeviceToHost", "DeviceToDevice",
                                  "Default"};
    fail(std::string(call) + ": declared cudaMemcpy" + names[kind] + " but the destination is " +
         (dd ? "device" : "host") + " memory and the source " + (sd ? "device" : "host") +
         " memory");
  }
  return actual;
}

void copy_2d(void* dst, std::size_t dpitch, const void* src, std::size_t spitch, std::size_t width,
             std::size_t height) {
  for (std::size_t r = 0; r < height; ++r)
    std::memcpy(static_cast<char*>(dst) + r * dpitch, static_cast<const char*>(src) + r * spitch,
                width);
}

// One asynchronous copy, as the real runtime does it: from pageable host memory the source is
// staged before the call returns; to pageable host memory the call returns when the copy is done.
cudaError_t copy(const char* call, void* dst, std::size_t dpitch, const void* src,
                 std::size_t spitch, std::size_t width, std::size_t height, cudaMemcpyKind kind,
                 cudaStream_t stream, bool blocking) {
  if (height == 0 || width == 0) return cudaSuccess;
  if (width > dpitch || width > spitch) return ret(cudaErrorInvalidValue);
  const std::size_t dspan = dpitch * (height - 1) + width, sspan = spitch * (height - 1) + width;
  const cudaMemcpyKind actual = check_kind(call, dst, src, kind);
  if (is_device(dst)) check_device_range(dst, dspan, -1, std::string(call) + " destination");
  if (is_device(src)) check_device_range(src, sspan, -1, std::string(call) + " source");
  CUstream_st* s = resolve(stream, call);
  count(call);
  const bool from_pageable = actual == cudaMemcpyHostToDevice && !is_pinned(src, sspan);
  const bool to_pageable = actual == cudaMemcpyDeviceToHost && !is_pinned(dst, dspan);
  if (from_pageable) {
    auto staged = std::make_shared<std::vector<char>>(width * height);
    copy_2d(staged->data(), width, src, spitch, width, height);
    push(s, call, [=] { copy_2d(dst, dpitch, staged->data(), width, width, height); });
  } else {
    push(s, call, [=] { copy_2d(dst, dpitch, src, spitch, width, height); });
  }
  if (blocking || to_pageable || actual == cudaMemcpyHostToHost) drain(s);
  return cudaSuccess;
}

void write_counts() {
  const char* path = std::getenv("DDNET_SIM_COVERAGE");
  if (!path || !*path) return;
  FILE* f = std::fopen(path, "a");
  if (!f) return;
  std::lock_guard<std::mutex> lock(g().count_m);
  for (const auto& [name, n] : g().counts)
    std::fprintf(f, "%s\t%llu\n", name.c_str(), static_cast<unsigned long long>(n));
  std::fclose(f);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// sim.h
namespace ddnet::sim {

void fail(const std::string& what) {
  std::fprintf(stderr, "ddnet-sim: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

void enqueue(cudaStream_t stream, const char* what, std::function<void()> work, OpKind kind) {
  push(resolve(stream, what), what, std::move(work), kind);
}

int stream_device(cudaStream_t stream) {
  return resolve(stream, "stream_device")->device;
}
int current_device() {
  return t_device;
}

bool find_allocation(const void* p, DeviceRange* out) {
  std::lock_guard<std::mutex> lock(g().m);
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  auto it = g().device_allocs.upper_bound(a);
  if (it == g().device_allocs.begin()) return false;
  --it;
  if (a >= it->first + std::max<std::size_t>(it->second.bytes, 1)) return false;
  out->device = it->second.device;
  out->base = reinterpret_cast<const char*>(it->first);
  out->bytes = it->second.bytes;
  return true;
}

DeviceRange check_device_range(const void* p, std::size_t bytes, int device,
                               const std::string& what) {
  DeviceRange r;
  if (!find_allocation(p, &r))
    fail(what + ": " + std::to_string(reinterpret_cast<std::uintptr_t>(p)) +
         " is not in any live device allocation");
  const std::size_t off = static_cast<std::size_t>(static_cast<const char*>(p) - r.base);
  if (off + bytes > r.bytes)
    fail(what + ": " + std::to_string(bytes) + " bytes at offset " + std::to_string(off) +
         " run past the end of a device allocation of " + std::to_string(r.bytes) + " bytes");
  if (device >= 0 && r.device != device)
    fail(what + ": the memory is on cuda:" + std::to_string(r.device) +
         ", the work on cuda:" + std::to_string(device));
  return r;
}

std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
  std::uint64_t z = a * 0x9E3779B97F4A7C15ull + b + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::uint64_t seed() {
  static const std::uint64_t s = [] {
    const char* v = std::getenv("DDNET_SIM_SEED");
    return v ? std::strtoull(v, nullptr, 10) : 1ull;
  }();
  return s;
}

void count(const std::string& name) {
  static const bool registered = [] { return std::atexit(write_counts) == 0; }();
  (void)registered;
  std::lock_guard<std::mutex> lock(g().count_m);
  ++g().counts[name];
}

void set_last_error(cudaError_t err, const std::string& why) {
  t_last_error = err;
  if (std::getenv("DDNET_SIM_VERBOSE")) std::fprintf(stderr, "ddnet-sim: %s\n", why.c_str());
}

}  // namespace ddnet::sim

// ---------------------------------------------------------------------------------------------
// Devices and errors
cudaError_t cudaGetDeviceCount(int* count) {
  if (!count) return ret(cudaErrorInvalidValue);
  *count = kDeviceCount;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (!prop || !valid_device(device)) return ret(cudaErrorInvalidDevice);
  *prop = cudaDeviceProp{};
  std::snprintf(prop->name, sizeof prop->name, "ddnet CUDA emulator device %d (sm_90 limits)",
                device);
  prop->totalGlobalMem = device_memory_bytes();
  prop->sharedMemPerBlock = 48 * 1024;
  prop->sharedMemPerBlockOptin = 227 * 1024;
  prop->major = 9;
  prop->minor = 0;
  prop->multiProcessorCount = 132;
  prop->maxThreadsPerBlock = 1024;
  prop->maxThreadsDim[0] = 1024;
  prop->maxThreadsDim[1] = 1024;
  prop->maxThreadsDim[2] = 64;
  prop->maxGridSize[0] = 2147483647;
  prop->maxGridSize[1] = 65535;
  prop->maxGridSize[2] = 65535;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  if (!valid_device(device)) return ret(cudaErrorInvalidDevice);
  t_device = device;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* device) {
  if (!device) return ret(cudaErrorInvalidValue);
  *device = t_device;
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize() {
  count("cudaDeviceSynchronize");
  drain_device(t_device);
  return cudaSuccess;
}
cudaError_t cudaMemGetInfo(std::size_t* free_bytes, std::size_t* total_bytes) {
  if (!free_bytes || !total_bytes) return ret(cudaErrorInvalidValue);
  std::lock_guard<std::mutex> lock(g().m);
  *total_bytes = device_memory_bytes();
  *free_bytes = device_memory_bytes() - g().used[t_device];
  return cudaSuccess;
}
cudaError_t cudaGetLastError() {
  const cudaError_t e = t_last_error;
  t_last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() {
  return t_last_error;
}
const char* cudaGetErrorName(cudaError_t err) {
  switch (err) {
    case cudaSuccess:
      return "cudaSuccess";
    case cudaErrorInvalidValue:
      return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation:
      return "cudaErrorMemoryAllocation";
    case cudaErrorInitializationError:
      return "cudaErrorInitializationError";
    case cudaErrorInvalidConfiguration:
      return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevice:
      return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle:
      return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady:
      return "cudaErrorNotReady";
    case cudaErrorLaunchFailure:
      return "cudaErrorLaunchFailure";
  }
  return "cudaErrorUnknown";
}
const char* cudaGetErrorString(cudaError_t err) {
  switch (err) {
    case cudaSuccess:
      return "no error";
    case cudaErrorInvalidValue:
      return "invalid argument";
    case cudaErrorMemoryAllocation:
      return "out of memory";
    case cudaErrorInitializationError:
      return "initialization error";
    case cudaErrorInvalidConfiguration:
      return "invalid configuration argument";
    case cudaErrorInvalidDevice:
      return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle:
      return "invalid resource handle";
    case cudaErrorNotReady:
      return "device not ready";
    case cudaErrorLaunchFailure:
      return "unspecified launch failure";
  }
  return "unknown error";
}

// ---------------------------------------------------------------------------------------------
// Memory
cudaError_t cudaMalloc(void** p, std::size_t bytes) {
  if (!p) return ret(cudaErrorInvalidValue);
  count("cudaMalloc");
  *p = nullptr;
  if (bytes == 0) return cudaSuccess;
  {
    std::lock_guard<std::mutex> lock(g().m);
    if (g().used[t_device] + bytes > device_memory_bytes()) return ret(cudaErrorMemoryAllocation);
    g().used[t_device] += bytes;
  }
  void* mem = nullptr;
  // Exactly `bytes`, so AddressSanitizer reports an access one past the end; 256-byte aligned as
  // cudaMalloc's. Filled with 0xff bytes (NaN floats): a kernel reading memory nothing wrote
  // gives NaN, not a plausible zero.
  if (posix_memalign(&mem, 256, bytes) != 0) {
    std::lock_guard<std::mutex> lock(g().m);
    g().used[t_device] -= bytes;
    return ret(cudaErrorMemoryAllocation);
  }
  std::memset(mem, 0xff, bytes);
  std::lock_guard<std::mutex> lock(g().m);
  g().device_allocs[reinterpret_cast<std::uintptr_t>(mem)] = {bytes, t_device};
  *p = mem;
  return cudaSuccess;
}

cudaError_t cudaFree(void* p) {
  count("cudaFree");
  if (!p) return cudaSuccess;
  Allocation a{};
  {
    std::lock_guard<std::mutex> lock(g().m);
    auto it = g().device_allocs.find(reinterpret_cast<std::uintptr_t>(p));
    if (it == g().device_allocs.end())
      fail("cudaFree of " + std::to_string(reinterpret_cast<std::uintptr_t>(p)) +
           ", which is not the start of a live device allocation");
    a = it->second;
  }
  // cudaFree synchronizes the device (all of its streams), as the real one does.
  drain_device(a.device);
  {
    std::lock_guard<std::mutex> lock(g().m);
    g().device_allocs.erase(reinterpret_cast<std::uintptr_t>(p));
    g().used[a.device] -= a.bytes;
  }
  std::free(p);
  return cudaSuccess;
}

cudaError_t cudaHostAlloc(void** p, std::size_t bytes, unsigned flags) {
  (void)flags;
  if (!p) return ret(cudaErrorInvalidValue);
  count("cudaHostAlloc");
  void* mem = nullptr;
  if (posix_memalign(&mem, 4096, std::max<std::size_t>(bytes, 1)) != 0)
    return ret(cudaErrorMemoryAllocation);
  std::lock_guard<std::mutex> lock(g().m);
  g().pinned[reinterpret_cast<std::uintptr_t>(mem)] = bytes;
  *p = mem;
  return cudaSuccess;
}
cudaError_t cudaMallocHost(void** p, std::size_t bytes) {
  return cudaHostAlloc(p, bytes, cudaHostAllocDefault);
}
cudaError_t cudaFreeHost(void* p) {
  if (!p) return cudaSuccess;
  {
    std::lock_guard<std::mutex> lock(g().m);
    if (!g().pinned.erase(reinterpret_cast<std::uintptr_t>(p)))
      fail("cudaFreeHost of memory cudaHostAlloc did not return");
  }
  // Like cudaFree, cudaFreeHost synchronizes: no queued copy may still read or write it.
  for (int d = 0; d < kDeviceCount; ++d) drain_device(d);
  std::free(p);
  return cudaSuccess;
}

cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* attr, const void* p) {
  if (!attr) return ret(cudaErrorInvalidValue);
  *attr = cudaPointerAttributes{};
  DeviceRange r;
  if (find_allocation(p, &r)) {
    attr->type = cudaMemoryTypeDevice;
    attr->device = r.device;
    attr->devicePointer = const_cast<void*>(p);
  } else if (is_pinned(p, 1)) {
    attr->type = cudaMemoryTypeHost;
    attr->device = t_device;
    attr->hostPointer = const_cast<void*>(p);
    attr->devicePointer = const_cast<void*>(p);
  }
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind) {
  return copy("cudaMemcpy", dst, bytes, src, bytes, bytes, 1, kind, nullptr, true);
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream) {
  return copy("cudaMemcpyAsync", dst, bytes, src, bytes, bytes, 1, kind, stream, false);
}
cudaError_t cudaMemcpy2D(void* dst, std::size_t dpitch, const void* src, std::size_t spitch,
                         std::size_t width, std::size_t height, cudaMemcpyKind kind) {
  return copy("cudaMemcpy2D", dst, dpitch, src, spitch, width, height, kind, nullptr, true);
}
cudaError_t cudaMemcpy2DAsync(void* dst, std::size_t dpitch, const void* src, std::size_t spitch,
                              std::size_t width, std::size_t height, cudaMemcpyKind kind,
                              cudaStream_t stream) {
  return copy("cudaMemcpy2DAsync", dst, dpitch, src, spitch, width, height, kind, stream, false);
}
cudaError_t cudaMemset(void* dst, int value, std::size_t bytes) {
  const cudaError_t e = cudaMemsetAsync(dst, value, bytes, nullptr);
  return e;
}
cudaError_t cudaMemsetAsync(void* dst, int value, std::size_t bytes, cudaStream_t stream) {
  if (bytes == 0) return cudaSuccess;
  check_device_range(dst, bytes, -1, "cudaMemsetAsync");
  count("cudaMemsetAsync");
  enqueue(stream, "cudaMemsetAsync", [=] { std::memset(dst, value, bytes); });
  return cudaSuccess;
}

// ---------------------------------------------------------------------------------------------
// Streams
cudaError_t cudaStreamCreate(cudaStream_t* s) {
  return cudaStreamCreateWithFlags(s, cudaStreamDefault);
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned flags) {
  if (!s) return ret(cudaErrorInvalidValue);
  // A blocking stream would order itself with the legacy default stream, which the emulator
  // does not model (the engine makes non-blocking streams only): refuse rather than report
  // races the real device would not have.
  if (!(flags & cudaStreamNonBlocking))
    fail("cudaStreamCreateWithFlags: blocking streams (no cudaStreamNonBlocking) are not modelled");
  count("cudaStreamCreateWithFlags");
  *s = make_stream(t_device, flags);
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  if (!s) return ret(cudaErrorInvalidResourceHandle);
  count("cudaStreamDestroy");
  {
    std::lock_guard<std::mutex> lock(g().m);
    if (!g().live_streams.erase(s)) fail("cudaStreamDestroy of a stream that is not live");
  }
  // As in CUDA, work already queued still runs (lazily: when something needs it); the worker
  // ends after it.
  {
    std::lock_guard<std::mutex> lock(sched().m);
    s->closing = true;
  }
  s->cv.notify_all();
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  count("cudaStreamSynchronize");
  drain(resolve(s, "cudaStreamSynchronize"));
  return cudaSuccess;
}
cudaError_t cudaStreamQuery(cudaStream_t stream) {
  CUstream_st* s = resolve(stream, "cudaStreamQuery");
  // A query asks for the work (lazy), as a poll loop expects the device to get there.
  std::unique_lock<std::mutex> lock(sched().m);
  if (lazy_streams()) {
    ++sched().activity;
    want(s, s->submitted);
    schedule(sched());
  }
  const bool done = s->completed >= s->submitted;
  lock.unlock();
  if (!done) return cudaErrorNotReady;
  SIM_ACQUIRE(&s->done_sync);
  return cudaSuccess;
}

// ---------------------------------------------------------------------------------------------
// Events
namespace {
CUevent_st* live_event(cudaEvent_t e, const char* call) {
  std::lock_guard<std::mutex> lock(g().m);
  if (!e || !g().live_events.count(e))
    fail(std::string(call) + ": the event was destroyed or never created");
  return e;
}
}  // namespace

cudaError_t cudaEventCreate(cudaEvent_t* e) {
  return cudaEventCreateWithFlags(e, cudaEventDefault);
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned flags) {
  if (!e) return ret(cudaErrorInvalidValue);
  count("cudaEventCreateWithFlags");
  auto* ev = new CUevent_st();
  ev->flags = flags;
  ev->device = t_device;
  std::lock_guard<std::mutex> lock(g().m);
  g().live_events.insert(ev);
  *e = ev;
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  count("cudaEventDestroy");
  {
    std::lock_guard<std::mutex> lock(g().m);
    if (!e || !g().live_events.erase(e)) fail("cudaEventDestroy of an event that is not live");
  }
  delete e;  // pending records own their state (shared_ptr), as CUDA defers the release
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t stream) {
  CUevent_st* ev = live_event(e, "cudaEventRecord");
  count("cudaEventRecord");
  CUstream_st* s = resolve(stream, "cudaEventRecord");
  if (s->device != ev->device) return ret(cudaErrorInvalidResourceHandle);
  auto rec = std::make_shared<Record>();
  rec->device = s->device;
  push(
      s, "cudaEventRecord", [rec] { rec->complete(); }, OpKind::local, nullptr, rec.get());
  {
    std::lock_guard<std::mutex> lock(ev->m);
    ev->last = rec;
  }
  return cudaSuccess;
}
cudaError_t cudaEventQuery(cudaEvent_t e) {
  CUevent_st* ev = live_event(e, "cudaEventQuery");
  count("cudaEventQuery");
  std::shared_ptr<Record> rec;
  {
    std::lock_guard<std::mutex> lock(ev->m);
    rec = ev->last;
  }
  if (!rec) return cudaSuccess;
  demand(rec->stream, rec->index + 1);  // as cudaStreamQuery: a poll loop must progress
  return rec->query() ? cudaSuccess : cudaErrorNotReady;
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) {
  CUevent_st* ev = live_event(e, "cudaEventSynchronize");
  count("cudaEventSynchronize");
  std::shared_ptr<Record> rec;
  {
    std::lock_guard<std::mutex> lock(ev->m);
    rec = ev->last;
  }
  if (rec) {
    demand(rec->stream, rec->index + 1);
    rec->wait();
  }
  return cudaSuccess;
}
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t e, unsigned flags) {
  (void)flags;
  CUevent_st* ev = live_event(e, "cudaStreamWaitEvent");
  count("cudaStreamWaitEvent");
  CUstream_st* s = resolve(stream, "cudaStreamWaitEvent");
  std::shared_ptr<Record> rec;
  {
    std::lock_guard<std::mutex> lock(ev->m);
    rec = ev->last;
  }
  if (!rec) return cudaSuccess;  // waiting on a never-recorded event is a no-op in CUDA
  push(
      s, "cudaStreamWaitEvent", [rec] { rec->wait(); }, OpKind::local, rec);
  return cudaSuccess;
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  CUevent_st* a = live_event(start, "cudaEventElapsedTime");
  CUevent_st* b = live_event(end, "cudaEventElapsedTime");
  if (!ms) return ret(cudaErrorInvalidValue);
  if ((a->flags & cudaEventDisableTiming) || (b->flags & cudaEventDisableTiming))
    return ret(cudaErrorInvalidResourceHandle);
  std::shared_ptr<Record> ra, rb;
  {
    std::lock_guard<std::mutex> lock(a->m);
    ra = a->last;
  }
  {
    std::lock_guard<std::mutex> lock(b->m);
    rb = b->last;
  }
  if (!ra || !rb) return ret(cudaErrorInvalidResourceHandle);
  if (!ra->query() || !rb->query()) return ret(cudaErrorNotReady);
  *ms = std::chrono::duration<float, std::milli>(rb->when - ra->when).count();
  return cudaSuccess;
}
