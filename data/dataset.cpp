// The HDF5 CT dataset: writer, validating reader, slice reads.
#include "data/dataset.h"

#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <set>

#include "engine/error.h"

namespace ddnet::data {

namespace {

// HDF5 prints its error stack to stderr by default; we report our own messages instead.
struct QuietH5 {
  H5E_auto2_t func = nullptr;
  void* data = nullptr;
  QuietH5() {
    H5Eget_auto2(H5E_DEFAULT, &func, &data);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~QuietH5() { H5Eset_auto2(H5E_DEFAULT, func, data); }
  QuietH5(const QuietH5&) = delete;
  QuietH5& operator=(const QuietH5&) = delete;
};

// Closes any HDF5 identifier on scope exit.
struct Handle {
  hid_t id = -1;
  explicit Handle(hid_t h = -1) : id(h) {}
  ~Handle() {
    if (id >= 0) H5Idec_ref(id);
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  operator hid_t() const { return id; }  // NOLINT: a handle is used where an hid_t is
  bool ok() const { return id >= 0; }
};

void write_attr_string(hid_t loc, const char* name, const std::string& s) {
  Handle type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type, std::max<std::size_t>(1, s.size()));
  Handle space(H5Screate(H5S_SCALAR));
  Handle a(H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT));
  const std::string padded = s.empty() ? std::string(1, '\0') : s;
  DDNET_CHECK(a.ok() && H5Awrite(a, type, padded.data()) >= 0, "cannot write attribute ", name);
}

void write_attr_doubles(hid_t loc, const char* name, const double* v, std::size_t n) {
  const hsize_t dims[1] = {n};
  Handle space(H5Screate_simple(1, dims, nullptr));
  Handle a(H5Acreate2(loc, name, H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT));
  DDNET_CHECK(a.ok() && H5Awrite(a, H5T_NATIVE_DOUBLE, v) >= 0, "cannot write attribute ", name);
}

void write_attr_int(hid_t loc, const char* name, int v) {
  Handle space(H5Screate(H5S_SCALAR));
  Handle a(H5Acreate2(loc, name, H5T_STD_I32LE, space, H5P_DEFAULT, H5P_DEFAULT));
  DDNET_CHECK(a.ok() && H5Awrite(a, H5T_NATIVE_INT, &v) >= 0, "cannot write attribute ", name);
}

bool has_attr(hid_t loc, const char* name) {
  return H5Aexists(loc, name) > 0;
}

// Fixed-length (ours, h5py's bytes) and variable-length (h5py's str) strings.
std::string read_attr_string(hid_t loc, const char* name, const std::string& where) {
  Handle a(H5Aopen(loc, name, H5P_DEFAULT));
  DDNET_CHECK(a.ok(), where, ": cannot open attribute '", name, "'");
  Handle type(H5Aget_type(a));
  DDNET_CHECK(H5Tget_class(type) == H5T_STRING, where, ": attribute '", name, "' must be a string");
  if (H5Tis_variable_str(type) > 0) {
    Handle mem(H5Tcopy(H5T_C_S1));
    H5Tset_size(mem, H5T_VARIABLE);
    char* p = nullptr;
    DDNET_CHECK(H5Aread(a, mem, &p) >= 0, where, ": cannot read attribute '", name, "'");
    std::string s = p ? p : "";
    H5free_memory(p);
    return s;
  }
  const std::size_t n = H5Tget_size(type);
  std::string s(n + 1, '\0');
  Handle mem(H5Tcopy(H5T_C_S1));
  H5Tset_size(mem, n + 1);
  DDNET_CHECK(H5Aread(a, mem, s.data()) >= 0, where, ": cannot read attribute '", name, "'");
  while (!s.empty() && s.back() == '\0') s.pop_back();
  return s;
}

std::vector<double> read_attr_doubles(hid_t loc, const char* name, const std::string& where) {
  Handle a(H5Aopen(loc, name, H5P_DEFAULT));
  DDNET_CHECK(a.ok(), where, ": cannot open attribute '", name, "'");
  Handle space(H5Aget_space(a));
  const hssize_t n = H5Sget_simple_extent_npoints(space);
  DDNET_CHECK(n > 0, where, ": attribute '", name, "' is empty");
  std::vector<double> v(static_cast<std::size_t>(n));
  DDNET_CHECK(H5Aread(a, H5T_NATIVE_DOUBLE, v.data()) >= 0, where, ": attribute '", name,
              "' is not numeric");
  return v;
}

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
  const hsize_t dims[3] = {static_cast<hsize_t>(v.slices), static_cast<hsize_t>(v.rows),
                           static_cast<hsize_t>(v.cols)};
  Handle space(H5Screate_simple(3, dims, nullptr));
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE));
  const hsize_t chunk[3] = {1, dims[1], dims[2]};
  H5Pset_chunk(dcpl, 3, chunk);
  H5Pset_shuffle(dcpl);
  H5Pset_deflate(dcpl, 4);
  Handle ds(H5Dcreate2(group, name, as_int ? H5T_STD_I16LE : H5T_IEEE_F32LE, space, H5P_DEFAULT,
                       dcpl, H5P_DEFAULT));
  DDNET_CHECK(ds.ok(), where, ": cannot create dataset ", name);
  herr_t rc;
  if (as_int) {
    std::vector<std::int16_t> buf(v.voxels.size());
    for (std::size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<std::int16_t>(v.voxels[i]);
    rc = H5Dwrite(ds, H5T_NATIVE_INT16, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data());
  } else {
    rc = H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.voxels.data());
  }
  DDNET_CHECK(rc >= 0, where, ": cannot write dataset ", name, " (disk full?)");
  write_attr_string(ds, "units", "HU");
}

