// Low-dose simulation: Joseph forward projector, Poisson + electronic noise on the transmission
// data (Philox streams keyed by slice), fan -> parallel rebinning, spatial-domain ramp /
// Shepp-Logan filtering and pixel-driven back-projection.
#include "data/lowdose.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "engine/error.h"
#include "engine/interrupt.h"
#include "engine/parallel.h"
#include "engine/philox.h"

namespace ddnet::data {

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr int kMaxViews = 100000, kMaxDetectors = 100000;

bool finite_positive(double x) {
  return std::isfinite(x) && x > 0;
}

Beam parse_beam(const std::string& s) {
  if (s == "parallel") return Beam::parallel;
  if (s == "fan") return Beam::fan;
  DDNET_FAIL("LowDoseOptions.geometry must be parallel or fan, got '", s, "'");
}

Filter parse_filter(const std::string& s) {
  if (s == "ramp") return Filter::ramp;
  if (s == "shepp-logan") return Filter::shepp_logan;
  DDNET_FAIL("LowDoseOptions.filter must be ramp or shepp-logan, got '", s, "'");
}

// q(t) = a + b * t in float, the one expression the range search and the loops share.
inline float affine(float a, float b, std::int32_t t) {
  return a + b * static_cast<float>(t);
}

// [first, end): the t in [0, n) with 0 <= q(t) < limit. q is monotone in t, so this is an
// interval; the estimate from the real bounds is widened by one and then settled with the exact
// predicate.
void step_range(float a, float b, float limit, std::int32_t n, std::int32_t* first,
                std::int32_t* end) {
  const auto inside = [&](std::int32_t t) {
    const float q = affine(a, b, t);
    return q >= 0 && q < limit;
  };
  const double da = a, db = b, dl = limit;
  double lo = 0, hi = n;
  if (b > 0) {
    lo = -da / db;
    hi = (dl - da) / db;
  } else if (b < 0) {
    lo = (dl - da) / db;
    hi = -da / db;
  } else if (!(a >= 0 && a < limit)) {
    *first = *end = 0;
    return;
  }
  const double top = n;
  std::int32_t f = static_cast<std::int32_t>(std::clamp(std::floor(lo) - 1, 0.0, top));
  std::int32_t e = static_cast<std::int32_t>(std::clamp(std::ceil(hi) + 1, 0.0, top));
  while (f < e && !inside(f)) ++f;
  while (e > f && !inside(e - 1)) --e;
  if (f < e) {
    while (f > 0 && inside(f - 1)) --f;
    while (e < n && inside(e)) ++e;
  }
  *first = f;
  *end = e;
}

// Linear interpolation along padded lines, first pass: for the steps t in [first, end), the
// sample below q(t) in line t (index t * stride + floor(q)) and the weight of the one above.
// q is clamped to [0, last + 1) so the reads stay inside even where rounding disagrees with
// step_range. Plain float arithmetic: the compiler vectorises it; the gathers that use it
// cannot be (no gathers before AVX2), which is why the passes are split.
void sample_positions(float a, float b, std::int32_t first, std::int32_t end, std::int32_t stride,
                      std::int32_t last, std::int32_t* index, float* frac) {
  const float top = std::nextafter(static_cast<float>(last + 1), 0.f);
  for (std::int32_t t = first; t < end; ++t) {
    const float q = std::min(std::max(affine(a, b, t), 0.f), top);
    const std::int32_t i0 = static_cast<std::int32_t>(q);
    index[t - first] = t * stride + i0;
    frac[t - first] = q - static_cast<float>(i0);
  }
}

// ---- Random numbers: one Philox stream per (seed, stream, tag), 4 uniforms per block ----

class Uniforms {
 public:
  Uniforms(std::uint64_t seed, std::uint64_t stream, std::uint32_t tag)
      : k0_(static_cast<std::uint32_t>(seed)),
        k1_(static_cast<std::uint32_t>(seed >> 32)),
        c2_(static_cast<std::uint32_t>(stream)),
        c3_((static_cast<std::uint32_t>(stream >> 32) & 0xFFFFu) | (tag << 16)) {}
  // (0, 1), 32 random bits.
  double next() {
    if (used_ == 4) {
      block_ =
          philox::philox4x32_10(static_cast<std::uint32_t>(counter_),
                                static_cast<std::uint32_t>(counter_ >> 32), c2_, c3_, k0_, k1_);
      ++counter_;
      used_ = 0;
    }
    return (static_cast<double>(block_.w[used_++]) + 0.5) * (1.0 / 4294967296.0);
  }

