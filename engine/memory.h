// Storage: a block of memory on a device, owned by the tensors that view it. CPU storage is
// 64-byte aligned host memory; CUDA storage comes from the device's caching allocator on the
// current stream. PinnedBuffer: page-locked host memory for asynchronous copies.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>

#include "engine/device.h"
#include "engine/stream.h"

namespace ddnet {

class Storage {
 public:
  // `bytes` may be 0 (a valid, empty storage).
  static std::shared_ptr<Storage> allocate(std::size_t bytes, Device device);
  // Memory someone else owns (a NumPy array, a DLPack capsule from PyTorch): the storage views
  // it without copying and calls `release` (may be empty) when the last tensor viewing it is
  // gone. The owner must keep the memory valid until then; on CUDA it must also order its own
  // work on the memory against ours (the Python module synchronises at the exchange).
  static std::shared_ptr<Storage> borrow(void* data, std::size_t bytes, Device device,
                                         std::function<void()> release);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }
  Device device() const { return device_; }
  bool borrowed() const { return static_cast<bool>(borrowed_); }
  // CUDA: the memory is also used on `stream`; it is not reused before that work completes.
  void record_stream(const Stream& stream);

 private:
  Storage(void* data, std::size_t bytes, Device device)
      : data_(data), bytes_(bytes), device_(device) {}
  void* data_;
  std::size_t bytes_;
  Device device_;
  // Set for borrowed memory: not ours to free; what tells the owner we are done.
  std::unique_ptr<std::function<void()>> borrowed_;
};

class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  explicit PinnedBuffer(std::size_t bytes);  // throws when CUDA is unavailable
  ~PinnedBuffer();
  PinnedBuffer(PinnedBuffer&& o) noexcept;
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;

  void* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }

 private:
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
};

}  // namespace ddnet
