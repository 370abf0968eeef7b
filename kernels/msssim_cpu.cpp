// MS-SSIM on the CPU, in double: separable valid Gaussian filtering of the five maps, the SSIM
// and contrast-structure means per level, average pooling between levels; the backward applies
// the adjoint filter (a "full" correlation with the same symmetric taps) to the per-voxel
// derivatives of the maps with respect to the raw moments E[x], E[x^2], E[xy].
#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/error.h"
#include "engine/parallel.h"
#include "kernels/msssim.h"

namespace ddnet::kernels {

std::vector<double> default_msssim_weights(bool is_3d) {
  if (is_3d) return {0.0448, 0.2856, 0.3001, 0.2363};
  return {0.0448, 0.2856, 0.3001, 0.2363, 0.1333};
}

namespace {

struct Dims {
  std::int64_t planes, d, h, w;
  std::int64_t plane() const { return d * h * w; }
  std::int64_t numel() const { return planes * plane(); }
};

std::vector<double> gaussian(int size, double sigma) {
  std::vector<double> g(static_cast<std::size_t>(size));
  double sum = 0;
  for (int i = 0; i < size; ++i) {
    const double x = i - size / 2;
    g[static_cast<std::size_t>(i)] = std::exp(-(x * x) / (2 * sigma * sigma));
    sum += g[static_cast<std::size_t>(i)];
  }
  for (double& v : g) v /= sum;
  return g;
}

// One axis of a separable filter. `adjoint` false: valid correlation, n -> n - s + 1;
// true: its adjoint, n - s + 1 -> n (zero outside). `axis` 0 = D, 1 = H, 2 = W.
std::vector<double> filter_axis(const std::vector<double>& in, const Dims& id, int axis,
                                const std::vector<double>& g, bool adjoint, Dims* od) {
  const std::int64_t s = static_cast<std::int64_t>(g.size());
  Dims o = id;
  std::int64_t* len = axis == 0 ? &o.d : axis == 1 ? &o.h : &o.w;
  *len = adjoint ? *len + s - 1 : *len - s + 1;
  const std::int64_t stride = axis == 0 ? id.h * id.w : axis == 1 ? id.w : 1;
  const std::int64_t ostride = axis == 0 ? o.h * o.w : axis == 1 ? o.w : 1;
  const std::int64_t n_in = axis == 0 ? id.d : axis == 1 ? id.h : id.w;
  const std::int64_t n_out = *len;
  std::vector<double> out(static_cast<std::size_t>(o.numel()), 0.0);
  // Lines along `axis`: one per (plane, other two coordinates).
  const std::int64_t lines = o.numel() / n_out;
  parallel_for(lines, std::max<std::int64_t>(1, 4096 / std::max<std::int64_t>(n_out, 1)),
               [&](std::int64_t b, std::int64_t e) {
                 for (std::int64_t line = b; line < e; ++line) {
                   // decompose the line index into (plane, a, c) over the two other axes of the
                   // output
                   std::int64_t p, a0, a1;
                   if (axis == 0) {
                     p = line / (o.h * o.w);
                     a0 = (line / o.w) % o.h;
                     a1 = line % o.w;
                   } else if (axis == 1) {
                     p = line / (o.d * o.w);
                     a0 = (line / o.w) % o.d;
                     a1 = line % o.w;
                   } else {
                     p = line / (o.d * o.h);
                     a0 = (line / o.h) % o.d;
                     a1 = line % o.h;
                   }
                   std::int64_t ibase, obase;
                   if (axis == 0) {
                     ibase = p * id.plane() + a0 * id.w + a1;
                     obase = p * o.plane() + a0 * o.w + a1;
                   } else if (axis == 1) {
                     ibase = p * id.plane() + a0 * id.h * id.w + a1;
                     obase = p * o.plane() + a0 * o.h * o.w + a1;
                   } else {
                     ibase = p * id.plane() + (a0 * id.h + a1) * id.w;
                     obase = p * o.plane() + (a0 * o.h + a1) * o.w;
                   }
                   const double* src = in.data() + ibase;
                   double* dst = out.data() + obase;
                   for (std::int64_t i = 0; i < n_out; ++i) {
                     double acc = 0;
                     if (!adjoint) {
                       for (std::int64_t k = 0; k < s; ++k)
                         acc += g[static_cast<std::size_t>(k)] * src[(i + k) * stride];
                     } else {
                       // out[i] = sum_k g[k] in[i - k], 0 <= i - k < n_in
                       const std::int64_t k0 = std::max<std::int64_t>(0, i - n_in + 1),
                                          k1 = std::min<std::int64_t>(s - 1, i);
                       for (std::int64_t k = k0; k <= k1; ++k)
                         acc += g[static_cast<std::size_t>(k)] * src[(i - k) * stride];
                     }
                     dst[i * ostride] = acc;
                   }
                 }
               });
  *od = o;
  return out;
}

std::vector<double> filter(const std::vector<double>& in, const Dims& id,
                           const std::vector<double>& g, bool is_3d, bool adjoint, Dims* od) {
  Dims a, b, c;
  std::vector<double> t = filter_axis(in, id, 2, g, adjoint, &a);
  t = filter_axis(t, a, 1, g, adjoint, &b);
  if (!is_3d) {
    *od = b;
    return t;
  }
  t = filter_axis(t, b, 0, g, adjoint, &c);
  *od = c;
  return t;
}

// 2x average pooling, floor (D too in 3D).
std::vector<double> avg_pool2(const std::vector<double>& in, const Dims& id, bool is_3d, Dims* od) {
  Dims o{id.planes, is_3d ? id.d / 2 : id.d, id.h / 2, id.w / 2};
  const std::int64_t kd = is_3d ? 2 : 1;
  std::vector<double> out(static_cast<std::size_t>(o.numel()));
  const double scale = 1.0 / static_cast<double>(kd * 4);
  parallel_for(o.numel(), 1 << 14, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) {
      const std::int64_t ow = i % o.w, oh = (i / o.w) % o.h, od_ = (i / (o.w * o.h)) % o.d,
                         p = i / o.plane();
      double acc = 0;
      for (std::int64_t a = 0; a < kd; ++a)
        for (std::int64_t c = 0; c < 2; ++c)
          for (std::int64_t q = 0; q < 2; ++q)
            acc += in[static_cast<std::size_t>(
                p * id.plane() + ((od_ * kd + a) * id.h + oh * 2 + c) * id.w + ow * 2 + q)];
      out[static_cast<std::size_t>(i)] = acc * scale;
    }
  });
  *od = o;
  return out;
}

