// Scan import/export: round trips through every format (voxels, spacing, origin, direction), a
// DICOM series written byte by byte here (rescale slope/intercept, slice order by position), and
// bad inputs whose errors must name the file. Built without ITK, the ITK cases warn and return.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "data/scan_io.h"
#include "engine/error.h"
#include "tests/skip.h"

using namespace ddnet;
using namespace ddnet::data;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

// A fresh folder under the system temporary folder, removed with its contents at scope exit.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& tag) {
    static int counter = 0;
    path = fs::temp_directory_path() / ("ddnet_scan_io_" + tag + "_" + std::to_string(getpid()) +
                                        "_" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

#define SKIP_WITHOUT_ITK()                                                     \
  do {                                                                         \
    if (!have_itk()) DDNET_SKIP("this build has no ITK (scan import/export)"); \
  } while (0)

// 5 slices of 12 x 10, HU in about [-1000, 0) plus `frac`, on an oblique grid.
Volume test_volume(float frac) {
  Volume v(5, 12, 10);
  for (std::int64_t k = 0; k < v.slices; ++k)
    for (std::int64_t i = 0; i < v.rows; ++i)
      for (std::int64_t j = 0; j < v.cols; ++j)
        v.at(k, i, j) =
            static_cast<float>(-1000 + 97 * k + 13 * i + 7 * j + (i * j) % 5 * 30) + frac;
  v.spacing = {2.5, 0.75, 0.625};
  v.origin = {-120.5, 33.25, 410.0};
  v.direction = {0.6, -0.8, 0, 0.8, 0.6, 0, 0, 0, 1};  // rotated 53.13 degrees about z
  return v;
}

void require_same_voxels(const Volume& want, const Volume& got) {
  REQUIRE(got.slices == want.slices);
  REQUIRE(got.rows == want.rows);
  REQUIRE(got.cols == want.cols);
  REQUIRE(got.voxels.size() == want.voxels.size());
  std::size_t bad = 0, first = 0;
  for (std::size_t n = 0; n < want.voxels.size(); ++n)
    if (got.voxels[n] != want.voxels[n] && bad++ == 0) first = n;
  INFO("first mismatch at flat index " << first << ": " << got.voxels[first] << " vs "
                                       << want.voxels[first]);
  REQUIRE(bad == 0);
}

void require_same_geometry(const Volume& want, const Volume& got, double tol) {
  for (std::size_t a = 0; a < 3; ++a) {
    INFO("axis " << a);
    CHECK(got.spacing[a] == Approx(want.spacing[a]).epsilon(0).margin(tol));
    CHECK(got.origin[a] == Approx(want.origin[a]).epsilon(0).margin(tol));
  }
  for (std::size_t e = 0; e < 9; ++e) {
    INFO("direction element " << e);
    CHECK(got.direction[e] == Approx(want.direction[e]).epsilon(0).margin(tol));
  }
}

std::string read_bytes(const std::string& file) {
  std::ifstream in(file, std::ios::binary | std::ios::ate);
  std::string bytes(static_cast<std::size_t>(std::max<std::streamoff>(in.tellg(), 0)), '\0');
  in.seekg(0);
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return bytes;
}

void write_bytes(const std::string& file, const std::string& bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// ---- a CT slice in DICOM Part 10 (explicit VR little endian), written by hand -------------------

void put_u16(std::string& out, unsigned v) {
  out.push_back(static_cast<char>(v & 0xff));
  out.push_back(static_cast<char>((v >> 8) & 0xff));
}
void put_u32(std::string& out, unsigned v) {
  put_u16(out, v & 0xffff);
  put_u16(out, v >> 16);
}
std::string us(unsigned v) {
  std::string s;
  put_u16(s, v);
  return s;
}

void element(std::string& out, unsigned group, unsigned elem, const std::string& vr,
             std::string value) {
  if (value.size() % 2 != 0) value.push_back(vr == "UI" ? '\0' : ' ');
  put_u16(out, group);
  put_u16(out, elem);
  out += vr;
  if (vr == "OB" || vr == "OW") {
    put_u16(out, 0);
    put_u32(out, static_cast<unsigned>(value.size()));
  } else {
    put_u16(out, static_cast<unsigned>(value.size()));
  }
  out += value;
}

std::string ds(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", x);
  return buf;
}

struct CtSlice {
  int rows = 6, cols = 5;
  std::vector<std::int16_t> stored;  // rows * cols
  std::array<double, 3> ipp{};
  int instance = 1;
  double slope = 1, intercept = 0;
  std::string series_uid = "1.2.826.0.1.3680043.2.1125.77.1";
};

void write_ct_slice(const std::string& file, const CtSlice& s) {
  const std::string ct_storage = "1.2.840.10008.5.1.4.1.1.2";
  const std::string sop = s.series_uid + "." + std::to_string(s.instance);
  std::string data;  // ascending tag order
  element(data, 0x0008, 0x0016, "UI", ct_storage);
  element(data, 0x0008, 0x0018, "UI", sop);
  element(data, 0x0008, 0x0060, "CS", "CT");
  element(data, 0x0020, 0x000d, "UI", "1.2.826.0.1.3680043.2.1125.77.9");
  element(data, 0x0020, 0x000e, "UI", s.series_uid);
  element(data, 0x0020, 0x0013, "IS", std::to_string(s.instance));
  element(data, 0x0020, 0x0032, "DS", ds(s.ipp[0]) + "\\" + ds(s.ipp[1]) + "\\" + ds(s.ipp[2]));
  element(data, 0x0020, 0x0037, "DS", "1\\0\\0\\0\\1\\0");
  element(data, 0x0028, 0x0002, "US", us(1));
  element(data, 0x0028, 0x0004, "CS", "MONOCHROME2");
  element(data, 0x0028, 0x0010, "US", us(static_cast<unsigned>(s.rows)));
  element(data, 0x0028, 0x0011, "US", us(static_cast<unsigned>(s.cols)));
  element(data, 0x0028, 0x0030, "DS", "0.5\\0.75");  // row spacing (y) \ column spacing (x)
  element(data, 0x0028, 0x0100, "US", us(16));
  element(data, 0x0028, 0x0101, "US", us(16));
  element(data, 0x0028, 0x0102, "US", us(15));
  element(data, 0x0028, 0x0103, "US", us(1));  // signed
  element(data, 0x0028, 0x1052, "DS", ds(s.intercept));
  element(data, 0x0028, 0x1053, "DS", ds(s.slope));
  std::string pixels;
  for (std::int16_t v : s.stored) put_u16(pixels, static_cast<std::uint16_t>(v));
  element(data, 0x7fe0, 0x0010, "OW", pixels);

  std::string meta;
  element(meta, 0x0002, 0x0001, "OB", std::string("\0\1", 2));
  element(meta, 0x0002, 0x0002, "UI", ct_storage);
  element(meta, 0x0002, 0x0003, "UI", sop);
  element(meta, 0x0002, 0x0010, "UI", "1.2.840.10008.1.2.1");  // explicit VR little endian
  element(meta, 0x0002, 0x0012, "UI", "1.2.826.0.1.3680043.2.1125.77.8");
  std::string length;
  put_u32(length, static_cast<unsigned>(meta.size()));
  std::string head(128, '\0');
  head += "DICM";
  element(head, 0x0002, 0x0000, "UL", length);
  write_bytes(file, head + meta + data);
}

// Stored value of voxel (k, i, j) of the hand-made series.
std::int16_t stored_value(int k, int i, int j) {
  return static_cast<std::int16_t>(-300 + 100 * k + 7 * i + j);
}

CtSlice ct_slice(int k, int rows = 6, int cols = 5) {
  CtSlice s;
  s.rows = rows;
  s.cols = cols;
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) s.stored.push_back(stored_value(k, i, j));
  s.ipp = {-40.0, 25.5, -100.0 + 2.5 * k};
  s.instance = k + 1;
  s.slope = 2;
  s.intercept = -1024;
  return s;
}

}  // namespace

