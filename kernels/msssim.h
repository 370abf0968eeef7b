// SSIM / MS-SSIM for 2D (N, C, H, W) and 3D (N, C, D, H, W) volumes, forward and the analytic
// gradient with respect to the prediction.
//
// Per level: a Gaussian window (sigma 1.5) of s = min(window, spatial sizes) taps, normalised,
// applied separably with valid filtering to x, y, x^2, y^2 and x*y; from the five statistics
// the per-voxel contrast-structure map cs = (2 s12 + C2) / (s11 + s22 + C2) and the SSIM map
// l * cs with l = (2 m1 m2 + C1) / (m1^2 + m2^2 + C1), both averaged over the whole batch. Between
// levels both volumes are average-pooled by 2 (floor). C1 = (0.01 L)^2, C2 = (0.03 L)^2.
//
// Reference mode reproduces the published 3D-DDnet code exactly: L inferred from the
// prediction at every level (255 if max > 128 else 1, minus -0.1 if min < -0.001), "simple"
// normalisation ((v + 1) / 2) and the combination prod_{j < M-1} cs_j^w_j * ssim_{M-1}^w_{M-1}
// (the last level's SSIM enters M - 1 times). The textbook combination (Wang et al. 2003) takes
// it once. The gradient treats L as a constant (it is piecewise constant in the prediction).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ddnet::kernels {

enum class MsssimCombine { reference, textbook };
enum class MsssimNormalize { none, simple };

struct MsssimOptions {
  int window = 11;
  double sigma = 1.5;
  std::vector<double> weights;  // empty: 5 levels in 2D, 4 in 3D, the published weights
  MsssimCombine combine = MsssimCombine::reference;
  MsssimNormalize normalize = MsssimNormalize::simple;
  double data_range = 0;  // 0: inferred per level from the prediction, as the reference does
  // NaN or Inf in either input is an error. Free on the CPU; on CUDA it reads a 4-byte device
  // flag (one synchronisation): turn it off to keep the step asynchronous, and a non-finite
  // input then shows as a NaN loss.
  bool check_finite = true;
  static MsssimOptions reference() { return {}; }
  // Fixed L = 1 for [0, 1] data, textbook combination, no normalisation.
  static MsssimOptions textbook() {
    MsssimOptions o;
    o.combine = MsssimCombine::textbook;
    o.normalize = MsssimNormalize::none;
    o.data_range = 1;
    return o;
  }
};

std::vector<double> default_msssim_weights(bool is_3d);

// Volumes as planes (N * C) of D x H x W (D = 1 in 2D).
struct VolumeShape {
  std::int64_t planes = 1, d = 1, h = 1, w = 1;
  bool is_3d = true;
  std::int64_t plane() const { return d * h * w; }
  std::int64_t numel() const { return planes * plane(); }
};

struct MsssimResult {
  double value = 0;                     // the combined MS-SSIM
  std::vector<double> ssim, cs, range;  // per level, after normalisation; L used per level
};

namespace cpu {
// value (and, when grad_x is not null, d value / d x scaled by `grad_scale`, written to grad_x).
// Statistics accumulate in double.
template <class T>
MsssimResult msssim(const T* x, const T* y, const VolumeShape& s, const MsssimOptions& o, T* grad_x,
                    double grad_scale = 1.0);
}  // namespace cpu

namespace cuda {
// The fused CUDA MS-SSIM (float32): `value` (one float on the device) and, when grad_x is not
// null, d value / d x (device, same size as x). `nonfinite` (one int on the device, may be
// null) counts NaN/Inf elements of x and y. Nothing is read back to the host.
void msssim(const float* x, const float* y, const VolumeShape& s, const MsssimOptions& o,
            float* value, float* grad_x, int* nonfinite, void* stream);
}  // namespace cuda

}  // namespace ddnet::kernels
