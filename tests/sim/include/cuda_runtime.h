// ddnet's CUDA emulator (a test instrument, never a product device): the part of the CUDA runtime
// API and of the device language that the engine uses, so that every .cu and CUDA-using .cpp file
// of the project compiles unchanged as C++ and runs on the CPU. Only the `sim` build flavour
// (-DDDNET_CUDA_SIM=ON) puts this folder on the include path; a real build uses the toolkit's.
//
// What it models (tests/sim/README.md has the whole list and what it does not model):
//  - two devices; device memory, pinned host memory, per-thread current device;
//  - streams (the legacy default stream included) as queues run by a worker thread each,
//    asynchronously to the host, with seeded delays; only declared dependencies (stream order,
//    events, synchronize calls, blocking copies, cudaFree's implicit device synchronization)
//    order work; blocking streams (which would also order with the default stream) are refused;
//  - kernels: each CUDA thread of a block is a fiber, barriers are real barriers, warp shuffles
//    check their masks, blocks run in a seeded shuffled order, launch limits are those of sm_90.
#pragma once

#include <math.h>  // the device math functions (sqrt, exp, isnan, ...) in the global namespace

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#ifndef DDNET_CUDA_SIM
#define DDNET_CUDA_SIM 1
#endif

#ifndef __CUDACC__
// Device-language keywords: plain C++ here. __shared__ variables are per OS thread, and one OS
// thread runs the fibers of one block at a time, so a function-scope static is per block.
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static thread_local
#define __launch_bounds__(...)
#endif

// ---------------------------------------------------------------------------------------------
// Types and constants
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};
struct uint3 {
  unsigned x, y, z;
};

// Vector types with CUDA's alignment (a misaligned float4 access is a fault on the GPU and a
// -fsanitize=alignment report here).
#define DDNET_SIM_VEC2(T, name, align) \
  struct alignas(align) name {         \
    T x, y;                            \
  };                                   \
  inline name make_##name(T x, T y) {  \
    return name{x, y};                 \
  }
#define DDNET_SIM_VEC4(T, name, align)          \
  struct alignas(align) name {                  \
    T x, y, z, w;                               \
  };                                            \
  inline name make_##name(T x, T y, T z, T w) { \
    return name{x, y, z, w};                    \
  }
DDNET_SIM_VEC2(float, float2, 8)
DDNET_SIM_VEC4(float, float4, 16)
DDNET_SIM_VEC2(double, double2, 16)
DDNET_SIM_VEC2(int, int2, 8)
DDNET_SIM_VEC4(int, int4, 16)
#undef DDNET_SIM_VEC2
#undef DDNET_SIM_VEC4

enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInitializationError = 3,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorNotReady = 600,
  cudaErrorLaunchFailure = 719,
};
using cudaError = cudaError_t;

struct CUstream_st;
struct CUevent_st;
using cudaStream_t = CUstream_st*;
using cudaEvent_t = CUevent_st*;

enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};
enum cudaMemoryType {
  cudaMemoryTypeUnregistered = 0,
  cudaMemoryTypeHost = 1,
  cudaMemoryTypeDevice = 2,
  cudaMemoryTypeManaged = 3,
};
struct cudaPointerAttributes {
  cudaMemoryType type = cudaMemoryTypeUnregistered;
  int device = -1;
  void* devicePointer = nullptr;
  void* hostPointer = nullptr;
};
struct cudaDeviceProp {
  char name[256] = {};
  std::size_t totalGlobalMem = 0;
  std::size_t sharedMemPerBlock = 0;
  std::size_t sharedMemPerBlockOptin = 0;
  int major = 0, minor = 0;
  int multiProcessorCount = 0;
  int maxThreadsPerBlock = 0;
  int maxThreadsDim[3] = {};
  int maxGridSize[3] = {};
  int warpSize = 32;
};

constexpr unsigned cudaStreamDefault = 0x0;
constexpr unsigned cudaStreamNonBlocking = 0x1;
constexpr unsigned cudaEventDefault = 0x0;
constexpr unsigned cudaEventBlockingSync = 0x1;
constexpr unsigned cudaEventDisableTiming = 0x2;
constexpr unsigned cudaHostAllocDefault = 0x0;

// ---------------------------------------------------------------------------------------------
// Runtime API (tests/sim/runtime.cpp)
cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaMemGetInfo(std::size_t* free_bytes, std::size_t* total_bytes);
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
const char* cudaGetErrorName(cudaError_t err);
const char* cudaGetErrorString(cudaError_t err);

cudaError_t cudaMalloc(void** p, std::size_t bytes);
cudaError_t cudaFree(void* p);
cudaError_t cudaHostAlloc(void** p, std::size_t bytes, unsigned flags);
cudaError_t cudaMallocHost(void** p, std::size_t bytes);
cudaError_t cudaFreeHost(void* p);
cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* attr, const void* p);

cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream = nullptr);
cudaError_t cudaMemcpy2D(void* dst, std::size_t dpitch, const void* src, std::size_t spitch,
                         std::size_t width, std::size_t height, cudaMemcpyKind kind);
cudaError_t cudaMemcpy2DAsync(void* dst, std::size_t dpitch, const void* src, std::size_t spitch,
                              std::size_t width, std::size_t height, cudaMemcpyKind kind,
                              cudaStream_t stream = nullptr);
cudaError_t cudaMemset(void* dst, int value, std::size_t bytes);
cudaError_t cudaMemsetAsync(void* dst, int value, std::size_t bytes, cudaStream_t stream = nullptr);

