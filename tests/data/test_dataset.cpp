// The HDF5 CT dataset (round trip, validation errors naming what is wrong, atomic writes), the
// loaders' exact slice choices and shards, and the .inv3 reader.
#include <catch2/catch.hpp>

#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>

#include "data/dataset.h"
#include "data/inv3.h"
#include "data/loader.h"
#include "engine/checksum.h"
#include "engine/error.h"
#include "engine/hdf5.h"

using namespace ddnet;
using namespace ddnet::data;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& tag) {
    path = fs::temp_directory_path() / ("ddnet_test_" + tag + "_" + std::to_string(getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string operator/(const std::string& f) const { return (path / f).string(); }
};

Volume ramp(std::int64_t d, std::int64_t h, std::int64_t w, float scale, float offset) {
  Volume v(d, h, w);
  for (std::int64_t k = 0; k < d; ++k)
    for (std::int64_t i = 0; i < h; ++i)
      for (std::int64_t j = 0; j < w; ++j)
        v.at(k, i, j) = std::round(scale * static_cast<float>(k * 100 + i * 10 + j)) + offset;
  v.spacing = {1.5, 0.75, 0.5};
  v.origin = {-10, 20, 30};
  v.source = "ramp";
  return v;
}

// A dataset with scans of the given slice counts, each with an ldct = ndct + 1 (as float).
std::string make_dataset(const TempDir& dir, const std::vector<std::int64_t>& slices,
                         const std::vector<Split>& splits, std::int64_t h = 8, std::int64_t w = 6) {
  const std::string path = dir / "set.h5";
  DatasetWriter writer(path);
  for (std::size_t s = 0; s < slices.size(); ++s) {
    Volume nd = ramp(slices[s], h, w, 1.f, static_cast<float>(s) * 1000.f);
    Volume ld = nd;
    for (float& x : ld.voxels) x += 0.5f;
    writer.add_scan("scan" + std::to_string(s), splits[s], nd, &ld, "test: +0.5");
  }
  writer.commit();
  return path;
}

h5::Handle open_rw(const std::string& path) {
  return h5::Handle(H5_CHECK(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT)));
}

// Edits an attribute of a committed file, to make it invalid.
void set_string_attr(const std::string& path, const std::string& obj, const char* name,
                     const std::string& value) {
  h5::Handle f = open_rw(path);
  const h5::Handle o(H5_CHECK(H5Oopen(f, obj.c_str(), H5P_DEFAULT)));
  if (h5::has_attr(o, name, path)) H5_CHECK(H5Adelete(o, name));
  h5::write_attr_string(o, name, value, path);
  f.close(path);
}

}  // namespace

TEST_CASE("dataset: round trip keeps values, dtypes, geometry and splits", "[data]") {
  TempDir dir("dataset_rt");
  const std::string path = make_dataset(dir, {5, 7}, {Split::train, Split::test});
  REQUIRE(fs::exists(path));
  for (const auto& e : fs::directory_iterator(dir.path))  // no temporary left behind
    CHECK(e.path().filename().string().find(".tmp") == std::string::npos);
  const Dataset ds = Dataset::open(path);
  REQUIRE(ds.scans().size() == 2);
  const ScanInfo& s1 = ds.scan("scan1");
  CHECK(s1.slices == 7);
  CHECK(s1.rows == 8);
  CHECK(s1.cols == 6);
  CHECK(s1.split == Split::test);
  CHECK(s1.ndct_type == "int16");    // integer HU stored compactly
  CHECK(s1.ldct_type == "float32");  // fractional values kept exactly
  CHECK(s1.spacing == std::array<double, 3>{1.5, 0.75, 0.5});
  CHECK(s1.origin == std::array<double, 3>{-10, 20, 30});
  CHECK(s1.source == "ramp");
  CHECK(s1.ldct_source == "test: +0.5");
  CHECK(ds.scans_in(Split::train) == std::vector<std::size_t>{0});
  const Volume nd = ds.read(1, false), ld = ds.read(1, true);
  const Volume ref = ramp(7, 8, 6, 1.f, 1000.f);
  CHECK(nd.voxels == ref.voxels);
  for (std::size_t i = 0; i < ld.voxels.size(); ++i) REQUIRE(ld.voxels[i] == ref.voxels[i] + 0.5f);
  // A crop of chosen slices.
  std::vector<float> crop(2 * 3 * 2);
  ds.read_slices(1, false, {4, 2}, 1, 3, 2, 2, crop.data());
  CHECK(crop[0] == ref.at(4, 1, 2));
  CHECK(crop[5] == ref.at(4, 3, 3));
  CHECK(crop[6] == ref.at(2, 1, 2));
}

