// The low-dose simulation: the projector against analytic line integrals, FBP reproducing a
// phantom (parallel and fan), Poisson statistics and the 1/dose noise law, determinism per seed
// (thread count and slabs included), and option errors that name the field.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>
#if defined(_OPENMP)
#include <omp.h>
#endif

#include "data/lowdose.h"
#include "engine/error.h"

using namespace ddnet;
using namespace ddnet::data;
using Catch::Matchers::Contains;

namespace {

constexpr double kPi = 3.14159265358979323846;

// Head-like phantom in normalised coordinates (X, Y) in [-1, 1] across the image: a water disk
// (0 HU, radius 0.85) in air (-1000 HU), with ellipses adding +1000 (bone), +100, -100 and -500.
struct Ellipse {
  double cx, cy, ax, ay, angle, hu;
};
const Ellipse kEllipses[] = {{0.3, 0.2, 0.2, 0.12, 0.5, 1000},
                             {-0.35, -0.1, 0.15, 0.25, 0.0, 100},
                             {0.0, -0.45, 0.25, 0.1, 0.3, -100},
                             {-0.2, 0.45, 0.12, 0.12, 0.0, -500}};

// Which shapes contain (X, Y): bit 0 the disk, bit e + 1 ellipse e (none when `disk_only`).
int label(double x, double y, bool disk_only) {
  int l = x * x + y * y < 0.85 * 0.85 ? 1 : 0;
  if (disk_only) return l;
  for (int e = 0; e < 4; ++e) {
    const Ellipse& el = kEllipses[e];
    const double c = std::cos(el.angle), s = std::sin(el.angle);
    const double dx = x - el.cx, dy = y - el.cy;
    const double u = (c * dx + s * dy) / el.ax, v = (-s * dx + c * dy) / el.ay;
    if (u * u + v * v < 1) l |= 2 << e;
  }
  return l;
}

double hu_of(int l) {
  if (!(l & 1)) return -1000;
  double hu = 0;
  for (int e = 0; e < 4; ++e)
    if (l & (2 << e)) hu += kEllipses[e].hu;
  return hu;
}

// Normalised coordinate of (fractional) pixel index p of n.
double norm(double p, std::int64_t n) {
  return (p - 0.5 * static_cast<double>(n - 1)) / (0.5 * static_cast<double>(n));
}

// Each slice the phantom, every pixel the mean of 4 x 4 samples (anti-aliased edges).
Volume phantom(std::int64_t slices, std::int64_t n, bool disk_only = false, double pixel_y = 1,
               double pixel_x = 1) {
  Volume v(slices, n, n);
  v.spacing = {2.0, pixel_y, pixel_x};
  v.origin = {-3, 4, 5};
  v.source = "phantom";
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      double sum = 0;
      for (int a = 0; a < 4; ++a)
        for (int b = 0; b < 4; ++b)
          sum += hu_of(label(norm(static_cast<double>(j) - 0.375 + 0.25 * b, n),
                             norm(static_cast<double>(i) - 0.375 + 0.25 * a, n), disk_only));
      for (std::int64_t k = 0; k < slices; ++k) v.at(k, i, j) = static_cast<float>(sum / 16);
    }
  return v;
}

struct Errors {
  double bias = 0, interior = 0, edge = 0;  // HU: mean and RMSE inside the disk, RMSE at edges
};

// Pixels whose label is constant over +-2.5 pixels are interior; the others are edge pixels.
Errors reconstruction_errors(const Volume& rec, const Volume& truth) {
  const std::int64_t n = truth.rows;
  double sum = 0, sq_in = 0, sq_edge = 0;
  long count_in = 0, count_edge = 0;
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      const double x = static_cast<double>(j), y = static_cast<double>(i);
      const int l = label(norm(x, n), norm(y, n), false);
      bool interior = true;
      for (int a = -3; a <= 3 && interior; ++a)
        for (int b = -3; b <= 3 && interior; ++b)
          interior = label(norm(x + b * 2.5 / 3, n), norm(y + a * 2.5 / 3, n), false) == l;
      const double e =
          static_cast<double>(rec.at(0, i, j)) - static_cast<double>(truth.at(0, i, j));
      if (interior && (l & 1)) {
        sum += e;
        sq_in += e * e;
        ++count_in;
      } else if (!interior) {
        sq_edge += e * e;
        ++count_edge;
      }
    }
  REQUIRE(count_in > 0);
  REQUIRE(count_edge > 0);
  return {sum / static_cast<double>(count_in), std::sqrt(sq_in / static_cast<double>(count_in)),
          std::sqrt(sq_edge / static_cast<double>(count_edge))};
}