 private:
  std::uint32_t k0_, k1_, c2_, c3_;
  std::uint64_t counter_ = 0;
  philox::Block block_{};
  int used_ = 4;
};

// log(k!) for integer k >= 0: a table, then Stirling's series (error < 1e-10 from k = 10).
double log_factorial(double k) {
  static const double table[10] = {0.0,
                                   0.0,
                                   0.6931471805599453,
                                   1.791759469228055,
                                   3.1780538303479458,
                                   4.787491742782046,
                                   6.579251212010101,
                                   8.525161361065415,
                                   10.60460290274525,
                                   12.801827480081469};
  if (k < 10) return table[static_cast<int>(k)];
  const double r = 1.0 / k, r2 = r * r;
  return k * std::log(k) - k + 0.5 * std::log(2 * kPi * k) +
         r * (1.0 / 12.0 - r2 * (1.0 / 360.0 - r2 / 1260.0));
}

// A Poisson draw of mean lambda: inversion below 10, Hoermann's transformed rejection (PTRS,
// 1993) above; both exact in distribution.
double poisson(double lambda, Uniforms& u) {
  if (!(lambda > 0)) return 0;
  if (lambda < 10) {
    const double x = u.next();
    double p = std::exp(-lambda), cdf = p, k = 0;
    while (x > cdf && k < 1000) {
      k += 1;
      p *= lambda / k;
      cdf += p;
    }
    return k;
  }
  const double slam = std::sqrt(lambda);
  double loglam = 0;  // needed by the few draws that reach the exact test
  const double b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b;
  const double inv_alpha = 1.1239 + 1.1328 / (b - 3.4), v_r = 0.9277 - 3.6224 / (b - 2);
  for (;;) {
    const double uu = u.next() - 0.5, v = u.next();
    const double us = 0.5 - std::abs(uu);
    const double k = std::floor((2 * a / us + b) * uu + lambda + 0.43);
    if (us >= 0.07 && v <= v_r) return k;
    if (k < 0 || (us < 0.013 && v > us)) continue;
    if (loglam == 0) loglam = std::log(lambda);
    if (std::log(v) + std::log(inv_alpha) - std::log(a / (us * us) + b) <=
        -lambda + k * loglam - log_factorial(k))
      return k;
  }
}

// Standard normals by Box-Muller, two per pair of uniforms.
class Normals {
 public:
  explicit Normals(Uniforms u) : u_(u) {}
  double next() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double r = std::sqrt(-2 * std::log(u_.next())), phi = 2 * kPi * u_.next();
    spare_ = r * std::sin(phi);
    has_spare_ = true;
    return r * std::cos(phi);
  }

 private:
  Uniforms u_;
  double spare_ = 0;
  bool has_spare_ = false;
};

void noise_unchecked(float* sinogram, std::int64_t n, const LowDoseOptions& o,
                     std::uint64_t stream) {
  const double n0 = o.incident_photons * o.dose_fraction;
  Uniforms counts(o.seed, stream, 0);
  Normals electronic(Uniforms(o.seed, stream, 1));
  for (std::int64_t i = 0; i < n; ++i) {
    double detected = poisson(n0 * std::exp(-static_cast<double>(sinogram[i])), counts);
    if (o.electronic_noise > 0) detected += o.electronic_noise * electronic.next();
    sinogram[i] = static_cast<float>(std::log(n0 / std::max(detected, 1.0)));
  }
}

}  // namespace

