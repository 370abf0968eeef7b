// Internal (a fast path, see fast_paths.h): float32 CPU convolutions through oneDNN (when the
// build found it). The three primitives' contracts are those of kernels/conv.h; fast_paths.cpp
// routes float32 here unless Config::backend is im2col (config.h; DDNET_CPU_CONV=im2col).
#pragma once

#include "kernels/conv.h"

namespace ddnet::kernels::cpu_conv::dnnl_path {

bool compiled();
void conv_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias,
                  float* y, ConvStrides s);
void conv_backward_data(const ConvGeometry& g, const float* dy, const float* w, float* dx,
                        bool accumulate, ConvStrides s);
void conv_backward_filter(const ConvGeometry& g, const float* x, const float* dy, float* dw,
                          float* dbias, bool accumulate, ConvStrides s);

}  // namespace ddnet::kernels::cpu_conv::dnnl_path
