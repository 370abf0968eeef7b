// Low-dose CT simulation: from a standard-dose scan in HU, the scan the same patient would give at
// a fraction of the dose, made the way the public Mayo low-dose data were made: noise on the
// transmission data of each slice, then filtered back-projection (FBP). The standard partner goes
// through the same projection and FBP without noise, so the two differ by the dose alone.
//
// Per slice: HU -> mu = mu_water * (1 + HU / 1000) (mu >= 0) -> line integrals p (Joseph's
// projector) -> counts I ~ Poisson(I0 * dose * exp(-p)) (+ Gaussian electronic noise), clamped to
// >= 1 -> p' = log(I0 * dose / I) -> FBP (ramp or Shepp-Logan filter; fan data rebinned to
// parallel rays first) -> HU. Air below -1000 HU has mu = 0 and comes back as about -1000 HU.
//
// The noise of slice k is a pure function of (seed, first_slice + k): results do not depend on
// the thread count, and a slab simulated with first_slice = its offset in the scan equals the
// same slices of the whole scan, bit for bit.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/volume.h"

namespace ddnet::data {

struct LowDoseOptions {
  std::string geometry = "parallel";  // parallel | fan (equiangular, curved detector, 360 deg)
  double dose_fraction = 0.25;        // low dose = this fraction of the full-dose photon count
  double incident_photons = 1e5;      // full-dose photons per detector bin per view (I0)
  double electronic_noise = 0;        // std of additive Gaussian noise, in photon counts (0 = none)
  int views = 0;      // projection angles over 180 deg (parallel) / 360 deg (fan, even); 0 = auto
  int detectors = 0;  // detector bins; 0 = auto (enough to cover the image diagonal)
  // Bin width in mm, at the detector (fan: arc length on the detector at source_to_detector);
  // 0 = auto: the in-plane pixel size as seen at the isocentre.
  double detector_pitch = 0;
  std::string filter = "ramp";  // ramp | shepp-logan
  double mu_water = 0.0192;     // linear attenuation of water, 1/mm (about 70 keV)
  double source_to_isocentre = 595, source_to_detector = 1085.6;  // mm, fan beam (Siemens-like)
  std::uint64_t seed = 0;
  // Index of the volume's slice 0 in the whole scan: the noise of a slice is keyed by its index
  // in the scan, so slabs of a scan can be simulated separately.
  std::int64_t first_slice = 0;

  void validate() const;  // throws ddnet::Error naming the offending field
};

struct SimulatedPair {
  Volume low, standard;  // same shape and geometry fields as the input
};

// The whole simulation, multi-threaded over slices (one slice is one thread's work).
// The noise level follows the photons: every view gets incident_photons * dose_fraction per bin,
// so more views (or fan's 360 deg, twice the auto views of parallel) mean more dose and less
// noise. Measured on a 108 x 256 x 256 water-like head (0.9 mm pixels, ramp filter, defaults):
// std of (low - standard) at the centre 81 HU (parallel), 57 HU (fan). The ramp is sharper than
// scanners' clinical kernels, so to match a target noise level raise incident_photons (noise
// std goes as 1 / sqrt(incident_photons * dose_fraction * views)) or use shepp-logan.
SimulatedPair simulate_low_dose(const Volume& ndct, const LowDoseOptions& o);

// ---- Building blocks (public for the tests and the benchmark) ----

enum class Beam { parallel, fan };
enum class Filter { ramp, shepp_logan };

// The acquisition for one slice size, with every "auto" of LowDoseOptions resolved.
// Image coordinates: pixel (i, j) of an image (rows, cols) has its centre at
// x = (j - (cols - 1) / 2) * pixel_x, y = (i - (rows - 1) / 2) * pixel_y (mm). The ray of a
// parallel view at angle theta and detector position u is the line x cos(theta) + y sin(theta) = u.
struct Geometry {
  Beam beam = Beam::parallel;
  Filter filter = Filter::ramp;
  std::int64_t rows = 0, cols = 0;  // image size
  double pixel_y = 1, pixel_x = 1;  // mm (Volume::spacing[1], spacing[2])
  int views = 0;                    // parallel: over 180 deg; fan: source positions over 360 deg
  int detectors = 0;                // bins per view
  double detector_pitch = 0;        // parallel: mm; fan: radians between bins seen from the source
  double source_to_isocentre = 0;   // mm (fan)
  // The parallel sinogram that FBP filters and back-projects: the data itself (parallel), or the
  // fan data rebinned to parallel rays, views / 2 over 180 deg, bins parallel_pitch mm apart.
  int parallel_views = 0, parallel_detectors = 0;
  double parallel_pitch = 0;