void LowDoseOptions::validate() const {
  parse_beam(geometry);
  parse_filter(filter);
  DDNET_CHECK(std::isfinite(dose_fraction) && dose_fraction > 0 && dose_fraction <= 1,
              "LowDoseOptions.dose_fraction must be in (0, 1], got ", dose_fraction);
  DDNET_CHECK(finite_positive(incident_photons) && incident_photons <= 1e15,
              "LowDoseOptions.incident_photons must be in (0, 1e15], got ", incident_photons);
  DDNET_CHECK(std::isfinite(electronic_noise) && electronic_noise >= 0,
              "LowDoseOptions.electronic_noise must be >= 0, got ", electronic_noise);
  DDNET_CHECK(views >= 0 && views <= kMaxViews, "LowDoseOptions.views must be in [0, ", kMaxViews,
              "] (0 = auto), got ", views);
  DDNET_CHECK(geometry != "fan" || views % 2 == 0,
              "LowDoseOptions.views must be even for the fan geometry (360 deg, rebinned to two "
              "halves), got ",
              views);
  DDNET_CHECK(detectors >= 0 && detectors <= kMaxDetectors,
              "LowDoseOptions.detectors must be in [0, ", kMaxDetectors, "] (0 = auto), got ",
              detectors);
  DDNET_CHECK(std::isfinite(detector_pitch) && detector_pitch >= 0,
              "LowDoseOptions.detector_pitch must be >= 0 mm (0 = auto), got ", detector_pitch);
  DDNET_CHECK(finite_positive(mu_water), "LowDoseOptions.mu_water must be > 0 (1/mm), got ",
              mu_water);
  DDNET_CHECK(finite_positive(source_to_isocentre),
              "LowDoseOptions.source_to_isocentre must be > 0 mm, got ", source_to_isocentre);
  DDNET_CHECK(std::isfinite(source_to_detector) && source_to_detector > source_to_isocentre,
              "LowDoseOptions.source_to_detector must be > source_to_isocentre (",
              source_to_isocentre, " mm), got ", source_to_detector);
  DDNET_CHECK(first_slice >= 0, "LowDoseOptions.first_slice must be >= 0, got ", first_slice);
}