double rms_difference(const Volume& a, const Volume& b) {
  double sq = 0;
  for (std::size_t k = 0; k < a.voxels.size(); ++k) {
    const double d = static_cast<double>(a.voxels[k]) - static_cast<double>(b.voxels[k]);
    sq += d * d;
  }
  return std::sqrt(sq / static_cast<double>(a.voxels.size()));
}

// Variance of (low - standard) over the central region (normalised radius < 0.5) of all slices.
double noise_variance(const SimulatedPair& p) {
  const std::int64_t n = p.low.rows;
  double sum = 0, sq = 0;
  long count = 0;
  for (std::int64_t k = 0; k < p.low.slices; ++k)
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        const double x = norm(static_cast<double>(j), n), y = norm(static_cast<double>(i), n);
        if (x * x + y * y >= 0.25) continue;
        const double d =
            static_cast<double>(p.low.at(k, i, j)) - static_cast<double>(p.standard.at(k, i, j));
        sum += d;
        sq += d * d;
        ++count;
      }
  const double mean = sum / static_cast<double>(count);
  return sq / static_cast<double>(count) - mean * mean;
}

}  // namespace

TEST_CASE("lowdose: forward projection matches the analytic projection of a disk", "[data]") {
  // An off-centre disk (radius 18 mm, centre (x, y) = (5, -3) mm, mu 0.02/mm) inside 64 x 64
  // pixels of 0.9 x 0.8 mm, sampled 8 x 8 per pixel: line integral 2 mu sqrt(R^2 - (u - c.n)^2).
  const std::int64_t n = 64;
  const double py = 0.9, px = 0.8, radius = 18, x0 = 5, y0 = -3, mu = 0.02;
  std::vector<float> image(static_cast<std::size_t>(n * n));
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      int inside = 0;
      for (int a = 0; a < 8; ++a)
        for (int b = 0; b < 8; ++b) {
          const double x = (static_cast<double>(j) - 31.5 + (b - 3.5) / 8) * px - x0;
          const double y = (static_cast<double>(i) - 31.5 + (a - 3.5) / 8) * py - y0;
          inside += x * x + y * y < radius * radius ? 1 : 0;
        }
      image[static_cast<std::size_t>(i * n + j)] = static_cast<float>(mu * inside / 64);
    }
  for (const char* beam : {"parallel", "fan"}) {
    SECTION(beam) {
      LowDoseOptions o;
      o.geometry = beam;
      const Geometry g = make_geometry(n, n, py, px, o);
      const std::vector<float> sinogram = forward_project(image.data(), g);
      REQUIRE(static_cast<std::int64_t>(sinogram.size()) == g.sinogram_size());
      double worst = 0, worst_centre = 0;  // |error| / (mu * pixel_x); relative, |r| < R / 2
      long checked = 0;
      for (int v = 0; v < g.views; ++v)
        for (int d = 0; d < g.detectors; ++d) {
          const double offset = d - 0.5 * (g.detectors - 1);
          // r: signed distance from the disk's centre to the ray.
          double r;
          if (g.beam == Beam::parallel) {
            const double theta = kPi * v / g.views;
            r = offset * g.detector_pitch - (x0 * std::cos(theta) + y0 * std::sin(theta));
          } else {
            // Source at sid (-sin b, cos b); the ray leaves it towards the isocentre turned by
            // the fan angle gamma: direction (sin(b + gamma), -cos(b + gamma)).
            const double beta = 2 * kPi * v / g.views, gamma = offset * g.detector_pitch;
            const double sx = -g.source_to_isocentre * std::sin(beta),
                         sy = g.source_to_isocentre * std::cos(beta);
            const double dx = std::sin(beta + gamma), dy = -std::cos(beta + gamma);
            r = (x0 - sx) * dy - (y0 - sy) * dx;
          }
          const double got = sinogram[static_cast<std::size_t>(v * g.detectors + d)];
          if (std::abs(r) > radius + 2) REQUIRE(got == 0);
          if (std::abs(r) > radius - 2) continue;  // grazing rays: the disk's pixelisation
          const double want = 2 * mu * std::sqrt(radius * radius - r * r);
          worst = std::max(worst, std::abs(got - want) / (mu * px));
          if (std::abs(r) < radius / 2)
            worst_centre = std::max(worst_centre, std::abs(got / want - 1));
          ++checked;
        }
      // Measured: worst 0.48 (parallel), 0.49 (fan) mu * pixel; central rays 0.81 % (both).
      CAPTURE(beam, worst, worst_centre, checked);
      REQUIRE(checked > 1000);
      REQUIRE(worst < 0.6);
      REQUIRE(worst_centre < 0.01);
    }
  }
}

