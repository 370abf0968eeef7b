// CPU twins of the elementwise kernels.
#include <algorithm>

#include "engine/parallel.h"
#include "kernels/elementwise.h"

namespace ddnet::kernels::cpu {

namespace {
constexpr std::int64_t kGrain = 1 << 15;  // below this a parallel region costs more than it saves

template <class F>
void map(std::int64_t n, F&& f) {
  parallel_for(n, kGrain, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) f(i);
  });
}
}  // namespace

template <class T>
void add(const T* a, const T* b, T* y, std::int64_t n) {
  map(n, [=](std::int64_t i) { y[i] = a[i] + b[i]; });
}
template <class T>
void mul(const T* a, const T* b, T* y, std::int64_t n) {
  map(n, [=](std::int64_t i) { y[i] = a[i] * b[i]; });
}
template <class T>
void scale(const T* x, T alpha, T* y, std::int64_t n) {
  map(n, [=](std::int64_t i) { y[i] = alpha * x[i]; });
}
template <class T>
void axpy(T alpha, const T* x, T* y, std::int64_t n) {
  map(n, [=](std::int64_t i) { y[i] += alpha * x[i]; });
}
template <class T>
void fill(T* y, T value, std::int64_t n) {
  map(n, [=](std::int64_t i) { y[i] = value; });
}
template <class T>
void scale_by_scalar(const T* x, const T* s, T alpha, T* y, std::int64_t n) {
  const T k = alpha * s[0];
  if (x)
    map(n, [=](std::int64_t i) { y[i] = k * x[i]; });
  else
    map(n, [=](std::int64_t i) { y[i] = k; });
}
template <class T>
void leaky_relu(const T* x, T slope, T* y, std::int64_t n) {
  // max/min, not a branch: signs are random, and a branch mispredicts half the time.
  map(n, [=](std::int64_t i) { y[i] = std::max(x[i], T(0)) + slope * std::min(x[i], T(0)); });
}
template <class T>
void leaky_relu_backward(const T* x, const T* dy, T slope, T* dx, std::int64_t n) {
  map(n, [=](std::int64_t i) {
    const T pos = static_cast<T>(x[i] > T(0));
    dx[i] = dy[i] * (pos + (T(1) - pos) * slope);
  });
}

#define DDNET_INSTANTIATE(T)                                                 \
  template void add<T>(const T*, const T*, T*, std::int64_t);                \
  template void mul<T>(const T*, const T*, T*, std::int64_t);                \
  template void scale<T>(const T*, T, T*, std::int64_t);                     \
  template void axpy<T>(T, const T*, T*, std::int64_t);                      \
  template void fill<T>(T*, T, std::int64_t);                                \
  template void scale_by_scalar<T>(const T*, const T*, T, T*, std::int64_t); \
  template void leaky_relu<T>(const T*, T, T*, std::int64_t);                \
  template void leaky_relu_backward<T>(const T*, const T*, T, T*, std::int64_t);
DDNET_INSTANTIATE(float)
DDNET_INSTANTIATE(double)
#undef DDNET_INSTANTIATE

}  // namespace ddnet::kernels::cpu
