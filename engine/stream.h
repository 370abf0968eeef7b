// CUDA streams and events behind CUDA-free handles. A Stream is cheap to copy; streams made by
// Stream::create() are destroyed when the last copy goes. Each thread has a current stream per
// device (the default stream unless a StreamGuard says otherwise); CUDA ops launch on it.
#pragma once

#include <memory>

#include "engine/device.h"

namespace ddnet {

class Stream {
 public:
  Stream() = default;  // the legacy default stream of the current device
  static Stream default_stream(int device);
  static Stream create(int device);  // a new non-blocking stream

  void* handle() const { return handle_; }  // cudaStream_t
  int device() const { return device_; }
  void synchronize() const;
  bool operator==(const Stream& o) const { return handle_ == o.handle_ && device_ == o.device_; }

 private:
  Stream(void* handle, int device, std::shared_ptr<void> owner)
      : handle_(handle), device_(device), owner_(std::move(owner)) {}
  void* handle_ = nullptr;
  int device_ = 0;
  std::shared_ptr<void> owner_;
};

Stream current_stream(int device);

// Makes `stream` the current stream of its device on this thread for the guard's lifetime.
class StreamGuard {
 public:
  explicit StreamGuard(const Stream& stream);
  ~StreamGuard();
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  Stream previous_;
};

class Event {
 public:
  // blocking_sync: synchronize() yields the thread until the work is done instead of spinning
  // (for threads that wait while others compute).
  explicit Event(bool timing = false, bool blocking_sync = false);
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  void record(const Stream& stream);
  void wait(const Stream& stream) const;  // `stream` waits for this event (no host block)
  bool query() const;                     // true when the recorded work is done
  void synchronize() const;
  float elapsed_ms(const Event& since) const;  // both recorded with timing = true

 private:
  void* handle_ = nullptr;  // cudaEvent_t
};

}  // namespace ddnet
