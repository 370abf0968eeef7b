// Element types. float32 is what every op supports; float64 exists for the CPU gradient checks
// (and CUDA copies); bf16/fp16 are named so storage and checkpoints can carry them later.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace ddnet {

enum class DType : std::uint8_t { f32, f64, f16, bf16, i32 };

constexpr std::size_t element_size(DType t) {
  switch (t) {
    case DType::f32:
      return 4;
    case DType::f64:
      return 8;
    case DType::f16:
      return 2;
    case DType::bf16:
      return 2;
    case DType::i32:
      return 4;
  }
  return 0;
}

const char* dtype_name(DType t);

template <class T>
struct dtype_of;
template <>
struct dtype_of<float> {
  static constexpr DType value = DType::f32;
};
template <>
struct dtype_of<double> {
  static constexpr DType value = DType::f64;
};
template <>
struct dtype_of<std::int32_t> {
  static constexpr DType value = DType::i32;
};

}  // namespace ddnet