struct VolumeInfo {
  std::int64_t d = 0, h = 0, w = 0;
  std::string type;
};

VolumeInfo inspect(hid_t group, const char* name, const std::string& where) {
  Handle ds(H5Dopen2(group, name, H5P_DEFAULT));
  DDNET_CHECK(ds.ok(), where, "/", name, ": not a dataset");
  Handle space(H5Dget_space(ds));
  const int rank = H5Sget_simple_extent_ndims(space);
  DDNET_CHECK(rank == 3, where, "/", name, ": expected 3 dimensions (slices, rows, cols), found ",
              rank);
  hsize_t dims[3];
  H5Sget_simple_extent_dims(space, dims, nullptr);
  VolumeInfo info{static_cast<std::int64_t>(dims[0]), static_cast<std::int64_t>(dims[1]),
                  static_cast<std::int64_t>(dims[2]), ""};
  DDNET_CHECK(info.d > 0 && info.h > 0 && info.w > 0, where, "/", name, ": empty dataset");
  Handle type(H5Dget_type(ds));
  const H5T_class_t cls = H5Tget_class(type);
  const std::size_t size = H5Tget_size(type);
  if (cls == H5T_INTEGER && size == 2 && H5Tget_sign(type) == H5T_SGN_2)
    info.type = "int16";
  else if (cls == H5T_FLOAT && size == 4)
    info.type = "float32";
  DDNET_CHECK(!info.type.empty(), where, "/", name,
              ": wrong dtype: expected int16 or float32 HU (class ", static_cast<int>(cls), ", ",
              size, " bytes)");
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
  QuietH5 quiet;
  file_ = H5Fcreate(tmp_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  DDNET_CHECK(file_ >= 0, "cannot create ", tmp_, " (for ", path_, ")");
  write_attr_string(file_, "format", kDatasetFormat);
  write_attr_int(file_, "format_version", kDatasetVersion);
}

DatasetWriter::~DatasetWriter() {
  if (file_ >= 0) H5Fclose(file_);
  if (!committed_) std::remove(tmp_.c_str());
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
  QuietH5 quiet;
  const std::string where = path_ + "/" + name;
  Handle g(H5Gcreate2(file_, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  DDNET_CHECK(g.ok(), where, ": cannot create the group");
  write_volume(g, "ndct", ndct, store, where);
  if (ldct) write_volume(g, "ldct", *ldct, store, where);
  write_attr_doubles(g, "spacing", ndct.spacing.data(), 3);
  write_attr_doubles(g, "origin", ndct.origin.data(), 3);
  write_attr_doubles(g, "direction", ndct.direction.data(), 9);
  write_attr_string(g, "split", split_name(split));
  write_attr_string(g, "source", ndct.source);
  if (ldct) write_attr_string(g, "ldct_source", ldct_source.empty() ? ldct->source : ldct_source);
  names_.push_back(name);
}

void DatasetWriter::commit() {
  DDNET_CHECK(!committed_, path_, ": committed twice");
  DDNET_CHECK(!names_.empty(), path_, ": refusing to write a dataset with no scans");
  DDNET_CHECK(H5Fflush(file_, H5F_SCOPE_GLOBAL) >= 0, "cannot flush ", tmp_);
  H5Fclose(file_);
  file_ = -1;
  std::error_code ec;
  std::filesystem::rename(tmp_, path_, ec);
  DDNET_CHECK(!ec, "cannot rename ", tmp_, " to ", path_, ": ", ec.message());
  committed_ = true;
}

// ---------------------------------------------------------------------------------------------
// Dataset

Dataset::~Dataset() {
  if (file_ >= 0) H5Fclose(file_);
}

Dataset::Dataset(Dataset&& o) noexcept
    : path_(std::move(o.path_)), file_(o.file_), scans_(std::move(o.scans_)) {
  o.file_ = -1;
}

Dataset& Dataset::operator=(Dataset&& o) noexcept {
  if (this != &o) {
    if (file_ >= 0) H5Fclose(file_);
    path_ = std::move(o.path_);
    file_ = o.file_;
    scans_ = std::move(o.scans_);
    o.file_ = -1;
  }
  return *this;
}

Dataset Dataset::open(const std::string& path) {
  DDNET_CHECK(std::filesystem::exists(path), path, ": no such dataset file");
  QuietH5 quiet;
  Dataset d;
  d.path_ = path;
  d.file_ = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  DDNET_CHECK(d.file_ >= 0, path,
              ": cannot open as HDF5 (not an HDF5 file, or truncated / corrupt)");
  DDNET_CHECK(
      has_attr(d.file_, "format") && read_attr_string(d.file_, "format", path) == kDatasetFormat,
      path, ": not a ddnet CT dataset (the root attribute format='", kDatasetFormat,
      "' is missing); make one with `ddnet prepare`");
  DDNET_CHECK(has_attr(d.file_, "format_version"), path, ": no format_version attribute");
  const auto version = read_attr_doubles(d.file_, "format_version", path);
  DDNET_CHECK(version.size() == 1 && version[0] == kDatasetVersion, path, ": format_version ",
              version[0], " is not supported (this build reads version ", kDatasetVersion, ")");

  H5G_info_t ginfo;
  DDNET_CHECK(H5Gget_info(d.file_, &ginfo) >= 0, path, ": cannot list the root group");
  for (hsize_t i = 0; i < ginfo.nlinks; ++i) {
    const ssize_t len =
        H5Lget_name_by_idx(d.file_, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    DDNET_CHECK(len > 0, path, ": cannot read the name of root link ", i);
    std::string name(static_cast<std::size_t>(len) + 1, '\0');
    H5Lget_name_by_idx(d.file_, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(),
                       H5P_DEFAULT);
    name.resize(static_cast<std::size_t>(len));
    const std::string where = path + ": scan '" + name + "'";
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
    Handle g(H5Gopen2(d.file_, name.c_str(), H5P_DEFAULT));
    DDNET_CHECK(g.ok(), where, ": cannot open the group");
    DDNET_CHECK(H5Lexists(g, "ndct", H5P_DEFAULT) > 0, where,
                ": missing dataset 'ndct' (the standard-dose scan)");
    ScanInfo s;
    s.name = name;
    const VolumeInfo nd = inspect(g, "ndct", where);
    s.slices = nd.d;
    s.rows = nd.h;
    s.cols = nd.w;
    s.ndct_type = nd.type;
    if (H5Lexists(g, "ldct", H5P_DEFAULT) > 0) {
      const VolumeInfo ld = inspect(g, "ldct", where);
      DDNET_CHECK(ld.d == nd.d && ld.h == nd.h && ld.w == nd.w, where, ": ldct shape ", ld.d, "x",
                  ld.h, "x", ld.w, " does not match ndct ", nd.d, "x", nd.h, "x", nd.w);
      s.has_ldct = true;
      s.ldct_type = ld.type;
    }
    DDNET_CHECK(has_attr(g, "split"), where, ": missing attribute 'split' (train, val or test)");
    const std::string split = read_attr_string(g, "split", where);
    try {
      s.split = parse_split(split);
    } catch (const Error&) {
      DDNET_FAIL(where, ": split '", split, "' is not train, val or test");
    }
    DDNET_CHECK(has_attr(g, "spacing"), where, ": missing attribute 'spacing' (z, y, x in mm)");
    const auto sp = read_attr_doubles(g, "spacing", where);
    DDNET_CHECK(sp.size() == 3 && sp[0] > 0 && sp[1] > 0 && sp[2] > 0 && std::isfinite(sp[0]) &&
                    std::isfinite(sp[1]) && std::isfinite(sp[2]),
                where, ": spacing must be 3 positive finite values (z, y, x in mm)");
    std::copy(sp.begin(), sp.end(), s.spacing.begin());
    if (has_attr(g, "origin")) {
      const auto o = read_attr_doubles(g, "origin", where);
      DDNET_CHECK(o.size() == 3, where, ": origin must have 3 values");
      std::copy(o.begin(), o.end(), s.origin.begin());
    }
    if (has_attr(g, "direction")) {
      const auto o = read_attr_doubles(g, "direction", where);
      DDNET_CHECK(o.size() == 9, where, ": direction must have 9 values");
      std::copy(o.begin(), o.end(), s.direction.begin());
    }
    if (has_attr(g, "source")) s.source = read_attr_string(g, "source", where);
    if (has_attr(g, "ldct_source")) s.ldct_source = read_attr_string(g, "ldct_source", where);
    d.scans_.push_back(std::move(s));
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
  QuietH5 quiet;
  Handle g(H5Gopen2(file_, s.name.c_str(), H5P_DEFAULT));
  Handle ds(H5Dopen2(g, which, H5P_DEFAULT));
  DDNET_CHECK(ds.ok(), where, ": cannot open");
  Handle fspace(H5Dget_space(ds));
  const hsize_t mdims[1] = {static_cast<hsize_t>(h * w)};
  Handle mspace(H5Screate_simple(1, mdims, nullptr));
  for (std::size_t i = 0; i < slices.size(); ++i) {
    const std::int64_t k = slices[i];
    DDNET_CHECK(k >= 0 && k < s.slices, where, ": slice ", k, " out of range (", s.slices,
                " slices)");
    const hsize_t start[3] = {static_cast<hsize_t>(k), static_cast<hsize_t>(r0),
                              static_cast<hsize_t>(c0)};
    const hsize_t count[3] = {1, static_cast<hsize_t>(h), static_cast<hsize_t>(w)};
    H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, nullptr, count, nullptr);
    float* dst = out + static_cast<std::int64_t>(i) * h * w;
    DDNET_CHECK(H5Dread(ds, H5T_NATIVE_FLOAT, mspace, fspace, H5P_DEFAULT, dst) >= 0, where,
                ": cannot read slice ", k, " (truncated or corrupt file?)");
    for (std::int64_t j = 0; j < h * w; ++j)
      DDNET_CHECK(std::isfinite(dst[j]), where, ": slice ", k, " holds a non-finite value (",
                  dst[j], ") at row ", r0 + j / w, ", col ", c0 + j % w);
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
