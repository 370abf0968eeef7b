// CPU convolutions: im2col over tiles of output positions, then BLAS gemm (OpenBLAS), for
// float64 always and for float32 when no fast path of kernels/cpu_conv/ takes the call (asked
// first, through fast_paths.h; never under cpu_conv::Config::pinned()). This is the reference
// path. The tile keeps the column buffer near 32 MiB whatever the volume; 1x1x1 stride-1
// convolutions use the input as the column matrix directly. Results do not depend on the thread
// count: gemm splits only M and N, and col2im is parallel over channels (disjoint outputs).
#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "engine/error.h"
#include "engine/parallel.h"
#include "kernels/conv.h"
#include "kernels/cpu_conv/fast_paths.h"

namespace ddnet::kernels {

std::string ConvGeometry::str() const {
  std::ostringstream os;
  os << "n " << n << ", " << cin << "->" << cout << " channels, in " << in[0] << "x" << in[1] << "x"
     << in[2] << ", out " << out[0] << "x" << out[1] << "x" << out[2] << ", kernel " << k[0] << "x"
     << k[1] << "x" << k[2] << ", stride " << stride[0] << "/" << stride[1] << "/" << stride[2]
     << ", pad " << pad[0] << "/" << pad[1] << "/" << pad[2];
  return os.str();
}

void conv_output_size(ConvGeometry& g) {
  for (int a = 0; a < 3; ++a) {
    DDNET_CHECK(g.k[a] >= 1 && g.stride[a] >= 1 && g.pad[a] >= 0,
                "conv: bad kernel/stride/padding ", g.str());
    const std::int64_t span = g.in[a] + 2 * g.pad[a] - g.k[a];
    DDNET_CHECK(span >= 0, "conv: input size ", g.in[a], " with padding ", g.pad[a],
                " is smaller than the kernel ", g.k[a]);
    g.out[a] = span / g.stride[a] + 1;
  }
}

namespace {

std::atomic<bool>& tf32_flag() {
  static std::atomic<bool> on{false};
  return on;
}
std::atomic<std::size_t>& workspace_cap() {
  static std::atomic<std::size_t> cap{std::size_t{1} << 30};
  return cap;
}
std::atomic<std::int64_t>& split_max_elements() {
  static std::atomic<std::int64_t> v{ConvSplitLimits{}.max_elements};
  return v;
}
std::atomic<std::int64_t>& split_calls() {
  static std::atomic<std::int64_t> v{0};
  return v;
}
std::atomic<std::int64_t>& split_chunk_elements() {
  static std::atomic<std::int64_t> v{ConvSplitLimits{}.chunk_elements};
  return v;
}

// CBLAS takes int: the depth split (conv_ops.cpp) keeps every call's planes under 2^31.
void check_blas_sizes(std::int64_t m, std::int64_t n, std::int64_t k, std::int64_t lda,
                      std::int64_t ldb, std::int64_t ldc) {
  DDNET_CHECK(std::max({m, n, k, lda, ldb, ldc}) <= 2147483647,
              "conv: a matrix size or leading dimension over 2^31 - 1 for BLAS (", m, ", ", n, ", ",
              k, ", ", lda, ", ", ldb, ", ", ldc, ")");
}

void gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
          const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
          std::int64_t ldc) {
  check_blas_sizes(m, n, k, lda, ldb, ldc);
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
              static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, a,
              static_cast<int>(lda), b, static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}
void gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, double alpha,
          const double* a, std::int64_t lda, const double* b, std::int64_t ldb, double beta,
          double* c, std::int64_t ldc) {
  check_blas_sizes(m, n, k, lda, ldb, ldc);
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
              static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, a,
              static_cast<int>(lda), b, static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}

bool is_pointwise(const ConvGeometry& g) {
  for (int a = 0; a < 3; ++a)
    if (g.k[a] != 1 || g.stride[a] != 1 || g.pad[a] != 0) return false;
  return true;
}

