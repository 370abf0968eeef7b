// Private to the scan_*.cpp files of data/ (scan_io.h is the interface): file-name tests, folder
// listing and "folder#uid" paths, and the readers and writers of each format that scan_io.cpp
// dispatches to (those exist only in builds with ITK, DDNET_HAVE_ITK).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "data/scan_io.h"
#include "data/volume.h"
#include "engine/error.h"

namespace ddnet::data::scan_internal {

namespace fs = std::filesystem;

// ---- names and folders (scan_format.cpp) ----------------------------------------------------

std::string name_lower(const fs::path& p);
bool is_tiff_name(const fs::path& p);   // .tif, .tiff
bool is_dicom_name(const fs::path& p);  // .dcm, .dicom, .ima
bool has_dicom_preamble(const fs::path& p);
// Natural order: digit runs compare by value, so slice2 < slice10.
bool natural_less(const std::string& a, const std::string& b);
// Regular, non-hidden files of a folder, in natural order of their names.
std::vector<fs::path> folder_files(const fs::path& dir);

// "folder#uid" names one DICOM series of a folder (only when the whole string is not a path).
struct SeriesPath {
  fs::path path;
  std::string uid;
};
SeriesPath split_series(const std::string& path);

// All files of one size, or an error naming those that differ from the most common size.
// `File` has a `file` path; `size_of(f)` gives (rows, cols).
template <class File, class SizeOf>
void check_one_size(const std::vector<File>& files, SizeOf size_of, const std::string& what) {
  std::map<std::pair<std::size_t, std::size_t>, std::size_t> count;
  for (const File& f : files) ++count[size_of(f)];
  if (count.size() <= 1) return;
  std::pair<std::size_t, std::size_t> best = size_of(files.front());  // ties: the first file's
  std::size_t best_n = count[best];
  for (const auto& [sz, n] : count)
    if (n > best_n) best = sz, best_n = n;
  std::string odd;
  std::size_t n_odd = 0;
  for (const File& f : files) {
    const auto sz = size_of(f);
    if (sz == best) continue;
    if (n_odd++ < 3)
      odd += (odd.empty() ? "" : ", ") + f.file.string() + " (" + std::to_string(sz.first) + "x" +
             std::to_string(sz.second) + ")";
  }
  DDNET_FAIL("read_scan: ", what, ": slices differ in size: ", n_odd, " of ", files.size(),
             " are not ", best.first, "x", best.second, " (rows x cols): ", odd,
             n_odd > 3 ? ", ..." : "");
}

#if DDNET_HAVE_ITK

// ---- single image files through ITK (scan_itk.cpp) ------------------------------------------

// One scalar image file of at most 3 dimensions (a 4th of size 1 is allowed), any pixel type.
Volume read_image_file(const fs::path& file, ScanFormat f, const std::string& shown);
// A single-file format (NIfTI, MetaImage, NRRD, one multi-page TIFF) written to `file`.
void write_single(const Volume& v, const fs::path& file, ScanFormat f, const ScanWriteOptions& o,
                  const std::string& shown);
// An error naming the count and the first of any NaN/Inf values read.
void check_finite_read(const Volume& v, const std::string& shown);
// Walks a TIFF file's chain of directories before libtiff does: a chain that loops or holds more
// than 65536 directories is an error naming the file (ITK 5.2's libtiff spins on some of them,
// found by fuzzing). A directory past the end of the file ends the walk (a cut multi-page file
// reads as its intact pages). Not TIFF at all: nothing to say, ITK decides.
void check_tiff_directories(const fs::path& file, const std::string& shown);
// int16 of a rounded HU value, or an error naming the value and where it is.
std::int16_t to_int16(double stored, float hu, std::int64_t n, const Volume& v,
                      const std::string& shown, const char* hint);

// ---- DICOM series (scan_dicom.cpp) ----------------------------------------------------------

bool itk_can_read_dicom(const fs::path& p);  // also DICOM without the Part 10 preamble
Volume read_dicom(const SeriesPath& sp, const std::string& shown);
void write_dicom(const Volume& v, const fs::path& dir, const ScanWriteOptions& o,
                 const std::string& shown);

// ---- TIFF slices (scan_tiff.cpp) ------------------------------------------------------------

Volume read_tiff_folder(const fs::path& dir, const std::string& shown);
void write_tiff_slices(const Volume& v, const fs::path& dir, const ScanWriteOptions& o,
                       const std::string& shown);

#endif

}  // namespace ddnet::data::scan_internal