TEST_CASE("scan_io: format_from_path by extension and by folder contents", "[data]") {
  CHECK(format_from_path("a/scan.nii") == ScanFormat::nifti);
  CHECK(format_from_path("a/scan.NII.GZ") == ScanFormat::nifti);
  CHECK(format_from_path("scan.mha") == ScanFormat::mha);
  CHECK(format_from_path("scan.mhd") == ScanFormat::mha);
  CHECK(format_from_path("scan.nrrd") == ScanFormat::nrrd);
  CHECK(format_from_path("scan.nhdr") == ScanFormat::nrrd);
  CHECK(format_from_path("scan.tiff") == ScanFormat::tiff);
  CHECK(format_from_path("x/IM0001.dcm") == ScanFormat::dicom);
  REQUIRE_THROWS_WITH(format_from_path("out/series"),
                      Contains("out/series") && Contains("name the format"));
  CHECK(parse_format("mhd") == ScanFormat::mha);
  REQUIRE_THROWS_WITH(parse_format("png"), Contains("png"));

  TempDir dir("format");
  fs::create_directories(dir.path / "tiffs");
  write_bytes(dir / "tiffs/slice1.tif", "not really a tiff");
  CHECK(format_from_path(dir / "tiffs") == ScanFormat::tiff);
  fs::create_directories(dir.path / "dicom");
  write_bytes(dir / "dicom/IM1", std::string(128, '\0') + "DICM");
  CHECK(format_from_path(dir / "dicom") == ScanFormat::dicom);
  CHECK(format_from_path(dir / "dicom#1.2.3") == ScanFormat::dicom);
  fs::create_directories(dir.path / "empty");
  REQUIRE_THROWS_WITH(format_from_path(dir / "empty"),
                      Contains(dir / "empty") && Contains("empty"));
}

