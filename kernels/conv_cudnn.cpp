// cuDNN convolutions (CUDA builds with cuDNN). A 3D geometry uses 5-d descriptors; one that is
// 2D (depth 1, kernel depth 1, no depth padding or stride) uses 4-d ones, so cuDNN offers its 2D
// algorithms (Winograd, FFT tiling) rather than the smaller 3D set. The algorithm of each (kind,
// geometry, strides, math mode) is chosen once by measurement (cudnnFind*AlgorithmEx) under the
// workspace cap, preferring deterministic algorithms, and cached. TF32 only when
// set_allow_tf32(true).
#include "generated/ddnet_config.h"
#include "kernels/conv.h"

#if DDNET_WITH_CUDA && DDNET_WITH_CUDNN

#include <cudnn.h>

#include <climits>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>

#include "engine/allocator.h"
#include "engine/check_cuda.h"
#include "engine/check_cudnn.h"
#include "engine/cuda_runtime_seam.h"
#include "engine/tensor.h"
#include "engine/workspace.h"

namespace ddnet::kernels::cuda {

namespace {

cudnnHandle_t handle(void* stream) {
  thread_local std::map<int, cudnnHandle_t> handles;  // per device, per thread; live until exit
  int dev = 0;
  CUDA_CHECK(cudaGetDevice(&dev));
  cudnnHandle_t& h = handles[dev];
  if (!h) CUDNN_CHECK(cudnnCreate(&h));
  CUDNN_CHECK(cudnnSetStream(h, static_cast<cudaStream_t>(stream)));
  return h;
}

// 2 when the geometry is a 2D convolution written as 3D (depth 1 everywhere), else 3.
int spatial_rank(const ConvGeometry& g) {
  return g.in[0] == 1 && g.out[0] == 1 && g.k[0] == 1 && g.pad[0] == 0 ? 2 : 3;
}

struct TensorDesc {
  cudnnTensorDescriptor_t d = nullptr;
  // An N x C x D x H x W tensor; with rank 2 its depth (which must be 1) is left out.
  TensorDesc(int rank, std::int64_t n, std::int64_t c, const std::int64_t sp[3],
             std::int64_t batch_stride) {
    const std::int64_t plane = sp[0] * sp[1] * sp[2];
    const std::int64_t dims64[5] = {n, c, sp[0], sp[1], sp[2]};
    const std::int64_t strides64[5] = {batch_stride ? batch_stride : c * plane, plane,
                                       sp[1] * sp[2], sp[2], 1};
    int dims[5], strides[5];
    int nb = 0;
    for (int i = 0; i < 5; ++i) {
      // cuDNN's Nd descriptors take int, and its legacy API at most 2^31 elements per tensor: a
      // larger size would wrap and address the wrong memory.
      DDNET_CHECK(dims64[i] <= INT_MAX && strides64[i] <= INT_MAX &&
                      (n - 1) * strides64[0] + c * plane <= INT_MAX,
                  "cuDNN convolution: a tensor of ", n, "x", c, "x", sp[0], "x", sp[1], "x", sp[2],
                  " (batch stride ", strides64[0], ") has more than 2^31 - 1 elements");
      if (i == 2 && rank == 2) continue;  // the unit depth of a 2D tensor
      dims[nb] = static_cast<int>(dims64[i]);
      strides[nb] = static_cast<int>(strides64[i]);
      ++nb;
    }
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&d));
    CUDNN_CHECK(cudnnSetTensorNdDescriptor(d, CUDNN_DATA_FLOAT, nb, dims, strides));
  }
  ~TensorDesc() { cudnnDestroyTensorDescriptor(d); }
  TensorDesc(const TensorDesc&) = delete;
  TensorDesc& operator=(const TensorDesc&) = delete;
};

struct FilterDesc {
  cudnnFilterDescriptor_t d = nullptr;
  explicit FilterDesc(const ConvGeometry& g) {
    CUDNN_CHECK(cudnnCreateFilterDescriptor(&d));
    const int r = spatial_rank(g);
    int dims[5] = {static_cast<int>(g.cout), static_cast<int>(g.cin)};
    for (int i = 0; i < r; ++i) dims[2 + i] = static_cast<int>(g.k[3 - r + i]);
    CUDNN_CHECK(cudnnSetFilterNdDescriptor(d, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, r + 2, dims));
  }
  ~FilterDesc() { cudnnDestroyFilterDescriptor(d); }
  FilterDesc(const FilterDesc&) = delete;
  FilterDesc& operator=(const FilterDesc&) = delete;
};

