// Reading the PyTorch fixtures (tests/fixtures/*.h5, written by tests/fixtures/make_fixtures.py):
// one HDF5 group per case, float32 datasets (inputs, weights, outputs, gradients) and numeric
// attributes (the case's configuration).
#pragma once

#include <string>
#include <vector>

#include "engine/tensor.h"

namespace ddnet::test {

class Fixtures {
 public:
  // Opens tests/fixtures/<file> (or `file` itself when it is an absolute path); throws naming
  // the file and how to regenerate it.
  explicit Fixtures(const std::string& file);
  ~Fixtures();
  Fixtures(const Fixtures&) = delete;
  Fixtures& operator=(const Fixtures&) = delete;

  std::vector<std::string> cases() const;  // top-level group names, sorted
  Tensor tensor(const std::string& group, const std::string& name) const;  // float32, CPU
  bool has(const std::string& group, const std::string& name) const;
  double attr(const std::string& group, const std::string& name) const;
  std::string attr_string(const std::string& group, const std::string& name) const;
  // A top-level dataset by its full name (e.g. "dnet1.conv1_0.weight"): its shape, and its
  // values as float32 (numeric datasets of any type are converted).
  Shape dataset_shape(const std::string& name) const;
  Tensor dataset(const std::string& name) const;

 private:
  Tensor read_float(const std::string& name, const Shape& shape) const;  // converted to float32

  std::string path_;
  long long file_ = -1;  // hid_t
};

}  // namespace ddnet::test