// The other side: skipped in builds with ITK.
TEST_CASE("scan_io: without ITK, reading and writing say how to get it", "[data]") {
  if (have_itk()) DDNET_SKIP("this build has ITK");
  TempDir dir("noitk");
  const Volume v = test_volume(0.25f);
  REQUIRE_THROWS_WITH(write_scan(v, dir / "scan.nii.gz"),
                      Contains("scan.nii.gz") && Contains("libinsighttoolkit5-dev"));
  write_bytes(dir / "scan.mha", "ObjectType = Image\n");
  REQUIRE_THROWS_WITH(read_scan(dir / "scan.mha"),
                      Contains("scan.mha") && Contains("libinsighttoolkit5-dev"));
}

TEST_CASE("scan_io: NIfTI, MetaImage and NRRD round-trip voxels and geometry", "[data]") {
  SKIP_WITHOUT_ITK();
  TempDir dir("files");
  const Volume v = test_volume(0.25f);
  // NIfTI keeps spacing, origin and the orientation quaternion in float32.
  const std::vector<std::pair<std::string, double>> cases = {
      {"scan.nii", 1e-6},  {"scan.nii.gz", 1e-6}, {"scan.mha", 1e-12},
      {"scan.mhd", 1e-12}, {"scan.nrrd", 1e-12},  {"scan.nhdr", 1e-12}};
  for (const auto& [name, tol] : cases) {
    INFO(name);
    write_scan(v, dir / name);
    const Volume r = read_scan(dir / name);
    require_same_voxels(v, r);
    require_same_geometry(v, r, tol);
    CHECK(r.source == dir / name);
  }
  // Only the named files and their detached data files remain: no temporary leftovers.
  for (const auto& e : fs::directory_iterator(dir.path))
    CHECK(e.path().filename().string().rfind(".", 0) != 0);
  CHECK(fs::exists(dir.path / "scan.zraw"));  // .mhd's compressed data file
  // scan.nii and scan.nii.gz side by side: each reads as itself (the NIfTI library alone would
  // open scan.nii for both).
  Volume w = v;
  w.voxels[7] = 123.5f;
  write_scan(w, dir / "scan.nii.gz");
  CHECK(read_scan(dir / "scan.nii.gz").voxels[7] == 123.5f);
  CHECK(read_scan(dir / "scan.nii").voxels[7] == v.voxels[7]);
  // Writing again replaces the file.
  w.voxels[7] = -7.5f;
  write_scan(w, dir / "scan.mha");
  CHECK(read_scan(dir / "scan.mha").voxels[7] == -7.5f);
}

TEST_CASE("scan_io: DICOM series round-trip (int16, slope 1, intercept 0)", "[data]") {
  SKIP_WITHOUT_ITK();
  TempDir dir("dicom");
  const Volume v = test_volume(0.0f);  // integer HU: exact in int16
  const std::string out = dir / "series";
  write_scan(v, out, ScanFormat::dicom);
  CHECK(format_from_path(out) == ScanFormat::dicom);
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(out)) names.push_back(e.path().filename().string());
  CHECK(names.size() == 5);
  CHECK(fs::exists(fs::path(out) / "slice_0000.dcm"));
  const Volume r = read_scan(out);
  require_same_voxels(v, r);
  require_same_geometry(v, r, 1e-4);  // positions as DICOM decimal strings
  // Rewriting the same folder replaces it.
  write_scan(v, out, ScanFormat::dicom);
  require_same_voxels(v, read_scan(out));
}

