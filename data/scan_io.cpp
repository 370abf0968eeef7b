// Scan import/export (scan_io.h): paths, folders, format detection and atomic replacement in plain
// C++17; reading and writing the formats through ITK when the build has it (DDNET_HAVE_ITK). Each
// ImageIO is constructed here and handed to the reader/writer, so ITK's global IO factory
// registration is never needed.
#include "data/scan_io.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <system_error>
#include <utility>
#include <vector>

#include "data/path_util.h"
#include "engine/error.h"

#if DDNET_HAVE_ITK
#include <itkGDCMImageIO.h>
#include <itkImage.h>
#include <itkImageFileReader.h>
#include <itkImageFileWriter.h>
#include <itkMetaDataObject.h>
#include <itkMetaImageIO.h>
#include <itkNiftiImageIO.h>
#include <itkNrrdImageIO.h>
#include <itkTIFFImageIO.h>
#include <zlib.h>
#endif

namespace ddnet::data {

namespace fs = std::filesystem;

namespace {

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

// "folder#uid" names one DICOM series of a folder (only when the whole string is not a path).
struct SeriesPath {
  fs::path path;
  std::string uid;
};

SeriesPath split_series(const std::string& path) {
  std::error_code ec;
  if (fs::exists(path, ec)) return {path, ""};
  const std::size_t hash = path.rfind('#');
  if (hash != std::string::npos && hash > 0 && fs::is_directory(path.substr(0, hash), ec))
    return {path.substr(0, hash), path.substr(hash + 1)};
  return {path, ""};
}

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

#if DDNET_HAVE_ITK
// A folder beside `target` named .<name>.<tag>-<pid>-<n>, unique within this process.
fs::path sibling_temp(const fs::path& target, const char* tag) {
  static std::atomic<unsigned> counter{0};
  fs::path parent = target.parent_path();
  if (parent.empty()) parent = ".";
  return parent / ("." + target.filename().string() + "." + tag + "-" + std::to_string(getpid()) +
                   "-" + std::to_string(counter++));
}

// Removes a temporary folder on scope exit unless released.
struct TempFolder {
  fs::path path;
  bool keep = false;
  explicit TempFolder(fs::path p) : path(std::move(p)) {
    std::error_code ec;
    fs::create_directory(path, ec);
    DDNET_CHECK(!ec, "write_scan: cannot create the temporary folder ", path.string(), ": ",
                ec.message());
  }
  ~TempFolder() {
    std::error_code ec;
    if (!keep) fs::remove_all(path, ec);
  }
  TempFolder(const TempFolder&) = delete;
  TempFolder& operator=(const TempFolder&) = delete;
};

void make_parent(const fs::path& target, const std::string& shown) {
  const fs::path parent = target.parent_path();
  if (parent.empty()) return;
  std::error_code ec;
  fs::create_directories(parent, ec);
  DDNET_CHECK(!ec, "write_scan: cannot create the folder ", parent.string(), " for ", shown, ": ",
              ec.message());
}

void rename_or_fail(const fs::path& from, const fs::path& to, const std::string& shown) {
  std::error_code ec;
  fs::rename(from, to, ec);
  DDNET_CHECK(!ec, "write_scan: cannot rename ", from.string(), " to ", to.string(), " for ", shown,
              ": ", ec.message());
}

// slice_<digits>.dcm / .tif: what write_scan puts in a series folder.
bool is_our_slice_file(const std::string& name) {
  const std::string prefix = "slice_";
  if (name.compare(0, prefix.size(), prefix) != 0) return false;
  std::size_t i = prefix.size();
  const std::size_t digits_begin = i;
  while (i < name.size() && std::isdigit(static_cast<unsigned char>(name[i]))) ++i;
  if (i == digits_begin) return false;
  const std::string rest = name.substr(i);
  return rest == ".dcm" || rest == ".tif";
}

// Writes a single-file format: `write(tmp_file)` writes into a temporary folder beside the
// target under the target's own name (so detached data files keep the names their header
// gives); every file it made is then renamed beside the target, the named file last.
template <class WriteFn>
void write_single_file(const fs::path& target, const std::string& shown, WriteFn write) {
  std::error_code ec;
  DDNET_CHECK(!fs::is_directory(target, ec), "write_scan: ", shown,
              " is a folder; a single-file format needs a file name");
  make_parent(target, shown);
  TempFolder tmp(sibling_temp(target, "tmp"));
  const fs::path tmp_file = tmp.path / target.filename();
  write(tmp_file);
  fs::path parent = target.parent_path();
  if (parent.empty()) parent = ".";
  for (const fs::path& f : folder_files(tmp.path))
    if (f.filename() != target.filename()) rename_or_fail(f, parent / f.filename(), shown);
  DDNET_CHECK(fs::exists(tmp_file, ec), "write_scan: ", shown, ": the writer produced no file");
  rename_or_fail(tmp_file, target, shown);
}

// Writes a folder format: `write(tmp_folder)` fills a temporary folder beside the target, which
// then replaces the target (only when that holds nothing but slice files of ours).
template <class WriteFn>
void write_folder(const fs::path& target, const std::string& shown, WriteFn write) {
  std::error_code ec;
  const bool exists = fs::exists(target, ec);
  if (exists) {
    DDNET_CHECK(fs::is_directory(target, ec), "write_scan: ", shown,
                " exists and is not a folder; a DICOM series or TIFF slices need a folder");
    for (const fs::directory_entry& e : fs::directory_iterator(target, ec)) {
      const std::string name = e.path().filename().string();
      std::error_code fe;
      DDNET_CHECK(e.is_regular_file(fe) && is_our_slice_file(name), "write_scan: folder ", shown,
                  " exists and holds other files (", name, "); remove it or write to a new folder");
    }
  }
  make_parent(target, shown);
  TempFolder tmp(sibling_temp(target, "tmp"));
  write(tmp.path);
  if (exists) {
    TempFolder old(sibling_temp(target, "old"));
    fs::remove(old.path, ec);
    rename_or_fail(target, old.path, shown);
    fs::rename(tmp.path, target, ec);
    if (ec) {  // put the old folder back before failing
      std::error_code ignored;
      fs::rename(old.path, target, ignored);
      DDNET_FAIL("write_scan: cannot rename ", tmp.path.string(), " to ", shown, ": ",
                 ec.message());
    }
  } else {
    rename_or_fail(tmp.path, target, shown);
  }
  tmp.keep = true;  // renamed away: nothing left to remove
}

std::string slice_name(std::int64_t k, std::int64_t n, const char* ext) {
  const int width = std::max<int>(4, static_cast<int>(std::to_string(n - 1).size()));
  std::string digits = std::to_string(k);
  digits.insert(
      0, static_cast<std::size_t>(std::max<int>(0, width - static_cast<int>(digits.size()))), '0');
  return "slice_" + digits + ext;
}

void check_finite_read(const Volume& v, const std::string& shown) {
  std::size_t bad = 0, first = 0;
  for (std::size_t n = 0; n < v.voxels.size(); ++n)
    if (!std::isfinite(v.voxels[n]) && bad++ == 0) first = n;
  const auto f = static_cast<std::int64_t>(first);
  DDNET_CHECK(bad == 0, "read_scan: ", shown, " holds ", bad, " non-finite values (NaN/Inf), the ",
              "first at (", f / v.slice_size(), ", ", (f / v.cols) % v.rows, ", ", f % v.cols,
              ") (slice, row, col)");
}
#endif

}  // namespace

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

#if DDNET_HAVE_ITK
namespace {
bool itk_can_read_dicom(const fs::path& p) {
  auto io = itk::GDCMImageIO::New();
  return io->CanReadFile(p.c_str());
}
}  // namespace
#endif

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

#if DDNET_HAVE_ITK

namespace {

using Image3 = itk::Image<float, 3>;

// ITK's description without its "ITK ERROR: Class(0x...): " prefix, on one line.
std::string describe(const itk::ExceptionObject& e) {
  std::string s = e.GetDescription();
  for (const std::string prefix : {"ITK ERROR: ", "itk::ERROR: "})
    if (s.compare(0, prefix.size(), prefix) == 0) {
      const std::size_t end = s.find("): ");
      s = end == std::string::npos ? s.substr(prefix.size()) : s.substr(end + 3);
    }
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  for (char& c : s)
    if (c == '\n') c = ' ';
  return s;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && s[i] == ' ') ++i;
  return s.substr(i);
}

itk::ImageIOBase::Pointer make_io(ScanFormat f) {
  switch (f) {
    case ScanFormat::dicom:
      return itk::GDCMImageIO::New().GetPointer();
    case ScanFormat::nifti:
      return itk::NiftiImageIO::New().GetPointer();
    case ScanFormat::mha: {
      auto io = itk::MetaImageIO::New();
      io->SetDoublePrecision(17);  // spacing/origin/direction round-trip exactly
      return io.GetPointer();
    }
    case ScanFormat::nrrd:
      return itk::NrrdImageIO::New().GetPointer();
    case ScanFormat::tiff:
      return itk::TIFFImageIO::New().GetPointer();
  }
  return nullptr;
}

Volume to_volume(const Image3* img, const std::string& source) {
  const Image3::SizeType size = img->GetLargestPossibleRegion().GetSize();
  Volume v(static_cast<std::int64_t>(size[2]), static_cast<std::int64_t>(size[1]),
           static_cast<std::int64_t>(size[0]));
  std::copy(img->GetBufferPointer(), img->GetBufferPointer() + v.numel(), v.voxels.begin());
  const Image3::SpacingType& sp = img->GetSpacing();
  v.spacing = {sp[2], sp[1], sp[0]};
  for (unsigned a = 0; a < 3; ++a) v.origin[a] = img->GetOrigin()[a];
  for (unsigned r = 0; r < 3; ++r)
    for (unsigned c = 0; c < 3; ++c) v.direction[r * 3 + c] = img->GetDirection()[r][c];
  v.source = source;
  return v;
}

std::uint64_t file_size_or_zero(const fs::path& p) {
  std::error_code ec;
  const std::uintmax_t n = fs::file_size(p, ec);
  return ec ? 0 : static_cast<std::uint64_t>(n);
}

// ITK 5.2 fills the voxels missing from a truncated NIfTI file (.nii or .nii.gz) with zeros and
// reports nothing, so the length of the (decompressed) stream is checked against the header.
void check_nifti_complete(const fs::path& file, const std::string& shown) {
  gzFile gz = gzopen(file.c_str(), "rb");  // reads uncompressed files as they are
  DDNET_CHECK(gz != nullptr, "read_scan: cannot open ", shown);
  unsigned char hdr[348];
  const int got = gzread(gz, hdr, sizeof hdr);
  if (got != static_cast<int>(sizeof hdr)) {
    gzclose(gz);
    DDNET_FAIL("read_scan: ", shown, " is truncated or corrupt: its NIfTI header is incomplete");
  }
  auto i32 = [&hdr](int at, bool swap) {
    std::uint32_t v = 0;
    std::memcpy(&v, hdr + at, 4);
    if (swap) v = (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
    return v;
  };
  auto i16 = [&hdr](int at, bool swap) {
    std::uint16_t v = 0;
    std::memcpy(&v, hdr + at, 2);
    if (swap) v = static_cast<std::uint16_t>((v >> 8) | (v << 8));
    return static_cast<std::int16_t>(v);
  };
  const bool swap = i32(0, false) != 348;
  if (i32(0, swap) != 348) {  // not NIfTI-1: leave the verdict to ITK
    gzclose(gz);
    return;
  }
  const int ndim = i16(40, swap);
  const int bitpix = i16(72, swap);
  std::uint32_t off_bits = i32(108, swap);
  float vox_offset = 0;
  std::memcpy(&vox_offset, &off_bits, 4);
  std::uint64_t expected = 0;
  if (ndim >= 1 && ndim <= 7 && bitpix > 0 && bitpix % 8 == 0 && std::isfinite(vox_offset)) {
    expected = static_cast<std::uint64_t>(bitpix / 8);
    for (int d = 1; d <= ndim; ++d)
      expected *= static_cast<std::uint64_t>(std::max<int>(1, i16(40 + 2 * d, swap)));
    expected += static_cast<std::uint64_t>(std::max(352.0f, vox_offset));
  }
  std::uint64_t total = sizeof hdr;
  std::vector<unsigned char> buf(1 << 16);
  int n = 0;
  while ((n = gzread(gz, buf.data(), static_cast<unsigned>(buf.size()))) > 0)
    total += static_cast<std::uint64_t>(n);
  int err = Z_OK;
  const std::string msg = gzerror(gz, &err);
  gzclose(gz);
  DDNET_CHECK(n == 0 && (err == Z_OK || err == Z_STREAM_END), "read_scan: ", shown,
              " is truncated or corrupt (gzip: ", msg, ")");
  DDNET_CHECK(total >= expected, "read_scan: ", shown, " is truncated: ", total,
              " bytes where its NIfTI header promises ", expected);
}

// ITK 5.2 reads a truncated MetaImage with a warning on stderr and zeros for the rest: compare
// the bytes present with what the header promises.
void check_meta_complete(const fs::path& file, const std::string& shown) {
  std::ifstream in(file, std::ios::binary);
  std::map<std::string, std::string> keys;
  std::string line;
  std::uint64_t header_end = 0;
  while (std::getline(in, line)) {
    const std::size_t eq = line.find('=');
    if (eq == std::string::npos) {
      DDNET_CHECK(!in.eof(), "read_scan: ", shown,
                  " is truncated or incomplete: its header ends before ElementDataFile");
      return;  // not a key = value line: ITK decides
    }
    auto strip = [](std::string x) {
      while (!x.empty() && std::isspace(static_cast<unsigned char>(x.back()))) x.pop_back();
      std::size_t i = 0;
      while (i < x.size() && std::isspace(static_cast<unsigned char>(x[i]))) ++i;
      return x.substr(i);
    };
    const std::string key = strip(line.substr(0, eq));
    keys[key] = strip(line.substr(eq + 1));
    if (key == "ElementDataFile") {
      header_end = static_cast<std::uint64_t>(in.tellg());
      break;
    }
  }
  DDNET_CHECK(header_end != 0 || !in.eof(), "read_scan: ", shown,
              " is truncated or incomplete: its header ends before ElementDataFile");
  if (header_end == 0 || keys.count("HeaderSize") != 0) return;
  const std::map<std::string, std::uint64_t> sizes = {
      {"MET_CHAR", 1},  {"MET_UCHAR", 1},  {"MET_SHORT", 2},     {"MET_USHORT", 2},
      {"MET_INT", 4},   {"MET_UINT", 4},   {"MET_LONG", 4},      {"MET_ULONG", 4},
      {"MET_FLOAT", 4}, {"MET_DOUBLE", 8}, {"MET_LONG_LONG", 8}, {"MET_ULONG_LONG", 8}};
  std::uint64_t expected = 0;
  const bool compressed = lower(keys["CompressedData"]) == "true";
  if (compressed) {
    if (keys.count("CompressedDataSize") == 0) return;
    expected = std::strtoull(keys["CompressedDataSize"].c_str(), nullptr, 10);
  } else {
    const auto type = sizes.find(keys["ElementType"]);
    if (type == sizes.end()) return;
    expected = type->second;
    std::istringstream dims(keys["DimSize"]);
    std::uint64_t d = 0;
    while (dims >> d) expected *= d;
    if (keys.count("ElementNumberOfChannels") != 0)
      expected *= std::max<std::uint64_t>(
          1, std::strtoull(keys["ElementNumberOfChannels"].c_str(), nullptr, 10));
  }
  const std::string data = keys["ElementDataFile"];
  std::uint64_t available = 0;
  if (data == "LOCAL") {
    available = file_size_or_zero(file) - std::min(header_end, file_size_or_zero(file));
  } else {
    if (data == "LIST" || data.find('%') != std::string::npos) return;  // slice lists: ITK decides
    const fs::path data_file = file.parent_path() / data;
    std::error_code ec;
    DDNET_CHECK(fs::is_regular_file(data_file, ec), "read_scan: ", shown, " names the data file ",
                data_file.string(), ", which does not exist");
    available = file_size_or_zero(data_file);
  }
  DDNET_CHECK(available >= expected, "read_scan: ", shown, " is truncated: ", available,
              " bytes of voxel data where its header promises ", expected);
}

// NIfTI's reader looks for <name>.nii before <name>.nii.gz whichever it is given, so a file with
// such a sibling is read through a link of its own in a private temporary folder.
bool has_nifti_sibling(const fs::path& file) {
  const std::string name = file.filename().string();
  const std::string low = lower(name);
  std::string base;
  if (ends_with(low, ".nii.gz"))
    base = name.substr(0, name.size() - 7);
  else if (ends_with(low, ".nii"))
    base = name.substr(0, name.size() - 4);
  else
    return false;
  std::error_code ec;
  for (const char* ext :
       {".nii", ".nii.gz", ".NII", ".NII.GZ", ".hdr", ".hdr.gz", ".HDR", ".img"}) {
    const fs::path other = file.parent_path() / (base + ext);
    if (other.filename() != file.filename() && fs::exists(other, ec)) return true;
  }
  return false;
}

// One scalar image file of at most 3 dimensions (a 4th of size 1 is allowed), any pixel type.
Volume read_image_file(const fs::path& file, ScanFormat f, const std::string& shown) {
  std::error_code ec;
  DDNET_CHECK(fs::is_regular_file(file, ec), "read_scan: ", shown, " is not a file");
  itk::ImageIOBase::Pointer io = make_io(f);
  DDNET_CHECK(io->CanReadFile(file.c_str()), "read_scan: ", shown, " is not a readable ",
              format_name(f), " file (corrupt, truncated, or another format under this name)");
  fs::path read_path = file;
  std::unique_ptr<TempFolder> link_dir;
  if (f == ScanFormat::nifti) {
    check_nifti_complete(file, shown);
    if (has_nifti_sibling(file)) {
      static std::atomic<unsigned> counter{0};
      link_dir = std::make_unique<TempFolder>(
          fs::temp_directory_path() /
          ("ddnet-nifti-" + std::to_string(getpid()) + "-" + std::to_string(counter++)));
      read_path = link_dir->path / file.filename();
      fs::create_symlink(fs::absolute(file), read_path, ec);
      if (ec) fs::copy_file(file, read_path, ec);
      DDNET_CHECK(!ec, "read_scan: cannot link ", shown, " into ", link_dir->path.string(), ": ",
                  ec.message());
    }
  }
  if (f == ScanFormat::mha) check_meta_complete(file, shown);
  auto reader = itk::ImageFileReader<Image3>::New();
  reader->SetImageIO(io);
  reader->SetFileName(read_path.string());
  try {
    reader->UpdateOutputInformation();
  } catch (const itk::ExceptionObject& e) {
    DDNET_FAIL("read_scan: cannot read the header of ", shown, ": ", describe(e));
  }
  DDNET_CHECK(io->GetNumberOfComponents() == 1, "read_scan: ", shown, " has ",
              io->GetNumberOfComponents(),
              " components per pixel (colour or vector data); expected a grey-value scan");
  const unsigned dims = io->GetNumberOfDimensions();
  DDNET_CHECK(dims >= 2, "read_scan: ", shown, " is a ", dims, "-D image; expected a volume");
  for (unsigned d = 3; d < dims; ++d)
    DDNET_CHECK(io->GetDimensions(d) == 1, "read_scan: ", shown, " is ", dims, "-D with ",
                io->GetDimensions(d), " samples along axis ", d, "; expected one 3-D volume");
  try {
    reader->Update();
  } catch (const itk::ExceptionObject& e) {
    DDNET_FAIL("read_scan: cannot read ", shown, ": ", describe(e));
  }
  Volume v = to_volume(reader->GetOutput(), shown);
  check_finite_read(v, shown);
  return v;
}

// ---- DICOM series ---------------------------------------------------------------------------

// The attributes a derived series keeps from its source: who the patient is, which study and
// frame of reference it belongs to, and how it was acquired. Everything else (UIDs of the
// series and instances, pixel description, geometry) is written anew.
constexpr const char* kKeptDicomTags[] = {
    "0010|0010", "0010|0020", "0010|0030", "0010|0040", "0010|1010",  // patient
    "0020|000d", "0020|0010", "0008|0020", "0008|0030", "0008|0050",  // study
    "0008|1030", "0008|0090",                                         //
    "0020|0052", "0020|1040",                                         // frame of reference
    "0008|0060", "0008|0070", "0008|0080", "0008|1090",               // equipment
    "0018|0015", "0018|0060", "0018|1210", "0018|5100",               // acquisition
    "0008|103e", "0020|0011", "0020|000e", "0008|0021", "0008|0031",  // source series
};

bool is_kept_dicom_tag(const std::string& tag) {
  for (const char* t : kKeptDicomTags)
    if (tag == t) return true;
  return false;
}

// A new UID under the UUID-derived root 2.25 (ISO/IEC 9834-8): 128 random bits in decimal.
std::string new_dicom_uid() {
  static std::atomic<std::uint64_t> counter{0};
  std::random_device rd;
  // 128 bits as four 32-bit limbs, most significant first; the clock and a counter mixed in so
  // a weak random_device still gives distinct UIDs within and across processes.
  const auto now = static_cast<std::uint64_t>(
      std::chrono::high_resolution_clock::now().time_since_epoch().count());
  const std::uint64_t n = counter++;
  std::uint32_t limb[4] = {
      rd() ^ static_cast<std::uint32_t>(n >> 32), rd() ^ static_cast<std::uint32_t>(n),
      rd() ^ static_cast<std::uint32_t>(now >> 32), rd() ^ static_cast<std::uint32_t>(now)};
  std::string digits;
  for (;;) {  // long division by 10
    std::uint64_t rem = 0;
    bool nonzero = false;
    for (std::uint32_t& l : limb) {
      const std::uint64_t cur = (rem << 32) | l;
      l = static_cast<std::uint32_t>(cur / 10);
      rem = cur % 10;
      nonzero = nonzero || l != 0;
    }
    digits.push_back(static_cast<char>('0' + rem));
    if (!nonzero) break;
  }
  std::reverse(digits.begin(), digits.end());
  return "2.25." + digits;
}

struct DicomFile {
  fs::path file;
  std::string uid, description;
  std::size_t cols = 0, rows = 0, frames = 0;
  unsigned components = 1;
  std::array<double, 3> ipp{};      // ImagePositionPatient (x, y, z)
  std::array<double, 9> dir{};      // ITK direction, row-major; column 2 is the slice normal
  std::array<double, 3> spacing{};  // ITK order (x, y, z)
  double pos = 0;                   // position along the normal
  std::uint64_t pixel_bytes = 0;    // rows * cols * frames * samples * BitsAllocated / 8
  std::map<std::string, std::string> kept;  // kKeptDicomTags present in the file
};

bool read_dicom_header(const fs::path& file, DicomFile* out, std::string* why) {
  auto io = itk::GDCMImageIO::New();
  io->SetFileName(file.string());
  try {
    io->ReadImageInformation();
  } catch (const itk::ExceptionObject& e) {
    *why = describe(e);
    return false;
  }
  out->file = file;
  out->cols = io->GetDimensions(0);
  out->rows = io->GetDimensions(1);
  out->frames = io->GetNumberOfDimensions() > 2 ? io->GetDimensions(2) : 1;
  out->components = io->GetNumberOfComponents();
  for (unsigned a = 0; a < 3; ++a) {
    out->ipp[a] = io->GetOrigin(a);
    out->spacing[a] = io->GetSpacing(a);
    const std::vector<double> axis = io->GetDirection(a);
    for (unsigned r = 0; r < 3; ++r) out->dir[r * 3 + a] = axis[r];
  }
  const itk::MetaDataDictionary& dict = io->GetMetaDataDictionary();
  itk::ExposeMetaData<std::string>(dict, "0020|000e", out->uid);
  itk::ExposeMetaData<std::string>(dict, "0008|103e", out->description);
  out->uid = trim(out->uid);
  out->description = trim(out->description);
  for (const char* tag : kKeptDicomTags) {
    std::string value;
    if (itk::ExposeMetaData<std::string>(dict, tag, value)) {
      value = trim(value);
      if (!value.empty()) out->kept[tag] = value;
    }
  }
  auto number = [&dict](const char* tag, std::uint64_t fallback) {
    std::string value;
    if (!itk::ExposeMetaData<std::string>(dict, tag, value)) return fallback;
    value = trim(value);
    char* end = nullptr;
    const unsigned long long n = std::strtoull(value.c_str(), &end, 10);
    return end == value.c_str() ? fallback : static_cast<std::uint64_t>(n);
  };
  const std::uint64_t bits = number("0028|0100", 0);
  out->pixel_bytes = bits % 8 == 0 ? static_cast<std::uint64_t>(out->rows) * out->cols *
                                         number("0028|0008", 1) * number("0028|0002", 1) * bits / 8
                                   : 0;
  return true;
}

// GDCM reads a DICOM file whose pixel data are cut short with only a warning on stderr, and ITK
// returns zeros for the rest: find the Pixel Data element (7FE0,0010) of the expected length and
// check the file holds all of it. Encapsulated (compressed) pixel data are left to GDCM. The
// lengths are little endian, as in every transfer syntax but the retired big-endian one.
void check_dicom_pixels(const fs::path& file, std::uint64_t expected, const std::string& what) {
  if (expected == 0 || expected >= 0xffffffffull) return;
  std::ifstream in(file, std::ios::binary | std::ios::ate);
  std::string bytes(static_cast<std::size_t>(std::max<std::streamoff>(in.tellg(), 0)), '\0');
  in.seekg(0);
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  const std::string tag("\xe0\x7f\x10\x00", 4);
  auto u32 = [&bytes](std::size_t at) {
    const auto* b = reinterpret_cast<const unsigned char*>(bytes.data()) + at;
    return static_cast<std::uint64_t>(b[0]) | static_cast<std::uint64_t>(b[1]) << 8 |
           static_cast<std::uint64_t>(b[2]) << 16 | static_cast<std::uint64_t>(b[3]) << 24;
  };
  for (std::size_t pos = bytes.rfind(tag); pos != std::string::npos;
       pos = pos == 0 ? std::string::npos : bytes.rfind(tag, pos - 1)) {
    std::uint64_t length = 0, value_at = 0;
    if (pos + 12 <= bytes.size() &&
        (bytes.compare(pos + 4, 2, "OW") == 0 || bytes.compare(pos + 4, 2, "OB") == 0)) {
      length = u32(pos + 8);  // explicit VR: tag, VR, 2 reserved bytes, 4-byte length
      value_at = pos + 12;
    } else if (pos + 8 <= bytes.size()) {
      length = u32(pos + 4);  // implicit VR: tag, 4-byte length
      value_at = pos + 8;
    }
    if (length != expected && length != expected + 1) continue;
    DDNET_CHECK(bytes.size() >= value_at + expected, "read_scan: ", what, ": ", file.string(),
                " is truncated: its pixel data hold ", bytes.size() - value_at, " of ", expected,
                " bytes");
    return;
  }
}

std::string series_list(const std::map<std::string, std::vector<DicomFile>>& series) {
  std::string s;
  for (const auto& [uid, files] : series) {
    if (!s.empty()) s += "; ";
    s += (uid.empty() ? std::string("(no SeriesInstanceUID)") : uid) + " (" +
         std::to_string(files.size()) + " files";
    if (!files.front().description.empty()) s += ", \"" + files.front().description + "\"";
    s += ")";
  }
  return s;
}

// All files of one size, or an error naming those that differ from the most common size.
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

double dot3(const std::array<double, 3>& a, const double* n) {
  return a[0] * n[0] + a[1] * n[1] + a[2] * n[2];
}

// Orders the slices of one series along the normal and checks they form one even stack.
// Returns the slice spacing.
double order_series(std::vector<DicomFile>& files, const std::string& what) {
  const DicomFile& ref = files.front();
  for (const DicomFile& f : files) {
    double diff = 0;
    for (int i = 0; i < 9; ++i) diff = std::max(diff, std::abs(f.dir[i] - ref.dir[i]));
    DDNET_CHECK(diff < 1e-4, "read_scan: ", what, ": ", f.file.string(),
                " has another orientation (ImageOrientationPatient) than ", ref.file.string());
  }
  const double n[3] = {ref.dir[2], ref.dir[5], ref.dir[8]};
  for (DicomFile& f : files) f.pos = dot3(f.ipp, n);
  std::sort(files.begin(), files.end(), [](const DicomFile& a, const DicomFile& b) {
    return a.pos < b.pos || (a.pos == b.pos && natural_less(a.file.string(), b.file.string()));
  });
  if (files.size() == 1) return ref.spacing[2] > 0 ? ref.spacing[2] : 1.0;
  std::vector<double> gaps;
  for (std::size_t i = 0; i + 1 < files.size(); ++i)
    gaps.push_back(files[i + 1].pos - files[i].pos);
  std::vector<double> sorted = gaps;
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(sorted.size() / 2),
                   sorted.end());
  const double median = sorted[sorted.size() / 2];
  const double tol = std::max(0.01 * median, 1e-3);  // mm
  for (std::size_t i = 0; i < gaps.size(); ++i) {
    const DicomFile& a = files[i];
    const DicomFile& b = files[i + 1];
    DDNET_CHECK(gaps[i] > tol, "read_scan: ", what, ": ", a.file.string(), " and ", b.file.string(),
                " lie at the same slice position (", a.pos,
                " mm along the normal): two acquisitions in one series?");
    if (std::abs(gaps[i] - median) <= tol) continue;
    const long missing = std::lround(gaps[i] / median) - 1;
    if (missing >= 1 && std::abs(gaps[i] - static_cast<double>(missing + 1) * median) <=
                            tol * static_cast<double>(missing + 1)) {
      std::array<double, 3> expect{};
      for (int c = 0; c < 3; ++c)
        expect[static_cast<std::size_t>(c)] = a.ipp[static_cast<std::size_t>(c)] + median * n[c];
      DDNET_FAIL("read_scan: ", what, ": ", missing, missing == 1 ? " slice is" : " slices are",
                 " missing between ", a.file.string(), " (at ", a.pos, " mm) and ", b.file.string(),
                 " (at ", b.pos, " mm): expected one at ", a.pos + median,
                 " mm, ImagePositionPatient (", expect[0], ", ", expect[1], ", ", expect[2],
                 "); the slice spacing is ", median, " mm");
    }
    DDNET_FAIL("read_scan: ", what, ": uneven slice spacing: ", gaps[i], " mm between ",
               a.file.string(), " and ", b.file.string(), " but ", median,
               " mm between most slices");
  }
  // Slices must stack along the normal: an in-plane shift (gantry tilt) is a sheared volume.
  const double in_plane_tol = 0.1 * std::min(ref.spacing[0], ref.spacing[1]);
  for (const DicomFile& f : files) {
    double shift2 = 0;
    for (int c = 0; c < 3; ++c) {
      const auto cc = static_cast<std::size_t>(c);
      const double d = f.ipp[cc] - files.front().ipp[cc] - (f.pos - files.front().pos) * n[c];
      shift2 += d * d;
    }
    DDNET_CHECK(std::sqrt(shift2) <= in_plane_tol, "read_scan: ", what, ": ", f.file.string(),
                " is shifted ", std::sqrt(shift2), " mm in-plane from the stack of ",
                files.front().file.string(),
                " (gantry tilt?); sheared volumes are not supported, resample the series first");
  }
  return (files.back().pos - files.front().pos) / static_cast<double>(files.size() - 1);
}

Volume read_dicom(const SeriesPath& sp, const std::string& shown) {
  std::error_code ec;
  std::vector<fs::path> candidates;
  if (fs::is_directory(sp.path, ec)) {
    for (const fs::path& f : folder_files(sp.path))
      if (!is_tiff_name(f) && name_lower(f) != "dicomdir") candidates.push_back(f);
  } else {
    candidates.push_back(sp.path);
  }
  std::map<std::string, std::vector<DicomFile>> series;
  std::string unreadable;
  std::size_t n_unreadable = 0;
  for (const fs::path& f : candidates) {
    DicomFile info;
    std::string why;
    if (read_dicom_header(f, &info, &why)) {
      check_dicom_pixels(f, info.pixel_bytes, shown);
      series[info.uid].push_back(std::move(info));
    } else if (candidates.size() == 1 || is_dicom_name(f) || has_dicom_preamble(f)) {
      if (n_unreadable++ < 3)
        unreadable += (unreadable.empty() ? "" : "; ") + f.string() + " (" + why + ")";
    }
  }
  DDNET_CHECK(n_unreadable == 0, "read_scan: ", shown, ": ", n_unreadable,
              " DICOM file(s) cannot be read as images (corrupt or not an image): ", unreadable,
              n_unreadable > 3 ? "; ..." : "");
  DDNET_CHECK(!series.empty(), "read_scan: ", shown, " holds no readable DICOM images (",
              candidates.size(), " files looked at)");
  std::string uid = sp.uid;
  if (uid.empty()) {
    DDNET_CHECK(series.size() == 1, "read_scan: ", shown, " holds ", series.size(),
                " DICOM series; pick one as ", shown,
                "#<SeriesInstanceUID>: ", series_list(series));
    uid = series.begin()->first;
  } else {
    DDNET_CHECK(series.count(uid) == 1, "read_scan: ", sp.path.string(), " has no DICOM series ",
                uid, "; it holds ", series_list(series));
  }
  std::vector<DicomFile>& files = series[uid];
  const std::string what =
      "DICOM series " + (uid.empty() ? std::string("(no UID)") : uid) + " in " + sp.path.string();
  for (const DicomFile& f : files) {
    DDNET_CHECK(f.components == 1, "read_scan: ", what, ": ", f.file.string(), " has ",
                f.components, " samples per pixel (colour); expected a grey-value CT slice");
    DDNET_CHECK(files.size() == 1 || f.frames == 1, "read_scan: ", what, ": ", f.file.string(),
                " is a multi-frame file (", f.frames, " frames) among single slices");
  }
  check_one_size(
      files, [](const DicomFile& f) { return std::make_pair(f.rows, f.cols); }, what);
  const double dz = order_series(files, what);

  if (files.size() == 1) {  // one slice, or one multi-frame volume: geometry from the file
    Volume v = read_image_file(files.front().file, ScanFormat::dicom, files.front().file.string());
    v.source = shown;
    v.dicom = files.front().kept;
    return v;
  }
  const DicomFile& first = files.front();
  Volume v(static_cast<std::int64_t>(files.size()), static_cast<std::int64_t>(first.rows),
           static_cast<std::int64_t>(first.cols));
  v.spacing = {dz, first.spacing[1], first.spacing[0]};
  v.origin = first.ipp;
  v.direction = first.dir;
  v.source = shown;
  v.dicom = first.kept;
  for (std::size_t k = 0; k < files.size(); ++k) {
    const std::string name = files[k].file.string();
    auto reader = itk::ImageFileReader<Image3>::New();
    reader->SetImageIO(itk::GDCMImageIO::New());
    reader->SetFileName(name);
    try {
      reader->Update();
    } catch (const itk::ExceptionObject& e) {
      DDNET_FAIL("read_scan: cannot read ", name, ": ", describe(e));
    }
    const Image3* img = reader->GetOutput();
    const Image3::SizeType size = img->GetLargestPossibleRegion().GetSize();
    DDNET_CHECK(size[0] == first.cols && size[1] == first.rows && size[2] == 1, "read_scan: ", name,
                " changed size while being read");
    std::copy(img->GetBufferPointer(), img->GetBufferPointer() + v.slice_size(),
              v.slice(static_cast<std::int64_t>(k)));
  }
  check_finite_read(v, shown);
  return v;
}

// ---- TIFF slices ----------------------------------------------------------------------------

struct TiffFile {
  fs::path file;
  std::size_t rows = 0, cols = 0;
};

Volume read_tiff_folder(const fs::path& dir, const std::string& shown) {
  std::vector<TiffFile> files;
  for (const fs::path& f : folder_files(dir)) {
    if (!is_tiff_name(f)) continue;
    auto io = itk::TIFFImageIO::New();
    DDNET_CHECK(io->CanReadFile(f.c_str()), "read_scan: ", f.string(),
                " is not a readable TIFF file (corrupt, truncated, or another format)");
    io->SetFileName(f.string());
    try {
      io->ReadImageInformation();
    } catch (const itk::ExceptionObject& e) {
      DDNET_FAIL("read_scan: cannot read the header of ", f.string(), ": ", describe(e));
    }
    DDNET_CHECK(io->GetNumberOfDimensions() == 2 || io->GetDimensions(2) == 1,
                "read_scan: ", f.string(), " has ", io->GetDimensions(2),
                " pages; a folder of TIFF slices needs one 2-D slice per file");
    DDNET_CHECK(io->GetNumberOfComponents() == 1, "read_scan: ", f.string(), " has ",
                io->GetNumberOfComponents(),
                " components per pixel (colour); expected grey-value slices");
    files.push_back({f, io->GetDimensions(1), io->GetDimensions(0)});
  }
  DDNET_CHECK(!files.empty(), "read_scan: folder ", shown, " holds no .tif/.tiff files");
  check_one_size(
      files, [](const TiffFile& f) { return std::make_pair(f.rows, f.cols); },
      "TIFF slices in " + shown);
  Volume v;
  for (std::size_t k = 0; k < files.size(); ++k) {
    Volume s = read_image_file(files[k].file, ScanFormat::tiff, files[k].file.string());
    DDNET_CHECK(s.slices == 1 && s.rows == static_cast<std::int64_t>(files[k].rows) &&
                    s.cols == static_cast<std::int64_t>(files[k].cols),
                "read_scan: ", files[k].file.string(), " changed size while being read");
    if (k == 0) {
      v = Volume(static_cast<std::int64_t>(files.size()), s.rows, s.cols);
      v.spacing = {1.0, s.spacing[1], s.spacing[2]};  // TIFF has no slice spacing
    }
    std::copy(s.voxels.begin(), s.voxels.end(), v.slice(static_cast<std::int64_t>(k)));
  }
  v.source = shown;
  return v;
}

// ---- writers --------------------------------------------------------------------------------

template <class Image>
void set_geometry(Image* img, const Volume& v, const std::array<double, 3>& origin) {
  constexpr unsigned D = Image::ImageDimension;
  typename Image::SpacingType sp;
  typename Image::PointType org;
  typename Image::DirectionType dir;
  const double spacing_xyz[3] = {v.spacing[2], v.spacing[1], v.spacing[0]};
  for (unsigned a = 0; a < D; ++a) {
    sp[a] = spacing_xyz[a];
    org[a] = origin[a];
    for (unsigned b = 0; b < D; ++b) dir[a][b] = v.direction[a * 3 + b];
  }
  img->SetSpacing(sp);
  img->SetOrigin(org);
  img->SetDirection(dir);
}

template <class Pixel, unsigned D>
typename itk::Image<Pixel, D>::Pointer make_image(std::size_t cols, std::size_t rows,
                                                  std::size_t slices) {
  using Image = itk::Image<Pixel, D>;
  typename Image::SizeType size;
  size[0] = cols;
  size[1] = rows;
  if constexpr (D == 3) size[2] = slices;
  (void)slices;
  typename Image::RegionType region;
  region.SetSize(size);
  auto img = Image::New();
  img->SetRegions(region);
  img->Allocate();
  return img;
}

template <class Image>
void write_image(const Image* img, itk::ImageIOBase* io, const fs::path& file, bool compress,
                 const std::string& shown) {
  auto writer = itk::ImageFileWriter<Image>::New();
  writer->SetImageIO(io);
  writer->SetFileName(file.string());
  writer->SetInput(img);
  writer->SetUseCompression(compress);
  try {
    writer->Update();
  } catch (const itk::ExceptionObject& e) {
    DDNET_FAIL("write_scan: cannot write ", shown, ": ", describe(e));
  }
}

// int16 of a rounded HU value, or an error naming the value and where it is.
std::int16_t to_int16(double stored, float hu, std::int64_t n, const Volume& v,
                      const std::string& shown, const char* hint) {
  const double r = std::nearbyint(stored);
  DDNET_CHECK(r >= -32768.0 && r <= 32767.0, "write_scan: ", shown, ": HU ", hu, " at voxel (",
              n / v.slice_size(), ", ", (n / v.cols) % v.rows, ", ", n % v.cols,
              ") does not fit int16", hint);
  return static_cast<std::int16_t>(r);
}

// A DICOM decimal string (at most 16 characters) for x, and the value it reads back as.
std::string ds_string(double x) {
  char buf[32];
  for (int precision = 15; precision >= 1; --precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, x);
    if (std::strlen(buf) <= 16) break;
  }
  return buf;
}