Geometry make_geometry(std::int64_t rows, std::int64_t cols, double pixel_y, double pixel_x,
                       const LowDoseOptions& o) {
  o.validate();
  DDNET_CHECK(rows > 0 && cols > 0, "low-dose simulation: empty image (", rows, " x ", cols, ")");
  DDNET_CHECK(finite_positive(pixel_y) && finite_positive(pixel_x),
              "low-dose simulation: in-plane spacing must be > 0 mm, got (", pixel_y, ", ", pixel_x,
              ")");
  Geometry g;
  g.beam = parse_beam(o.geometry);
  g.filter = parse_filter(o.filter);
  g.rows = rows;
  g.cols = cols;
  g.pixel_y = pixel_y;
  g.pixel_x = pixel_x;
  const double pixel = std::min(pixel_x, pixel_y);
  const double half_diagonal =
      0.5 * std::hypot(static_cast<double>(rows) * pixel_y, static_cast<double>(cols) * pixel_x);
  const int auto_views = static_cast<int>(std::min<double>(
      kMaxViews / 2, std::ceil(kPi / 2 * static_cast<double>(std::max(rows, cols)))));
  // Bins on either side of the central one so that |position| <= half_diagonal plus a margin.
  const auto cover = [](double half_width, double pitch) {
    const double half = std::ceil(half_width / pitch) + 1;
    return static_cast<int>(std::min<double>(kMaxDetectors, 2 * half + 1));
  };
  if (g.beam == Beam::parallel) {
    g.views = o.views > 0 ? o.views : auto_views;
    g.detector_pitch = o.detector_pitch > 0 ? o.detector_pitch : pixel;
    g.detectors = o.detectors > 0 ? o.detectors : cover(half_diagonal, g.detector_pitch);
    g.parallel_views = g.views;
    g.parallel_detectors = g.detectors;
    g.parallel_pitch = g.detector_pitch;
    return g;
  }
  const double sid = o.source_to_isocentre, sdd = o.source_to_detector;
  DDNET_CHECK(half_diagonal < std::min(sid, sdd - sid),
              "low-dose simulation: the image (half diagonal ", half_diagonal,
              " mm) does not fit between the source and the detector; raise "
              "LowDoseOptions.source_to_isocentre (",
              sid, " mm) or source_to_detector (", sdd, " mm)");
  g.views = o.views > 0 ? o.views : 2 * auto_views;
  g.source_to_isocentre = sid;
  const double pitch_mm = o.detector_pitch > 0 ? o.detector_pitch : pixel * sdd / sid;
  g.detector_pitch = pitch_mm / sdd;  // equiangular: radians between bins
  g.parallel_views = g.views / 2;
  g.parallel_pitch = sid * g.detector_pitch;
  g.parallel_detectors = cover(half_diagonal, g.parallel_pitch);
  while (g.parallel_detectors > 1 &&
         0.5 * (g.parallel_detectors - 1) * g.parallel_pitch >= 0.999 * sid)
    g.parallel_detectors -= 2;
  const double max_fan_angle = std::asin(0.5 * (g.parallel_detectors - 1) * g.parallel_pitch / sid);
  g.detectors = o.detectors > 0 ? o.detectors : cover(max_fan_angle, g.detector_pitch);
  return g;
}

