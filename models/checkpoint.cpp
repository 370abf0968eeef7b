// HDF5 checkpoints, written atomically.
#include "models/checkpoint.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "engine/checksum.h"
#include "engine/error.h"
#include "engine/file_sync.h"
#include "engine/hdf5.h"

namespace ddnet::models {

namespace {

using h5::Handle;

// Every tensor's CRC-32C (engine/checksum.h) over its values as stored, a uint32 attribute of its
// dataset; verified when the tensor is read (files without it load unverified).
constexpr const char* kChecksumAttr = "crc32c";

void write_dataset(hid_t loc, const std::string& name, const Tensor& t, const std::string& path) {
  const Tensor host = t.to(Device::cpu()).clone();
  // A NaN or Inf weight, moment or statistic is never saved: it would replace a good checkpoint.
  const auto check_finite = [&](const auto* v) {
    for (std::int64_t i = 0; i < host.numel(); ++i)
      DDNET_CHECK(std::isfinite(v[i]), path, ": refusing to save a non-finite value (", v[i],
                  ") in dataset '", name, "' (element ", i, "); the previous checkpoint is kept");
  };
  if (host.dtype() == DType::f32) check_finite(host.data<float>());
  if (host.dtype() == DType::f64) check_finite(host.data<double>());
  std::vector<hsize_t> dims;
  for (int d = 0; d < host.dim(); ++d) dims.push_back(static_cast<hsize_t>(host.size(d)));
  const Handle space(H5_CHECK_MSG(
      dims.empty() ? H5Screate(H5S_SCALAR)
                   : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
      path, ": cannot create the dataspace of ", name));
  hid_t file_type = H5T_IEEE_F32LE, mem_type = H5T_NATIVE_FLOAT;
  if (host.dtype() == DType::i32) {
    file_type = H5T_STD_I64LE;  // PyTorch's num_batches_tracked is int64
    mem_type = H5T_NATIVE_INT32;
  } else if (host.dtype() == DType::f64) {
    file_type = H5T_IEEE_F64LE;
    mem_type = H5T_NATIVE_DOUBLE;
  }
  // The values as stored (file type, little-endian), written as they are and checksummed.
  const std::string where = path + ": dataset '" + name + "'";
  const auto n = static_cast<std::size_t>(host.numel());
  const std::size_t file_size = H5Tget_size(file_type), mem_size = H5Tget_size(mem_type);
  std::vector<unsigned char> stored(n * std::max(file_size, mem_size));
  if (n > 0) std::memcpy(stored.data(), host.raw_data(), n * mem_size);
  h5::convert(mem_type, file_type, n, stored.data(), where);
  const std::uint32_t crc = crc32c(stored.data(), n * file_size);
  Handle ds(H5_CHECK_MSG(
      H5Dcreate2(loc, name.c_str(), file_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), path,
      ": cannot create dataset ", name));
  H5_CHECK_MSG(H5Dwrite(ds, file_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, stored.data()), path,
               ": cannot write dataset ", name);
  h5::write_attr_u32s(ds, kChecksumAttr, &crc, 0, where);
  ds.close(path + ": dataset " + name);
}

// Checkpoints come from elsewhere too (published weights, donors): a dataset reaching into
// another file (an external link, external storage) is refused.
void read_dataset(hid_t file, hid_t loc, const std::string& name, Tensor& into,
                  const std::string& path) {
  DDNET_CHECK(H5_CHECK_MSG(H5Lexists(loc, name.c_str(), H5P_DEFAULT), path,
                           ": cannot look up dataset '", name, "'") > 0,
              path, ": no dataset '", name, "' (expected ", into.shape().str(), ")");
  const Handle ds = h5::open_dataset(file, loc, name.c_str(), path, false);
  const std::vector<hsize_t> dims = h5::extent(ds, path + ": dataset '" + name + "'");
  const Shape file_shape(std::vector<std::int64_t>(dims.begin(), dims.end()));
  DDNET_CHECK(file_shape == into.shape(), path, ": dataset '", name, "' has shape ",
              file_shape.str(), ", the model expects ", into.shape().str());
  // The element type's size: a corrupt file can declare a 4 GB float, which libhdf5 then
  // allocates per element while converting (found by fuzzing: the checkpoint regression
  // hdf5_4gb_alloc took 4 GB and 6 s per read). Weights are stored as 4- or 8-byte numbers.
  {
    const Handle type(
        H5_CHECK_MSG(H5Dget_type(ds), path, ": cannot read the type of dataset ", name));
    const std::size_t size = H5Tget_size(type);
    DDNET_CHECK(size >= 1 && size <= 16, path, ": dataset '", name, "' has elements of ", size,
                " bytes; weights are numbers of at most 16 bytes");
  }
  Tensor host = Tensor::empty(into.shape(), Device::cpu(), into.dtype());
  const hid_t mem_type = into.dtype() == DType::i32   ? H5T_NATIVE_INT32
                         : into.dtype() == DType::f64 ? H5T_NATIVE_DOUBLE
                                                      : H5T_NATIVE_FLOAT;
  const std::string where = path + ": dataset '" + name + "'";
  if (!h5::has_attr(ds, kChecksumAttr, where)) {  // written before checksums, or elsewhere
    H5_CHECK_MSG(H5Dread(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, host.raw_data()), path,
                 ": cannot read dataset ", name);
    into.copy_(host);
    return;
  }
  // The stored bytes as they are, checked, then converted to the tensor's type.
  const std::vector<std::uint32_t> expected = h5::read_attr_u32s(ds, kChecksumAttr, where);
  DDNET_CHECK(expected.size() == 1, where, ": attribute '", kChecksumAttr, "' holds ",
              expected.size(), " values, a tensor's checksum is one");
  const Handle file_type(H5_CHECK_MSG(H5Dget_type(ds), where, ": cannot read the dtype"));
  const auto n = static_cast<std::size_t>(host.numel());
  const std::size_t file_size = H5Tget_size(file_type), mem_size = H5Tget_size(mem_type);
  DDNET_CHECK(file_size > 0, where, ": cannot read the dtype's size");
  std::vector<unsigned char> stored(n * std::max(file_size, mem_size));
  H5_CHECK_MSG(H5Dread(ds, file_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, stored.data()), path,
               ": cannot read dataset ", name);
  const std::uint32_t crc = crc32c(stored.data(), n * file_size);
  DDNET_CHECK(crc == expected[0], where, ": the values fail their checksum (", kChecksumAttr,
              " stored ", expected[0], ", computed ", crc,
              "): the file is corrupt; use another checkpoint");
  h5::convert(file_type, mem_type, n, stored.data(), where);
  if (n > 0) std::memcpy(host.raw_data(), stored.data(), n * mem_size);
  into.copy_(host);
}

// An integer attribute, or `fallback` when the file has none (older files, bare weights).
std::int64_t read_attr_i64(hid_t loc, const char* name, std::int64_t fallback,
                           const std::string& where) {
  return h5::has_attr(loc, name, where) ? h5::read_attr_i64(loc, name, where) : fallback;
}

Handle open_checkpoint(const std::string& path) {
  return Handle(H5_CHECK_MSG(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT),
                             "cannot open checkpoint ", path, " (missing, or not an HDF5 file)"));
}

}  // namespace

