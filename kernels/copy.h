// Strided copy between two layouts of the same shape on one device (up to 5-D): what makes a
// view contiguous, and what writes a tensor into a channel slice of a bigger buffer.
#pragma once

#include <cstdint>

namespace ddnet::kernels {

struct StridedCopy {
  int ndim = 0;
  std::int64_t size[5] = {};
  std::int64_t src_stride[5] = {};  // elements
  std::int64_t dst_stride[5] = {};
  std::int64_t numel() const {
    std::int64_t n = 1;
    for (int d = 0; d < ndim; ++d) n *= size[d];
    return n;
  }
};

namespace cpu {
template <class T>
void strided_copy(const T* src, T* dst, const StridedCopy& layout);
}
namespace cuda {
template <class T>
void strided_copy(const T* src, T* dst, const StridedCopy& layout, void* stream);
}

}  // namespace ddnet::kernels
