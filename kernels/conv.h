// Convolution primitives, 2D and 3D (2D is 3D with D = 1), PyTorch semantics (cross-correlation,
// zero padding, stride, bias). Three primitives cover Conv and ConvTranspose, forward and
// backward:
//   forward          y  = conv(x, w) + b          w: (Cout, Cin, kD, kH, kW)
//   backward_data    dx = conv^T(dy, w)           (= the forward of ConvTranspose with w)
//   backward_filter  dw = dy (*) x, db = sum(dy)
// CPU (conv_cpu.cpp): im2col over tiles of output positions + BLAS gemm, the reference; float32
// first tries the fast paths fenced in kernels/cpu_conv/ (tiled FFTs, a direct AVX2 weight
// gradient, oneDNN; switches in kernels/cpu_conv/config.h). CUDA (conv_cudnn.cpp): cuDNN with
// N-d descriptors, the algorithm found once per shape by measurement under a workspace cap, and
// cached. Tensor-level entry points: kernels/conv_ops.h.
// Every sample's (C, D, H, W) block must be contiguous, but samples may be `batch_stride`
// elements apart: a channel slice of a bigger buffer (the dense blocks) is a valid x or y.
#pragma once

#include <cstdint>
#include <string>

namespace ddnet::kernels {

struct ConvGeometry {
  std::int64_t n = 1;
  std::int64_t cin = 1, cout = 1;   // of the convolution (ConvTranspose swaps them)
  std::int64_t in[3] = {1, 1, 1};   // D, H, W of the convolution's input
  std::int64_t out[3] = {1, 1, 1};  // D, H, W of its output
  std::int64_t k[3] = {1, 1, 1};
  std::int64_t stride[3] = {1, 1, 1};
  std::int64_t pad[3] = {0, 0, 0};
  std::int64_t in_plane() const { return in[0] * in[1] * in[2]; }
  std::int64_t out_plane() const { return out[0] * out[1] * out[2]; }
  std::int64_t kvol() const { return k[0] * k[1] * k[2]; }
  double flops() const {  // multiply-adds x 2 of the forward
    return 2.0 * static_cast<double>(n * cout * out_plane() * cin * kvol());
  }
  std::string str() const;
};

// Fills `out` from in, k, stride and pad: floor((in + 2p - k) / s) + 1 per axis.
void conv_output_size(ConvGeometry& g);

// Batch strides in elements; 0 means contiguous samples (C * plane).
struct ConvStrides {
  std::int64_t x = 0, y = 0;
};

namespace cpu {
// y = conv(x, w) + bias (bias may be null).
template <class T>
void conv_forward(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y,
                  ConvStrides s = {});
// dx (+)= conv^T(dy, w); `accumulate` adds into dx instead of overwriting it.
template <class T>
void conv_backward_data(const ConvGeometry& g, const T* dy, const T* w, T* dx, bool accumulate,
                        ConvStrides s = {});
// dw (+)= dy (*) x and dbias (+)= sum(dy) (dbias may be null).
template <class T>
void conv_backward_filter(const ConvGeometry& g, const T* x, const T* dy, T* dw, T* dbias,
                          bool accumulate, ConvStrides s = {});
// y[b, c, :] += bias[c] for the convolution's output (cout channels, out plane).
template <class T>
void add_channel_bias(const ConvGeometry& g, const T* bias, T* y, ConvStrides s = {});
// db (+)= sum over samples and positions of dy, per output channel.
template <class T>
void channel_sum(const ConvGeometry& g, const T* dy, T* db, bool accumulate, ConvStrides s = {});
}  // namespace cpu

namespace cuda {
void add_channel_bias(const ConvGeometry& g, const float* bias, float* y, ConvStrides s,
                      void* stream);
void channel_sum(const ConvGeometry& g, const float* dy, float* db, bool accumulate, ConvStrides s,
                 void* stream);
// Same contracts, on `stream`, float32. TF32 is used only when set_allow_tf32(true).
void conv_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias,
                  float* y, ConvStrides s, void* stream);
void conv_backward_data(const ConvGeometry& g, const float* dy, const float* w, float* dx,
                        bool accumulate, ConvStrides s, void* stream);
void conv_backward_filter(const ConvGeometry& g, const float* x, const float* dy, float* dw,
                          float* dbias, bool accumulate, ConvStrides s, void* stream);
}  // namespace cuda

// Tensor cores' TF32 mode for float32 convolutions: off by default so that results match the
// fp32 reference; on trades ~1e-3 relative error for speed.
void set_allow_tf32(bool on);
bool allow_tf32();
// Workspace cap for cuDNN algorithm choice (bytes; default 1 GiB).
void set_conv_workspace_limit(std::size_t bytes);
std::size_t conv_workspace_limit();

// Depth split. One convolution call takes tensors of at most `max_elements` elements each
// (default 2^31 - 1: cuDNN's legacy descriptors take int). A call with a bigger input, output or
// gradient runs sample by sample, in chunks of depth rows with their halos (the rows the kernel
// reaches beyond the chunk, zeros beyond the volume), through contiguous buffers of at most
// `chunk_elements` each (default 2^28, 1 GiB of float32), on every device, so the CPU runs the
// code a GPU needs. Values are those of one call up to the summation order (the weight and bias
// gradients sum over chunks). Not supported: the input gradient of a convolution strided along
// depth (DDnet has none); it is refused with a message. Tests lower both limits.
struct ConvSplitLimits {
  std::int64_t max_elements = 2147483647;
  std::int64_t chunk_elements = std::int64_t{1} << 28;
};
void set_conv_split_limits(ConvSplitLimits limits);
ConvSplitLimits conv_split_limits();
// Calls of the three primitives that ran split, since the process started (all threads).
std::int64_t conv_split_count();
void note_conv_split();
// Sets the limits for a scope (tests).
class ScopedConvSplitLimits {
 public:
  explicit ScopedConvSplitLimits(ConvSplitLimits limits) : saved_(conv_split_limits()) {
    set_conv_split_limits(limits);
  }
  ~ScopedConvSplitLimits() { set_conv_split_limits(saved_); }
  ScopedConvSplitLimits(const ScopedConvSplitLimits&) = delete;
  ScopedConvSplitLimits& operator=(const ScopedConvSplitLimits&) = delete;

 private:
  ConvSplitLimits saved_;
};

}  // namespace ddnet::kernels
