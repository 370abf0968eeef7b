// HDF5 reading of the PyTorch fixtures.
#include "tests/fixtures.h"

#include <hdf5.h>

#include <algorithm>
#include <cstdlib>

namespace ddnet::test {

namespace {
// The folder of the fixtures: DDNET_FIXTURE_DIR from the environment (a bundle run elsewhere),
// else the source tree's tests/fixtures as configured.
std::string fixture_dir() {
  const char* env = std::getenv("DDNET_FIXTURE_DIR");
  return env && *env ? env : DDNET_FIXTURE_DIR;
}
}  // namespace

Fixtures::Fixtures(const std::string& file)
    : path_(!file.empty() && file[0] == '/' ? file : fixture_dir() + "/" + file) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // our messages, not HDF5's error stack
  file_ = H5Fopen(path_.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  DDNET_CHECK(file_ >= 0, "cannot open fixture file ", path_,
              " (regenerate with: /usr/bin/python3 tests/fixtures/make_fixtures.py)");
}

Fixtures::~Fixtures() {
  if (file_ >= 0) H5Fclose(file_);
}

std::vector<std::string> Fixtures::cases() const {
  std::vector<std::string> names;
  H5Literate(
      file_, H5_INDEX_NAME, H5_ITER_INC, nullptr,
      [](hid_t, const char* name, const H5L_info_t*, void* out) -> herr_t {
        static_cast<std::vector<std::string>*>(out)->push_back(name);
        return 0;
      },
      &names);
  std::sort(names.begin(), names.end());
  return names;
}

bool Fixtures::has(const std::string& group, const std::string& name) const {
  const std::string p = group + "/" + name;
  return H5Lexists(file_, group.c_str(), H5P_DEFAULT) > 0 &&
         H5Lexists(file_, p.c_str(), H5P_DEFAULT) > 0;
}

Tensor Fixtures::tensor(const std::string& group, const std::string& name) const {
  const std::string p = group + "/" + name;
  DDNET_CHECK(has(group, name), path_, ": no dataset ", p);
  const hid_t ds = H5_CHECK(H5Dopen2(file_, p.c_str(), H5P_DEFAULT));
  const hid_t space = H5_CHECK(H5Dget_space(ds));
  const int rank = H5_CHECK(H5Sget_simple_extent_ndims(space));
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  H5_CHECK(H5Sget_simple_extent_dims(space, dims.data(), nullptr));
  std::vector<std::int64_t> shape(dims.begin(), dims.end());
  if (shape.empty()) shape.push_back(1);
  Tensor t = Tensor::empty(Shape(shape));
  H5_CHECK(H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data<float>()));
  H5Sclose(space);
  H5Dclose(ds);
  return t;
}

Shape Fixtures::dataset_shape(const std::string& name) const {
  DDNET_CHECK(H5Lexists(file_, name.c_str(), H5P_DEFAULT) > 0, path_, ": no dataset ", name);
  const hid_t ds = H5_CHECK(H5Dopen2(file_, name.c_str(), H5P_DEFAULT));
  const hid_t space = H5_CHECK(H5Dget_space(ds));
  const int rank = H5_CHECK(H5Sget_simple_extent_ndims(space));
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  H5_CHECK(H5Sget_simple_extent_dims(space, dims.data(), nullptr));
  H5Sclose(space);
  H5Dclose(ds);
  return Shape(std::vector<std::int64_t>(dims.begin(), dims.end()));
}

Tensor Fixtures::dataset(const std::string& name) const {
  Shape s = dataset_shape(name);
  Tensor t = Tensor::empty(s);
  const hid_t ds = H5_CHECK(H5Dopen2(file_, name.c_str(), H5P_DEFAULT));
  H5_CHECK(H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data<float>()));
  H5Dclose(ds);
  return t;
}

std::string Fixtures::attr_string(const std::string& group, const std::string& name) const {
  DDNET_CHECK(H5Aexists_by_name(file_, group.c_str(), name.c_str(), H5P_DEFAULT) > 0, path_,
              ": group ", group, " has no attribute ", name);
  const hid_t a =
      H5_CHECK(H5Aopen_by_name(file_, group.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT));
  const hid_t type = H5_CHECK(H5Aget_type(a));
  const std::size_t n = H5Tget_size(type);
  std::string s(n + 1, '\0');  // room for a terminator: null-padded strings use all n bytes
  const hid_t mem = H5Tcopy(H5T_C_S1);
  H5Tset_size(mem, n + 1);
  H5_CHECK(H5Aread(a, mem, s.data()));
  H5Tclose(mem);
  H5Tclose(type);
  H5Aclose(a);
  while (!s.empty() && s.back() == '\0') s.pop_back();
  return s;
}

double Fixtures::attr(const std::string& group, const std::string& name) const {
  DDNET_CHECK(H5Aexists_by_name(file_, group.c_str(), name.c_str(), H5P_DEFAULT) > 0, path_,
              ": group ", group, " has no attribute ", name);
  const hid_t a =
      H5_CHECK(H5Aopen_by_name(file_, group.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT));
  double v = 0;
  H5_CHECK(H5Aread(a, H5T_NATIVE_DOUBLE, &v));
  H5Aclose(a);
  return v;
}

}  // namespace ddnet::test