struct ConvDesc {
  cudnnConvolutionDescriptor_t d = nullptr;
  explicit ConvDesc(const ConvGeometry& g) {
    CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&d));
    const int r = spatial_rank(g);
    int pad[3], stride[3];
    const int dilation[3] = {1, 1, 1};
    for (int i = 0; i < r; ++i) {
      pad[i] = static_cast<int>(g.pad[3 - r + i]);
      stride[i] = static_cast<int>(g.stride[3 - r + i]);
    }
    CUDNN_CHECK(cudnnSetConvolutionNdDescriptor(d, r, pad, stride, dilation,
                                                CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    CUDNN_CHECK(cudnnSetConvolutionMathType(d, allow_tf32() ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH));
  }
  ~ConvDesc() { cudnnDestroyConvolutionDescriptor(d); }
  ConvDesc(const ConvDesc&) = delete;
  ConvDesc& operator=(const ConvDesc&) = delete;
};

struct Descs {
  TensorDesc x, y;
  FilterDesc w;
  ConvDesc conv;
  Descs(const ConvGeometry& g, ConvStrides s)
      : x(spatial_rank(g), g.n, g.cin, g.in, s.x),
        y(spatial_rank(g), g.n, g.cout, g.out, s.y),
        w(g),
        conv(g) {}
};

enum class Kind { forward, backward_data, backward_filter };

struct Choice {
  int algo = 0;
  std::size_t workspace = 0;
  cudnnMathType_t math = CUDNN_FMA_MATH;  // what Find measured the algorithm with
};

// The offset of a pointer within 16 bytes: channel slices of the dense blocks' buffers start at
// any multiple of 4 bytes, and an algorithm measured on aligned buffers need not be the right
// (or a valid) choice for a misaligned one, so alignment is part of the cache key.
unsigned misalignment(const void* p) {
  return static_cast<unsigned>(reinterpret_cast<std::uintptr_t>(p) & 15u);
}

std::string key(Kind kind, const ConvGeometry& g, ConvStrides s, const void* a, const void* b,
                const void* out) {
  int dev = 0;
  CUDA_CHECK(cudaGetDevice(&dev));
  return std::to_string(static_cast<int>(kind)) + "|" + g.str() + "|" + std::to_string(s.x) + "|" +
         std::to_string(s.y) + "|tf32=" + std::to_string(allow_tf32()) +
         "|dev=" + std::to_string(dev) + "|align=" + std::to_string(misalignment(a)) + "," +
         std::to_string(misalignment(b)) + "," + std::to_string(misalignment(out));
}

// Device scratch from the caching allocator (freed back to it when the tensor goes).
Tensor scratch(std::size_t bytes) {
  int dev = 0;
  CUDA_CHECK(cudaGetDevice(&dev));
  return Tensor::empty(Shape{static_cast<std::int64_t>((bytes + 3) / 4)}, Device::cuda(dev));
}

// Find measures each algorithm with the descriptor's math type and with CUDNN_DEFAULT_MATH
// (which may use TF32 on Hopper); a result's workspace, time and determinism belong to its own
// math type. Without TF32 only the FMA results are candidates: running a DEFAULT_MATH result's
// algorithm as FMA would use another kernel, whose workspace may be larger.
template <class Perf>
bool usable(const Perf& r, std::size_t cap) {
  return r.status == CUDNN_STATUS_SUCCESS && r.memory <= cap &&
         (allow_tf32() || r.mathType == CUDNN_FMA_MATH);
}

template <class Perf>
Choice pick(const Perf* results, int count, const char* what, const ConvGeometry& g,
            std::size_t cap) {
  // Fastest deterministic algorithm that ran; results come sorted by time.
  for (int i = 0; i < count; ++i)
    if (usable(results[i], cap) && results[i].determinism == CUDNN_DETERMINISTIC)
      return {static_cast<int>(results[i].algo), results[i].memory, results[i].mathType};
  // None: the fastest one that ran (cuDNN offers few deterministic 3D weight-gradient algorithms,
  // fewer still for the strided channel slices of the dense blocks), said once per geometry.
  for (int i = 0; i < count; ++i)
    if (usable(results[i], cap)) {
      std::fprintf(stderr,
                   "ddnet: cuDNN has no deterministic %s algorithm for %s within %zu MiB of "
                   "workspace; using algorithm %d, whose results may vary in the last bits\n",
                   what, g.str().c_str(), cap >> 20, static_cast<int>(results[i].algo));
      return {static_cast<int>(results[i].algo), results[i].memory, results[i].mathType};
    }
  DDNET_FAIL("cuDNN found no ", what, " algorithm within a workspace of ", cap >> 20, " MiB for ",
             g.str());
}

