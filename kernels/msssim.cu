// Fused CUDA MS-SSIM, forward and backward, on float32 inputs; nothing is read back to the
// host. Everything past the inputs follows the CPU twin (msssim_cpu.cpp) in double: the taps, the
// filter passes (x^2, y^2, xy formed in double from the inputs), the five statistic maps, the
// pooled level volumes, the per-voxel derivative maps, the adjoint passes and the per-level
// gradients; only the final gradient is rounded to float. (In float the variance
// E[x^2] - E[x]^2 and the gradient a1 + 2 x a11 + y a12 cancel badly on low-variance data.)
// Per level:
//   filter_w5: x, y -> the five maps (x, y, x^2, y^2, xy) filtered along W (valid)
//   filter_h5: the five maps filtered along H
//   stats_d:   filtered along D, then the per-voxel SSIM and cs terms and per-block partial sums
//              (the five statistics are kept for the backward)
//   finish:    one block adds the partials in a fixed order -> the level's means (double)
//   pool2:     both volumes average-pooled by 2 for the next level (double)
// The data range of each level is a min/max reduction of that level's prediction, on the
// device. combine: one thread forms the value and each level's upstream gradient. Backward,
// deepest level first: grad_maps (d/dE[x], d/dE[x^2], d/dE[xy] per voxel), the adjoint filter
// along D and H, then along W fused with the final gx = a1 + 2 x a11 + y a12 plus the pooled
// adjoint of the deeper level's gradient. Every reduction has a grid fixed by the sizes; no
// atomics. All work goes on the given stream, which must be the current stream of the data's
// device (the temporaries are allocated there).
#include <cuda_runtime.h>

#include <cmath>
#include <vector>

#include "engine/stream.h"
#include "engine/tensor.h"
#include "kernels/launch.cuh"
#include "kernels/msssim.h"

