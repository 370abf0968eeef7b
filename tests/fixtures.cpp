// HDF5 reading of the PyTorch fixtures.
#include "tests/fixtures.h"

#include <algorithm>
#include <cstdlib>

#include "engine/hdf5.h"

namespace ddnet::test {

namespace {
// The folder of the fixtures: DDNET_FIXTURE_DIR from the environment (a bundle run elsewhere),
// else the source tree's tests/fixtures as configured.
std::string fixture_dir() {
  const char* env = std::getenv("DDNET_FIXTURE_DIR");
  return env && *env ? env : DDNET_FIXTURE_DIR;
}

// The group `group`, open, after checking it has the attribute `name`.
h5::Handle open_with_attr(hid_t file, const std::string& path, const std::string& group,
                          const std::string& name) {
  DDNET_CHECK(H5Aexists_by_name(file, group.c_str(), name.c_str(), H5P_DEFAULT) > 0, path,
              ": group ", group, " has no attribute ", name);
  return h5::Handle(
      H5_CHECK_MSG(H5Oopen(file, group.c_str(), H5P_DEFAULT), path, ": cannot open group ", group));
}
}  // namespace

Fixtures::Fixtures(const std::string& file)
    : path_(!file.empty() && file[0] == '/' ? file : fixture_dir() + "/" + file) {
  h5::Quiet quiet;  // our messages, not HDF5's error stack
  file_ =
      H5_CHECK_MSG(H5Fopen(path_.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "cannot open fixture file ",
                   path_, " (regenerate with: /usr/bin/python3 tests/fixtures/make_fixtures.py)");
}

Fixtures::~Fixtures() {
  hid_t id = file_;
  h5::close_quietly(id);
}

std::vector<std::string> Fixtures::cases() const {
  h5::Quiet quiet;
  std::vector<std::string> names;
  H5_CHECK_MSG(H5Literate(
                   file_, H5_INDEX_NAME, H5_ITER_INC, nullptr,
                   [](hid_t, const char* name, const H5L_info_t*, void* out) -> herr_t {
                     static_cast<std::vector<std::string>*>(out)->push_back(name);
                     return 0;
                   },
                   &names),
               path_, ": cannot list the groups");
  std::sort(names.begin(), names.end());
  return names;
}

bool Fixtures::has(const std::string& group, const std::string& name) const {
  h5::Quiet quiet;
  const std::string p = group + "/" + name;
  return H5_CHECK_MSG(H5Lexists(file_, group.c_str(), H5P_DEFAULT), path_, ": cannot look up ",
                      group) > 0 &&
         H5_CHECK_MSG(H5Lexists(file_, p.c_str(), H5P_DEFAULT), path_, ": cannot look up ", p) > 0;
}

Tensor Fixtures::tensor(const std::string& group, const std::string& name) const {
  const std::string p = group + "/" + name;
  DDNET_CHECK(has(group, name), path_, ": no dataset ", p);
  std::vector<std::int64_t> shape = dataset_shape(p).to_vector();
  if (shape.empty()) shape.push_back(1);  // a scalar
  return read_float(p, Shape(shape));
}

Shape Fixtures::dataset_shape(const std::string& name) const {
  h5::Quiet quiet;
  DDNET_CHECK(H5_CHECK_MSG(H5Lexists(file_, name.c_str(), H5P_DEFAULT), path_, ": cannot look up ",
                           name) > 0,
              path_, ": no dataset ", name);
  const h5::Handle ds(H5_CHECK_MSG(H5Dopen2(file_, name.c_str(), H5P_DEFAULT), path_,
                                   ": cannot open dataset ", name));
  const std::vector<hsize_t> dims = h5::extent(ds, path_ + ": dataset " + name);
  return Shape(std::vector<std::int64_t>(dims.begin(), dims.end()));
}

Tensor Fixtures::dataset(const std::string& name) const {
  return read_float(name, dataset_shape(name));
}

Tensor Fixtures::read_float(const std::string& name, const Shape& shape) const {
  h5::Quiet quiet;
  const std::string where = path_ + ": dataset " + name;
  const h5::Handle ds(
      H5_CHECK_MSG(H5Dopen2(file_, name.c_str(), H5P_DEFAULT), where, ": cannot open"));
  Tensor t = Tensor::empty(shape);
  H5_CHECK_MSG(H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data<float>()), where,
               ": cannot read as float32");
  return t;
}

std::string Fixtures::attr_string(const std::string& group, const std::string& name) const {
  h5::Quiet quiet;
  const h5::Handle g = open_with_attr(file_, path_, group, name);
  return h5::read_attr_string(g, name.c_str(), path_ + ": group " + group);
}

double Fixtures::attr(const std::string& group, const std::string& name) const {
  h5::Quiet quiet;
  const h5::Handle g = open_with_attr(file_, path_, group, name);
  const std::vector<double> v = h5::read_attr_doubles(g, name.c_str(), path_ + ": group " + group);
  return v[0];
}

}  // namespace ddnet::test
