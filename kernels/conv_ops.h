// Tensor-level convolutions: shape checks with messages a user can act on, then the CPU path
// (im2col + BLAS) or cuDNN by the tensors' device. 2D for (N, C, H, W), 3D for (N, C, D, H, W).
// Outputs may be channel slices of a bigger buffer (every sample's block contiguous): the
// dense blocks write each new feature map straight into its concatenation buffer.
#pragma once

#include "engine/tensor.h"
#include "kernels/conv.h"

namespace ddnet::kernels {

struct ConvOptions {
  int stride = 1;
  int padding = 0;
};

// Conv: w (Cout, Cin, k...) ; ConvTranspose: w (Cin, Cout, k...) as in PyTorch. bias may be
// undefined.
ConvGeometry conv_geometry(const char* op, const Tensor& x, const Tensor& w, ConvOptions o);
ConvGeometry conv_transpose_geometry(const char* op, const Tensor& x, const Tensor& w,
                                     ConvOptions o);
Shape conv_output_shape(const ConvGeometry& g, int dims);  // (N, Cout, out...)
Shape conv_input_shape(const ConvGeometry& g, int dims);   // (N, Cin, in...)

Tensor conv(const Tensor& x, const Tensor& w, const Tensor& bias, ConvOptions o);
void conv_into(const Tensor& x, const Tensor& w, const Tensor& bias, ConvOptions o, Tensor& y);
Tensor conv_transpose(const Tensor& x, const Tensor& w, const Tensor& bias, ConvOptions o);

// The three primitives on tensors, for the autograd closures. `accumulate`: add into the output.
void conv_forward_t(const ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor& bias,
                    Tensor& y);
void conv_backward_data_t(const ConvGeometry& g, const Tensor& dy, const Tensor& w, Tensor& dx,
                          bool accumulate);
void conv_backward_filter_t(const ConvGeometry& g, const Tensor& x, const Tensor& dy, Tensor& dw,
                            Tensor* dbias, bool accumulate);
void add_channel_bias_t(const ConvGeometry& g, const Tensor& bias, Tensor& y);
void channel_sum_t(const ConvGeometry& g, const Tensor& dy, Tensor& db, bool accumulate);

}  // namespace ddnet::kernels