namespace ddnet::kernels::cuda {

namespace {

constexpr int kMaxTaps = 16;
constexpr int kMaxLevels = 8;
constexpr int kReduceBlocks = 512;

struct Taps {
  double g[kMaxTaps];
  int s;
};

struct Dims {
  std::int64_t planes, d, h, w;
  __host__ __device__ std::int64_t plane() const { return d * h * w; }
  __host__ __device__ std::int64_t numel() const { return planes * d * h * w; }
};

// Index helpers: flat index -> (p, z, y, x) of dims o.
__device__ inline void unflat(std::int64_t i, const Dims& o, std::int64_t& p, std::int64_t& z,
                              std::int64_t& yy, std::int64_t& xx) {
  xx = i % o.w;
  yy = (i / o.w) % o.h;
  z = (i / (o.w * o.h)) % o.d;
  p = i / o.plane();
}
__device__ inline std::int64_t flat(const Dims& o, std::int64_t p, std::int64_t z, std::int64_t yy,
                                    std::int64_t xx) {
  return ((p * o.d + z) * o.h + yy) * o.w + xx;
}

// ---- forward ----

// T: float for level 0 (the inputs), double for the pooled levels.
template <class T>
__global__ void minmax_kernel(const T* x, const T* y, std::int64_t n, double* pmax, double* pmin,
                              int* pbad) {
  double mx = -INFINITY, mn = INFINITY;
  int bad = 0;
  DDNET_GRID_STRIDE(i, n) {
    const double v = x[i];
    mx = fmax(mx, v);
    mn = fmin(mn, v);
    if (y) bad += !isfinite(v) + !isfinite(static_cast<double>(y[i]));
  }
  __shared__ double smx[256], smn[256];
  __shared__ int sbad[256];
  smx[threadIdx.x] = mx;
  smn[threadIdx.x] = mn;
  sbad[threadIdx.x] = bad;
  __syncthreads();
  for (int off = blockDim.x / 2; off > 0; off >>= 1) {
    if (static_cast<int>(threadIdx.x) < off) {
      smx[threadIdx.x] = fmax(smx[threadIdx.x], smx[threadIdx.x + off]);
      smn[threadIdx.x] = fmin(smn[threadIdx.x], smn[threadIdx.x + off]);
      sbad[threadIdx.x] += sbad[threadIdx.x + off];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    pmax[blockIdx.x] = smx[0];
    pmin[blockIdx.x] = smn[0];
    pbad[blockIdx.x] = sbad[0];
  }
}

// One thread: the level's data range (inferred as published, or fixed) and the NaN/Inf count.
// The thresholds are compared in double, as the CPU twin does.
__global__ void range_kernel(const double* pmax, const double* pmin, const int* pbad, int blocks,
                             double fixed, double* range, int* nonfinite) {
  double mx = -INFINITY, mn = INFINITY;
  long long bad = 0;  // x and y together: up to twice 2^31 elements
  for (int b = 0; b < blocks; ++b) {
    mx = fmax(mx, pmax[b]);
    mn = fmin(mn, pmin[b]);
    bad += pbad[b];
  }
  *range = fixed > 0 ? fixed : (mx > 128.0 ? 255.0 : 1.0) - (mn < -0.001 ? -0.1 : 0.0);
  if (nonfinite) *nonfinite = bad > 2147483647LL ? 2147483647 : static_cast<int>(bad);
}

// W pass of the five maps: in (planes, d, h, w) -> out (planes, d, h, w - s + 1), 5 arrays.
template <class T>
__global__ void filter_w5(const T* x, const T* y, Dims in, Dims out, Taps t, double* o0, double* o1,
                          double* o2, double* o3, double* o4) {
  DDNET_GRID_STRIDE(i, out.numel()) {
    std::int64_t p, z, yy, xx;
    unflat(i, out, p, z, yy, xx);
    const std::int64_t base = flat(in, p, z, yy, xx);
    double a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0;
    for (int k = 0; k < t.s; ++k) {
      const double g = t.g[k], xv = x[base + k], yv = y[base + k];
      a0 += g * xv;
      a1 += g * yv;
      a2 += g * (xv * xv);
      a3 += g * (yv * yv);
      a4 += g * (xv * yv);
    }
    o0[i] = a0;
    o1[i] = a1;
    o2[i] = a2;
    o3[i] = a3;
    o4[i] = a4;
  }
}

struct Five {
  const double* m[5];
};
struct FiveOut {
  double* m[5];
};

// A pass along H (axis 1) or D (axis 0) of five arrays, valid.
__global__ void filter_axis5(Five in, Dims id, Dims od, int axis, Taps t, FiveOut out) {
  const std::int64_t stride = axis == 0 ? id.h * id.w : id.w;
  DDNET_GRID_STRIDE(i, od.numel()) {
    std::int64_t p, z, yy, xx;
    unflat(i, od, p, z, yy, xx);
    const std::int64_t base = flat(id, p, z, yy, xx);
    for (int m = 0; m < 5; ++m) {
      double a = 0;
      for (int k = 0; k < t.s; ++k) a += t.g[k] * in.m[m][base + k * stride];
      out.m[m][i] = a;
    }
  }
}

// Per-voxel terms from the five statistics (m1, m2, m11, m22, m12) and per-block sums.
__global__ void terms_kernel(Five st, std::int64_t n, const double* range, double* partial_ssim,
                             double* partial_cs) {
  const double L = *range, c1 = (0.01 * L) * (0.01 * L), c2 = (0.03 * L) * (0.03 * L);
  double ssim = 0, cs = 0;
  DDNET_GRID_STRIDE(i, n) {
    const double mu1 = st.m[0][i], mu2 = st.m[1][i];
    const double s11 = st.m[2][i] - mu1 * mu1, s22 = st.m[3][i] - mu2 * mu2,
                 s12 = st.m[4][i] - mu1 * mu2;
    const double v1 = 2 * s12 + c2, v2 = s11 + s22 + c2;
    cs += v1 / v2;
    ssim += ((2 * mu1 * mu2 + c1) * v1) / ((mu1 * mu1 + mu2 * mu2 + c1) * v2);
  }
  __shared__ double ss[256], sc[256];
  ss[threadIdx.x] = ssim;
  sc[threadIdx.x] = cs;
  __syncthreads();
  for (int off = blockDim.x / 2; off > 0; off >>= 1) {
    if (static_cast<int>(threadIdx.x) < off) {
      ss[threadIdx.x] += ss[threadIdx.x + off];
      sc[threadIdx.x] += sc[threadIdx.x + off];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    partial_ssim[blockIdx.x] = ss[0];
    partial_cs[blockIdx.x] = sc[0];
  }
}

__global__ void finish_kernel(const double* partial_ssim, const double* partial_cs, int blocks,
                              double count, double* ssim_mean, double* cs_mean) {
  double s = 0, c = 0;
  for (int b = 0; b < blocks; ++b) {  // one thread, fixed order
    s += partial_ssim[b];
    c += partial_cs[b];
  }
  *ssim_mean = s / count;
  *cs_mean = c / count;
}

// 2x average pooling in double (the CPU twin's order), into double level volumes.
template <class T>
__global__ void pool2_kernel(const T* x, const T* y, Dims in, Dims out, int kd, double* xo,
                             double* yo) {
  const double scale = 1.0 / static_cast<double>(kd * 4);
  DDNET_GRID_STRIDE(i, out.numel()) {
    std::int64_t p, z, yy, xx;
    unflat(i, out, p, z, yy, xx);
    double ax = 0, ay = 0;
    for (int a = 0; a < kd; ++a)
      for (int b = 0; b < 2; ++b)
        for (int c = 0; c < 2; ++c) {
          const std::int64_t j = flat(in, p, z * kd + a, yy * 2 + b, xx * 2 + c);
          ax += static_cast<double>(x[j]);
          ay += static_cast<double>(y[j]);
        }
    xo[i] = ax * scale;
    yo[i] = ay * scale;
  }
}

struct CombineArgs {
  int levels;
  double w[kMaxLevels];
  double last_exp;
  int simple;
};

// One thread: value and each level's upstream gradients (of the raw ssim and cs means).
__global__ void combine_kernel(const double* ssim_mean, const double* cs_mean, CombineArgs a,
                               float* value, double* gs, double* gc) {
  const int M = a.levels;
  const double nf = a.simple ? 0.5 : 1.0;
  double terms[kMaxLevels], q[kMaxLevels];
  for (int j = 0; j < M; ++j) {
    const double v = j == M - 1 ? ssim_mean[j] : cs_mean[j];
    q[j] = a.simple ? (v + 1) / 2 : v;
    terms[j] = pow(q[j], j == M - 1 ? a.last_exp : a.w[j]);
  }
  double prod = 1;
  for (int j = 0; j < M; ++j) prod *= terms[j];
  *value = static_cast<float>(prod);
  for (int j = 0; j < M; ++j) {
    double others = 1;
    for (int k = 0; k < M; ++k)
      if (k != j) others *= terms[k];
    const double e = j == M - 1 ? a.last_exp : a.w[j];
    const double d = others * e * pow(q[j], e - 1) * nf;
    gs[j] = j == M - 1 ? d : 0.0;
    gc[j] = j == M - 1 ? 0.0 : d;
  }
}

// ---- backward ----

__global__ void grad_maps_kernel(Five st, std::int64_t n, const double* range, const double* gs,
                                 const double* gc, double count, double* g1, double* g11,
                                 double* g12) {
  const double L = *range, c1 = (0.01 * L) * (0.01 * L), c2 = (0.03 * L) * (0.03 * L);
  const double us = *gs, uc = *gc;
  DDNET_GRID_STRIDE(i, n) {
    const double mu1 = st.m[0][i], mu2 = st.m[1][i];
    const double s11 = st.m[2][i] - mu1 * mu1, s22 = st.m[3][i] - mu2 * mu2,
                 s12 = st.m[4][i] - mu1 * mu2;
    const double A = 2 * mu1 * mu2 + c1, B = mu1 * mu1 + mu2 * mu2 + c1;
    const double Cn = 2 * s12 + c2, D = s11 + s22 + c2;
    const double l = A / B, c = Cn / D;
    const double dc_dm12 = 2 / D, dc_dm11 = -Cn / (D * D),
                 dc_dm1 = -2 * mu2 / D + 2 * mu1 * Cn / (D * D);
    const double dl_dm1 = 2 * (mu2 * B - A * mu1) / (B * B);
    const double ds_dm1 = dl_dm1 * c + l * dc_dm1, ds_dm11 = l * dc_dm11, ds_dm12 = l * dc_dm12;
    g1[i] = (us * ds_dm1 + uc * dc_dm1) / count;
    g11[i] = (us * ds_dm11 + uc * dc_dm11) / count;
    g12[i] = (us * ds_dm12 + uc * dc_dm12) / count;
  }
}

// Adjoint (full) pass along axis 0 (D) or 1 (H) of three arrays: in (valid) -> out (one longer
// by s - 1 along the axis).
__global__ void adjoint_axis3(Five in, Dims id, Dims od, int axis, Taps t, FiveOut out) {
  const std::int64_t n_in = axis == 0 ? id.d : id.h;
  const std::int64_t stride = axis == 0 ? id.h * id.w : id.w;
  DDNET_GRID_STRIDE(i, od.numel()) {
    std::int64_t p, z, yy, xx;
    unflat(i, od, p, z, yy, xx);
    const std::int64_t pos = axis == 0 ? z : yy;
    const std::int64_t base = axis == 0 ? flat(id, p, 0, yy, xx) : flat(id, p, z, 0, xx);
    for (int m = 0; m < 3; ++m) {
      double a = 0;
      for (int k = 0; k < t.s; ++k) {
        const std::int64_t q = pos - k;
        if (q >= 0 && q < n_in) a += t.g[k] * in.m[m][base + q * stride];
      }
      out.m[m][i] = a;
    }
  }
}

// The W adjoint fused with gx = a1 + 2 x a11 + y a12 (+ the deeper level's gradient pooled back),
// all in double. T: float at level 0 (the inputs; gx is the final gradient, rounded once), double
// for the pooled levels (gx is that level's gradient, kept in double).
template <class T>
__global__ void adjoint_w_final(Five in, Dims id, Dims od, Taps t, const T* x, const T* y,
                                const double* deeper, Dims dd, int kd, T* gx) {
  const double pool_scale = 1.0 / static_cast<double>(kd * 4);
  DDNET_GRID_STRIDE(i, od.numel()) {
    std::int64_t p, z, yy, xx;
    unflat(i, od, p, z, yy, xx);
    const std::int64_t base = flat(id, p, z, yy, 0);
    double a[3];
    for (int m = 0; m < 3; ++m) {
      double acc = 0;
      for (int k = 0; k < t.s; ++k) {
        const std::int64_t q = xx - k;
        if (q >= 0 && q < id.w) acc += t.g[k] * in.m[m][base + q];
      }
      a[m] = acc;
    }
    double g = a[0] + 2 * static_cast<double>(x[i]) * a[1] + static_cast<double>(y[i]) * a[2];
    if (deeper) {
      const std::int64_t dz = z / kd, dy = yy / 2, dx = xx / 2;
      if (dz < dd.d && dy < dd.h && dx < dd.w) g += pool_scale * deeper[flat(dd, p, dz, dy, dx)];
    }
    gx[i] = static_cast<T>(g);
  }
}

Taps taps_for(std::int64_t s, double sigma) {
  Taps t{};
  t.s = static_cast<int>(s);
  double sum = 0;
  std::vector<double> g(static_cast<std::size_t>(s));
  for (std::int64_t i = 0; i < s; ++i) {
    const double v = static_cast<double>(i - s / 2);
    g[static_cast<std::size_t>(i)] = std::exp(-(v * v) / (2 * sigma * sigma));
    sum += g[static_cast<std::size_t>(i)];
  }
  for (std::int64_t i = 0; i < s; ++i) t.g[i] = g[static_cast<std::size_t>(i)] / sum;
  return t;
}

Taps identity_taps() {
  Taps t{};
  t.s = 1;
  t.g[0] = 1.0;
  return t;
}

unsigned blocks(std::int64_t n) {
  return cuda_detail::grid_for(n);
}

}  // namespace

void msssim(const float* x, const float* y, const VolumeShape& s, const MsssimOptions& o,
            float* value, float* grad_x, int* nonfinite, void* stream_handle) {
  const cudaStream_t st = cuda_detail::as_stream(stream_handle);
  const std::vector<double> w = o.weights.empty() ? default_msssim_weights(s.is_3d) : o.weights;
  const int M = static_cast<int>(w.size());
  DDNET_CHECK(M >= 1 && M <= kMaxLevels, "msssim: 1 to ", kMaxLevels, " levels, got ", M);
  DDNET_CHECK(o.window >= 1 && o.window <= kMaxTaps && o.sigma > 0, "msssim on CUDA: window 1..",
              kMaxTaps, " and sigma > 0, got window ", o.window, " and sigma ", o.sigma);
  DDNET_CHECK(x != nullptr && y != nullptr && value != nullptr,
              "msssim on CUDA: null prediction, target or value pointer");
  // The device is the prediction's; the temporaries below are allocated on that device's current
  // stream, so the kernels must run on that same stream (else the allocator could hand a freed
  // temporary to other work while these kernels still use it).
  cudaPointerAttributes attr{};
  CUDA_CHECK(cudaPointerGetAttributes(&attr, x));
  DDNET_CHECK(attr.type == cudaMemoryTypeDevice || attr.type == cudaMemoryTypeManaged,
              "msssim on CUDA: the prediction is not in CUDA device memory");
  const int dev = attr.device;
  int current_dev = 0;
  CUDA_CHECK(cudaGetDevice(&current_dev));
  DDNET_CHECK(current_dev == dev, "msssim on CUDA: the prediction is on cuda:", dev,
              " but the current device is cuda:", current_dev);
  DDNET_CHECK(stream_handle == current_stream(dev).handle(),
              "msssim on CUDA: the stream passed is not the current stream of cuda:", dev,
              "; launch it on current_stream(", dev,
              ") (e.g. under a StreamGuard), where its temporaries are allocated");
  const Device device = Device::cuda(dev);
  const int kd = s.is_3d ? 2 : 1;
  auto f64 = [&](std::int64_t n) {
    return Tensor::empty(Shape{std::max<std::int64_t>(n, 1)}, device, DType::f64);
  };

  struct Level {
    Dims dims, valid;
    Taps taps;
    Tensor x, y;      // pooled level volumes, double (level 0 reads the float inputs)
    Tensor stats[5];  // m1, m2, m11, m22, m12 at valid size, double
  };
  std::vector<Level> lv(static_cast<std::size_t>(M));
  Tensor scalars = f64(6 * M);  // range, ssim, cs, gs, gc per level (+ spare)
  double* range = scalars.data<double>();
  double* ssim_mean = range + M;
  double* cs_mean = range + 2 * M;
  double* gs = range + 3 * M;
  double* gc = range + 4 * M;
  Tensor pmax = f64(kReduceBlocks), pmin = f64(kReduceBlocks), pssim = f64(kReduceBlocks),
         pcs = f64(kReduceBlocks);
  Tensor pbad = Tensor::empty(Shape{kReduceBlocks}, device, DType::i32);

  Dims dims{s.planes, s.is_3d ? s.d : 1, s.h, s.w};
  for (int j = 0; j < M; ++j) {
    Level& L = lv[static_cast<std::size_t>(j)];
    L.dims = dims;
    DDNET_CHECK(dims.d >= 1 && dims.h >= 1 && dims.w >= 1, "msssim: level ", j + 1, " of ", M,
                " has an empty volume; the input is too small for ", M, " levels");
    const double* dx = j == 0 ? nullptr : L.x.data<double>();
    const double* dy = j == 0 ? nullptr : L.y.data<double>();
    std::int64_t sz = std::min<std::int64_t>({o.window, dims.h, dims.w});
    if (s.is_3d) sz = std::min<std::int64_t>(sz, dims.d);
    L.taps = taps_for(sz, o.sigma);
    const Taps td = s.is_3d ? L.taps : identity_taps();
    const Dims vw{dims.planes, dims.d, dims.h, dims.w - sz + 1};
    const Dims vh{dims.planes, dims.d, dims.h - sz + 1, vw.w};
    L.valid = Dims{dims.planes, dims.d - td.s + 1, vh.h, vw.w};
    // data range and NaN/Inf count of this level
    const unsigned rb = std::min<unsigned>(kReduceBlocks, blocks(dims.numel()));
    if (j == 0) DDNET_LAUNCH(rb, 256, 0, st, minmax_kernel<float>)
    (x, y, dims.numel(), pmax.data<double>(), pmin.data<double>(), pbad.data<std::int32_t>());
    else DDNET_LAUNCH(rb, 256, 0, st, minmax_kernel<double>)(
        dx, nullptr, dims.numel(), pmax.data<double>(), pmin.data<double>(),
        pbad.data<std::int32_t>());
    CUDA_CHECK_LAUNCH("msssim minmax");
    DDNET_LAUNCH(1, 1, 0, st, range_kernel)
    (pmax.data<double>(), pmin.data<double>(), pbad.data<std::int32_t>(), static_cast<int>(rb),
     o.data_range, range + j, j == 0 ? nonfinite : nullptr);
    CUDA_CHECK_LAUNCH("msssim range");
    // separable filtering of the five maps, in double; each intermediate is released as soon as
    // its pass is queued (stream-ordered reuse on this same stream)
    FiveOut ow{}, oh{}, os{};
    {
      Tensor tw[5], th[5];
      for (int m = 0; m < 5; ++m) {
        tw[m] = f64(vw.numel());
        ow.m[m] = tw[m].data<double>();
      }
      if (j == 0) DDNET_LAUNCH(blocks(vw.numel()), 256, 0, st, filter_w5<float>)
      (x, y, dims, vw, L.taps, ow.m[0], ow.m[1], ow.m[2], ow.m[3], ow.m[4]);
      else DDNET_LAUNCH(blocks(vw.numel()), 256, 0, st, filter_w5<double>)(
          dx, dy, dims, vw, L.taps, ow.m[0], ow.m[1], ow.m[2], ow.m[3], ow.m[4]);
      CUDA_CHECK_LAUNCH("msssim filter_w5");
      for (int m = 0; m < 5; ++m) {
        th[m] = f64(vh.numel());
        oh.m[m] = th[m].data<double>();
      }
      const Five iw{{ow.m[0], ow.m[1], ow.m[2], ow.m[3], ow.m[4]}};
      DDNET_LAUNCH(blocks(vh.numel()), 256, 0, st, filter_axis5)(iw, vw, vh, 1, L.taps, oh);
      CUDA_CHECK_LAUNCH("msssim filter_h5");
      for (auto& t : tw) t = Tensor();
      for (int m = 0; m < 5; ++m) {
        L.stats[m] = f64(L.valid.numel());
        os.m[m] = L.stats[m].data<double>();
      }
      const Five ih{{oh.m[0], oh.m[1], oh.m[2], oh.m[3], oh.m[4]}};
      DDNET_LAUNCH(blocks(L.valid.numel()), 256, 0, st, filter_axis5)(ih, vh, L.valid, 0, td, os);
      CUDA_CHECK_LAUNCH("msssim filter_d5");
    }
    const Five stats{{os.m[0], os.m[1], os.m[2], os.m[3], os.m[4]}};
    const unsigned tb = std::min<unsigned>(kReduceBlocks, blocks(L.valid.numel()));
    DDNET_LAUNCH(tb, 256, 0, st, terms_kernel)
    (stats, L.valid.numel(), range + j, pssim.data<double>(), pcs.data<double>());
    CUDA_CHECK_LAUNCH("msssim terms");
    DDNET_LAUNCH(1, 1, 0, st, finish_kernel)
    (pssim.data<double>(), pcs.data<double>(), static_cast<int>(tb),
     static_cast<double>(L.valid.numel()), ssim_mean + j, cs_mean + j);
    CUDA_CHECK_LAUNCH("msssim finish");
    if (j + 1 < M) {
      const Dims next{dims.planes, s.is_3d ? dims.d / 2 : 1, dims.h / 2, dims.w / 2};
      Level& N = lv[static_cast<std::size_t>(j + 1)];
      N.x = f64(next.numel());
      N.y = f64(next.numel());
      if (next.numel() > 0) {
        if (j == 0) DDNET_LAUNCH(blocks(next.numel()), 256, 0, st, pool2_kernel<float>)
        (x, y, dims, next, kd, N.x.data<double>(), N.y.data<double>());
        else DDNET_LAUNCH(blocks(next.numel()), 256, 0, st, pool2_kernel<double>)(
            dx, dy, dims, next, kd, N.x.data<double>(), N.y.data<double>());
        CUDA_CHECK_LAUNCH("msssim pool2");
      }
      dims = next;
    }
  }
  CombineArgs ca{};
  ca.levels = M;
  for (int j = 0; j < M; ++j) ca.w[j] = w[static_cast<std::size_t>(j)];
  ca.last_exp =
      o.combine == MsssimCombine::reference ? static_cast<double>(M - 1) * w.back() : w.back();
  ca.simple = o.normalize == MsssimNormalize::simple;
  DDNET_LAUNCH(1, 1, 0, st, combine_kernel)(ssim_mean, cs_mean, ca, value, gs, gc);
  CUDA_CHECK_LAUNCH("msssim combine");
  if (!grad_x) return;

  Tensor deeper;  // the gradient of the level below, at its own size, double
  Dims deeper_dims{};
  for (int j = M - 1; j >= 0; --j) {
    Level& L = lv[static_cast<std::size_t>(j)];
    const Taps td = s.is_3d ? L.taps : identity_taps();
    const std::int64_t nv = L.valid.numel();
    // adjoint along D, then H, then W (fused with the final combination)
    const Dims ad{L.valid.planes, L.dims.d, L.valid.h, L.valid.w};
    const Dims ah{L.valid.planes, L.dims.d, L.dims.h, L.valid.w};
    FiveOut og{}, od{}, oh{};
    Tensor bh[3];
    {
      Tensor g[3], bd[3];
      for (int m = 0; m < 3; ++m) {
        g[m] = f64(nv);
        og.m[m] = g[m].data<double>();
      }
      const Five stats{{L.stats[0].data<double>(), L.stats[1].data<double>(),
                        L.stats[2].data<double>(), L.stats[3].data<double>(),
                        L.stats[4].data<double>()}};
      DDNET_LAUNCH(blocks(nv), 256, 0, st, grad_maps_kernel)
      (stats, nv, range + j, gs + j, gc + j, static_cast<double>(nv), og.m[0], og.m[1], og.m[2]);
      CUDA_CHECK_LAUNCH("msssim grad_maps");
      for (auto& t : L.stats) t = Tensor();  // no longer needed
      for (int m = 0; m < 3; ++m) {
        bd[m] = f64(ad.numel());
        od.m[m] = bd[m].data<double>();
      }
      const Five in_d{{og.m[0], og.m[1], og.m[2], nullptr, nullptr}};
      DDNET_LAUNCH(blocks(ad.numel()), 256, 0, st, adjoint_axis3)(in_d, L.valid, ad, 0, td, od);
      CUDA_CHECK_LAUNCH("msssim adjoint_d");
      for (auto& t : g) t = Tensor();
      for (int m = 0; m < 3; ++m) {
        bh[m] = f64(ah.numel());
        oh.m[m] = bh[m].data<double>();
      }
      const Five in_h{{od.m[0], od.m[1], od.m[2], nullptr, nullptr}};
      DDNET_LAUNCH(blocks(ah.numel()), 256, 0, st, adjoint_axis3)(in_h, ad, ah, 1, L.taps, oh);
      CUDA_CHECK_LAUNCH("msssim adjoint_h");
    }
    const Five in_w{{oh.m[0], oh.m[1], oh.m[2], nullptr, nullptr}};
    const double* dgrad = deeper.defined() ? deeper.data<double>() : nullptr;
    Tensor out;
    if (j == 0) {
      DDNET_LAUNCH(blocks(L.dims.numel()), 256, 0, st, adjoint_w_final<float>)
      (in_w, ah, L.dims, L.taps, x, y, dgrad, deeper_dims, kd, grad_x);
    } else {
      out = f64(L.dims.numel());
      DDNET_LAUNCH(blocks(L.dims.numel()), 256, 0, st, adjoint_w_final<double>)
      (in_w, ah, L.dims, L.taps, L.x.data<double>(), L.y.data<double>(), dgrad, deeper_dims, kd,
       out.data<double>());
    }
    CUDA_CHECK_LAUNCH("msssim adjoint_w_final");
    deeper = out;
    deeper_dims = L.dims;
  }
}

}  // namespace ddnet::kernels::cuda
