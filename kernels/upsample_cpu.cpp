// Upsample tables (PyTorch's source-index rules) and the CPU twins of the forward and backward.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "engine/error.h"
#include "engine/parallel.h"
#include "kernels/cpu_features.h"
#include "kernels/cpu_stream.h"
#include "kernels/upsample.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace ddnet::kernels {

AxisTable make_axis_table(std::int64_t in, std::int64_t factor, UpsampleMode mode,
                          bool align_corners) {
  DDNET_CHECK(in >= 1 && factor >= 1, "upsample: size ", in, " by factor ", factor);
  AxisTable t;
  t.in = in;
  t.out = in * factor;
  const auto n = static_cast<std::size_t>(t.out);
  t.i0.resize(n);
  t.i1.resize(n);
  t.w0.resize(n);
  t.w1.resize(n);
  for (std::int64_t o = 0; o < t.out; ++o) {
    const auto k = static_cast<std::size_t>(o);
    if (mode == UpsampleMode::nearest) {
      t.i0[k] = t.i1[k] = static_cast<std::int32_t>(o / factor);
      t.w0[k] = 1;
      t.w1[k] = 0;
      continue;
    }
    double src;
    if (align_corners) {
      src = t.out > 1 ? static_cast<double>(o) * static_cast<double>(in - 1) /
                            static_cast<double>(t.out - 1)
                      : 0.0;
    } else {
      src = (static_cast<double>(o) + 0.5) / static_cast<double>(factor) - 0.5;
      if (src < 0) src = 0;
    }
    const auto i0 = static_cast<std::int64_t>(src);  // src >= 0: truncation is floor
    const std::int64_t i1 = i0 + (i0 < in - 1 ? 1 : 0);
    const double l1 = src - static_cast<double>(i0);
    t.i0[k] = static_cast<std::int32_t>(i0);
    t.i1[k] = static_cast<std::int32_t>(i1);
    t.w0[k] = 1 - l1;
    t.w1[k] = l1;
  }
  // Transpose: for each input, the (output, weight) pairs that read it. i0 == i1 merges.
  std::vector<std::vector<std::pair<std::int32_t, double>>> rev(static_cast<std::size_t>(in));
  for (std::int64_t o = 0; o < t.out; ++o) {
    const auto k = static_cast<std::size_t>(o);
    if (t.i0[k] == t.i1[k]) {
      rev[static_cast<std::size_t>(t.i0[k])].push_back(
          {static_cast<std::int32_t>(o), t.w0[k] + t.w1[k]});
    } else {
      rev[static_cast<std::size_t>(t.i0[k])].push_back({static_cast<std::int32_t>(o), t.w0[k]});
      rev[static_cast<std::size_t>(t.i1[k])].push_back({static_cast<std::int32_t>(o), t.w1[k]});
    }
  }
  t.start.push_back(0);
  for (const auto& r : rev) {
    for (const auto& [o, w] : r) {
      t.src.push_back(o);
      t.weight.push_back(w);
    }
    t.start.push_back(static_cast<std::int32_t>(t.src.size()));
  }
  return t;
}

