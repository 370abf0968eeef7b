// CUDA batch normalisation. Reductions are deterministic, without atomics: each channel is split
// into `parts` contiguous ranges of its N * S elements (parts depends on the shape only); block
// (c, p) folds its range in double per thread and then over the block with a fixed tree, and
// writes one partial; a channel's partials are combined by a fixed tree too (parts <= the block
// size). Two passes for the statistics (the mean, then the sum of squared deviations from it),
// as on the CPU. Elementwise passes: blockIdx.y walks the (n, c) planes, x covers the plane.
#include <cmath>

#include "kernels/batchnorm.h"
#include "kernels/launch.cuh"

namespace ddnet::kernels::cuda {

namespace {

constexpr int kThreads = cuda_detail::kThreads;  // 256: also the most parts a channel can have
constexpr std::int64_t kPartMin = 4096;          // elements per part at least
constexpr int kMaxGridY = 65535;

static_assert(kThreads % 32 == 0 && kThreads <= 1024, "block_sum assumes whole warps");

// The sum of v over the block, in a fixed order; every thread gets the result.
__device__ double block_sum(double v) {
  __shared__ double warp_sums[32];
  __shared__ double total;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
  __syncthreads();  // a previous call's readers of warp_sums / total are done
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < static_cast<int>(blockDim.x >> 5) ? warp_sums[lane] : 0.0;
    for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
    if (lane == 0) total = v;
  }
  __syncthreads();
  return total;
}

// The sum of channel c's partials (parts <= blockDim.x), the same in every block that asks.
__device__ double channel_total(const double* __restrict__ partial, std::int64_t c, int parts) {
  const double v = static_cast<int>(threadIdx.x) < parts ? partial[c * parts + threadIdx.x] : 0.0;
  return block_sum(v);
}

// fn(i) for the element indices i of part `part` of channel c, this thread's share: the flat
// range [b, e) of the channel's N * S elements, walked with stride blockDim.x.
template <class Fn>
__device__ void for_part(std::int64_t N, std::int64_t C, std::int64_t S, std::int64_t c, int part,
                         int parts, Fn fn) {
  const std::int64_t M = N * S, len = (M + parts - 1) / parts;
  const std::int64_t b = part * len, e = M < b + len ? M : b + len;
  std::int64_t j = b + threadIdx.x;
  if (j >= e) return;
  std::int64_t n = j / S, s = j - n * S;
  const std::int64_t dn = blockDim.x / S, ds = blockDim.x - dn * S;  // the stride as (n, s)
  for (; j < e; j += blockDim.x) {
    fn((n * C + c) * S + s);
    n += dn;
    s += ds;
    if (s >= S) {
      s -= S;
      ++n;
    }
  }
}

template <class T>
__global__ void stats_sum_kernel(const T* __restrict__ x, std::int64_t N, std::int64_t C,
                                 std::int64_t S, double* __restrict__ partial_sum) {
  const std::int64_t c = blockIdx.x;
  const int part = blockIdx.y, parts = gridDim.y;
  double acc = 0;
  for_part(N, C, S, c, part, parts, [&](std::int64_t i) { acc += static_cast<double>(x[i]); });
  acc = block_sum(acc);
  if (threadIdx.x == 0) partial_sum[c * parts + part] = acc;
}

template <class T>
__global__ void stats_dev_kernel(const T* __restrict__ x, std::int64_t N, std::int64_t C,
                                 std::int64_t S, const double* __restrict__ partial_sum,
                                 double* __restrict__ partial_sq) {
  const std::int64_t c = blockIdx.x;
  const int part = blockIdx.y, parts = gridDim.y;
  const double mean = channel_total(partial_sum, c, parts) / static_cast<double>(N * S);
  double acc = 0;
  for_part(N, C, S, c, part, parts, [&](std::int64_t i) {
    const double d = static_cast<double>(x[i]) - mean;
    acc += d * d;
  });
  acc = block_sum(acc);
  if (threadIdx.x == 0) partial_sq[c * parts + part] = acc;
}

template <class T>
__global__ void stats_finish_kernel(const double* __restrict__ partial_sum,
                                    const double* __restrict__ partial_sq, int parts,
                                    std::int64_t count, T* __restrict__ mean,
                                    T* __restrict__ invstd, T* __restrict__ running_mean,
                                    T* __restrict__ running_var, double momentum, double eps) {
  const std::int64_t c = blockIdx.x;
  const double n = static_cast<double>(count);
  const double mu = channel_total(partial_sum, c, parts) / n;
  const double sq = channel_total(partial_sq, c, parts);
  if (threadIdx.x != 0) return;
  mean[c] = static_cast<T>(mu);
  invstd[c] = static_cast<T>(1.0 / sqrt(sq / n + eps));
  if (running_mean)
    running_mean[c] =
        static_cast<T>((1 - momentum) * static_cast<double>(running_mean[c]) + momentum * mu);
  if (running_var)
    running_var[c] = static_cast<T>((1 - momentum) * static_cast<double>(running_var[c]) +
                                    momentum * sq / (n - 1));
}

template <class T>
__global__ void eval_stats_kernel(const T* __restrict__ running_mean,
                                  const T* __restrict__ running_var, T* __restrict__ mean,
                                  T* __restrict__ invstd, std::int64_t C, double eps) {
  DDNET_GRID_STRIDE(c, C) {
    mean[c] = running_mean[c];
    invstd[c] = static_cast<T>(1.0 / sqrt(static_cast<double>(running_var[c]) + eps));
  }
}

template <class T>
__global__ void apply_kernel(const T* __restrict__ x, const T* __restrict__ mean,
                             const T* __restrict__ invstd, const T* __restrict__ weight,
                             const T* __restrict__ bias, T* __restrict__ y, std::int64_t planes,
                             std::int64_t C, std::int64_t S) {
  for (std::int64_t p = blockIdx.y; p < planes; p += gridDim.y) {
    const std::int64_t c = p % C;
    const T m = mean[c], scale = invstd[c] * (weight ? weight[c] : T(1)),
            shift = bias ? bias[c] : T(0);
    const T* xp = x + p * S;
    T* yp = y + p * S;
    for (std::int64_t s = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; s < S;
         s += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
      yp[s] = (xp[s] - m) * scale + shift;
  }
}

template <class T>
__global__ void backward_sums_kernel(const T* __restrict__ dy, const T* __restrict__ x,
                                     const T* __restrict__ mean, std::int64_t N, std::int64_t C,
                                     std::int64_t S, double* __restrict__ partial_dy,
                                     double* __restrict__ partial_dyx) {
  const std::int64_t c = blockIdx.x;
  const int part = blockIdx.y, parts = gridDim.y;
  const double m = static_cast<double>(mean[c]);
  double a = 0, b = 0;
  for_part(N, C, S, c, part, parts, [&](std::int64_t i) {
    const double g = static_cast<double>(dy[i]);
    a += g;
    b += g * (static_cast<double>(x[i]) - m);
  });
  a = block_sum(a);
  b = block_sum(b);
  if (threadIdx.x == 0) {
    partial_dy[c * parts + part] = a;
    partial_dyx[c * parts + part] = b;
  }
}

template <class T>
__global__ void backward_finish_kernel(const double* __restrict__ partial_dy,
                                       const double* __restrict__ partial_dyx, int parts,
                                       const T* __restrict__ invstd, T* __restrict__ sum_dy,
                                       T* __restrict__ sum_dy_xhat) {
  const std::int64_t c = blockIdx.x;
  const double a = channel_total(partial_dy, c, parts);
  const double b = channel_total(partial_dyx, c, parts);
  if (threadIdx.x != 0) return;
  sum_dy[c] = static_cast<T>(a);
  sum_dy_xhat[c] = static_cast<T>(b * static_cast<double>(invstd[c]));
}

template <class T>
// dx may be dy (batch_norm_backward's overwrite_dy): those two are not __restrict__.
__global__ void backward_input_kernel(const T* dy, const T* __restrict__ x,
                                      const T* __restrict__ mean, const T* __restrict__ invstd,
                                      const T* __restrict__ weight, const T* __restrict__ sum_dy,
                                      const T* __restrict__ sum_dy_xhat, T* dx, std::int64_t planes,
                                      std::int64_t C, std::int64_t S, double count, bool training) {
  for (std::int64_t p = blockIdx.y; p < planes; p += gridDim.y) {
    const std::int64_t c = p % C;
    const double is = static_cast<double>(invstd[c]);
    const T a = static_cast<T>(is * (weight ? static_cast<double>(weight[c]) : 1.0));
    T m = 0, mdy = 0, k = 0;
    if (training) {
      m = mean[c];
      mdy = static_cast<T>(static_cast<double>(sum_dy[c]) / count);
      k = static_cast<T>(is * static_cast<double>(sum_dy_xhat[c]) / count);
    }
    const T* g = dy + p * S;
    const T* xp = x + p * S;
    T* out = dx + p * S;
    for (std::int64_t s = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; s < S;
         s += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
      out[s] = training ? a * (g[s] - mdy - (xp[s] - m) * k) : g[s] * a;
  }
}

// Grid of the elementwise passes: x covers a plane of S elements (4 per thread), y the planes.
dim3 plane_grid(std::int64_t planes, std::int64_t S) {
  const std::int64_t bx = (S + 4LL * kThreads - 1) / (4LL * kThreads);
  return dim3(static_cast<unsigned>(std::clamp<std::int64_t>(bx, 1, 1024)),
              static_cast<unsigned>(std::clamp<std::int64_t>(planes, 1, kMaxGridY)));
}

dim3 part_grid(std::int64_t N, std::int64_t C, std::int64_t S) {
  return dim3(static_cast<unsigned>(C), static_cast<unsigned>(batch_norm_parts(N, C, S)));
}

}  // namespace

int batch_norm_parts(std::int64_t N, std::int64_t /*C*/, std::int64_t S) {
  const std::int64_t parts = (N * S + kPartMin - 1) / kPartMin;
  return static_cast<int>(std::clamp<std::int64_t>(parts, 1, kThreads));
}

std::int64_t batch_norm_workspace(std::int64_t N, std::int64_t C, std::int64_t S) {
  return 2 * C * batch_norm_parts(N, C, S);
}

template <class T>
void batch_norm_stats(const T* x, std::int64_t N, std::int64_t C, std::int64_t S, T* mean,
                      T* invstd, T* running_mean, T* running_var, double momentum, double eps,
                      double* workspace, void* stream) {
  if (C == 0) return;
  const dim3 grid = part_grid(N, C, S);
  const int parts = static_cast<int>(grid.y);
  double* partial_sum = workspace;
  double* partial_sq = workspace + C * parts;
  auto s = cuda_detail::as_stream(stream);
  DDNET_LAUNCH(grid, kThreads, 0, s, stats_sum_kernel<T>)(x, N, C, S, partial_sum);
  CUDA_CHECK_LAUNCH("batch_norm stats_sum_kernel");
  DDNET_LAUNCH(grid, kThreads, 0, s, stats_dev_kernel<T>)(x, N, C, S, partial_sum, partial_sq);
  CUDA_CHECK_LAUNCH("batch_norm stats_dev_kernel");
  DDNET_LAUNCH(static_cast<unsigned>(C), kThreads, 0, s, stats_finish_kernel<T>)
  (partial_sum, partial_sq, parts, N * S, mean, invstd, running_mean, running_var, momentum, eps);
  CUDA_CHECK_LAUNCH("batch_norm stats_finish_kernel");
}

template <class T>
void batch_norm_eval_stats(const T* running_mean, const T* running_var, T* mean, T* invstd,
                           std::int64_t C, double eps, void* stream) {
  if (C == 0) return;
  DDNET_LAUNCH(cuda_detail::grid_for(C), kThreads, 0, cuda_detail::as_stream(stream),
               eval_stats_kernel<T>)
  (running_mean, running_var, mean, invstd, C, eps);
  CUDA_CHECK_LAUNCH("batch_norm eval_stats_kernel");
}

template <class T>
void batch_norm_apply(const T* x, const T* mean, const T* invstd, const T* weight, const T* bias,
                      T* y, std::int64_t N, std::int64_t C, std::int64_t S, void* stream) {
  if (N * C * S == 0) return;
  DDNET_LAUNCH(plane_grid(N * C, S), kThreads, 0, cuda_detail::as_stream(stream), apply_kernel<T>)
  (x, mean, invstd, weight, bias, y, N * C, C, S);
  CUDA_CHECK_LAUNCH("batch_norm apply_kernel");
}

template <class T>
void batch_norm_backward_reduce(const T* dy, const T* x, const T* mean, const T* invstd, T* sum_dy,
                                T* sum_dy_xhat, std::int64_t N, std::int64_t C, std::int64_t S,
                                double* workspace, void* stream) {
  if (C == 0) return;
  const dim3 grid = part_grid(N, C, S);
  const int parts = static_cast<int>(grid.y);
  double* partial_dy = workspace;
  double* partial_dyx = workspace + C * parts;
  auto s = cuda_detail::as_stream(stream);
  DDNET_LAUNCH(grid, kThreads, 0, s, backward_sums_kernel<T>)
  (dy, x, mean, N, C, S, partial_dy, partial_dyx);
  CUDA_CHECK_LAUNCH("batch_norm backward_sums_kernel");
  DDNET_LAUNCH(static_cast<unsigned>(C), kThreads, 0, s, backward_finish_kernel<T>)
  (partial_dy, partial_dyx, parts, invstd, sum_dy, sum_dy_xhat);
  CUDA_CHECK_LAUNCH("batch_norm backward_finish_kernel");
}

template <class T>
void batch_norm_backward_input(const T* dy, const T* x, const T* mean, const T* invstd,
                               const T* weight, const T* sum_dy, const T* sum_dy_xhat, T* dx,
                               std::int64_t N, std::int64_t C, std::int64_t S, bool training,
                               void* stream) {
  if (N * C * S == 0) return;
  DDNET_LAUNCH(plane_grid(N * C, S), kThreads, 0, cuda_detail::as_stream(stream),
               backward_input_kernel<T>)
  (dy, x, mean, invstd, weight, sum_dy, sum_dy_xhat, dx, N * C, C, S, static_cast<double>(N * S),
   training);
  CUDA_CHECK_LAUNCH("batch_norm backward_input_kernel");
}

#define DDNET_INSTANTIATE(T)                                                                       \
  template void batch_norm_stats<T>(const T*, std::int64_t, std::int64_t, std::int64_t, T*, T*,    \
                                    T*, T*, double, double, double*, void*);                       \
  template void batch_norm_eval_stats<T>(const T*, const T*, T*, T*, std::int64_t, double, void*); \
  template void batch_norm_apply<T>(const T*, const T*, const T*, const T*, const T*, T*,          \
                                    std::int64_t, std::int64_t, std::int64_t, void*);              \
  template void batch_norm_backward_reduce<T>(const T*, const T*, const T*, const T*, T*, T*,      \
                                              std::int64_t, std::int64_t, std::int64_t, double*,   \
                                              void*);                                              \
  template void batch_norm_backward_input<T>(const T*, const T*, const T*, const T*, const T*,     \
                                             const T*, const T*, T*, std::int64_t, std::int64_t,   \
                                             std::int64_t, bool, void*);
DDNET_INSTANTIATE(float)
DDNET_INSTANTIATE(double)
#undef DDNET_INSTANTIATE

}  // namespace ddnet::kernels::cuda
