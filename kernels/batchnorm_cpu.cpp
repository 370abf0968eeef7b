// CPU twins of batch normalisation. Reductions run over fixed pieces (at most 16 Ki elements of
// one (n, c) row each, independent of the thread count), in double with 4 interleaved
// accumulators, and a channel's pieces are added in order: the result is the same for any
// number of threads.
#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/parallel.h"
#include "kernels/batchnorm.h"

namespace ddnet::kernels::cpu {

namespace {

constexpr std::int64_t kPiece = 1 << 14;

// The pieces of the (N, C, S) input: piece k = (c * N + n) * Q + q covers elements
// [q * kPiece, min(S, (q + 1) * kPiece)) of row (n, c); channel c owns pieces [c * N * Q, ...).
struct Pieces {
  std::int64_t N, C, S, Q;
  Pieces(std::int64_t n, std::int64_t c, std::int64_t s)
      : N(n), C(c), S(s), Q(std::max<std::int64_t>(1, (s + kPiece - 1) / kPiece)) {}
  std::int64_t count() const { return C * N * Q; }
  std::int64_t channel(std::int64_t k) const { return k / (N * Q); }
  // Offset of the piece's first element in the input, and its length.
  std::int64_t offset(std::int64_t k) const {
    const std::int64_t c = k / (N * Q), n = (k / Q) % N, q = k % Q;
    return (n * C + c) * S + q * kPiece;
  }
  std::int64_t length(std::int64_t k) const {
    const std::int64_t q = k % Q;
    return std::min(S, (q + 1) * kPiece) - q * kPiece;
  }
  // Pieces per parallel task: small rows make small pieces, so group them.
  std::int64_t grain() const {
    return std::max<std::int64_t>(1, kPiece / std::max<std::int64_t>(1, std::min(S, kPiece)));
  }
};

// For each piece, (sum f(i), sum g(i)) over its elements i, in double; then per channel, the
// pieces' sums in order. f and g take the element's index in the input and its channel; with
// kTwo false only f is summed (out_g is left empty).
template <bool kTwo, class F, class G>
void channel_sums(const Pieces& p, F&& f, G&& g, std::vector<double>& out_f,
                  std::vector<double>& out_g) {
  const std::int64_t count = p.count();
  std::vector<double> pf(static_cast<std::size_t>(count)), pg(kTwo ? pf.size() : 0);
  parallel_for(count, p.grain(), [&](std::int64_t kb, std::int64_t ke) {
    for (std::int64_t k = kb; k < ke; ++k) {
      const std::int64_t c = p.channel(k), b = p.offset(k), e = b + p.length(k);
      double af[4] = {0, 0, 0, 0}, ag[4] = {0, 0, 0, 0};
      std::int64_t i = b;
      for (; i + 4 <= e; i += 4)
        for (int j = 0; j < 4; ++j) {
          af[j] += f(i + j, c);
          if constexpr (kTwo) ag[j] += g(i + j, c);
        }
      for (int j = 0; i < e; ++i, ++j) {
        af[j] += f(i, c);
        if constexpr (kTwo) ag[j] += g(i, c);
      }
      pf[static_cast<std::size_t>(k)] = (af[0] + af[1]) + (af[2] + af[3]);
      if constexpr (kTwo) pg[static_cast<std::size_t>(k)] = (ag[0] + ag[1]) + (ag[2] + ag[3]);
    }
  });
  out_f.assign(static_cast<std::size_t>(p.C), 0.0);
  out_g.assign(kTwo ? out_f.size() : 0, 0.0);
  for (std::int64_t k = 0; k < count; ++k) {
    const auto c = static_cast<std::size_t>(p.channel(k));
    out_f[c] += pf[static_cast<std::size_t>(k)];
    if constexpr (kTwo) out_g[c] += pg[static_cast<std::size_t>(k)];
  }
}

// fn(offset, length, c) for each piece, in parallel: the elementwise passes.
template <class Fn>
void for_each_piece(const Pieces& p, Fn&& fn) {
  parallel_for(p.count(), p.grain(), [&](std::int64_t kb, std::int64_t ke) {
    for (std::int64_t k = kb; k < ke; ++k) fn(p.offset(k), p.length(k), p.channel(k));
  });
}

}  // namespace

template <class T>
void batch_norm_stats(const T* x, std::int64_t N, std::int64_t C, std::int64_t S, T* mean,
                      T* invstd, T* running_mean, T* running_var, double momentum, double eps) {
  const Pieces p(N, C, S);
  const auto n = static_cast<double>(N * S);
  std::vector<double> sum, unused, mu(static_cast<std::size_t>(C)), sq;
  auto value = [x](std::int64_t i, std::int64_t) { return static_cast<double>(x[i]); };
  auto zero = [](std::int64_t, std::int64_t) { return 0.0; };
  channel_sums<false>(p, value, zero, sum, unused);
  for (std::size_t c = 0; c < mu.size(); ++c) mu[c] = sum[c] / n;
  auto deviation2 = [x, &mu](std::int64_t i, std::int64_t c) {
    const double d = static_cast<double>(x[i]) - mu[static_cast<std::size_t>(c)];
    return d * d;
  };
  channel_sums<false>(p, deviation2, zero, sq, unused);
  for (std::int64_t c = 0; c < C; ++c) {
    const auto k = static_cast<std::size_t>(c);
    const double var = sq[k] / n;
    mean[c] = static_cast<T>(mu[k]);
    invstd[c] = static_cast<T>(1.0 / std::sqrt(var + eps));
    if (running_mean)
      running_mean[c] =
          static_cast<T>((1 - momentum) * static_cast<double>(running_mean[c]) + momentum * mu[k]);
    if (running_var)
      running_var[c] = static_cast<T>((1 - momentum) * static_cast<double>(running_var[c]) +
                                      momentum * sq[k] / (n - 1));
  }
}

template <class T>
void batch_norm_eval_stats(const T* running_mean, const T* running_var, T* mean, T* invstd,
                           std::int64_t C, double eps) {
  for (std::int64_t c = 0; c < C; ++c) {
    mean[c] = running_mean[c];
    invstd[c] = static_cast<T>(1.0 / std::sqrt(static_cast<double>(running_var[c]) + eps));
  }
}

template <class T>
void batch_norm_apply(const T* x, const T* mean, const T* invstd, const T* weight, const T* bias,
                      T* y, std::int64_t N, std::int64_t C, std::int64_t S) {
  for_each_piece(Pieces(N, C, S), [&](std::int64_t base, std::int64_t len, std::int64_t c) {
    const T m = mean[c], scale = invstd[c] * (weight ? weight[c] : T(1)),
            shift = bias ? bias[c] : T(0);
    const T* xr = x + base;
    T* yr = y + base;
    for (std::int64_t s = 0; s < len; ++s) yr[s] = (xr[s] - m) * scale + shift;
  });
}

template <class T>
void batch_norm_backward_reduce(const T* dy, const T* x, const T* mean, const T* invstd, T* sum_dy,
                                T* sum_dy_xhat, std::int64_t N, std::int64_t C, std::int64_t S) {
  const Pieces p(N, C, S);
  std::vector<double> sdy, sdyx;
  auto grad = [dy](std::int64_t i, std::int64_t) { return static_cast<double>(dy[i]); };
  auto grad_dev = [dy, x, mean](std::int64_t i, std::int64_t c) {
    return static_cast<double>(dy[i]) * (static_cast<double>(x[i]) - static_cast<double>(mean[c]));
  };
  channel_sums<true>(p, grad, grad_dev, sdy, sdyx);
  for (std::int64_t c = 0; c < C; ++c) {
    const auto k = static_cast<std::size_t>(c);
    sum_dy[c] = static_cast<T>(sdy[k]);
    sum_dy_xhat[c] = static_cast<T>(sdyx[k] * static_cast<double>(invstd[c]));
  }
}

template <class T>
void batch_norm_backward_input(const T* dy, const T* x, const T* mean, const T* invstd,
                               const T* weight, const T* sum_dy, const T* sum_dy_xhat, T* dx,
                               std::int64_t N, std::int64_t C, std::int64_t S, bool training) {
  const auto n = static_cast<double>(N * S);
  for_each_piece(Pieces(N, C, S), [&](std::int64_t base, std::int64_t len, std::int64_t c) {
    const double is = static_cast<double>(invstd[c]);
    const T a = static_cast<T>(is * (weight ? static_cast<double>(weight[c]) : 1.0));
    const T* g = dy + base;
    T* out = dx + base;
    if (!training) {
      if (out == g)
        for (std::int64_t s = 0; s < len; ++s) out[s] = out[s] * a;
      else
        for (std::int64_t s = 0; s < len; ++s) out[s] = g[s] * a;
      return;
    }
    const T m = mean[c], mdy = static_cast<T>(static_cast<double>(sum_dy[c]) / n),
            k = static_cast<T>(is * static_cast<double>(sum_dy_xhat[c]) / n);
    const T* xr = x + base;
    if (out == g) {  // over dy: one pointer, so that the loop vectorises without an alias check
      for (std::int64_t s = 0; s < len; ++s) out[s] = a * (out[s] - mdy - (xr[s] - m) * k);
      return;
    }
    for (std::int64_t s = 0; s < len; ++s) out[s] = a * (g[s] - mdy - (xr[s] - m) * k);
  });
}

#define DDNET_INSTANTIATE(T)                                                                     \
  template void batch_norm_stats<T>(const T*, std::int64_t, std::int64_t, std::int64_t, T*, T*,  \
                                    T*, T*, double, double);                                     \
  template void batch_norm_eval_stats<T>(const T*, const T*, T*, T*, std::int64_t, double);      \
  template void batch_norm_apply<T>(const T*, const T*, const T*, const T*, const T*, T*,        \
                                    std::int64_t, std::int64_t, std::int64_t);                   \
  template void batch_norm_backward_reduce<T>(const T*, const T*, const T*, const T*, T*, T*,    \
                                              std::int64_t, std::int64_t, std::int64_t);         \
  template void batch_norm_backward_input<T>(const T*, const T*, const T*, const T*, const T*,   \
                                             const T*, const T*, T*, std::int64_t, std::int64_t, \
                                             std::int64_t, bool);
DDNET_INSTANTIATE(float)
DDNET_INSTANTIATE(double)
#undef DDNET_INSTANTIATE

}  // namespace ddnet::kernels::cpu