TEST_CASE("scan_io: DICOM keeps patient, study and acquisition, a new series in the same study",
          "[data]") {
  SKIP_WITHOUT_ITK();
  TempDir dir("dicom_meta");
  Volume v = test_volume(0.0f);
  v.dicom = {{"0010|0010", "Doe^Jane"},
             {"0010|0020", "P-0042"},
             {"0020|000d", "1.2.826.0.1.3680043.2.1125.1.123"},
             {"0020|0052", "1.2.826.0.1.3680043.2.1125.1.456"},
             {"0020|000e", "1.2.3.4.5"},  // the source series: never reused
             {"0008|103e", "HEAD 5mm ddnet denoised"},
             {"0018|0060", "120"},
             {"0009|0010", "PRIVATE CREATOR"}};  // not a kept attribute: not written
  write_scan(v, dir / "a", ScanFormat::dicom);
  const Volume r = read_scan(dir / "a");  // one series (several would be refused)
  require_same_voxels(v, r);
  for (const char* tag : {"0010|0010", "0010|0020", "0020|000d", "0020|0052", "0008|103e"}) {
    INFO(tag);
    CHECK(r.dicom.count(tag) == 1);
    CHECK(r.dicom.at(tag) == v.dicom.at(tag));
  }
  CHECK(std::stod(r.dicom.at("0018|0060")) == 120.0);
  const std::string series = r.dicom.at("0020|000e");
  CHECK(series != "1.2.3.4.5");
  CHECK(series.rfind("2.25.", 0) == 0);
  CHECK(series.size() <= 64);
  CHECK(r.dicom.count("0009|0010") == 0);
  // Every file carries that one series UID and its own SOP instance UID.
  for (const auto& e : fs::directory_iterator(dir / "a")) {
    const Volume one = read_scan(e.path().string());
    CHECK(one.dicom.at("0020|000e") == series);
  }
  // Written again: another new series, the same study.
  write_scan(v, dir / "b", ScanFormat::dicom);
  const Volume r2 = read_scan(dir / "b");
  CHECK(r2.dicom.at("0020|000e") != series);
  CHECK(r2.dicom.at("0020|000d") == v.dicom.at("0020|000d"));
}

TEST_CASE("scan_io: DICOM without source attributes gets fresh UIDs, other formats carry none",
          "[data]") {
  SKIP_WITHOUT_ITK();
  TempDir dir("dicom_fresh");
  const Volume v = test_volume(0.0f);
  write_scan(v, dir / "s", ScanFormat::dicom);
  const Volume r = read_scan(dir / "s");
  CHECK(r.dicom.at("0020|000d").rfind("2.25.", 0) == 0);
  CHECK(r.dicom.at("0020|0052").rfind("2.25.", 0) == 0);
  CHECK(r.dicom.at("0008|103e") == "ddnet");
  CHECK(r.dicom.at("0008|0060") == "CT");
  write_scan(r, dir / "v.mha");
  CHECK(read_scan(dir / "v.mha").dicom.empty());
  write_scan(r, dir / "v.nii.gz");
  CHECK(read_scan(dir / "v.nii.gz").dicom.empty());
}

TEST_CASE("scan_io: a left-handed volume through DICOM keeps every voxel's position", "[data]") {
  SKIP_WITHOUT_ITK();
  // DICOM derives the slice axis as row x column, so a left-handed grid comes back with its slice
  // order reversed, the origin at its last slice, and the same voxels in the same places.
  TempDir dir("lefthanded");
  Volume v = test_volume(0.0f);
  v.direction = {1, 0, 0, 0, 1, 0, 0, 0, -1};
  write_scan(v, dir / "series", ScanFormat::dicom);
  const Volume r = read_scan(dir / "series");
  REQUIRE(r.slices == v.slices);
  for (std::int64_t k = 0; k < v.slices; ++k)
    for (std::int64_t i = 0; i < v.rows; ++i)
      for (std::int64_t j = 0; j < v.cols; ++j)
        REQUIRE(r.at(k, i, j) == v.at(v.slices - 1 - k, i, j));
  CHECK(r.direction[8] == Approx(1.0));
  CHECK(r.origin[2] == Approx(v.origin[2] - 4 * v.spacing[0]));
  CHECK(r.spacing[0] == Approx(v.spacing[0]));
}

