// The direct AVX2/FMA weight gradient of stride-1 convolutions (see wgrad.h).
#include "kernels/cpu_conv/wgrad.h"

#include <algorithm>
#include <cstring>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "engine/error.h"
#include "engine/parallel.h"
#include "engine/workspace.h"
#include "kernels/cpu_features.h"

namespace ddnet::kernels::cpu_conv::direct_wgrad {

namespace {

constexpr std::int64_t kLanes = 8;
constexpr std::int64_t kChunk = 512;  // positions per block: a multiple of kLanes
constexpr int kMaxCols = 5;           // kernel columns c per task (registers: 2 x 5 sums)

std::int64_t round_up(std::int64_t v, std::int64_t m) {
  return (v + m - 1) / m * m;
}

// The repacked operands of one call.
struct Layout {
  std::int64_t dp, hp, wp;  // padded input extents: out + k - 1 per axis
  std::int64_t plane;       // hp * wp
  std::int64_t q;           // positions of one dy plane in the padded pitch: out_h * wp
  std::int64_t qp;          // q rounded up to kLanes (dy is zero beyond q)
  std::int64_t x_ci;        // stride of one input channel in xp: dp * plane + a zero tail
  explicit Layout(const ConvGeometry& g) {
    dp = g.out[0] + g.k[0] - 1;
    hp = g.out[1] + g.k[1] - 1;
    wp = g.out[2] + g.k[2] - 1;
    plane = hp * wp;
    q = g.out[1] * wp;
    qp = round_up(q, kLanes);
    // The last reads of a channel reach (k_h - 1) * wp + (k_w - 1) + qp - 1 past its last plane's
    // start, at most plane + k_w + kLanes - 2: a zero tail keeps them inside the channel.
    x_ci = dp * plane + g.k[2] + kLanes;
  }
};

// xp[n][ci][dz][hz][wz] = x[n, ci, dz - pad_d, hz - pad_h, wz - pad_w], zero outside x.
void pack_x(const ConvGeometry& g, const Layout& L, const float* x, std::int64_t xs, float* xp) {
  parallel_for(g.n * g.cin, 1, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      const float* src = x + (r / g.cin) * xs + (r % g.cin) * g.in_plane();
      float* dst = xp + r * L.x_ci;
      std::memset(dst, 0, static_cast<std::size_t>(L.x_ci) * sizeof(float));
      for (std::int64_t dz = 0; dz < L.dp; ++dz) {
        const std::int64_t d = dz - g.pad[0];
        if (d < 0 || d >= g.in[0]) continue;
        for (std::int64_t hz = 0; hz < L.hp; ++hz) {
          const std::int64_t h = hz - g.pad[1];
          if (h < 0 || h >= g.in[1]) continue;
          // columns wz whose w = wz - pad_w lies in [0, in_w)
          const std::int64_t w0 = std::max<std::int64_t>(0, g.pad[2]);
          const std::int64_t w1 = std::min(L.wp, g.in[2] + g.pad[2]);
          if (w1 <= w0) continue;
          std::memcpy(dst + dz * L.plane + hz * L.wp + w0,
                      src + (d * g.in[1] + h) * g.in[2] + (w0 - g.pad[2]),
                      static_cast<std::size_t>(w1 - w0) * sizeof(float));
        }
      }
    }
  });
}

// dyp[n][co][od][oh * wp + ow] = dy[n, co, od, oh, ow] for ow < out_w, zero elsewhere.
void pack_dy(const ConvGeometry& g, const Layout& L, const float* dy, std::int64_t ys, float* dyp) {
  parallel_for(g.n * g.cout, 1, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      const float* src = dy + (r / g.cout) * ys + (r % g.cout) * g.out_plane();
      float* dst = dyp + r * g.out[0] * L.qp;
      std::memset(dst, 0, static_cast<std::size_t>(g.out[0] * L.qp) * sizeof(float));
      for (std::int64_t od = 0; od < g.out[0]; ++od)
        for (std::int64_t oh = 0; oh < g.out[1]; ++oh)
          std::memcpy(dst + od * L.qp + oh * L.wp, src + (od * g.out[1] + oh) * g.out[2],
                      static_cast<std::size_t>(g.out[2]) * sizeof(float));
    }
  });
}

#if defined(__x86_64__)

