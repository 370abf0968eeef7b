// MSE, MS-SSIM with its analytic gradient, and the combined training loss.
#include "layers/loss.h"

#include "engine/autograd.h"
#include "engine/stream.h"
#include "generated/ddnet_config.h"
#include "kernels/ops.h"
#include "layers/functional.h"

namespace ddnet::F {

Tensor mse(const Tensor& pred, const Tensor& target) {
  DDNET_CHECK(pred.shape() == target.shape(), "mse: prediction ", pred.shape().str(),
              " and target ", target.shape().str(), " differ in shape");
  const Tensor diff = add(pred, scale(target, -1.0));
  return scale(sum_sq(diff), 1.0 / static_cast<double>(pred.numel()));
}

namespace {
kernels::VolumeShape volume_shape(const Tensor& t) {
  DDNET_CHECK(t.dim() == 4 || t.dim() == 5, "msssim: input ", t.str(),
              " must be (N, C, H, W) or (N, C, D, H, W)");
  kernels::VolumeShape s;
  s.is_3d = t.dim() == 5;
  s.planes = t.size(0) * t.size(1);
  s.d = s.is_3d ? t.size(2) : 1;
  s.h = t.size(t.dim() - 2);
  s.w = t.size(t.dim() - 1);
  return s;
}
}  // namespace

Tensor msssim(const Tensor& pred_in, const Tensor& target_in,
              const kernels::MsssimOptions& options) {
  DDNET_CHECK(pred_in.shape() == target_in.shape(), "msssim: prediction ", pred_in.shape().str(),
              " and target ", target_in.shape().str(), " differ in shape");
  DDNET_CHECK(pred_in.device() == target_in.device() && pred_in.dtype() == target_in.dtype(),
              "msssim: prediction ", pred_in.str(), " and target ", target_in.str(),
              " differ in device or type");
  const Tensor pred = kernels::contiguous(pred_in), target = kernels::contiguous(target_in);
  const kernels::VolumeShape s = volume_shape(pred);
  const bool grad = should_record({&pred_in});
  Tensor gx = grad ? Tensor::empty(pred.shape(), pred.device(), pred.dtype()) : Tensor();
  Tensor value = Tensor::empty(Shape{1}, pred.device(), pred.dtype());
  if (pred.device().is_cuda()) {
    // The fused kernel: value and gradient stay on the device; the NaN/Inf count is read back
    // (one synchronisation) only when check_finite asks for it.
    DDNET_CHECK(pred.dtype() == DType::f32, "msssim on ", pred.device().str(),
                ": float32 only, got ", pred.str());
#if DDNET_WITH_CUDA
    Tensor nonfinite;
    if (options.check_finite) nonfinite = Tensor::empty(Shape{1}, pred.device(), DType::i32);
    kernels::cuda::msssim(pred.data<float>(), target.data<float>(), s, options, value.data<float>(),
                          grad ? gx.data<float>() : nullptr,
                          options.check_finite ? nonfinite.data<std::int32_t>() : nullptr,
                          current_stream(pred.device().index()).handle());
    if (options.check_finite) {
      const std::int32_t bad = nonfinite.to_vector<std::int32_t>()[0];
      DDNET_CHECK(bad == 0, "msssim: the prediction or the target contains ", bad,
                  " NaN or Inf values");
    }
#else
    DDNET_FAIL("msssim on ", pred.device().str(), ": this build of ddnet has no CUDA");
#endif
  } else if (pred.dtype() == DType::f32) {
    const auto r = kernels::cpu::msssim(pred.data<float>(), target.data<float>(), s, options,
                                        grad ? gx.data<float>() : nullptr);
    value.data<float>()[0] = static_cast<float>(r.value);
  } else {
    DDNET_CHECK(pred.dtype() == DType::f64, "msssim: float32 or float64 inputs, got ", pred.str());
    const auto r = kernels::cpu::msssim(pred.data<double>(), target.data<double>(), s, options,
                                        grad ? gx.data<double>() : nullptr);
    value.data<double>()[0] = r.value;
  }
  if (grad)
    record("msssim", {pred_in}, {value}, [gx](GradContext& ctx) {
      ctx.accumulate(0, kernels::scale_by_scalar(gx, ctx.grad_output(), 1.0, gx.shape()));
    });
  return value;
}

LossParts ddnet_loss(const Tensor& pred, const Tensor& target, double gamma,
                     const kernels::MsssimOptions& options) {
  LossParts p;
  p.mse = mse(pred, target);
  p.msssim = msssim(pred, target, options);
  // mse + gamma * (1 - msssim) = mse - gamma * msssim + gamma; the constant does not change the
  // gradient, and is added to the value afterwards.
  Tensor t = add(p.mse, scale(p.msssim, -gamma));
  Tensor shift = Tensor::full(Shape{1}, gamma, pred.device(), pred.dtype());
  p.total = add(t, shift);
  return p;
}

}  // namespace ddnet::F
