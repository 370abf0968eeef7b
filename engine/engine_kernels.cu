// The engine's own CUDA kernels: gradient accumulation and the Philox fills.
// Compiled with -fmad=false (see CMakeLists.txt) so the RNG transforms match the CPU bit for bit.
#include <cuda_runtime.h>

#include <algorithm>

#include "engine/check_cuda.h"
#include "engine/engine_cuda.h"
#include "engine/philox.h"

namespace ddnet::engine_cuda {

namespace {

constexpr int kThreads = 256;

unsigned blocks_for(std::int64_t work) {
  return static_cast<unsigned>(std::max<std::int64_t>(
      1, std::min<std::int64_t>((work + kThreads - 1) / kThreads, 65535LL * 8)));
}

template <class T>
__global__ void accumulate_kernel(T* __restrict__ y, const T* __restrict__ x, std::int64_t n) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    y[i] += x[i];
}

// One thread per Philox block of 4 values.
template <bool Normal>
__global__ void philox_kernel(float* __restrict__ out, std::int64_t n, std::uint64_t seed,
                              std::uint64_t offset, float a, float b) {
  const std::int64_t blocks = (n + 3) / 4;
  for (std::int64_t k = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
       k < blocks; k += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t first = 4 * k;
    const int count = static_cast<int>(n - first < 4 ? n - first : 4);
    float v[4];
    if (Normal)
      philox::normal_block(seed, offset + static_cast<std::uint64_t>(k), a, b, v, 4);
    else
      philox::uniform_block(seed, offset + static_cast<std::uint64_t>(k), a, b, v, 4);
    if (count == 4 && (reinterpret_cast<std::uintptr_t>(out + first) & 15) == 0) {
      *reinterpret_cast<float4*>(out + first) = make_float4(v[0], v[1], v[2], v[3]);
    } else {
      for (int j = 0; j < count; ++j) out[first + j] = v[j];
    }
  }
}

}  // namespace

void accumulate(float* y, const float* x, std::int64_t n, void* stream) {
  if (n == 0) return;
  DDNET_LAUNCH(blocks_for(n), kThreads, 0, static_cast<cudaStream_t>(stream), accumulate_kernel)
  (y, x, n);
  CUDA_CHECK_LAUNCH("accumulate_kernel<float>");
}
void accumulate(double* y, const double* x, std::int64_t n, void* stream) {
  if (n == 0) return;
  DDNET_LAUNCH(blocks_for(n), kThreads, 0, static_cast<cudaStream_t>(stream), accumulate_kernel)
  (y, x, n);
  CUDA_CHECK_LAUNCH("accumulate_kernel<double>");
}
void philox_uniform(float* out, std::int64_t n, std::uint64_t seed, std::uint64_t offset, float lo,
                    float hi, void* stream) {
  if (n == 0) return;
  DDNET_LAUNCH(blocks_for((n + 3) / 4), kThreads, 0, static_cast<cudaStream_t>(stream),
               philox_kernel<false>)
  (out, n, seed, offset, lo, hi);
  CUDA_CHECK_LAUNCH("philox_kernel<uniform>");
}
void philox_normal(float* out, std::int64_t n, std::uint64_t seed, std::uint64_t offset, float mean,
                   float stddev, void* stream) {
  if (n == 0) return;
  DDNET_LAUNCH(blocks_for((n + 3) / 4), kThreads, 0, static_cast<cudaStream_t>(stream),
               philox_kernel<true>)
  (out, n, seed, offset, mean, stddev);
  CUDA_CHECK_LAUNCH("philox_kernel<normal>");
}

}  // namespace ddnet::engine_cuda
