// The runtime of the CUDA emulator: devices, memory, streams and events (see include/
// cuda_runtime.h for what is modelled). Streams are queues with a worker thread each; the host
// and the workers are ordered only by what the code declares (enqueue, event record/wait,
// synchronize calls, blocking copies, cudaFree), and, under ThreadSanitizer, only those edges
// are happens-before: ops run on an executor context whose effects do not flow back through
// the queue's lock (simt.cpp, run_isolated), so a missing event wait or stream synchronize is
// reported as a data race.
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

// ---------------------------------------------------------------------------------------------
// Event records: one per cudaEventRecord, completed by the stream's worker when it reaches it.
struct Record {
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  std::chrono::steady_clock::time_point when{};
  int device = 0;
  void complete() {
    SIM_RELEASE(this);
    std::lock_guard<std::mutex> lock(m);
    when = std::chrono::steady_clock::now();
    done = true;
    cv.notify_all();
  }
  void wait() {
    std::unique_lock<std::mutex> lock(m);
    cv.wait(lock, [&] { return done; });
    lock.unlock();
    SIM_ACQUIRE(this);
  }
  bool query() {
    std::lock_guard<std::mutex> lock(m);
    if (done) SIM_ACQUIRE(this);
    return done;
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
};

struct CUstream_st {
  int device = 0;
  unsigned flags = 0;
  std::uint64_t id = 0;
  std::mutex m;
  std::condition_variable cv;       // the worker waits for work
  std::condition_variable idle_cv;  // hosts wait for completion
  std::deque<std::unique_ptr<Op>> queue;
  std::uint64_t submitted = 0, completed = 0;
  bool closing = false, finished = false;
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
  std::set<CUstream_st*> all_streams;  // live or still draining after cudaStreamDestroy
  std::vector<CUstream_st*> retired_streams;
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

cudaError_t ret(cudaError_t err) {
  if (err != cudaSuccess) t_last_error = err;
  return err;
}

bool valid_device(int d) {
  return d >= 0 && d < kDeviceCount;
}

void worker_main(CUstream_st* s) {
  t_device = s->device;
  for (;;) {
    Op* op = nullptr;
    {
      std::unique_lock<std::mutex> lock(s->m);
      s->cv.wait(lock, [&] { return !s->queue.empty() || s->closing; });
      if (s->queue.empty()) break;
      op = s->queue.front().release();
      s->queue.pop_front();
    }
    // A seeded delay before some ops, so that work the host or another stream does not wait for
    // properly tends to run too late (or too early) and produce a wrong result.
    const std::uint64_t r = mix(mix(seed(), s->id), op->index);
    if (delay_us() > 0 && (r & 3) == 0)
      std::this_thread::sleep_for(std::chrono::microseconds((r >> 8) % delay_us()));
    // The op is run and destroyed on the executor context only (see run_isolated).
    run_isolated([op, s] {
      op->work();
      delete op;
      SIM_RELEASE(&s->done_sync);
    });
    {
      std::lock_guard<std::mutex> lock(s->m);
      ++s->completed;
    }
    s->idle_cv.notify_all();
  }
  {
    std::lock_guard<std::mutex> lock(s->m);
    s->finished = true;
  }
  s->idle_cv.notify_all();
  std::lock_guard<std::mutex> lock(g().m);
  g().all_streams.erase(s);
  // The stream object is kept (reachable, so no leak report) once its worker ends: a host thread
  // may still be leaving drain() on it, and a late use is caught by the live set.
  g().retired_streams.push_back(s);
}

CUstream_st* make_stream(int device, unsigned flags) {
  auto* s = new CUstream_st();
  s->device = device;
  s->flags = flags;
  {
    std::lock_guard<std::mutex> lock(g().m);
    s->id = g().next_stream_id++;
    g().live_streams.insert(s);
    g().all_streams.insert(s);
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

void push(CUstream_st* s, const char* what, std::function<void()> work) {
  auto op = std::make_unique<Op>();
  op->what = what;
  op->work = std::move(work);
  {
    std::lock_guard<std::mutex> lock(s->m);
    if (s->closing) fail(std::string(what) + ": work queued on a destroyed stream");
    op->index = s->submitted++;
    s->queue.push_back(std::move(op));
  }
  s->cv.notify_one();
}

// Waits until the stream has completed everything submitted before the call.
void drain(CUstream_st* s) {
  std::unique_lock<std::mutex> lock(s->m);
  const std::uint64_t target = s->submitted;
  s->idle_cv.wait(lock, [&] { return s->completed >= target || s->finished; });
  lock.unlock();
  SIM_ACQUIRE(&s->done_sync);
}

void drain_device(int device) {
  std::vector<CUstream_st*> streams;
  {
    std::lock_guard<std::mutex> lock(g().m);
    for (CUstream_st* s : g().all_streams)
      if (s->device == device) streams.push_back(s);
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

void enqueue(cudaStream_t stream, const char* what, std::function<void()> work) {
  push(resolve(stream, what), what, std::move(work));
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
  // As in CUDA, work already queued still runs; the worker ends after it.
  {
    std::lock_guard<std::mutex> lock(s->m);
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
  std::unique_lock<std::mutex> lock(s->m);
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
  {
    std::lock_guard<std::mutex> lock(ev->m);
    ev->last = rec;
  }
  push(s, "cudaEventRecord", [rec] { rec->complete(); });
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
  if (rec) rec->wait();
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
  push(s, "cudaStreamWaitEvent", [rec] { rec->wait(); });
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
