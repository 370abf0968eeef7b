// GPU entries: cuDNN convolutions against the CPU path (forward and every gradient), 2D and 3D,
// the network's configurations, a channel-slice output, and the TF32 switch staying off.
#include <catch2/catch.hpp>

#include "engine/rng.h"
#include "kernels/conv_ops.h"
#include "kernels/ops.h"
#include "layers/conv.h"
#include "tests/op_harness.h"

using namespace ddnet;

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
                                {{1, 32, 8, 8, 8}, {32, 32, 5, 5, 5}, {1, 2}, true},
                                {{1, 32, 8, 8, 8}, {32, 16, 1, 1, 1}, {1, 0}, true},
                                {{2, 6, 7, 8}, {6, 4, 5, 5}, {1, 2}, true}};
  for (const auto& c : cases) {
    const Shape bias{c.transpose ? c.w[1] : c.w[0]};
    test::OpCase op{c.transpose ? "conv_transpose" : "conv",
                    {c.x, c.w, bias},
                    [o = c.o, t = c.transpose](const auto& in) {
                      return t ? F::conv_transpose(in[0], in[1], in[2], o)
                               : F::conv(in[0], in[1], in[2], o);
                    }};
    op.rtol = 1e-4;
    op.atol = 1e-4;
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
  test::check_close(kernels::contiguous(slice), kernels::conv(x, w, b, {1, 1}), 1e-4, 1e-5,
                    "slice output");
  REQUIRE(kernels::sum(kernels::contiguous(buf.narrow(1, 0, 5))).item() == 0);
}