Projector::Projector(const Geometry& g) : g_(g) {
  DDNET_CHECK(g.rows > 0 && g.cols > 0 && g.views > 0 && g.detectors > 0 && g.parallel_views > 0 &&
                  g.parallel_detectors > 0 && finite_positive(g.pixel_x) &&
                  finite_positive(g.pixel_y) && finite_positive(g.detector_pitch) &&
                  finite_positive(g.parallel_pitch),
              "Projector: incomplete geometry; build it with make_geometry");
  DDNET_CHECK(g.beam == Beam::parallel ||
                  (g.parallel_views * 2 == g.views && finite_positive(g.source_to_isocentre)),
              "Projector: a fan geometry needs an even number of views and source_to_isocentre");
  DDNET_CHECK((g.rows + 2) * (g.cols + 2) < (std::int64_t{1} << 31), "Projector: a slice of ",
              g.rows, " x ", g.cols, " pixels is too large");
  const double px = g.pixel_x, py = g.pixel_y;
  const double cx = 0.5 * static_cast<double>(g.cols - 1),
               cy = 0.5 * static_cast<double>(g.rows - 1);

  // Rays, (views, detectors): each the line x cos(theta) + y sin(theta) = u.
  rays_.resize(static_cast<std::size_t>(g.sinogram_size()));
  const double centre = 0.5 * (g.detectors - 1);
  for (int v = 0; v < g.views; ++v) {
    for (int d = 0; d < g.detectors; ++d) {
      double theta, u;
      if (g.beam == Beam::parallel) {
        theta = kPi * v / g.views;
        u = (d - centre) * g.detector_pitch;
      } else {
        // Source at angle beta; the ray at fan angle gamma is the parallel ray (beta + gamma,
        // source_to_isocentre * sin(gamma)).
        const double beta = 2 * kPi * v / g.views, gamma = (d - centre) * g.detector_pitch;
        theta = beta + gamma;
        u = g.source_to_isocentre * std::sin(gamma);
      }
      const double c = std::cos(theta), s = std::sin(theta);
      Ray& r = rays_[static_cast<std::size_t>(v) * static_cast<std::size_t>(g.detectors) +
                     static_cast<std::size_t>(d)];
      double a, b;
      if (px * std::abs(c) <= py * std::abs(s)) {
        // Steps over columns j (x fixed), interpolating in rows: padded row index
        // y / py + cy + 1 with y = (u - x cos) / sin.
        r.along_cols = true;
        a = (u + cx * px * c) / (s * py) + cy + 1;
        b = -px * c / (s * py);
        r.weight = static_cast<float>(px / std::abs(s));
      } else {
        r.along_cols = false;
        a = (u + cy * py * s) / (c * px) + cx + 1;
        b = -py * s / (c * px);
        r.weight = static_cast<float>(py / std::abs(c));
      }
      r.a = static_cast<float>(a);
      r.b = static_cast<float>(b);
      const std::int64_t last = r.along_cols ? g.rows : g.cols,
                         steps = r.along_cols ? g.cols : g.rows;
      step_range(r.a, r.b, static_cast<float>(last + 1), static_cast<std::int32_t>(steps), &r.first,
                 &r.end);
    }
  }

  cos_.resize(static_cast<std::size_t>(g.parallel_views));
  sin_.resize(cos_.size());
  for (int v = 0; v < g.parallel_views; ++v) {
    const double theta = kPi * v / g.parallel_views;
    cos_[static_cast<std::size_t>(v)] = std::cos(theta);
    sin_[static_cast<std::size_t>(v)] = std::sin(theta);
  }

  // Filter taps h[n] * pitch (the discrete convolution's quadrature weight folded in):
  // ramp h[0] = 1 / (4 d^2), h[odd n] = -1 / (n pi d)^2, h[even n] = 0 (Ram-Lak);
  // Shepp-Logan h[n] = -2 / (pi^2 d^2 (4 n^2 - 1)).
  const double d = g.parallel_pitch;
  kernel_.resize(static_cast<std::size_t>(g.parallel_detectors));
  for (std::size_t n = 0; n < kernel_.size(); ++n) {
    const double nn = static_cast<double>(n);
    double h;
    if (g.filter == Filter::ramp)
      h = n == 0 ? 1 / (4 * d) : (n % 2 == 1 ? -1 / (nn * nn * kPi * kPi * d) : 0.0);
    else
      h = -2 / (kPi * kPi * d * (4 * nn * nn - 1));
    kernel_[n] = static_cast<float>(h);
  }

  // Fan -> parallel: the parallel ray (theta, t) is the fan ray gamma = asin(t / R),
  // beta = theta - gamma, and also gamma' = -gamma, beta' = theta + pi + gamma.
  if (g.beam == Beam::fan) {
    const double dbeta = 2 * kPi / g.views, alpha = g.detector_pitch;
    const double pcentre = 0.5 * (g.parallel_detectors - 1);
    rebin_.resize(2 * static_cast<std::size_t>(g.parallel_detectors));
    for (int k = 0; k < g.parallel_detectors; ++k) {
      const double t = (k - pcentre) * g.parallel_pitch;
      const double gamma = std::asin(std::clamp(t / g.source_to_isocentre, -1.0, 1.0));
      for (int side = 0; side < 2; ++side) {
        const double gam = side == 0 ? gamma : -gamma;
        const double view = side == 0 ? -gamma / dbeta : 0.5 * g.views + gamma / dbeta;
        const double bin = gam / alpha + centre;
        FanTap& tap = rebin_[2 * static_cast<std::size_t>(k) + static_cast<std::size_t>(side)];
        const double view_floor = std::floor(view), bin_floor = std::floor(bin);
        tap.view_offset = static_cast<std::int64_t>(view_floor);
        tap.view_frac = static_cast<float>(view - view_floor);
        const double frac = bin - bin_floor;
        const std::int64_t b0 = static_cast<std::int64_t>(bin_floor), b1 = b0 + 1;
        const auto on_detector = [&](std::int64_t b) { return b >= 0 && b < g.detectors; };
        const auto clamp_bin = [&](std::int64_t b) {
          return static_cast<std::int32_t>(std::clamp<std::int64_t>(b, 0, g.detectors - 1));
        };
        tap.bin0 = clamp_bin(b0);
        tap.bin1 = clamp_bin(b1);
        tap.w0 = on_detector(b0) ? static_cast<float>(1 - frac) : 0.f;
        tap.w1 = on_detector(b1) ? static_cast<float>(frac) : 0.f;
      }
    }
  }
}

