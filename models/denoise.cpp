// Whole-scan denoising and image scores.
#include "models/denoise.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/autograd.h"
#include "engine/error.h"
#include "layers/loss.h"

namespace ddnet::models {

namespace {

std::int64_t round_up16(std::int64_t n) {
  return (n + 15) / 16 * 16;
}

// (d, h, w) block of `src` starting at slice k0, edge-padded to (pd, ph, pw).
std::vector<float> padded_block(const float* src, std::int64_t d, std::int64_t h, std::int64_t w,
                                std::int64_t k0, std::int64_t kd, std::int64_t pd, std::int64_t ph,
                                std::int64_t pw) {
  std::vector<float> out(static_cast<std::size_t>(pd * ph * pw));
  for (std::int64_t k = 0; k < pd; ++k) {
    const std::int64_t sk = std::min(k0 + std::min(k, kd - 1), d - 1);
    for (std::int64_t i = 0; i < ph; ++i) {
      const float* row = src + (sk * h + std::min(i, h - 1)) * w;
      float* dst = out.data() + (k * ph + i) * pw;
      for (std::int64_t j = 0; j < pw; ++j) dst[j] = row[std::min(j, w - 1)];
    }
  }
  return out;
}

}  // namespace

std::vector<float> denoise_volume(DDnet& net, const float* hu, std::int64_t d, std::int64_t h,
                                  std::int64_t w, const DenoiseOptions& o) {
  DDNET_CHECK(d >= 1 && h >= 1 && w >= 1, "denoise: empty volume");
  DDNET_CHECK(o.normalise == "minmax" || o.normalise == "window", "denoise: normalise '",
              o.normalise, "': expected minmax or window");
  const std::int64_t n = d * h * w;
  double lo = o.window_lo, hi = o.window_hi;
  if (o.normalise == "minmax") {
    lo = std::numeric_limits<double>::infinity();
    hi = -lo;
    for (std::int64_t i = 0; i < n; ++i) {
      lo = std::min(lo, static_cast<double>(hu[i]));
      hi = std::max(hi, static_cast<double>(hu[i]));
    }
  }
  const double range = hi > lo ? hi - lo : 1.0;
  std::vector<float> x(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    double v = (static_cast<double>(hu[i]) - lo) / range;
    if (o.normalise == "window") v = std::clamp(v, 0.0, 1.0);
    x[static_cast<std::size_t>(i)] = static_cast<float>(v);
  }

  const bool is3d = net.dims() == 3;
  const std::int64_t ph = round_up16(h), pw = round_up16(w);
  std::int64_t chunk = is3d ? (o.chunk_slices > 0 ? o.chunk_slices : d) : 1;
  chunk = std::min(chunk, d);
  const std::int64_t pd = is3d ? round_up16(chunk) : 1;
  std::vector<float> y(static_cast<std::size_t>(n));
  NoGradGuard no_grad;
  net.eval();
  for (std::int64_t k0 = 0; k0 < d; k0 += chunk) {
    const std::int64_t start = std::min(k0, d - chunk);  // the last slab shifted back to fit
    const auto block = padded_block(x.data(), d, h, w, start, chunk, pd, ph, pw);
    const Shape shape = is3d ? Shape{1, 1, pd, ph, pw} : Shape{1, 1, ph, pw};
    Tensor in = Tensor::empty(shape);
    std::copy(block.begin(), block.end(), in.data<float>());
    const std::vector<float> out =
        net.forward(in.to(o.device)).to(Device::cpu()).to_vector<float>();
    for (std::int64_t k = k0 - start; k < chunk; ++k)
      for (std::int64_t i = 0; i < h; ++i)
        for (std::int64_t j = 0; j < w; ++j)
          y[static_cast<std::size_t>(((start + k) * h + i) * w + j)] = static_cast<float>(
              lo +
              range * static_cast<double>(out[static_cast<std::size_t>((k * ph + i) * pw + j)]));
  }
  return y;
}

Scores score_volume(const float* x, const float* ref, std::int64_t d, std::int64_t h,
                    std::int64_t w) {
  const std::int64_t n = d * h * w, plane = h * w;
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (std::int64_t i = 0; i < n; ++i) {
    lo = std::min(lo, static_cast<double>(ref[i]));
    hi = std::max(hi, static_cast<double>(ref[i]));
  }
  const double range = hi > lo ? hi - lo : 1.0;
  Scores s;
  double sq_hu = 0;
  // MS-SSIM as the published code scores it (its combination, 'simple' normalisation), so the
  // numbers compare with the thesis's tables; it is defined for anti-correlated images too.
  const kernels::MsssimOptions ms = kernels::MsssimOptions::reference();
  NoGradGuard no_grad;
  for (std::int64_t k = 0; k < d; ++k) {
    Tensor a = Tensor::empty(Shape{1, 1, h, w}), b = Tensor::empty(Shape{1, 1, h, w});
    float* pa = a.data<float>();
    float* pb = b.data<float>();
    double sq = 0;
    for (std::int64_t i = 0; i < plane; ++i) {
      const double xv = x[k * plane + i], rv = ref[k * plane + i];
      pa[i] = static_cast<float>((xv - lo) / range);
      pb[i] = static_cast<float>((rv - lo) / range);
      sq += (xv - rv) * (xv - rv);
    }
    sq_hu += sq;
    s.mse += sq / (range * range) / static_cast<double>(plane);
    s.msssim += F::msssim(a, b, ms).item();
  }
  s.mse /= static_cast<double>(d);
  s.msssim /= static_cast<double>(d);
  s.psnr = s.mse > 0 ? 10 * std::log10(1.0 / s.mse) : std::numeric_limits<double>::infinity();
  s.rmse_hu = std::sqrt(sq_hu / static_cast<double>(n));
  return s;
}

}  // namespace ddnet::models
