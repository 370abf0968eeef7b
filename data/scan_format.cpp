// Scan formats (scan_io.h): their names, and telling a path's format from its extension or a
// folder's contents; the file-name tests and folder listing the readers share
// (scan_io_internal.h). Plain C++17; ITK only for DICOM files without the Part 10 preamble.
#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

#include "data/path_util.h"
#include "data/scan_io.h"
#include "data/scan_io_internal.h"
#include "engine/error.h"

namespace ddnet::data {

namespace scan_internal {

std::string name_lower(const fs::path& p) {
  return lower(p.filename().string());
}

bool is_tiff_name(const fs::path& p) {
  const std::string n = name_lower(p);
  return ends_with(n, ".tif") || ends_with(n, ".tiff");
}

bool is_dicom_name(const fs::path& p) {
  const std::string n = name_lower(p);
  return ends_with(n, ".dcm") || ends_with(n, ".dicom") || ends_with(n, ".ima");
}

// "DICM" at byte 128: the DICOM Part 10 preamble.
bool has_dicom_preamble(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  char magic[4] = {};
  if (!in.seekg(128) || !in.read(magic, 4)) return false;
  return std::memcmp(magic, "DICM", 4) == 0;
}

// Natural order: digit runs compare by value, so slice2 < slice10; letters ignore case; equal
// keys fall back to plain string order so the order is total.
bool natural_less(const std::string& a, const std::string& b) {
  auto digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (digit(a[i]) && digit(b[j])) {
      std::size_t ie = i, je = j;
      while (ie < a.size() && digit(a[ie])) ++ie;
      while (je < b.size() && digit(b[je])) ++je;
      while (i + 1 < ie && a[i] == '0') ++i;  // leading zeros do not count
      while (j + 1 < je && b[j] == '0') ++j;
      if (ie - i != je - j) return ie - i < je - j;
      const int c = a.compare(i, ie - i, b, j, je - j);
      if (c != 0) return c < 0;
      i = ie;
      j = je;
    } else {
      const int ca = std::tolower(static_cast<unsigned char>(a[i]));
      const int cb = std::tolower(static_cast<unsigned char>(b[j]));
      if (ca != cb) return ca < cb;
      ++i;
      ++j;
    }
  }
  if (a.size() - i != b.size() - j) return a.size() - i < b.size() - j;
  return a < b;
}

// Regular, non-hidden files of a folder, in natural order of their names.
std::vector<fs::path> folder_files(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  DDNET_CHECK(!ec, "cannot list folder ", dir.string(), ": ", ec.message());
  for (const fs::directory_entry& e : it) {
    const std::string name = e.path().filename().string();
    std::error_code fe;
    if (name.empty() || name[0] == '.' || !e.is_regular_file(fe)) continue;
    out.push_back(e.path());
  }
  std::sort(out.begin(), out.end(), [](const fs::path& x, const fs::path& y) {
    return natural_less(x.filename().string(), y.filename().string());
  });
  return out;
}

SeriesPath split_series(const std::string& path) {
  std::error_code ec;
  if (fs::exists(path, ec)) return {path, ""};
  const std::size_t hash = path.rfind('#');
  if (hash != std::string::npos && hash > 0 && fs::is_directory(path.substr(0, hash), ec))
    return {path.substr(0, hash), path.substr(hash + 1)};
  return {path, ""};
}

}  // namespace scan_internal

using namespace scan_internal;

const char* format_name(ScanFormat f) {
  switch (f) {
    case ScanFormat::dicom:
      return "DICOM";
    case ScanFormat::nifti:
      return "NIfTI";
    case ScanFormat::mha:
      return "MetaImage";
    case ScanFormat::nrrd:
      return "NRRD";
    case ScanFormat::tiff:
      return "TIFF";
  }
  return "?";
}

ScanFormat parse_format(const std::string& name) {
  const std::string n = lower(name);
  if (n == "dicom" || n == "dcm") return ScanFormat::dicom;
  if (n == "nifti" || n == "nii") return ScanFormat::nifti;
  if (n == "mha" || n == "mhd" || n == "metaimage" || n == "meta") return ScanFormat::mha;
  if (n == "nrrd" || n == "nhdr") return ScanFormat::nrrd;
  if (n == "tiff" || n == "tif") return ScanFormat::tiff;
  DDNET_FAIL("unknown scan format '", name, "': use dicom, nifti, mha, mhd, nrrd or tiff");
}

ScanFormat format_from_path(const std::string& path) {
  const SeriesPath sp = split_series(path);
  if (!sp.uid.empty()) return ScanFormat::dicom;
  std::error_code ec;
  if (fs::is_directory(sp.path, ec)) {
    const std::vector<fs::path> files = folder_files(sp.path);
    DDNET_CHECK(!files.empty(), "folder ", path,
                " is empty: expected a DICOM series or TIFF slices in it");
    bool any_tiff = false;
    for (const fs::path& f : files) {
      if (is_dicom_name(f) || has_dicom_preamble(f)) return ScanFormat::dicom;
      any_tiff = any_tiff || is_tiff_name(f);
    }
    if (any_tiff) return ScanFormat::tiff;
#if DDNET_HAVE_ITK
    for (const fs::path& f : files)  // DICOM without the Part 10 preamble
      if (itk_can_read_dicom(f)) return ScanFormat::dicom;
#endif
    DDNET_FAIL("folder ", path, " holds neither DICOM files nor TIFF slices (", files.size(),
               files.size() == 1 ? " file: " : " files, e.g. ", files.front().filename().string(),
               ")");
  }
  const std::string n = name_lower(sp.path);
  if (ends_with(n, ".nii") || ends_with(n, ".nii.gz")) return ScanFormat::nifti;
  if (ends_with(n, ".mha") || ends_with(n, ".mhd")) return ScanFormat::mha;
  if (ends_with(n, ".nrrd") || ends_with(n, ".nhdr")) return ScanFormat::nrrd;
  if (is_tiff_name(sp.path)) return ScanFormat::tiff;
  if (is_dicom_name(sp.path)) return ScanFormat::dicom;
  if (fs::is_regular_file(sp.path, ec) && has_dicom_preamble(sp.path)) return ScanFormat::dicom;
  DDNET_FAIL("cannot tell the scan format of ", path,
             " from its name: use .nii, .nii.gz, .mha, .mhd, .nrrd, .nhdr, .tif, .tiff, a DICOM "
             "file or a folder (DICOM series or TIFF slices), or name the format");
}

}  // namespace ddnet::data