void Projector::forward(const float* image, float* sinogram) const {
  const std::int64_t rows = g_.rows, cols = g_.cols;
  // The image twice, each line padded with a zero at both ends along the interpolated axis:
  // by_row (rows, cols + 2) for rays stepping over rows, by_col (cols, rows + 2) for the others.
  std::vector<float> by_row(static_cast<std::size_t>(rows * (cols + 2)), 0.f);
  std::vector<float> by_col(static_cast<std::size_t>(cols * (rows + 2)), 0.f);
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < cols; ++j) {
      const float x = image[i * cols + j];
      by_row[static_cast<std::size_t>(i * (cols + 2) + j + 1)] = x;
      by_col[static_cast<std::size_t>(j * (rows + 2) + i + 1)] = x;
    }
  const std::int32_t most = static_cast<std::int32_t>(std::max(rows, cols));
  std::vector<std::int32_t> index(static_cast<std::size_t>(most));
  std::vector<float> frac(static_cast<std::size_t>(most));
  for (std::size_t r = 0; r < rays_.size(); ++r) {
    const Ray& ray = rays_[r];
    const float* base = ray.along_cols ? by_col.data() : by_row.data();
    const std::int32_t last = static_cast<std::int32_t>(ray.along_cols ? rows : cols);
    sample_positions(ray.a, ray.b, ray.first, ray.end, last + 2, last, index.data(), frac.data());
    float sum = 0;
    for (std::int32_t m = 0; m < ray.end - ray.first; ++m) {
      const float* p = base + index[static_cast<std::size_t>(m)];
      sum += p[0] + frac[static_cast<std::size_t>(m)] * (p[1] - p[0]);
    }
    sinogram[r] = sum * ray.weight;
  }
}

void Projector::rebin(const float* fan, float* parallel) const {
  DDNET_CHECK(g_.beam == Beam::fan, "Projector::rebin: the geometry is not a fan beam");
  const std::int64_t views = g_.views, bins = g_.detectors, pbins = g_.parallel_detectors;
  for (std::int64_t v = 0; v < g_.parallel_views; ++v)
    for (std::int64_t k = 0; k < pbins; ++k) {
      float sum = 0;
      for (int side = 0; side < 2; ++side) {
        const FanTap& tap = rebin_[static_cast<std::size_t>(2 * k + side)];
        const std::int64_t v0 = ((v + tap.view_offset) % views + views) % views;
        const std::int64_t v1 = v0 + 1 == views ? 0 : v0 + 1;
        const float* r0 = fan + v0 * bins;
        const float* r1 = fan + v1 * bins;
        const float a = tap.w0 * r0[tap.bin0] + tap.w1 * r0[tap.bin1];
        const float b = tap.w0 * r1[tap.bin0] + tap.w1 * r1[tap.bin1];
        sum += a + tap.view_frac * (b - a);
      }
      parallel[v * pbins + k] = 0.5f * sum;
    }
}