TEST_CASE("dataset: writer refuses bad scans and leaves no file without commit", "[data]") {
  TempDir dir("dataset_bad_write");
  const std::string path = dir / "w.h5";
  {
    DatasetWriter w(path);
    Volume nd = ramp(3, 4, 4, 1, 0), ld = ramp(2, 4, 4, 1, 0);
    REQUIRE_THROWS_WITH(w.add_scan("a", Split::train, nd, &ld),
                        Contains("ldct shape 2x4x4 differs from ndct 3x4x4"));
    REQUIRE_THROWS_WITH(w.add_scan("a/b", Split::train, nd, nullptr),
                        Contains("invalid scan name 'a/b'"));
    w.add_scan("a", Split::train, nd, nullptr);
    REQUIRE_THROWS_WITH(w.add_scan("a", Split::val, nd, nullptr), Contains("used twice"));
    nd.voxels[3] = std::nanf("");
    REQUIRE_THROWS_WITH(w.add_scan("c", Split::train, nd, nullptr), Contains("non-finite"));
    nd.voxels[3] = 3e38f;  // finite, but no HU: it would swamp normalisation and scores
    REQUIRE_THROWS_WITH(w.add_scan("d", Split::train, nd, nullptr),
                        Contains("holds 3e+38, not a CT value in HU"));
  }  // no commit: nothing at `path`, no temporary either
  CHECK(!fs::exists(path));
  CHECK(fs::is_empty(dir.path));
}

TEST_CASE("dataset: open names what is wrong", "[data]") {
  TempDir dir("dataset_validate");
  SECTION("missing file") {
    REQUIRE_THROWS_WITH(Dataset::open(dir / "nope.h5"), Contains("nope.h5: no such dataset file"));
  }
  SECTION("not HDF5, and truncated") {
    std::ofstream(dir / "text.h5") << "hello";
    REQUIRE_THROWS_WITH(Dataset::open(dir / "text.h5"), Contains("text.h5: cannot open as HDF5"));
    const std::string path = make_dataset(dir, {4}, {Split::train});
    fs::resize_file(path, fs::file_size(path) / 2);
    REQUIRE_THROWS_WITH(
        [&] {
          const Dataset d = Dataset::open(path);
          d.read(0, false);
        }(),
        Contains("set.h5"));
  }
  SECTION("no format attribute") {
    h5::Handle f(
        H5_CHECK(H5Fcreate((dir / "plain.h5").c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT)));
    f.close("plain.h5");
    REQUIRE_THROWS_WITH(Dataset::open(dir / "plain.h5"), Contains("not a ddnet CT dataset"));
  }
  SECTION("a bad split") {
    const std::string path = make_dataset(dir, {4}, {Split::train});
    set_string_attr(path, "scan0", "split", "holdout");
    REQUIRE_THROWS_WITH(Dataset::open(path),
                        Contains("scan 'scan0': split 'holdout' is not train, val or test"));
  }
  SECTION("missing ndct, shape mismatch, wrong dtype, NaN") {
    const std::string path =
        make_dataset(dir, {4, 4, 4, 4}, {Split::train, Split::train, Split::train, Split::train});
    {
      h5::Handle f = open_rw(path);
      H5_CHECK(H5Ldelete(f, "scan0/ndct", H5P_DEFAULT));
      H5_CHECK(H5Ldelete(f, "scan1/ldct", H5P_DEFAULT));
      hsize_t dims[3] = {3, 8, 6};
      const h5::Handle short_space(H5_CHECK(H5Screate_simple(3, dims, nullptr)));
      h5::Handle(H5_CHECK(H5Dcreate2(f, "scan1/ldct", H5T_IEEE_F32LE, short_space, H5P_DEFAULT,
                                     H5P_DEFAULT, H5P_DEFAULT)))
          .close("scan1/ldct");
      H5_CHECK(H5Ldelete(f, "scan2/ldct", H5P_DEFAULT));
      dims[0] = 4;
      const h5::Handle space(H5_CHECK(H5Screate_simple(3, dims, nullptr)));
      h5::Handle(H5_CHECK(H5Dcreate2(f, "scan2/ldct", H5T_IEEE_F64LE, space, H5P_DEFAULT,
                                     H5P_DEFAULT, H5P_DEFAULT)))
          .close("scan2/ldct");
      std::vector<float> nan(4 * 8 * 6, 1.f);
      nan[8 * 6 + 7] = std::nanf("");
      nan[2 * 8 * 6 + 5] = -3e38f;
      H5_CHECK(H5Ldelete(f, "scan3/ldct", H5P_DEFAULT));
      h5::Handle d(H5_CHECK(H5Dcreate2(f, "scan3/ldct", H5T_IEEE_F32LE, space, H5P_DEFAULT,
                                       H5P_DEFAULT, H5P_DEFAULT)));
      H5_CHECK(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, nan.data()));
      d.close("scan3/ldct");
    }
    REQUIRE_THROWS_WITH(Dataset::open(path), Contains("scan 'scan0': missing dataset 'ndct'"));
    const auto remove_scan = [&](const char* scan) {
      h5::Handle f = open_rw(path);
      H5_CHECK(H5Ldelete(f, scan, H5P_DEFAULT));
      f.close(path);
    };
    remove_scan("scan0");
    REQUIRE_THROWS_WITH(Dataset::open(path),
                        Contains("scan 'scan1': ldct shape 3x8x6 does not match ndct 4x8x6"));
    remove_scan("scan1");
    REQUIRE_THROWS_WITH(Dataset::open(path), Contains("scan2'/ldct: wrong dtype"));
    remove_scan("scan2");
    const Dataset ds = Dataset::open(path);
    REQUIRE_THROWS_WITH(
        ds.read(0, true),
        Contains("scan3/ldct: slice 1 holds a non-finite value (nan) at row 1, col 1"));
    std::vector<float> slice(8 * 6);
    REQUIRE_THROWS_WITH(
        ds.read_slices(0, true, {2}, slice.data()),
        Contains("scan3/ldct: slice 2 holds -3e+38 at row 0, col 5, not a CT value in HU"));
  }
}

