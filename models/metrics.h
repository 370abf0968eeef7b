// The image scores the thesis compares models with (§3.2, Table 4.1), slice by slice: a 3D
// model's output is split back into its slices and scored with the same 2D metrics as a 2D
// model's, so both stand on the same footing.
//
// Per slice, both images are scaled to [0, 1] with the reference volume's min and max (one map
// per scan, so a slice's scores do not depend on its own contrast), then
//   MSE      mean squared difference,
//   PSNR     10 log10(1 / MSE) in dB (data range 1; infinite for identical slices),
//   SSIM     Wang et al. 2004 with an 11-tap Gaussian window (sigma 1.5), K1 0.01, K2 0.03,
//            statistics without the sample-covariance correction, averaged over the slice
//            without a 5-pixel border: scikit-image's structural_similarity(...,
//            gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1),
//   MS-SSIM  the published code's (5 levels, window shrunk at small levels, 'simple'
//            normalisation): the number the thesis's tables report,
// and RMSE in HU, unscaled. Fixtures from scikit-image and PyTorch check all of them
// (tests/fixtures/gen_metrics.py).
#pragma once

#include <cstdint>
#include <vector>

namespace ddnet::models {

struct SliceScores {
  double mse = 0, psnr = 0, ssim = 0, msssim = 0, rmse_hu = 0;
};

// SSIM of two (h, w) images (h, w >= 11) with the given data range; see above.
double ssim2d(const float* x, const float* y, std::int64_t h, std::int64_t w,
              double data_range = 1.0);

// Scores of every slice of `x` against `ref` (both HU, (d, h, w)). MS-SSIM needs slices of at
// least 16 x 16 (five levels); smaller ones get NaN there.
std::vector<SliceScores> score_slices(const float* x, const float* ref, std::int64_t d,
                                      std::int64_t h, std::int64_t w);

struct Stat {
  double mean = 0, std = 0;  // std: population (n in the denominator), like numpy's default
  std::int64_t n = 0;
};
Stat summarise(const std::vector<double>& values);  // infinite values (PSNR of 0 MSE) skipped

struct Scores {  // one volume or a set of volumes: mean and std over slices
  Stat mse, psnr, ssim, msssim, rmse_hu;
};
Scores summarise(const std::vector<SliceScores>& slices);

// summarise(score_slices(...)).
Scores score_volume(const float* x, const float* ref, std::int64_t d, std::int64_t h,
                    std::int64_t w);

}  // namespace ddnet::models
