// HDF5 checkpoints, written atomically.
#include "models/checkpoint.h"

#include <hdf5.h>

#include <cstdio>
#include <vector>

#include "engine/error.h"

namespace ddnet::models {

namespace {

struct File {
  hid_t id = -1;
  ~File() {
    if (id >= 0) H5Fclose(id);
  }
};

void write_dataset(hid_t loc, const std::string& name, const Tensor& t, const std::string& path) {
  const Tensor host = t.to(Device::cpu()).clone();
  std::vector<hsize_t> dims;
  for (int d = 0; d < host.dim(); ++d) dims.push_back(static_cast<hsize_t>(host.size(d)));
  const hid_t space = dims.empty()
                          ? H5Screate(H5S_SCALAR)
                          : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  DDNET_CHECK(space >= 0, path, ": cannot create the dataspace of ", name);
  hid_t file_type = H5T_IEEE_F32LE, mem_type = H5T_NATIVE_FLOAT;
  if (host.dtype() == DType::i32) {
    file_type = H5T_STD_I64LE;  // PyTorch's num_batches_tracked is int64
    mem_type = H5T_NATIVE_INT32;
  } else if (host.dtype() == DType::f64) {
    file_type = H5T_IEEE_F64LE;
    mem_type = H5T_NATIVE_DOUBLE;
  }
  const hid_t ds =
      H5Dcreate2(loc, name.c_str(), file_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Sclose(space);
  DDNET_CHECK(ds >= 0, path, ": cannot create dataset ", name);
  const herr_t rc = H5Dwrite(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, host.raw_data());
  H5Dclose(ds);
  DDNET_CHECK(rc >= 0, path, ": cannot write dataset ", name);
}

void read_dataset(hid_t loc, const std::string& name, Tensor& into, const std::string& path) {
  DDNET_CHECK(H5Lexists(loc, name.c_str(), H5P_DEFAULT) > 0, path, ": no dataset '", name,
              "' (expected ", into.shape().str(), ")");
  const hid_t ds = H5Dopen2(loc, name.c_str(), H5P_DEFAULT);
  DDNET_CHECK(ds >= 0, path, ": cannot open dataset ", name);
  const hid_t space = H5Dget_space(ds);
  const int rank = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> dims(static_cast<std::size_t>(std::max(rank, 0)));
  if (rank > 0) H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  H5Sclose(space);
  const Shape file_shape(std::vector<std::int64_t>(dims.begin(), dims.end()));
  if (file_shape != into.shape()) {
    H5Dclose(ds);
    DDNET_FAIL(path, ": dataset '", name, "' has shape ", file_shape.str(), ", the model expects ",
               into.shape().str());
  }
  Tensor host = Tensor::empty(into.shape(), Device::cpu(), into.dtype());
  const hid_t mem_type = into.dtype() == DType::i32   ? H5T_NATIVE_INT32
                         : into.dtype() == DType::f64 ? H5T_NATIVE_DOUBLE
                                                      : H5T_NATIVE_FLOAT;
  const herr_t rc = H5Dread(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, host.raw_data());
  H5Dclose(ds);
  DDNET_CHECK(rc >= 0, path, ": cannot read dataset ", name);
  into.copy_(host);
}

void write_attr_i64(hid_t loc, const char* name, std::int64_t v) {
  const hid_t space = H5Screate(H5S_SCALAR);
  const hid_t a = H5Acreate2(loc, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(a, H5T_NATIVE_INT64, &v);
  H5Aclose(a);
  H5Sclose(space);
}

std::int64_t read_attr_i64(hid_t loc, const char* name, std::int64_t fallback) {
  if (H5Aexists(loc, name) <= 0) return fallback;
  std::int64_t v = fallback;
  const hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
  H5Aread(a, H5T_NATIVE_INT64, &v);
  H5Aclose(a);
  return v;
}

void write_attr_string(hid_t loc, const char* name, const std::string& s) {
  const hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, std::max<std::size_t>(1, s.size()));
  const hid_t space = H5Screate(H5S_SCALAR);
  const hid_t a = H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  const std::string padded = s.empty() ? std::string(1, '\0') : s;
  H5Awrite(a, type, padded.data());
  H5Aclose(a);
  H5Sclose(space);
  H5Tclose(type);
}

std::string read_attr_string(hid_t loc, const char* name) {
  if (H5Aexists(loc, name) <= 0) return {};
  const hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
  const hid_t type = H5Aget_type(a);
  const std::size_t n = H5Tget_size(type);
  std::string s(n + 1, '\0');  // room for a terminator: null-padded strings use all n bytes
  const hid_t mem = H5Tcopy(H5T_C_S1);
  H5Tset_size(mem, n + 1);
  H5Aread(a, mem, s.data());
  H5Tclose(mem);
  H5Tclose(type);
  H5Aclose(a);
  while (!s.empty() && s.back() == '\0') s.pop_back();
  return s;
}

}  // namespace

void save_checkpoint(const std::string& path, nn::Module& model, const nn::Adam* opt,
                     const TrainingState& st) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  const std::string tmp = path + ".tmp";
  {
    File f;
    f.id = H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    DDNET_CHECK(f.id >= 0, "cannot create checkpoint file ", tmp);
    for (const auto& n : model.state_dict()) write_dataset(f.id, n.name, *n.tensor, tmp);
    if (opt) {
      const hid_t g = H5Gcreate2(f.id, "optimizer", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
      DDNET_CHECK(g >= 0, tmp, ": cannot create group optimizer");
      write_dataset(g, "exp_avg", const_cast<nn::Adam*>(opt)->exp_avg(), tmp);
      write_dataset(g, "exp_avg_sq", const_cast<nn::Adam*>(opt)->exp_avg_sq(), tmp);
      write_attr_i64(g, "step", opt->steps());
      H5Gclose(g);
    }
    write_attr_i64(f.id, "format_version", kCheckpointFormat);
    write_attr_i64(f.id, "epoch", st.epoch);
    write_attr_i64(f.id, "step", st.step);
    write_attr_i64(f.id, "rng_seed", static_cast<std::int64_t>(st.rng_seed));
    write_attr_i64(f.id, "rng_offset", static_cast<std::int64_t>(st.rng_offset));
    write_attr_string(f.id, "config", st.config_json);
    DDNET_CHECK(H5Fflush(f.id, H5F_SCOPE_GLOBAL) >= 0, tmp, ": flush failed");
  }
  DDNET_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0, "cannot move ", tmp, " over ", path);
}

TrainingState load_checkpoint(const std::string& path, nn::Module& model, nn::Adam* opt) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  File f;
  f.id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  DDNET_CHECK(f.id >= 0, "cannot open checkpoint ", path, " (missing, or not an HDF5 file)");
  const std::int64_t version = read_attr_i64(f.id, "format_version", kCheckpointFormat);
  DDNET_CHECK(version <= kCheckpointFormat, path, ": checkpoint format ", version,
              " is newer than this build's ", kCheckpointFormat);
  for (const auto& n : model.state_dict()) read_dataset(f.id, n.name, *n.tensor, path);
  if (opt && H5Lexists(f.id, "optimizer", H5P_DEFAULT) > 0) {
    const hid_t g = H5Gopen2(f.id, "optimizer", H5P_DEFAULT);
    read_dataset(g, "exp_avg", opt->exp_avg(), path);
    read_dataset(g, "exp_avg_sq", opt->exp_avg_sq(), path);
    opt->set_steps(read_attr_i64(g, "step", 0));
    H5Gclose(g);
  }
  TrainingState st;
  st.epoch = read_attr_i64(f.id, "epoch", 0);
  st.step = read_attr_i64(f.id, "step", 0);
  st.rng_seed = static_cast<std::uint64_t>(read_attr_i64(f.id, "rng_seed", 0));
  st.rng_offset = static_cast<std::uint64_t>(read_attr_i64(f.id, "rng_offset", 0));
  st.config_json = read_attr_string(f.id, "config");
  return st;
}

std::string read_checkpoint_config(const std::string& path) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  File f;
  f.id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  DDNET_CHECK(f.id >= 0, "cannot open checkpoint ", path, " (missing, or not an HDF5 file)");
  return read_attr_string(f.id, "config");
}

int read_checkpoint_rank(const std::string& path, const std::string& name) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  File f;
  f.id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  DDNET_CHECK(f.id >= 0, "cannot open checkpoint ", path, " (missing, or not an HDF5 file)");
  const hid_t ds = H5Dopen2(f.id, name.c_str(), H5P_DEFAULT);
  if (ds < 0) return -1;
  const hid_t space = H5Dget_space(ds);
  const int rank = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
  if (space >= 0) H5Sclose(space);
  H5Dclose(ds);
  return rank;
}

}  // namespace ddnet::models