// One task: output channels co0 .. co0 + CO - 1, input channel ci, kernel columns c0 .. c0 + NC
// - 1. part: kd * kh * CO * NC vectors of 8 partial sums (zeroed by the caller).
template <int CO, int NC>
__attribute__((target("avx2,fma"))) void task(const ConvGeometry& g, const Layout& L,
                                              const float* xp, const float* dyp, std::int64_t co0,
                                              std::int64_t ci, std::int64_t c0, float* part) {
  const std::int64_t kd = g.k[0], kh = g.k[1];
  for (std::int64_t n = 0; n < g.n; ++n) {
    const float* xc = xp + (n * g.cin + ci) * L.x_ci + c0;
    const float* dyc = dyp + (n * g.cout + co0) * g.out[0] * L.qp;
    for (std::int64_t od = 0; od < g.out[0]; ++od) {
      for (std::int64_t q0 = 0; q0 < L.qp; q0 += kChunk) {
        const std::int64_t len = std::min(kChunk, L.qp - q0);
        const float* dyrow[CO];
        for (int j = 0; j < CO; ++j) dyrow[j] = dyc + (j * g.out[0] + od) * L.qp + q0;
        for (std::int64_t a = 0; a < kd; ++a) {
          for (std::int64_t b = 0; b < kh; ++b) {
            const float* xr = xc + (od + a) * L.plane + b * L.wp + q0;
            float* acc_mem = part + (a * kh + b) * CO * NC * kLanes;
            __m256 acc[CO][NC];
            for (int j = 0; j < CO; ++j)
              for (int c = 0; c < NC; ++c) acc[j][c] = _mm256_setzero_ps();
            for (std::int64_t q = 0; q < len; q += kLanes) {
              __m256 dv[CO];
              for (int j = 0; j < CO; ++j) dv[j] = _mm256_loadu_ps(dyrow[j] + q);
              for (int c = 0; c < NC; ++c) {
                const __m256 xv = _mm256_loadu_ps(xr + q + c);
                for (int j = 0; j < CO; ++j) acc[j][c] = _mm256_fmadd_ps(dv[j], xv, acc[j][c]);
              }
            }
            for (int j = 0; j < CO; ++j)
              for (int c = 0; c < NC; ++c) {
                float* m = acc_mem + (j * NC + c) * 8;
                _mm256_storeu_ps(m, _mm256_add_ps(_mm256_loadu_ps(m), acc[j][c]));
              }
          }
        }
      }
    }
  }
}

using TaskFn = void (*)(const ConvGeometry&, const Layout&, const float*, const float*,
                        std::int64_t, std::int64_t, std::int64_t, float*);

template <int CO>
TaskFn pick_cols(int nc) {
  switch (nc) {
    case 1:
      return task<CO, 1>;
    case 2:
      return task<CO, 2>;
    case 3:
      return task<CO, 3>;
    case 4:
      return task<CO, 4>;
    default:
      return task<CO, 5>;
  }
}

// ---- variant B: vectorised over 16 output channels, input values broadcast ----
// dyb[n][cb][od][q][16] = dy[n, 16 cb + j, od, oh, ow] at q = oh * wp + ow (ow < out_w); zero in
// the row gap, beyond q and for channels >= cout.
constexpr std::int64_t kCoBlock = 16;
constexpr std::int64_t kChunkB = 256;

void pack_dy_blocked(const ConvGeometry& g, const Layout& L, const float* dy, std::int64_t ys,
                     float* dyb) {
  const std::int64_t ncb = (g.cout + kCoBlock - 1) / kCoBlock;
  parallel_for(g.n * ncb * g.out[0], 1, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      const std::int64_t od = r % g.out[0], cb = (r / g.out[0]) % ncb, n = r / (g.out[0] * ncb);
      float* dst = dyb + r * L.qp * kCoBlock;
      std::memset(dst, 0, static_cast<std::size_t>(L.qp * kCoBlock) * sizeof(float));
      for (std::int64_t j = 0; j < kCoBlock && cb * kCoBlock + j < g.cout; ++j) {
        const float* src =
            dy + n * ys + (cb * kCoBlock + j) * g.out_plane() + od * g.out[1] * g.out[2];
        for (std::int64_t oh = 0; oh < g.out[1]; ++oh)
          for (std::int64_t ow = 0; ow < g.out[2]; ++ow)
            dst[(oh * L.wp + ow) * kCoBlock + j] = src[oh * g.out[2] + ow];
      }
    }
  });
}

