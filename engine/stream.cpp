// Streams and events over the CUDA seam; the current stream is per thread and per device.
#include "engine/stream.h"

#include <map>

#include "engine/cuda_runtime_seam.h"
#include "engine/error.h"

namespace ddnet {

namespace {
std::map<int, Stream>& current_streams() {
  thread_local std::map<int, Stream> streams;
  return streams;
}
}  // namespace

Stream Stream::default_stream(int device) {
  return Stream(nullptr, device, nullptr);
}

Stream Stream::create(int device) {
  Device::cuda(device);  // validates the index with a clear message
  void* h = seam::stream_create(device);
  std::shared_ptr<void> owner(h, [](void* s) {
    try {
      // The caching allocator keys free blocks by stream handle, and the driver may hand this
      // handle to the next stream created: let the work queued here finish first, so no block
      // freed on this stream is reused under a new one while kernels still touch it.
      seam::stream_synchronize(s);
      seam::stream_destroy(s);
    } catch (const Error&) {
      // Destructors do not throw; a failing destroy means the context is already gone.
    }
  });
  return Stream(h, device, std::move(owner));
}

void Stream::synchronize() const {
  seam::stream_synchronize(handle_);
}

Stream current_stream(int device) {
  auto& m = current_streams();
  auto it = m.find(device);
  return it == m.end() ? Stream::default_stream(device) : it->second;
}

StreamGuard::StreamGuard(const Stream& stream) : previous_(current_stream(stream.device())) {
  current_streams()[stream.device()] = stream;
}
StreamGuard::~StreamGuard() {
  current_streams()[previous_.device()] = previous_;
}

Event::Event(bool timing, bool blocking_sync)
    : handle_(seam::event_create(timing, blocking_sync)) {}
Event::~Event() {
  try {
    seam::event_destroy(handle_);
  } catch (const Error&) {
  }
}
void Event::record(const Stream& stream) {
  seam::event_record(handle_, stream.handle());
}
void Event::wait(const Stream& stream) const {
  seam::stream_wait_event(stream.handle(), handle_);
}
bool Event::query() const {
  return seam::event_query(handle_);
}
void Event::synchronize() const {
  seam::event_synchronize(handle_);
}
float Event::elapsed_ms(const Event& since) const {
  return seam::event_elapsed_ms(since.handle_, handle_);
}

}  // namespace ddnet