namespace cpu {

// Both passes are separable and run in blocks of rows that stay in the L1 cache.
//
// Forward: the input rows are upsampled along W (the W table on a quarter of the outputs' count
// at factor 2) when an output row first needs them, into a two-slice cache per task (consecutive
// output slices share input slices); on AVX2 by windows: 8 outputs read within 8 inputs, one load
// and two permutes. Each output row is then up to four contiguous multiply-adds of those rows
// (terms of weight zero skipped: nearest mode is a copy). Every output is written once, the input
// read about once; a call writing more than the last-level cache writes with non-temporal stores.
//
// Backward, for each input slice and each band of 32 input rows: the output-gradient rows the
// band reads are combined along D as its input rows first need them (the rows ahead prefetched),
// then each input row along H, then each block of 8 rows is reduced along W by the transposed W
// table. dx is, per element,
//   sum_w w_k * (sum_h w_c * (sum_d w_a * dy)),
// each sum in table order starting from its first term (none: 0), terms of weight zero skipped,
// the W sum then + 0; whatever the thread count. examples/fused_op's CUDA backward follows it.
//
// Along W the backward's table gathers inside a row. At factor 2 (DDnet's), input j reads the
// outputs 2j - 1 .. 2j + 2 (2j, 2j + 1 in nearest mode) everywhere but at the edges: the AVX2
// float path reads each term as the even or odd lanes of 16 consecutive outputs (Stride2Table).
// Other tables gather, which does not vectorise along the row; there the AVX2 float path
// transposes a block of 8 rows (8x8 shuffles), so the 8 lanes are 8 rows sharing one table
// entry, and transposes the result back. The baseline and AVX2 twins do the
// same multiplies and adds in the same order (no FMA) and give the same bits; the AVX2 path pads
// every output to one term count with +0 terms, and every path ends the backward's W sum with
// + 0 (a -0 becomes +0).

namespace {

// A table along W in CSR form: output j is the sum over k in [start[j], start[j+1]) of
// weight[k] * in[src[k]], starting from the first term (no terms: 0).
template <class T>
struct RowTable {
  std::int64_t in, out;
  const std::int32_t* start;
  const std::int32_t* src;
  const T* weight;
  // Optional, for the AVX2 path: every output's terms padded to pad_k (no branch per output),
  // pad_off[j * pad_k + q] = 8 * src (a padding term reads column `in`, all zeros), pad_w its
  // weight. The padding adds +0, so every path of a padded table ends each output with + 0:
  // the same sum, a -0 made +0.
  int pad_k = 0;
  const std::int32_t* pad_off = nullptr;
  const T* pad_w = nullptr;
  bool pairs = false;  // every output has exactly two terms, at 2j and 2j + 1 (the forward's)
};

// The padded form of a CSR table (RowTable::pad_k).
template <class T>
struct PaddedTable {
  int k = 0;
  std::vector<std::int32_t> off;
  std::vector<T> w;
  explicit PaddedTable(const RowTable<T>& t) {
    for (std::int64_t j = 0; j < t.out; ++j) k = std::max(k, t.start[j + 1] - t.start[j]);
    const auto n = static_cast<std::size_t>(t.out) * static_cast<std::size_t>(k);
    off.assign(n, static_cast<std::int32_t>(8 * t.in));
    w.assign(n, T(0));
    for (std::int64_t j = 0; j < t.out; ++j)
      for (std::int32_t q = t.start[j]; q < t.start[j + 1]; ++q) {
        const auto at = static_cast<std::size_t>(j * k + (q - t.start[j]));
        off[at] = 8 * t.src[q];
        w[at] = t.weight[q];
      }
  }
};

template <class T>
inline T apply_one(const T* row, const RowTable<T>& t, std::int64_t j) {
  const std::int32_t k0 = t.start[j], k1 = t.start[j + 1];
  if (k0 == k1) return T(0);
  T acc = t.weight[k0] * row[t.src[k0]];
  for (std::int32_t k = k0 + 1; k < k1; ++k) acc = acc + t.weight[k] * row[t.src[k]];
  // A padded table (the backward's) ends every output with + 0, as its AVX2 path does: a -0
  // becomes +0 on every path alike.
  if (t.pad_k > 0) acc = acc + T(0);
  return acc;
}

template <class T>
inline __attribute__((always_inline)) void apply_rows_body(const T* in, std::int64_t in_stride,
                                                           T* out, std::int64_t out_stride,
                                                           std::int64_t rows,
                                                           const RowTable<T>& t) {
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t j = 0; j < t.out; ++j)
      out[r * out_stride + j] = apply_one(in + r * in_stride, t, j);
}

// y[i] = sum over the n <= 4 terms of k[t] * r[t][i], left to right.
template <class T>
inline __attribute__((always_inline)) void mix_rows_body(T* __restrict y, const T* const* r,
                                                         const T* k, int n, std::int64_t len) {
  const T* __restrict r0 = r[0];
  const T* __restrict r1 = r[1];
  const T* __restrict r2 = r[2];
  const T* __restrict r3 = r[3];
  switch (n) {
    case 0:
      for (std::int64_t i = 0; i < len; ++i) y[i] = T(0);
      break;
    case 1:
      for (std::int64_t i = 0; i < len; ++i) y[i] = k[0] * r0[i];
      break;
    case 2:
      for (std::int64_t i = 0; i < len; ++i) y[i] = k[0] * r0[i] + k[1] * r1[i];
      break;
    case 3:
      for (std::int64_t i = 0; i < len; ++i) y[i] = k[0] * r0[i] + k[1] * r1[i] + k[2] * r2[i];
      break;
    default:
      for (std::int64_t i = 0; i < len; ++i)
        y[i] = k[0] * r0[i] + k[1] * r1[i] + k[2] * r2[i] + k[3] * r3[i];
  }
}

// y[i] = y[i] + k[0] * r[0][i] + ... (n <= 4 terms, left to right): the chain past four terms.
template <class T>
inline __attribute__((always_inline)) void mix_rows_acc_body(T* __restrict y, const T* const* r,
                                                             const T* k, int n, std::int64_t len) {
  for (int t = 0; t < n; ++t) {
    const T* __restrict rt = r[t];
    const T kt = k[t];
    for (std::int64_t i = 0; i < len; ++i) y[i] = y[i] + kt * rt[i];
  }
}

template <class T>
void mix_rows_base(T* y, const T* const* r, const T* k, int n, std::int64_t len) {
  mix_rows_body(y, r, k, n, len);
}
template <class T>
void mix_rows_acc_base(T* y, const T* const* r, const T* k, int n, std::int64_t len) {
  mix_rows_acc_body(y, r, k, n, len);
}
template <class T>
void apply_rows_base(const T* in, std::int64_t in_stride, T* out, std::int64_t out_stride,
                     std::int64_t rows, const RowTable<T>& t, T*) {
  apply_rows_body(in, in_stride, out, out_stride, rows, t);
}

#if defined(__x86_64__)
template <class T>
__attribute__((target("avx2"))) void mix_rows_avx2(T* y, const T* const* r, const T* k, int n,
                                                   std::int64_t len) {
  mix_rows_body(y, r, k, n, len);
}
template <class T>
__attribute__((target("avx2"))) void mix_rows_acc_avx2(T* y, const T* const* r, const T* k, int n,
                                                       std::int64_t len) {
  mix_rows_acc_body(y, r, k, n, len);
}

// mix_rows_body with non-temporal stores (float; y 4-byte aligned): the scalar head up to a
// 32-byte boundary and the tail compute the same expression.
template <int N>
__attribute__((target("avx2"))) inline float mix_one(const float* const* r, const float* k,
                                                     std::int64_t i) {
  if constexpr (N == 0) return 0.0f;
  if constexpr (N == 1) return k[0] * r[0][i];
  if constexpr (N == 2) return k[0] * r[0][i] + k[1] * r[1][i];
  if constexpr (N == 3) return k[0] * r[0][i] + k[1] * r[1][i] + k[2] * r[2][i];
  if constexpr (N == 4) return k[0] * r[0][i] + k[1] * r[1][i] + k[2] * r[2][i] + k[3] * r[3][i];
  return 0.0f;
}

template <int N>
__attribute__((target("avx2"))) void mix_rows_stream_n(float* y, const float* const* r,
                                                       const float* k, std::int64_t len) {
  std::int64_t i = 0;
  while (i < len && (reinterpret_cast<std::uintptr_t>(y + i) & 31) != 0) {
    y[i] = mix_one<N>(r, k, i);
    ++i;
  }
  __m256 kv[4];
  for (int t = 0; t < 4; ++t) kv[t] = _mm256_set1_ps(k[t]);
  for (; i + 8 <= len; i += 8) {
    __m256 v = _mm256_setzero_ps();
    if constexpr (N >= 1) v = _mm256_mul_ps(kv[0], _mm256_loadu_ps(r[0] + i));
    if constexpr (N >= 2) v = _mm256_add_ps(v, _mm256_mul_ps(kv[1], _mm256_loadu_ps(r[1] + i)));
    if constexpr (N >= 3) v = _mm256_add_ps(v, _mm256_mul_ps(kv[2], _mm256_loadu_ps(r[2] + i)));
    if constexpr (N >= 4) v = _mm256_add_ps(v, _mm256_mul_ps(kv[3], _mm256_loadu_ps(r[3] + i)));
    _mm256_stream_ps(y + i, v);
  }
  for (; i < len; ++i) y[i] = mix_one<N>(r, k, i);
}

__attribute__((target("avx2"))) void mix_rows_stream_avx2(float* y, const float* const* r,
                                                          const float* k, int n, std::int64_t len) {
  switch (n) {
    case 0:
      return mix_rows_stream_n<0>(y, r, k, len);
    case 1:
      return mix_rows_stream_n<1>(y, r, k, len);
    case 2:
      return mix_rows_stream_n<2>(y, r, k, len);
    case 3:
      return mix_rows_stream_n<3>(y, r, k, len);
    default:
      return mix_rows_stream_n<4>(y, r, k, len);
  }
}

// In place: v[i] becomes the i-th column of the 8x8 block whose rows were v[0..7].
__attribute__((target("avx2"))) inline void transpose8(__m256 v[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(v[0], v[1]), t1 = _mm256_unpackhi_ps(v[0], v[1]);
  const __m256 t2 = _mm256_unpacklo_ps(v[2], v[3]), t3 = _mm256_unpackhi_ps(v[2], v[3]);
  const __m256 t4 = _mm256_unpacklo_ps(v[4], v[5]), t5 = _mm256_unpackhi_ps(v[4], v[5]);
  const __m256 t6 = _mm256_unpacklo_ps(v[6], v[7]), t7 = _mm256_unpackhi_ps(v[6], v[7]);
  const __m256 s0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 s2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 s4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 s6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
  v[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
  v[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
  v[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
  v[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
  v[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
  v[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
  v[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
  v[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

// apply_rows_body for float, 8 rows at a time: the block is transposed into `scratch` (8 x
// (in + out) floats), each output column is then 8 lanes sharing the table's entry, and the
// result is transposed back. Rows past a multiple of 8 take the scalar loop.
__attribute__((target("avx2"))) void apply_rows_avx2(const float* in, std::int64_t in_stride,
                                                     float* out, std::int64_t out_stride,
                                                     std::int64_t rows, const RowTable<float>& t,
                                                     float* scratch) {
  float* __restrict in_t = scratch;                    // (t.in + 1, 8): a zero column last
  float* __restrict out_t = scratch + 8 * (t.in + 1);  // (t.out, 8)
  _mm256_storeu_ps(in_t + 8 * t.in, _mm256_setzero_ps());
  const std::int32_t* __restrict start = t.start;
  const std::int32_t* __restrict src = t.src;
  const float* __restrict weight = t.weight;
  const std::int64_t n_out = t.out;
  std::int64_t r0 = 0;
  for (; r0 + 8 <= rows; r0 += 8) {
    const float* rows_in = in + r0 * in_stride;
    std::int64_t c = 0;
    for (; c + 8 <= t.in; c += 8) {
      __m256 v[8];
      for (int r = 0; r < 8; ++r) v[r] = _mm256_loadu_ps(rows_in + r * in_stride + c);
      transpose8(v);
      for (int q = 0; q < 8; ++q) _mm256_storeu_ps(in_t + (c + q) * 8, v[q]);
    }
    for (; c < t.in; ++c)
      for (int r = 0; r < 8; ++r) in_t[c * 8 + r] = rows_in[r * in_stride + c];
    if (t.pad_k > 0) {  // every output has pad_k terms: no branch per output
      const int kk = t.pad_k;
      const std::int32_t* __restrict off = t.pad_off;
      const float* __restrict pw = t.pad_w;
      for (std::int64_t j = 0; j < n_out; ++j) {
        const std::int32_t* o = off + j * kk;
        const float* wj = pw + j * kk;
        __m256 acc = _mm256_mul_ps(_mm256_broadcast_ss(wj), _mm256_loadu_ps(in_t + o[0]));
        for (int q = 1; q < kk; ++q)
          acc = _mm256_add_ps(
              acc, _mm256_mul_ps(_mm256_broadcast_ss(wj + q), _mm256_loadu_ps(in_t + o[q])));
        _mm256_storeu_ps(out_t + 8 * j, _mm256_add_ps(acc, _mm256_setzero_ps()));
      }
    } else if (t.pairs) {  // every output has two terms (the forward's table): no inner loop
      for (std::int64_t j = 0; j < n_out; ++j) {
        const __m256 a = _mm256_mul_ps(_mm256_broadcast_ss(weight + 2 * j),
                                       _mm256_loadu_ps(in_t + 8 * src[2 * j]));
        const __m256 b = _mm256_mul_ps(_mm256_broadcast_ss(weight + 2 * j + 1),
                                       _mm256_loadu_ps(in_t + 8 * src[2 * j + 1]));
        _mm256_storeu_ps(out_t + 8 * j, _mm256_add_ps(a, b));
      }
    } else {
      for (std::int64_t j = 0; j < n_out; ++j) {
        const std::int32_t k0 = start[j], k1 = start[j + 1];
        __m256 acc = _mm256_setzero_ps();
        if (k0 != k1) {
          acc =
              _mm256_mul_ps(_mm256_broadcast_ss(weight + k0), _mm256_loadu_ps(in_t + 8 * src[k0]));
          for (std::int32_t k = k0 + 1; k < k1; ++k)
            acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_broadcast_ss(weight + k),
                                                   _mm256_loadu_ps(in_t + 8 * src[k])));
        }
        _mm256_storeu_ps(out_t + 8 * j, acc);
      }
    }
    float* dst = out + r0 * out_stride;
    c = 0;
    for (; c + 8 <= t.out; c += 8) {
      __m256 v[8];
      for (int q = 0; q < 8; ++q) v[q] = _mm256_loadu_ps(out_t + (c + q) * 8);
      transpose8(v);
      for (int r = 0; r < 8; ++r) _mm256_storeu_ps(dst + r * out_stride + c, v[r]);
    }
    for (; c < t.out; ++c)
      for (int r = 0; r < 8; ++r) dst[r * out_stride + c] = out_t[c * 8 + r];
  }
  apply_rows_body(in + r0 * in_stride, in_stride, out + r0 * out_stride, out_stride, rows - r0, t);
}
#endif

template <class T>
void mix_rows(T* y, const T* const* r, const T* k, int n, std::int64_t len, bool stream = false) {
#if defined(__x86_64__)
  if (cpu_has_avx2()) {
    if constexpr (std::is_same_v<T, float>)
      if (stream) return mix_rows_stream_avx2(y, r, k, n, len);
    return mix_rows_avx2(y, r, k, n, len);
  }
#endif
  (void)stream;
  mix_rows_base(y, r, k, n, len);
}

// y = sum over any number of terms (left to right): four at a time.
template <class T>
void mix_chain(T* y, const T* const* r, const T* k, int n, std::int64_t len) {
  const T* r4[4] = {nullptr, nullptr, nullptr, nullptr};  // mix_rows reads four pointers
  T k4[4] = {0, 0, 0, 0};
  for (int t = 0; t < std::min(n, 4); ++t) {
    r4[t] = r[t];
    k4[t] = k[t];
  }
  mix_rows(y, r4, k4, std::min(n, 4), len);
  for (int t = 4; t < n; t += 4) {
#if defined(__x86_64__)
    if (cpu_has_avx2()) {
      mix_rows_acc_avx2(y, r + t, k + t, std::min(n - t, 4), len);
      continue;
    }
#endif
    mix_rows_acc_base(y, r + t, k + t, std::min(n - t, 4), len);
  }
}

// The scratch apply_rows needs, in elements.
template <class T>
std::size_t apply_rows_scratch(const RowTable<T>& t) {
  return static_cast<std::size_t>(8 * (t.in + 1 + t.out));
}

template <class T>
void apply_rows(const T* in, std::int64_t in_stride, T* out, std::int64_t out_stride,
                std::int64_t rows, const RowTable<T>& t, T* scratch) {
#if defined(__x86_64__)
  if constexpr (std::is_same_v<T, float>)
    if (cpu_has_avx2()) return apply_rows_avx2(in, in_stride, out, out_stride, rows, t, scratch);
#endif
  apply_rows_base(in, in_stride, out, out_stride, rows, t, scratch);
}

// The interior of a backward W table at factor 2 (RowTable in == 2 * out) for the AVX2 path:
// inputs [j0, j1) each read the k outputs 2j + off + q (q = 0 .. k - 1, in table order; off is
// -1 for linear, 0 for nearest), with weights that differ from input to input where
// align_corners makes them. Found by walking out from the middle input; k = 0 when there is no
// such interior of 8 inputs or more. The weights are kept per group of 8 inputs from j0, term
// by term, in the lane order of the AVX2 path (0 1 4 5 2 3 6 7).
template <class T>
struct Stride2Table {
  static constexpr int kMax = 4;
  int k = 0, off = 0;
  std::int64_t j0 = 0, j1 = 0;
  std::vector<T> w;  // (groups, k, 8)
  explicit Stride2Table(const RowTable<T>& t) {
    if (t.in != 2 * t.out || t.out < 8) return;
    const std::int64_t mid = t.out / 2;
    const int n = t.start[mid + 1] - t.start[mid];
    const std::int32_t o = t.src[t.start[mid]] - static_cast<std::int32_t>(2 * mid);
    if (n < 1 || n > kMax || (o != -1 && o != 0)) return;
    auto same = [&](std::int64_t j) {
      if (t.start[j + 1] - t.start[j] != n) return false;
      for (int q = 0; q < n; ++q)
        if (t.src[t.start[j] + q] != 2 * j + o + q) return false;
      return true;
    };
    if (!same(mid)) return;
    j0 = mid;
    while (j0 > 0 && same(j0 - 1)) --j0;
    j1 = mid + 1;
    while (j1 < t.out && same(j1)) ++j1;
    // A group of 8 inputs at j loads the 16 outputs from 2j - 2 (off -1) or 2j, and the 16 from
    // 2j + 2 when a term reaches 2j + 2.
    if (o < 0) j0 = std::max<std::int64_t>(j0, 1);
    if (o + n - 1 >= 2) j1 = std::min(j1, t.out - 1);
    if (j1 - j0 < 8) return;
    k = n;
    off = o;
    static constexpr int kLane[8] = {0, 1, 4, 5, 2, 3, 6, 7};
    const std::int64_t groups = (j1 - j0) / 8;
    w.assign(static_cast<std::size_t>(groups * k * 8), T(0));
    for (std::int64_t g = 0; g < groups; ++g)
      for (int q = 0; q < k; ++q)
        for (int l = 0; l < 8; ++l)
          w[static_cast<std::size_t>((g * k + q) * 8 + l)] =
              t.weight[t.start[j0 + 8 * g + kLane[l]] + q];
  }
};

#if defined(__x86_64__)
// One row of the backward W pass over a Stride2Table's interior, 8 inputs at a time: term q is
// the even or odd lanes of 16 consecutive outputs (one shuffle of two loads, which leaves the
// lanes in the order 0 1 4 5 2 3 6 7; the weights are stored in that order and one permute puts
// the sum back), the same multiplies and adds in the same order as apply_one, ending with + 0;
// the inputs outside the interior by apply_one.
template <int K, int Off>
__attribute__((target("avx2"))) void stride2_rows_avx2_k(const float* in, std::int64_t in_stride,
                                                         float* out, std::int64_t out_stride,
                                                         std::int64_t rows,
                                                         const RowTable<float>& t,
                                                         const Stride2Table<float>& s) {
  const std::int64_t j0 = s.j0, j_end = s.j0 + (s.j1 - s.j0) / 8 * 8, n = t.out;
  const float* __restrict wbase = s.w.data();
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* __restrict row = in + r * in_stride;
    float* __restrict o = out + r * out_stride;
    for (std::int64_t j = 0; j < j0; ++j) o[j] = apply_one(row, t, j);
    const float* __restrict wg = wbase;
    for (std::int64_t j = j0; j < j_end; j += 8, wg += 8 * K) {
      // Outputs 2j - 2 .. 2j + 17 in (lo, mid, hi) pairs of vectors, as the terms need them.
      const float* p = row + 2 * j;
      __m256 acc = _mm256_setzero_ps();
      for (int q = 0; q < K; ++q) {
        const int oq = Off + q;              // -1 .. 3
        const int m = oq < 0 ? -1 : oq / 2;  // the pair: 2j + 2m .. 2j + 2m + 15
        const bool odd = oq - 2 * m == 1;
        const __m256 a = _mm256_loadu_ps(p + 2 * m), b = _mm256_loadu_ps(p + 2 * m + 8);
        const __m256 v = odd ? _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1))
                             : _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
        const __m256 term = _mm256_mul_ps(_mm256_loadu_ps(wg + 8 * q), v);
        acc = q == 0 ? term : _mm256_add_ps(acc, term);
      }
      acc = _mm256_add_ps(acc, _mm256_setzero_ps());
      _mm256_storeu_ps(o + j, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(acc), 0xD8)));
    }
    for (std::int64_t j = j_end; j < n; ++j) o[j] = apply_one(row, t, j);
  }
}

__attribute__((target("avx2"))) void stride2_rows_avx2(const float* in, std::int64_t in_stride,
                                                       float* out, std::int64_t out_stride,
                                                       std::int64_t rows, const RowTable<float>& t,
                                                       const Stride2Table<float>& s) {
  const int key = s.off * 10 + s.k;
  switch (key) {
#define DDNET_STRIDE2_CASE(OFF, K) \
  case OFF * 10 + K:               \
    return stride2_rows_avx2_k<K, OFF>(in, in_stride, out, out_stride, rows, t, s);
    DDNET_STRIDE2_CASE(-1, 1)
    DDNET_STRIDE2_CASE(-1, 2)
    DDNET_STRIDE2_CASE(-1, 3)
    DDNET_STRIDE2_CASE(-1, 4)
    DDNET_STRIDE2_CASE(0, 1)
    DDNET_STRIDE2_CASE(0, 2)
    DDNET_STRIDE2_CASE(0, 3)
    DDNET_STRIDE2_CASE(0, 4)
#undef DDNET_STRIDE2_CASE
    default:  // Stride2Table makes none of these
      apply_rows_body(in, in_stride, out, out_stride, rows, t);
  }
}
#endif

// The backward's W pass: by a Stride2Table's interior where there is one (float, AVX2), else
// apply_rows.
template <class T>
void w_pass_backward(const T* in, std::int64_t in_stride, T* out, std::int64_t out_stride,
                     std::int64_t rows, const RowTable<T>& t, const Stride2Table<T>& s,
                     T* scratch) {
#if defined(__x86_64__)
  if constexpr (std::is_same_v<T, float>)
    if (s.k > 0 && cpu_has_avx2())
      return stride2_rows_avx2(in, in_stride, out, out_stride, rows, t, s);
#endif
  (void)s;
  apply_rows(in, in_stride, out, out_stride, rows, t, scratch);
}

// The forward W table (two terms per output, i0 then i1) in CSR form, and, where every 8
// consecutive outputs read within 8 consecutive inputs (upsampling: they read 5 at most), the
// same table as windows: output group g reads in[base[g] + 0..7], permuted by perm0 / perm1.
template <class T>
struct ForwardTable {
  std::vector<std::int32_t> start, src;
  std::vector<T> weight;
  RowTable<T> view;
  std::vector<std::int32_t> base, perm0, perm1;  // (out / 8), (out / 8 * 8) x 2
  const T* w0 = nullptr;
  const T* w1 = nullptr;
  bool windows = false;
  explicit ForwardTable(const AxisView<T>& w) : w0(w.w0), w1(w.w1) {
    const auto n = static_cast<std::size_t>(w.out);
    start.resize(n + 1);
    src.resize(2 * n);
    weight.resize(2 * n);
    for (std::size_t j = 0; j < n; ++j) {
      start[j] = static_cast<std::int32_t>(2 * j);
      src[2 * j] = w.i0[j];
      src[2 * j + 1] = w.i1[j];
      weight[2 * j] = w.w0[j];
      weight[2 * j + 1] = w.w1[j];
    }
    start[n] = static_cast<std::int32_t>(2 * n);
    view = {w.in, w.out, start.data(), src.data(), weight.data()};
    view.pairs = true;
    if (w.in < 8) return;
    const std::size_t groups = n / 8;
    base.resize(groups);
    perm0.resize(8 * groups);
    perm1.resize(8 * groups);
    for (std::size_t g = 0; g < groups; ++g) {
      std::int32_t lo = w.i0[8 * g];
      for (std::size_t q = 8 * g; q < 8 * g + 8; ++q) lo = std::min({lo, w.i0[q], w.i1[q]});
      const auto b = static_cast<std::int32_t>(std::min<std::int64_t>(lo, w.in - 8));
      base[g] = b;
      for (std::size_t q = 8 * g; q < 8 * g + 8; ++q) {
        perm0[q] = w.i0[q] - b;
        perm1[q] = w.i1[q] - b;
        if (perm0[q] < 0 || perm0[q] > 7 || perm1[q] < 0 || perm1[q] > 7) return;
      }
    }
    windows = true;
  }
};

#if defined(__x86_64__)
// The forward W pass of `rows` rows by windows (ForwardTable::windows): per 8 outputs one load
// of 8 inputs, two permutes, w0 * a + w1 * b; the outputs past the last group by the scalar
// expression. Same multiplies and adds as apply_one.
__attribute__((target("avx2"))) void w_pass_windows_avx2(const float* in, std::int64_t in_stride,
                                                         float* out, std::int64_t out_stride,
                                                         std::int64_t rows,
                                                         const ForwardTable<float>& t) {
  const std::int64_t n = t.view.out, groups = n / 8;
  const std::int32_t* __restrict base = t.base.data();
  const std::int32_t* __restrict p0 = t.perm0.data();
  const std::int32_t* __restrict p1 = t.perm1.data();
  const float* __restrict w0 = t.w0;
  const float* __restrict w1 = t.w1;
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* __restrict row = in + r * in_stride;
    float* __restrict o = out + r * out_stride;
    for (std::int64_t g = 0; g < groups; ++g) {
      const __m256 win = _mm256_loadu_ps(row + base[g]);
      const __m256 a = _mm256_permutevar8x32_ps(
          win, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p0 + 8 * g)));
      const __m256 b = _mm256_permutevar8x32_ps(
          win, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p1 + 8 * g)));
      _mm256_storeu_ps(o + 8 * g, _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(w0 + 8 * g), a),
                                                _mm256_mul_ps(_mm256_loadu_ps(w1 + 8 * g), b)));
    }
    for (std::int64_t j = 8 * groups; j < n; ++j) o[j] = apply_one(row, t.view, j);
  }
}
#endif

