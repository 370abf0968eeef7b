// Internal (a fast path, see fast_paths.h): float32 stride-1 convolutions on the CPU by tiled FFTs
// (overlap-save), with float (default) or double spectra. For DDnet's 5^3 layers a direct
// convolution does cin * 125 multiply-adds per output and input channel pair; in the frequency
// domain it is one complex multiply-add per bin and channel pair plus (cin + cout) transforms per
// tile, 10-50x fewer operations.
//
// A pass splits the volume it writes into tiles T (per axis) and transforms regions of
// F = T + k - 1 samples per axis (FFTW, r2c/c2r, FFTW_ESTIMATE plans: deterministic):
//   forward          Y_t[co]  = sum_ci X_t[ci] . conj(W[co, ci])   (correlation)
//   backward_data    DX_t[ci] = sum_co DY_t[co] . W[co, ci]        (convolution)
//   backward_filter  DW[co, ci] = sum_t X_t[ci] . conj(DY_t[co]), one inverse per pair at the end
// with X_t the spectrum of the zero-padded input region of tile t, W the spectrum of the kernel
// zero-padded to F. No region wraps around (F = T + k - 1), so the results are exact up to
// rounding. Per bin the channel sums are small complex matrix products over spectra stored
// bin-blocked (8 bins of every entity contiguous); they are bound by memory bandwidth, which is
// why float spectra (half the bytes) are the default. Every output is summed in a fixed order:
// the result does not depend on the thread count.
//
// Rounding. Double (Precision::f64): each result is the exact sum rounded to float (tests: one
// float rounding plus 1e-10 of the sum of |terms|). Float (Precision::f32): a transform's
// rounding errors spread over its tile, so the error is relative to the tile's magnitude rather
// than each output's, as in cuDNN's FFT algorithms. Measured against the double path on random
// data at DDnet's sizes (64->16 at 32x64x64, 32->32 at 16x64x64, 64->16 at 8x32x32): worst error
// 0.8-1.4e-6 and rms error 1.6-2.7e-7 of the result's rms in every pass, where oneDNN's direct
// convolution is off by up to 1.3-2e-5 (rms 0.3-1.6e-6): float spectra are the more accurate of
// the two float32 paths there. An output far smaller than its tile's typical one (cancellation)
// gets a larger relative error than a direct sum would give it.
//
// Memory: the spectra live in buffers of the calling thread that grow to the largest call and are
// kept (tens of MiB at DDnet's sizes; up to 64 MiB per tile group plus the weight spectra).
// A NaN or Inf in an input tile reaches every output of that tile, not just its k-neighbourhood.
//
// The tile shape is chosen per geometry and pass by a cost model (transforms, multiply-adds, the
// weight spectra's memory); automatic mode takes the FFT path only where that model puts it well
// below a direct convolution's cost, so small volumes and 1^3 or 3^3 kernels stay direct.
#pragma once

#include <cstdint>

#include "kernels/conv.h"
#include "kernels/cpu_conv/config.h"

namespace ddnet::kernels::cpu_conv::fft {

enum class Pass { forward, backward_data, backward_filter };

// The switches live in the configuration object (config.h): Config::fft (automatic, always,
// never) and Config::fft_precision. f32 (the default): float spectra, half the bytes of f64
// through memory, results within a few float roundings of the tile's magnitude (as cuDNN's FFT
// algorithms); f64: each result within one float rounding of the exact sum.
using Mode = FftMode;
using Precision = FftPrecision;

// The build has FFTW, and the geometry has stride 1 and a kernel wider than 1 somewhere.
bool supports(const ConvGeometry& g);
// supports(g) and the mode (or, in automatic mode, the cost model) picks the FFT path.
bool chosen(const ConvGeometry& g, Pass p, const Config& c = config());

// The tile a pass uses (per axis D, H, W) and its transform size; for tests and benchmarks.
struct Tiling {
  std::int64_t t[3] = {1, 1, 1};  // tile extent in the written volume
  std::int64_t f[3] = {1, 1, 1};  // transform extent: t + k - 1
  double cost_ns = 0;             // the model's single-thread estimate
  double direct_ns = 0;           // its estimate for a direct convolution
};
Tiling tiling(const ConvGeometry& g, Pass p, const Config& c = config());
// Config::fft_max_tile caps the tile extent on every axis (0: no cap, the default), so tests can
// split small volumes into many tiles.

// The contracts of cpu::conv_forward, conv_backward_data and conv_backward_filter (conv.h).
void conv_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias,
                  float* y, ConvStrides s, const Config& c = config());
void conv_backward_data(const ConvGeometry& g, const float* dy, const float* w, float* dx,
                        bool accumulate, ConvStrides s, const Config& c = config());
void conv_backward_filter(const ConvGeometry& g, const float* x, const float* dy, float* dw,
                          float* dbias, bool accumulate, ConvStrides s, const Config& c = config());

}  // namespace ddnet::kernels::cpu_conv::fft
