// Single image files through ITK (NIfTI, MetaImage, NRRD, TIFF, one DICOM file): reading any
// scalar pixel type into a float32 Volume, with the truncation checks ITK lacks, and writing.
// Each ImageIO is constructed here and handed to the reader/writer, so ITK's global IO factory
// registration is never needed. Built only when configure found ITK (DDNET_HAVE_ITK).
#if DDNET_HAVE_ITK

#include <itkGDCMImageIO.h>
#include <itkImageFileReader.h>
#include <itkMetaImageIO.h>
#include <itkNiftiImageIO.h>
#include <itkNrrdImageIO.h>
#include <itkTIFFImageIO.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <new>
#include <set>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "data/atomic_file.h"
#include "data/path_util.h"
#include "data/scan_io.h"
#include "data/scan_io_internal.h"
#include "data/scan_itk.h"
#include "engine/error.h"

namespace ddnet::data::scan_internal {

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

namespace {

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

// ITK 5.2 aborts the process (vnl: "matrix has non-finite elements", or a failed SVD) on a NaN or
// an infinity in a NIfTI header's voxel sizes, quaternion or affine rows, and on huge values that
// overflow in its matrices, already in CanReadFile: those are refused before ITK sees the file
// (found by fuzzing: the scan_nifti regressions). Not a NIfTI-1 header: nothing to say.
void check_nifti_geometry(const fs::path& file, const std::string& shown) {
  gzFile gz = gzopen(file.c_str(), "rb");
  if (gz == nullptr) return;
  unsigned char hdr[348];
  const int got = gzread(gz, hdr, sizeof hdr);
  gzclose(gz);
  if (got != static_cast<int>(sizeof hdr)) return;
  // The byte order as nifti1_io finds it: from dim[0] (1 to 7), whatever sizeof_hdr says.
  std::uint16_t dim0 = 0;
  std::memcpy(&dim0, hdr + 40, 2);
  const auto dim0_swapped = static_cast<std::uint16_t>((dim0 >> 8) | (dim0 << 8));
  if (!(dim0 >= 1 && dim0 <= 7) && !(dim0_swapped >= 1 && dim0_swapped <= 7)) return;
  const bool swap = !(dim0 >= 1 && dim0 <= 7);
  auto f32 = [&hdr, swap](int at) {
    std::uint32_t v = 0;
    std::memcpy(&v, hdr + at, 4);
    if (swap) v = (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
    float x = 0;
    std::memcpy(&x, &v, 4);
    return x;
  };
  const struct {
    int at, count;
    const char* what;
  } fields[] = {{76, 8, "pixdim"}, {256, 6, "quaternion/offset"}, {280, 12, "srow"}};
  for (const auto& g : fields)
    for (int k = 0; k < g.count; ++k) {
      const float v = f32(g.at + 4 * k);
      DDNET_CHECK(std::isfinite(v) && std::fabs(v) <= 1e6f, "read_scan: ", shown,
                  " is corrupt: its NIfTI header's ", g.what, "[", k, "] is ", v,
                  " (voxel sizes and positions must be finite, at most 1e6 mm)");
    }
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
  // MetaIO reads NDims and then NDims (or NDims^2) numbers for each geometry key, looping for
  // minutes on NDims = 2147483648 (found by fuzzing: the scan_mha regressions). It reads the key,
  // '=' and the value as tokens, across lines; a scan has at most 4 dimensions (a 4th of size 1),
  // so anything but 1 to 8 is refused here.
  auto check_ndims = [&] {
    std::ifstream raw(file, std::ios::binary);
    std::string head(1 << 16, '\0');
    raw.read(head.data(), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<std::size_t>(raw.gcount()));
    for (std::size_t at = head.find("NDims"); at != std::string::npos;
         at = head.find("NDims", at + 5)) {
      std::size_t v = at + 5;
      while (v < head.size() && (std::isspace(static_cast<unsigned char>(head[v])) ||
                                 head[v] == '=' || head[v] == ':'))
        ++v;
      const std::string value = head.substr(v, 32);
      char* end = nullptr;
      const double n = std::strtod(value.c_str(), &end);
      DDNET_CHECK(end != value.c_str() && n >= 1 && n <= 8, "read_scan: ", shown,
                  ": NDims = ", value.substr(0, static_cast<std::size_t>(end - value.c_str())),
                  " is not a number of dimensions (1 to 8) of a scan");
    }
  };
  check_ndims();
  // MetaIO copies keys and string values into 255-byte buffers with strcpy (found by fuzzing: a
  // 306-byte header line overflowed one, "buffer overflow detected"): a longer header line is
  // refused.
  {
    std::ifstream raw(file, std::ios::binary);
    std::string header_line;
    for (int n = 0; n < 4096 && std::getline(raw, header_line); ++n) {
      DDNET_CHECK(header_line.size() < 250, "read_scan: ", shown, ": header line ", n + 1, " is ",
                  header_line.size(),
                  " bytes long; MetaImage header lines must be "
                  "shorter than 250");
      // Non-finite or huge geometry makes ITK abort in vnl ("matrix has non-finite elements";
      // found by fuzzing: ElementSpacing = 1e308, the scan_mha regressions), as in NIfTI.
      const std::size_t eq = header_line.find('=');
      if (eq != std::string::npos) {
        std::istringstream key_in(header_line.substr(0, eq));
        std::string key;
        key_in >> key;
        static const char* const geometry[] = {"ElementSpacing", "ElementSize", "Offset",
                                               "Origin",         "Position",    "TransformMatrix",
                                               "Rotation",       "Orientation", "CenterOfRotation"};
        if (std::find_if(std::begin(geometry), std::end(geometry),
                         [&key](const char* g) { return key == g; }) != std::end(geometry)) {
          std::istringstream values(header_line.substr(eq + 1));
          std::string token;
          while (values >> token) {
            char* end = nullptr;
            const double v = std::strtod(token.c_str(), &end);
            if (end == token.c_str()) continue;  // not a number: MetaIO's verdict
            DDNET_CHECK(std::isfinite(v) && std::fabs(v) <= 1e6, "read_scan: ", shown, ": ", key,
                        " holds ", token, " (geometry must be finite, at most 1e6 mm)");
          }
        }
      }
      // The voxels follow ElementDataFile = LOCAL; with another value MetaIO may read on (found
      // by fuzzing: a 447-byte line after "ElementDataFile = LOCet..." overflowed it too).
      if (header_line.find("ElementDataFile") != std::string::npos &&
          header_line.find("LOCAL") != std::string::npos)
        break;
    }
  }
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
  if (header_end == 0) return;
  {
    // A named data file must exist: MetaIO sizes compressed data from the file it cannot open
    // and allocated 2^63 bytes (found by fuzzing: the scan_mha regression), before any check
    // below that the header's keys would skip.
    const std::string& named = keys["ElementDataFile"];
    if (named != "LOCAL" && named != "LIST" && named.find('%') == std::string::npos) {
      std::error_code ec;
      DDNET_CHECK(named.find('\0') == std::string::npos &&
                      fs::is_regular_file(file.parent_path() / named, ec),
                  "read_scan: ", shown, " names the data file ", named, ", which does not exist");
    }
  }
  if (keys.count("HeaderSize") != 0) return;
  const std::map<std::string, std::uint64_t> sizes = {
      {"MET_CHAR", 1},  {"MET_UCHAR", 1},  {"MET_SHORT", 2},     {"MET_USHORT", 2},
      {"MET_INT", 4},   {"MET_UINT", 4},   {"MET_LONG", 4},      {"MET_ULONG", 4},
      {"MET_FLOAT", 4}, {"MET_DOUBLE", 8}, {"MET_LONG_LONG", 8}, {"MET_ULONG_LONG", 8}};
  std::uint64_t expected = 0;
  const bool compressed = lower(keys["CompressedData"]) == "true";
  if (compressed) {
    if (keys.count("CompressedDataSize") == 0) return;
    // MetaIO divides by zero (SIGFPE) on some sizes that do not parse as a positive count
    // (found by fuzzing: CompressedDataSize = -2147483649, the scan_mha regression).
    const std::string& cds = keys["CompressedDataSize"];
    DDNET_CHECK(!cds.empty() && cds.find_first_not_of("0123456789") == std::string::npos &&
                    cds != std::string(cds.size(), '0'),
                "read_scan: ", shown, ": CompressedDataSize = ", cds,
                " is not a positive number of bytes");
    expected = std::strtoull(cds.c_str(), nullptr, 10);
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
  // More data than the header declares: a DimSize that undercounts (slices dropped silently).
  DDNET_CHECK(compressed || available == expected, "read_scan: ", shown, " holds ", available,
              " bytes of voxel data where its header declares ", expected, " (DimSize ",
              keys["DimSize"], ", ", keys["ElementType"],
              "): the header does not describe the data (too few slices declared?)");
}

// ITK 5.2's NrrdIO formats its error messages, which quote the offending header line, into a
// fixed stack buffer: a 1 KB line smashed the stack (found by fuzzing: the scan_nrrd regression).
// Header lines (up to the blank line that ends the header) must be shorter than 768 bytes.
void check_nrrd_header(const fs::path& file, const std::string& shown) {
  std::ifstream in(file, std::ios::binary);
  std::string line;
  for (int n = 0; n < 4096 && std::getline(in, line); ++n) {
    if (line.empty() || line == "\r") return;
    DDNET_CHECK(line.size() < 768, "read_scan: ", shown, ": NRRD header line ", n + 1, " is ",
                line.size(), " bytes long; it must be shorter than 768");
  }
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

}  // namespace

void check_tiff_directories(const fs::path& file, const std::string& shown) {
  std::ifstream in(file, std::ios::binary);
  const std::uint64_t size = file_size_or_zero(file);
  unsigned char b[8] = {};
  if (!in.read(reinterpret_cast<char*>(b), 4)) return;
  const bool le = b[0] == 'I' && b[1] == 'I', be = b[0] == 'M' && b[1] == 'M';
  if (!le && !be) return;
  auto get = [le](const unsigned char* p, int n) {
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<std::uint64_t>(p[le ? i : n - 1 - i]) << (8 * i);
    return v;
  };
  const std::uint64_t version = get(b + 2, 2);
  if (version != 42 && version != 43) return;
  const bool big = version == 43;  // BigTIFF: 8-byte counts and offsets, 20-byte entries
  const int count_bytes = big ? 8 : 2, entry_bytes = big ? 20 : 12, offset_bytes = big ? 8 : 4;
  if (big && !in.read(reinterpret_cast<char*>(b), 4)) return;  // offset size and padding
  if (!in.read(reinterpret_cast<char*>(b), offset_bytes)) return;
  std::uint64_t at = get(b, offset_bytes);
  std::set<std::uint64_t> seen;
  std::array<std::uint64_t, 6> first_layout{};
  while (at != 0 && at < size) {
    DDNET_CHECK(seen.size() < 65536, "read_scan: ", shown,
                " holds more than 65536 TIFF directories (pages); corrupt?");
    DDNET_CHECK(seen.insert(at).second, "read_scan: ", shown,
                " is corrupt: its chain of TIFF directories loops (the directory at byte ", at,
                " comes twice)");
    in.clear();
    if (!in.seekg(static_cast<std::streamoff>(at)) ||
        !in.read(reinterpret_cast<char*>(b), count_bytes))
      return;
    const std::uint64_t count = get(b, count_bytes);
    if (count > size) return;  // past the end: libtiff stops here too
    const std::uint64_t next = at + static_cast<std::uint64_t>(count_bytes) +
                               count * static_cast<std::uint64_t>(entry_bytes);
    if (next > size) return;
    // ITK's TIFFImageIO takes strlen of ASCII tags (type 2), which must end with a NUL: one that
    // does not overflowed a heap buffer (found by fuzzing: the scan_tiff regressions).
    // ITK reads every page with the first page's size and sample layout: a later page of
    // another width, height or sample format overflowed its buffer (found by fuzzing: the
    // scan_tiff regressions). Tags 256, 257, 258, 277, 339 (absent: 0, 0, 1, 1, 1), and 254
    // (NewSubfileType, absent: 0: ITK counts the pages that say "page" and reads them all); a
    // value stored elsewhere (a per-sample array) is compared by its count.
    std::array<std::uint64_t, 6> layout = {0, 0, 1, 1, 1, 0};
    for (std::uint64_t e = 0; e < count; ++e) {
      unsigned char entry[20] = {};
      const std::uint64_t where = at + static_cast<std::uint64_t>(count_bytes) +
                                  e * static_cast<std::uint64_t>(entry_bytes);
      in.clear();
      if (!in.seekg(static_cast<std::streamoff>(where)) ||
          !in.read(reinterpret_cast<char*>(entry), entry_bytes))
        return;
      const std::uint64_t tag = get(entry, 2), type = get(entry + 2, 2);
      const std::uint64_t values = get(entry + 4, offset_bytes);
      const int slot = tag == 256   ? 0
                       : tag == 257 ? 1
                       : tag == 258 ? 2
                       : tag == 277 ? 3
                       : tag == 339 ? 4
                       : tag == 254 ? 5
                                    : -1;
      if (slot >= 0)
        layout[static_cast<std::size_t>(slot)] =
            values != 1 ? (std::uint64_t{1} << 63) | values
                        : get(entry + 4 + offset_bytes, type == 3   ? 2
                                                        : type == 4 ? 4
                                                        : type == 1 ? 1
                                                                    : offset_bytes);
      if (type != 2) continue;
      const std::uint64_t n = values;
      if (n == 0) continue;
      const int inline_bytes = offset_bytes;
      const int value_at = 4 + offset_bytes;
      unsigned char last = 0;
      if (n <= static_cast<std::uint64_t>(inline_bytes)) {
        last = entry[value_at + n - 1];
      } else {
        const std::uint64_t data = get(entry + value_at, offset_bytes);
        DDNET_CHECK(data < size && n <= size - data, "read_scan: ", shown, " is corrupt: TIFF tag ",
                    get(entry, 2), " (text) lies past the end of the file");
        in.clear();
        char c = 0;
        if (!in.seekg(static_cast<std::streamoff>(data + n - 1)) || !in.get(c)) return;
        last = static_cast<unsigned char>(c);
      }
      DDNET_CHECK(last == 0, "read_scan: ", shown, " is corrupt: TIFF tag ", get(entry, 2),
                  " (text) does not end with a NUL");
    }
    if (seen.size() == 1) first_layout = layout;
    DDNET_CHECK(layout == first_layout, "read_scan: ", shown, ": TIFF page ", seen.size(),
                " differs from the first in its width, height, sample layout or subfile type (tags "
                "254, 256, 257, 258, 277, 339); a volume's pages must agree");
    if (next > size || !in.seekg(static_cast<std::streamoff>(next)) ||
        !in.read(reinterpret_cast<char*>(b), offset_bytes))
      return;
    at = get(b, offset_bytes);
  }
}

namespace {

// A header can promise any size, and ITK allocates the whole image before reading a byte: a
// 400-byte NRRD file asked for 64 GB (found by fuzzing: the scan_nrrd regression). The voxels
// a file can hold are bounded by its size times the largest ratio of the compressions these
// formats use (deflate about 1032:1, LZW about 2730:1): a promise beyond 4096 times the file's
// size is refused (the data file's size when a NRRD or MetaImage header names another), and so is
// anything over 1 TiB.
void check_size_fits_file(itk::ImageIOBase* io, const fs::path& file, ScanFormat f,
                          const std::string& shown) {
  // The file the voxels are in: this one, or the one a NRRD or MetaImage header names (a list or
  // a numbered pattern of files: not bounded by size, only by the cap below).
  std::uint64_t size = file_size_or_zero(file);
  bool bounded = true;
  if (f == ScanFormat::nrrd || f == ScanFormat::mha) {
    std::ifstream raw(file, std::ios::binary);
    std::string line;
    for (int n = 0; n < 4096 && std::getline(raw, line); ++n) {
      const std::string low = lower(line);
      std::string name;
      if (f == ScanFormat::mha && low.rfind("elementdatafile", 0) == 0 &&
          line.find('=') != std::string::npos)
        name = line.substr(line.find('=') + 1);
      else if (f == ScanFormat::nrrd &&
               (low.rfind("data file:", 0) == 0 || low.rfind("datafile:", 0) == 0))
        name = line.substr(line.find(':') + 1);
      else if (f == ScanFormat::nrrd && line.empty())
        break;  // the end of a NRRD header
      else
        continue;
      while (!name.empty() && std::isspace(static_cast<unsigned char>(name.back())))
        name.pop_back();
      std::size_t i = 0;
      while (i < name.size() && std::isspace(static_cast<unsigned char>(name[i]))) ++i;
      name = name.substr(i);
      if (f == ScanFormat::mha && name == "LOCAL") break;
      if (name.rfind("LIST", 0) == 0 || name.find('%') != std::string::npos ||
          (f == ScanFormat::nrrd && name.find(' ') != std::string::npos)) {
        bounded = false;
      } else {
        const fs::path data =
            fs::path(name).is_absolute() ? fs::path(name) : file.parent_path() / name;
        size = file_size_or_zero(data);
      }
      break;
    }
  }
  std::uint64_t bytes = 1;
  try {
    bytes = std::max<std::uint64_t>(1, io->GetComponentSize());
  } catch (const itk::ExceptionObject& e) {  // an unknown pixel type (found by fuzzing)
    DDNET_FAIL("read_scan: cannot read the header of ", shown, ": ", describe(e));
  }
  bool overflow = false;
  for (unsigned d = 0; d < io->GetNumberOfDimensions(); ++d) {
    const std::uint64_t n = io->GetDimensions(d);
    if (n != 0 && bytes > UINT64_MAX / n)
      overflow = true;
    else
      bytes *= n;
  }
  DDNET_CHECK(!overflow && bytes <= (std::uint64_t{1} << 40) && (!bounded || bytes / 4096 <= size),
              "read_scan: ", shown, " is corrupt: its header promises ",
              overflow ? std::string("more than 2^64") : std::to_string(bytes),
              " bytes of voxels, more than ", bounded ? "its data file of " : "the cap of ",
              bounded ? size : (std::uint64_t{1} << 40), " bytes can hold");
}

}  // namespace

bool can_read_file(itk::ImageIOBase* io, const fs::path& file, std::string* why) {
  // ITK 5.2's TIFF reader throws from CanReadFile on some corrupt files (found by fuzzing: the
  // scan_tiff regression) instead of answering false.
  try {
    return io->CanReadFile(file.c_str());
  } catch (const itk::ExceptionObject& e) {
    *why = ": " + describe(e);
    return false;
  }
}

// One scalar image file of at most 3 dimensions (a 4th of size 1 is allowed), any pixel type.
Volume read_image_file(const fs::path& file, ScanFormat f, const std::string& shown) {
  std::error_code ec;
  DDNET_CHECK(fs::is_regular_file(file, ec), "read_scan: ", shown, " is not a file");
  itk::ImageIOBase::Pointer io = make_io(f);
  if (f == ScanFormat::tiff) check_tiff_directories(file, shown);
  if (f == ScanFormat::nifti) check_nifti_geometry(file, shown);
  std::string why;
  DDNET_CHECK(can_read_file(io.GetPointer(), file, &why), "read_scan: ", shown,
              " is not a readable ", format_name(f),
              " file (corrupt, truncated, or another format under this name)", why);
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
  if (f == ScanFormat::nrrd) check_nrrd_header(file, shown);
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
  check_size_fits_file(io.GetPointer(), file, f, shown);
  try {
    reader->Update();
  } catch (const itk::ExceptionObject& e) {
    DDNET_FAIL("read_scan: cannot read ", shown, ": ", describe(e));
  } catch (const std::bad_alloc&) {
    DDNET_FAIL("read_scan: not enough memory to read ", shown, " (its header promises ",
               io->GetImageSizeInBytes(), " bytes)");
  }
  Volume v = to_volume(reader->GetOutput(), shown);
  check_finite_read(v, shown);
  return v;
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

// int16 of a rounded HU value, or an error naming the value and where it is.
std::int16_t to_int16(double stored, float hu, std::int64_t n, const Volume& v,
                      const std::string& shown, const char* hint) {
  const double r = std::nearbyint(stored);
  DDNET_CHECK(r >= -32768.0 && r <= 32767.0, "write_scan: ", shown, ": HU ", hu, " at voxel (",
              n / v.slice_size(), ", ", (n / v.cols) % v.rows, ", ", n % v.cols,
              ") does not fit int16", hint);
  return static_cast<std::int16_t>(r);
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

}  // namespace ddnet::data::scan_internal

#endif  // DDNET_HAVE_ITK