TEST_CASE("loader: the published slice choices, exactly", "[data]") {
  // strided: every n // V-th slice of the first n - n % V
  CHECK(strided_slices(108, 16) ==
        std::vector<std::int64_t>{0, 6, 12, 18, 24, 30, 36, 42, 48, 54, 60, 66, 72, 78, 84, 90});
  CHECK(strided_slices(35, 16) ==
        std::vector<std::int64_t>{0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30});
  CHECK(strided_slices(16, 16).back() == 15);
  CHECK(strided_slices(5, 2) == std::vector<std::int64_t>{0, 2});
  // centre: V consecutive around the middle
  CHECK(centre_slices(108, 16).front() == 46);
  CHECK(centre_slices(108, 16).back() == 61);
  CHECK(centre_slices(7, 3) == std::vector<std::int64_t>{2, 3, 4});
  CHECK(centre_slices(8, 3) == std::vector<std::int64_t>{2, 3, 4});
  // random: V consecutive at a seeded start in [0, n - V]
  std::set<std::int64_t> starts;
  for (std::uint64_t s = 0; s < 200; ++s) {
    const auto r = random_slices(20, 16, s);
    REQUIRE(r.size() == 16);
    for (std::size_t i = 1; i < r.size(); ++i) REQUIRE(r[i] == r[i - 1] + 1);
    REQUIRE(r.front() >= 0);
    REQUIRE(r.back() <= 19);
    starts.insert(r.front());
  }
  CHECK(starts.size() == 5);  // every start 0..4 occurs
  CHECK(random_slices(20, 16, 7) == random_slices(20, 16, 7));
  REQUIRE_THROWS_WITH(strided_slices(10, 16), Contains("10 slices cannot give 16"));
}

