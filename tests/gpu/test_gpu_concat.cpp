// GPU entries: the concat/split kernel against the CPU, and the zero-copy view path on CUDA.
#include <catch2/catch.hpp>

#include "engine/rng.h"
#include "kernels/concat_ops.h"
#include "layers/conv_autograd.h"
#include "layers/functional.h"
#include "tests/op_harness.h"

using namespace ddnet;

TEST_CASE("gpu concat: kernel and split match the CPU, any number of inputs", "[gpu][concat]") {
  const Device gpu = Device::cuda(0);
  Generator g(4);
  for (int count : {1, 2, 5, 16, 17, 40}) {
    std::vector<Tensor> cpu_parts, gpu_parts;
    std::vector<std::int64_t> channels;
    for (int i = 0; i < count; ++i) {
      cpu_parts.push_back(g.uniform({2, 1 + i % 4, 3, 5, 7}));
      gpu_parts.push_back(cpu_parts.back().to(gpu));
      channels.push_back(1 + i % 4);
    }
    Tensor c = kernels::concat(cpu_parts), d = kernels::concat(gpu_parts);
    test::check_close(d, c, 0, 0, "concat");
    const auto back = kernels::split_channels(d, channels);
    for (int i = 0; i < count; ++i)
      test::check_close(back[static_cast<std::size_t>(i)], cpu_parts[static_cast<std::size_t>(i)],
                        0, 0, "split");
  }
}

TEST_CASE("gpu concat: a dense block in miniature matches the CPU", "[gpu][concat]") {
  auto block = [](const std::vector<Tensor>& in) {
    const Tensor& x = in[0];
    Tensor buf = Tensor::zeros({2, 6, 3, 4, 4}, x.device(), x.dtype());
    Tensor s0 = F::copy_into(x, buf.narrow(1, 0, 2));
    Tensor s1 = F::conv_into(s0, in[1], in[2], {1, 1}, buf.narrow(1, 2, 2));
    Tensor s2 = F::conv_into(F::concat({s0, s1}), in[3], in[4], {1, 1}, buf.narrow(1, 4, 2));
    return F::leaky_relu(F::contiguous(F::concat({s0, s1, s2})));
  };
  test::OpCase c{
      "dense block", {{2, 2, 3, 4, 4}, {2, 2, 3, 3, 3}, {2}, {2, 4, 3, 3, 3}, {2}}, block};
  c.atol = 1e-4;
  test::check_cuda_matches_cpu(c);
}
