// Tiled FFT convolutions for the CPU, in float or double precision (see fft.h).
#include "kernels/cpu_conv/fft.h"

#include "generated/ddnet_config.h"
#include "kernels/cpu_features.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#if DDNET_WITH_FFTW
#include <fftw3.h>
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "engine/error.h"
#include "engine/parallel.h"
#include "engine/workspace.h"

namespace ddnet::kernels::cpu_conv::fft {

namespace {

// ---- the cost model: single-thread nanoseconds per unit of work. The constants were fitted to
// one machine's measurements (the products and the spectra's re-layout are bound by memory
// bandwidth: float spectra move half the bytes); the fit and how to redo it on another machine
// are in bench/results/cpu-conv-cost-model.md. ----
struct Costs {
  double fft;   // per fvol * log2(fvol) of one r2c or c2r transform
  double move;  // per sample gathered or scattered, per bin re-laid
  double cmac;  // per complex multiply-add
};
constexpr Costs kCostsF64{0.4, 0.3, 0.6};
constexpr Costs kCostsF32{0.35, 0.2, 0.3};
constexpr double kDirectNs = 0.027;       // per real multiply-add of a direct float32 convolution
constexpr double kMargin = 0.8;           // automatic mode: FFT only below this share of direct
constexpr std::int64_t kMaxF = 96;        // largest transform extent considered per axis
constexpr std::int64_t kBB = 8;           // bins per block of the bin-blocked spectra
constexpr std::int64_t kEntry = 2 * kBB;  // values per entity per block: 8 re, then 8 im
constexpr std::size_t kGroupBytes = std::size_t{64} << 20;    // tile spectra held at once
constexpr std::size_t kWeightBytes = std::size_t{256} << 20;  // cap on the weight spectra

std::size_t value_bytes(Precision p) {
  return p == Precision::f32 ? sizeof(float) : sizeof(double);
}

bool smooth(std::int64_t v) {  // a product of 2, 3, 5 and 7: FFTW's fast sizes
  for (std::int64_t p : {2, 3, 5, 7})
    while (v % p == 0) v /= p;
  return v == 1;
}

std::int64_t ceil_div(std::int64_t a, std::int64_t b) {
  return (a + b - 1) / b;
}

struct Dims {
  std::int64_t f[3];
  std::int64_t fvol() const { return f[0] * f[1] * f[2]; }
  std::int64_t bins() const { return f[0] * f[1] * (f[2] / 2 + 1); }
  std::int64_t padded_bins() const { return ceil_div(bins(), kBB) * kBB; }
};

double transform_ns(const Costs& c, std::int64_t fvol, std::int64_t bins) {
  const double v = static_cast<double>(fvol);
  return c.fft * v * std::log2(std::max(v, 2.0)) + c.move * (v + static_cast<double>(bins));
}

// The extent a pass writes per axis: the output for forward and weight gradient, the input for
// the data gradient.
const std::int64_t* written(const ConvGeometry& g, Pass p) {
  return p == Pass::backward_data ? g.in : g.out;
}

Tiling search(const ConvGeometry& g, Pass p, Precision prec, std::int64_t cap) {
  const Costs& c = prec == Precision::f32 ? kCostsF32 : kCostsF64;
  const std::int64_t* ext = written(g, p);
  std::vector<std::int64_t> cand[3];
  for (int a = 0; a < 3; ++a) {
    const std::int64_t last = cap > 0 ? std::min(cap, ext[a]) : ext[a];
    for (std::int64_t t = 1; t <= last; ++t) {
      const std::int64_t f = t + g.k[a] - 1;
      if (f > kMaxF && t > 1) break;
      if (t == 1 || smooth(f) || t == last) cand[a].push_back(t);
    }
  }
  const double pairs = static_cast<double>(g.cin * g.cout);
  // Transforms per tile: forward cin in, cout out; data gradient cout in, cin out; weight
  // gradient cin + cout in (the cin * cout inverses happen once, at the end).
  const double per_tile_transforms = static_cast<double>(g.cin + g.cout);
  Tiling best;
  best.cost_ns = std::numeric_limits<double>::infinity();
  for (std::int64_t t0 : cand[0])
    for (std::int64_t t1 : cand[1])
      for (std::int64_t t2 : cand[2]) {
        const Dims d{{t0 + g.k[0] - 1, t1 + g.k[1] - 1, t2 + g.k[2] - 1}};
        const double nbp = static_cast<double>(d.padded_bins());
        const double tiles = static_cast<double>(g.n * ceil_div(ext[0], t0) * ceil_div(ext[1], t1) *
                                                 ceil_div(ext[2], t2));
        const double xf = transform_ns(c, d.fvol(), d.bins());
        double cost = tiles * (per_tile_transforms * xf + c.cmac * nbp * pairs) + pairs * xf;
        // The weight spectra (or weight-gradient sums) are read once per group of tiles.
        const double wbytes = pairs * nbp * 2.0 * static_cast<double>(value_bytes(prec));
        if (wbytes > static_cast<double>(kWeightBytes)) cost *= 1e3;  // over the cap: last resort
        if (cost < best.cost_ns) {
          best.cost_ns = cost;
          best.t[0] = t0, best.t[1] = t1, best.t[2] = t2;
          for (int a = 0; a < 3; ++a) best.f[a] = d.f[a];
        }
      }
  best.direct_ns =
      kDirectNs * static_cast<double>(g.n * g.out_plane()) * pairs * static_cast<double>(g.kvol());
  return best;
}

std::mutex& cache_mutex() {
  static std::mutex m;
  return m;
}

}  // namespace

bool supports(const ConvGeometry& g) {
#if DDNET_WITH_FFTW
  bool wide = false;
  for (int a = 0; a < 3; ++a) {
    if (g.stride[a] != 1) return false;
    wide = wide || g.k[a] > 1;
  }
  return wide;
#else
  (void)g;
  return false;
#endif
}

Tiling tiling(const ConvGeometry& g, Pass p, const Config& c) {
  using Key = std::tuple<int, int, std::int64_t, std::string>;
  static std::map<Key, Tiling> cache;
  const Precision prec = c.fft_precision;
  const Key key{static_cast<int>(p), static_cast<int>(prec), c.fft_max_tile, g.str()};
  {
    std::lock_guard<std::mutex> lock(cache_mutex());
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
  }
  const Tiling t = search(g, p, prec, c.fft_max_tile);
  std::lock_guard<std::mutex> lock(cache_mutex());
  return cache.emplace(key, t).first->second;
}

bool chosen(const ConvGeometry& g, Pass p, const Config& c) {
  const Mode m = c.fft;
  if (m == Mode::never || !supports(g)) return false;
  if (m == Mode::always) return true;
  const Tiling t = tiling(g, p, c);
  return t.cost_ns < kMargin * t.direct_ns;
}

#if DDNET_WITH_FFTW

namespace {

// ---- FFTW in both precisions (fftw_* and fftwf_*), behind one interface ----
template <class R>
struct Fftw;
template <>
struct Fftw<double> {
  using Plan = fftw_plan;
  using Complex = fftw_complex;
  static double* alloc_real(std::size_t n) { return fftw_alloc_real(n); }
  static Complex* alloc_complex(std::size_t n) { return fftw_alloc_complex(n); }
  static void free(void* p) { fftw_free(p); }
  static Plan plan_r2c(const int n[3], double* in, Complex* out) {
    return fftw_plan_dft_r2c_3d(n[0], n[1], n[2], in, out, FFTW_ESTIMATE);
  }
  static Plan plan_c2r(const int n[3], Complex* in, double* out) {
    return fftw_plan_dft_c2r_3d(n[0], n[1], n[2], in, out, FFTW_ESTIMATE | FFTW_DESTROY_INPUT);
  }
  static void r2c(Plan p, double* in, Complex* out) { fftw_execute_dft_r2c(p, in, out); }
  static void c2r(Plan p, Complex* in, double* out) { fftw_execute_dft_c2r(p, in, out); }
  static void destroy(Plan p) { fftw_destroy_plan(p); }
  static void cleanup() { fftw_cleanup(); }
};
template <>
struct Fftw<float> {
  using Plan = fftwf_plan;
  using Complex = fftwf_complex;
  static float* alloc_real(std::size_t n) { return fftwf_alloc_real(n); }
  static Complex* alloc_complex(std::size_t n) { return fftwf_alloc_complex(n); }
  static void free(void* p) { fftwf_free(p); }
  static Plan plan_r2c(const int n[3], float* in, Complex* out) {
    return fftwf_plan_dft_r2c_3d(n[0], n[1], n[2], in, out, FFTW_ESTIMATE);
  }
  static Plan plan_c2r(const int n[3], Complex* in, float* out) {
    return fftwf_plan_dft_c2r_3d(n[0], n[1], n[2], in, out, FFTW_ESTIMATE | FFTW_DESTROY_INPUT);
  }
  static void r2c(Plan p, float* in, Complex* out) { fftwf_execute_dft_r2c(p, in, out); }
  static void c2r(Plan p, Complex* in, float* out) { fftwf_execute_dft_c2r(p, in, out); }
  static void destroy(Plan p) { fftwf_destroy_plan(p); }
  static void cleanup() { fftwf_cleanup(); }
};

// ---- FFTW plans, made once per transform size (the planner is not thread-safe; executing a
// plan on other arrays of the same alignment is) ----
template <class R>
struct Plans {
  typename Fftw<R>::Plan r2c = nullptr, c2r = nullptr;
};

// The plans, destroyed at exit together with FFTW's planner state (which the leak checker would
// otherwise report: FFTW keeps it where no pointer of ours reaches).
template <class R>
struct PlanCache {
  std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t>, Plans<R>> plans;
  PlanCache() = default;
  PlanCache(const PlanCache&) = delete;
  PlanCache& operator=(const PlanCache&) = delete;
  ~PlanCache() {
    for (auto& kv : plans) {
      Fftw<R>::destroy(kv.second.r2c);
      Fftw<R>::destroy(kv.second.c2r);
    }
    Fftw<R>::cleanup();
  }
};

template <class R>
const Plans<R>& plans_for(const Dims& d) {
  using F = Fftw<R>;
  static PlanCache<R> pc;
  auto& cache = pc.plans;
  std::lock_guard<std::mutex> lock(cache_mutex());
  const auto key = std::make_tuple(d.f[0], d.f[1], d.f[2]);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  R* re = F::alloc_real(static_cast<std::size_t>(d.fvol()));
  typename F::Complex* c = F::alloc_complex(static_cast<std::size_t>(d.bins()));
  const int n[3] = {static_cast<int>(d.f[0]), static_cast<int>(d.f[1]), static_cast<int>(d.f[2])};
  Plans<R> p;
  if (re && c) {
    p.r2c = F::plan_r2c(n, re, c);
    p.c2r = F::plan_c2r(n, c, re);
  }
  F::free(re);
  F::free(c);
  DDNET_CHECK(p.r2c && p.c2r, "conv fft: FFTW could not plan a ", d.f[0], "x", d.f[1], "x", d.f[2],
              " transform");
  return cache.emplace(key, p).first->second;
}

// Bin-blocked spectra: entity e's bins [8 b, 8 b + 8) at data[(b * entities + e) * 16], 8 real
// parts then 8 imaginary parts (64 bytes in float, one cache line); the padding bins past the
// transform's are zero. A view into a workspace buffer that grows as needed and is kept between
// calls (per calling thread), so that a training step does not fault in fresh pages for every
// convolution.
template <class R>
struct Spectra {
  std::int64_t entities = 0, blocks = 0;
  R* data = nullptr;
  Spectra(std::vector<R>& buffer, std::int64_t e, const Dims& d)
      : entities(e), blocks(d.padded_bins() / kBB) {
    const auto need = static_cast<std::size_t>(e * blocks * kEntry);
    if (buffer.size() < need) {  // grown for good: counted as workspace while the thread lives
      workspace_acquired(static_cast<std::int64_t>(sizeof(R) * (need - buffer.size())));
      buffer.resize(need);
    }
    data = buffer.data();
  }
  R* block(std::int64_t b) { return data + b * entities * kEntry; }
  const R* block(std::int64_t b) const { return data + b * entities * kEntry; }
};

template <class R>
struct Workspace {
  std::vector<R> weights, in, out;
};
template <class R>
Workspace<R>& workspace() {
  thread_local Workspace<R> w;
  return w;
}

// Transforms handled per batch by one thread: their bins of one block are one contiguous run of
// the spectra (entities are consecutive), so the transposition writes whole cache lines and
// touches few pages.
constexpr std::int64_t kBatch = 8;

// One thread's transform buffers (FFTW's allocation: the alignment the plans were made with),
// kept for the thread's life and grown as needed: freeing them per call made glibc return the
// pages and fault them in again.
template <class R>
struct Scratch {
  using F = Fftw<R>;
  R* real = nullptr;
  typename F::Complex* cplx[kBatch] = {};
  std::int64_t bins = 0, cap_real = 0, cap_bins = 0;
  std::int64_t counted = 0;  // bytes counted as workspace
  Scratch() = default;
  ~Scratch() {
    release();
    workspace_released(counted);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  void release() {
    F::free(real);
    real = nullptr;
    for (auto*& c : cplx) {
      F::free(c);
      c = nullptr;
    }
  }
  void ensure(const Dims& d) {
    bins = d.bins();
    if (d.fvol() <= cap_real && bins <= cap_bins) return;
    release();
    workspace_released(counted);
    cap_real = std::max(cap_real, d.fvol());
    cap_bins = std::max(cap_bins, bins);
    counted = static_cast<std::int64_t>(sizeof(R) * cap_real +
                                        sizeof(typename F::Complex) * cap_bins * kBatch);
    workspace_acquired(counted);
    real = F::alloc_real(static_cast<std::size_t>(cap_real));
    bool ok = real != nullptr;
    for (auto& c : cplx) ok = ok && (c = F::alloc_complex(static_cast<std::size_t>(cap_bins)));
    DDNET_CHECK(ok, "conv fft: out of memory for ", d.fvol(), "-sample transforms");
  }
};
template <class R>
Scratch<R>& scratch(const Dims& d) {
  thread_local Scratch<R> s;
  s.ensure(d);
  return s;
}

// Entities [0, count) of s: fill(e, box) writes entity e's real box (d's extents), which is
// transformed and stored.
template <class R, class Fill>
void transform_in(std::int64_t count, const Dims& d, const Plans<R>& pl, Spectra<R>& s,
                  Fill&& fill) {
  parallel_for(ceil_div(count, kBatch), 1, [&](std::int64_t b0, std::int64_t b1) {
    Scratch<R>& sc = scratch<R>(d);
    for (std::int64_t b = b0; b < b1; ++b) {
      const std::int64_t e0 = b * kBatch, ne = std::min(kBatch, count - e0);
      for (std::int64_t j = 0; j < ne; ++j) {
        fill(e0 + j, sc.real);
        Fftw<R>::r2c(pl.r2c, sc.real, sc.cplx[j]);
      }
      for (std::int64_t blk = 0; blk < s.blocks; ++blk) {
        R* out = s.block(blk) + e0 * kEntry;
        const std::int64_t f0 = blk * kBB, nf = std::min(kBB, sc.bins - f0);
        for (std::int64_t j = 0; j < ne; ++j, out += kEntry) {
          const auto* c = sc.cplx[j] + f0;
          for (std::int64_t v = 0; v < nf; ++v) {
            out[v] = c[v][0];
            out[kBB + v] = c[v][1];
          }
          for (std::int64_t v = std::max<std::int64_t>(nf, 0); v < kBB; ++v)
            out[v] = out[kBB + v] = R(0);
        }
      }
    }
  });
}

// Entities [0, count) of s, inverse transformed: emit(e, box) gets entity e's real box, not
// yet divided by the transform's size.
template <class R, class Emit>
void transform_out(std::int64_t count, const Dims& d, const Plans<R>& pl, const Spectra<R>& s,
                   Emit&& emit) {
  parallel_for(ceil_div(count, kBatch), 1, [&](std::int64_t b0, std::int64_t b1) {
    Scratch<R>& sc = scratch<R>(d);
    for (std::int64_t b = b0; b < b1; ++b) {
      const std::int64_t e0 = b * kBatch, ne = std::min(kBatch, count - e0);
      for (std::int64_t blk = 0; blk < s.blocks; ++blk) {
        const R* in = s.block(blk) + e0 * kEntry;
        const std::int64_t f0 = blk * kBB, nf = std::min(kBB, sc.bins - f0);
        for (std::int64_t j = 0; j < ne; ++j, in += kEntry) {
          auto* c = sc.cplx[j] + f0;
          for (std::int64_t v = 0; v < nf; ++v) {
            c[v][0] = in[v];
            c[v][1] = in[kBB + v];
          }
        }
      }
      for (std::int64_t j = 0; j < ne; ++j) {
        Fftw<R>::c2r(pl.c2r, sc.cplx[j], sc.real);
        emit(e0 + j, static_cast<const R*>(sc.real));
      }
    }
  });
}

// A box of samples on each axis: positions origin + j of a volume of extent ext, for
// j in [0, count), clipped to the volume.
struct Box {
  std::int64_t origin[3], count[3];
};

// dst (the transform box, zero elsewhere) [j] = src[origin + j] inside the box and the volume.
// Every sample of dst is written once (the buffer is reused between transforms).
template <class R>
void gather(const float* src, const std::int64_t ext[3], const Box& b, const Dims& d, R* dst) {
  std::int64_t lo[3], hi[3];
  for (int a = 0; a < 3; ++a) {
    lo[a] = std::max<std::int64_t>(0, -b.origin[a]);
    hi[a] = std::max(lo[a], std::min(b.count[a], ext[a] - b.origin[a]));
  }
  const std::int64_t row = d.f[2], plane = d.f[1] * d.f[2];
  for (std::int64_t jd = 0; jd < d.f[0]; ++jd) {
    R* p = dst + jd * plane;
    if (jd < lo[0] || jd >= hi[0] || hi[1] <= lo[1] || hi[2] <= lo[2]) {
      std::fill(p, p + plane, R(0));
      continue;
    }
    std::fill(p, p + lo[1] * row, R(0));
    for (std::int64_t jh = lo[1]; jh < hi[1]; ++jh) {
      R* __restrict o = p + jh * row;
      const float* __restrict s =
          src + ((b.origin[0] + jd) * ext[1] + b.origin[1] + jh) * ext[2] + b.origin[2];
      std::fill(o, o + lo[2], R(0));
      for (std::int64_t jw = lo[2]; jw < hi[2]; ++jw) o[jw] = static_cast<R>(s[jw]);
      std::fill(o + hi[2], o + row, R(0));
    }
    std::fill(p + hi[1] * row, p + plane, R(0));
  }
}

// dst[origin + j] (+)= c[offset + j] * scale + add, inside the box and the volume.
template <class R>
void scatter(const R* c, const Dims& d, const std::int64_t offset[3], double scale, double add,
             float* dst, const std::int64_t ext[3], const Box& b, bool accumulate) {
  std::int64_t lo[3], hi[3];
  for (int a = 0; a < 3; ++a) {
    lo[a] = std::max<std::int64_t>(0, -b.origin[a]);
    hi[a] = std::min(b.count[a], ext[a] - b.origin[a]);
    if (hi[a] <= lo[a]) return;
  }
  for (std::int64_t jd = lo[0]; jd < hi[0]; ++jd)
    for (std::int64_t jh = lo[1]; jh < hi[1]; ++jh) {
      float* o = dst + ((b.origin[0] + jd) * ext[1] + b.origin[1] + jh) * ext[2] + b.origin[2];
      const R* s = c + ((offset[0] + jd) * d.f[1] + offset[1] + jh) * d.f[2] + offset[2];
      for (std::int64_t jw = lo[2]; jw < hi[2]; ++jw) {
        const double v = static_cast<double>(s[jw]) * scale + add;
        o[jw] = static_cast<float>(accumulate ? static_cast<double>(o[jw]) + v : v);
      }
    }
}

// ---- per-bin complex matrix products over bin-blocked spectra ----
// C(i, j) (+)= sum_l op(A(i, l)) * op(B(l, j)) for every bin, where op conjugates when CA / CB.
// Entity (i, l) of A is i * si + l * sl, and likewise for B and C.
template <class R>
struct Operand {
  const Spectra<R>* s;
  std::int64_t si, sl;
};
template <class R>
struct Product {
  std::int64_t I, J, L;
  Operand<R> a, b;  // b's (si, sl) are its (l, j) strides
  Spectra<R>* c;
  std::int64_t ci, cj;
};

template <class R, bool CA, bool CB>
void product_block_scalar(const Product<R>& p, std::int64_t blk, bool accumulate) {
  const R* A = p.a.s->block(blk);
  const R* B = p.b.s->block(blk);
  R* C = p.c->block(blk);
  const R sa = CA ? R(-1) : R(1), sb = CB ? R(-1) : R(1);
  for (std::int64_t i = 0; i < p.I; ++i)
    for (std::int64_t j = 0; j < p.J; ++j) {
      R re[kBB] = {}, im[kBB] = {};
      for (std::int64_t l = 0; l < p.L; ++l) {
        const R* a = A + (i * p.a.si + l * p.a.sl) * kEntry;
        const R* b = B + (l * p.b.si + j * p.b.sl) * kEntry;
        for (std::int64_t v = 0; v < kBB; ++v) {
          const R ar = a[v], ai = sa * a[kBB + v], br = b[v], bi = sb * b[kBB + v];
          re[v] += ar * br - ai * bi;
          im[v] += ar * bi + ai * br;
        }
      }
      R* c = C + (i * p.ci + j * p.cj) * kEntry;
      for (std::int64_t v = 0; v < kBB; ++v) {
        c[v] = accumulate ? c[v] + re[v] : re[v];
        c[kBB + v] = accumulate ? c[kBB + v] + im[v] : im[v];
      }
    }
}

#if defined(__x86_64__)

// AVX2 vectors of either precision: a block's 8 bins are two double vectors or one float vector.
template <class R>
struct Avx;
template <>
struct Avx<double> {
  using V = __m256d;
  static constexpr int kLanes = 4;
  __attribute__((target("avx2,fma"))) static V zero() { return _mm256_setzero_pd(); }
  __attribute__((target("avx2,fma"))) static V load(const double* p) { return _mm256_loadu_pd(p); }
  __attribute__((target("avx2,fma"))) static void store(double* p, V v) { _mm256_storeu_pd(p, v); }
  __attribute__((target("avx2,fma"))) static V add(V a, V b) { return _mm256_add_pd(a, b); }
  __attribute__((target("avx2,fma"))) static V fmadd(V a, V b, V c) {
    return _mm256_fmadd_pd(a, b, c);
  }
  __attribute__((target("avx2,fma"))) static V fnmadd(V a, V b, V c) {
    return _mm256_fnmadd_pd(a, b, c);
  }
};
template <>
struct Avx<float> {
  using V = __m256;
  static constexpr int kLanes = 8;
  __attribute__((target("avx2,fma"))) static V zero() { return _mm256_setzero_ps(); }
  __attribute__((target("avx2,fma"))) static V load(const float* p) { return _mm256_loadu_ps(p); }
  __attribute__((target("avx2,fma"))) static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  __attribute__((target("avx2,fma"))) static V add(V a, V b) { return _mm256_add_ps(a, b); }
  __attribute__((target("avx2,fma"))) static V fmadd(V a, V b, V c) {
    return _mm256_fmadd_ps(a, b, c);
  }
  __attribute__((target("avx2,fma"))) static V fnmadd(V a, V b, V c) {
    return _mm256_fnmadd_ps(a, b, c);
  }
};

// JN outputs j0 .. j0 + JN - 1 of row i, one vector of bins at a time.
template <class R, bool CA, bool CB, int JN>
__attribute__((target("avx2,fma"))) void product_row(const Product<R>& p, const R* A, const R* B,
                                                     R* C, std::int64_t i, std::int64_t j0,
                                                     bool accumulate) {
  using S = Avx<R>;
  using V = typename S::V;
  for (int h = 0; h < kBB; h += S::kLanes) {
    V cr[JN], cm[JN];
    for (int jj = 0; jj < JN; ++jj) cr[jj] = cm[jj] = S::zero();
    for (std::int64_t l = 0; l < p.L; ++l) {
      const R* a = A + (i * p.a.si + l * p.a.sl) * kEntry + h;
      const V ar = S::load(a), ai = S::load(a + kBB);
      for (int jj = 0; jj < JN; ++jj) {
        const R* b = B + (l * p.b.si + (j0 + jj) * p.b.sl) * kEntry + h;
        const V br = S::load(b), bi = S::load(b + kBB);
        // (ar + i sa ai)(br + i sb bi) = ar br - sa sb ai bi + i (sb ar bi + sa ai br)
        cr[jj] = S::fmadd(ar, br, cr[jj]);
        cr[jj] = CA != CB ? S::fmadd(ai, bi, cr[jj]) : S::fnmadd(ai, bi, cr[jj]);
        cm[jj] = CB ? S::fnmadd(ar, bi, cm[jj]) : S::fmadd(ar, bi, cm[jj]);
        cm[jj] = CA ? S::fnmadd(ai, br, cm[jj]) : S::fmadd(ai, br, cm[jj]);
      }
    }
    for (int jj = 0; jj < JN; ++jj) {
      R* c = C + (i * p.ci + (j0 + jj) * p.cj) * kEntry + h;
      if (accumulate) {
        cr[jj] = S::add(cr[jj], S::load(c));
        cm[jj] = S::add(cm[jj], S::load(c + kBB));
      }
      S::store(c, cr[jj]);
      S::store(c + kBB, cm[jj]);
    }
  }
}

template <class R, bool CA, bool CB>
void product_block_avx2(const Product<R>& p, std::int64_t blk, bool accumulate) {
  const R* A = p.a.s->block(blk);
  const R* B = p.b.s->block(blk);
  R* C = p.c->block(blk);
  // j blocks outermost: the B entries of 4 columns stay in L1 while every row i streams past
  // them.
  std::int64_t j = 0;
  for (; j + 4 <= p.J; j += 4)
    for (std::int64_t i = 0; i < p.I; ++i) product_row<R, CA, CB, 4>(p, A, B, C, i, j, accumulate);
  for (std::int64_t i = 0; i < p.I; ++i) {
    switch (p.J - j) {
      case 3:
        product_row<R, CA, CB, 3>(p, A, B, C, i, j, accumulate);
        break;
      case 2:
        product_row<R, CA, CB, 2>(p, A, B, C, i, j, accumulate);
        break;
      case 1:
        product_row<R, CA, CB, 1>(p, A, B, C, i, j, accumulate);
        break;
      default:
        break;
    }
  }
}
#endif  // __x86_64__

template <class R, bool CA, bool CB>
void product(const Product<R>& p, bool accumulate) {
  parallel_for(p.c->blocks, 1, [&](std::int64_t b0, std::int64_t b1) {
    for (std::int64_t b = b0; b < b1; ++b) {
#if defined(__x86_64__)
      if (cpu_has_avx2_fma()) {
        product_block_avx2<R, CA, CB>(p, b, accumulate);
        continue;
      }
#endif
      product_block_scalar<R, CA, CB>(p, b, accumulate);
    }
  });
}

// ---- tiles ----
struct Tiles {
  std::int64_t per_axis[3], per_sample, total;
  Tiles(const ConvGeometry& g, const std::int64_t ext[3], const Tiling& t) {
    for (int a = 0; a < 3; ++a) per_axis[a] = ceil_div(ext[a], t.t[a]);
    per_sample = per_axis[0] * per_axis[1] * per_axis[2];
    total = g.n * per_sample;
  }
  // Sample and the tile's first written position per axis.
  std::int64_t locate(std::int64_t tile, const Tiling& t, std::int64_t start[3]) const {
    const std::int64_t r = tile % per_sample;
    start[0] = r / (per_axis[1] * per_axis[2]) * t.t[0];
    start[1] = r / per_axis[2] % per_axis[1] * t.t[1];
    start[2] = r % per_axis[2] * t.t[2];
    return tile / per_sample;
  }
  // Tiles whose spectra (`entities` per tile, values of `bytes`) fit in kGroupBytes together;
  // at least one.
  std::int64_t group(std::int64_t entities, const Dims& d, std::size_t bytes) const {
    const std::size_t per = static_cast<std::size_t>(entities * d.padded_bins()) * 2 * bytes;
    return std::clamp<std::int64_t>(
        static_cast<std::int64_t>(kGroupBytes / std::max<std::size_t>(per, 1)), 1, total);
  }
};

// The weight spectra W[co, ci] (entity co * cin + ci): the kernel at the box's origin.
template <class R>
Spectra<R> weight_spectra(const ConvGeometry& g, const float* w, const Dims& d,
                          const Plans<R>& pl) {
  Spectra<R> s(workspace<R>().weights, g.cout * g.cin, d);
  const Box box{{0, 0, 0}, {g.k[0], g.k[1], g.k[2]}};
  transform_in(s.entities, d, pl, s,
               [&](std::int64_t e, R* real) { gather(w + e * g.kvol(), g.k, box, d, real); });
  return s;
}

// The shared setup of the three passes.
template <class R>
struct Setup {
  Tiling tl;
  Dims d;
  const Plans<R>* pl;
  std::int64_t xs, ys;
  double scale;
  Setup(const ConvGeometry& g, Pass p, ConvStrides st, const Config& c)
      : tl(tiling(g, p, c)),
        d{{tl.f[0], tl.f[1], tl.f[2]}},
        pl(&plans_for<R>(d)),
        xs(st.x ? st.x : g.cin * g.in_plane()),
        ys(st.y ? st.y : g.cout * g.out_plane()),
        scale(1.0 / static_cast<double>(d.fvol())) {
    DDNET_CHECK(supports(g), "conv fft: unsupported geometry ", g.str());
  }
  // Fills `real` with input channel ci of the padded input region that output tile `tile` reads
  // (forward and weight gradient).
  void gather_input(const ConvGeometry& g, const Tiles& tiles, std::int64_t tile, std::int64_t ci,
                    const float* x, R* real) const {
    std::int64_t o[3];
    const std::int64_t n = tiles.locate(tile, tl, o);
    const Box box{{o[0] - g.pad[0], o[1] - g.pad[1], o[2] - g.pad[2]}, {d.f[0], d.f[1], d.f[2]}};
    gather(x + n * xs + ci * g.in_plane(), g.in, box, d, real);
  }
};

template <class R>
void forward_impl(const ConvGeometry& g, const float* x, const float* w, const float* bias,
                  float* y, ConvStrides st, const Config& c) {
  const Setup<R> S(g, Pass::forward, st, c);
  const Dims& d = S.d;
  const Spectra<R> W = weight_spectra(g, w, d, *S.pl);
  const Tiles tiles(g, g.out, S.tl);
  const std::int64_t G = tiles.group(g.cin + g.cout, d, sizeof(R));
  const std::int64_t zero[3] = {0, 0, 0};
  for (std::int64_t t0 = 0; t0 < tiles.total; t0 += G) {
    const std::int64_t gn = std::min(G, tiles.total - t0);
    Spectra<R> X(workspace<R>().in, gn * g.cin, d), Y(workspace<R>().out, gn * g.cout, d);
    transform_in(gn * g.cin, d, *S.pl, X, [&](std::int64_t e, R* real) {
      S.gather_input(g, tiles, t0 + e / g.cin, e % g.cin, x, real);
    });
    // Y(t, co) = sum_ci X(t, ci) conj(W(co, ci))
    product<R, false, true>(
        Product<R>{gn, g.cout, g.cin, {&X, g.cin, 1}, {&W, 1, g.cin}, &Y, g.cout, 1}, false);
    transform_out(gn * g.cout, d, *S.pl, Y, [&](std::int64_t e, const R* real) {
      std::int64_t o[3];
      const std::int64_t n = tiles.locate(t0 + e / g.cout, S.tl, o), co = e % g.cout;
      const Box box{{o[0], o[1], o[2]}, {S.tl.t[0], S.tl.t[1], S.tl.t[2]}};
      scatter(real, d, zero, S.scale, bias ? static_cast<double>(bias[co]) : 0.0,
              y + n * S.ys + co * g.out_plane(), g.out, box, false);
    });
  }
}

template <class R>
void backward_data_impl(const ConvGeometry& g, const float* dy, const float* w, float* dx,
                        bool accumulate, ConvStrides st, const Config& c) {
  const Setup<R> S(g, Pass::backward_data, st, c);
  const Dims& d = S.d;
  const Spectra<R> W = weight_spectra(g, w, d, *S.pl);
  const Tiles tiles(g, g.in, S.tl);
  const std::int64_t G = tiles.group(g.cin + g.cout, d, sizeof(R));
  const std::int64_t offset[3] = {g.k[0] - 1, g.k[1] - 1, g.k[2] - 1};
  for (std::int64_t t0 = 0; t0 < tiles.total; t0 += G) {
    const std::int64_t gn = std::min(G, tiles.total - t0);
    Spectra<R> DY(workspace<R>().in, gn * g.cout, d), DX(workspace<R>().out, gn * g.cin, d);
    transform_in(gn * g.cout, d, *S.pl, DY, [&](std::int64_t e, R* real) {
      std::int64_t i[3];
      const std::int64_t n = tiles.locate(t0 + e / g.cout, S.tl, i);
      // dx at input position p (padded p + pad) sums w[m] dy[p + pad - m]: the dy region starts
      // k - 1 before the tile's first padded position.
      Box box{};
      for (int a = 0; a < 3; ++a) {
        box.origin[a] = i[a] + g.pad[a] - (g.k[a] - 1);
        box.count[a] = d.f[a];
      }
      gather(dy + n * S.ys + (e % g.cout) * g.out_plane(), g.out, box, d, real);
    });
    // DX(t, ci) = sum_co DY(t, co) W(co, ci)
    product<R, false, false>(
        Product<R>{gn, g.cin, g.cout, {&DY, g.cout, 1}, {&W, g.cin, 1}, &DX, g.cin, 1}, false);
    transform_out(gn * g.cin, d, *S.pl, DX, [&](std::int64_t e, const R* real) {
      std::int64_t i[3];
      const std::int64_t n = tiles.locate(t0 + e / g.cin, S.tl, i), ci = e % g.cin;
      const Box box{{i[0], i[1], i[2]}, {S.tl.t[0], S.tl.t[1], S.tl.t[2]}};
      scatter(real, d, offset, S.scale, 0.0, dx + n * S.xs + ci * g.in_plane(), g.in, box,
              accumulate);
    });
  }
}

template <class R>
void backward_filter_impl(const ConvGeometry& g, const float* x, const float* dy, float* dw,
                          bool accumulate, ConvStrides st, const Config& c) {
  const Setup<R> S(g, Pass::backward_filter, st, c);
  const Dims& d = S.d;
  const Tiles tiles(g, g.out, S.tl);
  const std::int64_t G = tiles.group(g.cin + g.cout, d, sizeof(R));
  Spectra<R> DW(workspace<R>().weights, g.cout * g.cin, d);
  for (std::int64_t t0 = 0; t0 < tiles.total; t0 += G) {
    const std::int64_t gn = std::min(G, tiles.total - t0);
    Spectra<R> X(workspace<R>().in, gn * g.cin, d), DY(workspace<R>().out, gn * g.cout, d);
    transform_in(gn * g.cin, d, *S.pl, X, [&](std::int64_t e, R* real) {
      S.gather_input(g, tiles, t0 + e / g.cin, e % g.cin, x, real);
    });
    transform_in(gn * g.cout, d, *S.pl, DY, [&](std::int64_t e, R* real) {
      std::int64_t o[3];  // the tile of dy, zero beyond it
      const std::int64_t n = tiles.locate(t0 + e / g.cout, S.tl, o);
      const Box box{{o[0], o[1], o[2]}, {S.tl.t[0], S.tl.t[1], S.tl.t[2]}};
      gather(dy + n * S.ys + (e % g.cout) * g.out_plane(), g.out, box, d, real);
    });
    // DW(co, ci) += sum_t conj(DY(t, co)) X(t, ci)
    product<R, true, false>(
        Product<R>{g.cout, g.cin, gn, {&DY, 1, g.cout}, {&X, g.cin, 1}, &DW, g.cin, 1}, t0 > 0);
  }
  const std::int64_t zero[3] = {0, 0, 0};
  const Box box{{0, 0, 0}, {g.k[0], g.k[1], g.k[2]}};
  transform_out(g.cout * g.cin, d, *S.pl, DW, [&](std::int64_t e, const R* real) {
    scatter(real, d, zero, S.scale, 0.0, dw + e * g.kvol(), g.k, box, accumulate);
  });
}

}  // namespace

void conv_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias,
                  float* y, ConvStrides st, const Config& c) {
  if (c.fft_precision == Precision::f32) return forward_impl<float>(g, x, w, bias, y, st, c);
  forward_impl<double>(g, x, w, bias, y, st, c);
}

void conv_backward_data(const ConvGeometry& g, const float* dy, const float* w, float* dx,
                        bool accumulate, ConvStrides st, const Config& c) {
  if (c.fft_precision == Precision::f32)
    return backward_data_impl<float>(g, dy, w, dx, accumulate, st, c);
  backward_data_impl<double>(g, dy, w, dx, accumulate, st, c);
}

void conv_backward_filter(const ConvGeometry& g, const float* x, const float* dy, float* dw,
                          float* dbias, bool accumulate, ConvStrides st, const Config& c) {
  if (c.fft_precision == Precision::f32)
    backward_filter_impl<float>(g, x, dy, dw, accumulate, st, c);
  else
    backward_filter_impl<double>(g, x, dy, dw, accumulate, st, c);
  if (dbias) cpu::channel_sum(g, dy, dbias, accumulate, st);
}

#else  // no FFTW

void conv_forward(const ConvGeometry& g, const float*, const float*, const float*, float*,
                  ConvStrides, const Config&) {
  DDNET_FAIL("conv fft: this build has no FFTW (", g.str(), ")");
}
void conv_backward_data(const ConvGeometry& g, const float*, const float*, float*, bool,
                        ConvStrides, const Config&) {
  DDNET_FAIL("conv fft: this build has no FFTW (", g.str(), ")");
}
void conv_backward_filter(const ConvGeometry& g, const float*, const float*, float*, float*, bool,
                          ConvStrides, const Config&) {
  DDNET_FAIL("conv fft: this build has no FFTW (", g.str(), ")");
}

#endif  // DDNET_WITH_FFTW

}  // namespace ddnet::kernels::cpu_conv::fft