// The workspace Find may use: the limit, or half the free device memory. Blocks the caching
// allocator holds count as free (they are handed back first when the limit is not available).
std::size_t find_workspace_cap() {
  std::size_t free_b = 0, total_b = 0;
  CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  if (free_b / 2 < conv_workspace_limit()) {
    int dev = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    cuda_allocator(dev).empty_cache();
    CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  }
  return std::min(conv_workspace_limit(), free_b / 2);
}

Choice choose(Kind kind, const ConvGeometry& g, ConvStrides s, const Descs& d, cudnnHandle_t h,
              const float* a, const float* b, const float* real_out, std::size_t out_elems) {
  static std::mutex mu;
  static std::map<std::string, Choice> cache;
  const std::string k = key(kind, g, s, a, b, real_out);
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = cache.find(k);
    if (it != cache.end()) return it->second;
  }
  // Find writes its output: measure into scratch (at the real output's alignment) so
  // accumulating calls keep their data.
  Tensor out_buf = scratch(out_elems * sizeof(float) + 16);
  float* out = out_buf.data<float>() + misalignment(real_out) / sizeof(float);
  const std::size_t cap = find_workspace_cap();
  Tensor ws = scratch(cap);
  const ScopedWorkspace counted(static_cast<std::int64_t>(cap));
  constexpr int kMax = 16;
  int returned = 0;
  Choice c;
  if (kind == Kind::forward) {
    cudnnConvolutionFwdAlgoPerf_t r[kMax];
    CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(h, d.x.d, a, d.w.d, b, d.conv.d, d.y.d, out,
                                                       kMax, &returned, r, ws.data<float>(), cap));
    c = pick(r, returned, "forward", g, cap);
  } else if (kind == Kind::backward_data) {
    cudnnConvolutionBwdDataAlgoPerf_t r[kMax];
    CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(
        h, d.w.d, b, d.y.d, a, d.conv.d, d.x.d, out, kMax, &returned, r, ws.data<float>(), cap));
    c = pick(r, returned, "backward-data", g, cap);
  } else {
    cudnnConvolutionBwdFilterAlgoPerf_t r[kMax];
    CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(
        h, d.x.d, a, d.y.d, b, d.conv.d, d.w.d, out, kMax, &returned, r, ws.data<float>(), cap));
    c = pick(r, returned, "backward-filter", g, cap);
  }
  // Executed with the math type Find measured (FMA whenever TF32 is off: see usable()).
  std::lock_guard<std::mutex> lock(mu);
  cache[k] = c;
  return c;
}

std::size_t x_elems(const ConvGeometry& g, ConvStrides s) {
  return static_cast<std::size_t>((g.n - 1) * (s.x ? s.x : g.cin * g.in_plane()) +
                                  g.cin * g.in_plane());
}
std::size_t y_elems(const ConvGeometry& g, ConvStrides s) {
  return static_cast<std::size_t>((g.n - 1) * (s.y ? s.y : g.cout * g.out_plane()) +
                                  g.cout * g.out_plane());
}

}  // namespace

void conv_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias,
                  float* y, ConvStrides s, void* stream) {
  cudnnHandle_t h = handle(stream);
  Descs d(g, s);
  const Choice c = choose(Kind::forward, g, s, d, h, x, w, y, y_elems(g, s));
  CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv.d, c.math));
  Tensor ws = scratch(c.workspace);
  const ScopedWorkspace counted(static_cast<std::int64_t>(c.workspace));
  const float one = 1.f, zero = 0.f;
  CUDNN_CHECK(cudnnConvolutionForward(h, &one, d.x.d, x, d.w.d, w, d.conv.d,
                                      static_cast<cudnnConvolutionFwdAlgo_t>(c.algo),
                                      ws.data<float>(), c.workspace, &zero, d.y.d, y));
  if (bias) add_channel_bias(g, bias, y, s, stream);
}

