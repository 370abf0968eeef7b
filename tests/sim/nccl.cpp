// The fake NCCL (include/nccl.h): communicators over POSIX shared memory, collectives run on the
// emulated CUDA streams.
//
// A communicator is the segment /ddnet-sim-nccl-<token>, <token> being the random part of the
// unique id, so ranks may be threads of one process or separate processes. The segment holds a
// header and one slot per rank: the rank's pid and GPU, a barrier counter, the descriptor of its
// current collective and a staging buffer of kChunk bytes. A collective moves its data through
// the staging buffers a chunk at a time: each rank copies its chunk in, all ranks meet at a
// barrier, each rank combines every rank's chunk in rank order into its output (the same bits on
// every rank), and a second barrier frees the buffers for the next chunk. A barrier is a counter
// each rank raises in its own slot and the others poll: no process-shared lock that a dead
// process could leave held, and a waiting rank can notice that a peer is gone.
//
// Non-blocking communicators (ncclCommInitRankConfig with config.blocking = 0): the init, each
// collective and ncclCommFinalize run on a thread of the communicator's (one at a time, as NCCL's
// group jobs) and return ncclInProgress; the state NCCL calls the communicator's asyncResult
// (`api` here) is ncclInProgress until that thread is done, then its result. A collective reaches
// its stream from that thread, a little later, so an event recorded or a stream synchronised
// before the state is ncclSuccess misses it, as with NCCL. ncclCommGetAsyncError reports `api`,
// or when that is ncclSuccess the collectives' asynchronous error (NCCL's proxy state).
//
// Failures, where NCCL itself would hang (tests must end, and say why):
//  - init waits for every rank as NCCL does, forever unless DDNET_SIM_NCCL_INIT_TIMEOUT_S is set
//    (then ncclSystemError) or the communicator is aborted, printing a reminder every minute; it
//    ends early with ncclRemoteError when a joined peer process has died or a peer's init failed
//    or was aborted (nranks mismatch, duplicate rank), which marks the segment failed for
//    everyone;
//  - a collective waiting for a peer that aborted, destroyed its communicator or died sets the
//    asynchronous error ncclRemoteError, then holds its stream until the communicator is aborted
//    (like a stuck NCCL kernel), at most DDNET_SIM_NCCL_TIMEOUT_S (default 120) seconds; a peer
//    that is alive but does not come within that time gives ncclSystemError.
//
// The segment's name is unlinked as soon as every rank has joined (or the init failed), so a run
// that crashes later leaves nothing in /dev/shm; the memory lives until the last rank unmaps it.
#include <nccl.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <random>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>

#include "sim.h"

namespace sim = ddnet::sim;

namespace ddnet::sim::nccl_impl {

using Clock = std::chrono::steady_clock;

// The unique id: a marker (to reject an id that was never set, e.g. not broadcast) and the token.
constexpr char kIdMagic[16] = "ddnet-sim-nccl1";
constexpr int kTokenChars = 32;
struct IdLayout {
  char magic[16];
  char token[kTokenChars + 1];
};
static_assert(sizeof(IdLayout) <= NCCL_UNIQUE_ID_BYTES, "the id must fit in NCCL's");

constexpr std::uint64_t kSegmentMagic = 0x6464736e63636c31ULL;
constexpr std::size_t kChunk = std::size_t{1} << 20;  // per rank: small enough for a tiny /dev/shm
constexpr std::size_t kHeaderBytes = 4096;
constexpr std::size_t kSlotHeaderBytes = 256;
constexpr std::size_t kIdentityChars = 64;

enum SlotState : std::int32_t { kFree = 0, kClaimed, kJoined, kLeft, kBroken };
enum OpKind : std::int32_t { kAllReduce = 1, kBroadcast = 2 };

// What a rank is doing in its current collective; the ranks compare theirs.
struct OpDesc {
  std::uint64_t seq;
  std::int32_t kind, datatype, op, root;
  std::uint64_t count;
};

struct Header {
  std::atomic<std::uint64_t> ready;  // kSegmentMagic once the creator has filled in the rest
  std::int32_t nranks;
  std::uint64_t slot_stride;
  std::atomic<std::int32_t> joined;
  std::atomic<std::int32_t> failed;  // 0; 1 while `reason` is written; 2 once it is
  char reason[1024];
};
struct Slot {
  std::atomic<std::int32_t> state;  // SlotState
  std::int32_t pid;
  std::int32_t device;
  char identity[kIdentityChars];       // the physical GPU, as NCCL's duplicate check sees it
  std::atomic<std::uint64_t> arrived;  // the last barrier this rank reached
  OpDesc desc;
};
static_assert(sizeof(Header) <= kHeaderBytes && sizeof(Slot) <= kSlotHeaderBytes, "layout");
static_assert(std::atomic<std::uint64_t>::is_always_lock_free &&
                  std::atomic<std::int32_t>::is_always_lock_free,
              "atomics shared between processes must be lock-free");

std::size_t slot_stride() {
  const std::size_t page = 4096;
  return (kSlotHeaderBytes + kChunk + page - 1) / page * page;
}

class Mapping {
 public:
  Mapping() = default;
  Mapping(void* base, std::size_t bytes) : base_(static_cast<char*>(base)), bytes_(bytes) {}
  ~Mapping() {
    if (base_ != nullptr) munmap(base_, bytes_);
  }
  Mapping(Mapping&& o) noexcept : base_(std::exchange(o.base_, nullptr)), bytes_(o.bytes_) {}
  Mapping& operator=(Mapping&& o) noexcept {
    std::swap(base_, o.base_);
    std::swap(bytes_, o.bytes_);
    return *this;
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;

  bool valid() const { return base_ != nullptr; }
  Header* header() const { return reinterpret_cast<Header*>(base_); }
  Slot* slot(int rank) const {
    return reinterpret_cast<Slot*>(base_ + kHeaderBytes +
                                   header()->slot_stride * static_cast<std::size_t>(rank));
  }
  char* data(int rank) const { return reinterpret_cast<char*>(slot(rank)) + kSlotHeaderBytes; }

 private:
  char* base_ = nullptr;
  std::size_t bytes_ = 0;
};

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Seconds from environment variable `name`; `fallback` when unset (negative: no limit).
double env_seconds(const char* name, double fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const double s = std::strtod(v, &end);
  if (end == v || *end != '\0' || !(s > 0))
    sim::fail(std::string(name) + "=" + v + ": expected a positive number of seconds");
  return s;
}

// Errors: kept for ncclGetLastError and printed with NCCL_DEBUG=WARN (or INFO, TRACE), as NCCL
// does.
thread_local std::string t_last_error;

bool debug_warn() {
  const char* v = std::getenv("NCCL_DEBUG");
  return v != nullptr &&
         (strcasecmp(v, "WARN") == 0 || strcasecmp(v, "INFO") == 0 || strcasecmp(v, "TRACE") == 0);
}

ncclResult_t error(ncclResult_t r, const std::string& what) {
  t_last_error = what;
  if (debug_warn()) std::fprintf(stderr, "ddnet-sim: NCCL WARN %s\n", what.c_str());
  return r;
}

bool process_alive(int pid) {
  if (pid <= 0 || pid == static_cast<int>(getpid())) return true;
  if (kill(pid, 0) != 0 && errno == ESRCH) return false;
  // A killed process whose parent has not reaped it yet is a zombie: gone, for its peers.
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
  std::FILE* f = std::fopen(path, "r");
  if (f == nullptr) return access("/proc/self/stat", F_OK) != 0;  // without /proc, trust kill()
  char buf[512];
  const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  const char* paren = std::strrchr(buf, ')');  // "pid (comm) S ...": comm may hold ')'
  if (paren == nullptr || paren[1] == '\0' || paren[2] == '\0') return true;
  return paren[2] != 'Z' && paren[2] != 'X';
}

// Polling: spin briefly (peers usually arrive within microseconds), then sleep.
class Backoff {
 public:
  void pause() {
    ++n_;
    if (n_ < 64)
      std::this_thread::yield();
    else
      std::this_thread::sleep_for(std::chrono::microseconds(n_ < 2000 ? 50 : 1000));
  }

