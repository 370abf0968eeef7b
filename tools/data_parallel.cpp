// The training loop's data parallelism over the MPI world and the gradient reducer.
#include "tools/data_parallel.h"

#include <cstdlib>

#include "engine/error.h"

namespace ddnet::tools {

Device MpiSync::device(const Device& configured) const {
  if (!configured.is_cuda()) return configured;
  const int local = world_.local_rank(), gpus = cuda_device_count();
  DDNET_CHECK(world_.local_size() == 1 || configured.index() == 0, "ddnet train: --device ",
              configured.str(), " with ", world_.local_size(),
              " ranks on this machine: give --device cuda, each rank takes the GPU of its local "
              "rank");
  // A launcher that binds one GPU to each rank (CUDA_VISIBLE_DEVICES per rank, e.g. srun
  // --gpus-per-task=1) leaves every rank seeing a single device: that one is the rank's. Without
  // such a binding, ranks beyond the machine's GPUs are refused below.
  const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
  const bool bound = gpus == 1 && visible && *visible;
  const int index = world_.local_size() == 1 ? configured.index() : bound ? 0 : local;
  DDNET_CHECK(index < gpus, "ddnet train: rank ", world_.rank(), " (local rank ", local, " of ",
              world_.local_size(), " on this machine) needs cuda:", index, " but the machine has ",
              gpus, " GPU(s): launch at most one rank per GPU");
  return Device::cuda(index);
}

void MpiSync::broadcast(Tensor& t) {
  DDNET_CHECK(t.is_contiguous(), "data parallel: broadcast of ", t.str(),
              ": contiguous tensors only");
  if (t.device().is_cpu()) {
    world_.broadcast(t.raw_data(), t.nbytes());
    return;
  }
  // Once, at start: staged through the host over MPI (no communicator needed yet).
  Tensor host = t.to(Device::cpu());
  world_.broadcast(host.raw_data(), host.nbytes());
  t.copy_(host);
}

void MpiSync::attach(const Tensor& grads, const std::vector<Tensor>& params,
                     const std::vector<std::int64_t>& offsets) {
  if (grads.device().is_cuda())
    nccl_ = std::make_unique<dist::NcclComm>(world_, grads.device().index(), nccl_timeout_s_);
  reducer_ = std::make_unique<dist::Reducer>(world_, grads, params, offsets, options_, nccl_.get());
}

void MpiSync::after_backward() {
  reducer_->finish();
  exposed_ += reducer_->last().finish_wait_s;
}

double MpiSync::mean(double local) {
  world_.allreduce_sum(&local, 1);
  return local / world_.size();
}

}  // namespace ddnet::tools