TEST_CASE("lowdose: FBP of the noiseless projection reproduces the phantom", "[data]") {
  // Errors of the standard partner against the phantom, 64 x 64, auto views and detectors.
  // Measured (HU; bias and RMSE inside the disk away from edges, RMSE within 2.5 px of an edge):
  //   parallel ramp                        bias -0.17  interior 6.60  edge 68.8
  //   fan ramp                             bias -0.12  interior 6.03  edge 70.5
  //   parallel shepp-logan                 bias -0.13  interior 5.13  edge 76.6
  //   fan shepp-logan                      bias -0.09  interior 4.73  edge 78.0
  //   parallel ramp, 0.8 x 1.0 mm pixels   bias  0.01  interior 6.44  edge 56.4
  //   fan ramp, 1.0 x 0.7 mm pixels        bias  0.09  interior 5.55  edge 55.5
  // The interior error is mostly the ringing of the +1000 HU ellipse's edge (Gibbs), not a bias;
  // the edge error is FBP's blur of 1000 HU steps. Low vs standard at I0 = 1e15: 0.0004 HU RMS.
  struct Case {
    const char* name;
    const char* geometry;
    const char* filter;
    double pixel_y, pixel_x, interior, edge;
  };
  const Case cases[] = {{"parallel ramp", "parallel", "ramp", 1, 1, 7.5, 76},
                        {"fan ramp", "fan", "ramp", 1, 1, 7, 78},
                        {"parallel shepp-logan", "parallel", "shepp-logan", 1, 1, 6, 84},
                        {"fan shepp-logan", "fan", "shepp-logan", 1, 1, 5.5, 86},
                        {"parallel anisotropic", "parallel", "ramp", 0.8, 1.0, 7.5, 63},
                        {"fan anisotropic", "fan", "ramp", 1.0, 0.7, 6.5, 62}};
  for (const Case& c : cases) {
    SECTION(c.name) {
      const Volume truth = phantom(1, 64, false, c.pixel_y, c.pixel_x);
      LowDoseOptions o;
      o.geometry = c.geometry;
      o.filter = c.filter;
      o.incident_photons = 1e15;  // noise far below float resolution of the line integrals
      const SimulatedPair p = simulate_low_dose(truth, o);
      const Errors e = reconstruction_errors(p.standard, truth);
      CAPTURE(c.name, e.bias, e.interior, e.edge);
      CHECK(std::abs(e.bias) < 1);
      CHECK(e.interior < c.interior);
      CHECK(e.edge < c.edge);
      // At 2.5e14 photons the low-dose image is the standard one to well under a HU.
      CHECK(rms_difference(p.low, p.standard) < 0.5);
      // Geometry fields travel.
      for (const Volume* v : {&p.low, &p.standard}) {
        REQUIRE(v->slices == 1);
        REQUIRE(v->rows == 64);
        REQUIRE(v->cols == 64);
        REQUIRE(v->spacing == truth.spacing);
        REQUIRE(v->origin == truth.origin);
        REQUIRE(v->direction == truth.direction);
        REQUIRE(v->source == truth.source);
      }
    }
  }
}

