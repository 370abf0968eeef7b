// The HDF5 CT dataset (docs/dataset.md): one file, one group per scan holding `ndct` (standard
// dose) and, when known, `ldct` (low dose), int16 HU or float32, shape (slices, rows, cols),
// chunked per slice and compressed, with the scan's geometry, source and split as attributes and
// a format version on the file.
//
// DatasetWriter builds a file under a temporary name, syncs it to disk and renames it into place
// on commit() (then syncs the folder), so a crash never leaves a half-written dataset.
// Dataset::open validates the whole structure and names what is wrong (file, scan, dataset);
// slice reads check the values (NaN/Inf) and read only the slices asked for (one hyperslab per
// slice, which is one chunk). Each slice of ndct and ldct has a CRC-32C (attribute crc32c, one
// per slice; optional within format version 1: files without it read unverified), checked
// whenever the slice is read, whole or cropped.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/volume.h"

namespace ddnet::data {

inline constexpr const char* kDatasetFormat = "ddnet-ct-dataset";
inline constexpr int kDatasetVersion = 1;

enum class Split { train, val, test };
const char* split_name(Split s);
Split parse_split(const std::string& name);  // train | val | test (validation also accepted)

enum class StoreAs { automatic, int16, float32 };  // automatic: int16 when every value fits

struct ScanInfo {
  std::string name;
  Split split = Split::train;
  std::int64_t slices = 0, rows = 0, cols = 0;
  bool has_ldct = false;
  std::string ndct_type, ldct_type;  // "int16" | "float32"
  std::array<double, 3> spacing{1, 1, 1};
  std::array<double, 3> origin{0, 0, 0};
  std::array<double, 9> direction{1, 0, 0, 0, 1, 0, 0, 0, 1};
  std::string source, ldct_source;  // where ndct came from; "file ..." or "simulated ..."
};

class DatasetWriter {
 public:
  // Writes to `path`.tmp-<pid>; commit() renames it to `path`. Without commit() (an exception,
  // a crash) the temporary file is removed and `path` is untouched.
  explicit DatasetWriter(std::string path);
  ~DatasetWriter();
  DatasetWriter(const DatasetWriter&) = delete;
  DatasetWriter& operator=(const DatasetWriter&) = delete;

  // ldct may be null (standard dose only). Shapes must agree; names must be unique and valid
  // HDF5 link names (no '/', not '.').
  void add_scan(const std::string& name, Split split, const Volume& ndct, const Volume* ldct,
                const std::string& ldct_source = "", StoreAs store = StoreAs::automatic);
  void commit();
  const std::string& path() const { return path_; }

 private:
  std::string path_, tmp_;
  std::int64_t file_ = -1;
  std::vector<std::string> names_;
  bool committed_ = false;
};

class Dataset {
 public:
  // Opens and validates: the format attribute and version, every scan group (ndct present,
  // 3-D, int16 or float32, ldct of the same shape, spacing of 3 positive values, a known split).
  // A file from elsewhere is untrusted: external links, external storage and virtual datasets
  // (which read other host files) are refused unless allow_external.
  static Dataset open(const std::string& path, bool allow_external = false);
  ~Dataset();
  Dataset(Dataset&&) noexcept;
  Dataset& operator=(Dataset&&) noexcept;

  const std::string& path() const { return path_; }
  const std::vector<ScanInfo>& scans() const { return scans_; }
  std::vector<std::size_t> scans_in(Split s) const;  // indices into scans(), in file order
  const ScanInfo& scan(const std::string& name) const;

  // Reads the given slices of `ndct` or `ldct` of scan `index` as float32 HU into out
  // (indices.size() * rows * cols values, in the order given). Checks every value is finite.
  void read_slices(std::size_t index, bool ldct, const std::vector<std::int64_t>& slices,
                   float* out) const;
  // The same restricted to rows [r0, r0 + h) and cols [c0, c0 + w) of each slice (crops).
  void read_slices(std::size_t index, bool ldct, const std::vector<std::int64_t>& slices,
                   std::int64_t r0, std::int64_t h, std::int64_t c0, std::int64_t w,
                   float* out) const;
  Volume read(std::size_t index, bool ldct) const;  // the whole scan

 private:
  Dataset() = default;
  std::string path_;
  std::int64_t file_ = -1;
  std::vector<ScanInfo> scans_;
  // Per scan: the per-slice checksums of ndct [0] and ldct [1] (empty: none in the file).
  std::vector<std::array<std::vector<std::uint32_t>, 2>> crc_;
};

}  // namespace ddnet::data