// The forward's W pass: windows where the table allows (float, AVX2), else apply_rows.
template <class T>
void w_pass(const T* in, std::int64_t in_stride, T* out, std::int64_t out_stride, std::int64_t rows,
            const ForwardTable<T>& t, T* scratch) {
#if defined(__x86_64__)
  if constexpr (std::is_same_v<T, float>)
    if (t.windows && cpu_has_avx2())
      return w_pass_windows_avx2(in, in_stride, out, out_stride, rows, t);
#endif
  apply_rows(in, in_stride, out, out_stride, rows, t.view, scratch);
}

}  // namespace

template <class T>
void upsample_forward(const T* x, T* y, std::int64_t planes, const AxisView<T>& d,
                      const AxisView<T>& h, const AxisView<T>& w) {
  const std::int64_t in_plane = d.in * h.in * w.in, out_plane = d.out * h.out * w.out;
  const std::int64_t in_slice = h.in * w.out;  // one input depth slice, upsampled along W
  const std::int64_t slices = planes * d.out;  // one output depth slice per step
  const std::int64_t grain = std::max<std::int64_t>(1, 65536 / (h.out * w.out));
  const ForwardTable<T> wt(w);
  const bool stream =
      cpu_stream_stores_for(static_cast<std::size_t>(planes * out_plane) * sizeof(T));
  parallel_for(slices, grain, [&](std::int64_t b, std::int64_t e) {
    // Slot c of the cache holds input slice key[c] = p * d.in + id, upsampled along W row by row
    // when an output row first needs the row (done[c][ih]): the W pass's reads of x spread
    // between the output rows' stores instead of coming in bursts.
    std::vector<T> cache(static_cast<std::size_t>(2 * in_slice));
    std::vector<char> done(static_cast<std::size_t>(2 * h.in), 0);
    std::vector<T> scratch(apply_rows_scratch(wt.view));
    std::int64_t key[2] = {-1, -1};
    int next = 0;
    auto slot = [&](std::int64_t p, std::int64_t id) -> int {
      const std::int64_t k = p * d.in + id;
      for (int c = 0; c < 2; ++c)
        if (key[c] == k) {
          next = 1 - c;  // the other slot is the older: a miss replaces it
          return c;
        }
      const int c = next;
      next = 1 - c;
      key[c] = k;
      std::fill(done.begin() + c * h.in, done.begin() + (c + 1) * h.in, 0);
      return c;
    };
    auto row = [&](int c, std::int64_t ih) -> const T* {
      T* out = cache.data() + c * in_slice + ih * w.out;
      char& ready = done[static_cast<std::size_t>(c * h.in + ih)];
      if (!ready) {
        const std::int64_t k = key[c], p = k / d.in, id = k % d.in;
        w_pass(x + p * in_plane + (id * h.in + ih) * w.in, w.in, out, w.out, 1, wt, scratch.data());
        ready = 1;
      }
      return out;
    };
    for (std::int64_t s = b; s < e; ++s) {
      const std::int64_t p = s / d.out, od = s % d.out;
      // The newer slice first, so that the one this slice shares with the last is kept.
      const int c1 = slot(p, d.i1[od]);
      const int c0 = slot(p, d.i0[od]);
      const T wd0 = d.w0[od], wd1 = d.w1[od];
      T* ys = y + p * out_plane + od * h.out * w.out;
      for (std::int64_t oh = 0; oh < h.out; ++oh) {
        const T wh0 = h.w0[oh], wh1 = h.w1[oh];
        const int cs[4] = {c0, c0, c1, c1};
        const std::int64_t ihs[4] = {h.i0[oh], h.i1[oh], h.i0[oh], h.i1[oh]};
        const T k[4] = {wd0 * wh0, wd0 * wh1, wd1 * wh0, wd1 * wh1};
        // Terms of weight zero (nearest mode, exact grid points) are skipped, in a fixed order.
        const T* r[4] = {nullptr, nullptr, nullptr, nullptr};
        T kk[4] = {0, 0, 0, 0};
        int n = 0;
        for (int t = 0; t < 4; ++t)
          if (k[t] != T(0)) {
            r[n] = row(cs[t], ihs[t]);
            kk[n] = k[t];
            ++n;
          }
        mix_rows(ys + oh * w.out, r, kk, n, w.out, stream);
      }
    }
    if (stream) stream_fence();
  });
}

