// Batches for a training loop, one step ahead. A worker thread reads and stacks batch k+1 (the
// dataset reads and normalisation run there) while the caller computes on batch k.
//
// On a CUDA device the worker stacks the samples straight into one of two page-locked (pinned)
// host slots and enqueues their copy to the device on a copy stream of its own, so the transfer
// overlaps the step the caller is running; next() makes the caller's current stream wait for that
// copy with an event (the host does not block on it) and records the tensors' use on the caller's
// stream, so the caching allocator does not hand their memory to the copy stream again too early.
// A slot is refilled only after the copy out of it has finished. On the CPU the worker stacks
// into ordinary tensors.
#pragma once

#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <vector>

#include "engine/device.h"
#include "engine/memory.h"
#include "engine/stream.h"
#include "engine/tensor.h"

namespace ddnet {

// One batch as the data source gives it: CPU f32 tensors, one per sample, each with a leading
// dimension of 1 ((1, C, D, H, W) or (1, C, H, W)); every sample of a batch has the same shape.
struct HostBatch {
  std::vector<Tensor> inputs, targets;
};

// A batch on the device: the samples stacked along N.
struct Batch {
  Tensor input, target;
};

// One prefetcher serves a whole training run: its copy stream, events and pinned slots are made
// once (device blocks cached by the allocator for the copy stream are reused epoch after epoch),
// and start() begins each epoch's sequence of batches.
class BatchPrefetcher {
 public:
  using Fetch = std::function<HostBatch(std::int64_t batch)>;
  explicit BatchPrefetcher(Device device);
  // The same, then start(fetch, first, end).
  BatchPrefetcher(Fetch fetch, Device device, std::int64_t first, std::int64_t end);
  ~BatchPrefetcher();  // stop()s
  BatchPrefetcher(const BatchPrefetcher&) = delete;
  BatchPrefetcher& operator=(const BatchPrefetcher&) = delete;

  // Batches first, first + 1, ..., end - 1 (none when first >= end). `fetch` runs on the worker
  // thread (it must be thread-safe); fetching batch first starts at once. A sequence still
  // running is stop()ped first.
  void start(Fetch fetch, std::int64_t first, std::int64_t end);
  // Waits for the fetch in flight and drops it (and what it threw); done() afterwards. Call it
  // before work that must not overlap the fetch, e.g. writing a checkpoint while the fetch
  // reads the dataset.
  void stop();
  bool done() const { return next_ >= end_; }
  // The next batch on the device, usable on the caller's current stream. Throws what the
  // fetch threw, prefixed with the batch number; after that the prefetcher is done.
  Batch next();
  // Whether batches travel through pinned host slots (CUDA devices).
  bool pinned() const { return device_.is_cuda(); }
  // Bytes of pinned host memory the slots hold; call it with no fetch in flight (after stop()
  // or once done()), since the worker may grow a slot.
  std::size_t pinned_bytes() const;

 private:
  struct Slot {
    PinnedBuffer buffer;
    std::unique_ptr<Event> copied;  // recorded on the copy stream after the copy out of it
    bool used = false;
  };
  struct Staged {
    Batch batch;
    int slot = -1;
  };
  Staged stage(std::int64_t k);  // on the worker thread
  void launch(std::int64_t k);

  Fetch fetch_;
  Device device_;
  std::int64_t next_ = 0, end_ = 0;
  Stream copy_stream_;
  Slot slots_[2];
  std::future<Staged> pending_;
};

}  // namespace ddnet
