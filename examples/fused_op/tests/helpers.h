// What the example's tests share: random tensors of either element type, bit-for-bit and
// tolerance comparisons, the cases (2D and 3D, one and two batch items, the three modes), and
// a concatenation buffer whose first half is the destination, as in a DDnet decoder stage.
#pragma once

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "engine/rng.h"
#include "engine/tensor.h"
#include "fused_op/upsample_into_autograd.h"

namespace fused_op::test {

using ddnet::Device;
using ddnet::DType;
using ddnet::Shape;
using ddnet::Tensor;
using fused_op::UpsampleMode;

struct Mode {
  UpsampleMode mode;
  bool align_corners;
  const char* name;
};
inline const std::vector<Mode>& modes() {
  static const std::vector<Mode> m = {{UpsampleMode::nearest, false, "nearest"},
                                      {UpsampleMode::linear, false, "linear"},
                                      {UpsampleMode::linear, true, "linear, align_corners"}};
  return m;
}

// Inputs with sizes that are not powers of two and a size-1 axis (one input row: the tables'
// edge), in 2D and 3D, with one and two batch items.
inline std::vector<Shape> shapes() {
  std::vector<Shape> s;
  for (std::int64_t n : {1, 2}) {
    s.push_back(Shape{n, 3, 5, 7});
    s.push_back(Shape{n, 2, 1, 6});
    s.push_back(Shape{n, 3, 3, 4, 5});
    s.push_back(Shape{n, 2, 2, 1, 3});
  }
  return s;
}

inline Shape doubled(const Shape& s) {
  Shape out = s;
  for (int i = 2; i < s.dim(); ++i) out[i] *= 2;
  return out;
}

// Uniform in [-1, 1), as float32 or float64 (the same values), on `device`.
inline Tensor random(const Shape& s, DType dtype, std::uint64_t seed,
                     Device device = Device::cpu()) {
  Tensor t = ddnet::Generator(seed).uniform(s, Device::cpu(), -1.f, 1.f);
  if (dtype == DType::f64) {
    const std::vector<float> f = t.to_vector<float>();
    t = Tensor::from_vector(std::vector<double>(f.begin(), f.end()), s);
  }
  return t.to(device);
}

// A decoder-style buffer (N, 2C, ...) filled with a sentinel; its first C channels are the
// destination (a strided view when N > 1), the second half stands for the skip.
struct ConcatBuffer {
  Tensor buffer, first_half, second_half;
};
inline ConcatBuffer concat_buffer(const Shape& out, DType dtype, Device device) {
  Shape s = out;
  s[1] *= 2;
  ConcatBuffer b;
  b.buffer = Tensor::full(s, 1234.5, device, dtype);
  b.first_half = b.buffer.narrow(1, 0, out[1]);
  b.second_half = b.buffer.narrow(1, out[1], out[1]);
  return b;
}

// Same shape, element type and bytes (read back to the host).
inline bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  const Tensor ca = a.to(Device::cpu()).clone(), cb = b.to(Device::cpu()).clone();
  return std::memcmp(ca.raw_data(), cb.raw_data(), ca.nbytes()) == 0;
}

inline std::vector<double> values(const Tensor& t) {
  const Tensor c = t.to(Device::cpu()).clone();  // clone(): contiguous
  if (c.dtype() == DType::f64) return c.to_vector<double>();
  const std::vector<float> f = c.to_vector<float>();
  return {f.begin(), f.end()};
}

// |a - b| <= atol + rtol * |b| everywhere; the worst element in the message otherwise.
inline void check_close(const Tensor& a, const Tensor& b, double rtol, double atol,
                        const std::string& what) {
  INFO(what);
  REQUIRE(a.shape() == b.shape());
  const std::vector<double> va = values(a), vb = values(b);
  double worst = 0;
  std::size_t at = 0;
  for (std::size_t i = 0; i < va.size(); ++i) {
    const double excess = std::abs(va[i] - vb[i]) - (atol + rtol * std::abs(vb[i]));
    if (!(excess <= worst)) {  // NaN counts as a failure
      worst = std::isnan(excess) ? INFINITY : excess;
      at = i;
    }
  }
  INFO("worst element " << at << ": " << (va.empty() ? 0 : va[at]) << " vs "
                        << (vb.empty() ? 0 : vb[at]));
  REQUIRE(worst == 0);
}

inline std::string describe(const Shape& s, const Mode& m, DType dtype) {
  return s.str() + ", " + m.name + (dtype == DType::f64 ? ", float64" : ", float32");
}

}  // namespace fused_op::test
