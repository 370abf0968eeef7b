// Max and average pooling, 2D and 3D (2D is 3D with D = 1), PyTorch semantics: floor output
// sizes; max pooling's padding never wins (padded positions are skipped), the first maximum in
// scan order is the argmax and a NaN is a maximum; average pooling without padding.
// Backward of both is a gather (each input sums over the few windows that can contain it), so
// it is deterministic without atomics. Max pooling saves the argmax (int32, flat index within
// the input plane) in the forward.
#pragma once

#include <cstdint>

namespace ddnet::kernels {

struct PoolGeometry {
  std::int64_t planes = 1;  // N * C
  std::int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1};
  std::int64_t k[3] = {1, 1, 1}, stride[3] = {1, 1, 1}, pad[3] = {0, 0, 0};
  // constexpr: callable from device code (--expt-relaxed-constexpr)
  constexpr std::int64_t in_plane() const { return in[0] * in[1] * in[2]; }
  constexpr std::int64_t out_plane() const { return out[0] * out[1] * out[2]; }
};

namespace cpu {
template <class T>
void max_pool_forward(const PoolGeometry& g, const T* x, T* y, std::int32_t* argmax);
template <class T>
void max_pool_backward(const PoolGeometry& g, const T* dy, const std::int32_t* argmax, T* dx);
template <class T>
void avg_pool_forward(const PoolGeometry& g, const T* x, T* y);
template <class T>
void avg_pool_backward(const PoolGeometry& g, const T* dy, T* dx);
}  // namespace cpu

namespace cuda {
template <class T>
void max_pool_forward(const PoolGeometry& g, const T* x, T* y, std::int32_t* argmax, void* stream);
template <class T>
void max_pool_backward(const PoolGeometry& g, const T* dy, const std::int32_t* argmax, T* dx,
                       void* stream);
template <class T>
void avg_pool_forward(const PoolGeometry& g, const T* x, T* y, void* stream);
template <class T>
void avg_pool_backward(const PoolGeometry& g, const T* dy, T* dx, void* stream);
}  // namespace cuda

}  // namespace ddnet::kernels
