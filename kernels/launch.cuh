// Shared launch helpers for the CUDA kernels of kernels/ (grid sizing, grid-stride loops).
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "engine/check_cuda.h"

namespace ddnet::kernels::cuda_detail {

constexpr int kThreads = 256;

// Enough blocks to cover n with grid-stride loops, capped so huge tensors loop instead.
inline unsigned grid_for(std::int64_t n, int per_thread = 1) {
  const std::int64_t blocks = (n + static_cast<std::int64_t>(kThreads) * per_thread - 1) /
                              (static_cast<std::int64_t>(kThreads) * per_thread);
  return static_cast<unsigned>(std::clamp<std::int64_t>(blocks, 1, 65535LL * 4));
}

inline cudaStream_t as_stream(void* s) {
  return static_cast<cudaStream_t>(s);
}

#define DDNET_GRID_STRIDE(i, n)                                                                    \
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)

}  // namespace ddnet::kernels::cuda_detail
