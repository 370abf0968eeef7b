// Batch normalisation over (N, C, H, W) or (N, C, D, H, W), PyTorch's batch_norm semantics:
// per-channel statistics over (N, spatial); training mode normalises with the batch mean and
// biased variance and updates the running stats (running_var with the unbiased variance);
// eval mode normalises with the running stats.
//
// The raw-pointer kernels see the input as (N, C, S), contiguous, S = the spatial size; per-channel
// arrays are (C). weight / bias may be null (affine=False: gamma = 1, beta = 0); running_mean /
// running_var may be null in training mode (track_running_stats=False: no update).
//
// Deterministic on both paths, two passes (mean, then the sum of squared deviations), accumulated
// in double. The CPU splits each (n, c) row into fixed 16 Ki-element pieces (independent of the
// thread count) and adds the pieces of a channel in order. The GPU splits each channel into a
// number of parts fixed by the shape (batch_norm_parts), one block per (part, channel), a fixed
// tree inside each block, and combines the parts of a channel in a fixed tree: no atomics.
// Tensor-level entry points: kernels/batchnorm_ops.h.
#pragma once

#include <cstdint>

namespace ddnet::kernels {

namespace cpu {
// Training statistics. mean, invstd: (C) out, invstd = 1 / sqrt(biased_var + eps). When
// running_mean / running_var are not null they are updated in place:
// r = (1 - momentum) * r + momentum * batch value (unbiased variance). Needs N * S > 1.
template <class T>
void batch_norm_stats(const T* x, std::int64_t N, std::int64_t C, std::int64_t S, T* mean,
                      T* invstd, T* running_mean, T* running_var, double momentum, double eps);
// Eval mode: mean = running_mean, invstd = 1 / sqrt(running_var + eps).
template <class T>
void batch_norm_eval_stats(const T* running_mean, const T* running_var, T* mean, T* invstd,
                           std::int64_t C, double eps);
// y = (x - mean[c]) * invstd[c] * weight[c] + bias[c]
template <class T>
void batch_norm_apply(const T* x, const T* mean, const T* invstd, const T* weight, const T* bias,
                      T* y, std::int64_t N, std::int64_t C, std::int64_t S);
// sum_dy[c] = sum(dy), sum_dy_xhat[c] = sum(dy * (x - mean[c]) * invstd[c]) over (N, S).
// These are dbias and dweight.
template <class T>
void batch_norm_backward_reduce(const T* dy, const T* x, const T* mean, const T* invstd, T* sum_dy,
                                T* sum_dy_xhat, std::int64_t N, std::int64_t C, std::int64_t S);
// training: dx = weight * invstd * (dy - sum_dy / n - xhat * sum_dy_xhat / n), n = N * S;
// eval: dx = dy * weight * invstd (sum_dy, sum_dy_xhat unused, may be null). dx may be dy.
template <class T>
void batch_norm_backward_input(const T* dy, const T* x, const T* mean, const T* invstd,
                               const T* weight, const T* sum_dy, const T* sum_dy_xhat, T* dx,
                               std::int64_t N, std::int64_t C, std::int64_t S, bool training);
}  // namespace cpu

namespace cuda {
// Parts each channel is split into on the GPU (a function of the shape only), and the doubles
// of workspace the reductions need: 2 * C * parts.
int batch_norm_parts(std::int64_t N, std::int64_t C, std::int64_t S);
std::int64_t batch_norm_workspace(std::int64_t N, std::int64_t C, std::int64_t S);
// As in cpu::, with a device workspace of batch_norm_workspace() doubles.
template <class T>
void batch_norm_stats(const T* x, std::int64_t N, std::int64_t C, std::int64_t S, T* mean,
                      T* invstd, T* running_mean, T* running_var, double momentum, double eps,
                      double* workspace, void* stream);
template <class T>
void batch_norm_eval_stats(const T* running_mean, const T* running_var, T* mean, T* invstd,
                           std::int64_t C, double eps, void* stream);
template <class T>
void batch_norm_apply(const T* x, const T* mean, const T* invstd, const T* weight, const T* bias,
                      T* y, std::int64_t N, std::int64_t C, std::int64_t S, void* stream);
template <class T>
void batch_norm_backward_reduce(const T* dy, const T* x, const T* mean, const T* invstd, T* sum_dy,
                                T* sum_dy_xhat, std::int64_t N, std::int64_t C, std::int64_t S,
                                double* workspace, void* stream);
template <class T>
void batch_norm_backward_input(const T* dy, const T* x, const T* mean, const T* invstd,
                               const T* weight, const T* sum_dy, const T* sum_dy_xhat, T* dx,
                               std::int64_t N, std::int64_t C, std::int64_t S, bool training,
                               void* stream);  // dx may be dy
}  // namespace cuda

}  // namespace ddnet::kernels
