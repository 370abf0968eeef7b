// Data-parallel gradient averaging over the gradient arena, overlapped with backward.
//
// The parameters' gradients live in one flat arena (graph/arena.h), in parameter order. The
// reducer cuts it into buckets in reverse parameter order (backward produces the last layers'
// gradients first): a small first bucket, so communication starts early, then buckets of about
// `bucket_bytes`. Each bucket is one contiguous range of the arena. During backward, a
// grad-ready hook (engine/autograd.h) marks parameters ready; when every parameter of a bucket
// is, and every earlier bucket has been started, the bucket's all-reduce (sum) starts: a
// non-blocking MPI all-reduce on host memory. Buckets start in the same order on every rank
// whatever order gradients become ready in, as collectives must. finish() starts what is left
// (parameters backward never reached), waits for all of them and divides by the world size.
//
// GPU gradients go through NCCL on a communication stream: not written yet (issue 7); a reducer
// over a CUDA arena is refused with that message.
#pragma once

#include <chrono>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "dist/world.h"
#include "engine/autograd.h"
#include "engine/tensor.h"

namespace ddnet::dist {

struct ReducerOptions {
  std::size_t bucket_bytes = 25u << 20;       // about 25 MiB per bucket
  std::size_t first_bucket_bytes = 1u << 20;  // the first one small, to start early
  bool overlap = true;  // false: every bucket waits for finish() (to measure what overlap hides)
};

struct Bucket {
  std::int64_t begin = 0, end = 0;  // element range of the arena
  std::vector<std::size_t> params;  // parameter indices, in the order backward reaches them
};

class Reducer {
 public:
  // `grads`: the flat gradient arena (CPU, f32, contiguous); `offsets`/`numels`: each
  // parameter's range in it, in parameter order; `params`: the parameters (leaves) themselves,
  // whose gradients the hook reports.
  Reducer(const World& world, Tensor grads, const std::vector<Tensor>& params,
          const std::vector<std::int64_t>& offsets, ReducerOptions options = {});

  const std::vector<Bucket>& buckets() const { return buckets_; }

  // One step: begin() before backward (installs the hook for its guard's lifetime), finish()
  // after it. Between them, backward's grad-ready reports start buckets.
  void begin();
  void finish();

  // What the last step did, for tests and the benchmark.
  struct Stats {
    std::vector<std::size_t> launch_order;  // bucket indices in the order they started
    std::vector<int> launched_in_backward;  // per bucket: 1 when started before finish()
    double finish_wait_s = 0;               // finish() time: communication backward did not hide
  };
  const Stats& last() const { return stats_; }

  // For tests: mark parameter `i` ready as the hook would.
  void mark_ready(std::size_t param);

 private:
  void launch_ready_prefix();
  void launch(std::size_t bucket);

  const World& world_;
  Tensor grads_;
  ReducerOptions options_;
  std::vector<Bucket> buckets_;
  std::vector<std::size_t> bucket_of_;  // per parameter
  std::unordered_map<const AutogradMeta*, std::size_t> index_of_;
  std::vector<int> pending_;  // per bucket: parameters not yet ready
  std::vector<Request> requests_;
  std::size_t next_ = 0;  // first bucket not started
  bool in_step_ = false, in_backward_ = false;
  std::unique_ptr<GradReadyHookGuard> guard_;
  Stats stats_;
};

}  // namespace ddnet::dist
