// models::GradientSync over dist/: the MPI world, rank 0's parameters broadcast at start, and the
// bucketed gradient reducer overlapped with backward (CPU ranks; the NCCL path for GPUs is not
// written yet and is refused with that message).
#pragma once

#include <memory>

#include "dist/reducer.h"
#include "dist/world.h"
#include "models/train.h"

namespace ddnet::tools {

class MpiSync final : public models::GradientSync {
 public:
  MpiSync(dist::World& world, dist::ReducerOptions options) : world_(world), options_(options) {}
  int rank() const override { return world_.rank(); }
  int world() const override { return world_.size(); }
  void check_same(const std::string& what, const std::string& value) override {
    world_.check_same(what, value);
  }
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
  std::unique_ptr<dist::Reducer> reducer_;
  double exposed_ = 0;
};

}  // namespace ddnet::tools
