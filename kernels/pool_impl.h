// Internal: the per-element pooling logic of the CUDA kernels (pool.cu) and of the CPU twin
// (pool_cpu.cpp). The CPU max-pool forward applies max_at's rules a row at a time, and its
// backward scatters per plane in max_grad_at's order; tests hold both to these functions bit for
// bit.
#pragma once

#include <math.h>

#include "kernels/pool.h"

#if defined(__CUDACC__)
#define DDNET_POOL_HD __host__ __device__ __forceinline__
#else
#define DDNET_POOL_HD inline
#endif

namespace ddnet::kernels::pool_impl {

// The max rule: v takes over from the running best when strictly larger (so the first maximum in
// scan order wins) or when it is NaN.
template <class T>
DDNET_POOL_HD bool max_takes(T v, T best) {
  return v > best || isnan(v);
}

// Output element o of plane p: max over the window, PyTorch's rules (first max wins, NaN wins).
template <class T>
DDNET_POOL_HD void max_at(const PoolGeometry& g, const T* x, std::int64_t i, T* y,
                          std::int32_t* argmax) {
  const std::int64_t ow = i % g.out[2], oh = (i / g.out[2]) % g.out[1],
                     od = (i / (g.out[2] * g.out[1])) % g.out[0];
  const std::int64_t p = i / g.out_plane();
  const T* xp = x + p * g.in_plane();
  std::int64_t d0 = od * g.stride[0] - g.pad[0], h0 = oh * g.stride[1] - g.pad[1],
               w0 = ow * g.stride[2] - g.pad[2];
  const std::int64_t d1 = d0 + g.k[0] < g.in[0] ? d0 + g.k[0] : g.in[0];
  const std::int64_t h1 = h0 + g.k[1] < g.in[1] ? h0 + g.k[1] : g.in[1];
  const std::int64_t w1 = w0 + g.k[2] < g.in[2] ? w0 + g.k[2] : g.in[2];
  d0 = d0 < 0 ? 0 : d0;
  h0 = h0 < 0 ? 0 : h0;
  w0 = w0 < 0 ? 0 : w0;
  std::int64_t best_index = (d0 * g.in[1] + h0) * g.in[2] + w0;
  T best = -INFINITY;
  for (std::int64_t d = d0; d < d1; ++d)
    for (std::int64_t h = h0; h < h1; ++h)
      for (std::int64_t w = w0; w < w1; ++w) {
        const std::int64_t idx = (d * g.in[1] + h) * g.in[2] + w;
        const T v = xp[idx];
        if (max_takes(v, best)) {
          best = v;
          best_index = idx;
        }
      }
  y[i] = best;
  argmax[i] = static_cast<std::int32_t>(best_index);
}

// The outputs whose windows (start o*s - p, length k) contain input index `in` along one axis.
DDNET_POOL_HD void window_range(std::int64_t in, std::int64_t k, std::int64_t s, std::int64_t p,
                                std::int64_t out, std::int64_t* lo, std::int64_t* hi) {
  const std::int64_t a = in + p - k + 1;  // o*s >= a
  std::int64_t first = a <= 0 ? 0 : (a + s - 1) / s;
  std::int64_t last = (in + p) / s;  // o*s <= in + p
  if (last > out - 1) last = out - 1;
  *lo = first;
  *hi = last;  // inclusive; empty when lo > hi
}

// dx at input element i (flat over planes): the sum of dy over outputs whose argmax is i.
template <class T>
DDNET_POOL_HD void max_grad_at(const PoolGeometry& g, const T* dy, const std::int32_t* argmax,
                               std::int64_t i, T* dx) {
  const std::int64_t iw = i % g.in[2], ih = (i / g.in[2]) % g.in[1],
                     id = (i / (g.in[2] * g.in[1])) % g.in[0];
  const std::int64_t p = i / g.in_plane();
  const std::int64_t local = (id * g.in[1] + ih) * g.in[2] + iw;
  std::int64_t d_lo, d_hi, h_lo, h_hi, w_lo, w_hi;
  window_range(id, g.k[0], g.stride[0], g.pad[0], g.out[0], &d_lo, &d_hi);
  window_range(ih, g.k[1], g.stride[1], g.pad[1], g.out[1], &h_lo, &h_hi);
  window_range(iw, g.k[2], g.stride[2], g.pad[2], g.out[2], &w_lo, &w_hi);
  const T* dyp = dy + p * g.out_plane();
  const std::int32_t* ap = argmax + p * g.out_plane();
  T acc = 0;
  for (std::int64_t od = d_lo; od <= d_hi; ++od)
    for (std::int64_t oh = h_lo; oh <= h_hi; ++oh)
      for (std::int64_t ow = w_lo; ow <= w_hi; ++ow) {
        const std::int64_t o = (od * g.out[1] + oh) * g.out[2] + ow;
        if (ap[o] == local) acc += dyp[o];
      }
  dx[i] = acc;
}

template <class T>
DDNET_POOL_HD void avg_at(const PoolGeometry& g, const T* x, std::int64_t i, T* y) {
  const std::int64_t ow = i % g.out[2], oh = (i / g.out[2]) % g.out[1],
                     od = (i / (g.out[2] * g.out[1])) % g.out[0];
  const T* xp = x + (i / g.out_plane()) * g.in_plane();
  T acc = 0;
  for (std::int64_t kd = 0; kd < g.k[0]; ++kd)
    for (std::int64_t kh = 0; kh < g.k[1]; ++kh)
      for (std::int64_t kw = 0; kw < g.k[2]; ++kw)
        acc += xp[((od * g.stride[0] + kd) * g.in[1] + oh * g.stride[1] + kh) * g.in[2] +
                  ow * g.stride[2] + kw];
  y[i] = acc / static_cast<T>(g.k[0] * g.k[1] * g.k[2]);
}

template <class T>
DDNET_POOL_HD void avg_grad_at(const PoolGeometry& g, const T* dy, std::int64_t i, T* dx) {
  const std::int64_t iw = i % g.in[2], ih = (i / g.in[2]) % g.in[1],
                     id = (i / (g.in[2] * g.in[1])) % g.in[0];
  std::int64_t d_lo, d_hi, h_lo, h_hi, w_lo, w_hi;
  window_range(id, g.k[0], g.stride[0], 0, g.out[0], &d_lo, &d_hi);
  window_range(ih, g.k[1], g.stride[1], 0, g.out[1], &h_lo, &h_hi);
  window_range(iw, g.k[2], g.stride[2], 0, g.out[2], &w_lo, &w_hi);
  const T* dyp = dy + (i / g.in_plane()) * g.out_plane();
  T acc = 0;
  for (std::int64_t od = d_lo; od <= d_hi; ++od)
    for (std::int64_t oh = h_lo; oh <= h_hi; ++oh)
      for (std::int64_t ow = w_lo; ow <= w_hi; ++ow)
        acc += dyp[(od * g.out[1] + oh) * g.out[2] + ow];
  dx[i] = acc / static_cast<T>(g.k[0] * g.k[1] * g.k[2]);
}

}  // namespace ddnet::kernels::pool_impl
