// Tensor-level batch normalisation: checks a user can act on, then dispatch on x's device.
#include "kernels/batchnorm_ops.h"

#include "kernels/copy_ops.h"
#include "kernels/dispatch.h"

namespace ddnet::kernels {

using detail::dispatch_float;
using detail::stream_of;

namespace {

// The input as (N, C, S), S the spatial size.
struct Dims {
  std::int64_t N = 0, C = 0, S = 1;
};

Dims dims_of(const char* op, const Tensor& x) {
  DDNET_CHECK(x.defined(), op, ": the input is undefined");
  const Shape& s = x.shape();
  DDNET_CHECK(s.dim() == 4 || s.dim() == 5, op, ": input ", s.str(),
              " must be (N, C, H, W) or (N, C, D, H, W)");
  Dims d;
  d.N = s[0];
  d.C = s[1];
  for (int i = 2; i < s.dim(); ++i) d.S *= s[i];
  return d;
}

// A per-channel tensor: undefined (when allowed) or (C), contiguous, x's element type and device.
void check_channel_tensor(const char* op, const char* name, const Tensor& t, const Tensor& x,
                          std::int64_t C) {
  if (!t.defined()) return;
  DDNET_CHECK(t.dim() == 1, op, ": ", name, " must be one value per channel, shape (", C, "), got ",
              t.shape().str());
  DDNET_CHECK(t.size(0) == C, op, ": input has ", C, " channels, ", name, " has ", t.size(0));
  DDNET_CHECK(t.dtype() == x.dtype(), op, ": ", name, " ", t.str(), " and input ", x.str(),
              " have different element types");
  DDNET_CHECK(t.device() == x.device(), op, ": ", name, " is on ", t.device().str(),
              ", the input on ", x.device().str(), "; copy one with to() first");
  DDNET_CHECK(t.is_contiguous(), op, ": ", name, " ", t.str(), " must be contiguous");
}

Tensor channel_tensor(const Dims& d, const Tensor& x) {
  return Tensor::empty({d.C}, x.device(), x.dtype());
}

template <class T>
T* ptr(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

}  // namespace

BatchNormForward batch_norm_forward(const Tensor& x_in, const Tensor& weight, const Tensor& bias,
                                    Tensor& running_mean, Tensor& running_var, bool training,
                                    double momentum, double eps) {
  const char* op = "batch_norm";
  const Dims d = dims_of(op, x_in);
  check_channel_tensor(op, "weight", weight, x_in, d.C);
  check_channel_tensor(op, "bias", bias, x_in, d.C);
  check_channel_tensor(op, "running_mean", running_mean, x_in, d.C);
  check_channel_tensor(op, "running_var", running_var, x_in, d.C);
  DDNET_CHECK(running_mean.defined() == running_var.defined(), op,
              ": give both running_mean and running_var, or neither");
  DDNET_CHECK(training || running_mean.defined(), op,
              ": eval mode (training = false) normalises with running_mean and running_var, "
              "which are undefined");
  DDNET_CHECK(
      !running_mean.defined() || (!running_mean.requires_grad() && !running_var.requires_grad()),
      op,
      ": running_mean and running_var are buffers updated in place; they must not "
      "require grad");
  DDNET_CHECK(!training || d.N * d.S > 1, op,
              ": expected more than 1 value per channel when training, got input ",
              x_in.shape().str());
  DDNET_CHECK(eps >= 0, op, ": eps must not be negative, got ", eps);

  const Tensor x = contiguous(x_in);
  BatchNormForward out;
  out.y = Tensor::empty(x.shape(), x.device(), x.dtype());
  out.mean = channel_tensor(d, x);
  out.invstd = channel_tensor(d, x);
  if (d.C == 0) return out;
  const bool cpu = x.device().is_cpu();
  dispatch_float(x, op, [&](auto z) {
    using T = decltype(z);
    T* mean = out.mean.data<T>();
    T* invstd = out.invstd.data<T>();
    if (training) {
      if (cpu) {
        cpu::batch_norm_stats(x.data<T>(), d.N, d.C, d.S, mean, invstd, ptr<T>(running_mean),
                              ptr<T>(running_var), momentum, eps);
      } else {
        DDNET_CUDA_CALL({
          const Tensor ws =
              Tensor::empty({cuda::batch_norm_workspace(d.N, d.C, d.S)}, x.device(), DType::f64);
          cuda::batch_norm_stats(x.data<T>(), d.N, d.C, d.S, mean, invstd, ptr<T>(running_mean),
                                 ptr<T>(running_var), momentum, eps, ws.data<double>(),
                                 stream_of(x));
        });
      }
    } else {
      if (cpu)
        cpu::batch_norm_eval_stats(running_mean.data<T>(), running_var.data<T>(), mean, invstd, d.C,
                                   eps);
      else
        DDNET_CUDA_CALL(cuda::batch_norm_eval_stats(running_mean.data<T>(), running_var.data<T>(),
                                                    mean, invstd, d.C, eps, stream_of(x)));
    }
    if (cpu)
      cpu::batch_norm_apply(x.data<T>(), mean, invstd, ptr<T>(weight), ptr<T>(bias),
                            out.y.data<T>(), d.N, d.C, d.S);
    else
      DDNET_CUDA_CALL(cuda::batch_norm_apply(x.data<T>(), mean, invstd, ptr<T>(weight),
                                             ptr<T>(bias), out.y.data<T>(), d.N, d.C, d.S,
                                             stream_of(x)));
  });
  return out;
}

Tensor batch_norm_apply(const Tensor& x_in, const Tensor& mean, const Tensor& invstd,
                        const Tensor& weight, const Tensor& bias) {
  const char* op = "batch_norm_apply";
  const Dims d = dims_of(op, x_in);
  DDNET_CHECK(mean.defined() && invstd.defined(), op, ": mean and invstd are required");
  check_channel_tensor(op, "mean", mean, x_in, d.C);
  check_channel_tensor(op, "invstd", invstd, x_in, d.C);
  check_channel_tensor(op, "weight", weight, x_in, d.C);
  check_channel_tensor(op, "bias", bias, x_in, d.C);
  const Tensor x = contiguous(x_in);
  Tensor y = Tensor::empty(x.shape(), x.device(), x.dtype());
  if (d.C == 0 || x.numel() == 0) return y;
  dispatch_float(x, op, [&](auto z) {
    using T = decltype(z);
    if (x.device().is_cpu())
      cpu::batch_norm_apply(x.data<T>(), mean.data<T>(), invstd.data<T>(), ptr<T>(weight),
                            ptr<T>(bias), y.data<T>(), d.N, d.C, d.S);
    else
      DDNET_CUDA_CALL(cuda::batch_norm_apply(x.data<T>(), mean.data<T>(), invstd.data<T>(),
                                             ptr<T>(weight), ptr<T>(bias), y.data<T>(), d.N, d.C,
                                             d.S, stream_of(x)));
  });
  return y;
}

BatchNormGrads batch_norm_backward(const Tensor& dy_in, const Tensor& x_in, const Tensor& weight,
                                   const Tensor& mean, const Tensor& invstd, bool training,
                                   bool need_dx, bool need_dweight, bool need_dbias,
                                   bool overwrite_dy) {
  const char* op = "batch_norm backward";
  const Dims d = dims_of(op, x_in);
  DDNET_CHECK(dy_in.defined() && dy_in.shape() == x_in.shape(), op, ": gradient ",
              dy_in.defined() ? dy_in.str() : std::string("(undefined)"),
              " does not match the input ", x_in.str());
  DDNET_CHECK(dy_in.dtype() == x_in.dtype() && dy_in.device() == x_in.device(), op, ": gradient ",
              dy_in.str(), " and input ", x_in.str(), " differ in element type or device");
  check_channel_tensor(op, "weight", weight, x_in, d.C);
  DDNET_CHECK(mean.defined() && invstd.defined(), op, ": the forward's mean and invstd are needed");
  check_channel_tensor(op, "mean", mean, x_in, d.C);
  check_channel_tensor(op, "invstd", invstd, x_in, d.C);

  const Tensor dy = contiguous(dy_in), x = contiguous(x_in);
  const bool need_sums = need_dweight || need_dbias || (training && need_dx);
  BatchNormGrads g;
  Tensor sum_dy, sum_dy_xhat;
  if (need_sums) {
    sum_dy = channel_tensor(d, x);
    sum_dy_xhat = channel_tensor(d, x);
  }
  // Over dy: the reduction reads dy before the elementwise pass writes each element (in order
  // on the stream), and that pass reads each element of dy before writing it.
  if (need_dx)
    g.dx = overwrite_dy && dy.shares_storage_with(dy_in)
               ? dy
               : Tensor::empty(x.shape(), x.device(), x.dtype());
  if (d.C > 0) {
    const bool cpu = x.device().is_cpu();
    dispatch_float(x, op, [&](auto z) {
      using T = decltype(z);
      if (need_sums) {
        if (cpu) {
          cpu::batch_norm_backward_reduce(dy.data<T>(), x.data<T>(), mean.data<T>(),
                                          invstd.data<T>(), sum_dy.data<T>(), sum_dy_xhat.data<T>(),
                                          d.N, d.C, d.S);
        } else {
          DDNET_CUDA_CALL({
            const Tensor ws =
                Tensor::empty({cuda::batch_norm_workspace(d.N, d.C, d.S)}, x.device(), DType::f64);
            cuda::batch_norm_backward_reduce(
                dy.data<T>(), x.data<T>(), mean.data<T>(), invstd.data<T>(), sum_dy.data<T>(),
                sum_dy_xhat.data<T>(), d.N, d.C, d.S, ws.data<double>(), stream_of(x));
          });
        }
      }
      if (!need_dx) return;
      if (cpu)
        cpu::batch_norm_backward_input(dy.data<T>(), x.data<T>(), mean.data<T>(), invstd.data<T>(),
                                       ptr<T>(weight), ptr<T>(sum_dy), ptr<T>(sum_dy_xhat),
                                       g.dx.data<T>(), d.N, d.C, d.S, training);
      else
        DDNET_CUDA_CALL(cuda::batch_norm_backward_input(
            dy.data<T>(), x.data<T>(), mean.data<T>(), invstd.data<T>(), ptr<T>(weight),
            ptr<T>(sum_dy), ptr<T>(sum_dy_xhat), g.dx.data<T>(), d.N, d.C, d.S, training,
            stream_of(x)));
    });
  }
  if (need_dweight) g.dweight = sum_dy_xhat;
  if (need_dbias) g.dbias = sum_dy;
  return g;
}

}  // namespace ddnet::kernels
