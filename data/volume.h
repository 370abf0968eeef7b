// A scan in memory: one 3-D image in Hounsfield units, float32, stored slice-major as
// (slices, rows, cols), with the geometry clinical formats carry. This is what the importers
// produce, what the low-dose simulation consumes and produces, and what the HDF5 dataset stores
// (ndct / ldct of one scan).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ddnet::data {

struct Volume {
  std::int64_t slices = 0, rows = 0, cols = 0;
  std::vector<float> voxels;  // slices * rows * cols values, HU; index (k * rows + i) * cols + j
  // Voxel size in mm in the order of the array axes: (slice, row, col) = (z, y, x).
  std::array<double, 3> spacing{1, 1, 1};
  // Patient-space position of voxel (0, 0, 0) in mm, (x, y, z) as ITK/DICOM give it.
  std::array<double, 3> origin{0, 0, 0};
  // ITK direction cosines, row-major 3x3 over (x, y, z) image axes (cols, rows, slices).
  std::array<double, 9> direction{1, 0, 0, 0, 1, 0, 0, 0, 1};
  std::string source;  // the file or folder it came from (for messages and the dataset)
  // DICOM attributes carried from an imported series to an exported one, keyed "gggg|eeee" with
  // lower-case hex as ITK/GDCM spell them; empty for other formats.
  std::map<std::string, std::string> dicom;

  Volume() = default;
  Volume(std::int64_t d, std::int64_t h, std::int64_t w, float value = 0)
      : slices(d), rows(h), cols(w), voxels(static_cast<std::size_t>(d * h * w), value) {}

  std::int64_t numel() const { return slices * rows * cols; }
  std::int64_t slice_size() const { return rows * cols; }
  float* slice(std::int64_t k) { return voxels.data() + k * rows * cols; }
  const float* slice(std::int64_t k) const { return voxels.data() + k * rows * cols; }
  float& at(std::int64_t k, std::int64_t i, std::int64_t j) {
    return voxels[static_cast<std::size_t>((k * rows + i) * cols + j)];
  }
  float at(std::int64_t k, std::int64_t i, std::int64_t j) const {
    return voxels[static_cast<std::size_t>((k * rows + i) * cols + j)];
  }
  // A copy of slices [begin, begin + count) with the same in-plane geometry (origin moved along
  // the slice direction).
  Volume slab(std::int64_t begin, std::int64_t count) const;
};

// HU below this is air outside the detector's range; the published data are clamped to it.
inline constexpr float kMinHU = -1024.0f;
void clamp_below(Volume& v, float lo = kMinHU);

// No CT value in HU comes near this (air -1000, bone ~2000, metal ~30000 on extended scales, raw
// unsigned 16-bit values up to 65535): larger magnitudes are a wrong scale or corrupt data, and
// would swamp the normalisation and the scores (a PSNR of 688 dB from +-3e38).
inline constexpr float kMaxAbsHU = 1e5f;
inline bool plausible_hu(float x) {
  return x >= -kMaxAbsHU && x <= kMaxAbsHU;  // false for NaN
}
// Throws, naming `where` and the first voxel (slice, row, col) that is not plausible_hu.
void check_hu(const Volume& v, const std::string& where);

}  // namespace ddnet::data