TEST_CASE("scan_io: DICOM written with a chosen rescale stores int16 and reads back HU", "[data]") {
  SKIP_WITHOUT_ITK();
  TempDir dir("rescale");
  const Volume v = test_volume(0.5f);  // half-integer HU: exact with slope 0.5
  ScanWriteOptions opt;
  opt.rescale_slope = 0.5;
  opt.rescale_intercept = -1024;
  write_scan(v, dir / "series", ScanFormat::dicom, opt);
  // The pixel data, last in the file, holds (HU - intercept) / slope as int16.
  const std::string bytes = read_bytes(dir / "series/slice_0004.dcm");
  const std::size_t n = static_cast<std::size_t>(v.slice_size());
  REQUIRE(bytes.size() > 2 * n);
  const std::string tail = bytes.substr(bytes.size() - 2 * n);
  for (std::size_t p = 0; p < n; ++p) {
    const auto lo = static_cast<unsigned char>(tail[2 * p]);
    const auto hi = static_cast<unsigned char>(tail[2 * p + 1]);
    const auto stored = static_cast<std::int16_t>(static_cast<std::uint16_t>(lo | (hi << 8)));
    const double hu = static_cast<double>(v.slice(4)[p]);
    REQUIRE(stored == static_cast<std::int16_t>((hu + 1024) / 0.5));
  }
  const Volume r = read_scan(dir / "series");
  require_same_voxels(v, r);
  require_same_geometry(v, r, 1e-4);
  // HU that do not fit int16 under the rescale are refused, naming the value and the target.
  Volume hot = v;
  hot.at(2, 3, 4) = 20000;
  REQUIRE_THROWS_WITH(write_scan(hot, dir / "hot", ScanFormat::dicom, opt),
                      Contains("hot") && Contains("(2, 3, 4)") && Contains("int16"));
  CHECK_FALSE(fs::exists(dir.path / "hot"));
}

TEST_CASE("scan_io: hand-made DICOM series: slope/intercept give HU, slices sorted by position",
          "[data]") {
  SKIP_WITHOUT_ITK();
  TempDir dir("handmade");
  // File names deliberately out of position order; slope 2, intercept -1024.
  const int order[4] = {2, 0, 3, 1};
  for (int f = 0; f < 4; ++f)
    write_ct_slice(dir / ("IM" + std::to_string(f) + ".dcm"), ct_slice(order[f]));
  write_bytes(dir / "README.txt", "not DICOM, skipped");
  const Volume r = read_scan(dir.path.string());
  REQUIRE(r.slices == 4);
  REQUIRE(r.rows == 6);
  REQUIRE(r.cols == 5);
  for (int k = 0; k < 4; ++k)
    for (int i = 0; i < 6; ++i)
      for (int j = 0; j < 5; ++j) {
        INFO("voxel " << k << ", " << i << ", " << j);
        REQUIRE(r.at(k, i, j) == static_cast<float>(2 * stored_value(k, i, j) - 1024));
      }
  CHECK(r.spacing[0] == Approx(2.5));
  CHECK(r.spacing[1] == Approx(0.5));   // rows: y
  CHECK(r.spacing[2] == Approx(0.75));  // cols: x
  CHECK(r.origin[0] == Approx(-40.0));
  CHECK(r.origin[1] == Approx(25.5));
  CHECK(r.origin[2] == Approx(-100.0));
  const std::array<double, 9> identity{1, 0, 0, 0, 1, 0, 0, 0, 1};
  for (std::size_t e = 0; e < 9; ++e) CHECK(r.direction[e] == Approx(identity[e]).margin(1e-12));
}