TEST_CASE("lowdose: transmission noise has Poisson statistics", "[data]") {
  // A flat sinogram of line integral p: counts = N0 exp(-p') must have mean and variance
  // N0 exp(-p) (+ sigma^2 with electronic noise; + the clamp to 1 count at low means).
  struct Case {
    double photons, dose, line_integral, electronic;
  };
  for (const Case& c : {Case{2e4, 0.25, 0.0, 0},      // lambda 5000: transformed rejection
                        Case{1e5, 0.5, 7.0, 0},       // lambda 45.6
                        Case{400, 0.5, 0.0, 0},       // lambda 200
                        Case{24, 0.25, 0.0, 0},       // lambda 6: inversion, clamp at 1 count
                        Case{400, 0.25, 0.0, 10}}) {  // lambda 100 + electronic sigma 10
    LowDoseOptions o;
    o.incident_photons = c.photons;
    o.dose_fraction = c.dose;
    o.electronic_noise = c.electronic;
    o.seed = 7;
    const std::int64_t n = 40000;
    std::vector<float> sino(static_cast<std::size_t>(n), static_cast<float>(c.line_integral));
    add_transmission_noise(sino.data(), n, o, 3);
    const double n0 = c.photons * c.dose;
    double sum = 0, sq = 0;
    for (float p : sino) {
      const double counts = n0 * std::exp(-static_cast<double>(p));
      sum += counts;
      sq += counts * counts;
    }
    const double mean = sum / n, var = sq / n - mean * mean;
    const double lambda = n0 * std::exp(-c.line_integral);
    double want_mean = lambda, want_var = lambda + c.electronic * c.electronic;
    if (lambda < 10) {  // E[max(1, N)] = lambda + P(0); E[max(1, N)^2] = E[N^2] + P(0)
      const double p0 = std::exp(-lambda);
      want_mean = lambda + p0;
      want_var = lambda + lambda * lambda + p0 - want_mean * want_mean;
    }
    CAPTURE(c.photons, c.dose, c.line_integral, c.electronic, mean, want_mean, var, want_var);
    CHECK(std::abs(mean - want_mean) < 5 * std::sqrt(want_var / n) + 0.02);
    CHECK(std::abs(var / want_var - 1) < 0.05);
  }
}

TEST_CASE("lowdose: noise variance scales as 1 / dose", "[data]") {
  // Variance of (low - standard) in the central water region of 4 slices, doses 1, 1/2, 1/4.
  // Measured ratios: parallel 2.02, 3.85; fan 2.04, 4.04 (full-dose variance 278 and 127 HU^2).
  for (const char* beam : {"parallel", "fan"}) {
    SECTION(beam) {
      const Volume water = phantom(4, 64, true);
      double variance[3];
      const double doses[3] = {1.0, 0.5, 0.25};
      for (int d = 0; d < 3; ++d) {
        LowDoseOptions o;
        o.geometry = beam;
        o.dose_fraction = doses[d];
        o.seed = 11;
        variance[d] = noise_variance(simulate_low_dose(water, o));
      }
      const double half = variance[1] / variance[0], quarter = variance[2] / variance[0];
      CAPTURE(beam, variance[0], variance[1], variance[2], half, quarter);
      CHECK(variance[0] > 1);  // there is noise
      CHECK(std::abs(half / 2 - 1) < 0.25);
      CHECK(std::abs(quarter / 4 - 1) < 0.25);
    }
  }
}

