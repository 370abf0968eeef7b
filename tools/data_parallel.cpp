// The training loop's data parallelism over the MPI world and the gradient reducer.
#include "tools/data_parallel.h"

#include "engine/error.h"

namespace ddnet::tools {

void MpiSync::broadcast(Tensor& t) {
  DDNET_CHECK(t.device().is_cpu() && t.is_contiguous(), "data parallel: broadcast of ", t.str(),
              ": CPU contiguous tensors only (the NCCL path for GPUs is not written yet)");
  world_.broadcast(t.raw_data(), t.nbytes());
}

void MpiSync::attach(const Tensor& grads, const std::vector<Tensor>& params,
                     const std::vector<std::int64_t>& offsets) {
  reducer_ = std::make_unique<dist::Reducer>(world_, grads, params, offsets, options_);
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
