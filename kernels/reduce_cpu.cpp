// CPU reductions: fixed 16 Ki-element chunks in parallel, combined in order, in double.
#include <cmath>
#include <limits>
#include <vector>

#include "engine/parallel.h"
#include "kernels/cpu_features.h"
#include "kernels/reduce.h"

namespace ddnet::kernels {

const char* reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum:
      return "sum";
    case ReduceOp::mean:
      return "mean";
    case ReduceOp::max:
      return "max";
    case ReduceOp::sum_sq:
      return "sum_sq";
  }
  return "?";
}

namespace cpu {

namespace {
constexpr std::int64_t kChunk = 1 << 14;

inline double combine(ReduceOp op, double a, double b) {
  if (op != ReduceOp::max) return a + b;
  return (std::isnan(a) || a > b) ? a : b;  // a NaN on either side wins, as in PyTorch
}
// One element into an accumulator: x for sum/mean, x^2 for sum_sq, max for max.
inline double fold(ReduceOp op, double acc, double v) {
  if (op == ReduceOp::sum_sq) return acc + v * v;
  return combine(op, acc, v);
}

// One chunk: 8 interleaved accumulators (they break the add latency chain), combined in a fixed
// order. The op is a template argument so that the loop has no branch and vectorises; it is
// compiled for the baseline and, chosen at run time, for AVX2 (the same operations in the same
// order: the same bits).
template <ReduceOp OP, class T>
inline __attribute__((always_inline)) double chunk_body(const T* x, std::int64_t b, std::int64_t e,
                                                        double identity) {
  double acc8[8];
  for (double& a : acc8) a = identity;
  std::int64_t i = b;
  for (; i + 8 <= e; i += 8)
    for (int k = 0; k < 8; ++k) acc8[k] = fold(OP, acc8[k], static_cast<double>(x[i + k]));
  for (int k = 0; i < e; ++i, ++k) acc8[k] = fold(OP, acc8[k], static_cast<double>(x[i]));
  double acc = identity;
  for (double a : acc8) acc = combine(OP, acc, a);
  return acc;
}

template <ReduceOp OP, class T>
double chunk_base(const T* x, std::int64_t b, std::int64_t e, double identity) {
  return chunk_body<OP>(x, b, e, identity);
}
#if defined(__x86_64__)
template <ReduceOp OP, class T>
__attribute__((target("avx2"))) double chunk_avx2(const T* x, std::int64_t b, std::int64_t e,
                                                  double identity) {
  return chunk_body<OP>(x, b, e, identity);
}
#endif

template <ReduceOp OP, class T>
double chunk(const T* x, std::int64_t b, std::int64_t e, double identity) {
#if defined(__x86_64__)
  if (cpu_has_avx2()) return chunk_avx2<OP>(x, b, e, identity);
#endif
  return chunk_base<OP>(x, b, e, identity);
}

template <class T>
double chunk_for(ReduceOp op, const T* x, std::int64_t b, std::int64_t e, double identity) {
  switch (op) {
    case ReduceOp::sum:
    case ReduceOp::mean:
      return chunk<ReduceOp::sum>(x, b, e, identity);
    case ReduceOp::sum_sq:
      return chunk<ReduceOp::sum_sq>(x, b, e, identity);
    case ReduceOp::max:
      break;
  }
  return chunk<ReduceOp::max>(x, b, e, identity);
}

}  // namespace

template <class T>
T reduce(ReduceOp op, const T* x, std::int64_t n) {
  const double identity = op == ReduceOp::max ? -std::numeric_limits<double>::infinity() : 0.0;
  const std::int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(static_cast<std::size_t>(chunks), identity);
  parallel_for(chunks, 1, [&](std::int64_t cb, std::int64_t ce) {
    for (std::int64_t c = cb; c < ce; ++c)
      partial[static_cast<std::size_t>(c)] =
          chunk_for(op, x, c * kChunk, std::min(n, (c + 1) * kChunk), identity);
  });
  double r = identity;
  for (double p : partial) r = combine(op, r, p);
  if (op == ReduceOp::mean)
    r = n > 0 ? r / static_cast<double>(n) : std::numeric_limits<double>::quiet_NaN();
  return static_cast<T>(r);
}

template float reduce<float>(ReduceOp, const float*, std::int64_t);
template double reduce<double>(ReduceOp, const double*, std::int64_t);

}  // namespace cpu
}  // namespace ddnet::kernels
