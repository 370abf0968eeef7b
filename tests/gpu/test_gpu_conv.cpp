// GPU entries: cuDNN convolutions against the CPU path (forward and every gradient), 2D and 3D
// (and 3D of depth 1, which goes to cuDNN as 2D), the network's configurations, a channel-slice
// output, and the TF32 switch staying off.
#include <catch2/catch.hpp>

#include "engine/rng.h"
#include "kernels/conv_ops.h"
#include "kernels/copy_ops.h"
#include "kernels/reduce_ops.h"
#include "layers/conv_autograd.h"
#include "tests/op_harness.h"

using namespace ddnet;

namespace {
// Conv or ConvTranspose with a bias, against the CPU in float64 at 1e-4.
test::OpCase conv_case(const Shape& x, const Shape& w, kernels::ConvOptions o, bool transpose) {
  const Shape bias{transpose ? w[1] : w[0]};
  test::OpCase op{
      transpose ? "conv_transpose" : "conv", {x, w, bias}, [o, transpose](const auto& in) {
        return transpose ? F::conv_transpose(in[0], in[1], in[2], o)
                         : F::conv(in[0], in[1], in[2], o);
      }};
  op.rtol = 1e-4;
  op.atol = 1e-4;
  return op;
}
}  // namespace

TEST_CASE("gpu conv: cuDNN conv and conv_transpose match the CPU", "[gpu][conv]") {
  REQUIRE_FALSE(kernels::allow_tf32());
  struct C {
    Shape x, w;
    kernels::ConvOptions o;
    bool transpose;
  };
  const std::vector<C> cases = {{{1, 1, 8, 16, 16}, {16, 1, 7, 7, 7}, {1, 3}, false},
                                {{1, 64, 8, 8, 8}, {16, 64, 5, 5, 5}, {1, 2}, false},
                                {{2, 48, 4, 8, 8}, {64, 48, 1, 1, 1}, {1, 0}, false},
                                {{2, 3, 9, 10, 11}, {4, 3, 3, 3, 3}, {2, 1}, false},
                                {{2, 8, 33, 17}, {16, 8, 5, 5}, {1, 2}, false},
                                {{2, 4, 1, 12, 10}, {6, 4, 1, 3, 3}, {2, 0}, false},  // 2D inside
                                {{2, 4, 1, 12, 10}, {6, 4, 1, 3, 3}, {1, 1}, false},  // padded D
                                {{1, 32, 8, 8, 8}, {32, 32, 5, 5, 5}, {1, 2}, true},
                                {{1, 32, 8, 8, 8}, {32, 16, 1, 1, 1}, {1, 0}, true},
                                {{2, 6, 7, 8}, {6, 4, 5, 5}, {1, 2}, true}};
  for (const auto& c : cases) {
    const test::OpCase op = conv_case(c.x, c.w, c.o, c.transpose);
    test::check_cuda_matches_cpu(op);
  }
}

TEST_CASE("gpu conv: output into a channel slice of a concatenation buffer", "[gpu][conv]") {
  const Device gpu = Device::cuda(0);
  Generator gen(3);
  Tensor x = gen.uniform({2, 4, 4, 6, 6}), w = gen.uniform({3, 4, 3, 3, 3}), b = gen.uniform({3});
  Tensor buf = Tensor::zeros({2, 10, 4, 6, 6}, gpu);
  Tensor slice = buf.narrow(1, 5, 3);
  kernels::conv_into(x.to(gpu), w.to(gpu), b.to(gpu), {1, 1}, slice);
  // References: the CPU path in float64 (no fast path or cost model in it).
  using test::to_f64;
  test::check_close(kernels::contiguous(slice),
                    kernels::conv(to_f64(x), to_f64(w), to_f64(b), {1, 1}), 1e-4, 1e-5,
                    "slice output");
  REQUIRE(kernels::sum(kernels::contiguous(buf.narrow(1, 0, 5))).item() == 0);

  // 2D (4-d cuDNN descriptors), with the batch stride of the buffer: 2D-DDnet's dense blocks.
  Tensor x2 = gen.uniform({2, 4, 9, 7}), w2 = gen.uniform({3, 4, 5, 5}), b2 = gen.uniform({3});
  Tensor buf2 = Tensor::zeros({2, 10, 9, 7}, gpu);
  Tensor slice2 = buf2.narrow(1, 2, 3);
  kernels::conv_into(x2.to(gpu), w2.to(gpu), b2.to(gpu), {1, 2}, slice2);
  test::check_close(kernels::contiguous(slice2),
                    kernels::conv(to_f64(x2), to_f64(w2), to_f64(b2), {1, 2}), 1e-4, 1e-5,
                    "2D slice output");
  REQUIRE(kernels::sum(kernels::contiguous(buf2.narrow(1, 0, 2))).item() == 0);
  REQUIRE(kernels::sum(kernels::contiguous(buf2.narrow(1, 5, 5))).item() == 0);
}