void save_checkpoint(const std::string& path, nn::Module& model, const nn::Adam* opt,
                     const TrainingState& st) {
  h5::Quiet quiet;
  const std::string tmp = path + ".tmp";
  hid_t f = -1;
  try {
    f = h5::create_file(tmp, "checkpoint " + path);
    for (const auto& n : model.state_dict()) write_dataset(f, n.name, *n.tensor, tmp);
    if (opt) {
      const std::string where = tmp + ": group optimizer";
      Handle g(H5_CHECK_MSG(H5Gcreate2(f, "optimizer", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), tmp,
                            ": cannot create group optimizer"));
      write_dataset(g, "exp_avg", const_cast<nn::Adam*>(opt)->exp_avg(), tmp);
      write_dataset(g, "exp_avg_sq", const_cast<nn::Adam*>(opt)->exp_avg_sq(), tmp);
      h5::write_attr_i64(g, "step", opt->steps(), where);
      g.close(where);
    }
    h5::write_attr_i64(f, "format_version", kCheckpointFormat, tmp);
    h5::write_attr_i64(f, "epoch", st.epoch, tmp);
    h5::write_attr_i64(f, "step", st.step, tmp);
    h5::write_attr_i64(f, "steps_per_epoch", st.steps_per_epoch, tmp);
    h5::write_attr_i64(f, "rng_seed", static_cast<std::int64_t>(st.rng_seed), tmp);
    h5::write_attr_i64(f, "rng_offset", static_cast<std::int64_t>(st.rng_offset), tmp);
    h5::write_attr_string(f, "config", st.config_json, tmp);
    H5_CHECK_MSG(H5Fflush(f, H5F_SCOPE_GLOBAL), tmp, ": flush failed");
    h5::close_checked(f, tmp);
  } catch (...) {
    // Every other handle closed as the exception left its scope; the half-written file goes.
    h5::discard_file(f, tmp);
    throw;
  }
  // On disk before it replaces the last good one, then the rename itself.
  replace_file(tmp, path, "checkpoint " + path);
}