 private:
  int n_ = 0;
};

// The physical GPU behind `device`, which NCCL's duplicate check compares (bus ids on one host):
// entry `device` of CUDA_VISIBLE_DEVICES when there is one, else the index itself.
std::string gpu_identity(int device) {
  std::string id = std::to_string(device);
  if (const char* v = std::getenv("CUDA_VISIBLE_DEVICES"); v != nullptr && *v != '\0') {
    const std::string list(v);
    std::size_t start = 0;
    for (int i = 0;; ++i) {
      const std::size_t comma = list.find(',', start);
      if (i == device) {
        id = list.substr(start, comma == std::string::npos ? comma : comma - start);
        break;
      }
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  return id.substr(0, kIdentityChars - 1);
}

std::size_t type_size(int t) {
  switch (t) {
    case ncclInt8:
    case ncclUint8:
    case ncclFloat8e4m3:
    case ncclFloat8e5m2:
      return 1;
    case ncclFloat16:
    case ncclBfloat16:
      return 2;
    case ncclInt32:
    case ncclUint32:
    case ncclFloat32:
      return 4;
    case ncclInt64:
    case ncclUint64:
    case ncclFloat64:
      return 8;
    default:
      return 0;
  }
}

const char* type_name(int t) {
  static const char* const names[] = {"ncclInt8",     "ncclUint8",      "ncclInt32",
                                      "ncclUint32",   "ncclInt64",      "ncclUint64",
                                      "ncclFloat16",  "ncclFloat32",    "ncclFloat64",
                                      "ncclBfloat16", "ncclFloat8e4m3", "ncclFloat8e5m2"};
  return t >= 0 && t < ncclNumTypes ? names[t] : "an invalid type";
}

const char* op_name(int op) {
  static const char* const names[] = {"ncclSum", "ncclProd", "ncclMax", "ncclMin", "ncclAvg"};
  return op >= 0 && op < ncclNumOps ? names[op] : "an invalid operation";
}

std::string describe(const OpDesc& d) {
  std::string s = d.kind == kAllReduce ? "ncclAllReduce" : "ncclBroadcast";
  s += " #" + std::to_string(d.seq) + " of " + std::to_string(d.count) + " x " +
       type_name(d.datatype);
  if (d.kind == kAllReduce)
    s += std::string(" (") + op_name(d.op) + ")";
  else
    s += " from root " + std::to_string(d.root);
  return s;
}

// One rank's communicator. Queued collectives hold it by shared_ptr, so ncclCommAbort can return
// while some are still queued: they find it aborted when their stream reaches them.
struct CommState {
  Mapping map;  // set once the init has succeeded
  int rank = 0, nranks = 1, device = 0;
  double timeout_s = 120;
  bool blocking = true;
  std::atomic<bool> aborted{false};
  std::atomic<int> async{ncclSuccess};
  std::string async_msg;  // set once, before `async`
  // NCCL's comm->asyncResult: the state of the last operation of a non-blocking communicator
  // (ncclInProgress while its thread runs), or the error that left the communicator unusable.
  std::atomic<int> api{ncclSuccess};
  std::string api_msg;  // written before `api` is set to an error
  bool finalized = false;

  std::mutex mu;
  std::condition_variable cv;
  std::uint64_t issued = 0;    // collectives queued; the last one's sequence number
  std::uint64_t done_seq = 0;  // the last collective that ran (or was skipped), in order
  std::uint64_t finished = 0;  // collectives that ran or were skipped
  bool running = false;
  std::uint64_t barriers = 0;  // touched only by the running collective

  Slot* me() const { return map.slot(rank); }
  std::string who() const {
    return "rank " + std::to_string(rank) + " of " + std::to_string(nranks);
  }
};

void set_async(CommState& s, ncclResult_t r, const std::string& why) {
  std::string msg;
  {
    std::lock_guard<std::mutex> lk(s.mu);
    if (s.async.load() != ncclSuccess) return;
    s.async_msg = s.who() + ": " + why;
    msg = s.async_msg;
    s.async.store(r);
  }
  // Peers waiting for this rank stop now rather than at their timeout.
  s.me()->state.store(kBroken, std::memory_order_release);
  // Always printed: it is what a failed distributed test has to explain.
  std::fprintf(stderr, "ddnet-sim: NCCL %s (%s)\n", msg.c_str(), ncclGetErrorString(r));
}

// Raises this rank's barrier counter and waits for every rank to reach it. False when the
// collective must stop: this communicator was aborted, a peer is gone, or the timeout passed.
bool barrier(CommState& s, const std::string& label) {
  const std::uint64_t target = ++s.barriers;
  s.me()->arrived.store(target, std::memory_order_release);
  const auto t0 = Clock::now();
  auto last_pid_check = t0;
  Backoff backoff;
  for (;;) {
    int late = -1;
    for (int r = 0; r < s.nranks && late < 0; ++r)
      if (s.map.slot(r)->arrived.load(std::memory_order_acquire) < target) late = r;
    if (late < 0) return true;
    if (s.aborted.load()) return false;

    const bool check_pids = Clock::now() - last_pid_check > std::chrono::milliseconds(100);
    if (check_pids) last_pid_check = Clock::now();
    std::string gone;
    for (int r = 0; r < s.nranks && gone.empty(); ++r) {
      const Slot* p = s.map.slot(r);
      if (p->arrived.load(std::memory_order_acquire) >= target) continue;
      const int state = p->state.load(std::memory_order_acquire);
      const std::string peer = "rank " + std::to_string(r);
      if (state == kLeft)
        gone = peer + " destroyed its communicator without taking part";
      else if (state == kBroken)
        gone = peer + " aborted its communicator or failed";
      else if (check_pids && !process_alive(p->pid))
        gone = peer + " (pid " + std::to_string(p->pid) + ") exited";
    }
    if (!gone.empty()) {
      set_async(s, ncclRemoteError, label + ": " + gone);
      // NCCL's kernel would keep waiting until ncclCommAbort: hold the stream likewise.
      while (!s.aborted.load() && seconds_since(t0) < s.timeout_s)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      return false;
    }
    if (seconds_since(t0) > s.timeout_s) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%g", s.timeout_s);
      set_async(s, ncclSystemError,
                label + ": waited " + buf + " s for rank " + std::to_string(late) +
                    " (DDNET_SIM_NCCL_TIMEOUT_S; NCCL itself would wait forever)");
      return false;
    }
    backoff.pause();
  }
}

// Fails the run when the ranks are not all doing the same collective: NCCL would hang or mix
// unrelated data.
void check_same(const CommState& s) {
  const OpDesc& mine = s.me()->desc;
  for (int r = 0; r < s.nranks; ++r) {
    const OpDesc& d = s.map.slot(r)->desc;
    bool same = d.seq == mine.seq && d.kind == mine.kind && d.datatype == mine.datatype &&
                d.count == mine.count;
    if (mine.kind == kAllReduce) same = same && d.op == mine.op;
    if (mine.kind == kBroadcast) same = same && d.root == mine.root;
    if (!same)
      sim::fail("NCCL: the ranks of a communicator issued different collectives: rank " +
                std::to_string(s.rank) + " " + describe(mine) + ", rank " + std::to_string(r) +
                " " + describe(d) + " (NCCL would hang or mix unrelated data)");
  }
}

struct Op {
  OpDesc desc;
  const char* send;
  char* recv;
  std::size_t elem;
};

template <class T>
T load(const char* p, std::size_t i) {
  T v;
  std::memcpy(&v, p + i * sizeof(T), sizeof(T));
  return v;
}

// out[i] = f(...f(f(x0[i], x1[i]), x2[i])..., xn[i]) in rank order; floating averages
// pre-multiply by 1/nranks (NCCL's PreMulSum), integer ones divide the sum (its SumPostDiv).
template <class T, class F>
void fold(const CommState& s, std::size_t n, char* out, F f, bool avg) {
  const T scale = static_cast<T>(1.0 / s.nranks);
  const bool premul = avg && std::is_floating_point_v<T>;
  for (std::size_t i = 0; i < n; ++i) {
    T acc = load<T>(s.map.data(0), i);
    if (premul) acc = static_cast<T>(acc * scale);
    for (int r = 1; r < s.nranks; ++r) {
      T v = load<T>(s.map.data(r), i);
      if (premul) v = static_cast<T>(v * scale);
      acc = f(acc, v);
    }
    if constexpr (std::is_integral_v<T>)
      if (avg) acc = static_cast<T>(acc / static_cast<T>(s.nranks));
    std::memcpy(out + i * sizeof(T), &acc, sizeof(T));
  }
}

template <class T>
void reduce_typed(const CommState& s, int op, std::size_t n, char* out) {
  // Integers wrap as on the GPU (no signed overflow in the emulator).
  using U = std::conditional_t<std::is_integral_v<T>, std::make_unsigned<T>, std::common_type<T>>;
  using W = typename U::type;
  auto sum = [](T a, T b) { return static_cast<T>(static_cast<W>(a) + static_cast<W>(b)); };
  switch (op) {
    case ncclSum:
      return fold<T>(s, n, out, sum, false);
    case ncclAvg:
      return fold<T>(s, n, out, sum, true);
    case ncclProd:
      return fold<T>(
          s, n, out, [](T a, T b) { return static_cast<T>(static_cast<W>(a) * static_cast<W>(b)); },
          false);
    case ncclMax:
      return fold<T>(
          s, n, out, [](T a, T b) { return std::max(a, b); }, false);
    case ncclMin:
      return fold<T>(
          s, n, out, [](T a, T b) { return std::min(a, b); }, false);
    default:
      sim::fail("NCCL: reduction operation " + std::to_string(op) + " reached the reduction");
  }
}

// Calls f(T{}) for the types the emulator reduces; false for the 16- and 8-bit floats.
template <class F>
bool with_type(int datatype, F&& f) {
  switch (datatype) {
    case ncclInt8:
      return f(std::int8_t{}), true;
    case ncclUint8:
      return f(std::uint8_t{}), true;
    case ncclInt32:
      return f(std::int32_t{}), true;
    case ncclUint32:
      return f(std::uint32_t{}), true;
    case ncclInt64:
      return f(std::int64_t{}), true;
    case ncclUint64:
      return f(std::uint64_t{}), true;
    case ncclFloat32:
      return f(float{}), true;
    case ncclFloat64:
      return f(double{}), true;
    default:
      return false;
  }
}

void run_allreduce(CommState& s, const Op& op, const std::string& label) {
  const std::size_t per = kChunk / op.elem;
  for (std::size_t off = 0; off < op.desc.count; off += per) {
    const std::size_t n = std::min<std::size_t>(per, op.desc.count - off);
    if (off == 0) s.me()->desc = op.desc;
    std::memcpy(s.map.data(s.rank), op.send + off * op.elem, n * op.elem);
    if (!barrier(s, label)) return;
    if (off == 0) check_same(s);
    char* out = op.recv + off * op.elem;
    with_type(op.desc.datatype, [&](auto t) { reduce_typed<decltype(t)>(s, op.desc.op, n, out); });
    if (!barrier(s, label)) return;
  }
}

void run_broadcast(CommState& s, const Op& op, const std::string& label) {
  const std::size_t bytes = op.desc.count * op.elem;
  const int root = op.desc.root;
  for (std::size_t off = 0; off < bytes; off += kChunk) {
    const std::size_t n = std::min(kChunk, bytes - off);
    if (off == 0) s.me()->desc = op.desc;
    if (s.rank == root) std::memcpy(s.map.data(root), op.send + off, n);
    if (!barrier(s, label)) return;
    if (off == 0) check_same(s);
    if (s.rank != root)
      std::memcpy(op.recv + off, s.map.data(root), n);
    else if (op.recv != op.send)
      std::memcpy(op.recv + off, op.send + off, n);
    if (!barrier(s, label)) return;
  }
}

// The work queued on the stream.
void run(CommState& s, std::uint64_t seq, const Op& op) {
  bool skip = false;
  {
    std::unique_lock<std::mutex> lk(s.mu);
    // NCCL runs a communicator's collectives one at a time in the order they were issued, also
    // across streams (its launches are chained through an internal stream).
    s.cv.wait(lk, [&] { return s.done_seq + 1 == seq || s.aborted.load(); });
    // After an error nothing on the communicator completes meaningfully; NCCL expects an abort.
    skip = s.aborted.load() || s.async.load() != ncclSuccess;
    s.running = !skip;
  }
  if (!skip) {
    const std::string label = describe(op.desc);
    if (op.desc.kind == kAllReduce)
      run_allreduce(s, op, label);
    else
      run_broadcast(s, op, label);
  }
  {
    std::lock_guard<std::mutex> lk(s.mu);
    s.running = false;
    s.done_seq = std::max(s.done_seq, seq);
    ++s.finished;
  }
  s.cv.notify_all();
}

// Init: waits for the other ranks forever by default, as NCCL does, with a reminder on stderr
// every minute; DDNET_SIM_NCCL_INIT_TIMEOUT_S=<s> makes it give up after s seconds.
class InitWait {
 public:
  InitWait(std::string who, const char* fn, const std::atomic<bool>* aborted)
      : who_(std::move(who)),
        fn_(fn),
        aborted_(aborted),
        limit_(env_seconds("DDNET_SIM_NCCL_INIT_TIMEOUT_S", -1)) {}
  // False once the limit has passed or the communicator was aborted.
  bool pause(const std::string& waiting_for) {
    if (aborted()) return false;
    const double waited = seconds_since(t0_);
    if (limit_ > 0 && waited > limit_) return false;
    if (waited >= next_note_) {
      std::fprintf(stderr,
                   "ddnet-sim: NCCL %s: %s has waited %.0f s for %s (NCCL has no init timeout "
                   "and would wait forever; DDNET_SIM_NCCL_INIT_TIMEOUT_S=<s> makes this an "
                   "error)\n",
                   who_.c_str(), fn_, waited, waiting_for.c_str());
      next_note_ += 60;
    }
    backoff_.pause();
    return true;
  }
  bool aborted() const { return aborted_ != nullptr && aborted_->load(); }
  // Why pause() returned false.
  std::string stop_text() const {
    if (aborted()) return "before the communicator was aborted (ncclCommAbort)";
    char buf[160];
    std::snprintf(buf, sizeof buf, "within %g s (DDNET_SIM_NCCL_INIT_TIMEOUT_S)", limit_);
    return buf;
  }

 private:
  std::string who_;
  const char* fn_;
  const std::atomic<bool>* aborted_;
  double limit_;
  Clock::time_point t0_ = Clock::now();
  double next_note_ = 60;
  Backoff backoff_;
};

// Marks the group's init failed (peers still waiting see it through their mapping) and drops
// the name.
void fail_group(Header* h, const std::string& name, const std::string& why) {
  std::int32_t expected = 0;
  if (h->failed.compare_exchange_strong(expected, 1)) {
    std::snprintf(h->reason, sizeof h->reason, "%s", why.c_str());
    h->failed.store(2, std::memory_order_release);
  }
  shm_unlink(name.c_str());
}

std::string group_failure(const Header* h) {
  while (h->failed.load(std::memory_order_acquire) == 1) std::this_thread::yield();
  return h->reason;
}

// Opens the segment, creating it when this rank is the first to arrive.
ncclResult_t attach(const std::string& name, int nranks, const std::string& who, InitWait& wait,
                    Mapping* out) {
  for (;;) {
    int fd = shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd >= 0) {
      const std::size_t total = kHeaderBytes + slot_stride() * static_cast<std::size_t>(nranks);
      // Reserve the memory now: a full /dev/shm would otherwise be a SIGBUS mid-collective.
      const int rc = posix_fallocate(fd, 0, static_cast<off_t>(total));
      void* p =
          rc == 0 ? mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
      const int err = rc != 0 ? rc : errno;
      close(fd);
      if (p == MAP_FAILED) {
        shm_unlink(name.c_str());
        return error(ncclSystemError, who + ": ncclCommInitRank: cannot set up " +
                                          std::to_string(total) + " bytes of shared memory " +
                                          name + ": " + std::strerror(err));
      }
      Header* h = new (p) Header();
      h->nranks = nranks;
      h->slot_stride = slot_stride();
      h->ready.store(kSegmentMagic, std::memory_order_release);
      *out = Mapping(p, total);
      return ncclSuccess;
    }
    if (errno != EEXIST)
      return error(ncclSystemError,
                   who + ": ncclCommInitRank: shm_open(" + name + "): " + std::strerror(errno));
    fd = shm_open(name.c_str(), O_RDWR, 0);
    if (fd < 0) {
      if (errno == ENOENT) continue;  // unlinked in between: start over
      return error(ncclSystemError,
                   who + ": ncclCommInitRank: shm_open(" + name + "): " + std::strerror(errno));
    }
    // The creator sizes and fills in the segment right after creating it.
    for (;;) {
      struct stat st;
      if (fstat(fd, &st) != 0) {
        const int err = errno;
        close(fd);
        return error(ncclSystemError,
                     who + ": ncclCommInitRank: fstat(" + name + "): " + std::strerror(err));
      }
      if (static_cast<std::size_t>(st.st_size) >= kHeaderBytes) {
        void* p = mmap(nullptr, kHeaderBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p != MAP_FAILED) {
          const Header* h = static_cast<const Header*>(p);
          const bool ready = h->ready.load(std::memory_order_acquire) == kSegmentMagic;
          const std::size_t total =
              kHeaderBytes + h->slot_stride * static_cast<std::size_t>(h->nranks);
          munmap(p, kHeaderBytes);
          if (ready) {
            void* q = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            const int err = errno;
            close(fd);
            if (q == MAP_FAILED)
              return error(ncclSystemError,
                           who + ": ncclCommInitRank: mmap(" + name + "): " + std::strerror(err));
            *out = Mapping(q, total);
            return ncclSuccess;
          }
        }
      }
      if (!wait.pause("the rank that created " + name + " to set it up")) {
        close(fd);
        return error(ncclSystemError,
                     who + ": ncclCommInitRank: " + name + " was not set up " + wait.stop_text());
      }
    }
  }
}

bool parse_id(const ncclUniqueId& id, std::string* token) {
  IdLayout l;
  std::memcpy(&l, id.internal, sizeof l);
  if (std::memcmp(l.magic, kIdMagic, sizeof l.magic) != 0 || l.token[kTokenChars] != '\0')
    return false;
  for (int i = 0; i < kTokenChars; ++i)
    if (std::strchr("0123456789abcdef", l.token[i]) == nullptr || l.token[i] == '\0') return false;
  *token = std::string(l.token, kTokenChars);
  return true;
}

// NCCL's ncclCommGetAsyncError: the state of the communicator's last operation (NCCL's
// asyncResult) or, when that is ncclSuccess, its collectives' asynchronous error.
ncclResult_t comm_state(const CommState& s) {
  const int api = s.api.load();
  return static_cast<ncclResult_t>(api != ncclSuccess ? api : s.async.load());
}

// Why comm_state(s) is an error.
const std::string& state_message(const CommState& s) {
  return s.api.load() != ncclSuccess ? s.api_msg : s.async_msg;
}

// NCCL's ncclCommEnsureReady, at the start of every call but ncclCommAbort: a communicator whose
// last operation is still in progress takes no call; one in error returns its error.
ncclResult_t ensure_ready(const CommState& s, const char* name) {
  const ncclResult_t r = comm_state(s);
  if (r == ncclInProgress)
    return error(ncclInvalidArgument,
                 std::string(name) + ": " + s.who() +
                     ": Attempt to use communicator before the previous operation returned "
                     "ncclSuccess (poll ncclCommGetAsyncError until it does)");
  if (r != ncclSuccess)
    return error(r, std::string(name) + ": the communicator has an error: " + state_message(s));
  return ncclSuccess;
}

// Entry checks of every collective, as NCCL's ncclCommEnsureReady and argument checks.
ncclResult_t check_call(ncclComm_t comm, const char* name, int datatype, cudaStream_t stream);

void enqueue(const std::shared_ptr<CommState>& st, cudaStream_t stream, const char* name,
             const Op& op_in) {
  Op op = op_in;
  {
    std::lock_guard<std::mutex> lk(st->mu);
    op.desc.seq = ++st->issued;
  }
  const std::uint64_t seq = op.desc.seq;
  sim::enqueue(
      stream, name, [st, seq, op] { run(*st, seq, op); }, sim::OpKind::collective);
}

bool overlap(const void* a, const void* b, std::size_t bytes) {
  const auto x = reinterpret_cast<std::uintptr_t>(a), y = reinterpret_cast<std::uintptr_t>(b);
  return x != y && x < y + bytes && y < x + bytes;
}

ncclResult_t broadcast(const char* name, const void* sendbuff, void* recvbuff, std::size_t count,
                       ncclDataType_t datatype, int root, ncclComm_t comm, cudaStream_t stream);

// The init proper (on the communicator's thread when it is non-blocking): joins the segment of
// the unique id's token, waits for every rank, then fills in `st`. `fn` names the API call.
ncclResult_t init_job(CommState& st, const char* fn, const std::string& token) {
  const int nranks = st.nranks, rank = st.rank, device = st.device;
  const std::string who = st.who();
  const std::string call = who + ": " + fn;
  const std::string name = "/ddnet-sim-nccl-" + token;
  InitWait wait(who, fn, &st.aborted);
  Mapping map;
  if (const ncclResult_t r = attach(name, nranks, who, wait, &map); r != ncclSuccess) return r;
  Header* h = map.header();
  if (h->failed.load(std::memory_order_acquire) != 0)
    return error(ncclRemoteError,
                 call + ": the communicator's init already failed: " + group_failure(h));
  if (h->nranks != nranks) {
    const std::string why = call + " with nranks " + std::to_string(nranks) +
                            ", but another rank gave " + std::to_string(h->nranks);
    fail_group(h, name, why);
    return error(ncclInvalidArgument, why);
  }
  Slot* me = map.slot(rank);
  std::int32_t expected = kFree;
  if (!me->state.compare_exchange_strong(expected, kClaimed)) {
    const std::string why = call + ": rank " + std::to_string(rank) +
                            " joined twice (two ranks given the same rank number)";
    fail_group(h, name, why);
    return error(ncclInvalidArgument, why);
  }
  me->pid = static_cast<std::int32_t>(getpid());
  me->device = device;
  std::snprintf(me->identity, sizeof me->identity, "%s", gpu_identity(device).c_str());
  me->arrived.store(0);
  me->state.store(kJoined, std::memory_order_release);
  h->joined.fetch_add(1, std::memory_order_acq_rel);

  auto last_pid_check = Clock::now();
  while (h->joined.load(std::memory_order_acquire) < nranks) {
    if (h->failed.load(std::memory_order_acquire) != 0)
      return error(ncclRemoteError, call + ": a peer's init failed: " + group_failure(h));
    if (Clock::now() - last_pid_check > std::chrono::milliseconds(100)) {
      last_pid_check = Clock::now();
      for (int r = 0; r < nranks; ++r) {
        const Slot* p = map.slot(r);
        const int state = p->state.load(std::memory_order_acquire);
        if ((state == kClaimed || state == kJoined) && !process_alive(p->pid)) {
          const std::string why = call + ": rank " + std::to_string(r) + " (pid " +
                                  std::to_string(p->pid) + ") exited during init";
          fail_group(h, name, why);
          return error(ncclRemoteError, why);
        }
      }
    }
    std::string missing;
    for (int r = 0; r < nranks; ++r)
      if (map.slot(r)->state.load(std::memory_order_acquire) != kJoined)
        missing += (missing.empty() ? "" : ", ") + std::to_string(r);
    if (!wait.pause("ranks [" + missing + "] to join")) {
      // Peers still waiting fail too (an aborted rank's peers would lose its connections).
      const std::string why = call + ": ranks [" + missing + "] did not join " + wait.stop_text();
      fail_group(h, name, why);
      return error(ncclSystemError, why);
    }
  }
  // Every rank has the segment mapped: drop the name, so that a crash leaves nothing behind.
  shm_unlink(name.c_str());

  // NCCL refuses two ranks on one GPU of a host ("Duplicate GPU detected", in every process,
  // not only within one); every rank sees the same table, so all of them fail alike.
  for (int i = 0; i < nranks; ++i)
    for (int j = i + 1; j < nranks; ++j)
      if (std::strcmp(map.slot(i)->identity, map.slot(j)->identity) == 0)
        return error(ncclInvalidUsage, call + ": Duplicate GPU detected : rank " +
                                           std::to_string(i) + " and rank " + std::to_string(j) +
                                           " both on CUDA device " + map.slot(i)->identity);
  st.map = std::move(map);
  return ncclSuccess;
}

}  // namespace ddnet::sim::nccl_impl

namespace impl = ddnet::sim::nccl_impl;

struct ncclComm {
  std::shared_ptr<impl::CommState> state;
  // The thread of the communicator's current or last non-blocking operation (its init, the
  // launch of a collective, its finalize): NCCL's group job.
  std::thread job;
};

namespace ddnet::sim::nccl_impl {

// Waits for the end of the thread of the communicator's last operation (whose state is no longer
// ncclInProgress, or which the abort flag stops).
void join_job(ncclComm_t comm) {
  if (comm->job.joinable()) comm->job.join();
}

// A call that fails on a non-blocking communicator leaves it in error, as NCCL's failure paths do
// (ncclCommSetAsyncError); a call refused because the last operation is still in progress
// leaves the state to that operation.
ncclResult_t failed(ncclComm_t comm, ncclResult_t r) {
  CommState& s = *comm->state;
  if (r != ncclSuccess && !s.blocking && s.api.load() == ncclSuccess) {
    s.api_msg = t_last_error;
    s.api.store(r);
  }
  return r;
}

ncclResult_t check_call(ncclComm_t comm, const char* name, int datatype, cudaStream_t stream) {
  const CommState& s = *comm->state;
  if (const ncclResult_t r = ensure_ready(s, name); r != ncclSuccess) return r;
  if (datatype < 0 || datatype >= ncclNumTypes)
    return error(ncclInvalidArgument,
                 std::string(name) + ": invalid type " + std::to_string(datatype));
  // A stream of another device: NCCL's event record / launch on it fails in CUDA.
  if (const int dev = sim::stream_device(stream); dev != s.device)
    return error(ncclUnhandledCudaError, std::string(name) + ": " + s.who() +
                                             " on cuda:" + std::to_string(s.device) +
                                             " given a stream of cuda:" + std::to_string(dev));
  return ncclSuccess;
}

// Queues `op` on `stream`: at once on a blocking communicator; on a non-blocking one from the
// communicator's thread, a little later, returning ncclInProgress (NCCL launches a non-blocking
// communicator's kernels from a thread of its own: the stream has the collective only once the
// state is ncclSuccess).
ncclResult_t launch(ncclComm_t comm, cudaStream_t stream, const char* name, const Op& op) {
  const std::shared_ptr<CommState>& st = comm->state;
  if (st->blocking) {
    enqueue(st, stream, name, op);
    return ncclSuccess;
  }
  join_job(comm);
  st->api.store(ncclInProgress);
  comm->job = std::thread([st, stream, name, op] {
    cudaSetDevice(st->device);  // a null stream is the device's
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    enqueue(st, stream, name, op);
    st->api.store(ncclSuccess);
  });
  return ncclInProgress;
}

ncclResult_t broadcast(const char* name, const void* sendbuff, void* recvbuff, std::size_t count,
                       ncclDataType_t datatype, int root, ncclComm_t comm, cudaStream_t stream) {
  if (comm == nullptr)
    return error(ncclInvalidArgument, std::string(name) + ": comm argument is NULL");
  if (const ncclResult_t r = check_call(comm, name, datatype, stream); r != ncclSuccess)
    return failed(comm, r);
  const CommState& s = *comm->state;
  if (root < 0 || root >= s.nranks)
    return failed(comm,
                  error(ncclInvalidArgument, std::string(name) + ": invalid root " +
                                                 std::to_string(root) + " (" + s.who() + ")"));
  const std::size_t elem = type_size(datatype);
  if (count > SIZE_MAX / elem)
    return failed(comm, error(ncclInvalidArgument, std::string(name) + ": count " +
                                                       std::to_string(count) + " overflows"));
  if (count == 0) return ncclSuccess;
  const std::size_t bytes = count * elem;
  // Only the root reads sendbuff.
  if (s.rank == root) {
    sim::check_device_range(sendbuff, bytes, s.device, std::string(name) + " sendbuff");
    if (overlap(sendbuff, recvbuff, bytes))
      sim::fail(std::string(name) + ": sendbuff and recvbuff overlap without being equal");
  }
  sim::check_device_range(recvbuff, bytes, s.device, std::string(name) + " recvbuff");
  Op op{};
  op.desc.kind = kBroadcast;
  op.desc.datatype = datatype;
  op.desc.root = root;
  op.desc.count = count;
  op.send = static_cast<const char*>(sendbuff);
  op.recv = static_cast<char*>(recvbuff);
  op.elem = elem;
  return launch(comm, stream, name, op);
}

// ncclCommInitRank and ncclCommInitRankConfig (`fn`; config null for the first).
ncclResult_t init_rank(const char* fn, ncclComm_t* comm, int nranks, const ncclUniqueId& commId,
                       int rank, const ncclConfig_t* config) {
  if (comm == nullptr)
    return error(ncclInvalidArgument, std::string(fn) + ": comm argument is NULL");
  *comm = nullptr;
  bool blocking = true;  // NCCL's default
  if (config != nullptr) {
    // As NCCL: as many bytes as the caller's header made the struct (its `size`), over defaults.
    ncclConfig_t c = NCCL_CONFIG_INITIALIZER;
    c.magic = 0;
    std::size_t size = 0;
    std::memcpy(&size, config, sizeof size);
    std::memcpy(&c, config, std::min(size, sizeof c));
    if (c.magic != 0xcafebeef)
      return error(ncclInvalidArgument, std::string(fn) +
                                            ": ncclConfig_t argument not initialized via "
                                            "NCCL_CONFIG_INITIALIZER");
    if (c.version < NCCL_VERSION(2, 14, 0)) c.blocking = NCCL_CONFIG_UNDEF_INT;
    if (c.blocking != NCCL_CONFIG_UNDEF_INT && c.blocking != 0 && c.blocking != 1)
      return error(ncclInvalidArgument, std::string(fn) +
                                            ": Invalid config blocking attribute value " +
                                            std::to_string(c.blocking));
    blocking = c.blocking != 0;
  }
  if (nranks < 1)
    return error(ncclInvalidArgument,
                 std::string(fn) + ": invalid number of ranks " + std::to_string(nranks));
  if (rank < 0 || rank >= nranks)
    return error(ncclInvalidArgument, std::string(fn) + ": invalid rank requested : " +
                                          std::to_string(rank) + "/" + std::to_string(nranks));
  std::string token;
  if (!parse_id(commId, &token))
    return error(ncclInvalidArgument,
                 std::string(fn) +
                     ": the unique id was not made by ncclGetUniqueId (was it broadcast to this "
                     "rank?)");
  auto st = std::make_shared<CommState>();
  st->rank = rank;
  st->nranks = nranks;
  st->device = sim::current_device();
  st->blocking = blocking;
  st->timeout_s = env_seconds("DDNET_SIM_NCCL_TIMEOUT_S", 120);
  if (blocking) {
    if (const ncclResult_t r = init_job(*st, fn, token); r != ncclSuccess) return r;
    *comm = new ncclComm{std::move(st), {}};
    return ncclSuccess;
  }
  // Non-blocking: the communicator exists at once; its init runs on its thread, and a failed init
  // leaves it in error until ncclCommAbort frees it.
  auto* c = new ncclComm{st, {}};
  st->api.store(ncclInProgress);
  c->job = std::thread([st, fn, token] {
    const ncclResult_t r = init_job(*st, fn, token);
    if (r != ncclSuccess) st->api_msg = t_last_error;  // error() kept it on this thread
    st->api.store(r);
  });
  *comm = c;
  return ncclInProgress;
}

}  // namespace ddnet::sim::nccl_impl

using impl::error;

extern "C" {

const char* ncclGetErrorString(ncclResult_t result) {
  switch (result) {
    case ncclSuccess:
      return "no error";
    case ncclUnhandledCudaError:
      return "unhandled cuda error (run with NCCL_DEBUG=INFO for details)";
    case ncclSystemError:
      return "unhandled system error (run with NCCL_DEBUG=INFO for details)";
    case ncclInternalError:
      return "internal error - please report this issue to the NCCL developers";
    case ncclInvalidArgument:
      return "invalid argument (run with NCCL_DEBUG=WARN for details)";
    case ncclInvalidUsage:
      return "invalid usage (run with NCCL_DEBUG=WARN for details)";
    case ncclRemoteError:
      return "remote process exited or there was a network error";
    case ncclInProgress:
      return "NCCL operation in progress";
    default:
      return "unknown result code";
  }
}

const char* ncclGetLastError(ncclComm_t comm) {
  sim::count("ncclGetLastError");
  if (comm != nullptr) {
    const ncclResult_t r = impl::comm_state(*comm->state);
    if (r != ncclSuccess && r != ncclInProgress) return impl::state_message(*comm->state).c_str();
  }
  return impl::t_last_error.c_str();
}

ncclResult_t ncclGetVersion(int* version) {
  sim::count("ncclGetVersion");
  if (version == nullptr) return error(ncclInvalidArgument, "ncclGetVersion: version is NULL");
  *version = NCCL_VERSION_CODE;
  return ncclSuccess;
}

ncclResult_t ncclGetUniqueId(ncclUniqueId* uniqueId) {
  sim::count("ncclGetUniqueId");
  if (uniqueId == nullptr)
    return error(ncclInvalidArgument, "ncclGetUniqueId: uniqueId argument is NULL");
  impl::IdLayout l{};
  std::memcpy(l.magic, impl::kIdMagic, sizeof l.magic);
  // Not from the run's seed: concurrent runs (parallel ctest) must not meet in one segment.
  std::random_device rd;
  for (int i = 0; i < impl::kTokenChars; ++i) l.token[i] = "0123456789abcdef"[rd() & 15u];
  std::memset(uniqueId, 0, sizeof *uniqueId);
  std::memcpy(uniqueId->internal, &l, sizeof l);
  return ncclSuccess;
}

ncclResult_t ncclCommInitRankConfig(ncclComm_t* comm, int nranks, ncclUniqueId commId, int rank,
                                    ncclConfig_t* config) {
  sim::count("ncclCommInitRankConfig");
  return impl::init_rank("ncclCommInitRankConfig", comm, nranks, commId, rank, config);
}

ncclResult_t ncclCommInitRank(ncclComm_t* comm, int nranks, ncclUniqueId commId, int rank) {
  sim::count("ncclCommInitRank");
  return impl::init_rank("ncclCommInitRank", comm, nranks, commId, rank, nullptr);
}

ncclResult_t ncclCommFinalize(ncclComm_t comm) {
  sim::count("ncclCommFinalize");
  if (comm == nullptr) return ncclSuccess;
  impl::CommState& s = *comm->state;
  if (const ncclResult_t r = impl::ensure_ready(s, "ncclCommFinalize"); r != ncclSuccess)
    return impl::failed(comm, r);
  if (s.finalized)
    return impl::failed(comm, error(ncclInvalidArgument,
                                    "ncclCommFinalize: the communicator was finalized already"));
  s.finalized = true;
  // Flushes the communicator's queued collectives (which need their peers).
  auto flush = [](impl::CommState& st) {
    std::unique_lock<std::mutex> lk(st.mu);
    st.cv.wait(lk, [&] { return st.finished == st.issued || st.aborted.load(); });
  };
  if (s.blocking) {
    flush(s);
    return ncclSuccess;
  }
  impl::join_job(comm);
  s.api.store(ncclInProgress);
  comm->job = std::thread([st = comm->state, flush] {
    flush(*st);
    st->api.store(ncclSuccess);
  });
  return ncclInProgress;
}

ncclResult_t ncclCommDestroy(ncclComm_t comm) {
  sim::count("ncclCommDestroy");
  if (comm == nullptr) return ncclSuccess;
  // As NCCL (ncclCommEnsureReady): a communicator whose last operation is still in progress, or
  // that has an error, is not destroyed; only ncclCommAbort frees it then.
  if (const ncclResult_t r = impl::ensure_ready(*comm->state, "ncclCommDestroy"); r != ncclSuccess)
    return r;
  impl::join_job(comm);
  std::shared_ptr<impl::CommState> st = std::move(comm->state);
  delete comm;
  if (!st->finalized) {
    // Destroy finalizes first: it waits for the communicator's queued collectives, which need
    // their peers (after an error, only the collective timeout ends that wait: abort instead).
    std::unique_lock<std::mutex> lk(st->mu);
    st->cv.wait(lk, [&] { return st->finished == st->issued; });
  }
  // Peers that still wait for this rank stop now.
  std::int32_t expected = impl::kJoined;
  st->me()->state.compare_exchange_strong(expected, impl::kLeft);
  return ncclSuccess;
}

ncclResult_t ncclCommAbort(ncclComm_t comm) {
  sim::count("ncclCommAbort");
  if (comm == nullptr) return ncclSuccess;
  std::shared_ptr<impl::CommState> st = comm->state;
  {
    std::lock_guard<std::mutex> lk(st->mu);
    st->aborted.store(true);
  }
  st->cv.notify_all();
  // As NCCL, the communicator's thread is joined first: an init that waits for its peers, or a
  // finalize that waits for queued collectives, stops at the abort flag.
  impl::join_job(comm);
  delete comm;
  if (!st->map.valid()) return ncclSuccess;  // the init never finished: nothing to stop
  // Peers waiting for this rank end their collectives with ncclRemoteError.
  st->me()->state.store(impl::kBroken, std::memory_order_release);
  // The running collective notices the flag within a poll; queued ones skip themselves when
  // their stream reaches them (they share `st`, so nothing they touch is freed).
  std::unique_lock<std::mutex> lk(st->mu);
  st->cv.wait(lk, [&] { return !st->running; });
  return ncclSuccess;
}

ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t* asyncError) {
  sim::count("ncclCommGetAsyncError");
  if (comm == nullptr || asyncError == nullptr)
    return error(ncclInvalidArgument, "ncclCommGetAsyncError: NULL argument");
  *asyncError = impl::comm_state(*comm->state);
  return ncclSuccess;
}

ncclResult_t ncclCommCount(const ncclComm_t comm, int* count) {
  sim::count("ncclCommCount");
  if (comm == nullptr || count == nullptr)
    return error(ncclInvalidArgument, "ncclCommCount: NULL argument");
  *count = comm->state->nranks;
  return ncclSuccess;
}

ncclResult_t ncclCommCuDevice(const ncclComm_t comm, int* device) {
  sim::count("ncclCommCuDevice");
  if (comm == nullptr || device == nullptr)
    return error(ncclInvalidArgument, "ncclCommCuDevice: NULL argument");
  *device = comm->state->device;
  return ncclSuccess;
}

ncclResult_t ncclCommUserRank(const ncclComm_t comm, int* rank) {
  sim::count("ncclCommUserRank");
  if (comm == nullptr || rank == nullptr)
    return error(ncclInvalidArgument, "ncclCommUserRank: NULL argument");
  *rank = comm->state->rank;
  return ncclSuccess;
}

ncclResult_t ncclAllReduce(const void* sendbuff, void* recvbuff, size_t count,
                           ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm,
                           cudaStream_t stream) {
  using namespace impl;
  sim::count("ncclAllReduce");
  const char* name = "ncclAllReduce";
  if (comm == nullptr)
    return error(ncclInvalidArgument, std::string(name) + ": comm argument is NULL");
  if (const ncclResult_t r = check_call(comm, name, datatype, stream); r != ncclSuccess)
    return failed(comm, r);
  if (op < 0 || op >= ncclNumOps)
    return failed(comm,
                  error(ncclInvalidArgument,
                        std::string(name) + ": invalid reduction operation " + std::to_string(op)));
  if (!with_type(datatype, [](auto) {}))
    sim::fail(std::string(name) + " of " + type_name(datatype) +
              " is not emulated (tests/sim/nccl.cpp reduces 8- to 64-bit integers, float and "
              "double)");
  const CommState& s = *comm->state;
  const std::size_t elem = type_size(datatype);
  if (count > SIZE_MAX / elem)
    return failed(comm, error(ncclInvalidArgument, std::string(name) + ": count " +
                                                       std::to_string(count) + " overflows"));
  if (count == 0) return ncclSuccess;
  const std::size_t bytes = count * elem;
  sim::check_device_range(sendbuff, bytes, s.device, "ncclAllReduce sendbuff");
  sim::check_device_range(recvbuff, bytes, s.device, "ncclAllReduce recvbuff");
  if (overlap(sendbuff, recvbuff, bytes))
    sim::fail("ncclAllReduce: sendbuff and recvbuff overlap without being equal");
  Op o{};
  o.desc.kind = kAllReduce;
  o.desc.datatype = datatype;
  o.desc.op = op;
  o.desc.count = count;
  o.send = static_cast<const char*>(sendbuff);
  o.recv = static_cast<char*>(recvbuff);
  o.elem = elem;
  return launch(comm, stream, name, o);
}

ncclResult_t ncclBroadcast(const void* sendbuff, void* recvbuff, size_t count,
                           ncclDataType_t datatype, int root, ncclComm_t comm,
                           cudaStream_t stream) {
  sim::count("ncclBroadcast");
  return impl::broadcast("ncclBroadcast", sendbuff, recvbuff, count, datatype, root, comm, stream);
}

ncclResult_t ncclBcast(void* buff, size_t count, ncclDataType_t datatype, int root, ncclComm_t comm,
                       cudaStream_t stream) {
  sim::count("ncclBcast");
  return impl::broadcast("ncclBcast", buff, buff, count, datatype, root, comm, stream);
}

}  // extern "C"
