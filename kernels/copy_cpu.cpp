// CPU strided copy: rows of the innermost dimension, parallel over rows.
#include <cstring>

#include "engine/parallel.h"
#include "kernels/copy.h"

namespace ddnet::kernels::cpu {

template <class T>
void strided_copy(const T* src, T* dst, const StridedCopy& L) {
  if (L.ndim == 0) {
    dst[0] = src[0];
    return;
  }
  const int last = L.ndim - 1;
  const std::int64_t inner = L.size[last];
  const std::int64_t rows = inner == 0 ? 0 : L.numel() / inner;
  const bool inner_contig = L.src_stride[last] == 1 && L.dst_stride[last] == 1;
  parallel_for(rows, std::max<std::int64_t>(1, (1 << 15) / std::max<std::int64_t>(inner, 1)),
               [&](std::int64_t rb, std::int64_t re) {
                 for (std::int64_t r = rb; r < re; ++r) {
                   std::int64_t rem = r, so = 0, dof = 0;
                   for (int d = last - 1; d >= 0; --d) {
                     const std::int64_t idx = rem % L.size[d];
                     rem /= L.size[d];
                     so += idx * L.src_stride[d];
                     dof += idx * L.dst_stride[d];
                   }
                   if (inner_contig) {
                     std::memcpy(dst + dof, src + so, static_cast<std::size_t>(inner) * sizeof(T));
                   } else {
                     for (std::int64_t i = 0; i < inner; ++i)
                       dst[dof + i * L.dst_stride[last]] = src[so + i * L.src_stride[last]];
                   }
                 }
               });
}

template void strided_copy<float>(const float*, float*, const StridedCopy&);
template void strided_copy<double>(const double*, double*, const StridedCopy&);

}  // namespace ddnet::kernels::cpu
