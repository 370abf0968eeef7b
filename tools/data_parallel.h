// models::GradientSync over dist/: the MPI world, rank 0's parameters and buffers broadcast at
// start, and the bucketed gradient reducer overlapped with backward: MPI all-reduce for CPU
// ranks, NCCL for GPU ranks (one GPU per local rank, the communicator bootstrapped over MPI).
#pragma once

#include <memory>

#include "dist/nccl.h"
#include "dist/reducer.h"
#include "dist/world.h"
#include "models/train.h"

namespace ddnet::tools {

class MpiSync final : public models::GradientSync {
 public:
  MpiSync(dist::World& world, dist::ReducerOptions options, double nccl_timeout_s = 600.0)
      : world_(world), options_(options), nccl_timeout_s_(nccl_timeout_s) {}
  int rank() const override { return world_.rank(); }
  int world() const override { return world_.size(); }
  void check_same(const std::string& what, const std::string& value) override {
    world_.check_same(what, value);
  }
  // CUDA: cuda:<local rank>, so the ranks of one machine take one GPU each.
  Device device(const Device& configured) const override;
  void broadcast(Tensor& t) override;
  void attach(const Tensor& grads, const std::vector<Tensor>& params,
              const std::vector<std::int64_t>& offsets) override;
  void before_backward() override { reducer_->begin(); }
  void after_backward() override;
  double mean(double local) override;

  // Communication time backward did not hide, summed over steps (for the benchmark and logs).
  double exposed_seconds() const { return exposed_; }
  const dist::Reducer* reducer() const { return reducer_.get(); }

 private:
  dist::World& world_;
  dist::ReducerOptions options_;
  double nccl_timeout_s_;
  std::unique_ptr<dist::NcclComm> nccl_;
  std::unique_ptr<dist::Reducer> reducer_;
  double exposed_ = 0;
};

}  // namespace ddnet::tools
