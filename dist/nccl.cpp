// The NCCL communicator (built with NCCL and CUDA).
//
// Non-blocking communicators, as NCCL documents them (NCCL >= 2.14, "fault tolerance"): created
// by ncclCommInitRankConfig with config.blocking = 0, every call may return ncclInProgress, and
// the caller must then poll ncclCommGetAsyncError until the state is no longer ncclInProgress
// before the next call on the communicator (NCCL refuses one with ncclInvalidArgument) or a CUDA
// call that depends on the operation (an event recorded after a collective NCCL has not put on
// the stream yet would complete before it). While polling, the caller may give up and call
// ncclCommAbort, which works in any state; ncclCommDestroy needs a communicator that is ready
// (and frees nothing otherwise), so teardown is ncclCommFinalize, polled to ncclSuccess, then
// ncclCommDestroy, which then does not block.
#include "dist/nccl.h"

#include <chrono>
#include <cstring>
#include <exception>
#include <thread>

#include "engine/check_nccl.h"
#include "engine/cuda_runtime_seam.h"
#include "engine/error.h"

namespace ddnet::dist {

namespace {

using Clock = std::chrono::steady_clock;

ncclComm_t as_comm(void* c) {
  return static_cast<ncclComm_t>(c);
}
cudaStream_t as_stream(const Stream& s) {
  return static_cast<cudaStream_t>(s.handle());
}
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Polling: spin briefly (NCCL's background work and a step's all-reduce usually end within
// microseconds), then sleep so that a long wait does not burn a core.
class Backoff {
 public:
  void pause() {
    if (++polls_ < 1000)
      std::this_thread::yield();
    else
      std::this_thread::sleep_for(std::chrono::microseconds(200));
  }

 private:
  int polls_ = 0;
};

// Waits while `comm` is ncclInProgress (`state` is what the last call returned), for at most
// `timeout_s`; returns the state then: ncclInProgress after the timeout.
ncclResult_t settle(ncclComm_t comm, ncclResult_t state, double timeout_s) {
  const auto t0 = Clock::now();
  Backoff backoff;
  while (state == ncclInProgress && seconds_since(t0) <= timeout_s) {
    backoff.pause();
    if (const ncclResult_t r = ncclCommGetAsyncError(comm, &state); r != ncclSuccess) return r;
  }
  return state;
}

// "<error string>" and NCCL's last error message when it has one.
std::string describe(ncclResult_t r, ncclComm_t comm) {
  std::string s = ncclGetErrorString(r);
  const char* last = comm != nullptr ? ncclGetLastError(comm) : nullptr;
  if (last != nullptr && *last != '\0') s += std::string(": ") + last;
  return s;
}

}  // namespace

bool nccl_compiled() {
  return true;
}

NcclComm::UniqueId NcclComm::make_unique_id() {
  static_assert(sizeof(UniqueId::bytes) == sizeof(ncclUniqueId::internal),
                "NcclComm::UniqueId must hold an ncclUniqueId");
  ncclUniqueId id;
  NCCL_CHECK(ncclGetUniqueId(&id));
  UniqueId out;
  std::memcpy(out.bytes, id.internal, sizeof out.bytes);
  return out;
}

namespace {
// Rank 0's unique id on every rank of `world` (a copy on a world of one).
NcclComm::UniqueId world_id(const World& world) {
  NcclComm::UniqueId id;
  std::memset(&id, 0, sizeof id);
  if (world.rank() == 0) id = NcclComm::make_unique_id();
  world.broadcast(&id, sizeof id, 0);
  return id;
}
}  // namespace

NcclComm::NcclComm(const World& world, int device, double timeout_s)
    : NcclComm(world.size(), world.rank(), world_id(world), device, timeout_s) {}

NcclComm::NcclComm(int nranks, int rank, const UniqueId& id, int device, double timeout_s)
    : device_(device), rank_(rank), size_(nranks), timeout_s_(timeout_s) {
  DDNET_CHECK(timeout_s > 0, "nccl: the timeout must be positive, got ", timeout_s, " s");
  DDNET_CHECK(nranks >= 1 && rank >= 0 && rank < nranks, "nccl: rank ", rank, " of ", nranks,
              ": not a rank of the communicator");
  seam::set_device(device);
  stream_ = Stream::create(device);
  ncclUniqueId nid;
  std::memcpy(nid.internal, id.bytes, sizeof nid.internal);
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;  // the init returns at once: a rank that never joins cannot hang this one
  ncclComm_t comm = nullptr;
  ncclResult_t r = ncclCommInitRankConfig(&comm, size_, nid, rank_, &config);
  if (comm != nullptr) r = settle(comm, r, timeout_s_);
  if (r == ncclSuccess) {
    comm_ = comm;
    return;
  }
  // The constructor throws, so no destructor will free the communicator: abort it here.
  const std::string why = r == ncclInProgress ? std::string() : describe(r, comm);
  if (comm != nullptr) ncclCommAbort(comm);
  if (r == ncclInProgress)
    DDNET_FAIL("nccl: rank ", rank_, " of ", size_, " on cuda:", device,
               ": the communicator's init did not finish within ", timeout_s_,
               " s (did every rank of the ", size_,
               " start and reach it? one that failed before it leaves the others waiting); "
               "communicator aborted");
  DDNET_FAIL("nccl: rank ", rank_, " of ", size_, " on cuda:", device,
             ": ncclCommInitRankConfig failed: ", why,
             " (two ranks on one GPU? each rank needs its own: launch at most as many ranks "
             "per machine as it has GPUs)");
}

NcclComm::~NcclComm() {
  if (comm_ == nullptr) return;  // aborted already
  ncclComm_t comm = as_comm(comm_);
  comm_ = nullptr;
  // While an exception unwinds, the run is failing and the peers may never take part in the
  // collectives still queued: waiting for them (as ncclCommDestroy would) could be forever.
  if (std::uncaught_exceptions() > 0) {
    ncclCommAbort(comm);
    return;
  }
  // Finalize flushes the queued collectives in the background (and reports an earlier
  // asynchronous error); once it is done, Destroy frees the rest without blocking.
  if (settle(comm, ncclCommFinalize(comm), timeout_s_) == ncclSuccess &&
      ncclCommDestroy(comm) == ncclSuccess)
    return;
  ncclCommAbort(comm);
}

void* NcclComm::live(const char* what) const {
  if (comm_ == nullptr)
    DDNET_FAIL("nccl: ", what, " on rank ", rank_, " of ", size_,
               ": the communicator was aborted (", abort_reason_, "); it takes no more calls");
  return comm_;
}

void NcclComm::abort_because(const std::string& why) const {
  if (comm_ == nullptr) return;
  ncclComm_t comm = as_comm(comm_);
  comm_ = nullptr;
  abort_reason_ = why;
  ncclCommAbort(comm);
}

void NcclComm::enqueued(int result, const char* call) const {
  const auto r = static_cast<ncclResult_t>(result);
  if (r == ncclSuccess) return;
  ncclComm_t comm = as_comm(comm_);
  const ncclResult_t state = settle(comm, r, timeout_s_);
  if (state == ncclSuccess) return;
  const std::string why = state == ncclInProgress
                              ? detail::concat(call, " was not enqueued within ", timeout_s_, " s")
                              : detail::concat(call, " failed: ", describe(state, comm));
  abort_because(why);
  DDNET_FAIL("nccl: rank ", rank_, " of ", size_, ": ", why, "; communicator aborted");
}

void NcclComm::allreduce_avg(float* data, std::size_t n, const Stream& stream) const {
  ncclComm_t comm = as_comm(live("an all-reduce"));
  enqueued(ncclAllReduce(data, data, n, ncclFloat32, ncclAvg, comm, as_stream(stream)),
           "ncclAllReduce");
}

void NcclComm::allreduce_sum(float* data, std::size_t n, const Stream& stream) const {
  ncclComm_t comm = as_comm(live("an all-reduce"));
  enqueued(ncclAllReduce(data, data, n, ncclFloat32, ncclSum, comm, as_stream(stream)),
           "ncclAllReduce");
}

void NcclComm::broadcast(void* data, std::size_t bytes, int root, const Stream& stream) const {
  ncclComm_t comm = as_comm(live("a broadcast"));
  enqueued(ncclBroadcast(data, data, bytes, ncclUint8, root, comm, as_stream(stream)),
           "ncclBroadcast");
}

void NcclComm::check_async(const char* what) const {
  ncclComm_t comm = as_comm(live(what));
  ncclResult_t async = ncclSuccess;
  if (const ncclResult_t r = ncclCommGetAsyncError(comm, &async); r != ncclSuccess) async = r;
  if (async == ncclSuccess || async == ncclInProgress) return;
  const std::string why = detail::concat(what, ": asynchronous error ", describe(async, comm),
                                         " (a peer failed or the network broke)");
  abort_because(why);
  DDNET_FAIL("nccl: rank ", rank_, " of ", size_, ": ", why, "; communicator aborted");
}

void NcclComm::wait(const Event& event, const char* what) const {
  live(what);
  const auto t0 = Clock::now();
  Backoff backoff;
  while (!event.query()) {
    check_async(what);
    if (seconds_since(t0) > timeout_s_) {
      const std::string why = detail::concat(what, " did not finish within ", timeout_s_,
                                             " s (a peer stopped taking part?)");
      abort_because(why);
      DDNET_FAIL("nccl: rank ", rank_, " of ", size_, ": ", why, "; communicator aborted");
    }
    backoff.pause();
  }
  // The event may complete with an error recorded meanwhile (or already before the first
  // query): a collective whose peer failed must not pass for done.
  check_async(what);
}

}  // namespace ddnet::dist
