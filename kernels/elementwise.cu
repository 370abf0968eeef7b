// CUDA paths of the elementwise kernels: grid-stride loops, one element per iteration (these are
// bandwidth-bound; the compiler vectorises nothing here, the memory system does the work).
#include "kernels/elementwise.h"
#include "kernels/launch.cuh"

namespace ddnet::kernels::cuda {

using cuda_detail::as_stream;
using cuda_detail::grid_for;
using cuda_detail::kThreads;

namespace {
template <class T, class F>
__global__ void map_kernel(std::int64_t n, F f) {
  DDNET_GRID_STRIDE(i, n) f(i);
}

template <class T, class F>
void launch_map(std::int64_t n, void* stream, const char* name, F f) {
  if (n == 0) return;
  DDNET_LAUNCH(grid_for(n), kThreads, 0, as_stream(stream), map_kernel<T>)(n, f);
  CUDA_CHECK_LAUNCH(name);
}

// Functors rather than extended lambdas: no --extended-lambda flag needed.
template <class T>
struct AddF {
  const T* a;
  const T* b;
  T* y;
  __device__ void operator()(std::int64_t i) const { y[i] = a[i] + b[i]; }
};
template <class T>
struct MulF {
  const T* a;
  const T* b;
  T* y;
  __device__ void operator()(std::int64_t i) const { y[i] = a[i] * b[i]; }
};
template <class T>
struct ScaleF {
  const T* x;
  T alpha;
  T* y;
  __device__ void operator()(std::int64_t i) const { y[i] = alpha * x[i]; }
};
template <class T>
struct AxpyF {
  T alpha;
  const T* x;
  T* y;
  __device__ void operator()(std::int64_t i) const { y[i] += alpha * x[i]; }
};
template <class T>
struct FillF {
  T v;
  T* y;
  __device__ void operator()(std::int64_t i) const { y[i] = v; }
};
template <class T>
struct ScaleByScalarF {
  const T* x;
  const T* s;
  T alpha;
  T* y;
  __device__ void operator()(std::int64_t i) const {
    const T k = alpha * s[0];
    y[i] = x ? k * x[i] : k;
  }
};
template <class T>
struct LeakyF {
  const T* x;
  T slope;
  T* y;
  __device__ void operator()(std::int64_t i) const { y[i] = x[i] > T(0) ? x[i] : slope * x[i]; }
};
template <class T>
struct LeakyBwdF {
  const T* x;
  const T* dy;
  T slope;
  T* dx;
  __device__ void operator()(std::int64_t i) const { dx[i] = x[i] > T(0) ? dy[i] : slope * dy[i]; }
};
}  // namespace

template <class T>
void add(const T* a, const T* b, T* y, std::int64_t n, void* s) {
  launch_map<T>(n, s, "add", AddF<T>{a, b, y});
}
template <class T>
void mul(const T* a, const T* b, T* y, std::int64_t n, void* s) {
  launch_map<T>(n, s, "mul", MulF<T>{a, b, y});
}
template <class T>
void scale(const T* x, T alpha, T* y, std::int64_t n, void* s) {
  launch_map<T>(n, s, "scale", ScaleF<T>{x, alpha, y});
}
template <class T>
void axpy(T alpha, const T* x, T* y, std::int64_t n, void* s) {
  launch_map<T>(n, s, "axpy", AxpyF<T>{alpha, x, y});
}
template <class T>
void fill(T* y, T value, std::int64_t n, void* s) {
  launch_map<T>(n, s, "fill", FillF<T>{value, y});
}
template <class T>
void scale_by_scalar(const T* x, const T* sc, T alpha, T* y, std::int64_t n, void* s) {
  launch_map<T>(n, s, "scale_by_scalar", ScaleByScalarF<T>{x, sc, alpha, y});
}
template <class T>
void leaky_relu(const T* x, T slope, T* y, std::int64_t n, void* s) {
  launch_map<T>(n, s, "leaky_relu", LeakyF<T>{x, slope, y});
}
template <class T>
void leaky_relu_backward(const T* x, const T* dy, T slope, T* dx, std::int64_t n, void* s) {
  launch_map<T>(n, s, "leaky_relu_backward", LeakyBwdF<T>{x, dy, slope, dx});
}

#define DDNET_INSTANTIATE(T)                                                        \
  template void add<T>(const T*, const T*, T*, std::int64_t, void*);                \
  template void mul<T>(const T*, const T*, T*, std::int64_t, void*);                \
  template void scale<T>(const T*, T, T*, std::int64_t, void*);                     \
  template void axpy<T>(T, const T*, T*, std::int64_t, void*);                      \
  template void fill<T>(T*, T, std::int64_t, void*);                                \
  template void scale_by_scalar<T>(const T*, const T*, T, T*, std::int64_t, void*); \
  template void leaky_relu<T>(const T*, T, T*, std::int64_t, void*);                \
  template void leaky_relu_backward<T>(const T*, const T*, T, T*, std::int64_t, void*);
DDNET_INSTANTIATE(float)
DDNET_INSTANTIATE(double)
#undef DDNET_INSTANTIATE

}  // namespace ddnet::kernels::cuda