TEST_CASE("lowdose: deterministic per seed, per slice, across threads and slabs", "[data]") {
  const Volume v = phantom(3, 32, false);
  LowDoseOptions o;
  o.seed = 5;
  o.electronic_noise = 5;
  const SimulatedPair a = simulate_low_dose(v, o);

  SECTION("same seed: bit-identical") {
    const SimulatedPair b = simulate_low_dose(v, o);
    REQUIRE(a.low.voxels == b.low.voxels);
    REQUIRE(a.standard.voxels == b.standard.voxels);
  }
  SECTION("another seed: other noise, same standard") {
    LowDoseOptions other = o;
    other.seed = 6;
    const SimulatedPair b = simulate_low_dose(v, other);
    REQUIRE(a.low.voxels != b.low.voxels);
    REQUIRE(a.standard.voxels == b.standard.voxels);
  }
  SECTION("identical slices get independent noise") {
    const std::vector<float> s0(a.low.slice(0), a.low.slice(0) + a.low.slice_size());
    const std::vector<float> s1(a.low.slice(1), a.low.slice(1) + a.low.slice_size());
    REQUIRE(s0 != s1);
  }
  SECTION("a slab with first_slice set equals the same slices of the whole") {
    LowDoseOptions slab_options = o;
    slab_options.first_slice = 1;
    const SimulatedPair b = simulate_low_dose(v.slab(1, 2), slab_options);
    const std::vector<float> want(a.low.slice(1), a.low.slice(1) + 2 * a.low.slice_size());
    REQUIRE(b.low.voxels == want);
    const SimulatedPair c = simulate_low_dose(v.slab(1, 2), o);  // keyed 0, 1: other noise
    REQUIRE(c.low.voxels != want);
  }
#if defined(_OPENMP)
  SECTION("one thread or several: bit-identical") {
    const int before = omp_get_max_threads();
    omp_set_num_threads(1);
    const SimulatedPair one = simulate_low_dose(v, o);
    omp_set_num_threads(3);
    const SimulatedPair three = simulate_low_dose(v, o);
    omp_set_num_threads(before);
    REQUIRE(one.low.voxels == a.low.voxels);
    REQUIRE(three.low.voxels == a.low.voxels);
  }
#endif
}

TEST_CASE("lowdose: bad options and inputs name what is wrong", "[data]") {
  REQUIRE_NOTHROW(LowDoseOptions{}.validate());
  const auto fails = [](void (*change)(LowDoseOptions&), const char* field) {
    LowDoseOptions o;
    change(o);
    CAPTURE(field);
    REQUIRE_THROWS_WITH(o.validate(), Contains(std::string("LowDoseOptions.") + field));
  };
  fails([](LowDoseOptions& o) { o.geometry = "cone"; }, "geometry");
  fails([](LowDoseOptions& o) { o.filter = "hann"; }, "filter");
  fails([](LowDoseOptions& o) { o.dose_fraction = 0; }, "dose_fraction");
  fails([](LowDoseOptions& o) { o.dose_fraction = -0.5; }, "dose_fraction");
  fails([](LowDoseOptions& o) { o.dose_fraction = 1.5; }, "dose_fraction");
  fails([](LowDoseOptions& o) { o.dose_fraction = std::numeric_limits<double>::quiet_NaN(); },
        "dose_fraction");
  fails([](LowDoseOptions& o) { o.incident_photons = 0; }, "incident_photons");
  fails([](LowDoseOptions& o) { o.electronic_noise = -1; }, "electronic_noise");
  fails([](LowDoseOptions& o) { o.views = -1; }, "views");
  fails(
      [](LowDoseOptions& o) {
        o.geometry = "fan";
        o.views = 101;
      },
      "views");
  fails([](LowDoseOptions& o) { o.detectors = -3; }, "detectors");
  fails([](LowDoseOptions& o) { o.detector_pitch = -1; }, "detector_pitch");
  fails([](LowDoseOptions& o) { o.mu_water = 0; }, "mu_water");
  fails([](LowDoseOptions& o) { o.source_to_isocentre = 0; }, "source_to_isocentre");
  fails([](LowDoseOptions& o) { o.source_to_detector = 500; }, "source_to_detector");
  fails([](LowDoseOptions& o) { o.first_slice = -1; }, "first_slice");
  {
    LowDoseOptions o;
    o.dose_fraction = 2;
    REQUIRE_THROWS_WITH(o.validate(), Contains("got 2"));
  }

  LowDoseOptions o;
  REQUIRE_THROWS_WITH(simulate_low_dose(Volume{}, o), Contains("empty volume"));
  Volume bad = phantom(1, 16);
  bad.at(0, 3, 4) = std::numeric_limits<float>::quiet_NaN();
  REQUIRE_THROWS_WITH(simulate_low_dose(bad, o), Contains("not a finite HU value"));
  Volume flat = phantom(1, 16);
  flat.spacing[2] = 0;
  REQUIRE_THROWS_WITH(simulate_low_dose(flat, o), Contains("spacing"));
  // A 960 mm wide image does not fit inside a 595 mm source circle.
  Volume wide = phantom(1, 16, false, 60, 60);
  o.geometry = "fan";
  REQUIRE_THROWS_WITH(simulate_low_dose(wide, o), Contains("source_to_isocentre"));
}
