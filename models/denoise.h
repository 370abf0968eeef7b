// Denoising whole scans with a trained DDnet, and the image scores the thesis compares models
// with (§3.2): MSE, PSNR, MS-SSIM per 2D slice on [0, 1]-scaled images, and RMSE in HU.
// Volumes are raw (slices, rows, cols) float arrays in HU, so that data/ and models/ stay apart.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/device.h"
#include "models/ddnet.h"

namespace ddnet::models {

struct DenoiseOptions {
  std::string normalise = "minmax";  // as in training: minmax (of the input) | window
  double window_lo = -1024, window_hi = 2048;
  std::int64_t chunk_slices = 0;  // 3D: slices per forward pass (0: the whole volume at once)
  Device device = Device::cpu();
};

// Runs `net` (eval mode, no gradients) over a (d, h, w) HU volume and returns the denoised HU.
// 2D models run slice by slice; 3D ones over slabs of chunk_slices slices (the last slab shifted
// back to fit). Sizes that are not multiples of 16 are edge-padded and cropped back. Min-max
// normalisation uses the input's range and maps the output back with it.
std::vector<float> denoise_volume(DDnet& net, const float* hu, std::int64_t d, std::int64_t h,
                                  std::int64_t w, const DenoiseOptions& o);

struct Scores {
  double mse = 0, psnr = 0, msssim = 0, rmse_hu = 0;  // means over slices (PSNR of the mean MSE)
};
// Scores `x` against the reference `ref` (both HU, (d, h, w)), slice by slice, after scaling
// both with the reference's min and max to [0, 1]; MS-SSIM is the published code's (2D, 5
// levels, window shrunk at small levels), the one the thesis's tables report.
Scores score_volume(const float* x, const float* ref, std::int64_t d, std::int64_t h,
                    std::int64_t w);

}  // namespace ddnet::models