TEST_CASE("loader: samples, normalisation, crops and errors", "[data]") {
  TempDir dir("loader");
  const std::string path =
      make_dataset(dir, {20, 9, 12}, {Split::train, Split::train, Split::val}, 32, 24);
  auto ds = std::make_shared<const Dataset>(Dataset::open(path));
  LoaderOptions o;
  o.kind = "strided";
  o.slices = 4;
  VolumeLoader train(ds, Split::train, o);
  CHECK(train.size() == 2);
  LoadedSample s = train.get(0, 0);
  CHECK(s.input.shape() == Shape{1, 1, 4, 32, 24});
  // min-max per sample: the ramp's smallest value maps to 0, the largest to 1
  const auto v = s.target.to_vector<float>();
  CHECK(*std::min_element(v.begin(), v.end()) == 0.f);
  CHECK(*std::max_element(v.begin(), v.end()) == 1.f);
  const Volume raw = ds->read(s.spec.scan, false);
  const float lo = s.target_lo, hi = s.target_hi;
  CHECK(lo == raw.at(s.spec.slices[0], 0, 0));
  CHECK(v[1] == Approx((raw.at(s.spec.slices[0], 0, 1) - lo) / (hi - lo)));
  CHECK(s.input_lo == lo + 0.5f);  // input normalised by its own range

  SECTION("crops: random in training, centred otherwise; windows") {
    o.crop = 16;
    o.kind = "random";
    o.samples_per_scan = 3;
    VolumeLoader t(ds, Split::train, o);
    CHECK(t.size() == 6);
    std::set<std::pair<std::int64_t, std::int64_t>> corners;
    for (std::int64_t e = 0; e < 4; ++e)
      for (std::int64_t i = 0; i < t.size(); ++i) {
        const ItemSpec sp = t.spec(e, i);
        REQUIRE(sp.rows == 16);
        REQUIRE(sp.row0 + 16 <= 32);
        REQUIRE(sp.col0 + 16 <= 24);
        corners.insert({sp.row0, sp.col0});
        const ItemSpec again = t.spec(e, i);  // a pure function of (epoch, item)
        REQUIRE(again.slices == sp.slices);
        REQUIRE(again.row0 == sp.row0);
      }
    CHECK(corners.size() > 5);
    VolumeLoader val(ds, Split::val, o);
    const ItemSpec a = val.spec(0, 1), b = val.spec(5, 1);
    CHECK(a.slices == b.slices);  // validation does not change between epochs
    CHECK(a.row0 == 8);
    CHECK(a.col0 == 4);
    o.normalise = "window";
    o.window_lo = 1000;
    o.window_hi = 1100;
    VolumeLoader w(ds, Split::val, o);
    const auto x = w.get(0, 0).target.to_vector<float>();
    for (const float f : x) REQUIRE((f >= 0.f && f <= 1.f));
  }
  SECTION("2d loader: every slice once per epoch") {
    o.kind = "2d";
    VolumeLoader t(ds, Split::train, o);
    CHECK(t.size() == 29);
    std::set<std::pair<std::size_t, std::int64_t>> seen;
    for (std::int64_t i = 0; i < t.size(); ++i) {
      const ItemSpec sp = t.spec(3, i);
      seen.insert({sp.scan, sp.slices.at(0)});
    }
    CHECK(seen.size() == 29);
    CHECK(t.get(0, 0).input.shape() == Shape{1, 1, 32, 24});
  }
  SECTION("errors name the dataset and scan") {
    o.slices = 10;
    REQUIRE_THROWS_WITH(VolumeLoader(ds, Split::train, o),
                        Contains("scan 'scan1' has 9 slices, fewer than the 10 a volume needs"));
    o.slices = 4;
    REQUIRE_THROWS_WITH(VolumeLoader(ds, Split::test, o), Contains("no scans in the 'test' split"));
    o.crop = 30;
    REQUIRE_THROWS_WITH(VolumeLoader(ds, Split::train, o), Contains("smaller than the crop 30"));
    o.crop = 0;
    o.kind = "spiral";
    REQUIRE_THROWS_WITH(VolumeLoader(ds, Split::train, o), Contains("unknown loader 'spiral'"));
  }
}

TEST_CASE("loader: shards are equal, disjoint where possible, and shuffled alike", "[data]") {
  TempDir dir("loader_shard");
  const std::string path =
      make_dataset(dir, {4, 4, 4, 4, 4},
                   {Split::train, Split::train, Split::train, Split::train, Split::train}, 4, 4);
  auto ds = std::make_shared<const Dataset>(Dataset::open(path));
  LoaderOptions o;
  o.kind = "centre";
  o.slices = 4;
  o.world = 2;
  std::multiset<std::size_t> all;
  std::vector<std::size_t> rank0, rank1;
  for (int r = 0; r < 2; ++r) {
    o.rank = r;
    VolumeLoader l(ds, Split::train, o);
    CHECK(l.size() == 3);  // 5 items over 2 ranks: padded to 6 by repeating one
    for (std::int64_t i = 0; i < l.size(); ++i) {
      all.insert(l.spec(2, i).scan);
      (r == 0 ? rank0 : rank1).push_back(l.spec(2, i).scan);
    }
  }
  CHECK(all.size() == 6);
  for (std::size_t s = 0; s < 5; ++s) CHECK(all.count(s) >= 1);  // every scan is seen
  o.world = 1;
  o.rank = 0;
  VolumeLoader single(ds, Split::train, o);
  std::vector<std::size_t> e0, e1;
  for (std::int64_t i = 0; i < single.size(); ++i) {
    e0.push_back(single.spec(0, i).scan);
    e1.push_back(single.spec(1, i).scan);
  }
  CHECK(e0 != e1);  // a new order each epoch
}

