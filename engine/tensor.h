// Tensor: a typed, shaped view of a Storage on a device. Up to 5-D (N, C, D, H, W), strided;
// freshly made tensors are contiguous, and narrow() makes views (the dense blocks write into
// channel slices of one buffer). Copies between devices are explicit: to(), copy_().
// A Tensor is a handle: copies of it share the same data and the same autograd state.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/dtype.h"
#include "engine/error.h"
#include "engine/memory.h"
#include "engine/shape.h"

namespace ddnet {

struct AutogradMeta;

class Tensor {
 public:
  Tensor() = default;  // undefined: defined() is false

  static Tensor empty(const Shape& shape, Device device = Device::cpu(), DType dtype = DType::f32);
  static Tensor zeros(const Shape& shape, Device device = Device::cpu(), DType dtype = DType::f32);
  // Filled through a host staging buffer; kernels::fill is the fast path for big tensors.
  static Tensor full(const Shape& shape, double value, Device device = Device::cpu(),
                     DType dtype = DType::f32);
  static Tensor from_vector(const std::vector<float>& values, const Shape& shape,
                            Device device = Device::cpu());
  static Tensor from_vector(const std::vector<double>& values, const Shape& shape,
                            Device device = Device::cpu());
  static Tensor from_vector(const std::vector<std::int32_t>& values, const Shape& shape,
                            Device device = Device::cpu());

  // A tensor over an existing storage (e.g. Storage::borrow of another framework's memory):
  // any strides, bounds-checked against the storage as as_strided() is.
  static Tensor from_storage(std::shared_ptr<Storage> storage, const Shape& shape,
                             const Shape& strides, std::int64_t storage_offset, DType dtype);

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  const Shape& strides() const;
  int dim() const { return shape().dim(); }
  std::int64_t size(int d) const;
  std::int64_t stride(int d) const;
  std::int64_t numel() const { return shape().numel(); }
  std::int64_t storage_offset() const;  // in elements
  DType dtype() const;
  Device device() const;
  bool is_contiguous() const;
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * element_size(dtype()); }
  std::string str() const;  // "Tensor(f32, cuda:0, (1, 16, 8, 8, 8))"

  // Pointer to the first element; checks the element type.
  template <class T>
  T* data() const {
    DDNET_CHECK(dtype() == dtype_of<T>::value, "tensor ", str(), " holds ", dtype_name(dtype()),
                ", not the requested element type");
    return static_cast<T*>(raw_data());
  }
  void* raw_data() const;
  const std::shared_ptr<Storage>& storage() const;
  bool shares_storage_with(const Tensor& other) const;
  // No other handle, view or borrower reaches this tensor's memory: writing over it is seen by
  // no one else (a backward pass writes an input's gradient over the output gradient it consumed
  // when that gradient is its own: kernels::leaky_relu_backward_inplace, batch_norm_backward).
  bool sole_owner() const;

  // Views (share storage; no autograd history).
  Tensor narrow(int dim, std::int64_t start, std::int64_t length) const;
  Tensor view(const Shape& shape) const;  // contiguous tensors only
  // Any view of the same storage (bounds-checked against it): how adjacent channel slices of a
  // dense block's buffer become one tensor without a copy.
  Tensor as_strided(const Shape& shape, const Shape& strides, std::int64_t storage_offset) const;

  // Copies. to() returns *this when already on `device`. copy_() takes any devices and the
  // layouts the engine makes (contiguous, or one narrowed dimension); see kernels::copy for
  // arbitrary strides. CUDA copies run on the current stream of the CUDA side.
  Tensor to(Device device) const;
  Tensor clone() const;
  Tensor& copy_(const Tensor& src);
  Tensor& zero_();

  // Host values (synchronises with the device when needed).
  template <class T>
  std::vector<T> to_vector() const;
  double item() const;  // a one-element tensor's value

  // Autograd. A leaf that requires grad is a parameter: backward() accumulates into its grad().
  bool requires_grad() const;
  Tensor& set_requires_grad(bool on = true);  // leaves only
  bool is_leaf() const;
  Tensor grad() const;                // undefined until a backward reaches this tensor
  void set_grad(const Tensor& grad);  // e.g. a view into the gradient arena; must match shape
  void zero_grad();                   // zeroes the gradient buffer in place if there is one
  // Walks the tape back from this tensor. `seed` defaults to 1 for one-element tensors.
  void backward(const Tensor& seed = Tensor(), bool retain_graph = false) const;
  AutogradMeta& autograd_meta() const;  // created on first use
  std::shared_ptr<AutogradMeta> autograd_meta_ptr() const;

 private:
  struct Impl;
  explicit Tensor(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  Impl& impl() const;
  std::shared_ptr<Impl> impl_;
};

}  // namespace ddnet
