// Image scores, slice by slice.
#include "models/metrics.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "engine/autograd.h"
#include "engine/error.h"
#include "layers/loss.h"

namespace ddnet::models {

namespace {

constexpr int kRadius = 5;  // int(3.5 * 1.5 + 0.5): scikit-image's truncate 3.5, sigma 1.5

std::array<double, 2 * kRadius + 1> gauss_taps() {
  std::array<double, 2 * kRadius + 1> g{};
  double sum = 0;
  for (int i = -kRadius; i <= kRadius; ++i) {
    g[static_cast<std::size_t>(i + kRadius)] = std::exp(-0.5 * i * i / (1.5 * 1.5));
    sum += g[static_cast<std::size_t>(i + kRadius)];
  }
  for (double& v : g) v /= sum;
  return g;
}

// Half-sample symmetric reflection (d c b a | a b c d), scipy.ndimage's 'reflect'.
std::int64_t reflect(std::int64_t i, std::int64_t n) {
  if (i < 0) return -i - 1;
  if (i >= n) return 2 * n - i - 1;
  return i;
}

// Separable Gaussian filter of an (h, w) float64 image, reflected at the borders.
std::vector<double> gauss_filter(const std::vector<double>& img, std::int64_t h, std::int64_t w) {
  static const auto g = gauss_taps();
  std::vector<double> tmp(img.size()), out(img.size());
  for (std::int64_t i = 0; i < h; ++i)
    for (std::int64_t j = 0; j < w; ++j) {
      double s = 0;
      for (int t = -kRadius; t <= kRadius; ++t)
        s += g[static_cast<std::size_t>(t + kRadius)] *
             img[static_cast<std::size_t>(i * w + reflect(j + t, w))];
      tmp[static_cast<std::size_t>(i * w + j)] = s;
    }
  for (std::int64_t i = 0; i < h; ++i)
    for (std::int64_t j = 0; j < w; ++j) {
      double s = 0;
      for (int t = -kRadius; t <= kRadius; ++t)
        s += g[static_cast<std::size_t>(t + kRadius)] *
             tmp[static_cast<std::size_t>(reflect(i + t, h) * w + j)];
      out[static_cast<std::size_t>(i * w + j)] = s;
    }
  return out;
}

}  // namespace

double ssim2d(const float* x, const float* y, std::int64_t h, std::int64_t w, double data_range) {
  DDNET_CHECK(h >= 2 * kRadius + 1 && w >= 2 * kRadius + 1, "ssim: a ", h, "x", w,
              " image is smaller than the 11x11 window");
  DDNET_CHECK(data_range > 0, "ssim: data range must be positive, got ", data_range);
  const std::size_t n = static_cast<std::size_t>(h * w);
  std::vector<double> a(n), b(n), aa(n), bb(n), ab(n);
  for (std::size_t i = 0; i < n; ++i) {
    a[i] = x[i];
    b[i] = y[i];
    aa[i] = a[i] * a[i];
    bb[i] = b[i] * b[i];
    ab[i] = a[i] * b[i];
  }
  const auto ua = gauss_filter(a, h, w), ub = gauss_filter(b, h, w), uaa = gauss_filter(aa, h, w),
             ubb = gauss_filter(bb, h, w), uab = gauss_filter(ab, h, w);
  const double c1 = (0.01 * data_range) * (0.01 * data_range),
               c2 = (0.03 * data_range) * (0.03 * data_range);
  double sum = 0;
  for (std::int64_t i = kRadius; i < h - kRadius; ++i)
    for (std::int64_t j = kRadius; j < w - kRadius; ++j) {
      const std::size_t k = static_cast<std::size_t>(i * w + j);
      const double va = uaa[k] - ua[k] * ua[k], vb = ubb[k] - ub[k] * ub[k],
                   vab = uab[k] - ua[k] * ub[k];
      sum += ((2 * ua[k] * ub[k] + c1) * (2 * vab + c2)) /
             ((ua[k] * ua[k] + ub[k] * ub[k] + c1) * (va + vb + c2));
    }
  return sum / static_cast<double>((h - 2 * kRadius) * (w - 2 * kRadius));
}

std::vector<SliceScores> score_slices(const float* x, const float* ref, std::int64_t d,
                                      std::int64_t h, std::int64_t w) {
  DDNET_CHECK(d >= 1 && h >= 1 && w >= 1, "scores: empty volume");
  const std::int64_t n = d * h * w, plane = h * w;
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (std::int64_t i = 0; i < n; ++i) {
    lo = std::min(lo, static_cast<double>(ref[i]));
    hi = std::max(hi, static_cast<double>(ref[i]));
  }
  const double range = hi > lo ? hi - lo : 1.0;
  const kernels::MsssimOptions ms = kernels::MsssimOptions::reference();
  const bool ms_ok = h >= 16 && w >= 16;
  std::vector<SliceScores> out(static_cast<std::size_t>(d));
  NoGradGuard no_grad;
  for (std::int64_t k = 0; k < d; ++k) {
    Tensor a = Tensor::empty(Shape{1, 1, h, w}), b = Tensor::empty(Shape{1, 1, h, w});
    float* pa = a.data<float>();
    float* pb = b.data<float>();
    double sq_hu = 0, sq = 0;
    for (std::int64_t i = 0; i < plane; ++i) {
      const double xv = x[k * plane + i], rv = ref[k * plane + i];
      pa[i] = static_cast<float>((xv - lo) / range);
      pb[i] = static_cast<float>((rv - lo) / range);
      sq_hu += (xv - rv) * (xv - rv);
      const double ds = static_cast<double>(pa[i]) - static_cast<double>(pb[i]);
      sq += ds * ds;
    }
    SliceScores& s = out[static_cast<std::size_t>(k)];
    s.mse = sq / static_cast<double>(plane);
    s.psnr = s.mse > 0 ? 10 * std::log10(1.0 / s.mse) : std::numeric_limits<double>::infinity();
    s.rmse_hu = std::sqrt(sq_hu / static_cast<double>(plane));
    s.ssim = h >= 2 * kRadius + 1 && w >= 2 * kRadius + 1
                 ? ssim2d(pa, pb, h, w, 1.0)
                 : std::numeric_limits<double>::quiet_NaN();
    s.msssim = ms_ok ? F::msssim(a, b, ms).item() : std::numeric_limits<double>::quiet_NaN();
  }
  return out;
}

Stat summarise(const std::vector<double>& values) {
  Stat s;
  double sum = 0;
  for (const double v : values)
    if (std::isfinite(v)) {
      sum += v;
      ++s.n;
    }
  if (s.n == 0) {
    s.mean = s.std = std::numeric_limits<double>::quiet_NaN();
    return s;
  }
  s.mean = sum / static_cast<double>(s.n);
  double var = 0;
  for (const double v : values)
    if (std::isfinite(v)) var += (v - s.mean) * (v - s.mean);
  s.std = std::sqrt(var / static_cast<double>(s.n));
  return s;
}

Scores summarise(const std::vector<SliceScores>& slices) {
  auto pick = [&](double SliceScores::*field) {
    std::vector<double> v;
    v.reserve(slices.size());
    for (const SliceScores& s : slices) v.push_back(s.*field);
    return summarise(v);
  };
  return {pick(&SliceScores::mse), pick(&SliceScores::psnr), pick(&SliceScores::ssim),
          pick(&SliceScores::msssim), pick(&SliceScores::rmse_hu)};
}

Scores score_volume(const float* x, const float* ref, std::int64_t d, std::int64_t h,
                    std::int64_t w) {
  return summarise(score_slices(x, ref, d, h, w));
}

}  // namespace ddnet::models