TEST_CASE("scan_io: several DICOM series in a folder: listed, and picked with folder#uid",
          "[data]") {
  SKIP_WITHOUT_ITK();
  TempDir dir("twoseries");
  for (int k = 0; k < 3; ++k) {
    CtSlice a = ct_slice(k);
    write_ct_slice(dir / ("a" + std::to_string(k) + ".dcm"), a);
    CtSlice b = ct_slice(k);
    b.series_uid = "1.2.826.0.1.3680043.2.1125.77.2";
    b.slope = 1;
    write_ct_slice(dir / ("b" + std::to_string(k) + ".dcm"), b);
  }
  REQUIRE_THROWS_WITH(read_scan(dir.path.string()),
                      Contains("2 DICOM series") && Contains("1.2.826.0.1.3680043.2.1125.77.1") &&
                          Contains("1.2.826.0.1.3680043.2.1125.77.2") && Contains("#"));
  const Volume b = read_scan(dir / "#1.2.826.0.1.3680043.2.1125.77.2");
  REQUIRE(b.slices == 3);
  CHECK(b.at(1, 2, 3) == static_cast<float>(stored_value(1, 2, 3) - 1024));
  REQUIRE_THROWS_WITH(read_scan(dir / "#9.9.9"), Contains("9.9.9"));
}

TEST_CASE("scan_io: TIFF slices round-trip (float32 and int16) in natural name order", "[data]") {
  SKIP_WITHOUT_ITK();
  TempDir dir("tiff");
  const Volume v = test_volume(0.25f);
  write_scan(v, dir / "slices", ScanFormat::tiff);
  CHECK(format_from_path(dir / "slices") == ScanFormat::tiff);
  Volume r = read_scan(dir / "slices");
  require_same_voxels(v, r);
  // TIFF keeps only the in-plane pixel size (as a float resolution).
  CHECK(r.spacing[1] == Approx(v.spacing[1]).epsilon(1e-6));
  CHECK(r.spacing[2] == Approx(v.spacing[2]).epsilon(1e-6));
  CHECK(r.spacing[0] == 1.0);

  const Volume vi = test_volume(0.0f);
  ScanWriteOptions opt;
  opt.tiff_int16 = true;
  write_scan(vi, dir / "int16", ScanFormat::tiff, opt);
  require_same_voxels(vi, read_scan(dir / "int16"));

  // One multi-page file.
  write_scan(v, dir / "stack.tif");
  require_same_voxels(v, read_scan(dir / "stack.tif"));

  // slice2 sorts before slice10.
  fs::create_directories(dir.path / "natural");
  for (int n : {10, 1, 2}) {
    Volume s(1, 4, 3, static_cast<float>(n));
    write_scan(s, dir / ("natural/slice" + std::to_string(n) + ".tif"));
  }
  r = read_scan(dir / "natural");
  REQUIRE(r.slices == 3);
  CHECK(r.at(0, 0, 0) == 1.0f);
  CHECK(r.at(1, 0, 0) == 2.0f);
  CHECK(r.at(2, 0, 0) == 10.0f);
}

TEST_CASE("scan_io: a 2-D image reads as a one-slice volume", "[data]") {
  SKIP_WITHOUT_ITK();
  TempDir dir("twod");
  Volume s(1, 6, 4, -5.0f);
  s.spacing = {1.0, 0.5, 0.25};
  write_scan(s, dir / "one.tif");
  const Volume r = read_scan(dir / "one.tif");
  CHECK(r.slices == 1);
  CHECK(r.rows == 6);
  CHECK(r.cols == 4);
  CHECK(r.at(0, 5, 3) == -5.0f);
}

TEST_CASE("scan_io: a DICOM series with a missing slice names its neighbours", "[data]") {
  SKIP_WITHOUT_ITK();
  TempDir dir("missing");
  write_scan(test_volume(0.0f), dir / "series", ScanFormat::dicom);
  fs::remove(dir.path / "series/slice_0002.dcm");
  REQUIRE_THROWS_WITH(read_scan(dir / "series"), Contains("missing") &&
                                                     Contains("slice_0001.dcm") &&
                                                     Contains("slice_0003.dcm"));
}

TEST_CASE("scan_io: a DICOM slice of another size is named", "[data]") {
  SKIP_WITHOUT_ITK();
  TempDir dir("mixed");
  for (int k = 0; k < 4; ++k)
    write_ct_slice(dir / ("IM" + std::to_string(k) + ".dcm"), ct_slice(k));
  write_ct_slice(dir / "IM4.dcm", ct_slice(4, 7, 5));
  REQUIRE_THROWS_WITH(read_scan(dir.path.string()), Contains("IM4.dcm") && Contains("7x5"));
}