// grad_in += pool^T(grad_out)
void avg_pool2_adjoint(const std::vector<double>& gout, const Dims& o, bool is_3d,
                       std::vector<double>& gin, const Dims& id) {
  const std::int64_t kd = is_3d ? 2 : 1;
  const double scale = 1.0 / static_cast<double>(kd * 4);
  parallel_for(id.numel(), 1 << 14, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) {
      const std::int64_t iw = i % id.w, ih = (i / id.w) % id.h, idd = (i / (id.w * id.h)) % id.d,
                         p = i / id.plane();
      const std::int64_t ow = iw / 2, oh = ih / 2, od_ = idd / kd;
      if (ow >= o.w || oh >= o.h || od_ >= o.d) continue;  // dropped by floor
      gin[static_cast<std::size_t>(i)] +=
          scale * gout[static_cast<std::size_t>(p * o.plane() + (od_ * o.h + oh) * o.w + ow)];
    }
  });
}

double infer_range(const std::vector<double>& x) {
  double mx = -std::numeric_limits<double>::infinity(),
         mn = std::numeric_limits<double>::infinity();
  for (double v : x) {
    mx = std::max(mx, v);
    mn = std::min(mn, v);
  }
  const double max_val = mx > 128 ? 255 : 1;
  const double min_val = mn < -0.001 ? -0.1 : 0;
  return max_val - min_val;
}

struct Level {
  Dims dims, valid;
  std::vector<double> x, y;                   // the level's volumes
  std::vector<double> m1, m2, m11, m12, m22;  // filtered statistics (valid size)
  std::vector<double> g;                      // window taps
  double c1 = 0, c2 = 0, ssim = 0, cs = 0, range = 0;
};

