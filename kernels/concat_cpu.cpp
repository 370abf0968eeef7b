// CPU concat/split: one memcpy per (sample, part) block, parallel over blocks.
#include <cstring>

#include "engine/parallel.h"
#include "kernels/concat.h"

namespace ddnet::kernels::cpu {

namespace {
template <class T, class F>
void blocks(const ConcatArgs<T>& a, F&& f) {
  const std::int64_t total = a.n * a.count;
  parallel_for(total, 1, [&](std::int64_t b0, std::int64_t b1) {
    for (std::int64_t b = b0; b < b1; ++b) {
      const auto& p = a.parts[b % a.count];
      const std::int64_t s = b / a.count;
      f(p.data + s * p.batch_stride, s * a.out_batch_stride + p.channel_start * a.plane,
        static_cast<std::size_t>(p.channels * a.plane) * sizeof(T));
    }
  });
}
}  // namespace

template <class T>
void concat(const ConcatArgs<T>& a, T* out) {
  blocks(a, [&](T* part, std::int64_t out_off, std::size_t bytes) {
    std::memcpy(out + out_off, part, bytes);
  });
}

template <class T>
void split(const ConcatArgs<T>& a, const T* grad) {
  blocks(a, [&](T* part, std::int64_t out_off, std::size_t bytes) {
    std::memcpy(part, grad + out_off, bytes);
  });
}

template void concat<float>(const ConcatArgs<float>&, float*);
template void concat<double>(const ConcatArgs<double>&, double*);
template void split<float>(const ConcatArgs<float>&, const float*);
template void split<double>(const ConcatArgs<double>&, const double*);

}  // namespace ddnet::kernels::cpu