TEST_CASE("inv3: reads an InVesalius project and names a broken one", "[data]") {
  TempDir dir("inv3");
  // Build a small .inv3 (gzipped tar with main.plist and matrix.dat) by hand.
  const std::int64_t d = 3, h = 4, w = 5;
  std::vector<std::int16_t> m(static_cast<std::size_t>(d * h * w));
  for (std::size_t i = 0; i < m.size(); ++i)
    m[i] = static_cast<std::int16_t>(-1024 + 37 * static_cast<int>(i));
  const std::string plist =
      "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict>"
      "<key>matrix</key><dict><key>dtype</key><string>int16</string><key>filename</key>"
      "<string>matrix.dat</string><key>shape</key><array><integer>3</integer>"
      "<integer>4</integer><integer>5</integer></array></dict>"
      "<key>spacing</key><array><real>0.5</real><real>0.5</real><real>2.0</real></array>"
      "</dict></plist>";
  auto member = [](std::string& tar, const std::string& name, const void* data, std::size_t n) {
    char hdr[512] = {};
    std::snprintf(hdr, 100, "tmpdir/%s", name.c_str());
    std::snprintf(hdr + 124, 12, "%011o", static_cast<unsigned>(n));
    hdr[156] = '0';
    tar.append(hdr, 512);
    tar.append(static_cast<const char*>(data), n);
    tar.append((512 - n % 512) % 512, '\0');
  };
  std::string tar;
  member(tar, "main.plist", plist.data(), plist.size());
  member(tar, "matrix.dat", m.data(), m.size() * 2);
  tar.append(1024, '\0');
  const std::string path = dir / "tiny.inv3";
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, tar.data(), static_cast<unsigned>(tar.size()));
  gzclose(f);
  const Volume v = read_inv3(path);
  CHECK(v.slices == 3);
  CHECK(v.rows == 4);
  CHECK(v.cols == 5);
  CHECK(v.spacing == std::array<double, 3>{2.0, 0.5, 0.5});
  CHECK(v.at(0, 0, 0) == -1024.f);
  CHECK(v.at(2, 3, 4) == static_cast<float>(m.back()));
  // truncated: half of the gzip stream
  const auto bytes = fs::file_size(path);
  fs::resize_file(path, bytes / 2);
  REQUIRE_THROWS_WITH(read_inv3(path), Contains("tiny.inv3"));
  std::ofstream(dir / "junk.inv3") << "not a project";
  REQUIRE_THROWS_WITH(read_inv3(dir / "junk.inv3"), Contains("junk.inv3"));
}

namespace {

// Writes a scalar string attribute as h5py and others do: variable-length or fixed-length
// (null- or space-padded), ASCII or UTF-8.
void write_string_attr(const std::string& path, const std::string& obj, const char* name,
                       const std::string& value, bool variable, H5T_cset_t cset,
                       H5T_str_t pad = H5T_STR_NULLPAD) {
  h5::Handle f = open_rw(path);
  const h5::Handle o(H5_CHECK(H5Oopen(f, obj.c_str(), H5P_DEFAULT)));
  if (h5::has_attr(o, name, path)) H5_CHECK(H5Adelete(o, name));
  const h5::Handle type(H5_CHECK(H5Tcopy(H5T_C_S1)));
  H5_CHECK(H5Tset_cset(type, cset));
  H5_CHECK(H5Tset_size(type, variable ? H5T_VARIABLE : value.size()));
  if (!variable) H5_CHECK(H5Tset_strpad(type, pad));
  const h5::Handle space(H5_CHECK(H5Screate(H5S_SCALAR)));
  const h5::Handle a(H5_CHECK(H5Acreate2(o, name, type, space, H5P_DEFAULT, H5P_DEFAULT)));
  const char* p = value.c_str();
  H5_CHECK(H5Awrite(a, type, variable ? static_cast<const void*>(&p) : value.data()));
  f.close(path);
}

}  // namespace

