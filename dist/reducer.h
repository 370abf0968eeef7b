// Data-parallel gradient averaging over the gradient arena, overlapped with backward.
//
// The parameters' gradients live in one flat arena (graph/arena.h), in parameter order. The
// reducer cuts it into buckets in reverse parameter order (backward produces the last layers'
// gradients first): a small first bucket, so communication starts early, then buckets of about
// `bucket_bytes`. Each bucket is one contiguous range of the arena. During backward, a
// grad-ready hook (engine/autograd.h) marks parameters ready; when every parameter of a bucket
// is, and every earlier bucket has been started, the bucket's all-reduce starts. Buckets start
// in the same order on every rank whatever order gradients become ready in, as collectives
// must. finish() starts what is left (parameters backward never reached) and waits for all.
//
// CPU arena: a non-blocking MPI all-reduce (sum) on host memory, poked at every report so it
//   progresses while backward computes; finish() divides by the world size.
// CUDA arena: NCCL. A bucket's start records an event on the compute stream (after the kernels
//   that wrote its gradients), the communication stream waits for it and runs ncclAllReduce
//   (ncclAvg) there, so the reduction overlaps the rest of backward on the GPU. finish() makes
//   the compute stream wait for the last all-reduce (the optimizer runs after it) and waits on
//   the host, with NCCL's error polling and timeout (dist/nccl.h), so a failed peer ends the
//   run; the training loop synchronises every step for its loss anyway.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "dist/nccl.h"
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
  // whose gradients the hook reports. `nccl`: required for a CUDA arena (on its device),
  // unused for a CPU one.
  Reducer(const World& world, Tensor grads, const std::vector<Tensor>& params,
          const std::vector<std::int64_t>& offsets, ReducerOptions options = {},
          const NcclComm* nccl = nullptr);

  const std::vector<Bucket>& buckets() const { return buckets_; }

  // One step: begin() before backward (installs the hook for its guard's lifetime), finish()
  // after it. Between them, backward's grad-ready reports start buckets.
  void begin();
  void finish();

  // What the last step did, for tests and the benchmark.
  struct Stats {
    std::vector<std::size_t> launch_order;  // bucket indices in the order they started
    std::vector<int> launched_in_backward;  // per bucket: 1 when started before finish()
    // Communication backward did not hide. CPU: the host's wait in finish(). CUDA: from the end
    // of backward on the compute stream to the end of the last all-reduce (timing events).
    double finish_wait_s = 0;
  };
  const Stats& last() const { return stats_; }

  // For tests: mark parameter `i` ready as the hook would.
  void mark_ready(std::size_t param);

 private:
  void launch_ready_prefix();
  void launch(std::size_t bucket);

  const World& world_;
  const NcclComm* nccl_ = nullptr;  // CUDA arenas
  Tensor grads_;
  ReducerOptions options_;
  std::vector<Bucket> buckets_;
  std::vector<std::size_t> bucket_of_;  // per parameter
  std::unordered_map<const AutogradMeta*, std::size_t> index_of_;
  std::vector<int> pending_;                        // per bucket: parameters not yet ready
  std::vector<Request> requests_;                   // CPU: MPI requests per bucket
  std::vector<std::unique_ptr<Event>> ready_;       // CUDA: per bucket, its gradients written
  std::unique_ptr<Event> backward_end_, comm_end_;  // CUDA: timing
  std::size_t next_ = 0;                            // first bucket not started
  bool in_step_ = false, in_backward_ = false;
  std::unique_ptr<GradReadyHookGuard> guard_;
  Stats stats_;
};

}  // namespace ddnet::dist
