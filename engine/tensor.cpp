// Tensor: storage views, layouts and explicit copies.
#include "engine/tensor.h"

#include <cstring>
#include <sstream>

#include "engine/autograd.h"
#include "engine/cuda_runtime_seam.h"
#include "engine/stream.h"

namespace ddnet {

struct Tensor::Impl {
  std::shared_ptr<Storage> storage;
  std::int64_t offset = 0;  // elements
  Shape shape;
  Shape strides;
  DType dtype = DType::f32;
  std::shared_ptr<AutogradMeta> meta;
};

namespace {

// A layout as `rows` runs of `cols` contiguous elements, `pitch` elements apart: what the engine
// makes (contiguous tensors, and narrow() of one dimension of them).
struct Pitched {
  std::int64_t rows = 1, cols = 0, pitch = 0;
};

bool as_pitched(const Shape& shape, const Shape& strides, Pitched* out) {
  std::vector<int> dims;
  for (int d = 0; d < shape.dim(); ++d)
    if (shape[d] != 1) dims.push_back(d);
  Pitched p;
  p.cols = 1;
  int k = static_cast<int>(dims.size()) - 1;
  while (k >= 0 && strides[dims[static_cast<std::size_t>(k)]] == p.cols) {
    p.cols *= shape[dims[static_cast<std::size_t>(k)]];
    --k;
  }
  if (shape.numel() == 0) p.cols = 0;
  p.pitch = p.cols;
  if (k < 0) {
    *out = p;
    return true;
  }
  int d = dims[static_cast<std::size_t>(k)];
  p.pitch = strides[d];
  p.rows = shape[d];
  for (--k; k >= 0; --k) {
    const int e = dims[static_cast<std::size_t>(k)];
    const int inner = dims[static_cast<std::size_t>(k + 1)];
    if (strides[e] != strides[inner] * shape[inner]) return false;
    p.rows *= shape[e];
  }
  if (p.pitch < p.cols) return false;
  *out = p;
  return true;
}

seam::CopyKind copy_kind(Device src, Device dst) {
  if (src.is_cpu())
    return dst.is_cpu() ? seam::CopyKind::host_to_host : seam::CopyKind::host_to_device;
  return dst.is_cpu() ? seam::CopyKind::device_to_host : seam::CopyKind::device_to_device;
}

}  // namespace

Tensor::Impl& Tensor::impl() const {
  DDNET_CHECK(impl_ != nullptr, "operation on an undefined tensor");
  return *impl_;
}

Tensor Tensor::empty(const Shape& shape, Device device, DType dtype) {
  for (int d = 0; d < shape.dim(); ++d)
    DDNET_CHECK(shape[d] >= 0, "tensor shape ", shape.str(), " has a negative size");
  auto impl = std::make_shared<Impl>();
  impl->storage =
      Storage::allocate(static_cast<std::size_t>(shape.numel()) * element_size(dtype), device);
  impl->shape = shape;
  impl->strides = shape.contiguous_strides();
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::zeros(const Shape& shape, Device device, DType dtype) {
  Tensor t = empty(shape, device, dtype);
  t.zero_();
  return t;
}

Tensor Tensor::full(const Shape& shape, double value, Device device, DType dtype) {
  Tensor host = empty(shape, Device::cpu(), dtype);
  const std::int64_t n = host.numel();
  switch (dtype) {
    case DType::f32:
      std::fill_n(host.data<float>(), n, static_cast<float>(value));
      break;
    case DType::f64:
      std::fill_n(host.data<double>(), n, value);
      break;
    case DType::i32:
      std::fill_n(host.data<std::int32_t>(), n, static_cast<std::int32_t>(value));
      break;
    default:
      DDNET_FAIL("Tensor::full: ", dtype_name(dtype), " is not supported yet");
  }
  return host.to(device);
}

namespace {
template <class T>
Tensor host_tensor_from(const std::vector<T>& values, const Shape& shape) {
  DDNET_CHECK(static_cast<std::int64_t>(values.size()) == shape.numel(),
              "from_vector: ", values.size(), " values for shape ", shape.str(), " (",
              shape.numel(), " elements)");
  Tensor host = Tensor::empty(shape, Device::cpu(), dtype_of<T>::value);
  if (!values.empty()) std::memcpy(host.raw_data(), values.data(), values.size() * sizeof(T));
  return host;
}
}  // namespace

Tensor Tensor::from_vector(const std::vector<float>& values, const Shape& shape, Device device) {
  return host_tensor_from(values, shape).to(device);
}

Tensor Tensor::from_vector(const std::vector<double>& values, const Shape& shape, Device device) {
  return host_tensor_from(values, shape).to(device);
}

Tensor Tensor::from_vector(const std::vector<std::int32_t>& values, const Shape& shape,
                           Device device) {
  return host_tensor_from(values, shape).to(device);
}

const Shape& Tensor::shape() const {
  return impl().shape;
}
const Shape& Tensor::strides() const {
  return impl().strides;
}
std::int64_t Tensor::size(int d) const {
  DDNET_CHECK(d >= 0 && d < dim(), "size(", d, ") of a ", dim(), "-d tensor");
  return impl().shape[d];
}
std::int64_t Tensor::stride(int d) const {
  DDNET_CHECK(d >= 0 && d < dim(), "stride(", d, ") of a ", dim(), "-d tensor");
  return impl().strides[d];
}
std::int64_t Tensor::storage_offset() const {
  return impl().offset;
}
DType Tensor::dtype() const {
  return impl().dtype;
}
Device Tensor::device() const {
  return impl().storage->device();
}
const std::shared_ptr<Storage>& Tensor::storage() const {
  return impl().storage;
}
bool Tensor::sole_owner() const {
  return defined() && impl_.use_count() == 1 && impl_->storage && impl_->storage.use_count() == 1 &&
         !impl_->storage->borrowed();
}

bool Tensor::shares_storage_with(const Tensor& other) const {
  return defined() && other.defined() && impl_->storage == other.impl_->storage;
}

bool Tensor::is_contiguous() const {
  std::int64_t expected = 1;
  for (int d = dim() - 1; d >= 0; --d) {
    if (impl().shape[d] == 1) continue;
    if (impl().strides[d] != expected) return false;
    expected *= impl().shape[d];
  }
  return true;
}

void* Tensor::raw_data() const {
  return static_cast<char*>(impl().storage->data()) +
         impl().offset * static_cast<std::int64_t>(element_size(impl().dtype));
}

std::string Tensor::str() const {
  if (!defined()) return "Tensor(undefined)";
  std::ostringstream os;
  os << "Tensor(" << dtype_name(dtype()) << ", " << device().str() << ", " << shape().str();
  if (!is_contiguous()) os << ", strided";
  os << ")";
  return os.str();
}

Tensor Tensor::narrow(int d, std::int64_t start, std::int64_t length) const {
  DDNET_CHECK(d >= 0 && d < dim(), "narrow: dimension ", d, " of a ", dim(), "-d tensor ", str());
  DDNET_CHECK(start >= 0 && length >= 0 && start + length <= size(d), "narrow: [", start, ", ",
              start + length, ") is outside dimension ", d, " of size ", size(d), " of ", str());
  auto v = std::make_shared<Impl>(impl());
  v->meta.reset();
  v->offset += start * impl().strides[d];
  v->shape[d] = length;
  return Tensor(std::move(v));
}

Tensor Tensor::view(const Shape& shape) const {
  DDNET_CHECK(is_contiguous(), "view ", shape.str(), " of non-contiguous ", str(),
              ": clone() first");
  DDNET_CHECK(shape.numel() == numel(), "view: shape ", shape.str(), " has ", shape.numel(),
              " elements, ", str(), " has ", numel());
  auto v = std::make_shared<Impl>(impl());
  v->meta.reset();
  v->shape = shape;
  v->strides = shape.contiguous_strides();
  return Tensor(std::move(v));
}

Tensor Tensor::from_storage(std::shared_ptr<Storage> storage, const Shape& shape,
                            const Shape& strides, std::int64_t storage_offset, DType dtype) {
  DDNET_CHECK(storage != nullptr, "Tensor::from_storage: no storage");
  auto impl = std::make_shared<Impl>();
  impl->storage = std::move(storage);
  impl->shape = Shape{0};
  impl->strides = Shape{1};
  impl->dtype = dtype;
  // as_strided checks the view against the storage's size.
  return Tensor(std::move(impl)).as_strided(shape, strides, storage_offset);
}

Tensor Tensor::as_strided(const Shape& shape, const Shape& strides, std::int64_t offset) const {
  DDNET_CHECK(shape.dim() == strides.dim(), "as_strided: shape ", shape.str(), " and strides ",
              strides.str(), " differ in rank");
  std::int64_t last = offset;
  for (int d = 0; d < shape.dim(); ++d) {
    DDNET_CHECK(shape[d] >= 0 && strides[d] >= 0, "as_strided: negative size or stride");
    if (shape[d] > 0) last += (shape[d] - 1) * strides[d];
  }
  const auto capacity = static_cast<std::int64_t>(storage()->bytes() / element_size(dtype()));
  DDNET_CHECK(offset >= 0 && (shape.numel() == 0 || last < capacity), "as_strided: view ",
              shape.str(), " at offset ", offset, " reaches element ", last, " of a storage of ",
              capacity);
  auto v = std::make_shared<Impl>(impl());
  v->meta.reset();
  v->shape = shape;
  v->strides = strides;
  v->offset = offset;
  return Tensor(std::move(v));
}

Tensor Tensor::to(Device device) const {
  if (device == this->device()) return *this;
  Tensor out = empty(shape(), device, dtype());
  out.copy_(*this);
  return out;
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), device(), dtype());
  out.copy_(*this);
  return out;
}