void Projector::filter(const float* sinogram, float* filtered) const {
  const std::int64_t n = g_.parallel_detectors, stride = n + 2;
  const float* h = kernel_.data();
  const std::int64_t step = g_.filter == Filter::ramp ? 2 : 1;  // the ramp's even taps are 0
  for (std::int64_t v = 0; v < g_.parallel_views; ++v) {
    const float* p = sinogram + v * n;
    float* row = filtered + v * stride;
    row[0] = row[n + 1] = 0;
    float* q = row + 1;
    for (std::int64_t k = 0; k < n; ++k) q[k] = h[0] * p[k];
    // q[k] = sum_m h[|k - m|] p[m]: one lag at a time, as two vectorisable axpys.
    for (std::int64_t lag = 1; lag < n; lag += step) {
      const float w = h[lag];
      for (std::int64_t k = lag; k < n; ++k) q[k] += w * p[k - lag];
      for (std::int64_t k = 0; k < n - lag; ++k) q[k] += w * p[k + lag];
    }
  }
}

void Projector::back_project(const float* filtered, float* image) const {
  const std::int64_t rows = g_.rows, cols = g_.cols, n = g_.parallel_detectors, stride = n + 2;
  const double px = g_.pixel_x, py = g_.pixel_y, du = g_.parallel_pitch;
  const double cx = 0.5 * static_cast<double>(cols - 1), cy = 0.5 * static_cast<double>(rows - 1);
  const double centre = 0.5 * static_cast<double>(n - 1) + 1;  // + 1: the padding
  std::fill(image, image + rows * cols, 0.f);
  std::vector<std::int32_t> index(static_cast<std::size_t>(cols));
  std::vector<float> frac(static_cast<std::size_t>(cols));
  const std::int32_t last = static_cast<std::int32_t>(n), width = static_cast<std::int32_t>(cols);
  // Bands of rows against all views keep the band in cache.
  constexpr std::int64_t kBand = 16;
  for (std::int64_t i0 = 0; i0 < rows; i0 += kBand) {
    const std::int64_t i1 = std::min(rows, i0 + kBand);
    for (std::int64_t v = 0; v < g_.parallel_views; ++v) {
      const double c = cos_[static_cast<std::size_t>(v)], s = sin_[static_cast<std::size_t>(v)];
      const float* line = filtered + v * stride;
      // Padded detector index of pixel (i, j): (x cos + y sin) / du + centre = a_i + b j.
      const float b = static_cast<float>(px * c / du);
      for (std::int64_t i = i0; i < i1; ++i) {
        const float a = static_cast<float>(
            (-cx * px * c + (static_cast<double>(i) - cy) * py * s) / du + centre);
        std::int32_t first, end;
        step_range(a, b, static_cast<float>(last + 1), width, &first, &end);
        sample_positions(a, b, first, end, 0, last, index.data(), frac.data());
        float* out = image + i * cols + first;
        for (std::int32_t m = 0; m < end - first; ++m) {
          const float* p = line + index[static_cast<std::size_t>(m)];
          out[m] += p[0] + frac[static_cast<std::size_t>(m)] * (p[1] - p[0]);
        }
      }
    }
  }
  const float scale = static_cast<float>(kPi / g_.parallel_views);
  for (std::int64_t k = 0; k < rows * cols; ++k) image[k] *= scale;
}

void Projector::reconstruct(const float* sinogram, float* image) const {
  const std::int64_t pviews = g_.parallel_views, pbins = g_.parallel_detectors;
  std::vector<float> filtered(static_cast<std::size_t>(pviews * (pbins + 2)));
  if (g_.beam == Beam::fan) {
    std::vector<float> parallel(static_cast<std::size_t>(pviews * pbins));
    rebin(sinogram, parallel.data());
    filter(parallel.data(), filtered.data());
  } else {
    filter(sinogram, filtered.data());
  }
  back_project(filtered.data(), image);
}

std::vector<float> forward_project(const float* image, const Geometry& g) {
  const Projector p(g);
  std::vector<float> sinogram(static_cast<std::size_t>(g.sinogram_size()));
  p.forward(image, sinogram.data());
  return sinogram;
}