  std::int64_t sinogram_size() const {
    return static_cast<std::int64_t>(views) * static_cast<std::int64_t>(detectors);
  }
};

// Resolves the options for an image of (rows, cols) pixels of pixel_y x pixel_x mm. Auto views:
// ceil(pi/2 * max(rows, cols)) over 180 deg (twice that over 360 deg for fan). Throws when the
// options are invalid or (fan) the image does not fit between source and detector.
Geometry make_geometry(std::int64_t rows, std::int64_t cols, double pixel_y, double pixel_x,
                       const LowDoseOptions& o);

// Forward projection and FBP for one geometry; the tables (rays, angles, filter kernel, rebinning
// weights) are built once and shared, read-only, by the threads.
class Projector {
 public:
  explicit Projector(const Geometry& g);
  const Geometry& geometry() const { return g_; }

  // Line integrals by Joseph's method (one linear interpolation per image column or row crossed,
  // along the axis the ray crosses faster). image: (rows, cols) in 1/mm -> sinogram
  // (views, detectors), dimensionless. Cost: views * detectors * max(rows, cols).
  void forward(const float* image, float* sinogram) const;
  // Filtered back-projection: sinogram (views, detectors) -> image (rows, cols).
  void reconstruct(const float* sinogram, float* image) const;

  // The steps of reconstruct():
  // fan only: (views, detectors) fan data -> (parallel_views, parallel_detectors), each parallel
  // ray the mean of its two fan measurements (bilinear in source angle and fan angle).
  void rebin(const float* fan, float* parallel) const;
  // Ramp / Shepp-Logan filter as a spatial kernel with zero padding, one view at a time:
  // (parallel_views, parallel_detectors) -> (parallel_views, parallel_detectors + 2), each row
  // with one zero on either side. Cost: parallel_views * parallel_detectors^2 multiply-adds
  // (half that for the ramp, whose even taps are zero); an FFT would be O(n log n) per view but
  // this needs no library and is not the bottleneck at CT sizes.
  void filter(const float* sinogram, float* filtered) const;
  // Pixel-driven back-projection with linear interpolation of the filtered rows, times
  // pi / parallel_views. Cost: parallel_views * rows * cols.
  void back_project(const float* filtered, float* image) const;

 private:
  struct Ray {  // q(t) = a + b * t: padded index into the interpolated axis at step t
    float a, b;
    float weight;             // path length per step (mm)
    std::int32_t first, end;  // steps [first, end) where the ray meets the image
    bool along_cols;          // steps over columns (interpolating in rows) or over rows
  };
  struct FanTap {  // one fan ray of a parallel bin: bilinear in (source angle, fan angle)
    std::int64_t view_offset;  // fan view = (parallel view + view_offset [+ 1]) mod views
    float view_frac;           // weight of the second fan view
    std::int32_t bin0, bin1;   // fan bins (clamped; a bin outside the detector has weight 0)
    float w0, w1;
  };

  Geometry g_;
  std::vector<Ray> rays_;          // (views, detectors)
  std::vector<double> cos_, sin_;  // parallel_views
  std::vector<float> kernel_;      // filter taps h[0..parallel_detectors), times pitch
  std::vector<FanTap> rebin_;      // (parallel_detectors, 2): the two rays (fan)
};

// Convenience wrappers that build a Projector each call.
std::vector<float> forward_project(const float* image, const Geometry& g);
std::vector<float> filtered_back_project(const float* sinogram, const Geometry& g);

// Line integrals -> noisy line integrals, in place: p' = log(N0 / max(1, Poisson(N0 exp(-p)) +
// electronic)) with N0 = incident_photons * dose_fraction. The draws are a pure function of
// (o.seed, stream): simulate_low_dose uses stream = o.first_slice + slice index.
void add_transmission_noise(float* sinogram, std::int64_t n, const LowDoseOptions& o,
                            std::uint64_t stream);

}  // namespace ddnet::data