TEST_CASE("dataset: string attributes as h5py writes them: variable or fixed, ASCII or UTF-8",
          "[data]") {
  TempDir dir("dataset_strings");
  const std::string path = make_dataset(dir, {4, 4}, {Split::train, Split::train});
  // h5py: attrs['split'] = 'val' is variable-length UTF-8; np.bytes_ is fixed-length ASCII.
  write_string_attr(path, "scan0", "split", "val", true, H5T_CSET_UTF8);
  write_string_attr(path, "scan1", "split", "test", false, H5T_CSET_UTF8);
  write_string_attr(path, "/", "format", kDatasetFormat, true, H5T_CSET_UTF8);
  write_string_attr(path, "scan0", "source", "sc\xc3\xa4n 0  ", false, H5T_CSET_UTF8,
                    H5T_STR_SPACEPAD);
  write_string_attr(path, "scan1", "source", "scan 1", true, H5T_CSET_UTF8);
  {
    const Dataset ds = Dataset::open(path);
    REQUIRE(ds.scans()[0].split == Split::val);
    REQUIRE(ds.scans()[1].split == Split::test);
    REQUIRE(ds.scans()[0].source == "sc\xc3\xa4n 0");
    REQUIRE(ds.scans()[1].source == "scan 1");
  }
  SECTION("an array of strings is not one string") {
    h5::Handle f = open_rw(path);
    const h5::Handle o(H5_CHECK(H5Oopen(f, "scan0", H5P_DEFAULT)));
    H5_CHECK(H5Adelete(o, "split"));
    const h5::Handle type(H5_CHECK(H5Tcopy(H5T_C_S1)));
    H5_CHECK(H5Tset_size(type, 5));
    const hsize_t n = 2;
    const h5::Handle space(H5_CHECK(H5Screate_simple(1, &n, nullptr)));
    const h5::Handle a(H5_CHECK(H5Acreate2(o, "split", type, space, H5P_DEFAULT, H5P_DEFAULT)));
    H5_CHECK(H5Awrite(a, type, "trainval  "));
    f.close(path);
    REQUIRE_THROWS_WITH(Dataset::open(path),
                        Contains("scan 'scan0': attribute 'split' must be one string, it holds 2"));
  }
}