// Output positions per tile: the column buffer (cin * kvol rows) stays near 32 MiB.
template <class T>
std::int64_t tile_size(const ConvGeometry& g) {
  const std::int64_t rows = g.cin * g.kvol();
  const std::int64_t budget = (std::int64_t{32} << 20) / static_cast<std::int64_t>(sizeof(T));
  const std::int64_t plane = g.out_plane();
  return std::clamp<std::int64_t>(budget / std::max<std::int64_t>(rows, 1),
                                  std::min<std::int64_t>(64, plane), plane);
}

// Decomposes an output position p into (od, oh, ow).
inline void unflatten(const ConvGeometry& g, std::int64_t p, std::int64_t o[3]) {
  o[2] = p % g.out[2];
  o[1] = (p / g.out[2]) % g.out[1];
  o[0] = p / (g.out[2] * g.out[1]);
}

// col[r, j] for rows r = (c, kd, kh, kw) and output positions p0 + j, j < t.
template <class T>
void im2col(const ConvGeometry& g, const T* x, std::int64_t p0, std::int64_t t, T* col) {
  const std::int64_t kv = g.kvol(), rows = g.cin * kv;
  parallel_for(rows, std::max<std::int64_t>(1, 8192 / t), [&](std::int64_t rb, std::int64_t re) {
    for (std::int64_t r = rb; r < re; ++r) {
      const std::int64_t c = r / kv, kk = r % kv;
      const std::int64_t kd = kk / (g.k[1] * g.k[2]), kh = (kk / g.k[2]) % g.k[1], kw = kk % g.k[2];
      const T* xc = x + c * g.in_plane();
      T* out = col + r * t;
      std::int64_t o[3];
      unflatten(g, p0, o);
      for (std::int64_t j = 0; j < t; ++j) {
        const std::int64_t id = o[0] * g.stride[0] - g.pad[0] + kd;
        const std::int64_t ih = o[1] * g.stride[1] - g.pad[1] + kh;
        const std::int64_t iw = o[2] * g.stride[2] - g.pad[2] + kw;
        const bool inside =
            id >= 0 && id < g.in[0] && ih >= 0 && ih < g.in[1] && iw >= 0 && iw < g.in[2];
        out[j] = inside ? xc[(id * g.in[1] + ih) * g.in[2] + iw] : T(0);
        if (++o[2] == g.out[2]) {
          o[2] = 0;
          if (++o[1] == g.out[1]) {
            o[1] = 0;
            ++o[0];
          }
        }
      }
    }
  });
}

// dx[c] += col rows of channel c, scattered back; parallel over channels (disjoint).
template <class T>
void col2im_add(const ConvGeometry& g, const T* col, std::int64_t p0, std::int64_t t, T* dx) {
  const std::int64_t kv = g.kvol();
  parallel_for(g.cin, 1, [&](std::int64_t cb, std::int64_t ce) {
    for (std::int64_t c = cb; c < ce; ++c) {
      T* dxc = dx + c * g.in_plane();
      for (std::int64_t kk = 0; kk < kv; ++kk) {
        const std::int64_t kd = kk / (g.k[1] * g.k[2]), kh = (kk / g.k[2]) % g.k[1],
                           kw = kk % g.k[2];
        const T* row = col + (c * kv + kk) * t;
        std::int64_t o[3];
        unflatten(g, p0, o);
        for (std::int64_t j = 0; j < t; ++j) {
          const std::int64_t id = o[0] * g.stride[0] - g.pad[0] + kd;
          const std::int64_t ih = o[1] * g.stride[1] - g.pad[1] + kh;
          const std::int64_t iw = o[2] * g.stride[2] - g.pad[2] + kw;
          if (id >= 0 && id < g.in[0] && ih >= 0 && ih < g.in[1] && iw >= 0 && iw < g.in[2])
            dxc[(id * g.in[1] + ih) * g.in[2] + iw] += row[j];
          if (++o[2] == g.out[2]) {
            o[2] = 0;
            if (++o[1] == g.out[1]) {
              o[1] = 0;
              ++o[0];
            }
          }
        }
      }
    }
  });
}

std::int64_t batch_stride(std::int64_t given, std::int64_t channels, std::int64_t plane) {
  return given ? given : channels * plane;
}

}  // namespace

