// Storage and pinned host buffers.
#include "engine/memory.h"

#include <cstdlib>
#include <new>
#include <utility>

#include "engine/allocator.h"
#include "engine/cuda_runtime_seam.h"
#include "engine/error.h"

namespace ddnet {

namespace {
constexpr std::size_t kHostAlign = 64;
}

std::shared_ptr<Storage> Storage::allocate(std::size_t bytes, Device device) {
  void* p = nullptr;
  if (device.is_cpu() && host_caching_enabled()) {
    p = host_allocator().allocate(bytes, nullptr);
  } else if (device.is_cpu()) {
    const std::size_t rounded = (bytes + kHostAlign - 1) / kHostAlign * kHostAlign;
    p = std::aligned_alloc(kHostAlign, rounded == 0 ? kHostAlign : rounded);
    DDNET_CHECK(p != nullptr, "cpu: out of host memory allocating ", bytes, " bytes");
  } else {
    p = cuda_allocator(device.index()).allocate(bytes, current_stream(device.index()).handle());
  }
  return std::shared_ptr<Storage>(new Storage(p, bytes, device));
}

std::shared_ptr<Storage> Storage::borrow(void* data, std::size_t bytes, Device device,
                                         std::function<void()> release) {
  DDNET_CHECK(data != nullptr || bytes == 0, "Storage::borrow: a null pointer for ", bytes,
              " bytes");
  std::shared_ptr<Storage> s(new Storage(data, bytes, device));
  s->borrowed_ = std::make_unique<std::function<void()>>(std::move(release));
  return s;
}

Storage::~Storage() {
  if (borrowed_) {
    try {
      if (*borrowed_) (*borrowed_)();
    } catch (...) {
      // The owner's release must not throw out of a destructor.
    }
    return;
  }
  if (device_.is_cpu() && !host_caching_enabled()) {
    std::free(data_);
    return;
  }
  try {
    if (device_.is_cpu())
      host_allocator().deallocate(data_);
    else
      cuda_allocator(device_.index()).deallocate(data_);
  } catch (const Error&) {
    // Never throw from a destructor; a failure here means the process is shutting down.
  }
}

void Storage::record_stream(const Stream& stream) {
  if (device_.is_cuda() && !borrowed_)
    cuda_allocator(device_.index()).record_stream(data_, stream.handle());
}

PinnedBuffer::PinnedBuffer(std::size_t bytes) : bytes_(bytes) {
  std::string why;
  DDNET_CHECK(seam::device_count(&why) > 0,
              "pinned host memory needs CUDA, which is unusable: ", why);
  data_ = seam::host_alloc_pinned(bytes == 0 ? 1 : bytes);
}

PinnedBuffer::~PinnedBuffer() {
  if (!data_) return;
  try {
    seam::host_free_pinned(data_);
  } catch (const Error&) {
  }
}

PinnedBuffer::PinnedBuffer(PinnedBuffer&& o) noexcept : data_(o.data_), bytes_(o.bytes_) {
  o.data_ = nullptr;
  o.bytes_ = 0;
}

PinnedBuffer& PinnedBuffer::operator=(PinnedBuffer&& o) noexcept {
  if (this != &o) {
    PinnedBuffer tmp(std::move(*this));
    data_ = o.data_;
    bytes_ = o.bytes_;
    o.data_ = nullptr;
    o.bytes_ = 0;
  }
  return *this;
}

}  // namespace ddnet
