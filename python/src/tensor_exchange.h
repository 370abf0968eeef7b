// Tensors in and out of Python without copies: DLPack capsules (PyTorch, NumPy >= 1.22, CuPy,
// JAX) and NumPy's buffer protocol. A tensor made from outside memory borrows it
// (Storage::borrow) and keeps the producer's object alive until the last ddnet view is gone; a
// ddnet tensor handed out keeps its storage alive until the consumer releases it.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "engine/tensor.h"

namespace ddnet::python {

namespace py = pybind11;

// From an object with __dlpack__ (called with the stream protocol on CUDA), a DLPack capsule, a
// NumPy array or anything NumPy can view (lists are copied into a new float32 array). float32,
// float64 and int32; negative strides and other element types are refused with the reason.
Tensor as_tensor(const py::object& obj, const char* what);
// A DLPack capsule ("dltensor") viewing t; on CUDA, ddnet's current stream of t's device is
// synchronised first (the consumer may use the memory on any stream).
py::capsule to_dlpack(const Tensor& t);
// (device type, device id) as __dlpack_device__ returns it: (1, 0) CPU, (2, N) CUDA.
py::tuple dlpack_device(const Tensor& t);
// A NumPy array viewing a CPU tensor (no copy; it keeps the tensor's storage alive).
py::array to_numpy(const Tensor& t);

}  // namespace ddnet::python