void conv_backward_data(const ConvGeometry& g, const float* dy, const float* w, float* dx,
                        bool accumulate, ConvStrides s, void* stream) {
  cudnnHandle_t h = handle(stream);
  Descs d(g, s);
  const Choice c = choose(Kind::backward_data, g, s, d, h, dy, w, dx, x_elems(g, s));
  CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv.d, c.math));
  Tensor ws = scratch(c.workspace);
  const ScopedWorkspace counted(static_cast<std::int64_t>(c.workspace));
  const float one = 1.f, beta = accumulate ? 1.f : 0.f;
  CUDNN_CHECK(cudnnConvolutionBackwardData(h, &one, d.w.d, w, d.y.d, dy, d.conv.d,
                                           static_cast<cudnnConvolutionBwdDataAlgo_t>(c.algo),
                                           ws.data<float>(), c.workspace, &beta, d.x.d, dx));
}

void conv_backward_filter(const ConvGeometry& g, const float* x, const float* dy, float* dw,
                          float* dbias, bool accumulate, ConvStrides s, void* stream) {
  cudnnHandle_t h = handle(stream);
  Descs d(g, s);
  const Choice c = choose(Kind::backward_filter, g, s, d, h, x, dy, dw,
                          static_cast<std::size_t>(g.cout * g.cin * g.kvol()));
  CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv.d, c.math));
  Tensor ws = scratch(c.workspace);
  const ScopedWorkspace counted(static_cast<std::int64_t>(c.workspace));
  const float one = 1.f, beta = accumulate ? 1.f : 0.f;
  CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, &one, d.x.d, x, d.y.d, dy, d.conv.d,
                                             static_cast<cudnnConvolutionBwdFilterAlgo_t>(c.algo),
                                             ws.data<float>(), c.workspace, &beta, d.w.d, dw));
  if (dbias) channel_sum(g, dy, dbias, accumulate, s, stream);
}

void add_channel_bias(const ConvGeometry& g, const float* bias, float* y, ConvStrides s,
                      void* stream) {
  cudnnHandle_t h = handle(stream);
  TensorDesc yd(spatial_rank(g), g.n, g.cout, g.out, s.y);
  const std::int64_t one_sp[3] = {1, 1, 1};
  TensorDesc bd(spatial_rank(g), 1, g.cout, one_sp, 0);
  const float one = 1.f;
  CUDNN_CHECK(cudnnAddTensor(h, &one, bd.d, bias, &one, yd.d, y));
}

void channel_sum(const ConvGeometry& g, const float* dy, float* db, bool accumulate, ConvStrides s,
                 void* stream) {
  cudnnHandle_t h = handle(stream);
  TensorDesc yd(spatial_rank(g), g.n, g.cout, g.out, s.y);
  const std::int64_t one_sp[3] = {1, 1, 1};
  TensorDesc bd(spatial_rank(g), 1, g.cout, one_sp, 0);
  const float one = 1.f, beta = accumulate ? 1.f : 0.f;
  CUDNN_CHECK(cudnnConvolutionBackwardBias(h, &one, yd.d, dy, &beta, bd.d, db));
}

}  // namespace ddnet::kernels::cuda

#elif DDNET_WITH_CUDA

#include "engine/error.h"

namespace ddnet::kernels::cuda {
namespace {
[[noreturn]] void no_cudnn() {
  DDNET_FAIL("convolutions on CUDA need cuDNN, which this build did not find");
}
}  // namespace
void conv_forward(const ConvGeometry&, const float*, const float*, const float*, float*,
                  ConvStrides, void*) {
  no_cudnn();
}
void conv_backward_data(const ConvGeometry&, const float*, const float*, float*, bool, ConvStrides,
                        void*) {
  no_cudnn();
}
void conv_backward_filter(const ConvGeometry&, const float*, const float*, float*, float*, bool,
                          ConvStrides, void*) {
  no_cudnn();
}
void add_channel_bias(const ConvGeometry&, const float*, float*, ConvStrides, void*) {
  no_cudnn();
}
void channel_sum(const ConvGeometry&, const float*, float*, bool, ConvStrides, void*) {
  no_cudnn();
}
}  // namespace ddnet::kernels::cuda

#endif
