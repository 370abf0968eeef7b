// CPU concat/split: a copy per piece of each (sample, part) block, parallel over the pieces.
// When the call writes more than the last-level cache, the copies use non-temporal stores
// (kernels/cpu_stream.h): glibc's memcpy only does so above its own threshold (192 MiB per copy
// on the EPYC machines here), far above a piece, and a plain store first reads the line.
#include <algorithm>
#include <cstring>
#include <vector>

#include "engine/parallel.h"
#include "kernels/concat.h"
#include "kernels/cpu_features.h"
#include "kernels/cpu_stream.h"

namespace ddnet::kernels::cpu {

namespace {
// Each (sample, part) block is cut into pieces of at most 4 MiB, so that the threads get equal
// shares (whole blocks: 5 parts on 2 threads are 3 against 2).
constexpr std::size_t kPieceBytes = 4u << 20;

// Calls f(part pointer, offset in the concatenation, bytes, stream) for every piece; `stream`
// says whether the whole call writes more than the last-level cache.
template <class T, class F>
void blocks(const ConcatArgs<T>& a, F&& f) {
  const std::int64_t total = a.n * a.count;
  std::vector<std::int64_t> first(static_cast<std::size_t>(total) + 1, 0);  // pieces before b
  std::size_t all_bytes = 0;
  for (std::int64_t b = 0; b < total; ++b) {
    const auto& p = a.parts[b % a.count];
    const std::size_t bytes = static_cast<std::size_t>(p.channels * a.plane) * sizeof(T);
    all_bytes += bytes;
    first[static_cast<std::size_t>(b) + 1] =
        first[static_cast<std::size_t>(b)] + static_cast<std::int64_t>(std::max<std::size_t>(
                                                 1, (bytes + kPieceBytes - 1) / kPieceBytes));
  }
  const bool stream = cpu_stream_stores_for(all_bytes);
  const std::int64_t pieces = first[static_cast<std::size_t>(total)];
  parallel_for(pieces, 1, [&](std::int64_t q0, std::int64_t q1) {
    for (std::int64_t q = q0; q < q1; ++q) {
      const auto b = static_cast<std::int64_t>(std::upper_bound(first.begin(), first.end(), q) -
                                               first.begin() - 1);
      const auto& p = a.parts[b % a.count];
      const std::int64_t s = b / a.count;
      const std::int64_t elems = p.channels * a.plane;
      const std::int64_t per = static_cast<std::int64_t>(kPieceBytes / sizeof(T));
      const std::int64_t off = (q - first[static_cast<std::size_t>(b)]) * per;
      const std::int64_t n = std::min(per, elems - off);
      f(p.data + s * p.batch_stride + off, s * a.out_batch_stride + p.channel_start * a.plane + off,
        static_cast<std::size_t>(n) * sizeof(T), stream);
    }
    if (stream) stream_fence();
  });
}

void copy_piece(void* dst, const void* src, std::size_t bytes, bool stream) {
  if (stream)
    copy_streaming(dst, src, bytes);
  else
    std::memcpy(dst, src, bytes);
}
}  // namespace

template <class T>
void concat(const ConcatArgs<T>& a, T* out) {
  blocks(a, [&](T* part, std::int64_t out_off, std::size_t bytes, bool stream) {
    copy_piece(out + out_off, part, bytes, stream);
  });
}

template <class T>
void split(const ConcatArgs<T>& a, const T* grad) {
  blocks(a, [&](T* part, std::int64_t out_off, std::size_t bytes, bool stream) {
    copy_piece(part, grad + out_off, bytes, stream);
  });
}

template void concat<float>(const ConcatArgs<float>&, float*);
template void concat<double>(const ConcatArgs<double>&, double*);
template void split<float>(const ConcatArgs<float>&, const float*);
template void split<double>(const ConcatArgs<double>&, const double*);

}  // namespace ddnet::kernels::cpu