cudaError_t cudaStreamCreate(cudaStream_t* s);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t s);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaStreamQuery(cudaStream_t s);
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned flags = 0);

cudaError_t cudaEventCreate(cudaEvent_t* e);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned flags);
cudaError_t cudaEventDestroy(cudaEvent_t e);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s = nullptr);
cudaError_t cudaEventQuery(cudaEvent_t e);
cudaError_t cudaEventSynchronize(cudaEvent_t e);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end);

// ---------------------------------------------------------------------------------------------
// Device side (tests/sim/simt.cpp): the thread's coordinates, barriers, warp exchanges.
namespace ddnet::sim {

struct ThreadCoords {
  uint3 thread_idx;
  uint3 block_idx;
  dim3 block_dim;
  dim3 grid_dim;
};
// The coordinates of the CUDA thread the calling fiber runs (fails outside a kernel).
const ThreadCoords& coords();

void syncthreads();
// One warp-wide exchange: every lane of `mask` deposits `value` (up to 8 bytes) and receives the
// value of lane `src_lane` (its own when src_lane is out of range, as for __shfl_down_sync past
// the warp's end). Fails when the lanes that call differ from the mask.
std::uint64_t warp_exchange(const char* what, unsigned mask, std::uint64_t value, int src_lane);
unsigned warp_vote(const char* what, unsigned mask, bool predicate);  // the ballot of the lanes

template <class T>
T shfl_impl(const char* what, unsigned mask, T v, int src_lane) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>, "shuffle of 1..8 byte values");
  std::uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  bits = warp_exchange(what, mask, bits, src_lane);
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}

// A kernel launch: validated against sm_90's limits when it is made (an invalid one sets the
// error that cudaGetLastError returns, as the real runtime does), then queued on its stream; the
// stream's worker runs the grid's blocks in a seeded shuffled order.
struct LaunchConfig {
  dim3 grid, block;
  std::size_t shared_bytes = 0;
  cudaStream_t stream = nullptr;
  const char* kernel = "";
};
void launch(const LaunchConfig& cfg, std::function<void()> body);

// `call` invokes the kernel function with the launch's arguments (a generic lambda made by
// DDNET_LAUNCH, so template kernels deduce their parameters as with <<<>>>).
template <class Call>
class Launcher {
 public:
  Launcher(LaunchConfig cfg, Call call) : cfg_(cfg), call_(std::move(call)) {}
  template <class... A>
  void operator()(A&&... args) const {
    // Arguments are copied at launch, as the real runtime copies them into the kernel's
    // parameter buffer; each CUDA thread then receives its own copy of the parameters.
    auto params = std::make_shared<std::tuple<std::decay_t<A>...>>(std::forward<A>(args)...);
    Call call = call_;
    launch(cfg_, [call, params] { std::apply(call, *params); });
  }

 private:
  LaunchConfig cfg_;
  Call call_;
};
template <class Call>
Launcher<Call> make_launcher(dim3 grid, dim3 block, std::size_t shared_bytes, cudaStream_t stream,
                             const char* name, Call call) {
  return Launcher<Call>(LaunchConfig{grid, block, shared_bytes, stream, name}, std::move(call));
}

}  // namespace ddnet::sim

#define threadIdx (::ddnet::sim::coords().thread_idx)
#define blockIdx (::ddnet::sim::coords().block_idx)
#define blockDim (::ddnet::sim::coords().block_dim)
#define gridDim (::ddnet::sim::coords().grid_dim)
constexpr int warpSize = 32;

inline void __syncthreads() {
  ::ddnet::sim::syncthreads();
}
template <class T>
T __shfl_sync(unsigned mask, T v, int src_lane, int width = 32) {
  (void)width;
  const int lane = static_cast<int>(threadIdx.x % 32);
  return ::ddnet::sim::shfl_impl("__shfl_sync", mask, v,
                                 (lane & ~(width - 1)) + (src_lane % width));
}
template <class T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  const int lane = static_cast<int>(threadIdx.x % 32);
  const int src = lane + static_cast<int>(delta);
  const bool inside = (src & ~(width - 1)) == (lane & ~(width - 1));
  return ::ddnet::sim::shfl_impl("__shfl_down_sync", mask, v, inside ? src : -1);
}
template <class T>
T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  const int lane = static_cast<int>(threadIdx.x % 32);
  const int src = lane - static_cast<int>(delta);
  const bool inside = src >= 0 && (src & ~(width - 1)) == (lane & ~(width - 1));
  return ::ddnet::sim::shfl_impl("__shfl_up_sync", mask, v, inside ? src : -1);
}
template <class T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  const int lane = static_cast<int>(threadIdx.x % 32);
  const int src = lane ^ lane_mask;
  const bool inside = (src & ~(width - 1)) == (lane & ~(width - 1));
  return ::ddnet::sim::shfl_impl("__shfl_xor_sync", mask, v, inside ? src : -1);
}
inline unsigned __ballot_sync(unsigned mask, int predicate) {
  return ::ddnet::sim::warp_vote("__ballot_sync", mask, predicate != 0);
}
inline int __any_sync(unsigned mask, int predicate) {
  return ::ddnet::sim::warp_vote("__any_sync", mask, predicate != 0) != 0;
}
inline int __all_sync(unsigned mask, int predicate) {
  return ::ddnet::sim::warp_vote("__all_sync", mask, predicate != 0) == mask;
}
inline void __syncwarp(unsigned mask = 0xffffffffu) {
  (void)::ddnet::sim::warp_vote("__syncwarp", mask, true);
}
