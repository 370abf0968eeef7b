// Tiled FFT convolutions for the CPU, in double precision (see conv_fft.h).
#include "kernels/conv_fft.h"

#include "generated/ddnet_config.h"

#include <algorithm>
#include <atomic>
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

namespace ddnet::kernels::fft_conv {

namespace {

Mode mode_from_env() {
  const char* env = std::getenv("DDNET_CPU_CONV_FFT");
  if (!env || !*env) return Mode::automatic;
  const std::string v(env);
  if (v == "off") return Mode::never;
  if (v == "on") return Mode::always;
  DDNET_CHECK(v == "auto", "DDNET_CPU_CONV_FFT='", v, "': expected auto, on or off");
  return Mode::automatic;
}

std::atomic<std::int64_t>& max_tile() {
  static std::atomic<std::int64_t> t{0};
  return t;
}

std::atomic<Mode>& mode_setting() {
  static std::atomic<Mode> m{mode_from_env()};
  return m;
}

// ---- the cost model (single-thread nanoseconds, fitted to measurements on this project's 2-core
// AVX2 VM: the FFT path of 32 -> 32 5^3 at 16 x 64 x 64 took 133-145 ms on one thread, a direct
// convolution 210-230 ms; at 8 x 32 x 32 the two were even) ----
constexpr double kFftNs = 0.4;            // per fvol * log2(fvol) of one r2c or c2r transform
constexpr double kMoveNs = 0.3;           // per sample gathered or scattered, per bin re-laid
constexpr double kCmacNs = 0.6;           // per complex multiply-add (4 double FMAs)
constexpr double kDirectNs = 0.027;       // per real multiply-add of a direct float32 convolution
constexpr double kMargin = 0.8;           // automatic mode: FFT only below this share of direct
constexpr std::int64_t kMaxF = 96;        // largest transform extent considered per axis
constexpr std::int64_t kBB = 8;           // bins per block of the bin-blocked spectra
constexpr std::int64_t kEntry = 2 * kBB;  // doubles per entity per block: 8 re, then 8 im
constexpr std::size_t kGroupBytes = std::size_t{64} << 20;    // tile spectra held at once
constexpr std::size_t kWeightBytes = std::size_t{256} << 20;  // cap on the weight spectra

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

double transform_ns(std::int64_t fvol, std::int64_t bins) {
  const double v = static_cast<double>(fvol);
  return kFftNs * v * std::log2(std::max(v, 2.0)) + kMoveNs * (v + static_cast<double>(bins));
}

// The extent a pass writes per axis: the output for forward and weight gradient, the input for
// the data gradient.
const std::int64_t* written(const ConvGeometry& g, Pass p) {
  return p == Pass::backward_data ? g.in : g.out;
}

Tiling search(const ConvGeometry& g, Pass p) {
  const std::int64_t* ext = written(g, p);
  std::vector<std::int64_t> cand[3];
  const std::int64_t cap = max_tile();
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
        const double xf = transform_ns(d.fvol(), d.bins());
        double cost = tiles * (per_tile_transforms * xf + kCmacNs * nbp * pairs) + pairs * xf;
        // The weight spectra (or weight-gradient sums) are read once per group of tiles.
        const double wbytes = pairs * nbp * 16.0;
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

void set_mode(Mode m) {
  mode_setting() = m;
}
Mode mode() {
  return mode_setting();
}
void set_max_tile(std::int64_t t) {
  max_tile() = t;
}

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

Tiling tiling(const ConvGeometry& g, Pass p) {
  using Key = std::tuple<int, std::int64_t, std::string>;
  static std::map<Key, Tiling> cache;
  const Key key{static_cast<int>(p), max_tile().load(), g.str()};
  {
    std::lock_guard<std::mutex> lock(cache_mutex());
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
  }
  const Tiling t = search(g, p);
  std::lock_guard<std::mutex> lock(cache_mutex());
  return cache.emplace(key, t).first->second;
}

bool chosen(const ConvGeometry& g, Pass p) {
  const Mode m = mode();
  if (m == Mode::never || !supports(g)) return false;
  if (m == Mode::always) return true;
  const Tiling t = tiling(g, p);
  return t.cost_ns < kMargin * t.direct_ns;
}

#if DDNET_WITH_FFTW

namespace {

// ---- FFTW plans, made once per transform size (the planner is not thread-safe; executing a
// plan on other arrays of the same alignment is) ----
struct Plans {
  fftw_plan r2c = nullptr, c2r = nullptr;
};

// The plans, destroyed at exit together with FFTW's planner state (which the leak checker would
// otherwise report: FFTW keeps it where no pointer of ours reaches).
struct PlanCache {
  std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t>, Plans> plans;
  PlanCache() = default;
  PlanCache(const PlanCache&) = delete;
  PlanCache& operator=(const PlanCache&) = delete;
  ~PlanCache() {
    for (auto& kv : plans) {
      fftw_destroy_plan(kv.second.r2c);
      fftw_destroy_plan(kv.second.c2r);
    }
    fftw_cleanup();
  }
};

const Plans& plans_for(const Dims& d) {
  static PlanCache pc;
  auto& cache = pc.plans;
  std::lock_guard<std::mutex> lock(cache_mutex());
  const auto key = std::make_tuple(d.f[0], d.f[1], d.f[2]);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  double* re = fftw_alloc_real(static_cast<std::size_t>(d.fvol()));
  fftw_complex* c = fftw_alloc_complex(static_cast<std::size_t>(d.bins()));
  Plans p;
  const int n0 = static_cast<int>(d.f[0]), n1 = static_cast<int>(d.f[1]),
            n2 = static_cast<int>(d.f[2]);
  p.r2c = fftw_plan_dft_r2c_3d(n0, n1, n2, re, c, FFTW_ESTIMATE);
  p.c2r = fftw_plan_dft_c2r_3d(n0, n1, n2, c, re, FFTW_ESTIMATE | FFTW_DESTROY_INPUT);
  fftw_free(re);
  fftw_free(c);
  DDNET_CHECK(p.r2c && p.c2r, "conv fft: FFTW could not plan a ", d.f[0], "x", d.f[1], "x", d.f[2],
              " transform");
  return cache.emplace(key, p).first->second;
}

// Bin-blocked spectra: entity e's bins [8 b, 8 b + 8) at data[(b * entities + e) * 16], 8 real
// parts then 8 imaginary parts; the padding bins past the transform's are zero. A view into a
// workspace buffer that grows as needed and is kept between calls (per calling thread), so
// that a training step does not fault in fresh pages for every convolution.
struct Spectra {
  std::int64_t entities = 0, blocks = 0;
  double* data = nullptr;
  Spectra(std::vector<double>& buffer, std::int64_t e, const Dims& d)
      : entities(e), blocks(d.padded_bins() / kBB) {
    const auto need = static_cast<std::size_t>(e * blocks * kEntry);
    if (buffer.size() < need) buffer.resize(need);
    data = buffer.data();
  }
  double* block(std::int64_t b) { return data + b * entities * kEntry; }
  const double* block(std::int64_t b) const { return data + b * entities * kEntry; }
};

struct Workspace {
  std::vector<double> weights, in, out;
};
Workspace& workspace() {
  thread_local Workspace w;
  return w;
}

// Transforms handled per batch by one thread: their bins of one block are one contiguous run of
// the spectra (entities are consecutive), so the transposition writes whole cache lines and
// touches few pages.
constexpr std::int64_t kBatch = 8;

// One thread's transform buffers (fftw_alloc: the alignment the plans were made with), kept
// for the thread's life and grown as needed: freeing them per call made glibc return the pages
// and fault them in again.
struct Scratch {
  double* real = nullptr;
  fftw_complex* cplx[kBatch] = {};
  std::int64_t bins = 0, cap_real = 0, cap_bins = 0;
  Scratch() = default;
  ~Scratch() { release(); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  void release() {
    fftw_free(real);
    real = nullptr;
    for (auto*& c : cplx) {
      fftw_free(c);
      c = nullptr;
    }
  }
  void ensure(const Dims& d) {
    bins = d.bins();
    if (d.fvol() <= cap_real && bins <= cap_bins) return;
    release();
    cap_real = std::max(cap_real, d.fvol());
    cap_bins = std::max(cap_bins, bins);
    real = fftw_alloc_real(static_cast<std::size_t>(cap_real));
    bool ok = real != nullptr;
    for (auto& c : cplx) ok = ok && (c = fftw_alloc_complex(static_cast<std::size_t>(cap_bins)));
    DDNET_CHECK(ok, "conv fft: out of memory for ", d.fvol(), "-sample transforms");
  }
};
Scratch& scratch(const Dims& d) {
  thread_local Scratch s;
  s.ensure(d);
  return s;
}

// Entities [0, count) of s: fill(e, box) writes entity e's real box (d's extents), which is
// transformed and stored.
template <class Fill>
void transform_in(std::int64_t count, const Dims& d, const Plans& pl, Spectra& s, Fill&& fill) {
  parallel_for(ceil_div(count, kBatch), 1, [&](std::int64_t b0, std::int64_t b1) {
    Scratch& sc = scratch(d);
    for (std::int64_t b = b0; b < b1; ++b) {
      const std::int64_t e0 = b * kBatch, ne = std::min(kBatch, count - e0);
      for (std::int64_t j = 0; j < ne; ++j) {
        fill(e0 + j, sc.real);
        fftw_execute_dft_r2c(pl.r2c, sc.real, sc.cplx[j]);
      }
      for (std::int64_t blk = 0; blk < s.blocks; ++blk) {
        double* out = s.block(blk) + e0 * kEntry;
        const std::int64_t f0 = blk * kBB, nf = std::min(kBB, sc.bins - f0);
        for (std::int64_t j = 0; j < ne; ++j, out += kEntry) {
          const fftw_complex* c = sc.cplx[j] + f0;
          for (std::int64_t v = 0; v < nf; ++v) {
            out[v] = c[v][0];
            out[kBB + v] = c[v][1];
          }
          for (std::int64_t v = std::max<std::int64_t>(nf, 0); v < kBB; ++v)
            out[v] = out[kBB + v] = 0.0;
        }
      }
    }
  });
}

// Entities [0, count) of s, inverse transformed: emit(e, box) gets entity e's real box, not
// yet divided by the transform's size.
template <class Emit>
void transform_out(std::int64_t count, const Dims& d, const Plans& pl, const Spectra& s,
                   Emit&& emit) {
  parallel_for(ceil_div(count, kBatch), 1, [&](std::int64_t b0, std::int64_t b1) {
    Scratch& sc = scratch(d);
    for (std::int64_t b = b0; b < b1; ++b) {
      const std::int64_t e0 = b * kBatch, ne = std::min(kBatch, count - e0);
      for (std::int64_t blk = 0; blk < s.blocks; ++blk) {
        const double* in = s.block(blk) + e0 * kEntry;
        const std::int64_t f0 = blk * kBB, nf = std::min(kBB, sc.bins - f0);
        for (std::int64_t j = 0; j < ne; ++j, in += kEntry) {
          fftw_complex* c = sc.cplx[j] + f0;
          for (std::int64_t v = 0; v < nf; ++v) {
            c[v][0] = in[v];
            c[v][1] = in[kBB + v];
          }
        }
      }
      for (std::int64_t j = 0; j < ne; ++j) {
        fftw_execute_dft_c2r(pl.c2r, sc.cplx[j], sc.real);
        emit(e0 + j, static_cast<const double*>(sc.real));
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
void gather(const float* src, const std::int64_t ext[3], const Box& b, const Dims& d, double* dst) {
  std::int64_t lo[3], hi[3];
  for (int a = 0; a < 3; ++a) {
    lo[a] = std::max<std::int64_t>(0, -b.origin[a]);
    hi[a] = std::max(lo[a], std::min(b.count[a], ext[a] - b.origin[a]));
  }
  const std::int64_t row = d.f[2], plane = d.f[1] * d.f[2];
  for (std::int64_t jd = 0; jd < d.f[0]; ++jd) {
    double* p = dst + jd * plane;
    if (jd < lo[0] || jd >= hi[0] || hi[1] <= lo[1] || hi[2] <= lo[2]) {
      std::fill(p, p + plane, 0.0);
      continue;
    }
    std::fill(p, p + lo[1] * row, 0.0);
    for (std::int64_t jh = lo[1]; jh < hi[1]; ++jh) {
      double* o = p + jh * row;
      const float* s =
          src + ((b.origin[0] + jd) * ext[1] + b.origin[1] + jh) * ext[2] + b.origin[2];
      std::fill(o, o + lo[2], 0.0);
      for (std::int64_t jw = lo[2]; jw < hi[2]; ++jw) o[jw] = static_cast<double>(s[jw]);
      std::fill(o + hi[2], o + row, 0.0);
    }
    std::fill(p + hi[1] * row, p + plane, 0.0);
  }
}

// dst[origin + j] (+)= c[offset + j] * scale + add, inside the box and the volume.
void scatter(const double* c, const Dims& d, const std::int64_t offset[3], double scale, double add,
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
      const double* s = c + ((offset[0] + jd) * d.f[1] + offset[1] + jh) * d.f[2] + offset[2];
      for (std::int64_t jw = lo[2]; jw < hi[2]; ++jw) {
        const double v = s[jw] * scale + add;
        o[jw] = static_cast<float>(accumulate ? static_cast<double>(o[jw]) + v : v);
      }
    }
}

// ---- per-bin complex matrix products over bin-blocked spectra ----
// C(i, j) (+)= sum_l op(A(i, l)) * op(B(l, j)) for every bin, where op conjugates when CA / CB.
// Entity (i, l) of A is i * si + l * sl, and likewise for B and C.
struct Operand {
  const Spectra* s;
  std::int64_t si, sl;
};
struct Product {
  std::int64_t I, J, L;
  Operand a, b;  // b's (si, sl) are its (l, j) strides
  Spectra* c;
  std::int64_t ci, cj;
};

template <bool CA, bool CB>
void product_block_scalar(const Product& p, std::int64_t blk, bool accumulate) {
  const double* A = p.a.s->block(blk);
  const double* B = p.b.s->block(blk);
  double* C = p.c->block(blk);
  const double sa = CA ? -1.0 : 1.0, sb = CB ? -1.0 : 1.0;
  for (std::int64_t i = 0; i < p.I; ++i)
    for (std::int64_t j = 0; j < p.J; ++j) {
      double re[kBB] = {}, im[kBB] = {};
      for (std::int64_t l = 0; l < p.L; ++l) {
        const double* a = A + (i * p.a.si + l * p.a.sl) * kEntry;
        const double* b = B + (l * p.b.si + j * p.b.sl) * kEntry;
        for (std::int64_t v = 0; v < kBB; ++v) {
          const double ar = a[v], ai = sa * a[kBB + v], br = b[v], bi = sb * b[kBB + v];
          re[v] += ar * br - ai * bi;
          im[v] += ar * bi + ai * br;
        }
      }
      double* c = C + (i * p.ci + j * p.cj) * kEntry;
      for (std::int64_t v = 0; v < kBB; ++v) {
        c[v] = accumulate ? c[v] + re[v] : re[v];
        c[kBB + v] = accumulate ? c[kBB + v] + im[v] : im[v];
      }
    }
}

#if defined(__x86_64__)
bool cpu_has_avx2_fma() {
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok;
}

// JN outputs j0 .. j0 + JN - 1 of row i, 4 bins (half of a block, `half` 0 or 1) per vector.
template <bool CA, bool CB, int JN>
__attribute__((target("avx2,fma"))) void product_row(const Product& p, const double* A,
                                                     const double* B, double* C, std::int64_t i,
                                                     std::int64_t j0, bool accumulate) {
  for (int half = 0; half < 2; ++half) {
    __m256d cr[JN], cm[JN];
    for (int jj = 0; jj < JN; ++jj) cr[jj] = cm[jj] = _mm256_setzero_pd();
    for (std::int64_t l = 0; l < p.L; ++l) {
      const double* a = A + (i * p.a.si + l * p.a.sl) * kEntry + 4 * half;
      const __m256d ar = _mm256_loadu_pd(a), ai = _mm256_loadu_pd(a + kBB);
      for (int jj = 0; jj < JN; ++jj) {
        const double* b = B + (l * p.b.si + (j0 + jj) * p.b.sl) * kEntry + 4 * half;
        const __m256d br = _mm256_loadu_pd(b), bi = _mm256_loadu_pd(b + kBB);
        // (ar + i sa ai)(br + i sb bi) = ar br - sa sb ai bi + i (sb ar bi + sa ai br)
        cr[jj] = _mm256_fmadd_pd(ar, br, cr[jj]);
        cr[jj] = CA != CB ? _mm256_fmadd_pd(ai, bi, cr[jj]) : _mm256_fnmadd_pd(ai, bi, cr[jj]);
        cm[jj] = CB ? _mm256_fnmadd_pd(ar, bi, cm[jj]) : _mm256_fmadd_pd(ar, bi, cm[jj]);
        cm[jj] = CA ? _mm256_fnmadd_pd(ai, br, cm[jj]) : _mm256_fmadd_pd(ai, br, cm[jj]);
      }
    }
    for (int jj = 0; jj < JN; ++jj) {
      double* c = C + (i * p.ci + (j0 + jj) * p.cj) * kEntry + 4 * half;
      if (accumulate) {
        cr[jj] = _mm256_add_pd(cr[jj], _mm256_loadu_pd(c));
        cm[jj] = _mm256_add_pd(cm[jj], _mm256_loadu_pd(c + kBB));
      }
      _mm256_storeu_pd(c, cr[jj]);
      _mm256_storeu_pd(c + kBB, cm[jj]);
    }
  }
}

template <bool CA, bool CB>
void product_block_avx2(const Product& p, std::int64_t blk, bool accumulate) {
  const double* A = p.a.s->block(blk);
  const double* B = p.b.s->block(blk);
  double* C = p.c->block(blk);
  // j blocks outermost: the B entries of 4 columns (L x 4 x 128 bytes) stay in L1 while every
  // row i streams past them.
  std::int64_t j = 0;
  for (; j + 4 <= p.J; j += 4)
    for (std::int64_t i = 0; i < p.I; ++i) product_row<CA, CB, 4>(p, A, B, C, i, j, accumulate);
  for (std::int64_t i = 0; i < p.I; ++i) {
    switch (p.J - j) {
      case 3:
        product_row<CA, CB, 3>(p, A, B, C, i, j, accumulate);
        break;
      case 2:
        product_row<CA, CB, 2>(p, A, B, C, i, j, accumulate);
        break;
      case 1:
        product_row<CA, CB, 1>(p, A, B, C, i, j, accumulate);
        break;
      default:
        break;
    }
  }
}
#endif  // __x86_64__

template <bool CA, bool CB>
void product(const Product& p, bool accumulate) {
  parallel_for(p.c->blocks, 1, [&](std::int64_t b0, std::int64_t b1) {
    for (std::int64_t b = b0; b < b1; ++b) {
#if defined(__x86_64__)
      if (cpu_has_avx2_fma()) {
        product_block_avx2<CA, CB>(p, b, accumulate);
        continue;
      }
#endif
      product_block_scalar<CA, CB>(p, b, accumulate);
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
  // Tiles whose spectra (`entities` per tile) fit in kGroupBytes together; at least one.
  std::int64_t group(std::int64_t entities, const Dims& d) const {
    const std::size_t per = static_cast<std::size_t>(entities * d.padded_bins()) * 16;
    return std::clamp<std::int64_t>(
        static_cast<std::int64_t>(kGroupBytes / std::max<std::size_t>(per, 1)), 1, total);
  }
};

// The weight spectra W[co, ci] (entity co * cin + ci): the kernel at the box's origin.
Spectra weight_spectra(const ConvGeometry& g, const float* w, const Dims& d, const Plans& pl) {
  Spectra s(workspace().weights, g.cout * g.cin, d);
  const Box box{{0, 0, 0}, {g.k[0], g.k[1], g.k[2]}};
  transform_in(s.entities, d, pl, s,
               [&](std::int64_t e, double* real) { gather(w + e * g.kvol(), g.k, box, d, real); });
  return s;
}

// The shared setup of the three passes.
struct Setup {
  Tiling tl;
  Dims d;
  const Plans* pl;
  std::int64_t xs, ys;
  double scale;
  Setup(const ConvGeometry& g, Pass p, ConvStrides st)
      : tl(tiling(g, p)),
        d{{tl.f[0], tl.f[1], tl.f[2]}},
        pl(&plans_for(d)),
        xs(st.x ? st.x : g.cin * g.in_plane()),
        ys(st.y ? st.y : g.cout * g.out_plane()),
        scale(1.0 / static_cast<double>(d.fvol())) {
    DDNET_CHECK(supports(g), "conv fft: unsupported geometry ", g.str());
  }
};

}  // namespace

void conv_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias,
                  float* y, ConvStrides st) {
  const Setup S(g, Pass::forward, st);
  const Dims& d = S.d;
  const Spectra W = weight_spectra(g, w, d, *S.pl);
  const Tiles tiles(g, g.out, S.tl);
  const std::int64_t G = tiles.group(g.cin + g.cout, d);
  const std::int64_t zero[3] = {0, 0, 0};
  for (std::int64_t t0 = 0; t0 < tiles.total; t0 += G) {
    const std::int64_t gn = std::min(G, tiles.total - t0);
    Spectra X(workspace().in, gn * g.cin, d), Y(workspace().out, gn * g.cout, d);
    transform_in(gn * g.cin, d, *S.pl, X, [&](std::int64_t e, double* real) {
      std::int64_t o[3];
      const std::int64_t n = tiles.locate(t0 + e / g.cin, S.tl, o);
      const Box box{{o[0] - g.pad[0], o[1] - g.pad[1], o[2] - g.pad[2]}, {d.f[0], d.f[1], d.f[2]}};
      gather(x + n * S.xs + (e % g.cin) * g.in_plane(), g.in, box, d, real);
    });
    // Y(t, co) = sum_ci X(t, ci) conj(W(co, ci))
    product<false, true>(Product{gn, g.cout, g.cin, {&X, g.cin, 1}, {&W, 1, g.cin}, &Y, g.cout, 1},
                         false);
    transform_out(gn * g.cout, d, *S.pl, Y, [&](std::int64_t e, const double* real) {
      std::int64_t o[3];
      const std::int64_t n = tiles.locate(t0 + e / g.cout, S.tl, o), co = e % g.cout;
      const Box box{{o[0], o[1], o[2]}, {S.tl.t[0], S.tl.t[1], S.tl.t[2]}};
      scatter(real, d, zero, S.scale, bias ? static_cast<double>(bias[co]) : 0.0,
              y + n * S.ys + co * g.out_plane(), g.out, box, false);
    });
  }
}

void conv_backward_data(const ConvGeometry& g, const float* dy, const float* w, float* dx,
                        bool accumulate, ConvStrides st) {
  const Setup S(g, Pass::backward_data, st);
  const Dims& d = S.d;
  const Spectra W = weight_spectra(g, w, d, *S.pl);
  const Tiles tiles(g, g.in, S.tl);
  const std::int64_t G = tiles.group(g.cin + g.cout, d);
  const std::int64_t offset[3] = {g.k[0] - 1, g.k[1] - 1, g.k[2] - 1};
  for (std::int64_t t0 = 0; t0 < tiles.total; t0 += G) {
    const std::int64_t gn = std::min(G, tiles.total - t0);
    Spectra DY(workspace().in, gn * g.cout, d), DX(workspace().out, gn * g.cin, d);
    transform_in(gn * g.cout, d, *S.pl, DY, [&](std::int64_t e, double* real) {
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
    product<false, false>(
        Product{gn, g.cin, g.cout, {&DY, g.cout, 1}, {&W, g.cin, 1}, &DX, g.cin, 1}, false);
    transform_out(gn * g.cin, d, *S.pl, DX, [&](std::int64_t e, const double* real) {
      std::int64_t i[3];
      const std::int64_t n = tiles.locate(t0 + e / g.cin, S.tl, i), ci = e % g.cin;
      const Box box{{i[0], i[1], i[2]}, {S.tl.t[0], S.tl.t[1], S.tl.t[2]}};
      scatter(real, d, offset, S.scale, 0.0, dx + n * S.xs + ci * g.in_plane(), g.in, box,
              accumulate);
    });
  }
}

void conv_backward_filter(const ConvGeometry& g, const float* x, const float* dy, float* dw,
                          float* dbias, bool accumulate, ConvStrides st) {
  const Setup S(g, Pass::backward_filter, st);
  const Dims& d = S.d;
  const Tiles tiles(g, g.out, S.tl);
  const std::int64_t G = tiles.group(g.cin + g.cout, d);
  Spectra DW(workspace().weights, g.cout * g.cin, d);
  for (std::int64_t t0 = 0; t0 < tiles.total; t0 += G) {
    const std::int64_t gn = std::min(G, tiles.total - t0);
    Spectra X(workspace().in, gn * g.cin, d), DY(workspace().out, gn * g.cout, d);
    transform_in(gn * g.cin, d, *S.pl, X, [&](std::int64_t e, double* real) {
      std::int64_t o[3];  // the padded input region of the tile
      const std::int64_t n = tiles.locate(t0 + e / g.cin, S.tl, o);
      const Box box{{o[0] - g.pad[0], o[1] - g.pad[1], o[2] - g.pad[2]}, {d.f[0], d.f[1], d.f[2]}};
      gather(x + n * S.xs + (e % g.cin) * g.in_plane(), g.in, box, d, real);
    });
    transform_in(gn * g.cout, d, *S.pl, DY, [&](std::int64_t e, double* real) {
      std::int64_t o[3];  // the tile of dy, zero beyond it
      const std::int64_t n = tiles.locate(t0 + e / g.cout, S.tl, o);
      const Box box{{o[0], o[1], o[2]}, {S.tl.t[0], S.tl.t[1], S.tl.t[2]}};
      gather(dy + n * S.ys + (e % g.cout) * g.out_plane(), g.out, box, d, real);
    });
    // DW(co, ci) += sum_t conj(DY(t, co)) X(t, ci)
    product<true, false>(
        Product{g.cout, g.cin, gn, {&DY, 1, g.cout}, {&X, g.cin, 1}, &DW, g.cin, 1}, t0 > 0);
  }
  const std::int64_t zero[3] = {0, 0, 0};
  const Box box{{0, 0, 0}, {g.k[0], g.k[1], g.k[2]}};
  transform_out(g.cout * g.cin, d, *S.pl, DW, [&](std::int64_t e, const double* real) {
    scatter(real, d, zero, S.scale, 0.0, dw + e * g.kvol(), g.k, box, accumulate);
  });
  if (dbias) cpu::channel_sum(g, dy, dbias, accumulate, st);
}

#else  // no FFTW

void conv_forward(const ConvGeometry& g, const float*, const float*, const float*, float*,
                  ConvStrides) {
  DDNET_FAIL("conv fft: this build has no FFTW (", g.str(), ")");
}
void conv_backward_data(const ConvGeometry& g, const float*, const float*, float*, bool,
                        ConvStrides) {
  DDNET_FAIL("conv fft: this build has no FFTW (", g.str(), ")");
}
void conv_backward_filter(const ConvGeometry& g, const float*, const float*, float*, float*, bool,
                          ConvStrides) {
  DDNET_FAIL("conv fft: this build has no FFTW (", g.str(), ")");
}

#endif  // DDNET_WITH_FFTW

}  // namespace ddnet::kernels::fft_conv
