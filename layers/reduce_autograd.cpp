// The autograd closures of reduce (see reduce_autograd.h).
#include "layers/reduce_autograd.h"

#include "engine/autograd.h"
#include "kernels/elementwise_ops.h"
#include "kernels/reduce_ops.h"

namespace ddnet::F {

namespace {
// d(sum)/dx = 1, d(mean)/dx = 1/n, d(sum_sq)/dx = 2x: all scale_by_scalar of the seed.
Tensor reduction(kernels::ReduceOp op, const char* name, const Tensor& x) {
  Tensor y = kernels::reduce(op, x);
  if (should_record({&x})) {
    const Tensor saved = op == kernels::ReduceOp::sum_sq ? x : Tensor();
    const double n = static_cast<double>(x.numel());
    record(name, {x}, {y}, [op, saved, n, shape = x.shape()](GradContext& ctx) {
      const Tensor& g = ctx.grad_output();
      switch (op) {
        case kernels::ReduceOp::sum:
          ctx.accumulate(0, kernels::scale_by_scalar({}, g, 1.0, shape));
          break;
        case kernels::ReduceOp::mean:
          ctx.accumulate(0, kernels::scale_by_scalar({}, g, 1.0 / n, shape));
          break;
        case kernels::ReduceOp::sum_sq:
          ctx.accumulate(0, kernels::scale_by_scalar(saved, g, 2.0, shape));
          break;
        case kernels::ReduceOp::max:
          DDNET_FAIL("max has no backward");
      }
    });
  }
  return y;
}
}  // namespace

Tensor sum(const Tensor& x) {
  return reduction(kernels::ReduceOp::sum, "sum", x);
}
Tensor mean(const Tensor& x) {
  return reduction(kernels::ReduceOp::mean, "mean", x);
}
Tensor sum_sq(const Tensor& x) {
  return reduction(kernels::ReduceOp::sum_sq, "sum_sq", x);
}

}  // namespace ddnet::F
