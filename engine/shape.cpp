// Shape helpers and dtype names.
#include "engine/shape.h"

#include <sstream>

#include "engine/dtype.h"
#include "engine/error.h"

namespace ddnet {

Shape::Shape(std::initializer_list<std::int64_t> dims) : Shape(std::vector<std::int64_t>(dims)) {}

Shape::Shape(const std::vector<std::int64_t>& dims) {
  DDNET_CHECK(dims.size() <= static_cast<std::size_t>(kMaxDims), "a shape has at most ", kMaxDims,
              " dimensions (N, C, D, H, W); got ", dims.size());
  ndim_ = static_cast<int>(dims.size());
  for (std::size_t i = 0; i < dims.size(); ++i) d_[i] = dims[i];
}

std::int64_t Shape::numel() const {
  std::int64_t n = 1;
  for (int i = 0; i < ndim_; ++i) n *= d_[static_cast<std::size_t>(i)];
  return n;
}

std::string Shape::str() const {
  std::ostringstream os;
  os << "(";
  for (int i = 0; i < ndim_; ++i) os << (i ? ", " : "") << d_[static_cast<std::size_t>(i)];
  os << ")";
  return os.str();
}

Shape Shape::contiguous_strides() const {
  Shape s = *this;
  std::int64_t acc = 1;
  for (int i = ndim_ - 1; i >= 0; --i) {
    s.d_[static_cast<std::size_t>(i)] = acc;
    acc *= d_[static_cast<std::size_t>(i)];
  }
  return s;
}

bool Shape::operator==(const Shape& o) const {
  if (ndim_ != o.ndim_) return false;
  for (int i = 0; i < ndim_; ++i)
    if (d_[static_cast<std::size_t>(i)] != o.d_[static_cast<std::size_t>(i)]) return false;
  return true;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32:
      return "float32";
    case DType::f64:
      return "float64";
    case DType::f16:
      return "float16";
    case DType::bf16:
      return "bfloat16";
    case DType::i32:
      return "int32";
  }
  return "unknown";
}

}  // namespace ddnet
