// Checks and device dispatch of strided copies (see copy_ops.h).
#include "kernels/copy_ops.h"

#include "kernels/dispatch.h"

namespace ddnet::kernels {

using detail::dispatch_float;
using detail::stream_of;

void copy(const Tensor& src, Tensor& dst) {
  DDNET_CHECK(src.defined() && dst.defined(), "copy: undefined tensor");
  DDNET_CHECK(src.shape() == dst.shape() && src.dtype() == dst.dtype(), "copy: ", src.str(),
              " into ", dst.str(), ": shape or element type differs");
  DDNET_CHECK(src.device() == dst.device(), "copy: ", src.str(), " into ", dst.str(),
              ": devices differ; Tensor::copy_ moves data between devices");
  StridedCopy L;
  L.ndim = src.dim();
  for (int d = 0; d < L.ndim; ++d) {
    L.size[d] = src.size(d);
    L.src_stride[d] = src.stride(d);
    L.dst_stride[d] = dst.stride(d);
  }
  dispatch_float(src, "copy", [&](auto z) {
    using T = decltype(z);
    if (src.device().is_cpu())
      cpu::strided_copy(src.data<T>(), dst.data<T>(), L);
    else
      DDNET_CUDA_CALL(cuda::strided_copy(src.data<T>(), dst.data<T>(), L, stream_of(src)));
  });
}

Tensor contiguous(const Tensor& x) {
  if (x.is_contiguous()) return x;
  Tensor y = Tensor::empty(x.shape(), x.device(), x.dtype());
  copy(x, y);
  return y;
}

}  // namespace ddnet::kernels
