// The HDF5 helpers of engine/hdf5.h: closing, the quiet scope, attributes and extents.
#include "engine/hdf5.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>

namespace ddnet::h5 {

void close_quietly(hid_t& id) noexcept {
  if (id < 0) return;
  Quiet quiet;
  H5Idec_ref(id);  // whatever the kind: files, groups, datasets, spaces, types, attributes
  id = -1;
}

void close_checked(hid_t& id, const std::string& what) {
  if (id < 0) return;
  Quiet quiet;
  const int left = H5Idec_ref(id);
  id = -1;
  DDNET_CHECK(left >= 0, what, ": cannot close (disk full, or the file went away?)");
}

void discard_file(hid_t& file, const std::string& path) noexcept {
  if (file >= 0) truncate(path.c_str(), 0);  // ignored: the close below is what it helps
  close_quietly(file);
  std::remove(path.c_str());
}

hid_t create_file(const std::string& path, const std::string& what) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int err = errno;
    DDNET_FAIL(what, ": cannot create ", path, " (", std::strerror(err), ")");
  }
  constexpr std::size_t kRoom = 64 * 1024;  // well above a new file's superblock and root group
  static const char zeros[kRoom] = {};
  std::size_t written = 0;
  int err = 0;
  while (written < kRoom) {
    const ssize_t n = ::write(fd, zeros + written, kRoom - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      err = n < 0 ? errno : ENOSPC;
      break;
    }
    written += static_cast<std::size_t>(n);
  }
  if (err == 0 && ::ftruncate(fd, 0) != 0) err = errno;
  ::close(fd);
  if (err != 0) {
    std::remove(path.c_str());
    DDNET_FAIL(what, ": cannot create ", path, " (", std::strerror(err), ")");
  }
  Quiet quiet;
  return H5_CHECK_MSG(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), what,
                      ": cannot create ", path, " (not writable as HDF5)");
}

Quiet::Quiet() {
  H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

Quiet::~Quiet() {
  H5Eset_auto2(H5E_DEFAULT, func_, data_);
}

namespace {

// Writes an attribute of `n` values (a scalar when n is 0).
void write_attr(hid_t loc, const char* name, hid_t file_type, hid_t mem_type, const void* values,
                std::size_t n, const std::string& where) {
  const hsize_t dims[1] = {n};
  Handle space(n == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, dims, nullptr));
  H5_CHECK_MSG(space.get(), where, ": cannot write attribute ", name, " (dataspace)");
  Handle a(H5Acreate2(loc, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT));
  H5_CHECK_MSG(a.get(), where, ": cannot write attribute ", name);
  H5_CHECK_MSG(H5Awrite(a, mem_type, values), where, ": cannot write attribute ", name);
  a.close(where + ": attribute " + name);
}

Handle open_attr(hid_t loc, const char* name, const std::string& where) {
  return Handle(
      H5_CHECK_MSG(H5Aopen(loc, name, H5P_DEFAULT), where, ": cannot open attribute '", name, "'"));
}

}  // namespace

bool has_attr(hid_t loc, const char* name, const std::string& where) {
  return H5_CHECK_MSG(H5Aexists(loc, name), where, ": cannot look up attribute '", name, "'") > 0;
}

void write_attr_string(hid_t loc, const char* name, const std::string& value,
                       const std::string& where) {
  Handle type(H5Tcopy(H5T_C_S1));
  H5_CHECK_MSG(type.get(), where, ": cannot write attribute ", name, " (string type)");
  H5_CHECK_MSG(H5Tset_size(type, std::max<std::size_t>(1, value.size())), where,
               ": cannot write attribute ", name, " (string type)");
  const std::string padded = value.empty() ? std::string(1, '\0') : value;
  write_attr(loc, name, type, type, padded.data(), 0, where);
}

void write_attr_i32(hid_t loc, const char* name, std::int32_t value, const std::string& where) {
  write_attr(loc, name, H5T_STD_I32LE, H5T_NATIVE_INT32, &value, 0, where);
}

void write_attr_i64(hid_t loc, const char* name, std::int64_t value, const std::string& where) {
  write_attr(loc, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value, 0, where);
}

void write_attr_doubles(hid_t loc, const char* name, const double* values, std::size_t n,
                        const std::string& where) {
  write_attr(loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, values, n, where);
}

