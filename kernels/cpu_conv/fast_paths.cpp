// Routing of float32 CPU convolutions to the fast paths (see fast_paths.h): FFTs where the cost
// model prefers them, then oneDNN, with the direct AVX2 weight gradient where it applies.
#include "kernels/cpu_conv/fast_paths.h"

#include "kernels/cpu_conv/config.h"
#include "kernels/cpu_conv/dnnl.h"
#include "kernels/cpu_conv/fft.h"
#include "kernels/cpu_conv/wgrad.h"

namespace ddnet::kernels::cpu_conv {

bool try_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y,
                 ConvStrides s) {
  const Config c = config();
  if (!c.uses_fast_paths()) return false;
  if (fft::chosen(g, fft::Pass::forward, c))
    fft::conv_forward(g, x, w, bias, y, s, c);
  else
    dnnl_path::conv_forward(g, x, w, bias, y, s);
  return true;
}

bool try_backward_data(const ConvGeometry& g, const float* dy, const float* w, float* dx,
                       bool accumulate, ConvStrides s) {
  const Config c = config();
  if (!c.uses_fast_paths()) return false;
  if (fft::chosen(g, fft::Pass::backward_data, c))
    fft::conv_backward_data(g, dy, w, dx, accumulate, s, c);
  else
    dnnl_path::conv_backward_data(g, dy, w, dx, accumulate, s);
  return true;
}

bool try_backward_filter(const ConvGeometry& g, const float* x, const float* dy, float* dw,
                         float* dbias, bool accumulate, ConvStrides s) {
  const Config c = config();
  if (!c.uses_fast_paths()) return false;
  if (fft::chosen(g, fft::Pass::backward_filter, c))
    fft::conv_backward_filter(g, x, dy, dw, dbias, accumulate, s, c);
  else if (c.wgrad == Wgrad::direct && direct_wgrad::supports(g))
    direct_wgrad::conv_backward_filter(g, x, dy, dw, dbias, accumulate, s, c.wgrad_variant);
  else
    dnnl_path::conv_backward_filter(g, x, dy, dw, dbias, accumulate, s);
  return true;
}

}  // namespace ddnet::kernels::cpu_conv
