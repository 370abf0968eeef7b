// The batch prefetcher: a worker thread one batch ahead; pinned slots and a copy stream on CUDA.
#include "engine/prefetch.h"

#include <cstring>
#include <exception>
#include <system_error>
#include <utility>

#include "engine/cuda_runtime_seam.h"
#include "engine/error.h"

namespace ddnet {

namespace {

// Checks that `parts` can be stacked (f32 CPU samples of one shape with a leading 1) and returns
// the stacked shape.
Shape stacked_shape(const std::vector<Tensor>& parts, const char* what) {
  DDNET_CHECK(!parts.empty(), what, ": a batch needs at least one sample");
  const Shape& first = parts[0].shape();
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const Tensor& p = parts[i];
    DDNET_CHECK(p.device().is_cpu() && p.dtype() == DType::f32, what, ": sample ", i, " is ",
                p.str(), "; samples must be f32 CPU tensors");
    DDNET_CHECK(p.shape() == first, what, ": sample ", i, " has shape ", p.shape().str(),
                ", sample 0 has ", first.str(), "; a batch stacks samples of one shape");
  }
  DDNET_CHECK(first.dim() >= 2 && first[0] == 1, what, ": samples are ", parts[0].str(),
              "; they must have a leading dimension of 1");
  Shape s = first;
  s[0] = static_cast<std::int64_t>(parts.size());
  return s;
}

// Copies the samples back to back into `dst` (nbytes of the stacked shape).
void pack(const std::vector<Tensor>& parts, char* dst) {
  for (const Tensor& p : parts) {
    const Tensor c = p.is_contiguous() ? p : p.clone();
    std::memcpy(dst, c.raw_data(), c.nbytes());
    dst += c.nbytes();
  }
}

std::size_t batch_bytes(const std::vector<Tensor>& parts) {
  return parts.empty() ? 0 : parts.size() * parts[0].nbytes();
}

// Stacks (1, ...) tensors along N into one new CPU tensor; names `what` in its errors.
Tensor stack_samples(const std::vector<Tensor>& parts, const char* what) {
  Tensor out = Tensor::empty(stacked_shape(parts, what));
  pack(parts, static_cast<char*>(out.raw_data()));
  return out;
}

// Makes a device current on this thread for a scope and restores the previous one.
class DeviceScope {
 public:
  explicit DeviceScope(const Device& d) : on_(d.is_cuda()) {
    if (!on_) return;
    previous_ = seam::get_device();
    seam::set_device(d.index());
  }
  ~DeviceScope() {
    if (!on_) return;
    try {
      seam::set_device(previous_);
    } catch (const Error&) {
    }
  }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  bool on_;
  int previous_ = 0;
};

}  // namespace

BatchPrefetcher::BatchPrefetcher(Device device) : device_(device) {
  if (device_.is_cuda()) {
    DeviceScope scope(device_);
    copy_stream_ = Stream::create(device_.index());
    // The worker waits on these while the training thread computes: block, do not spin.
    for (Slot& s : slots_) s.copied = std::make_unique<Event>(false, true);
  }
}

BatchPrefetcher::BatchPrefetcher(Fetch fetch, Device device, std::int64_t first, std::int64_t end)
    : BatchPrefetcher(device) {
  start(std::move(fetch), first, end);
}

BatchPrefetcher::~BatchPrefetcher() {
  stop();
  // The slots' pinned memory may still be the source of a copy in flight.
  if (device_.is_cuda()) {
    try {
      copy_stream_.synchronize();
    } catch (const Error&) {
    }
  }
}

void BatchPrefetcher::start(Fetch fetch, std::int64_t first, std::int64_t end) {
  stop();
  fetch_ = std::move(fetch);
  next_ = first;
  end_ = end;
  if (next_ < end_) launch(next_);
}

void BatchPrefetcher::stop() {
  if (pending_.valid()) {
    pending_.wait();
    try {
      pending_.get();  // a batch staged and never used: its blocks go back to the copy stream
    } catch (...) {
    }
  }
  next_ = end_;
}

std::size_t BatchPrefetcher::pinned_bytes() const {
  return slots_[0].buffer.bytes() + slots_[1].buffer.bytes();
}

void BatchPrefetcher::launch(std::int64_t k) {
  try {
    pending_ = std::async(std::launch::async, [this, k] { return stage(k); });
  } catch (const std::system_error&) {  // no thread to be had: stage on the caller's thread
    std::promise<Staged> p;
    try {
      p.set_value(stage(k));
    } catch (...) {
      p.set_exception(std::current_exception());
    }
    pending_ = p.get_future();
  }
}

BatchPrefetcher::Staged BatchPrefetcher::stage(std::int64_t k) {
  HostBatch hb = fetch_(k);
  DDNET_CHECK(hb.inputs.size() == hb.targets.size(), "batch ", k, ": ", hb.inputs.size(),
              " inputs but ", hb.targets.size(), " targets");
  if (device_.is_cpu())
    return {{stack_samples(hb.inputs, "batch inputs"), stack_samples(hb.targets, "batch targets")},
            -1};

  DeviceScope scope(device_);
  const int si = static_cast<int>(k % 2);
  Slot& slot = slots_[si];
  // Batch k - 2 was copied out of this slot; the copy must be done before the slot is rewritten.
  if (slot.used) slot.copied->synchronize();
  const Shape in_shape = stacked_shape(hb.inputs, "batch inputs");
  const Shape tg_shape = stacked_shape(hb.targets, "batch targets");
  const std::size_t in_bytes = batch_bytes(hb.inputs), bytes = in_bytes + batch_bytes(hb.targets);
  if (slot.buffer.bytes() < bytes) slot.buffer = PinnedBuffer(bytes);
  char* host = static_cast<char*>(slot.buffer.data());
  pack(hb.inputs, host);
  pack(hb.targets, host + in_bytes);

  // Device memory allocated for the copy stream, filled there; next() hands it to the caller's
  // stream. The copy stream first waits for nothing of the caller's: the blocks the allocator
  // gives it were last used on the copy stream itself (earlier batches, ordered on it) or were
  // released by record_stream only after the caller's stream passed their last use.
  StreamGuard guard(copy_stream_);
  Batch b{Tensor::empty(in_shape, device_), Tensor::empty(tg_shape, device_)};
  seam::memcpy_async(b.input.raw_data(), host, in_bytes, seam::CopyKind::host_to_device,
                     copy_stream_.handle());
  seam::memcpy_async(b.target.raw_data(), host + in_bytes, bytes - in_bytes,
                     seam::CopyKind::host_to_device, copy_stream_.handle());
  slot.copied->record(copy_stream_);
  slot.used = true;
  return {std::move(b), si};
}

Batch BatchPrefetcher::next() {
  DDNET_CHECK(next_ < end_, "BatchPrefetcher::next: no batches left (the last was ", end_ - 1, ")");
  const std::int64_t k = next_++;
  Staged s;
  try {
    s = pending_.get();
  } catch (const std::exception& e) {
    next_ = end_;
    throw Error(detail::concat("batch ", k, ": ", e.what()));
  } catch (...) {
    next_ = end_;
    throw Error(
        detail::concat("batch ", k, ": the fetch threw something that is not an exception"));
  }
  if (next_ < end_) launch(next_);
  if (device_.is_cuda()) {
    DeviceScope scope(device_);  // the legacy default stream is the current device's
    const Stream compute = current_stream(device_.index());
    slots_[s.slot].copied->wait(compute);
    s.batch.input.storage()->record_stream(compute);
    s.batch.target.storage()->record_stream(compute);
  }
  return std::move(s.batch);
}

}  // namespace ddnet
