// The HDF5 CT dataset: writer, validating reader, slice reads.
#include "data/dataset.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>

#include "engine/checksum.h"
#include "engine/error.h"
#include "engine/file_sync.h"
#include "engine/hdf5.h"

namespace ddnet::data {

namespace {

using h5::Handle;

// docs/dataset.md: the CRC-32C of each slice of ndct and ldct, as stored, in a uint32 attribute
// of the volume (one value per slice). An attribute lives in its dataset's object header, which
// holds 64 KiB in all: volumes of more slices are written without (and read unverified).
constexpr const char* kChecksumAttr = "crc32c";
constexpr std::int64_t kMaxChecksummedSlices = 15000;

bool valid_name(const std::string& n) {
  return !n.empty() && n != "." && n != ".." && n.find('/') == std::string::npos;
}

// Whether every value is an integer that int16 holds.
bool fits_int16(const Volume& v) {
  for (const float x : v.voxels)
    if (!(x >= -32768.f && x <= 32767.f) || std::nearbyint(x) != x) return false;
  return true;
}

void write_volume(hid_t group, const char* name, const Volume& v, StoreAs store,
                  const std::string& where) {
  const bool as_int = store == StoreAs::int16 || (store == StoreAs::automatic && fits_int16(v));
  DDNET_CHECK(store != StoreAs::int16 || fits_int16(v), where, "/", name,
              ": int16 storage asked for, but the values are not all integers in [-32768, 32767]");
  for (const float x : v.voxels)
    DDNET_CHECK(std::isfinite(x), where, "/", name, ": refusing to store a non-finite value (", x,
                ") from ", v.source);
  check_hu(v, where + "/" + name + " (from " + v.source + ")");
  const hsize_t dims[3] = {static_cast<hsize_t>(v.slices), static_cast<hsize_t>(v.rows),
                           static_cast<hsize_t>(v.cols)};
  const Handle space(H5_CHECK_MSG(H5Screate_simple(3, dims, nullptr), where,
                                  ": cannot create dataset ", name, " (dataspace)"));
  const Handle dcpl(H5_CHECK_MSG(H5Pcreate(H5P_DATASET_CREATE), where, ": cannot create dataset ",
                                 name, " (creation properties)"));
  const hsize_t chunk[3] = {1, dims[1], dims[2]};
  H5_CHECK_MSG(H5Pset_chunk(dcpl, 3, chunk), where, ": cannot set the chunks of dataset ", name);
  H5_CHECK_MSG(H5Pset_shuffle(dcpl), where, ": cannot set the shuffle filter of dataset ", name);
  H5_CHECK_MSG(H5Pset_deflate(dcpl, 4), where, ": cannot set the deflate filter of dataset ", name);
  // No chunk cache: each chunk is compressed and written within H5Dwrite, so a full disk fails
  // there. Chunks left dirty in the cache would fail to flush at H5Dclose instead, and HDF5 1.10
  // keeps a dataset whose close failed half-freed: it crashes when it closes it again at exit.
  const Handle dapl(H5_CHECK_MSG(H5Pcreate(H5P_DATASET_ACCESS), where, ": cannot create dataset ",
                                 name, " (access properties)"));
  H5_CHECK_MSG(H5Pset_chunk_cache(dapl, 0, 0, 1.0), where, ": cannot set the chunk cache of ",
               name);
  Handle ds(H5_CHECK_MSG(H5Dcreate2(group, name, as_int ? H5T_STD_I16LE : H5T_IEEE_F32LE, space,
                                    H5P_DEFAULT, dcpl, dapl),
                         where, ": cannot create dataset ", name));
  // The values as stored (the file's type, little-endian), written as they are and checksummed
  // slice by slice.
  const std::string at = where + "/" + name;
  const hid_t file_type = as_int ? H5T_STD_I16LE : H5T_IEEE_F32LE;
  const std::size_t n = v.voxels.size(), size = as_int ? 2 : 4;
  std::vector<unsigned char> stored;  // a copy, only where the memory's bytes differ
  const unsigned char* bytes = reinterpret_cast<const unsigned char*>(v.voxels.data());
  if (as_int) {
    stored.resize(n * size);
    for (std::size_t i = 0; i < n; ++i) {
      const auto x = static_cast<std::int16_t>(v.voxels[i]);
      std::memcpy(stored.data() + i * size, &x, size);
    }
    h5::convert(H5T_NATIVE_INT16, file_type, n, stored.data(), at);
    bytes = stored.data();
  } else if (H5_CHECK_MSG(H5Tequal(H5T_NATIVE_FLOAT, file_type), at, ": cannot compare types") <=
             0) {  // a big-endian host
    stored.assign(bytes, bytes + n * size);
    h5::convert(H5T_NATIVE_FLOAT, file_type, n, stored.data(), at);
    bytes = stored.data();
  }
  const herr_t rc = H5Dwrite(ds, file_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes);
  DDNET_CHECK(rc >= 0, where, ": cannot write dataset ", name, " (disk full?)");
  h5::write_attr_string(ds, "units", "HU", at);
  if (v.slices <= kMaxChecksummedSlices) {
    const std::size_t slice_bytes = static_cast<std::size_t>(v.rows * v.cols) * size;
    std::vector<std::uint32_t> crc(static_cast<std::size_t>(v.slices));
    for (std::size_t k = 0; k < crc.size(); ++k)
      crc[k] = crc32c(bytes + k * slice_bytes, slice_bytes);
    h5::write_attr_u32s(ds, kChecksumAttr, crc.data(), crc.size(), at);
  }
  ds.close(at);
}

struct VolumeInfo {
  std::int64_t d = 0, h = 0, w = 0;
  std::string type;
  std::vector<std::uint32_t> crc;  // per slice; empty: none stored
};

VolumeInfo inspect(hid_t file, hid_t group, const char* name, const std::string& where,
                   bool allow_external) {
  const std::string at = where + "/" + name;
  const Handle ds = h5::open_dataset(file, group, name, where, allow_external);
  const std::vector<hsize_t> dims = h5::extent(ds, at);
  DDNET_CHECK(dims.size() == 3, at, ": expected 3 dimensions (slices, rows, cols), found ",
              dims.size());
  VolumeInfo info{static_cast<std::int64_t>(dims[0]),
                  static_cast<std::int64_t>(dims[1]),
                  static_cast<std::int64_t>(dims[2]),
                  "",
                  {}};
  DDNET_CHECK(info.d > 0 && info.h > 0 && info.w > 0, where, "/", name, ": empty dataset");
  const Handle type(H5_CHECK_MSG(H5Dget_type(ds), at, ": cannot read the dtype"));
  const H5T_class_t cls = H5_CHECK_MSG(H5Tget_class(type), at, ": cannot read the dtype");
  const std::size_t size = H5Tget_size(type);
  DDNET_CHECK(size > 0, at, ": cannot read the dtype's size");
  if (cls == H5T_INTEGER && size == 2 &&
      H5_CHECK_MSG(H5Tget_sign(type), at, ": cannot read the dtype's sign") == H5T_SGN_2)
    info.type = "int16";
  else if (cls == H5T_FLOAT && size == 4)
    info.type = "float32";
  DDNET_CHECK(!info.type.empty(), where, "/", name,
              ": wrong dtype: expected int16 or float32 HU (class ", static_cast<int>(cls), ", ",
              size, " bytes)");
  if (h5::has_attr(ds, kChecksumAttr, at)) {
    info.crc = h5::read_attr_u32s(ds, kChecksumAttr, at);
    DDNET_CHECK(static_cast<std::int64_t>(info.crc.size()) == info.d, at, ": attribute '",
                kChecksumAttr, "' holds ", info.crc.size(), " checksums, the volume has ", info.d,
                " slices");
  }
  return info;
}

}  // namespace

const char* split_name(Split s) {
  switch (s) {
    case Split::train:
      return "train";
    case Split::val:
      return "val";
    case Split::test:
      return "test";
  }
  return "?";
}

Split parse_split(const std::string& name) {
  if (name == "train") return Split::train;
  if (name == "val" || name == "validation" || name == "validate") return Split::val;
  if (name == "test") return Split::test;
  DDNET_FAIL("unknown split '", name, "': expected train, val or test");
}

// ---------------------------------------------------------------------------------------------
// DatasetWriter

DatasetWriter::DatasetWriter(std::string path) : path_(std::move(path)) {
  tmp_ = detail::concat(path_, ".tmp-", getpid());
  const auto parent = std::filesystem::path(path_).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  h5::Quiet quiet;
  try {
    file_ = h5::create_file(tmp_, "dataset " + path_);
    h5::write_attr_string(file_, "format", kDatasetFormat, tmp_);
    h5::write_attr_i32(file_, "format_version", kDatasetVersion, tmp_);
  } catch (...) {
    h5::discard_file(file_, tmp_);  // the destructor does not run when the constructor throws
    throw;
  }
}

DatasetWriter::~DatasetWriter() {
  if (!committed_) h5::discard_file(file_, tmp_);
}

void DatasetWriter::add_scan(const std::string& name, Split split, const Volume& ndct,
                             const Volume* ldct, const std::string& ldct_source, StoreAs store) {
  DDNET_CHECK(!committed_, path_, ": add_scan after commit");
  DDNET_CHECK(valid_name(name), path_, ": invalid scan name '", name,
              "' (no '/', not empty, not '.')");
  DDNET_CHECK(std::find(names_.begin(), names_.end(), name) == names_.end(), path_, ": scan name '",
              name, "' used twice");
  DDNET_CHECK(ndct.numel() > 0 && static_cast<std::int64_t>(ndct.voxels.size()) == ndct.numel(),
              path_, "/", name, ": the standard-dose volume is empty or inconsistent");
  if (ldct)
    DDNET_CHECK(ldct->slices == ndct.slices && ldct->rows == ndct.rows && ldct->cols == ndct.cols,
                path_, "/", name, ": ldct shape ", ldct->slices, "x", ldct->rows, "x", ldct->cols,
                " differs from ndct ", ndct.slices, "x", ndct.rows, "x", ndct.cols);
  h5::Quiet quiet;
  const std::string where = path_ + "/" + name;
  Handle g(H5_CHECK_MSG(H5Gcreate2(file_, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                        where, ": cannot create the group"));
  write_volume(g, "ndct", ndct, store, where);
  if (ldct) write_volume(g, "ldct", *ldct, store, where);
  h5::write_attr_doubles(g, "spacing", ndct.spacing.data(), 3, where);
  h5::write_attr_doubles(g, "origin", ndct.origin.data(), 3, where);
  h5::write_attr_doubles(g, "direction", ndct.direction.data(), 9, where);
  h5::write_attr_string(g, "split", split_name(split), where);
  h5::write_attr_string(g, "source", ndct.source, where);
  if (ldct)
    h5::write_attr_string(g, "ldct_source", ldct_source.empty() ? ldct->source : ldct_source,
                          where);
  g.close(where);
  names_.push_back(name);
}

void DatasetWriter::commit() {
  DDNET_CHECK(!committed_, path_, ": committed twice");
  DDNET_CHECK(!names_.empty(), path_, ": refusing to write a dataset with no scans");
  h5::Quiet quiet;
  H5_CHECK_MSG(H5Fflush(file_, H5F_SCOPE_GLOBAL), "cannot flush ", tmp_);
  h5::close_checked(file_, tmp_);
  // On disk before it replaces anything, then the rename itself.
  replace_file(tmp_, path_, "dataset " + path_);
  committed_ = true;
}

// ---------------------------------------------------------------------------------------------
// Dataset

Dataset::~Dataset() {
  h5::close_quietly(file_);
}

Dataset::Dataset(Dataset&& o) noexcept
    : path_(std::move(o.path_)),
      file_(o.file_),
      scans_(std::move(o.scans_)),
      crc_(std::move(o.crc_)) {
  o.file_ = -1;
}

Dataset& Dataset::operator=(Dataset&& o) noexcept {
  if (this != &o) {
    h5::close_quietly(file_);
    path_ = std::move(o.path_);
    file_ = o.file_;
    scans_ = std::move(o.scans_);
    crc_ = std::move(o.crc_);
    o.file_ = -1;
  }
  return *this;
}

Dataset Dataset::open(const std::string& path, bool allow_external) {
  DDNET_CHECK(std::filesystem::exists(path), path, ": no such dataset file");
  h5::Quiet quiet;
  Dataset d;
  d.path_ = path;
  d.file_ = H5_CHECK_MSG(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), path,
                         ": cannot open as HDF5 (not an HDF5 file, or truncated / corrupt)");
  DDNET_CHECK(h5::has_attr(d.file_, "format", path) &&
                  h5::read_attr_string(d.file_, "format", path) == kDatasetFormat,
              path, ": not a ddnet CT dataset (the root attribute format='", kDatasetFormat,
              "' is missing); make one with `ddnet prepare`");
  DDNET_CHECK(h5::has_attr(d.file_, "format_version", path), path, ": no format_version attribute");
  const auto version = h5::read_attr_doubles(d.file_, "format_version", path);
  DDNET_CHECK(version.size() == 1 && version[0] == kDatasetVersion, path, ": format_version ",
              version[0], " is not supported (this build reads version ", kDatasetVersion, ")");

  H5G_info_t ginfo;
  H5_CHECK_MSG(H5Gget_info(d.file_, &ginfo), path, ": cannot list the root group");
  for (hsize_t i = 0; i < ginfo.nlinks; ++i) {
    const ssize_t len =
        H5Lget_name_by_idx(d.file_, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    DDNET_CHECK(len > 0, path, ": cannot read the name of root link ", i);
    std::string name(static_cast<std::size_t>(len) + 1, '\0');
    H5_CHECK_MSG(H5Lget_name_by_idx(d.file_, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(),
                                    name.size(), H5P_DEFAULT),
                 path, ": cannot read the name of root link ", i);
    name.resize(static_cast<std::size_t>(len));
    const std::string where = path + ": scan '" + name + "'";
    h5::check_link(d.file_, name.c_str(), path, allow_external);
#if H5_VERSION_GE(1, 12, 0)
    H5O_info2_t oinfo;
    const herr_t orc =
        H5Oget_info_by_name3(d.file_, name.c_str(), &oinfo, H5O_INFO_BASIC, H5P_DEFAULT);
#else
    H5O_info_t oinfo;
    const herr_t orc =
        H5Oget_info_by_name2(d.file_, name.c_str(), &oinfo, H5O_INFO_BASIC, H5P_DEFAULT);
#endif
    DDNET_CHECK(orc >= 0, where, ": cannot be read (truncated or corrupt file?)");
    DDNET_CHECK(oinfo.type == H5O_TYPE_GROUP, where,
                ": every root member must be a scan group, this is not a group");
    const Handle g(H5_CHECK_MSG(H5Gopen2(d.file_, name.c_str(), H5P_DEFAULT), where,
                                ": cannot open the group"));
    h5::check_same_file(d.file_, g, where, allow_external);
    DDNET_CHECK(
        H5_CHECK_MSG(H5Lexists(g, "ndct", H5P_DEFAULT), where, ": cannot look up 'ndct'") > 0,
        where, ": missing dataset 'ndct' (the standard-dose scan)");
    ScanInfo s;
    s.name = name;
    const VolumeInfo nd = inspect(d.file_, g, "ndct", where, allow_external);
    s.slices = nd.d;
    s.rows = nd.h;
    s.cols = nd.w;
    s.ndct_type = nd.type;
    std::vector<std::uint32_t> ldct_crc;
    if (H5_CHECK_MSG(H5Lexists(g, "ldct", H5P_DEFAULT), where, ": cannot look up 'ldct'") > 0) {
      const VolumeInfo ld = inspect(d.file_, g, "ldct", where, allow_external);
      DDNET_CHECK(ld.d == nd.d && ld.h == nd.h && ld.w == nd.w, where, ": ldct shape ", ld.d, "x",
                  ld.h, "x", ld.w, " does not match ndct ", nd.d, "x", nd.h, "x", nd.w);
      s.has_ldct = true;
      s.ldct_type = ld.type;
      ldct_crc = ld.crc;
    }
    DDNET_CHECK(h5::has_attr(g, "split", where), where,
                ": missing attribute 'split' (train, val or test)");
    const std::string split = h5::read_attr_string(g, "split", where);
    try {
      s.split = parse_split(split);
    } catch (const Error&) {
      DDNET_FAIL(where, ": split '", split, "' is not train, val or test");
    }
    DDNET_CHECK(h5::has_attr(g, "spacing", where), where,
                ": missing attribute 'spacing' (z, y, x in mm)");
    const auto sp = h5::read_attr_doubles(g, "spacing", where);
    DDNET_CHECK(sp.size() == 3 && sp[0] > 0 && sp[1] > 0 && sp[2] > 0 && std::isfinite(sp[0]) &&
                    std::isfinite(sp[1]) && std::isfinite(sp[2]),
                where, ": spacing must be 3 positive finite values (z, y, x in mm)");
    std::copy(sp.begin(), sp.end(), s.spacing.begin());
    if (h5::has_attr(g, "origin", where)) {
      const auto o = h5::read_attr_doubles(g, "origin", where);
      DDNET_CHECK(o.size() == 3, where, ": origin must have 3 values");
      std::copy(o.begin(), o.end(), s.origin.begin());
    }
    if (h5::has_attr(g, "direction", where)) {
      const auto o = h5::read_attr_doubles(g, "direction", where);
      DDNET_CHECK(o.size() == 9, where, ": direction must have 9 values");
      std::copy(o.begin(), o.end(), s.direction.begin());
    }
    if (h5::has_attr(g, "source", where)) s.source = h5::read_attr_string(g, "source", where);
    if (h5::has_attr(g, "ldct_source", where))
      s.ldct_source = h5::read_attr_string(g, "ldct_source", where);
    d.scans_.push_back(std::move(s));
    d.crc_.push_back({nd.crc, std::move(ldct_crc)});
  }
  DDNET_CHECK(!d.scans_.empty(), path, ": the dataset holds no scans");
  return d;
}

std::vector<std::size_t> Dataset::scans_in(Split s) const {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < scans_.size(); ++i)
    if (scans_[i].split == s) out.push_back(i);
  return out;
}

const ScanInfo& Dataset::scan(const std::string& name) const {
  for (const auto& s : scans_)
    if (s.name == name) return s;
  DDNET_FAIL(path_, ": no scan named '", name, "'");
}

void Dataset::read_slices(std::size_t index, bool ldct, const std::vector<std::int64_t>& slices,
                          float* out) const {
  const ScanInfo& s = scans_.at(index);
  read_slices(index, ldct, slices, 0, s.rows, 0, s.cols, out);
}

void Dataset::read_slices(std::size_t index, bool ldct, const std::vector<std::int64_t>& slices,
                          std::int64_t r0, std::int64_t h, std::int64_t c0, std::int64_t w,
                          float* out) const {
  DDNET_CHECK(index < scans_.size(), path_, ": scan index ", index, " out of range");
  const ScanInfo& s = scans_[index];
  const char* which = ldct ? "ldct" : "ndct";
  const std::string where = path_ + ": " + s.name + "/" + which;
  DDNET_CHECK(!ldct || s.has_ldct, where,
              ": this scan has no low-dose volume (simulate one with `ddnet prepare --simulate`)");
  DDNET_CHECK(r0 >= 0 && c0 >= 0 && h >= 1 && w >= 1 && r0 + h <= s.rows && c0 + w <= s.cols, where,
              ": crop rows [", r0, ", ", r0 + h, ") cols [", c0, ", ", c0 + w, ") is outside ",
              s.rows, "x", s.cols);
  h5::Quiet quiet;
  const Handle g(
      H5_CHECK_MSG(H5Gopen2(file_, s.name.c_str(), H5P_DEFAULT), where, ": cannot open"));
  const Handle ds(H5_CHECK_MSG(H5Dopen2(g, which, H5P_DEFAULT), where, ": cannot open"));
  const Handle fspace(H5_CHECK_MSG(H5Dget_space(ds), where, ": cannot read the dataspace"));
  const hsize_t mdims[1] = {static_cast<hsize_t>(h * w)};
  const Handle mspace(H5_CHECK_MSG(H5Screate_simple(1, mdims, nullptr), where,
                                   ": cannot make the memory dataspace"));
  // With checksums, the whole slice (one chunk, which HDF5 inflates whole anyway) is read as
  // stored, checked, converted, and the crop copied out of it.
  const std::vector<std::uint32_t>& crc = crc_.at(index)[ldct ? 1 : 0];
  Handle file_type, slice_space;
  std::vector<unsigned char> stored;
  std::size_t stored_size = 0;
  if (!crc.empty()) {
    file_type = Handle(H5_CHECK_MSG(H5Dget_type(ds), where, ": cannot read the dtype"));
    stored_size = H5Tget_size(file_type);
    DDNET_CHECK(stored_size > 0, where, ": cannot read the dtype's size");
    stored.resize(static_cast<std::size_t>(s.rows * s.cols) *
                  std::max<std::size_t>(stored_size, 4));
    const hsize_t sdims[1] = {static_cast<hsize_t>(s.rows * s.cols)};
    slice_space = Handle(H5_CHECK_MSG(H5Screate_simple(1, sdims, nullptr), where,
                                      ": cannot make the memory dataspace"));
  }
  for (std::size_t i = 0; i < slices.size(); ++i) {
    const std::int64_t k = slices[i];
    DDNET_CHECK(k >= 0 && k < s.slices, where, ": slice ", k, " out of range (", s.slices,
                " slices)");
    float* dst = out + static_cast<std::int64_t>(i) * h * w;
    if (!crc.empty()) {
      const hsize_t start[3] = {static_cast<hsize_t>(k), 0, 0};
      const hsize_t count[3] = {1, static_cast<hsize_t>(s.rows), static_cast<hsize_t>(s.cols)};
      H5_CHECK_MSG(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, nullptr, count, nullptr),
                   where, ": cannot select slice ", k);
      DDNET_CHECK(H5Dread(ds, file_type, slice_space, fspace, H5P_DEFAULT, stored.data()) >= 0,
                  where, ": cannot read slice ", k, " (truncated or corrupt file?)");
      const auto n = static_cast<std::size_t>(s.rows * s.cols);
      const std::uint32_t got = crc32c(stored.data(), n * stored_size);
      DDNET_CHECK(got == crc[static_cast<std::size_t>(k)], where, ": slice ", k,
                  " fails its checksum (", kChecksumAttr, " stored ",
                  crc[static_cast<std::size_t>(k)], ", computed ", got,
                  "): the file is corrupt; prepare it again or restore it");
      h5::convert(file_type, H5T_NATIVE_FLOAT, n, stored.data(), where);
      const auto* all = reinterpret_cast<const float*>(stored.data());
      for (std::int64_t r = 0; r < h; ++r)
        std::memcpy(dst + r * w, all + (r0 + r) * s.cols + c0,
                    static_cast<std::size_t>(w) * sizeof(float));
    } else {
      const hsize_t start[3] = {static_cast<hsize_t>(k), static_cast<hsize_t>(r0),
                                static_cast<hsize_t>(c0)};
      const hsize_t count[3] = {1, static_cast<hsize_t>(h), static_cast<hsize_t>(w)};
      H5_CHECK_MSG(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, nullptr, count, nullptr),
                   where, ": cannot select slice ", k);
      DDNET_CHECK(H5Dread(ds, H5T_NATIVE_FLOAT, mspace, fspace, H5P_DEFAULT, dst) >= 0, where,
                  ": cannot read slice ", k, " (truncated or corrupt file?)");
    }
    for (std::int64_t j = 0; j < h * w; ++j)
      DDNET_CHECK(plausible_hu(dst[j]), where, ": slice ", k, " holds ",
                  std::isfinite(dst[j]) ? "" : "a non-finite value (", dst[j],
                  std::isfinite(dst[j]) ? "" : ")", " at row ", r0 + j / w, ", col ", c0 + j % w,
                  std::isfinite(dst[j])
                      ? detail::concat(", not a CT value in HU (|HU| <= ", kMaxAbsHU, ")")
                      : std::string());
  }
}

Volume Dataset::read(std::size_t index, bool ldct) const {
  const ScanInfo& s = scans_.at(index);
  Volume v(s.slices, s.rows, s.cols);
  v.spacing = s.spacing;
  v.origin = s.origin;
  v.direction = s.direction;
  v.source = path_ + ":" + s.name + (ldct ? "/ldct" : "/ndct");
  std::vector<std::int64_t> all(static_cast<std::size_t>(s.slices));
  for (std::int64_t k = 0; k < s.slices; ++k) all[static_cast<std::size_t>(k)] = k;
  read_slices(index, ldct, all, v.voxels.data());
  return v;
}

}  // namespace ddnet::data
