// DLPack and NumPy exchange (tensor_exchange.h). DLPack 0.6's structs (Debian's libdlpack-dev).
#include "tensor_exchange.h"

#include <dlpack/dlpack.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/stream.h"

namespace ddnet::python {

namespace {

DType dtype_from_dl(const DLDataType& t, const char* what) {
  if (t.lanes == 1) {
    if (t.code == kDLFloat && t.bits == 32) return DType::f32;
    if (t.code == kDLFloat && t.bits == 64) return DType::f64;
    if (t.code == kDLInt && t.bits == 32) return DType::i32;
  }
  throw Error(std::string(what) + ": element type (DLPack code " + std::to_string(t.code) + ", " +
              std::to_string(t.bits) + " bits) is not supported; ddnet takes float32, " +
              "float64 and int32 (convert first, e.g. x.float())");
}

DLDataType dl_from_dtype(DType t) {
  switch (t) {
    case DType::f32:
      return {kDLFloat, 32, 1};
    case DType::f64:
      return {kDLFloat, 64, 1};
    case DType::i32:
      return {kDLInt, 32, 1};
    case DType::f16:
      return {kDLFloat, 16, 1};
    case DType::bf16:
      return {kDLBfloat, 16, 1};
  }
  throw Error("to_dlpack: unknown element type");
}

// Shape, strides (in elements) and the number of elements the view spans, checked.
struct Layout {
  Shape shape, strides;
  std::int64_t span = 0;  // elements from the first to one past the last reachable element
};

Layout make_layout(int ndim, const std::int64_t* shape, const std::int64_t* strides,
                   const char* what) {
  if (ndim > Shape::kMaxDims)
    throw Error(std::string(what) + ": " + std::to_string(ndim) +
                " dimensions; ddnet tensors have at most " + std::to_string(Shape::kMaxDims));
  std::vector<std::int64_t> dims(shape, shape + ndim), st(static_cast<std::size_t>(ndim));
  std::int64_t running = 1, last = 0, numel = 1;
  for (int d = ndim - 1; d >= 0; --d) {
    const auto k = static_cast<std::size_t>(d);
    st[k] = strides ? strides[d] : running;
    running *= dims[k];
    numel *= dims[k];
    if (st[k] < 0)
      throw Error(std::string(what) +
                  ": negative strides (a reversed view) are not supported; pass a copy "
                  "(numpy.ascontiguousarray, or .contiguous() in PyTorch)");
    if (dims[k] > 0) last += (dims[k] - 1) * st[k];
  }
  Layout l;
  l.shape = Shape(dims);
  l.strides = Shape(st);
  l.span = numel == 0 ? 0 : last + 1;
  return l;
}

// What a DLManagedTensor handed out owns: a tensor handle (keeps the storage alive) and the
// shape and strides arrays the struct points to.
struct Exported {
  Tensor tensor;
  std::vector<std::int64_t> shape, strides;
  DLManagedTensor managed{};
};

void delete_exported(DLManagedTensor* m) {
  delete static_cast<Exported*>(m->manager_ctx);
}

void capsule_destructor(PyObject* capsule) {
  // A capsule nobody consumed still owns its tensor; a consumed one was renamed.
  if (PyCapsule_IsValid(capsule, "dltensor")) {
    auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule, "dltensor"));
    if (m && m->deleter) m->deleter(m);
  }
}

Tensor from_capsule(const py::capsule& cap, const char* what) {
  if (std::string(cap.name() ? cap.name() : "") != "dltensor")
    throw Error(std::string(what) + ": a DLPack capsule can be consumed once (this one is '" +
                (cap.name() ? cap.name() : "") + "')");
  auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(cap.ptr(), "dltensor"));
  const DLTensor& dl = m->dl_tensor;
  const DType dtype = dtype_from_dl(dl.dtype, what);
  Device device = Device::cpu();
  if (dl.device.device_type == kDLCUDA) {
    device = Device::cuda(dl.device.device_id);  // throws with the reason without CUDA
  } else if (dl.device.device_type != kDLCPU && dl.device.device_type != kDLCUDAHost) {
    throw Error(std::string(what) + ": DLPack device type " +
                std::to_string(dl.device.device_type) + " is not supported (CPU and CUDA are)");
  }
  const Layout l = make_layout(dl.ndim, dl.shape, dl.strides, what);
  // Consumed from here on: the capsule no longer deletes it, our storage does.
  PyCapsule_SetName(cap.ptr(), "used_dltensor");
  void* base = static_cast<char*>(dl.data) + dl.byte_offset;
  const auto bytes = static_cast<std::size_t>(l.span) * element_size(dtype);
  auto storage = Storage::borrow(base, bytes, device, [m] {
    if (m->deleter) {
      py::gil_scoped_acquire gil;
      m->deleter(m);
    }
  });
  return Tensor::from_storage(std::move(storage), l.shape, l.strides, 0, dtype);
}

