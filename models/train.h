// The training loop of `ddnet train`: 2D-DDnet or 3D-DDnet, Adam + ExponentialLR, the loss
// MSE + gamma (1 - MS-SSIM), validation each epoch, JSON-lines logs, atomic checkpoints every N
// epochs and at the end, exact resumption, a NaN/Inf stop that names the step and the loss part
// (the last good checkpoint is kept), and SIGINT/SIGTERM: checkpoint, then exit code 128 + the
// signal (130, 143). Samples come from a provider, so the loop does not depend on where data lives
// (data/).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "models/train_config.h"

namespace ddnet::models {

struct Sample {
  Tensor input, target;  // (1, 1, D, H, W) or (1, 1, H, W), CPU
  std::string name;      // what it is, for errors: the scan (and slices), or the phantom
};
// Where samples come from (tools/ adapts the dataset loaders and the synthetic phantoms).
// get() is called from a prefetch thread while the previous step runs: it must be thread-safe
// and a pure function of its arguments, so a resumed run sees the same samples.
class SampleSource {
 public:
  virtual ~SampleSource() = default;
  virtual std::int64_t size(int split) const = 0;  // split 0 = train, 1 = validation
  virtual Sample get(int split, std::int64_t epoch, std::int64_t index) const = 0;
  // Whole (uncropped) training volumes, for BatchNorm recalibration (TrainConfig::bn_recalibrate):
  // how many, and one by index (the same every epoch). A source that does not crop may give its
  // training items; the default has none.
  virtual std::int64_t whole_size() const { return 0; }
  virtual Sample whole(std::int64_t index) const;
};

struct TrainResult {
  // 0 done; 130 (SIGINT) or 143 (SIGTERM): interrupted, the checkpoint written; 3 non-finite loss
  int exit_code = 0;
  std::string message;
  double last_loss = 0, last_val_loss = 0;
  std::int64_t steps = 0;
};

// Data parallelism as the training loop sees it; tools/ implements it over dist/ (MPI world and
// gradient reducer), so models/ stays below dist/. Each rank trains on its shard of the samples
// (the SampleSource gives this rank's items), starts from rank 0's parameters and buffers,
// averages gradients every step; BatchNorm keeps per-rank batch statistics (as PyTorch DDP does)
// and checkpoints hold rank 0's running statistics. Rank 0 alone writes the log and checkpoints.
class GradientSync {
 public:
  virtual ~GradientSync() = default;
  virtual int rank() const = 0;
  virtual int world() const = 0;
  // Every rank must give the same `value` (configuration, parameter layout); throws otherwise.
  virtual void check_same(const std::string& what, const std::string& value) = 0;
  // The device this rank trains on, given the configured one (one GPU per local rank).
  virtual Device device(const Device& configured) const { return configured; }
  virtual void broadcast(Tensor& t) = 0;  // rank 0's values to every rank
  // Called once with the packed parameters (graph/arena.h's params, grads, offsets).
  virtual void attach(const Tensor& grads, const std::vector<Tensor>& params,
                      const std::vector<std::int64_t>& offsets) = 0;
  virtual void before_backward() = 0;
  virtual void after_backward() = 0;      // gradients are the mean over ranks when it returns
  virtual double mean(double local) = 0;  // of a scalar over ranks (the logged losses)
};

// `sync`: null for one process.
TrainResult train(const TrainConfig& config, const SampleSource& samples, bool resume,
                  GradientSync* sync = nullptr);

}  // namespace ddnet::models
