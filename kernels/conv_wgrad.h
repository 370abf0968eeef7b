// Internal: a direct AVX2/FMA weight gradient (backward_filter) for float32 stride-1
// convolutions on the CPU, the one primitive where oneDNN 2.6 (im2col + sgemm for 3D) leaves
// most of the machine idle: 65 GFLOP/s for DDnet's 32->32 5^3 layer, 25 GFLOP/s for the dense
// blocks' 64->16 5^3 layers on this VM.
//
// dw[co, ci, a, b, c] = sum over n, od, oh, ow of dy[n, co, od, oh, ow] * xp[n, ci, od+a, oh+b,
// ow+c] with xp the zero-padded input. Both operands are repacked so that every (oh, ow) plane of
// dy has the padded input's row pitch Wp (dy zero in the gap): then for fixed (od, a, b) the sum
// over a plane is one long dot product between a dy plane and the xp plane of depth od+a shifted by
// b*Wp + c, vectorised over 8 positions. A task owns (2 output channels, 1 input channel, up to 5
// kernel columns c) and keeps its 8-lane partial sums for every (a, b) in a small L1-resident
// buffer, walking the positions in chunks so that the dy chunk and the few xp rows it meets
// stay in L1 across the kd x kh shifts. Tasks write disjoint parts of dw: no atomics, and the
// result does not depend on the thread count.
#pragma once

#include "kernels/conv.h"

namespace ddnet::kernels::direct_wgrad {

// Stride 1 on every axis, a kernel wider than 1 somewhere, and a CPU with AVX2 and FMA.
bool supports(const ConvGeometry& g);
// The contract of cpu::conv_backward_filter (kernels/conv.h), float32.
void conv_backward_filter(const ConvGeometry& g, const float* x, const float* dy, float* dw,
                          float* dbias, bool accumulate, ConvStrides s);

}  // namespace ddnet::kernels::direct_wgrad
