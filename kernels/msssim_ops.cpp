// Checks and device dispatch of MS-SSIM (see msssim_ops.h).
#include "kernels/msssim_ops.h"

#include <cstdint>

#include "kernels/copy_ops.h"
#include "kernels/dispatch.h"

namespace ddnet::kernels {

namespace {

VolumeShape volume_shape(const Tensor& t) {
  DDNET_CHECK(t.dim() == 4 || t.dim() == 5, "msssim: input ", t.str(),
              " must be (N, C, H, W) or (N, C, D, H, W)");
  VolumeShape s;
  s.is_3d = t.dim() == 5;
  s.planes = t.size(0) * t.size(1);
  s.d = s.is_3d ? t.size(2) : 1;
  s.h = t.size(t.dim() - 2);
  s.w = t.size(t.dim() - 1);
  return s;
}

}  // namespace

MsssimForward msssim(const Tensor& pred_in, const Tensor& target_in, const MsssimOptions& options,
                     bool need_grad) {
  DDNET_CHECK(pred_in.defined() && target_in.defined(), "msssim: undefined input");
  DDNET_CHECK(pred_in.shape() == target_in.shape(), "msssim: prediction ", pred_in.shape().str(),
              " and target ", target_in.shape().str(), " differ in shape");
  DDNET_CHECK(pred_in.device() == target_in.device() && pred_in.dtype() == target_in.dtype(),
              "msssim: prediction ", pred_in.str(), " and target ", target_in.str(),
              " differ in device or type");
  const Tensor pred = contiguous(pred_in), target = contiguous(target_in);
  const VolumeShape s = volume_shape(pred);
  MsssimForward r;
  r.grad_x = need_grad ? Tensor::empty(pred.shape(), pred.device(), pred.dtype()) : Tensor();
  r.value = Tensor::empty(Shape{1}, pred.device(), pred.dtype());
  if (pred.device().is_cuda()) {
    // The fused kernel: value and gradient stay on the device; the NaN/Inf count is read back
    // (one synchronisation) only when check_finite asks for it.
    DDNET_CHECK(pred.dtype() == DType::f32, "msssim on ", pred.device().str(),
                ": float32 only, got ", pred.str());
    DDNET_CUDA_CALL({
      Tensor nonfinite;
      if (options.check_finite) nonfinite = Tensor::empty(Shape{1}, pred.device(), DType::i32);
      cuda::msssim(pred.data<float>(), target.data<float>(), s, options, r.value.data<float>(),
                   need_grad ? r.grad_x.data<float>() : nullptr,
                   options.check_finite ? nonfinite.data<std::int32_t>() : nullptr,
                   detail::stream_of(pred));
      if (options.check_finite) {
        const std::int32_t bad = nonfinite.to_vector<std::int32_t>()[0];
        DDNET_CHECK(bad == 0, "msssim: the prediction or the target contains ", bad,
                    " NaN or Inf values");
      }
    });
  } else if (pred.dtype() == DType::f32) {
    const auto v = cpu::msssim(pred.data<float>(), target.data<float>(), s, options,
                               need_grad ? r.grad_x.data<float>() : nullptr);
    r.value.data<float>()[0] = static_cast<float>(v.value);
  } else {
    DDNET_CHECK(pred.dtype() == DType::f64, "msssim: float32 or float64 inputs, got ", pred.str());
    const auto v = cpu::msssim(pred.data<double>(), target.data<double>(), s, options,
                               need_grad ? r.grad_x.data<double>() : nullptr);
    r.value.data<double>()[0] = v.value;
  }
  return r;
}

}  // namespace ddnet::kernels