// One task: output channels 16 cb .. 16 cb + 15, input channel ci, kernel columns c0 .. c0+NC-1.
// part: kd * kh * NC * 16 sums (zeroed by the caller), channel innermost.
template <int NC>
__attribute__((target("avx2,fma"))) void task_b(const ConvGeometry& g, const Layout& L,
                                                const float* xp, const float* dyb, std::int64_t cb,
                                                std::int64_t ci, std::int64_t c0, float* part) {
  const std::int64_t kd = g.k[0], kh = g.k[1];
  const std::int64_t ncb = (g.cout + kCoBlock - 1) / kCoBlock;
  for (std::int64_t n = 0; n < g.n; ++n) {
    const float* xc = xp + (n * g.cin + ci) * L.x_ci + c0;
    for (std::int64_t od = 0; od < g.out[0]; ++od) {
      const float* dyp = dyb + ((n * ncb + cb) * g.out[0] + od) * L.qp * kCoBlock;
      for (std::int64_t q0 = 0; q0 < L.q; q0 += kChunkB) {
        const std::int64_t len = std::min(kChunkB, L.q - q0);
        const float* dq = dyp + q0 * kCoBlock;
        for (std::int64_t a = 0; a < kd; ++a) {
          for (std::int64_t b = 0; b < kh; ++b) {
            const float* xr = xc + (od + a) * L.plane + b * L.wp + q0;
            float* acc_mem = part + (a * kh + b) * NC * kCoBlock;
            __m256 lo[NC], hi[NC];
            for (int c = 0; c < NC; ++c) lo[c] = hi[c] = _mm256_setzero_ps();
            for (std::int64_t q = 0; q < len; ++q) {
              const __m256 d0 = _mm256_loadu_ps(dq + q * kCoBlock);
              const __m256 d1 = _mm256_loadu_ps(dq + q * kCoBlock + 8);
              for (int c = 0; c < NC; ++c) {
                const __m256 xv = _mm256_broadcast_ss(xr + q + c);
                lo[c] = _mm256_fmadd_ps(d0, xv, lo[c]);
                hi[c] = _mm256_fmadd_ps(d1, xv, hi[c]);
              }
            }
            for (int c = 0; c < NC; ++c) {
              float* m = acc_mem + c * kCoBlock;
              _mm256_storeu_ps(m, _mm256_add_ps(_mm256_loadu_ps(m), lo[c]));
              _mm256_storeu_ps(m + 8, _mm256_add_ps(_mm256_loadu_ps(m + 8), hi[c]));
            }
          }
        }
      }
    }
  }
}

using TaskBFn = void (*)(const ConvGeometry&, const Layout&, const float*, const float*,
                         std::int64_t, std::int64_t, std::int64_t, float*);

TaskBFn pick_cols_b(int nc) {
  switch (nc) {
    case 1:
      return task_b<1>;
    case 2:
      return task_b<2>;
    case 3:
      return task_b<3>;
    case 4:
      return task_b<4>;
    default:
      return task_b<5>;
  }
}

void backward_filter_a(const ConvGeometry& g, const Layout& L, const float* xp, const float* dy,
                       std::int64_t ys, float* dw, bool accumulate) {
  std::vector<float> dyp(static_cast<std::size_t>(g.n * g.cout * g.out[0] * L.qp));
  const ScopedWorkspace counted(static_cast<std::int64_t>(sizeof(float) * dyp.size()));
  pack_dy(g, L, dy, ys, dyp.data());

  const std::int64_t kd = g.k[0], kh = g.k[1], kw = g.k[2];
  const std::int64_t co_blocks = (g.cout + 1) / 2, col_blocks = (kw + kMaxCols - 1) / kMaxCols;
  const std::int64_t tasks = co_blocks * g.cin * col_blocks;
  parallel_for(tasks, 1, [&](std::int64_t t0, std::int64_t t1) {
    std::vector<float> part(static_cast<std::size_t>(kd * kh * 2 * kMaxCols * kLanes));
    const ScopedWorkspace counted_part(static_cast<std::int64_t>(sizeof(float) * part.size()));
    for (std::int64_t t = t0; t < t1; ++t) {
      const std::int64_t cb = t % col_blocks, ci = (t / col_blocks) % g.cin;
      const std::int64_t co0 = 2 * (t / (col_blocks * g.cin));
      const std::int64_t c0 = cb * kMaxCols;
      const int nc = static_cast<int>(std::min<std::int64_t>(kMaxCols, kw - c0));
      const int nco = static_cast<int>(std::min<std::int64_t>(2, g.cout - co0));
      std::fill(part.begin(), part.end(), 0.f);
      const TaskFn fn = nco == 2 ? pick_cols<2>(nc) : pick_cols<1>(nc);
      fn(g, L, xp, dyp.data(), co0, ci, c0, part.data());
      // Horizontal sums into dw[co, ci, a, b, c0 + c].
      for (int j = 0; j < nco; ++j)
        for (std::int64_t a = 0; a < kd; ++a)
          for (std::int64_t b = 0; b < kh; ++b)
            for (int c = 0; c < nc; ++c) {
              const float* v = part.data() + (((a * kh + b) * nco + j) * nc + c) * kLanes;
              float sum = 0;
              for (std::int64_t l = 0; l < kLanes; ++l) sum += v[l];
              float& out = dw[(((co0 + j) * g.cin + ci) * kd + a) * kh * kw + b * kw + c0 + c];
              out = accumulate ? out + sum : sum;
            }
    }
  });
}