Tensor& Tensor::copy_(const Tensor& src) {
  DDNET_CHECK(src.defined(), "copy_ from an undefined tensor into ", str());
  DDNET_CHECK(src.shape() == shape(), "copy_: source ", src.str(), " and destination ", str(),
              " differ in shape");
  DDNET_CHECK(src.dtype() == dtype(), "copy_: source ", src.str(), " and destination ", str(),
              " differ in element type");
  if (numel() == 0) return *this;
  Pitched s, d;
  DDNET_CHECK(as_pitched(src.shape(), src.strides(), &s) && as_pitched(shape(), strides(), &d),
              "copy_ between ", src.str(), " and ", str(),
              ": layout not supported by the engine; use kernels::copy for arbitrary strides");
  // Express both sides with the same rows x cols: a contiguous side adopts the other's rows.
  if (s.rows == 1 && d.rows != 1) s = {d.rows, d.cols, d.cols};
  if (d.rows == 1 && s.rows != 1) d = {s.rows, s.cols, s.cols};
  DDNET_CHECK(s.rows == d.rows && s.cols == d.cols, "copy_ between ", src.str(), " and ", str(),
              ": views of different layouts; use kernels::copy");
  const std::size_t es = element_size(dtype());
  const Device sd = src.device(), dd = device();
  if (sd.is_cpu() && dd.is_cpu()) {
    const char* sp = static_cast<const char*>(src.raw_data());
    char* dp = static_cast<char*>(raw_data());
    for (std::int64_t r = 0; r < s.rows; ++r)
      std::memcpy(dp + r * d.pitch * static_cast<std::int64_t>(es),
                  sp + r * s.pitch * static_cast<std::int64_t>(es),
                  static_cast<std::size_t>(s.cols) * es);
    return *this;
  }
  const int cuda_dev = dd.is_cuda() ? dd.index() : sd.index();
  Stream stream = current_stream(cuda_dev);
  seam::set_device(cuda_dev);
  const auto kind = copy_kind(sd, dd);
  if (s.rows == 1) {
    seam::memcpy_async(raw_data(), src.raw_data(), static_cast<std::size_t>(s.cols) * es, kind,
                       stream.handle());
  } else {
    seam::memcpy2d_async(raw_data(), static_cast<std::size_t>(d.pitch) * es, src.raw_data(),
                         static_cast<std::size_t>(s.pitch) * es,
                         static_cast<std::size_t>(s.cols) * es, static_cast<std::size_t>(s.rows),
                         kind, stream.handle());
  }
  if (dd.is_cpu()) stream.synchronize();  // host data is valid when copy_ returns
  return *this;
}