TEST_CASE("gpu conv: gradients with input and output gradient as channel slices, accumulating",
          "[gpu][conv]") {
  // The dense blocks' backward: x is the first channels of a concatenation buffer, dy a slice of
  // another; weight and data gradients add into what is there.
  const Device gpu = Device::cuda(0);
  Generator gen(5);
  Tensor xbuf = gen.uniform({2, 80, 4, 8, 8}), dybuf = gen.uniform({2, 48, 4, 8, 8});
  Tensor w = gen.uniform({16, 64, 5, 5, 5}, Device::cpu(), -0.05f, 0.05f);
  Tensor x = xbuf.narrow(1, 0, 64), dy = dybuf.narrow(1, 16, 16);
  const kernels::ConvGeometry g = kernels::conv_geometry("conv", x, w, {1, 2});
  Tensor dw_cpu = gen.uniform(w.shape()), db_cpu = gen.uniform({16});
  Tensor dx_cpu = gen.uniform(x.shape());
  Tensor dw_gpu = dw_cpu.to(gpu), db_gpu = db_cpu.to(gpu), dx_gpu = dx_cpu.to(gpu);
  Tensor xg = xbuf.to(gpu).narrow(1, 0, 64), dyg = dybuf.to(gpu).narrow(1, 16, 16);
  // The reference in float64 (the same slices of float64 copies of the buffers).
  dw_cpu = test::to_f64(dw_cpu);
  db_cpu = test::to_f64(db_cpu);
  dx_cpu = test::to_f64(dx_cpu);
  const Tensor x64 = test::to_f64(xbuf).narrow(1, 0, 64),
               dy64 = test::to_f64(dybuf).narrow(1, 16, 16);
  kernels::conv_backward_filter_t(g, x64, dy64, dw_cpu, &db_cpu, true);
  kernels::conv_backward_filter_t(g, xg, dyg, dw_gpu, &db_gpu, true);
  kernels::conv_backward_data_t(g, dy64, test::to_f64(w), dx_cpu, true);
  kernels::conv_backward_data_t(g, dyg, w.to(gpu), dx_gpu, true);
  test::check_close(dw_gpu, dw_cpu, 1e-4, 1e-4, "weight gradient");
  test::check_close(db_gpu, db_cpu, 1e-5, 1e-5, "bias gradient");
  test::check_close(dx_gpu, dx_cpu, 1e-4, 1e-4, "data gradient");
}

TEST_CASE("gpu conv: calls over the element limit run in depth chunks on the device",
          "[gpu][conv][split]") {
  // Limits far below cuDNN's 2^31 - 1 so that small tensors take the path a 512x512x256 volume
  // takes: every primitive runs by samples and depth chunks with halos (kernels/conv.h).
  struct C {
    Shape x, w;
    kernels::ConvOptions o;
    bool transpose;
    kernels::ConvSplitLimits limits;
  };
  const std::vector<C> cases = {
      {{2, 3, 9, 6, 5}, {4, 3, 3, 3, 3}, {1, 1}, false, {2000, 500}},
      {{1, 1, 13, 7, 5}, {2, 1, 7, 7, 7}, {1, 3}, false, {900, 1}},
      {{3, 2, 7, 8}, {4, 2, 3, 3}, {1, 1}, false, {600, 600}},
      {{1, 4, 7, 5, 6}, {4, 2, 5, 5, 5}, {1, 2}, true, {800, 700}},
  };
  for (const auto& c : cases) {
    const test::OpCase op = conv_case(c.x, c.w, c.o, c.transpose);
    const std::int64_t before = kernels::conv_split_count();
    const kernels::ScopedConvSplitLimits scope(c.limits);
    test::check_cuda_matches_cpu(op);
    // Forward and both gradients, on the device and on the CPU reference.
    REQUIRE(kernels::conv_split_count() - before == 6);
  }
}