void set_allow_tf32(bool on) {
  tf32_flag() = on;
}
bool allow_tf32() {
  return tf32_flag();
}
void set_conv_workspace_limit(std::size_t bytes) {
  workspace_cap() = bytes;
}
std::size_t conv_workspace_limit() {
  return workspace_cap();
}
void set_conv_split_limits(ConvSplitLimits limits) {
  DDNET_CHECK(limits.max_elements >= 1 && limits.chunk_elements >= 1 &&
                  limits.chunk_elements <= limits.max_elements,
              "conv: split limits must be positive with chunk_elements <= max_elements, got ",
              limits.max_elements, " and ", limits.chunk_elements);
  split_max_elements() = limits.max_elements;
  split_chunk_elements() = limits.chunk_elements;
}
ConvSplitLimits conv_split_limits() {
  return {split_max_elements().load(), split_chunk_elements().load()};
}
std::int64_t conv_split_count() {
  return split_calls().load();
}
void note_conv_split() {
  ++split_calls();
}

namespace cpu {

template <class T>
void conv_forward(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y,
                  ConvStrides s) {
  if constexpr (std::is_same_v<T, float>) {
    if (cpu_conv::try_forward(g, x, w, bias, y, s)) return;
  }
  const std::int64_t P = g.out_plane(), rows = g.cin * g.kvol();
  const std::int64_t xs = batch_stride(s.x, g.cin, g.in_plane()), ys = batch_stride(s.y, g.cout, P);
  const bool pointwise = is_pointwise(g);
  const std::int64_t tile = pointwise ? P : tile_size<T>(g);
  std::vector<T> col(pointwise ? 0 : static_cast<std::size_t>(rows * tile));
  for (std::int64_t b = 0; b < g.n; ++b) {
    const T* xb = x + b * xs;
    T* yb = y + b * ys;
    if (bias) {
      parallel_for(g.cout * P, 1 << 15, [&](std::int64_t i0, std::int64_t i1) {
        for (std::int64_t i = i0; i < i1; ++i) yb[i] = bias[i / P];
      });
    }
    const T beta = bias ? T(1) : T(0);
    for (std::int64_t p0 = 0; p0 < P; p0 += tile) {
      const std::int64_t t = std::min(tile, P - p0);
      const T* cols = xb;  // pointwise: x itself is the (cin x P) column matrix
      std::int64_t ldb = P;
      if (!pointwise) {
        im2col(g, xb, p0, t, col.data());
        cols = col.data();
        ldb = t;
      }
      gemm(false, false, g.cout, t, rows, T(1), w, rows, pointwise ? cols + p0 : cols, ldb, beta,
           yb + p0, P);
    }
  }
}

template <class T>
void conv_backward_data(const ConvGeometry& g, const T* dy, const T* w, T* dx, bool accumulate,
                        ConvStrides s) {
  if constexpr (std::is_same_v<T, float>) {
    if (cpu_conv::try_backward_data(g, dy, w, dx, accumulate, s)) return;
  }
  const std::int64_t P = g.out_plane(), rows = g.cin * g.kvol();
  const std::int64_t xs = batch_stride(s.x, g.cin, g.in_plane()), ys = batch_stride(s.y, g.cout, P);
  const bool pointwise = is_pointwise(g);
  const std::int64_t tile = pointwise ? P : tile_size<T>(g);
  std::vector<T> col(pointwise ? 0 : static_cast<std::size_t>(rows * tile));
  for (std::int64_t b = 0; b < g.n; ++b) {
    T* dxb = dx + b * xs;
    const T* dyb = dy + b * ys;
    if (pointwise) {  // dx (cin x P) = w^T (cin x cout) . dy (cout x P)
      gemm(true, false, g.cin, P, g.cout, T(1), w, rows, dyb, P, accumulate ? T(1) : T(0), dxb, P);
      continue;
    }
    if (!accumulate)
      std::memset(dxb, 0, static_cast<std::size_t>(g.cin * g.in_plane()) * sizeof(T));
    for (std::int64_t p0 = 0; p0 < P; p0 += tile) {
      const std::int64_t t = std::min(tile, P - p0);
      gemm(true, false, rows, t, g.cout, T(1), w, rows, dyb + p0, P, T(0), col.data(), t);
      col2im_add(g, col.data(), p0, t, dxb);
    }
  }
}

template <class T>
void conv_backward_filter(const ConvGeometry& g, const T* x, const T* dy, T* dw, T* dbias,
                          bool accumulate, ConvStrides s) {
  if constexpr (std::is_same_v<T, float>) {
    if (cpu_conv::try_backward_filter(g, x, dy, dw, dbias, accumulate, s)) return;
  }
  const std::int64_t P = g.out_plane(), rows = g.cin * g.kvol();
  const std::int64_t xs = batch_stride(s.x, g.cin, g.in_plane()), ys = batch_stride(s.y, g.cout, P);
  const bool pointwise = is_pointwise(g);
  const std::int64_t tile = pointwise ? P : tile_size<T>(g);
  std::vector<T> col(pointwise ? 0 : static_cast<std::size_t>(rows * tile));
  if (!accumulate) {
    std::memset(dw, 0, static_cast<std::size_t>(g.cout * rows) * sizeof(T));
    if (dbias) std::memset(dbias, 0, static_cast<std::size_t>(g.cout) * sizeof(T));
  }
  for (std::int64_t b = 0; b < g.n; ++b) {
    const T* xb = x + b * xs;
    const T* dyb = dy + b * ys;
    for (std::int64_t p0 = 0; p0 < P; p0 += tile) {
      const std::int64_t t = std::min(tile, P - p0);
      const T* cols = xb + p0;
      std::int64_t ldb = P;
      if (!pointwise) {
        im2col(g, xb, p0, t, col.data());
        cols = col.data();
        ldb = t;
      }
      // dw (cout x rows) += dy (cout x t) . col^T (t x rows)
      gemm(false, true, g.cout, rows, t, T(1), dyb + p0, P, cols, ldb, T(1), dw, rows);
    }
  }
  if (dbias) channel_sum(g, dy, dbias, /*accumulate=*/true, s);
}

template <class T>
void add_channel_bias(const ConvGeometry& g, const T* bias, T* y, ConvStrides s) {
  const std::int64_t P = g.out_plane(), ys = batch_stride(s.y, g.cout, P);
  parallel_for(g.n * g.cout, std::max<std::int64_t>(1, (1 << 15) / P),
               [&](std::int64_t r0, std::int64_t r1) {
                 for (std::int64_t r = r0; r < r1; ++r) {
                   T* row = y + (r / g.cout) * ys + (r % g.cout) * P;
                   const T b = bias[r % g.cout];
                   for (std::int64_t p = 0; p < P; ++p) row[p] += b;
                 }
               });
}

template <class T>
void channel_sum(const ConvGeometry& g, const T* dy, T* db, bool accumulate, ConvStrides s) {
  const std::int64_t P = g.out_plane(), ys = batch_stride(s.y, g.cout, P);
  parallel_for(g.cout, 1, [&](std::int64_t c0, std::int64_t c1) {
    for (std::int64_t c = c0; c < c1; ++c) {
      double acc = 0;
      for (std::int64_t b = 0; b < g.n; ++b)
        for (std::int64_t p = 0; p < P; ++p) acc += static_cast<double>(dy[b * ys + c * P + p]);
      db[c] = static_cast<T>(accumulate ? static_cast<double>(db[c]) + acc : acc);
    }
  });
}

#define DDNET_INSTANTIATE(T)                                                                   \
  template void conv_forward<T>(const ConvGeometry&, const T*, const T*, const T*, T*,         \
                                ConvStrides);                                                  \
  template void conv_backward_data<T>(const ConvGeometry&, const T*, const T*, T*, bool,       \
                                      ConvStrides);                                            \
  template void conv_backward_filter<T>(const ConvGeometry&, const T*, const T*, T*, T*, bool, \
                                        ConvStrides);                                          \
  template void add_channel_bias<T>(const ConvGeometry&, const T*, T*, ConvStrides);           \
  template void channel_sum<T>(const ConvGeometry&, const T*, T*, bool, ConvStrides);
DDNET_INSTANTIATE(float)
DDNET_INSTANTIATE(double)
#undef DDNET_INSTANTIATE

}  // namespace cpu
}  // namespace ddnet::kernels