void write_dicom(const Volume& v, const fs::path& dir, const ScanWriteOptions& o,
                 const std::string& shown) {
  DDNET_CHECK(
      std::isfinite(o.rescale_slope) && o.rescale_slope > 0 && std::isfinite(o.rescale_intercept),
      "write_scan: ", shown, ": rescale slope must be positive and finite, intercept finite",
      " (got slope ", o.rescale_slope, ", intercept ", o.rescale_intercept, ")");
  DDNET_CHECK(v.rows <= 65535 && v.cols <= 65535, "write_scan: ", shown, ": ", v.rows, " x ",
              v.cols, " slices are too large for DICOM");
  // Quantise with the rescale exactly as written in the file.
  const std::string slope_s = ds_string(o.rescale_slope), icpt_s = ds_string(o.rescale_intercept);
  const double slope = std::stod(slope_s), icpt = std::stod(icpt_s);
  std::vector<std::int16_t> stored(v.voxels.size());
  for (std::size_t n = 0; n < v.voxels.size(); ++n)
    stored[n] = to_int16((static_cast<double>(v.voxels[n]) - icpt) / slope, v.voxels[n],
                         static_cast<std::int64_t>(n), v, shown,
                         "; choose a rescale slope/intercept that maps the HU range into it");
  const double normal[3] = {v.direction[2], v.direction[5], v.direction[8]};
  // The source's patient, study and acquisition attributes (v.dicom), a new series: the study
  // and frame-of-reference UIDs are kept (or made once for the series), the series UID and every
  // SOP instance UID are new, so the output joins the source's study beside it.
  std::map<std::string, std::string> tags;
  for (const auto& [tag, value] : v.dicom)
    if (is_kept_dicom_tag(tag) && !value.empty()) tags[tag] = value;
  const bool derived = !tags.empty();
  const std::string source_series = tags.count("0020|000e") ? tags["0020|000e"] : "";
  tags.erase("0020|000e");
  tags.erase("0020|0011");  // the source's series number belongs to the source
  if (!tags.count("0020|000d")) tags["0020|000d"] = new_dicom_uid();
  if (!tags.count("0020|0052")) tags["0020|0052"] = new_dicom_uid();
  if (!tags.count("0008|103e")) tags["0008|103e"] = "ddnet";
  if (!tags.count("0008|0060")) tags["0008|0060"] = "CT";
  std::string series_uid = new_dicom_uid();
  while (series_uid == source_series) series_uid = new_dicom_uid();
  auto io = itk::GDCMImageIO::New();
  io->SetKeepOriginalUID(true);  // the UIDs below, not ones GDCM would make per writer
  const auto cols = static_cast<std::size_t>(v.cols), rows = static_cast<std::size_t>(v.rows);
  for (std::int64_t k = 0; k < v.slices; ++k) {
    // GDCM inverse-rescales a floating-point image into the int16 described by the bit tags;
    // the values are intercept + slope * stored, so its rounding returns `stored` exactly.
    auto img = make_image<double, 3>(cols, rows, 1);
    std::array<double, 3> origin{};
    for (std::size_t c = 0; c < 3; ++c)
      origin[c] = v.origin[c] + static_cast<double>(k) * v.spacing[0] * normal[c];
    set_geometry(img.GetPointer(), v, origin);
    double* out = img->GetBufferPointer();
    const std::int16_t* in = stored.data() + k * v.slice_size();
    for (std::int64_t n = 0; n < v.slice_size(); ++n) out[n] = icpt + slope * in[n];
    itk::MetaDataDictionary& dict = img->GetMetaDataDictionary();
    auto put = [&dict](const char* tag, const std::string& value) {
      itk::EncapsulateMetaData<std::string>(dict, tag, value);
    };
    put("0008|0016", "1.2.840.10008.5.1.4.1.1.2");  // CT Image Storage: keeps position/spacing
    for (const auto& [tag, value] : tags) put(tag.c_str(), value);
    put("0020|000e", series_uid);
    put("0008|0018", new_dicom_uid());  // SOPInstanceUID
    if (derived) put("0008|0008", "DERIVED\\SECONDARY");
    put("0020|0013", std::to_string(k + 1));    // InstanceNumber
    put("0018|0050", ds_string(v.spacing[0]));  // SliceThickness
    put("0018|0088", ds_string(v.spacing[0]));  // SpacingBetweenSlices
    put("0020|1041", ds_string(origin[0] * normal[0] + origin[1] * normal[1] +
                               origin[2] * normal[2]));  // SliceLocation
    put("0028|1052", icpt_s);
    put("0028|1053", slope_s);
    put("0028|1054", "HU");
    put("0028|0002", "1");  // SamplesPerPixel
    put("0028|0004", "MONOCHROME2");
    put("0028|0100", "16");  // int16 stored
    put("0028|0101", "16");
    put("0028|0102", "15");
    put("0028|0103", "1");
    write_image(img.GetPointer(), io.GetPointer(), dir / slice_name(k, v.slices, ".dcm"), false,
                shown);
  }
}