TrainingState load_checkpoint(const std::string& path, nn::Module& model, nn::Adam* opt) {
  h5::Quiet quiet;
  const Handle f = open_checkpoint(path);
  const std::int64_t version = read_attr_i64(f, "format_version", kCheckpointFormat, path);
  DDNET_CHECK(version <= kCheckpointFormat, path, ": checkpoint format ", version,
              " is newer than this build's ", kCheckpointFormat);
  for (const auto& n : model.state_dict()) read_dataset(f, f, n.name, *n.tensor, path);
  if (opt && H5_CHECK_MSG(H5Lexists(f, "optimizer", H5P_DEFAULT), path,
                          ": cannot look up group optimizer") > 0) {
    h5::check_link(f, "optimizer", path, false);
    const Handle g(
        H5_CHECK_MSG(H5Gopen2(f, "optimizer", H5P_DEFAULT), path, ": cannot open group optimizer"));
    h5::check_same_file(f, g, path + ": group optimizer", false);
    read_dataset(f, g, "exp_avg", opt->exp_avg(), path);
    read_dataset(f, g, "exp_avg_sq", opt->exp_avg_sq(), path);
    opt->set_steps(read_attr_i64(g, "step", 0, path + ": group optimizer"));
  }
  TrainingState st;
  st.epoch = read_attr_i64(f, "epoch", 0, path);
  st.step = read_attr_i64(f, "step", 0, path);
  st.steps_per_epoch = read_attr_i64(f, "steps_per_epoch", 0, path);
  st.rng_seed = static_cast<std::uint64_t>(read_attr_i64(f, "rng_seed", 0, path));
  st.rng_offset = static_cast<std::uint64_t>(read_attr_i64(f, "rng_offset", 0, path));
  if (h5::has_attr(f, "config", path)) st.config_json = h5::read_attr_string(f, "config", path);
  return st;
}

std::string read_checkpoint_config(const std::string& path) {
  h5::Quiet quiet;
  const Handle f = open_checkpoint(path);
  return h5::has_attr(f, "config", path) ? h5::read_attr_string(f, "config", path) : std::string();
}

int read_checkpoint_rank(const std::string& path, const std::string& name) {
  h5::Quiet quiet;
  const Handle f = open_checkpoint(path);
  // No such dataset is an answer, not an error: a missing link (HDF5 1.10 fails rather than
  // answers false when a path's intermediate group is missing) or a group of that name.
  if (H5Lexists(f, name.c_str(), H5P_DEFAULT) <= 0) return -1;
  h5::check_link(f, name.c_str(), path, false);
  const Handle ds(H5Dopen2(f, name.c_str(), H5P_DEFAULT));
  if (!ds.ok()) return -1;
  return static_cast<int>(h5::extent(ds, path + ": dataset '" + name + "'").size());
}

}  // namespace ddnet::models
