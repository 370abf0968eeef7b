// y += x for gradient accumulation, on the CPU or through the engine's CUDA kernel.
#include "engine/autograd.h"
#include "engine/engine_cuda.h"
#include "engine/parallel.h"
#include "engine/stream.h"
#include "generated/ddnet_config.h"

namespace ddnet {

namespace {
template <class T>
void accumulate_cpu(T* y, const T* x, std::int64_t n) {
  parallel_for(n, 1 << 15, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) y[i] += x[i];
  });
}
}  // namespace

void accumulate_into(Tensor& y, const Tensor& x_in) {
  DDNET_CHECK(y.shape() == x_in.shape() && y.dtype() == x_in.dtype() && y.device() == x_in.device(),
              "gradient accumulation: ", x_in.str(), " into ", y.str());
  DDNET_CHECK(y.is_contiguous(), "gradient accumulation into non-contiguous ", y.str());
  const Tensor x = x_in.is_contiguous() ? x_in : x_in.clone();
  const std::int64_t n = y.numel();
  if (y.device().is_cpu()) {
    if (y.dtype() == DType::f32) return accumulate_cpu(y.data<float>(), x.data<float>(), n);
    if (y.dtype() == DType::f64) return accumulate_cpu(y.data<double>(), x.data<double>(), n);
  } else {
#if DDNET_WITH_CUDA
    void* s = current_stream(y.device().index()).handle();
    if (y.dtype() == DType::f32)
      return engine_cuda::accumulate(y.data<float>(), x.data<float>(), n, s);
    if (y.dtype() == DType::f64)
      return engine_cuda::accumulate(y.data<double>(), x.data<double>(), n, s);
#endif
  }
  DDNET_FAIL("gradient accumulation: ", y.str(), " is not supported");
}

}  // namespace ddnet