TEST_CASE("scan_io: a TIFF slice of another size is named", "[data]") {
  SKIP_WITHOUT_ITK();
  TempDir dir("tiffsize");
  write_scan(test_volume(0.25f), dir / "slices", ScanFormat::tiff);
  write_scan(Volume(1, 12, 11, 0.0f), dir / "slices/slice_0003.tif");
  REQUIRE_THROWS_WITH(read_scan(dir / "slices"), Contains("slice_0003.tif") && Contains("12x11"));
}

TEST_CASE("scan_io: corrupt, empty and missing inputs are named", "[data]") {
  SKIP_WITHOUT_ITK();
  TempDir dir("bad");
  // A truncated .nii.gz.
  write_scan(test_volume(0.25f), dir / "cut.nii.gz");
  const std::string bytes = read_bytes(dir / "cut.nii.gz");
  write_bytes(dir / "cut.nii.gz", bytes.substr(0, bytes.size() / 2));
  REQUIRE_THROWS_WITH(read_scan(dir / "cut.nii.gz"), Contains("cut.nii.gz"));
  // ITK 5.2 zero-fills truncated NIfTI and MetaImage voxels silently: ours must not.
  for (const std::string name : {"cut.nii", "cut.mha", "cut_raw.mha"}) {
    INFO(name);
    ScanWriteOptions opt;
    opt.compress = name != "cut_raw.mha";
    write_scan(test_volume(0.25f), dir / name, format_from_path(name), opt);
    const std::string full = read_bytes(dir / name);
    write_bytes(dir / name, full.substr(0, full.size() - 100));
    REQUIRE_THROWS_WITH(read_scan(dir / name), Contains(name) && Contains("truncated"));
  }
  // A DICOM slice cut short (GDCM only warns; the rest would read as zeros).
  write_scan(test_volume(0.0f), dir / "series", ScanFormat::dicom);
  const std::string slice = read_bytes(dir / "series/slice_0003.dcm");
  write_bytes(dir / "series/slice_0003.dcm", slice.substr(0, slice.size() - 10));
  REQUIRE_THROWS_WITH(read_scan(dir / "series"),
                      Contains("slice_0003.dcm") && Contains("truncated"));
  // A text file under an image name.
  write_bytes(dir / "garbage.mha", "this is a shopping list, not an image\n");
  REQUIRE_THROWS_WITH(read_scan(dir / "garbage.mha"), Contains("garbage.mha"));
  write_bytes(dir / "garbage.nrrd", "NRRD0004\nnonsense\n");
  REQUIRE_THROWS_WITH(read_scan(dir / "garbage.nrrd"), Contains("garbage.nrrd"));
  // A .dcm file that is not DICOM, inside a folder.
  fs::create_directories(dir.path / "dcm");
  write_bytes(dir / "dcm/broken.dcm", "nope");
  REQUIRE_THROWS_WITH(read_scan(dir / "dcm"), Contains("broken.dcm"));
  // An empty folder, and a path that does not exist.
  fs::create_directories(dir.path / "empty");
  REQUIRE_THROWS_WITH(read_scan(dir / "empty"), Contains(dir / "empty"));
  REQUIRE_THROWS_WITH(read_scan(dir / "nope.nii"),
                      Contains("nope.nii") && Contains("does not exist"));
}

TEST_CASE("scan_io: writing refuses bad volumes and folders holding other files", "[data]") {
  SKIP_WITHOUT_ITK();
  TempDir dir("refuse");
  Volume v = test_volume(0.25f);
  fs::create_directories(dir.path / "patient");
  write_bytes(dir / "patient/notes.txt", "keep me");
  REQUIRE_THROWS_WITH(write_scan(v, dir / "patient", ScanFormat::dicom),
                      Contains("patient") && Contains("notes.txt"));
  CHECK(fs::exists(dir.path / "patient/notes.txt"));
  v.voxels[3] = std::numeric_limits<float>::quiet_NaN();
  REQUIRE_THROWS_WITH(write_scan(v, dir / "nan.mha"), Contains("nan.mha") && Contains("holds nan"));
  CHECK_FALSE(fs::exists(dir.path / "nan.mha"));
  Volume bad = test_volume(0.25f);
  bad.spacing[0] = 0;
  REQUIRE_THROWS_WITH(write_scan(bad, dir / "zero.nrrd"), Contains("zero.nrrd"));
}
