// Reductions of a whole tensor to one value: sum, mean, max, sum of squares. Deterministic on
// both paths: the CPU splits the input into fixed-size chunks (independent of the thread count)
// and adds the chunk results in order; the GPU uses a grid that depends only on n, a fixed tree
// inside each block and a second single-block pass, with no atomics.
#pragma once

#include <cstdint>

namespace ddnet::kernels {

enum class ReduceOp { sum, mean, max, sum_sq };
const char* reduce_op_name(ReduceOp op);

namespace cpu {
// Accumulates in double. max propagates NaN; mean of an empty input is NaN, max of one is an
// error (checked by the caller), sum is 0.
template <class T>
T reduce(ReduceOp op, const T* x, std::int64_t n);
}  // namespace cpu

namespace cuda {
// Elements of (double, whatever T) workspace reduce() needs for n inputs.
std::int64_t reduce_workspace(std::int64_t n);
// Writes the result to out[0] on the device; no host synchronisation. Accumulates in double like
// the CPU twin (the workspace holds double partials) and rounds to T once.
template <class T>
void reduce(ReduceOp op, const T* x, std::int64_t n, T* out, double* workspace, void* stream);
}  // namespace cuda

}  // namespace ddnet::kernels
