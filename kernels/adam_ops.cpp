// Checks and device dispatch of Adam's fused update (see adam_ops.h).
#include "kernels/adam_ops.h"

#include "kernels/dispatch.h"

namespace ddnet::kernels {

void adam_step(Tensor& params, const Tensor& grads, Tensor& m, Tensor& v, const AdamStep& s,
               const Tensor& grad_sq_sum) {
  const char* names[] = {"params", "grads", "m", "v"};
  const Tensor* all[] = {&params, &grads, &m, &v};
  for (int i = 0; i < 4; ++i) {
    const Tensor& t = *all[i];
    detail::check_input("adam", names[i], t);
    DDNET_CHECK(t.dtype() == DType::f32, "adam: ", names[i], " ", t.str(), ": float32 only");
    DDNET_CHECK(t.numel() == params.numel() && t.device() == params.device(), "adam: ", names[i],
                " ", t.str(), " does not match params ", params.str());
  }
  const float* nsq = nullptr;
  if (grad_sq_sum.defined()) {
    DDNET_CHECK(grad_sq_sum.numel() == 1 && grad_sq_sum.dtype() == DType::f32 &&
                    grad_sq_sum.device() == params.device(),
                "adam: the gradient's squared norm ", grad_sq_sum.str(),
                " must be one float32 on the parameters' device");
    nsq = grad_sq_sum.data<float>();
  }
  if (params.device().is_cpu())
    cpu::adam_step(params.data<float>(), grads.data<float>(), m.data<float>(), v.data<float>(),
                   params.numel(), s, nsq);
  else
    DDNET_CUDA_CALL(cuda::adam_step(params.data<float>(), grads.data<float>(), m.data<float>(),
                                    v.data<float>(), params.numel(), s, nsq,
                                    detail::stream_of(params)));
}

}  // namespace ddnet::kernels