void backward_filter_b(const ConvGeometry& g, const Layout& L, const float* xp, const float* dy,
                       std::int64_t ys, float* dw, bool accumulate) {
  const std::int64_t ncb = (g.cout + kCoBlock - 1) / kCoBlock;
  std::vector<float> dyb(static_cast<std::size_t>(g.n * ncb * g.out[0] * L.qp * kCoBlock));
  const ScopedWorkspace counted(static_cast<std::int64_t>(sizeof(float) * dyb.size()));
  pack_dy_blocked(g, L, dy, ys, dyb.data());
  const std::int64_t kd = g.k[0], kh = g.k[1], kw = g.k[2];
  const std::int64_t col_blocks = (kw + kMaxCols - 1) / kMaxCols;
  const std::int64_t tasks = ncb * g.cin * col_blocks;
  parallel_for(tasks, 1, [&](std::int64_t t0, std::int64_t t1) {
    std::vector<float> part(static_cast<std::size_t>(kd * kh * kMaxCols * kCoBlock));
    const ScopedWorkspace counted_part(static_cast<std::int64_t>(sizeof(float) * part.size()));
    for (std::int64_t t = t0; t < t1; ++t) {
      const std::int64_t colb = t % col_blocks, ci = (t / col_blocks) % g.cin;
      const std::int64_t cb = t / (col_blocks * g.cin), c0 = colb * kMaxCols;
      const int nc = static_cast<int>(std::min<std::int64_t>(kMaxCols, kw - c0));
      std::fill(part.begin(), part.end(), 0.f);
      pick_cols_b(nc)(g, L, xp, dyb.data(), cb, ci, c0, part.data());
      for (std::int64_t j = 0; j < kCoBlock && cb * kCoBlock + j < g.cout; ++j)
        for (std::int64_t ab = 0; ab < kd * kh; ++ab)
          for (int c = 0; c < nc; ++c) {
            const float sum = part[static_cast<std::size_t>((ab * nc + c) * kCoBlock + j)];
            float& out = dw[((cb * kCoBlock + j) * g.cin + ci) * kd * kh * kw + ab * kw + c0 + c];
            out = accumulate ? out + sum : sum;
          }
    }
  });
}

#endif  // __x86_64__

}  // namespace

bool supports(const ConvGeometry& g) {
#if defined(__x86_64__)
  bool wide = false;
  for (int a = 0; a < 3; ++a) {
    if (g.stride[a] != 1) return false;
    wide = wide || g.k[a] > 1;
  }
  return wide && cpu_has_avx2_fma();
#else
  (void)g;
  return false;
#endif
}

void conv_backward_filter(const ConvGeometry& g, const float* x, const float* dy, float* dw,
                          float* dbias, bool accumulate, ConvStrides s, Variant chosen) {
#if defined(__x86_64__)
  const Layout L(g);
  const std::int64_t xs = s.x ? s.x : g.cin * g.in_plane();
  const std::int64_t ys = s.y ? s.y : g.cout * g.out_plane();
  std::vector<float> xp(static_cast<std::size_t>(g.n * g.cin * L.x_ci));
  const ScopedWorkspace counted(static_cast<std::int64_t>(sizeof(float) * xp.size()));
  pack_x(g, L, x, xs, xp.data());
  if (chosen == Variant::channel_lanes || (chosen == Variant::automatic && g.cout >= 12))
    backward_filter_b(g, L, xp.data(), dy, ys, dw, accumulate);
  else
    backward_filter_a(g, L, xp.data(), dy, ys, dw, accumulate);
  if (dbias) cpu::channel_sum(g, dy, dbias, accumulate, s);
#else
  (void)g, (void)x, (void)dy, (void)dw, (void)dbias, (void)accumulate, (void)s, (void)chosen;
  DDNET_FAIL("direct_wgrad: this CPU has no AVX2/FMA path");
#endif
}

}  // namespace ddnet::kernels::cpu_conv::direct_wgrad
