// The NCCL communicator (built with NCCL and CUDA).
#include "dist/nccl.h"

#include <chrono>
#include <cstring>
#include <thread>

#include "engine/check_nccl.h"
#include "engine/cuda_runtime_seam.h"
#include "engine/error.h"

namespace ddnet::dist {

namespace {
ncclComm_t as_comm(void* c) {
  return static_cast<ncclComm_t>(c);
}
cudaStream_t as_stream(const Stream& s) {
  return static_cast<cudaStream_t>(s.handle());
}
}  // namespace

bool nccl_compiled() {
  return true;
}

NcclComm::NcclComm(const World& world, int device, double timeout_s)
    : device_(device), rank_(world.rank()), size_(world.size()), timeout_s_(timeout_s) {
  DDNET_CHECK(timeout_s > 0, "nccl: the timeout must be positive, got ", timeout_s, " s");
  seam::set_device(device);
  ncclUniqueId id;
  std::memset(&id, 0, sizeof id);
  if (world.rank() == 0) NCCL_CHECK(ncclGetUniqueId(&id));
  world.broadcast(&id, sizeof id, 0);  // a copy on a world of one
  ncclComm_t comm = nullptr;
  const ncclResult_t r = ncclCommInitRank(&comm, size_, id, rank_);
  DDNET_CHECK(r == ncclSuccess, "nccl: rank ", rank_, " of ", size_, " on cuda:", device,
              ": ncclCommInitRank failed: ", ncclGetErrorString(r),
              " (two ranks on one GPU? each rank needs its own: launch at most as many ranks "
              "per machine as it has GPUs)");
  comm_ = comm;
  stream_ = Stream::create(device);
}

NcclComm::~NcclComm() {
  if (comm_ == nullptr) return;
  // After an error the communicator may never finish its operations: abort it instead.
  if (aborted_) return;
  ncclResult_t async = ncclSuccess;
  if (ncclCommGetAsyncError(as_comm(comm_), &async) == ncclSuccess && async == ncclSuccess)
    ncclCommDestroy(as_comm(comm_));
  else
    ncclCommAbort(as_comm(comm_));
}

void NcclComm::allreduce_avg(float* data, std::size_t n, const Stream& stream) const {
  NCCL_CHECK(ncclAllReduce(data, data, n, ncclFloat32, ncclAvg, as_comm(comm_), as_stream(stream)));
}

void NcclComm::allreduce_sum(float* data, std::size_t n, const Stream& stream) const {
  NCCL_CHECK(ncclAllReduce(data, data, n, ncclFloat32, ncclSum, as_comm(comm_), as_stream(stream)));
}

void NcclComm::broadcast(void* data, std::size_t bytes, int root, const Stream& stream) const {
  NCCL_CHECK(ncclBroadcast(data, data, bytes, ncclUint8, root, as_comm(comm_), as_stream(stream)));
}

void NcclComm::check_async(const char* what) const {
  ncclResult_t async = ncclSuccess;
  NCCL_CHECK(ncclCommGetAsyncError(as_comm(comm_), &async));
  if (async == ncclSuccess || async == ncclInProgress) return;
  ncclCommAbort(as_comm(comm_));
  aborted_ = true;
  DDNET_FAIL("nccl: ", what, " on rank ", rank_, " of ", size_, ": asynchronous error ",
             ncclGetErrorString(async), " (a peer failed or the network broke)");
}

void NcclComm::wait(const Event& event, const char* what) const {
  const auto t0 = std::chrono::steady_clock::now();
  int polls = 0;
  while (!event.query()) {
    check_async(what);
    const double waited =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (waited > timeout_s_) {
      ncclCommAbort(as_comm(comm_));
      aborted_ = true;
      DDNET_FAIL("nccl: ", what, " on rank ", rank_, " of ", size_, " did not finish within ",
                 timeout_s_, " s (a peer stopped taking part?); communicator aborted");
    }
    // Spin briefly (a step's all-reduce usually ends within microseconds of backward), then
    // sleep so a long wait does not burn a core.
    if (++polls < 1000)
      std::this_thread::yield();
    else
      std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

}  // namespace ddnet::dist