std::string read_attr_string(hid_t loc, const char* name, const std::string& where) {
  const Handle a = open_attr(loc, name, where);
  const Handle type(
      H5_CHECK_MSG(H5Aget_type(a), where, ": cannot read the type of attribute '", name, "'"));
  DDNET_CHECK(H5Tget_class(type) == H5T_STRING, where, ": attribute '", name, "' must be a string");
  const Handle space(
      H5_CHECK_MSG(H5Aget_space(a), where, ": cannot read the extent of attribute '", name, "'"));
  DDNET_CHECK(H5Sget_simple_extent_npoints(space) == 1, where, ": attribute '", name,
              "' must be one string, it holds ", H5Sget_simple_extent_npoints(space));
  // The memory type takes the file's character set: HDF5 does not convert between ASCII and
  // UTF-8 (h5py writes str as variable-length UTF-8, and may write fixed-length UTF-8).
  const H5T_cset_t cset =
      H5_CHECK_MSG(H5Tget_cset(type), where, ": cannot read the character set of '", name, "'");
  Handle mem(H5_CHECK_MSG(H5Tcopy(H5T_C_S1), where, ": cannot read attribute '", name, "'"));
  H5_CHECK_MSG(H5Tset_cset(mem, cset), where, ": cannot read attribute '", name, "'");
  if (H5_CHECK_MSG(H5Tis_variable_str(type), where, ": cannot read attribute '", name, "'") > 0) {
    H5_CHECK_MSG(H5Tset_size(mem, H5T_VARIABLE), where, ": cannot read attribute '", name, "'");
    char* p = nullptr;
    H5_CHECK_MSG(H5Aread(a, mem, &p), where, ": cannot read attribute '", name, "'");
    const std::unique_ptr<char, herr_t (*)(void*)> owned(p, H5free_memory);
    return p ? std::string(p) : std::string();
  }
  const std::size_t n = H5Tget_size(type);
  DDNET_CHECK(n > 0, where, ": cannot read the size of attribute '", name, "'");
  std::string s(n + 1, '\0');  // room for a terminator: null-padded strings use all n bytes
  H5_CHECK_MSG(H5Tset_size(mem, n + 1), where, ": cannot read attribute '", name, "'");
  H5_CHECK_MSG(H5Aread(a, mem, s.data()), where, ": cannot read attribute '", name, "'");
  s.resize(std::strlen(s.c_str()));
  if (H5Tget_strpad(type) == H5T_STR_SPACEPAD)  // Fortran's padding
    while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

std::int64_t read_attr_i64(hid_t loc, const char* name, const std::string& where) {
  const Handle a = open_attr(loc, name, where);
  std::int64_t v = 0;
  H5_CHECK_MSG(H5Aread(a, H5T_NATIVE_INT64, &v), where, ": attribute '", name,
               "' is not an integer");
  return v;
}

std::vector<double> read_attr_doubles(hid_t loc, const char* name, const std::string& where) {
  const Handle a = open_attr(loc, name, where);
  const Handle space(
      H5_CHECK_MSG(H5Aget_space(a), where, ": cannot read the extent of attribute '", name, "'"));
  const hssize_t n = H5Sget_simple_extent_npoints(space);
  DDNET_CHECK(n > 0, where, ": attribute '", name, "' is empty");
  std::vector<double> v(static_cast<std::size_t>(n));
  H5_CHECK_MSG(H5Aread(a, H5T_NATIVE_DOUBLE, v.data()), where, ": attribute '", name,
               "' is not numeric");
  return v;
}

void write_attr_u32s(hid_t loc, const char* name, const std::uint32_t* values, std::size_t n,
                     const std::string& where) {
  write_attr(loc, name, H5T_STD_U32LE, H5T_NATIVE_UINT32, values, n, where);
}

std::vector<std::uint32_t> read_attr_u32s(hid_t loc, const char* name, const std::string& where) {
  const Handle a = open_attr(loc, name, where);
  const Handle type(
      H5_CHECK_MSG(H5Aget_type(a), where, ": cannot read the type of attribute '", name, "'"));
  DDNET_CHECK(H5Tget_class(type) == H5T_INTEGER, where, ": attribute '", name,
              "' must hold integers");
  const Handle space(
      H5_CHECK_MSG(H5Aget_space(a), where, ": cannot read the extent of attribute '", name, "'"));
  const hssize_t n = H5Sget_simple_extent_npoints(space);
  DDNET_CHECK(n > 0, where, ": attribute '", name, "' is empty");
  std::vector<std::uint32_t> v(static_cast<std::size_t>(n));
  H5_CHECK_MSG(H5Aread(a, H5T_NATIVE_UINT32, v.data()), where, ": attribute '", name,
               "' is not a list of 32-bit unsigned integers");
  return v;
}

void convert(hid_t from, hid_t to, std::size_t n, void* buf, const std::string& where) {
  if (n == 0) return;
  H5_CHECK_MSG(H5Tconvert(from, to, n, buf, nullptr, H5P_DEFAULT), where,
               ": cannot convert the values read");
}

namespace {

// The file number HDF5 gives the file an object lives in.
unsigned long fileno_of(hid_t object, const std::string& what) {
#if H5_VERSION_GE(1, 12, 0)
  H5O_info2_t info;
  H5_CHECK_MSG(H5Oget_info3(object, &info, H5O_INFO_BASIC), what, ": cannot read the object info");
#else
  H5O_info_t info;
  H5_CHECK_MSG(H5Oget_info2(object, &info, H5O_INFO_BASIC), what, ": cannot read the object info");
#endif
  return info.fileno;
}

}  // namespace

void check_link(hid_t loc, const char* name, const std::string& where, bool allow_external) {
  if (allow_external) return;
  H5L_info_t info;
  H5_CHECK_MSG(H5Lget_info(loc, name, &info, H5P_DEFAULT), where, ": cannot read link '", name,
               "'");
  if (info.type == H5L_TYPE_HARD || info.type == H5L_TYPE_SOFT) return;
  if (info.type == H5L_TYPE_EXTERNAL) {
    std::string target = "?";
    std::vector<char> val(info.u.val_size + 1, '\0');
    const char* file = nullptr;
    const char* object = nullptr;
    if (H5Lget_val(loc, name, val.data(), val.size(), H5P_DEFAULT) >= 0 &&
        H5Lunpack_elink_val(val.data(), info.u.val_size, nullptr, &file, &object) >= 0 && file &&
        object)
      target = std::string(file) + ":" + object;
    DDNET_FAIL(where, ": '", name, "' is an external link to ", target,
               " (another file); refusing to follow it");
  }
  DDNET_FAIL(where, ": '", name, "' is a user-defined link (type ", static_cast<int>(info.type),
             "); refusing to follow it");
}

void check_same_file(hid_t file, hid_t object, const std::string& what, bool allow_external) {
  if (allow_external) return;
  DDNET_CHECK(fileno_of(object, what) == fileno_of(file, what), what,
              ": lies in another file (reached through an external link); refusing to read it");
}

void check_local_storage(hid_t dataset, const std::string& what, bool allow_external) {
  if (allow_external) return;
  const Handle dcpl(
      H5_CHECK_MSG(H5Dget_create_plist(dataset), what, ": cannot read the creation properties"));
  const int external =
      H5_CHECK_MSG(H5Pget_external_count(dcpl), what, ": cannot read the external storage list");
  if (external > 0) {
    char file[256] = "?";
    off_t offset = 0;
    hsize_t size = 0;
    H5Pget_external(dcpl, 0, sizeof file, file, &offset, &size);
    file[sizeof file - 1] = '\0';
    DDNET_FAIL(what, ": its values are stored in ", external, " other file(s) (external storage, ",
               "first: ", file, "); refusing to read them");
  }
  const H5D_layout_t layout =
      H5_CHECK_MSG(H5Pget_layout(dcpl), what, ": cannot read the storage layout");
  DDNET_CHECK(layout != H5D_VIRTUAL, what,
              ": is a virtual dataset (its values map other datasets, maybe in other files); "
              "refusing to read it");
}

Handle open_dataset(hid_t file, hid_t loc, const char* name, const std::string& where,
                    bool allow_external) {
  check_link(loc, name, where, allow_external);
  const std::string what = where + "/" + name;
  Handle ds(H5_CHECK_MSG(H5Dopen2(loc, name, H5P_DEFAULT), what, ": not a dataset"));
  check_same_file(file, ds, what, allow_external);
  check_local_storage(ds, what, allow_external);
  return ds;
}

std::vector<hsize_t> extent(hid_t dataset, const std::string& where) {
  const Handle space(H5_CHECK_MSG(H5Dget_space(dataset), where, ": cannot read the dataspace"));
  const int rank =
      H5_CHECK_MSG(H5Sget_simple_extent_ndims(space), where, ": cannot read the dataspace");
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  if (rank > 0)
    H5_CHECK_MSG(H5Sget_simple_extent_dims(space, dims.data(), nullptr), where,
                 ": cannot read the dataspace");
  return dims;
}

}  // namespace ddnet::h5