void level_forward(Level& L, bool is_3d, const MsssimOptions& o) {
  const Dims& d = L.dims;
  std::int64_t s = std::min<std::int64_t>({o.window, d.h, d.w});
  if (is_3d) s = std::min<std::int64_t>(s, d.d);
  L.g = gaussian(static_cast<int>(s), o.sigma);
  const std::size_t n = L.x.size();
  std::vector<double> xx(n), yy(n), xy(n);
  for (std::size_t i = 0; i < n; ++i) {
    xx[i] = L.x[i] * L.x[i];
    yy[i] = L.y[i] * L.y[i];
    xy[i] = L.x[i] * L.y[i];
  }
  L.m1 = filter(L.x, d, L.g, is_3d, false, &L.valid);
  L.m2 = filter(L.y, d, L.g, is_3d, false, &L.valid);
  L.m11 = filter(xx, d, L.g, is_3d, false, &L.valid);
  L.m22 = filter(yy, d, L.g, is_3d, false, &L.valid);
  L.m12 = filter(xy, d, L.g, is_3d, false, &L.valid);
  L.range = o.data_range > 0 ? o.data_range : infer_range(L.x);
  L.c1 = (0.01 * L.range) * (0.01 * L.range);
  L.c2 = (0.03 * L.range) * (0.03 * L.range);
  double ssim_sum = 0, cs_sum = 0;
  for (std::size_t i = 0; i < L.m1.size(); ++i) {
    const double mu1 = L.m1[i], mu2 = L.m2[i];
    const double s11 = L.m11[i] - mu1 * mu1, s22 = L.m22[i] - mu2 * mu2, s12 = L.m12[i] - mu1 * mu2;
    const double v1 = 2 * s12 + L.c2, v2 = s11 + s22 + L.c2;
    cs_sum += v1 / v2;
    ssim_sum += ((2 * mu1 * mu2 + L.c1) * v1) / ((mu1 * mu1 + mu2 * mu2 + L.c1) * v2);
  }
  const double np = static_cast<double>(L.m1.size());
  L.ssim = ssim_sum / np;
  L.cs = cs_sum / np;
}

// d(value)/d(level input x) for upstream gradients gs (of the raw ssim mean) and gc (of cs).
std::vector<double> level_backward(const Level& L, bool is_3d, double gs, double gc) {
  const std::size_t nv = L.m1.size();
  const double np = static_cast<double>(nv);
  std::vector<double> g1(nv), g11(nv), g12(nv);
  for (std::size_t i = 0; i < nv; ++i) {
    const double mu1 = L.m1[i], mu2 = L.m2[i];
    const double s11 = L.m11[i] - mu1 * mu1, s22 = L.m22[i] - mu2 * mu2, s12 = L.m12[i] - mu1 * mu2;
    const double A = 2 * mu1 * mu2 + L.c1, B = mu1 * mu1 + mu2 * mu2 + L.c1;
    const double Cn = 2 * s12 + L.c2, D = s11 + s22 + L.c2;
    const double l = A / B, c = Cn / D;
    // c as a function of the raw moments (m1, m11, m12): s11 = m11 - m1^2, s12 = m12 - m1 mu2
    const double dc_dm12 = 2 / D, dc_dm11 = -Cn / (D * D);
    const double dc_dm1 = -2 * mu2 / D + 2 * mu1 * Cn / (D * D);
    const double dl_dm1 = 2 * (mu2 * B - A * mu1) / (B * B);
    const double ds_dm1 = dl_dm1 * c + l * dc_dm1, ds_dm11 = l * dc_dm11, ds_dm12 = l * dc_dm12;
    g1[i] = (gs * ds_dm1 + gc * dc_dm1) / np;
    g11[i] = (gs * ds_dm11 + gc * dc_dm11) / np;
    g12[i] = (gs * ds_dm12 + gc * dc_dm12) / np;
  }
  Dims full;
  const std::vector<double> a1 = filter(g1, L.valid, L.g, is_3d, true, &full);
  const std::vector<double> a11 = filter(g11, L.valid, L.g, is_3d, true, &full);
  const std::vector<double> a12 = filter(g12, L.valid, L.g, is_3d, true, &full);
  std::vector<double> gx(L.x.size());
  for (std::size_t i = 0; i < gx.size(); ++i) gx[i] = a1[i] + 2 * L.x[i] * a11[i] + L.y[i] * a12[i];
  return gx;
}

