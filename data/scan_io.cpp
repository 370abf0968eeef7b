// Scan import/export (scan_io.h), the entry points: read_scan and write_scan check their
// arguments and hand each format to its file: scan_format.cpp (detection), scan_itk.cpp (single
// files), scan_dicom.cpp (DICOM series), scan_tiff.cpp (TIFF slices), atomic_file.cpp (writing
// in place). Without ITK (DDNET_HAVE_ITK unset) they throw an error that says how to get it.
#include "data/scan_io.h"

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>

#include "data/atomic_file.h"
#include "data/scan_io_internal.h"
#include "engine/error.h"

namespace ddnet::data {

using namespace scan_internal;

namespace {

#if !DDNET_HAVE_ITK
[[noreturn]] void fail_no_itk(const char* what, const std::string& path, ScanFormat f) {
  DDNET_FAIL(what, ": ", path,
             ": this ddnet was built without ITK (it was not found when the build ",
             "was configured), so ", format_name(f),
             " scans cannot be read or written. Install it (apt install libinsighttoolkit5-dev, or "
             "scripts/setup.sh), then configure and build again");
}
#endif

// Geometry and size checks shared by every writer.
void check_volume(const Volume& v, const std::string& path) {
  DDNET_CHECK(v.slices >= 1 && v.rows >= 1 && v.cols >= 1, "write_scan: ", path,
              ": the volume is empty (", v.slices, " x ", v.rows, " x ", v.cols, ")");
  DDNET_CHECK(static_cast<std::int64_t>(v.voxels.size()) == v.numel(), "write_scan: ", path,
              ": the volume holds ", v.voxels.size(), " values for ", v.slices, " x ", v.rows,
              " x ", v.cols);
  for (std::size_t a = 0; a < 3; ++a) {
    DDNET_CHECK(std::isfinite(v.spacing[a]) && v.spacing[a] > 0, "write_scan: ", path,
                ": spacing must be positive, got (", v.spacing[0], ", ", v.spacing[1], ", ",
                v.spacing[2], ") mm");
    DDNET_CHECK(std::isfinite(v.origin[a]), "write_scan: ", path, ": origin is not finite");
  }
  for (std::size_t c = 0; c < 3; ++c)
    for (std::size_t d = 0; d < 3; ++d) {
      double dot = 0;
      for (std::size_t r = 0; r < 3; ++r) dot += v.direction[r * 3 + c] * v.direction[r * 3 + d];
      DDNET_CHECK(std::abs(dot - (c == d ? 1.0 : 0.0)) < 1e-4, "write_scan: ", path,
                  ": the direction matrix is not orthonormal (columns ", c, " and ", d,
                  " have dot product ", dot, ")");
    }
  for (std::size_t n = 0; n < v.voxels.size(); ++n)
    DDNET_CHECK(std::isfinite(v.voxels[n]), "write_scan: ", path, ": the volume holds ",
                v.voxels[n], " at voxel (", static_cast<std::int64_t>(n) / v.slice_size(), ", ",
                (static_cast<std::int64_t>(n) / v.cols) % v.rows, ", ",
                static_cast<std::int64_t>(n) % v.cols, ") (slice, row, col)");
}

}  // namespace

#if DDNET_HAVE_ITK

bool have_itk() {
  return true;
}

Volume read_scan(const std::string& path) {
  const SeriesPath sp = split_series(path);
  std::error_code ec;
  DDNET_CHECK(fs::exists(sp.path, ec), "read_scan: ", path, " does not exist");
  const ScanFormat f = format_from_path(path);
  Volume v = f == ScanFormat::dicom ? read_dicom(sp, path)
             : f == ScanFormat::tiff && fs::is_directory(sp.path, ec)
                 ? read_tiff_folder(sp.path, path)
                 : read_image_file(sp.path, f, path);
  check_hu(v, "read_scan: " + path);
  return v;
}

void write_scan(const Volume& v, const std::string& path, ScanFormat format,
                const ScanWriteOptions& options) {
  check_volume(v, path);
  const fs::path target(path);
  // DICOM is always a series folder; TIFF is a folder of slices unless named .tif/.tiff.
  if (format == ScanFormat::dicom || (format == ScanFormat::tiff && !is_tiff_name(target))) {
    write_folder(target, path, [&](const fs::path& dir) {
      if (format == ScanFormat::dicom)
        write_dicom(v, dir, options, path);
      else
        write_tiff_slices(v, dir, options, path);
    });
    return;
  }
  write_single_file(target, path,
                    [&](const fs::path& file) { write_single(v, file, format, options, path); });
}

#else  // no ITK

bool have_itk() {
  return false;
}

Volume read_scan(const std::string& path) {
  const SeriesPath sp = split_series(path);
  std::error_code ec;
  DDNET_CHECK(fs::exists(sp.path, ec), "read_scan: ", path, " does not exist");
  fail_no_itk("read_scan", path, format_from_path(path));
}

void write_scan(const Volume& v, const std::string& path, ScanFormat format,
                const ScanWriteOptions&) {
  check_volume(v, path);
  fail_no_itk("write_scan", path, format);
}

#endif

void check_scan_target(const std::string& path, ScanFormat format) {
  const fs::path target(path);
  if (format == ScanFormat::dicom || (format == ScanFormat::tiff && !is_tiff_name(target)))
    check_folder_target(target, path);
  else
    check_single_file_target(target, path);
}

void write_scan(const Volume& v, const std::string& path) {
  write_scan(v, path, format_from_path(path));
}

}  // namespace ddnet::data
