// The CUDA runtime behind engine/cuda_runtime_seam.h (built only when the toolkit is present).
#include "engine/cuda_runtime_seam.h"

#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>

#include "engine/check_cuda.h"
#include "engine/device.h"

namespace ddnet {
namespace seam {

namespace {
cudaMemcpyKind to_cuda(CopyKind k) {
  switch (k) {
    case CopyKind::host_to_device:
      return cudaMemcpyHostToDevice;
    case CopyKind::device_to_host:
      return cudaMemcpyDeviceToHost;
    case CopyKind::device_to_device:
      return cudaMemcpyDeviceToDevice;
    case CopyKind::host_to_host:
      return cudaMemcpyHostToHost;
  }
  return cudaMemcpyDefault;
}
cudaStream_t as_stream(void* s) {
  return static_cast<cudaStream_t>(s);
}
cudaEvent_t as_event(void* e) {
  return static_cast<cudaEvent_t>(e);
}
}  // namespace

int device_count(std::string* why_none) {
  // Asked once: the answer cannot change within a process, and a failing driver query is slow.
  static const std::pair<int, std::string> probe = [] {
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess) {
      (void)cudaGetLastError();
      return std::pair<int, std::string>{
          0, detail::concat("cudaGetDeviceCount failed: ", cudaGetErrorName(err), ": ",
                            cudaGetErrorString(err))};
    }
    if (n == 0) return std::pair<int, std::string>{0, "the CUDA driver reports no devices"};
    return std::pair<int, std::string>{n, ""};
  }();
  if (why_none) *why_none = probe.second;
  return probe.first;
}

std::string device_name(int device) {
  cudaDeviceProp prop{};
  CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  return detail::concat(prop.name, " (sm_", prop.major, prop.minor, ", ", prop.totalGlobalMem >> 20,
                        " MiB)");
}

void set_device(int device) {
  CUDA_CHECK(cudaSetDevice(device));
}

namespace {
// Makes `device` current for one call and restores the caller's device after it, so that a
// helper acting on another device leaves the calling thread where it was.
class OnDevice {
 public:
  explicit OnDevice(int device) {
    CUDA_CHECK(cudaGetDevice(&previous_));
    if (previous_ != device) CUDA_CHECK(cudaSetDevice(device));
    switched_ = previous_ != device;
  }
  ~OnDevice() {
    if (switched_) (void)cudaSetDevice(previous_);  // no throwing from a destructor
  }
  OnDevice(const OnDevice&) = delete;
  OnDevice& operator=(const OnDevice&) = delete;

 private:
  int previous_ = 0;
  bool switched_ = false;
};
}  // namespace
int get_device() {
  int d = 0;
  CUDA_CHECK(cudaGetDevice(&d));
  return d;
}
void device_synchronize(int device) {
  const OnDevice on(device);
  CUDA_CHECK(cudaDeviceSynchronize());
}
void mem_get_info(int device, std::size_t* free_bytes, std::size_t* total_bytes) {
  const OnDevice on(device);
  CUDA_CHECK(cudaMemGetInfo(free_bytes, total_bytes));
}

void* device_malloc(std::size_t bytes, int device) {
  const OnDevice on(device);
  void* p = nullptr;
  cudaError_t err = cudaMalloc(&p, bytes);
  if (err == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    return nullptr;
  }
  CUDA_CHECK(err);
  return p;
}
void device_free(void* p, int device) {
  const OnDevice on(device);
  CUDA_CHECK(cudaFree(p));
}
void* host_alloc_pinned(std::size_t bytes) {
  void* p = nullptr;
  CUDA_CHECK(cudaHostAlloc(&p, bytes, cudaHostAllocDefault));
  return p;
}
void host_free_pinned(void* p) {
  CUDA_CHECK(cudaFreeHost(p));
}

void memcpy_async(void* dst, const void* src, std::size_t bytes, CopyKind kind, void* stream) {
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, to_cuda(kind), as_stream(stream)));
}
void memcpy2d_async(void* dst, std::size_t dpitch, const void* src, std::size_t spitch,
                    std::size_t width, std::size_t height, CopyKind kind, void* stream) {
  CUDA_CHECK(
      cudaMemcpy2DAsync(dst, dpitch, src, spitch, width, height, to_cuda(kind), as_stream(stream)));
}
void memset_async(void* dst, int value, std::size_t bytes, void* stream) {
  CUDA_CHECK(cudaMemsetAsync(dst, value, bytes, as_stream(stream)));
}

void* stream_create(int device) {
  const OnDevice on(device);
  cudaStream_t s = nullptr;
  CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  return s;
}
void stream_destroy(void* stream) {
  CUDA_CHECK(cudaStreamDestroy(as_stream(stream)));
}
void stream_synchronize(void* stream) {
  CUDA_CHECK(cudaStreamSynchronize(as_stream(stream)));
}

void* event_create(bool timing, bool blocking) {
  cudaEvent_t e = nullptr;
  const unsigned flags = (timing ? cudaEventDefault : cudaEventDisableTiming) |
                         (blocking ? cudaEventBlockingSync : 0u);
  CUDA_CHECK(cudaEventCreateWithFlags(&e, flags));
  return e;
}
void event_destroy(void* event) {
  CUDA_CHECK(cudaEventDestroy(as_event(event)));
}
void event_record(void* event, void* stream) {
  CUDA_CHECK(cudaEventRecord(as_event(event), as_stream(stream)));
}
bool event_query(void* event) {
  cudaError_t err = cudaEventQuery(as_event(event));
  if (err == cudaErrorNotReady) {
    (void)cudaGetLastError();
    return false;
  }
  CUDA_CHECK(err);
  return true;
}
void event_synchronize(void* event) {
  CUDA_CHECK(cudaEventSynchronize(as_event(event)));
}
void stream_wait_event(void* stream, void* event) {
  CUDA_CHECK(cudaStreamWaitEvent(as_stream(stream), as_event(event), 0));
}
float event_elapsed_ms(void* start, void* end) {
  float ms = 0.f;
  CUDA_CHECK(cudaEventElapsedTime(&ms, as_event(start), as_event(end)));
  return ms;
}

}  // namespace seam

namespace detail {
void check_launch(const char* kernel, const char* file, int line) {
  check_cuda(cudaGetLastError(), kernel, file, line);
  if (sync_after_launch()) check_cuda(cudaDeviceSynchronize(), kernel, file, line);
}
}  // namespace detail

}  // namespace ddnet