template <class T>
void check_finite(const T* v, std::int64_t n, const char* what) {
  for (std::int64_t i = 0; i < n; ++i)
    DDNET_CHECK(std::isfinite(static_cast<double>(v[i])), "msssim: the ", what, " contains ",
                std::isnan(static_cast<double>(v[i])) ? "NaN" : "Inf", " (element ", i, ")");
}

}  // namespace

namespace cpu {

template <class T>
MsssimResult msssim(const T* x, const T* y, const VolumeShape& s, const MsssimOptions& o, T* grad_x,
                    double grad_scale) {
  check_finite(x, s.numel(), "prediction");
  check_finite(y, s.numel(), "target");
  const std::vector<double> w = o.weights.empty() ? default_msssim_weights(s.is_3d) : o.weights;
  const std::size_t M = w.size();
  DDNET_CHECK(M >= 1, "msssim: at least one level");
  DDNET_CHECK(o.window >= 1 && o.sigma > 0, "msssim: window ", o.window, " and sigma ", o.sigma);
  std::vector<Level> levels(M);
  levels[0].dims = {s.planes, s.is_3d ? s.d : 1, s.h, s.w};
  levels[0].x.assign(x, x + s.numel());
  levels[0].y.assign(y, y + s.numel());
  for (std::size_t j = 0; j < M; ++j) {
    Level& L = levels[j];
    DDNET_CHECK(L.dims.h >= 1 && L.dims.w >= 1 && L.dims.d >= 1, "msssim: level ", j + 1, " of ", M,
                " has an empty volume; the input is too small for ", M, " levels");
    level_forward(L, s.is_3d, o);
    if (j + 1 < M) {
      levels[j + 1].x = avg_pool2(L.x, L.dims, s.is_3d, &levels[j + 1].dims);
      levels[j + 1].y = avg_pool2(L.y, L.dims, s.is_3d, &levels[j + 1].dims);
    }
  }
  // Normalised values and the combination.
  const double nf = o.normalize == MsssimNormalize::simple ? 0.5 : 1.0;
  auto norm = [&](double v) { return o.normalize == MsssimNormalize::simple ? (v + 1) / 2 : v; };
  MsssimResult r;
  for (const Level& L : levels) {
    r.ssim.push_back(norm(L.ssim));
    r.cs.push_back(norm(L.cs));
    r.range.push_back(L.range);
  }
  const double last_exp =
      o.combine == MsssimCombine::reference ? static_cast<double>(M - 1) * w[M - 1] : w[M - 1];
  std::vector<double> terms(M);
  for (std::size_t j = 0; j + 1 < M; ++j) terms[j] = std::pow(r.cs[j], w[j]);
  terms[M - 1] = std::pow(r.ssim[M - 1], last_exp);
  r.value = 1;
  for (double t : terms) r.value *= t;
  if (!grad_x) return r;

  // d value / d term_j = product of the other terms; d term / d raw mean = exponent * v^(e-1) * nf.
  auto others = [&](std::size_t j) {
    double p = 1;
    for (std::size_t k = 0; k < M; ++k)
      if (k != j) p *= terms[k];
    return p;
  };
  std::vector<double> gx;  // gradient at the current level, walking up from the deepest
  Dims prev_dims{};
  for (std::size_t jj = M; jj-- > 0;) {
    const Level& L = levels[jj];
    double gs = 0, gc = 0;
    if (jj == M - 1)
      gs = others(jj) * last_exp * std::pow(r.ssim[jj], last_exp - 1) * nf;
    else
      gc = others(jj) * w[jj] * std::pow(r.cs[jj], w[jj] - 1) * nf;
    std::vector<double> g = level_backward(L, s.is_3d, gs, gc);
    if (!gx.empty()) avg_pool2_adjoint(gx, prev_dims, s.is_3d, g, L.dims);
    gx = std::move(g);
    prev_dims = L.dims;
  }
  for (std::int64_t i = 0; i < s.numel(); ++i)
    grad_x[i] = static_cast<T>(grad_scale * gx[static_cast<std::size_t>(i)]);
  return r;
}

template MsssimResult msssim<float>(const float*, const float*, const VolumeShape&,
                                    const MsssimOptions&, float*, double);
template MsssimResult msssim<double>(const double*, const double*, const VolumeShape&,
                                     const MsssimOptions&, double*, double);

}  // namespace cpu
}  // namespace ddnet::kernels
