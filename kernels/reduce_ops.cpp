// Checks and device dispatch of the reductions (see reduce_ops.h).
#include "kernels/reduce_ops.h"

#include "kernels/dispatch.h"

namespace ddnet::kernels {

using detail::check_input;
using detail::dispatch_float;
using detail::stream_of;

Tensor reduce(ReduceOp op, const Tensor& x) {
  check_input(reduce_op_name(op), "x", x);
  DDNET_CHECK(op != ReduceOp::max || x.numel() > 0, "max: ", x.str(), " is empty");
  Tensor out = Tensor::empty(Shape{1}, x.device(), x.dtype());
  dispatch_float(x, reduce_op_name(op), [&](auto z) {
    using T = decltype(z);
    if (x.device().is_cpu()) {
      out.data<T>()[0] = cpu::reduce(op, x.data<T>(), x.numel());
    } else {
      DDNET_CUDA_CALL({
        Tensor ws = Tensor::empty(Shape{cuda::reduce_workspace(x.numel())}, x.device(), DType::f64);
        cuda::reduce(op, x.data<T>(), x.numel(), out.data<T>(), ws.data<double>(), stream_of(x));
      });
    }
  });
  return out;
}

}  // namespace ddnet::kernels
