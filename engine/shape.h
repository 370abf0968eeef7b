// Shape: up to 5 dimensions (N, C, D, H, W), stored inline.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace ddnet {

class Shape {
 public:
  static constexpr int kMaxDims = 5;

  Shape() = default;
  Shape(std::initializer_list<std::int64_t> dims);
  explicit Shape(const std::vector<std::int64_t>& dims);

  int dim() const { return ndim_; }
  std::int64_t operator[](int i) const { return d_[static_cast<std::size_t>(i)]; }
  std::int64_t& operator[](int i) { return d_[static_cast<std::size_t>(i)]; }
  std::int64_t numel() const;
  std::vector<std::int64_t> to_vector() const { return {d_.begin(), d_.begin() + ndim_}; }
  std::string str() const;  // "(1, 16, 32, 64, 64)"

  // Row-major (contiguous) strides of this shape, in elements.
  Shape contiguous_strides() const;

  bool operator==(const Shape& o) const;
  bool operator!=(const Shape& o) const { return !(*this == o); }

 private:
  std::array<std::int64_t, kMaxDims> d_{};
  int ndim_ = 0;
};

}  // namespace ddnet
