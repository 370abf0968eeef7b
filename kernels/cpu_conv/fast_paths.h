// The fence around the CPU convolutions' float32 fast paths: kernels/conv_cpu.cpp asks here
// first and runs its own im2col + BLAS code only when no fast path takes the call. The choice
// follows config() (config.h): under Config::pinned(), or for float64, nothing here runs.
#pragma once

#include "kernels/conv.h"

namespace ddnet::kernels::cpu_conv {

// Each returns true when a fast path computed the call (same contract as cpu::conv_forward,
// conv_backward_data and conv_backward_filter in kernels/conv.h), false to leave it to im2col.
bool try_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y,
                 ConvStrides s);
bool try_backward_data(const ConvGeometry& g, const float* dy, const float* w, float* dx,
                       bool accumulate, ConvStrides s);
bool try_backward_filter(const ConvGeometry& g, const float* x, const float* dy, float* dw,
                         float* dbias, bool accumulate, ConvStrides s);

}  // namespace ddnet::kernels::cpu_conv