Tensor& Tensor::zero_() {
  if (numel() == 0) return *this;
  if (!is_contiguous()) return copy_(zeros(shape(), device(), dtype()));
  if (device().is_cpu()) {
    std::memset(raw_data(), 0, nbytes());
  } else {
    seam::set_device(device().index());
    seam::memset_async(raw_data(), 0, nbytes(), current_stream(device().index()).handle());
  }
  return *this;
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  Tensor host = to(Device::cpu());
  if (!host.is_contiguous()) host = host.clone();
  const T* p = host.data<T>();
  return std::vector<T>(p, p + numel());
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<std::int32_t> Tensor::to_vector<std::int32_t>() const;

double Tensor::item() const {
  DDNET_CHECK(numel() == 1, "item() of ", str(), ": only one-element tensors have a value");
  switch (dtype()) {
    case DType::f32:
      return static_cast<double>(to_vector<float>()[0]);
    case DType::f64:
      return to_vector<double>()[0];
    case DType::i32:
      return to_vector<std::int32_t>()[0];
    default:
      DDNET_FAIL("item() of ", str(), ": element type not supported yet");
  }
}

// ---- autograd state ----

AutogradMeta& Tensor::autograd_meta() const {
  return *autograd_meta_ptr();
}

std::shared_ptr<AutogradMeta> Tensor::autograd_meta_ptr() const {
  Impl& i = impl();
  if (!i.meta) i.meta = std::make_shared<AutogradMeta>();
  return i.meta;
}

bool Tensor::requires_grad() const {
  return defined() && impl_->meta && impl_->meta->requires_grad;
}

bool Tensor::is_leaf() const {
  return !impl().meta || impl().meta->is_leaf();
}

Tensor& Tensor::set_requires_grad(bool on) {
  DDNET_CHECK(is_leaf(), "set_requires_grad on ", str(),
              ": only leaves (tensors no recorded op produced) can be made parameters");
  DDNET_CHECK(!on || dtype() == DType::f32 || dtype() == DType::f64,
              "set_requires_grad: gradients need a floating-point tensor, not ", str());
  autograd_meta().requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const {
  return impl().meta ? impl().meta->grad : Tensor();
}

void Tensor::set_grad(const Tensor& grad) {
  if (grad.defined()) {
    DDNET_CHECK(grad.shape() == shape() && grad.dtype() == dtype() && grad.device() == device(),
                "set_grad: gradient ", grad.str(), " does not match ", str());
    DDNET_CHECK(grad.is_contiguous(), "set_grad: gradient ", grad.str(), " must be contiguous");
  }
  AutogradMeta& m = autograd_meta();
  m.grad = grad;
  m.grad_owned = grad.defined();
}

void Tensor::zero_grad() {
  if (!defined() || !impl_->meta) return;
  AutogradMeta& m = *impl_->meta;
  if (m.grad.defined() && m.grad_owned) {
    m.grad.zero_();
  } else {
    m.grad = Tensor();
    m.grad_owned = false;
  }
}

void Tensor::backward(const Tensor& seed, bool retain_graph) const {
  run_backward(*this, seed, retain_graph);
}

}  // namespace ddnet
