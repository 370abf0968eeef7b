// Elementwise kernels: raw pointers and sizes. Each has a CPU twin (template, float and double;
// multi-threaded above a grain size) and a CUDA launcher (float and double) on a given stream.
// Tensor-level entry points that check shapes and dispatch on the device:
// kernels/elementwise_ops.h.
#pragma once

#include <cstdint>

namespace ddnet::kernels {

namespace cpu {
template <class T>
void add(const T* a, const T* b, T* y, std::int64_t n);  // y = a + b
template <class T>
void mul(const T* a, const T* b, T* y, std::int64_t n);  // y = a * b
template <class T>
void scale(const T* x, T alpha, T* y, std::int64_t n);  // y = alpha x
template <class T>
void axpy(T alpha, const T* x, T* y, std::int64_t n);  // y += alpha x
template <class T>
void fill(T* y, T value, std::int64_t n);
// y = alpha * s[0] * x (x may be null: y = alpha * s[0]); s is one element on the same device.
template <class T>
void scale_by_scalar(const T* x, const T* s, T alpha, T* y, std::int64_t n);
template <class T>
void leaky_relu(const T* x, T slope, T* y, std::int64_t n);
// dx = dy * (x > 0 ? 1 : slope); dx may be dy (here and on CUDA)
template <class T>
void leaky_relu_backward(const T* x, const T* dy, T slope, T* dx, std::int64_t n);
}  // namespace cpu

namespace cuda {
template <class T>
void add(const T* a, const T* b, T* y, std::int64_t n, void* stream);
template <class T>
void mul(const T* a, const T* b, T* y, std::int64_t n, void* stream);
template <class T>
void scale(const T* x, T alpha, T* y, std::int64_t n, void* stream);
template <class T>
void axpy(T alpha, const T* x, T* y, std::int64_t n, void* stream);
template <class T>
void fill(T* y, T value, std::int64_t n, void* stream);
template <class T>
void scale_by_scalar(const T* x, const T* s, T alpha, T* y, std::int64_t n, void* stream);
template <class T>
void leaky_relu(const T* x, T slope, T* y, std::int64_t n, void* stream);
template <class T>
void leaky_relu_backward(const T* x, const T* dy, T slope, T* dx, std::int64_t n, void* stream);
}  // namespace cuda

}  // namespace ddnet::kernels