TEST_CASE("dataset: external links, external storage and virtual datasets are refused", "[data]") {
  TempDir dir("dataset_external");
  const std::string path = make_dataset(dir, {4}, {Split::train});
  // The "secret": another host file the dataset must not read as voxels.
  const std::string secret = dir / "secret.raw";
  {
    std::ofstream out(secret, std::ios::binary);
    const std::vector<float> v(4 * 8 * 6, 42.f);
    out.write(reinterpret_cast<const char*>(v.data()),
              static_cast<std::streamsize>(v.size() * sizeof(float)));
  }
  TempDir other_dir("dataset_external_other");
  const std::string other = make_dataset(other_dir, {4}, {Split::train});
  const hsize_t dims[3] = {4, 8, 6};
  SECTION("an external link in place of a volume") {
    {
      h5::Handle f = open_rw(path);
      H5_CHECK(H5Ldelete(f, "scan0/ldct", H5P_DEFAULT));
      H5_CHECK(H5Lcreate_external(other.c_str(), "/scan0/ndct", f, "scan0/ldct", H5P_DEFAULT,
                                  H5P_DEFAULT));
      f.close(path);
    }
    REQUIRE_THROWS_WITH(Dataset::open(path),
                        Contains("set.h5: scan 'scan0': 'ldct' is an external link to ") &&
                            Contains(other + ":/scan0/ndct"));
    REQUIRE_NOTHROW(Dataset::open(path, true).read(0, true));
  }
  SECTION("an external link in place of a scan") {
    {
      h5::Handle f = open_rw(path);
      H5_CHECK(H5Lcreate_external(other.c_str(), "/scan0", f, "ext", H5P_DEFAULT, H5P_DEFAULT));
      f.close(path);
    }
    REQUIRE_THROWS_WITH(Dataset::open(path), Contains("set.h5: 'ext' is an external link to ") &&
                                                 Contains(other + ":/scan0"));
  }
  SECTION("a soft link leading through an external link") {
    {
      h5::Handle f = open_rw(path);
      H5_CHECK(H5Ldelete(f, "scan0/ldct", H5P_DEFAULT));
      H5_CHECK(H5Lcreate_external(other.c_str(), "/", f, "scan0/other", H5P_DEFAULT, H5P_DEFAULT));
      H5_CHECK(
          H5Lcreate_soft("/scan0/other/scan0/ndct", f, "scan0/ldct", H5P_DEFAULT, H5P_DEFAULT));
      f.close(path);
    }
    REQUIRE_THROWS_WITH(Dataset::open(path),
                        Contains("set.h5: scan 'scan0'/ldct: lies in another file"));
  }
  SECTION("external raw storage") {
    {
      h5::Handle f = open_rw(path);
      H5_CHECK(H5Ldelete(f, "scan0/ldct", H5P_DEFAULT));
      const h5::Handle dcpl(H5_CHECK(H5Pcreate(H5P_DATASET_CREATE)));
      H5_CHECK(H5Pset_external(dcpl, secret.c_str(), 0, 4 * 8 * 6 * sizeof(float)));
      const h5::Handle space(H5_CHECK(H5Screate_simple(3, dims, nullptr)));
      h5::Handle(H5_CHECK(H5Dcreate2(f, "scan0/ldct", H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl,
                                     H5P_DEFAULT)))
          .close("scan0/ldct");
      f.close(path);
    }
    REQUIRE_THROWS_WITH(Dataset::open(path),
                        Contains("set.h5: scan 'scan0'/ldct: its values are stored in 1 other "
                                 "file(s) (external storage, first: ") &&
                            Contains("secret.raw"));
    // What it would have read: the other file's bytes as voxels.
    REQUIRE(Dataset::open(path, true).read(0, true).voxels[0] == 42.f);
  }
  SECTION("a virtual dataset") {
    {
      h5::Handle f = open_rw(path);
      H5_CHECK(H5Ldelete(f, "scan0/ldct", H5P_DEFAULT));
      const h5::Handle dcpl(H5_CHECK(H5Pcreate(H5P_DATASET_CREATE)));
      const h5::Handle space(H5_CHECK(H5Screate_simple(3, dims, nullptr)));
      H5_CHECK(H5Pset_virtual(dcpl, space, other.c_str(), "/scan0/ndct", space));
      h5::Handle(H5_CHECK(H5Dcreate2(f, "scan0/ldct", H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl,
                                     H5P_DEFAULT)))
          .close("scan0/ldct");
      f.close(path);
    }
    REQUIRE_THROWS_WITH(Dataset::open(path),
                        Contains("set.h5: scan 'scan0'/ldct: is a virtual dataset"));
  }
}

TEST_CASE("loader: a constant low-dose training input is refused, naming the scan", "[data]") {
  // Air clamped to -1024 HU: min-max normalisation makes it all zeros, on which DDnet's input
  // BatchNorm has variance 0 and the training gradient overflows to NaN.
  TempDir dir("loader_constant");
  const std::string path = dir / "set.h5";
  {
    DatasetWriter writer(path);
    const Volume nd = ramp(4, 8, 6, 1.f, 0.f);
    Volume air = nd;
    std::fill(air.voxels.begin(), air.voxels.end(), -1024.f);
    writer.add_scan("good", Split::train, nd, &nd);
    writer.add_scan("air", Split::train, nd, &air);
    writer.add_scan("air_val", Split::val, nd, &air);
    writer.commit();
  }
  const auto ds = std::make_shared<const Dataset>(Dataset::open(path));
  LoaderOptions o;
  o.kind = "centre";
  o.slices = 2;
  const VolumeLoader train(ds, Split::train, o);
  ItemSpec air, good;
  for (std::int64_t i = 0; i < train.size(); ++i)
    (ds->scans()[train.spec(0, i).scan].name == "air" ? air : good) = train.spec(0, i);
  REQUIRE_NOTHROW(train.load(good));
  REQUIRE_THROWS_WITH(train.load(air), Contains("set.h5: scan 'air' slices 1..2") &&
                                           Contains("the low-dose input is constant (-1024 HU"));
  o.normalise = "window";
  REQUIRE_THROWS_WITH(VolumeLoader(ds, Split::train, o).load(air),
                      Contains("constant (after the HU window)"));
  // Validation has no gradient: a constant input is only evaluated.
  REQUIRE_NOTHROW(VolumeLoader(ds, Split::val, o).get(0, 0));
}