std::vector<float> filtered_back_project(const float* sinogram, const Geometry& g) {
  const Projector p(g);
  std::vector<float> image(static_cast<std::size_t>(g.rows * g.cols));
  p.reconstruct(sinogram, image.data());
  return image;
}

void add_transmission_noise(float* sinogram, std::int64_t n, const LowDoseOptions& o,
                            std::uint64_t stream) {
  o.validate();
  DDNET_CHECK(n >= 0, "add_transmission_noise: negative size ", n);
  noise_unchecked(sinogram, n, o, stream);
}

SimulatedPair simulate_low_dose(const Volume& ndct, const LowDoseOptions& o) {
  o.validate();
  DDNET_CHECK(ndct.slices > 0 && ndct.rows > 0 && ndct.cols > 0,
              "simulate_low_dose: empty volume (", ndct.slices, ", ", ndct.rows, ", ", ndct.cols,
              ")");
  DDNET_CHECK(static_cast<std::int64_t>(ndct.voxels.size()) == ndct.numel(),
              "simulate_low_dose: volume has ", ndct.voxels.size(), " voxels for shape (",
              ndct.slices, ", ", ndct.rows, ", ", ndct.cols, ")");
  for (std::int64_t k = 0; k < ndct.numel(); ++k) {
    const float x = ndct.voxels[static_cast<std::size_t>(k)];
    DDNET_CHECK(std::isfinite(x), "simulate_low_dose: voxel (slice ", k / ndct.slice_size(),
                ", row ", k % ndct.slice_size() / ndct.cols, ", col ", k % ndct.cols, ") of ",
                ndct.source.empty() ? std::string("the volume") : ndct.source, " is ", x,
                ", not a finite HU value");
  }
  const Geometry g = make_geometry(ndct.rows, ndct.cols, ndct.spacing[1], ndct.spacing[2], o);
  const Projector projector(g);

  SimulatedPair out;
  for (Volume* v : {&out.low, &out.standard}) {
    v->slices = ndct.slices;
    v->rows = ndct.rows;
    v->cols = ndct.cols;
    v->spacing = ndct.spacing;
    v->origin = ndct.origin;
    v->direction = ndct.direction;
    v->source = ndct.source;
    v->voxels.assign(ndct.voxels.size(), 0.f);
  }
  const std::int64_t area = ndct.slice_size(), n = g.sinogram_size();
  const double mu_water = o.mu_water;
  // Nothing below throws (validated above): an exception must not leave a parallel region.
  parallel_for(ndct.slices, 1, [&](std::int64_t begin, std::int64_t end) {
    std::vector<float> mu(static_cast<std::size_t>(area));
    std::vector<float> clean(static_cast<std::size_t>(n)), noisy(static_cast<std::size_t>(n));
    for (std::int64_t k = begin; k < end; ++k) {
      if (interrupt_signal() != 0) break;  // checked after the region (no throw inside it)
      const float* hu = ndct.slice(k);
      for (std::int64_t p = 0; p < area; ++p)
        mu[static_cast<std::size_t>(p)] =
            static_cast<float>(std::max(0.0, mu_water * (1 + static_cast<double>(hu[p]) / 1000)));
      projector.forward(mu.data(), clean.data());
      noisy = clean;
      noise_unchecked(noisy.data(), n, o, static_cast<std::uint64_t>(o.first_slice + k));
      const std::pair<const std::vector<float>*, Volume*> jobs[2] = {{&clean, &out.standard},
                                                                     {&noisy, &out.low}};
      for (const auto& [sinogram, volume] : jobs) {
        float* slice = volume->slice(k);
        projector.reconstruct(sinogram->data(), slice);
        for (std::int64_t p = 0; p < area; ++p)
          slice[p] = static_cast<float>(1000 * (static_cast<double>(slice[p]) / mu_water - 1));
      }
    }
  });
  check_interrupted("simulate_low_dose");
  return out;
}

}  // namespace ddnet::data
