// Backward closures of pooling: the max routes to the saved argmax, the average spreads evenly.
#include "layers/pool_autograd.h"

#include "engine/autograd.h"
#include "kernels/pool_ops.h"

namespace ddnet::F {

Tensor max_pool(const Tensor& x, int kernel, int stride, int padding) {
  auto r = kernels::max_pool(x, kernel, stride, padding);
  if (should_record({&x}))
    record("max_pool", {x}, {r.y},
           [argmax = r.argmax, shape = x.shape(), kernel, stride, padding](GradContext& ctx) {
             ctx.accumulate(0, kernels::max_pool_backward(ctx.grad_output(), argmax, shape, kernel,
                                                          stride, padding));
           });
  return r.y;
}

Tensor avg_pool(const Tensor& x, int kernel, int stride) {
  Tensor y = kernels::avg_pool(x, kernel, stride);
  if (should_record({&x}))
    record("avg_pool", {x}, {y}, [shape = x.shape(), kernel, stride](GradContext& ctx) {
      ctx.accumulate(0, kernels::avg_pool_backward(ctx.grad_output(), shape, kernel, stride));
    });
  return y;
}

}  // namespace ddnet::F