TEST_CASE("dataset: a changed value fails the read of its slice, naming the dataset and checksum",
          "[data]") {
  TempDir dir("dataset_checksum");
  const std::string path = make_dataset(dir, {5, 4}, {Split::train, Split::test});
  {
    // One element of slice 3 of scan0/ldct rewritten through HDF5 (the chunks are compressed),
    // its checksum attribute left as it was.
    h5::Handle f = open_rw(path);
    const h5::Handle ds(H5_CHECK(H5Dopen2(f, "scan0/ldct", H5P_DEFAULT)));
    const h5::Handle fspace(H5_CHECK(H5Dget_space(ds)));
    const hsize_t at[3] = {3, 2, 1};
    H5_CHECK(H5Sselect_elements(fspace, H5S_SELECT_SET, 1, at));
    const hsize_t one[1] = {1};
    const h5::Handle mspace(H5_CHECK(H5Screate_simple(1, one, nullptr)));
    const float v = 12345.f;
    H5_CHECK(H5Dwrite(ds, H5T_NATIVE_FLOAT, mspace, fspace, H5P_DEFAULT, &v));
    f.close(path);
  }
  const Dataset ds = Dataset::open(path);
  std::vector<float> buf(8 * 6);
  ds.read_slices(0, true, {2}, buf.data());  // other slices: fine
  ds.read_slices(0, false, {3}, buf.data());
  REQUIRE_THROWS_WITH(
      ds.read_slices(0, true, {3}, buf.data()),
      Contains(path) && Contains("scan0/ldct") && Contains("slice 3") && Contains("checksum"));
  // A crop that misses the changed element still reads its whole slice's checksum.
  REQUIRE_THROWS_WITH(ds.read_slices(0, true, {3}, 5, 2, 3, 2, buf.data()),
                      Contains("scan0/ldct") && Contains("checksum"));
  REQUIRE_THROWS_WITH(ds.read(0, true), Contains("scan0/ldct") && Contains("checksum"));
}

TEST_CASE("dataset: a file written before checksums (no crc32c attribute) still reads", "[data]") {
  TempDir dir("dataset_no_checksum");
  const std::string path = make_dataset(dir, {3}, {Split::train});
  {
    h5::Handle f = open_rw(path);
    for (const char* name : {"scan0/ndct", "scan0/ldct"}) {
      const h5::Handle ds(H5_CHECK(H5Dopen2(f, name, H5P_DEFAULT)));
      REQUIRE(h5::has_attr(ds, "crc32c", path));
      H5_CHECK(H5Adelete(ds, "crc32c"));
    }
    f.close(path);
  }
  const Dataset ds = Dataset::open(path);
  CHECK(ds.read(0, false).voxels == ramp(3, 8, 6, 1.f, 0.f).voxels);
  std::vector<float> crop(2 * 2);
  ds.read_slices(0, true, {1}, 1, 2, 2, 2, crop.data());
  CHECK(crop[0] == ramp(3, 8, 6, 1.f, 0.f).at(1, 1, 2) + 0.5f);
}

// Not run by default ([.]): `ddnet_tests "[.bench-checksum]"` prints what the checksums cost a
// 100 MB write (docs/dataset.md quotes it).
TEST_CASE("dataset: the cost of checksums on a 100 MB write", "[.bench-checksum]") {
  TempDir dir("dataset_checksum_cost");
  Volume v(100, 512, 512);  // float32: 100 MiB
  std::uint32_t x = 1;
  for (float& f : v.voxels) f = static_cast<float>((x = x * 1664525u + 1013904223u) >> 20) * 0.5f;
  const auto t0 = std::chrono::steady_clock::now();
  {
    DatasetWriter w(dir / "big.h5");
    w.add_scan("s", Split::train, v, nullptr, "", StoreAs::float32);
    w.commit();
  }
  const auto t1 = std::chrono::steady_clock::now();
  const std::uint32_t c = crc32c(v.voxels.data(), v.voxels.size() * sizeof(float));
  const auto t2 = std::chrono::steady_clock::now();
  const Dataset ds = Dataset::open(dir / "big.h5");
  const Volume back = ds.read(0, false);
  const auto t3 = std::chrono::steady_clock::now();
  const auto secs = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
  std::cerr << "100 MiB float32 volume: write " << secs(t0, t1) << " s, CRC-32C of it "
            << secs(t1, t2) << " s (crc " << c << "), read back (verified) " << secs(t2, t3)
            << " s\n";
  CHECK(back.voxels == v.voxels);
}