template <class T>
void upsample_backward(const T* dy, T* dx, std::int64_t planes, const AxisView<T>& d,
                       const AxisView<T>& h, const AxisView<T>& w) {
  const std::int64_t in_plane = d.in * h.in * w.in, out_plane = d.out * h.out * w.out;
  const std::int64_t out_slice = h.out * w.out;
  // The transposed W table without its terms of weight zero (exact grid points), as along D and
  // H: they add nothing.
  std::vector<std::int32_t> w_start(static_cast<std::size_t>(w.in) + 1, 0), w_src;
  std::vector<T> w_weight;
  for (std::int64_t iw = 0; iw < w.in; ++iw) {
    for (std::int32_t q = w.start[iw]; q < w.start[iw + 1]; ++q)
      if (w.weight[q] != T(0)) {
        w_src.push_back(w.src[q]);
        w_weight.push_back(w.weight[q]);
      }
    w_start[static_cast<std::size_t>(iw) + 1] = static_cast<std::int32_t>(w_src.size());
  }
  RowTable<T> wt{w.out, w.in, w_start.data(), w_src.data(), w_weight.data()};
  const PaddedTable<T> padded(wt);
  wt.pad_k = padded.k;
  wt.pad_off = padded.off.data();
  wt.pad_w = padded.w.data();
  const Stride2Table<T> s2(wt);
  // Work in bands of kBand input rows of one input slice. A band reads the output rows
  // [lo, hi) of each output slice its input slice reads. Those rows are combined along D as the
  // band's input rows first need them (one contiguous multiply-add over the new rows, a band's
  // rows being adjacent in memory), each input row then combines its rows of that along H, and
  // each block of 8 rows is reduced along W. Neighbouring bands share an output row or two,
  // combined along D by both.
  //
  // The D pass is where dy is read from memory, and the H and W passes are compute: while they
  // run, the rows the D pass will read kPrefetchRows output rows ahead are prefetched into L2,
  // from the output slices that the previous input slice did not read (the others were read
  // just before and are still in L2). This keeps memory busy during the H and W passes: on the
  // 2-core Intel Xeon VM, the backward of 1x16x32x256x256 went from about 74 % to 78-80 % of
  // the memcpy bandwidth (paired, 4 rounds).
  constexpr std::int64_t kBlock = 8;  // input rows per W pass (its lanes)
  constexpr std::int64_t kBand = 4 * kBlock;
  constexpr std::int64_t kPrefetchRows = 8;
  const std::int64_t bands = (h.in + kBand - 1) / kBand;
  std::vector<std::int64_t> band_lo(static_cast<std::size_t>(bands), h.out),
      band_hi(static_cast<std::size_t>(bands), 0);
  std::int64_t band_span = 1;
  for (std::int64_t ih = 0; ih < h.in; ++ih) {
    const auto bi = static_cast<std::size_t>(ih / kBand);
    for (std::int32_t c = h.start[ih]; c < h.start[ih + 1]; ++c) {
      band_lo[bi] = std::min<std::int64_t>(band_lo[bi], h.src[c]);
      band_hi[bi] = std::max<std::int64_t>(band_hi[bi], h.src[c] + 1);
    }
  }
  for (std::int64_t bi = 0; bi < bands; ++bi) {
    const auto i = static_cast<std::size_t>(bi);
    if (band_hi[i] <= band_lo[i]) band_lo[i] = band_hi[i] = 0;
    band_span = std::max(band_span, band_hi[i] - band_lo[i]);
  }
  // Whether term a of the D table reads an output slice that input slice id - 1 does not read.
  std::vector<char> d_new(static_cast<std::size_t>(d.start[d.in]), 1);
  for (std::int64_t id = 1; id < d.in; ++id)
    for (std::int32_t a = d.start[id]; a < d.start[id + 1]; ++a)
      for (std::int32_t a0 = d.start[id - 1]; a0 < d.start[id]; ++a0)
        if (d.src[a0] == d.src[a] && d.weight[a0] != T(0)) d_new[static_cast<std::size_t>(a)] = 0;
  const std::int64_t row_bytes = w.out * static_cast<std::int64_t>(sizeof(T));
  const std::int64_t units = planes * d.in * bands;
  const std::int64_t grain = std::max<std::int64_t>(1, 16384 / (kBand * w.out));
  parallel_for(units, grain, [&](std::int64_t b, std::int64_t e) {
    std::vector<T> rows(static_cast<std::size_t>(band_span * w.out));  // D-combined rows
    std::vector<T> block(static_cast<std::size_t>(kBlock * w.out));    // H-combined, per row
    std::vector<T> scratch(apply_rows_scratch(wt));
    std::vector<const T*> r, r_at, fresh, hrows;
    std::vector<T> dk, k;
    for (std::int64_t u = b; u < e; ++u) {
      const std::int64_t slice = u / bands, band = u % bands;
      const std::int64_t p = slice / d.in, id = slice % d.in;
      const std::int64_t lo = band_lo[static_cast<std::size_t>(band)];
      r.clear();
      dk.clear();
      fresh.clear();
      for (std::int32_t a = d.start[id]; a < d.start[id + 1]; ++a)
        if (d.weight[a] != T(0)) {  // terms of weight zero add nothing
          const T* at = dy + p * out_plane + static_cast<std::int64_t>(d.src[a]) * out_slice;
          r.push_back(at + lo * w.out);
          dk.push_back(d.weight[a]);
          if (d_new[static_cast<std::size_t>(a)]) fresh.push_back(at);
        }
      r_at.resize(r.size());
      std::int64_t done = lo, prefetched = lo;  // D-combined rows: [lo, done)
      const std::int64_t band_end = std::min(h.in, (band + 1) * kBand);
      for (std::int64_t ih0 = band * kBand; ih0 < band_end; ih0 += kBlock) {
        const std::int64_t n_rows = std::min(kBlock, band_end - ih0);
        for (std::int64_t q = 0; q < n_rows; ++q) {
          const std::int64_t ih = ih0 + q;
          std::int64_t need = done;
          for (std::int32_t c = h.start[ih]; c < h.start[ih + 1]; ++c)
            if (h.weight[c] != T(0)) need = std::max<std::int64_t>(need, h.src[c] + 1);
          if (need > done) {
            for (std::size_t t = 0; t < r.size(); ++t) r_at[t] = r[t] + (done - lo) * w.out;
            mix_chain(rows.data() + (done - lo) * w.out, r_at.data(), dk.data(),
                      static_cast<int>(r.size()), (need - done) * w.out);
            done = need;
          }
          for (const std::int64_t to = std::min(done + kPrefetchRows, h.out); prefetched < to;
               ++prefetched)
            for (const T* at : fresh) {
              const char* line = reinterpret_cast<const char*>(at + prefetched * w.out);
              for (std::int64_t off = 0; off < row_bytes; off += 64)
                __builtin_prefetch(line + off, 0, 2);  // prefetcht1: into L2
            }
          hrows.clear();
          k.clear();
          for (std::int32_t c = h.start[ih]; c < h.start[ih + 1]; ++c)
            if (h.weight[c] != T(0)) {
              hrows.push_back(rows.data() + (h.src[c] - lo) * w.out);
              k.push_back(h.weight[c]);
            }
          mix_chain(block.data() + q * w.out, hrows.data(), k.data(),
                    static_cast<int>(hrows.size()), w.out);
        }
        w_pass_backward(block.data(), w.out, dx + p * in_plane + (id * h.in + ih0) * w.in, w.in,
                        n_rows, wt, s2, scratch.data());
      }
    }
  });
}

#define DDNET_INSTANTIATE(T)                                                         \
  template void upsample_forward<T>(const T*, T*, std::int64_t, const AxisView<T>&,  \
                                    const AxisView<T>&, const AxisView<T>&);         \
  template void upsample_backward<T>(const T*, T*, std::int64_t, const AxisView<T>&, \
                                     const AxisView<T>&, const AxisView<T>&);
DDNET_INSTANTIATE(float)
DDNET_INSTANTIATE(double)
#undef DDNET_INSTANTIATE

}  // namespace cpu
}  // namespace ddnet::kernels
