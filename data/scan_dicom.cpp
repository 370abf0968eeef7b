// DICOM series through ITK/GDCM: finding a folder's series, ordering and checking their slices
// (one orientation, one size, even spacing, no gaps, no tilt, pixel data complete), reading them
// into a Volume with the metadata a derived series keeps, and writing a Volume as a new series
// in its source's study. Built only when configure found ITK (DDNET_HAVE_ITK).
#if DDNET_HAVE_ITK

#include <itkGDCMImageIO.h>
#include <itkImageFileReader.h>
#include <itkMetaDataObject.h>

#include <algorithm>
#include <array>
#include <atomic>
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
#include <random>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "data/atomic_file.h"
#include "data/scan_io.h"
#include "data/scan_io_internal.h"
#include "data/scan_itk.h"
#include "engine/error.h"

namespace ddnet::data::scan_internal {

namespace {

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && s[i] == ' ') ++i;
  return s.substr(i);
}

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

// GDCM allocates (and zeroes) an element's declared length before reading its value: a 1 KB file
// declaring a 4 GB element made it take 4 GB (found by fuzzing: scan_dicom regression). The
// elements are walked here first (little endian, explicit or implicit VR, into sequences, items
// and pixel fragments) and a length past the end of the file refuses the file, naming the
// element. Big-endian and deflated transfer syntaxes are left to GDCM after their meta group.
bool dicom_lengths_fit(const fs::path& file, std::string* why) {
  std::ifstream in(file, std::ios::binary);
  const std::vector<unsigned char> b((std::istreambuf_iterator<char>(in)),
                                     std::istreambuf_iterator<char>());
  const std::uint64_t size = b.size();
  auto u16 = [&b](std::uint64_t at) {
    return static_cast<std::uint32_t>(b[at] | (b[at + 1] << 8));
  };
  auto u32 = [&b](std::uint64_t at) {
    return static_cast<std::uint32_t>(b[at]) | (static_cast<std::uint32_t>(b[at + 1]) << 8) |
           (static_cast<std::uint32_t>(b[at + 2]) << 16) |
           (static_cast<std::uint32_t>(b[at + 3]) << 24);
  };
  // The VRs of PS3.5: two letters that are not one of them are read as an implicit-VR length
  // (GDCM does so in the file meta information).
  auto known_vr = [&b](std::uint64_t at) {
    static const char* const vrs[] = {"AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD",
                                      "IS", "LO", "LT", "OB", "OD", "OF", "OL", "OV", "OW",
                                      "PN", "SH", "SL", "SQ", "SS", "ST", "SV", "TM", "UC",
                                      "UI", "UL", "UN", "UR", "US", "UT", "UV"};
    for (const char* v : vrs)
      if (b[at] == static_cast<unsigned char>(v[0]) &&
          b[at + 1] == static_cast<unsigned char>(v[1]))
        return true;
    return false;
  };
  std::uint64_t at = size >= 132 && std::memcmp(b.data() + 128, "DICM", 4) == 0 ? 132 : 0;
  int explicit_vr = -1;  // from the transfer syntax once known; -1: guess per element
  bool fragments = false;
  bool in_meta = false;
  while (at + 8 <= size) {
    const std::uint32_t group = u16(at), element = u16(at + 2);
    std::uint64_t header = 8, len = 0;
    in_meta = group == 0x0002;
    if (group == 0xfffe) {  // item, item delimiter, sequence delimiter: no VR
      len = u32(at + 4);
      if (element == 0xe0dd) fragments = false;
      if (element != 0xe000 || (len == 0xffffffffu) || !fragments) len = 0;  // step inside
    } else {
      if (group != 0x0002 && explicit_vr == -2) return true;  // big endian or deflated: GDCM's
      const bool letters = known_vr(at + 4);
      const bool is_vr =
          group == 0x0002 ? letters : explicit_vr == 1 || (explicit_vr == -1 && letters);
      std::string v;
      if (is_vr) {
        v.assign(reinterpret_cast<const char*>(b.data() + at + 4), 2);
        const bool long_form = v == "OB" || v == "OW" || v == "OF" || v == "SQ" || v == "UT" ||
                               v == "UN" || v == "OD" || v == "OL" || v == "OV" || v == "UC" ||
                               v == "UR" || v == "SV" || v == "UV";
        if (long_form) {
          if (at + 12 > size) break;
          header = 12;
          len = u32(at + 8);
        } else {
          len = u16(at + 6);
        }
      } else {
        len = u32(at + 4);
      }
      // GDCM asserts (Debian builds it with assertions: the process aborts) on a file meta
      // element that is a sequence or of undefined length (found by fuzzing).
      if (group == 0x0002 && (v == "SQ" || len == 0xffffffffu)) {
        *why =
            "its file meta information (group 0002) holds a sequence or an element of "
            "undefined length";
        return false;
      }
      if (len == 0xffffffffu) {  // undefined length: a sequence, or encapsulated pixel data
        if (group == 0x7fe0 && element == 0x0010) fragments = true;
        len = 0;
      }
    }
    if (len > size - at - header) {
      char tag[16];
      std::snprintf(tag, sizeof tag, "(%04x,%04x)", group, element);
      *why = std::string("truncated or corrupt: element ") + tag + " declares " +
             std::to_string(len) + " bytes where the file has " +
             std::to_string(size - at - header) + " left";
      return false;
    }
    if (group == 0x0002 && element == 0x0010) {  // the transfer syntax
      std::string ts(reinterpret_cast<const char*>(b.data() + at + header), len);
      while (!ts.empty() && (ts.back() == '\0' || ts.back() == ' ')) ts.pop_back();
      explicit_vr = ts == "1.2.840.10008.1.2"                                       ? 0
                    : ts == "1.2.840.10008.1.2.2" || ts == "1.2.840.10008.1.2.1.99" ? -2
                                                                                    : 1;
    }
    at += header + len;
  }
  // GDCM reads the tag after the file meta information unchecked (an assertion again).
  if (in_meta && at + 8 > size) {
    *why = "it ends within or right after its file meta information (group 0002)";
    return false;
  }
  return true;
}

bool read_dicom_header(const fs::path& file, DicomFile* out, std::string* why) {
  if (!dicom_lengths_fit(file, why)) return false;
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

// A DICOM decimal string (at most 16 characters) for x, and the value it reads back as.
std::string ds_string(double x) {
  char buf[32];
  for (int precision = 15; precision >= 1; --precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, x);
    if (std::strlen(buf) <= 16) break;
  }
  return buf;
}

}  // namespace

bool itk_can_read_dicom(const fs::path& p) {
  auto io = itk::GDCMImageIO::New();
  std::string why;
  return can_read_file(io.GetPointer(), p, &why);
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

}  // namespace ddnet::data::scan_internal

#endif  // DDNET_HAVE_ITK