Tensor from_numpy(const py::array& arr, const char* what) {
  DType dtype;
  if (arr.dtype().is(py::dtype::of<float>()))
    dtype = DType::f32;
  else if (arr.dtype().is(py::dtype::of<double>()))
    dtype = DType::f64;
  else if (arr.dtype().is(py::dtype::of<std::int32_t>()))
    dtype = DType::i32;
  else
    throw Error(std::string(what) + ": NumPy dtype " + py::str(arr.dtype()).cast<std::string>() +
                " is not supported; ddnet takes float32, float64 and int32 (x.astype(np.float32))");
  const auto es = static_cast<std::int64_t>(arr.itemsize());
  std::vector<std::int64_t> shape, strides;
  for (py::ssize_t d = 0; d < arr.ndim(); ++d) {
    shape.push_back(arr.shape(d));
    if (arr.strides(d) % es != 0)
      throw Error(std::string(what) + ": a stride of " + std::to_string(arr.strides(d)) +
                  " bytes is not a whole number of elements; pass numpy.ascontiguousarray(x)");
    strides.push_back(arr.strides(d) / es);
  }
  const Layout l = make_layout(static_cast<int>(arr.ndim()), shape.data(), strides.data(), what);
  // The array stays alive (and its memory valid) until the storage is released.
  auto* keep = new py::object(arr);
  auto storage = Storage::borrow(const_cast<void*>(arr.data()),
                                 static_cast<std::size_t>(l.span) * element_size(dtype),
                                 Device::cpu(), [keep] {
                                   py::gil_scoped_acquire gil;
                                   delete keep;
                                 });
  return Tensor::from_storage(std::move(storage), l.shape, l.strides, 0, dtype);
}

}  // namespace

Tensor as_tensor(const py::object& obj, const char* what) {
  if (py::isinstance<Tensor>(obj)) return obj.cast<Tensor>();
  if (py::isinstance<py::capsule>(obj)) return from_capsule(obj.cast<py::capsule>(), what);
  if (py::isinstance<py::array>(obj)) return from_numpy(obj.cast<py::array>(), what);
  if (py::hasattr(obj, "__dlpack__")) {
    py::object cap;
    const py::tuple dev = obj.attr("__dlpack_device__")();
    if (dev[0].cast<int>() == kDLCUDA) {
      // The producer orders its pending work on the memory before our current stream.
      const int index = dev[1].cast<int>();
      const auto stream = reinterpret_cast<std::intptr_t>(current_stream(index).handle());
      cap = obj.attr("__dlpack__")(py::arg("stream") = stream == 0 ? 1 : stream);
    } else {
      cap = obj.attr("__dlpack__")();
    }
    return from_capsule(cap.cast<py::capsule>(), what);
  }
  // Lists, scalars, array-likes: what NumPy makes of them, as float32 (a copy).
  return from_numpy(py::array_t<float, py::array::c_style | py::array::forcecast>(obj), what);
}

py::capsule to_dlpack(const Tensor& t) {
  auto* e = new Exported{t, t.shape().to_vector(), t.strides().to_vector(), {}};
  if (t.device().is_cuda()) current_stream(t.device().index()).synchronize();
  DLTensor& dl = e->managed.dl_tensor;
  dl.data = t.storage()->data();
  dl.byte_offset = static_cast<std::uint64_t>(t.storage_offset()) * element_size(t.dtype());
  dl.device = {t.device().is_cuda() ? kDLCUDA : kDLCPU, t.device().index()};
  dl.ndim = t.dim();
  dl.dtype = dl_from_dtype(t.dtype());
  dl.shape = e->shape.data();
  dl.strides = e->strides.data();
  e->managed.manager_ctx = e;
  e->managed.deleter = delete_exported;
  return py::capsule(&e->managed, "dltensor", capsule_destructor);
}

py::tuple dlpack_device(const Tensor& t) {
  return py::make_tuple(t.device().is_cuda() ? int(kDLCUDA) : int(kDLCPU), t.device().index());
}

py::array to_numpy(const Tensor& t) {
  if (!t.device().is_cpu())
    throw Error("Tensor.numpy(): " + t.str() + " is on " + t.device().str() +
                "; copy it to the CPU first (t.to('cpu'))");
  const auto es = static_cast<py::ssize_t>(element_size(t.dtype()));
  std::vector<py::ssize_t> shape, strides;
  for (int d = 0; d < t.dim(); ++d) {
    shape.push_back(t.size(d));
    strides.push_back(t.stride(d) * es);
  }
  py::dtype dt =
      t.dtype() == DType::f32   ? py::dtype::of<float>()
      : t.dtype() == DType::f64 ? py::dtype::of<double>()
      : t.dtype() == DType::i32
          ? py::dtype::of<std::int32_t>()
          : throw Error("Tensor.numpy(): no NumPy type for " + std::string(dtype_name(t.dtype())));
  // The array's base owns a handle to the tensor, so the memory outlives the ddnet object.
  py::capsule owner(new Tensor(t), [](void* p) { delete static_cast<Tensor*>(p); });
  return py::array(dt, shape, strides, t.raw_data(), owner);
}

}  // namespace ddnet::python