void write_tiff_slices(const Volume& v, const fs::path& dir, const ScanWriteOptions& o,
                       const std::string& shown) {
  const auto cols = static_cast<std::size_t>(v.cols), rows = static_cast<std::size_t>(v.rows);
  for (std::int64_t k = 0; k < v.slices; ++k) {
    const fs::path file = dir / slice_name(k, v.slices, ".tif");
    auto io = itk::TIFFImageIO::New();
    const float* in = v.slice(k);
    if (o.tiff_int16) {
      auto img = make_image<std::int16_t, 2>(cols, rows, 1);
      set_geometry(img.GetPointer(), v, v.origin);
      for (std::int64_t n = 0; n < v.slice_size(); ++n)
        img->GetBufferPointer()[n] =
            to_int16(static_cast<double>(in[n]), in[n], k * v.slice_size() + n, v, shown,
                     " (write float32 TIFF)");
      write_image(img.GetPointer(), io.GetPointer(), file, false, shown);
    } else {
      auto img = make_image<float, 2>(cols, rows, 1);
      set_geometry(img.GetPointer(), v, v.origin);
      std::copy(in, in + v.slice_size(), img->GetBufferPointer());
      write_image(img.GetPointer(), io.GetPointer(), file, false, shown);
    }
  }
}

void write_single(const Volume& v, const fs::path& file, ScanFormat f, const ScanWriteOptions& o,
                  const std::string& shown) {
  const auto cols = static_cast<std::size_t>(v.cols), rows = static_cast<std::size_t>(v.rows),
             slices = static_cast<std::size_t>(v.slices);
  itk::ImageIOBase::Pointer io = make_io(f);
  const bool compress = o.compress && (f == ScanFormat::mha || f == ScanFormat::nrrd);
  if (f == ScanFormat::tiff && o.tiff_int16) {
    auto img = make_image<std::int16_t, 3>(cols, rows, slices);
    set_geometry(img.GetPointer(), v, v.origin);
    for (std::int64_t n = 0; n < v.numel(); ++n)
      img->GetBufferPointer()[n] =
          to_int16(static_cast<double>(v.voxels[static_cast<std::size_t>(n)]),
                   v.voxels[static_cast<std::size_t>(n)], n, v, shown, " (write float32 TIFF)");
    write_image(img.GetPointer(), io.GetPointer(), file, false, shown);
    return;
  }
  auto img = make_image<float, 3>(cols, rows, slices);
  set_geometry(img.GetPointer(), v, v.origin);
  std::copy(v.voxels.begin(), v.voxels.end(), img->GetBufferPointer());
  write_image(img.GetPointer(), io.GetPointer(), file, compress, shown);
}

}  // namespace

bool have_itk() {
  return true;
}

Volume read_scan(const std::string& path) {
  const SeriesPath sp = split_series(path);
  std::error_code ec;
  DDNET_CHECK(fs::exists(sp.path, ec), "read_scan: ", path, " does not exist");
  const ScanFormat f = format_from_path(path);
  if (f == ScanFormat::dicom) return read_dicom(sp, path);
  if (f == ScanFormat::tiff && fs::is_directory(sp.path, ec))
    return read_tiff_folder(sp.path, path);
  return read_image_file(sp.path, f, path);
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

void write_scan(const Volume& v, const std::string& path) {
  write_scan(v, path, format_from_path(path));
}

}  // namespace ddnet::data
