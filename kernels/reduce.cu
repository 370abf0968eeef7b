// CUDA reductions in two passes, deterministic: pass 1 has a grid fixed by n (at most 1024 blocks);
// each thread folds a grid-stride range in order, each block folds its threads with a fixed
// tree (warp shuffles, then one warp over the warps' results); pass 2 is one block over the
// partials. Accumulation is in double for every T (partials are double), as on the CPU. The
// result stays on the device.
#include <cmath>

#include "kernels/launch.cuh"
#include "kernels/reduce.h"

namespace ddnet::kernels::cuda {

namespace {

constexpr int kMaxBlocks = 1024;
constexpr int kPerThread = 8;

// Every op accumulates in double, as the CPU twin does: each element is widened to double
// before it is squared or added, partials are double, the mean divides in double, and the result
// is rounded to T once. (max is exact either way.)
struct Combine {
  ReduceOp op;
  __device__ double identity() const {
    return op == ReduceOp::max ? -static_cast<double>(INFINITY) : 0.0;
  }
  template <class T>
  __device__ double load(T x) const {
    const double v = static_cast<double>(x);
    return op == ReduceOp::sum_sq ? v * v : v;
  }
  __device__ double operator()(double a, double b) const {
    if (op != ReduceOp::max) return a + b;
    if (isnan(a)) return a;
    if (isnan(b)) return b;
    return a > b ? a : b;
  }
};

__device__ double block_reduce(double v, Combine c) {
  __shared__ double warp_results[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int off = 16; off > 0; off >>= 1) v = c(v, __shfl_down_sync(0xffffffffu, v, off));
  if (lane == 0) warp_results[warp] = v;
  __syncthreads();
  const int warps = (blockDim.x + 31) >> 5;
  v = static_cast<int>(threadIdx.x) < warps ? warp_results[threadIdx.x] : c.identity();
  if (warp == 0)
    for (int off = 16; off > 0; off >>= 1) v = c(v, __shfl_down_sync(0xffffffffu, v, off));
  return v;  // valid in thread 0
}

template <class T>
__global__ void reduce_pass1(const T* __restrict__ x, std::int64_t n, double* __restrict__ partial,
                             Combine c) {
  double acc = c.identity();
  DDNET_GRID_STRIDE(i, n) acc = c(acc, c.load(x[i]));
  acc = block_reduce(acc, c);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

template <class T>
__global__ void reduce_pass2(const double* __restrict__ partial, int count, std::int64_t n,
                             T* __restrict__ out, Combine c, bool mean) {
  double acc = c.identity();
  for (int i = threadIdx.x; i < count; i += blockDim.x) acc = c(acc, partial[i]);
  acc = block_reduce(acc, c);
  if (threadIdx.x == 0)
    out[0] = static_cast<T>(mean ? (n > 0 ? acc / static_cast<double>(n) : static_cast<double>(NAN))
                                 : acc);
}

int blocks_for(std::int64_t n) {
  const std::int64_t b = (n + static_cast<std::int64_t>(cuda_detail::kThreads) * kPerThread - 1) /
                         (static_cast<std::int64_t>(cuda_detail::kThreads) * kPerThread);
  return static_cast<int>(std::clamp<std::int64_t>(b, 1, kMaxBlocks));
}

}  // namespace

std::int64_t reduce_workspace(std::int64_t n) {
  return blocks_for(n);
}

template <class T>
void reduce(ReduceOp op, const T* x, std::int64_t n, T* out, double* workspace, void* stream) {
  const int blocks = blocks_for(n);
  const Combine c{op};
  auto s = cuda_detail::as_stream(stream);
  DDNET_LAUNCH(blocks, cuda_detail::kThreads, 0, s, reduce_pass1<T>)(x, n, workspace, c);
  CUDA_CHECK_LAUNCH("reduce_pass1");
  DDNET_LAUNCH(1, cuda_detail::kThreads, 0, s, reduce_pass2<T>)
  (workspace, blocks, n, out, c, op == ReduceOp::mean);
  CUDA_CHECK_LAUNCH("reduce_pass2");
}

template void reduce<float>(ReduceOp, const float*, std::int64_t, float*, double*, void*);
template void reduce<double>(ReduceOp, const double*, std::int64_t, double*, double*, void*);

}  // namespace ddnet::kernels::cuda
