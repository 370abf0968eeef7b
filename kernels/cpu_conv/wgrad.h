// Internal (a fast path, see fast_paths.h): a direct AVX2/FMA weight gradient (backward_filter)
// for float32 stride-1 convolutions on the CPU, the one primitive where oneDNN 2.6 (im2col +
// sgemm for 3D) leaves most of the machine idle (measured: bench/results/cpu-conv-cost-model.md).
//
// dw[co, ci, a, b, c] = sum over n, od, oh, ow of dy[n, co, od, oh, ow] * xp[n, ci, od+a, oh+b,
// ow+c] with xp the zero-padded input. Both operands are repacked so that every (oh, ow) plane of
// dy has the padded input's row pitch Wp (dy zero in the gap): then for fixed (od, a, b) the sum
// over a plane is one long dot product between a dy plane and the xp plane of depth od+a shifted
// by b*Wp + c. A task owns a block of output channels, one input channel and up to 5 kernel
// columns c, and keeps its sums for every (a, b) in a small L1-resident buffer, walking the
// positions in chunks so that the dy chunk and the few xp rows it meets stay in L1 across the
// kd x kh shifts. Tasks write disjoint parts of dw: no atomics, and the result does not depend on
// the thread count. About 13% of the FMAs multiply the zero gap (68 columns for 64 at DDnet's 5^3).
#pragma once

#include "kernels/conv.h"
#include "kernels/cpu_conv/config.h"

namespace ddnet::kernels::cpu_conv::direct_wgrad {

// Two vectorisations of the same sum (both deterministic, neither uses atomics):
// - position_lanes: 8 neighbouring positions per vector; a task holds 2 output channels x up to
//   5 kernel columns of 8-lane sums (10 FMAs per 2 dy + 5 unaligned x loads), horizontal sums
//   at the end. Best for few output channels.
// - channel_lanes: 16 output channels per task in two vectors, dy repacked channel-innermost, one
//   input value broadcast per kernel column (10 FMAs per 2 dy loads + 5 broadcasts, no split
//   loads, no horizontal sums): ~1.7x the other at 16 or more output channels.
// automatic takes channel_lanes from 12 output channels on (padding to 16 wastes <= 25%).
// Sums are two-level in both: each position chunk is summed in registers, then added to memory.
// The variant is Config::wgrad_variant (config.h): automatic by default, set by tests and
// benchmarks.
using Variant = WgradVariant;

// Stride 1 on every axis, a kernel wider than 1 somewhere, and a CPU with AVX2 and FMA.
bool supports(const ConvGeometry& g);
// The contract of cpu::conv_backward_filter (kernels/conv.h), float32.
void conv_backward_filter(const ConvGeometry& g, const float* x, const float* dy, float* dw,
                          float* dbias, bool accumulate, ConvStrides s,
                          Variant v = config().wgrad_variant);

}  // namespace ddnet::kernels::cpu_conv::direct_wgrad
