// Dense concatenation: the concat kernel and the zero-copy view agree (forward and backward);
// a dense-block-shaped graph passes a gradient check through conv_into + concat views.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

#include "engine/rng.h"
#include "kernels/concat_ops.h"
#include "kernels/copy_ops.h"
#include "kernels/cpu_features.h"
#include "layers/conv_autograd.h"
#include "layers/functional.h"
#include "tests/op_harness.h"

using namespace ddnet;
using Catch::Matchers::Contains;

TEST_CASE("concat: kernel values, split inverts it, errors", "[concat]") {
  Generator g(1);
  std::vector<Tensor> parts = {g.uniform({2, 3, 4, 5}), g.uniform({2, 1, 4, 5}),
                               g.uniform({2, 4, 4, 5})};
  Tensor y = kernels::concat(parts);
  REQUIRE(y.shape() == Shape({2, 8, 4, 5}));
  test::check_close(kernels::contiguous(y.narrow(1, 3, 1)), parts[1], 0, 0, "middle part");
  const auto back = kernels::split_channels(y, {3, 1, 4});
  for (std::size_t i = 0; i < parts.size(); ++i)
    test::check_close(back[i], parts[i], 0, 0, "split");
  // more inputs than one launch takes
  std::vector<Tensor> many;
  for (int i = 0; i < 37; ++i) many.push_back(g.uniform({1, 1 + i % 3, 2, 3}));
  Tensor big = kernels::concat(many);
  const auto pieces = kernels::split_channels(big, [&] {
    std::vector<std::int64_t> c;
    for (auto& t : many) c.push_back(t.size(1));
    return c;
  }());
  for (std::size_t i = 0; i < many.size(); ++i)
    test::check_close(pieces[i], many[i], 0, 0, "split of 37");
  REQUIRE_THROWS_WITH(kernels::concat({g.uniform({1, 2, 3}), g.uniform({1, 2, 4})}),
                      Contains("only the channel dimension may differ"));
}

TEST_CASE("concat: the non-temporal copies give the same bytes as memcpy", "[concat]") {
  // Parts of 1, 3 and 7 channels of 5x7 planes: pieces that start and end off a 16-byte boundary.
  Generator g(2);
  std::vector<Tensor> parts = {g.uniform({2, 1, 5, 7}), g.uniform({2, 3, 5, 7}),
                               g.uniform({2, 7, 5, 7})};
  const Tensor plain = kernels::concat(parts);
  kernels::ForceStreamStores stream;
  REQUIRE(kernels::concat(parts).to_vector<float>() == plain.to_vector<float>());
  const auto back = kernels::split_channels(plain, {1, 3, 7});
  for (std::size_t i = 0; i < parts.size(); ++i)
    REQUIRE(back[i].to_vector<float>() == parts[i].to_vector<float>());
}

TEST_CASE("concat: DDNET_CPU_STREAM_STORES is checked when read", "[concat]") {
  const char* old = std::getenv("DDNET_CPU_STREAM_STORES");
  const std::string saved = old ? old : "";
  ::setenv("DDNET_CPU_STREAM_STORES", "sometimes", 1);
  CHECK_THROWS_WITH(
      kernels::stream_stores_from_environment(),
      Contains("DDNET_CPU_STREAM_STORES='sometimes'") && Contains("expected auto, on or off"));
  ::setenv("DDNET_CPU_STREAM_STORES", "off", 1);
  CHECK(kernels::stream_stores_from_environment() == kernels::StreamStores::never);
  if (old)
    ::setenv("DDNET_CPU_STREAM_STORES", saved.c_str(), 1);
  else
    ::unsetenv("DDNET_CPU_STREAM_STORES");
  CHECK_THAT(kernels::stream_stores_summary(), Contains("DDNET_CPU_STREAM_STORES"));
}

TEST_CASE("concat: the zero-copy view and the kernel agree, forward and backward", "[concat]") {
  Generator g(2);
  const Shape s{2, 3, 3, 4, 5};
  Tensor a = g.uniform(s), b = g.uniform(s);
  Tensor buf = Tensor::zeros({2, 9, 3, 4, 5});
  // adjacent slices of one buffer: a view, no copy
  Tensor sa = F::copy_into(a, buf.narrow(1, 0, 3));
  Tensor sb = F::copy_into(b, buf.narrow(1, 3, 3));
  Tensor v = F::concat({sa, sb});
  REQUIRE(v.shares_storage_with(buf));
  Tensor k = F::concat({a, b});  // separate tensors: the kernel copies
  REQUIRE_FALSE(k.shares_storage_with(a));
  test::check_close(kernels::contiguous(v), k, 0, 0, "view vs kernel");

  a.set_requires_grad();
  b.set_requires_grad();
  Tensor w = g.uniform({2, 6, 3, 4, 5});
  Tensor buf2 = Tensor::zeros({2, 9, 3, 4, 5});
  Tensor ya = F::copy_into(a, buf2.narrow(1, 0, 3)), yb = F::copy_into(b, buf2.narrow(1, 3, 3));
  F::sum(F::mul(F::contiguous(F::concat({ya, yb})), w)).backward();
  Tensor ga = a.grad().clone(), gb = b.grad().clone();
  a.zero_grad();
  b.zero_grad();
  F::sum(F::mul(F::concat({a, b}), w)).backward();
  test::check_close(ga, a.grad(), 0, 0, "gradient of a: view vs kernel");
  test::check_close(gb, b.grad(), 0, 0, "gradient of b: view vs kernel");
}

TEST_CASE("concat: a dense block in miniature passes the gradient check", "[concat][gradcheck]") {
  // buf = [x | y1 | y2], y1 = conv(x), y2 = conv([x | y1]) written into their slices; L = f(buf).
  auto block = [](const std::vector<Tensor>& in) {
    const Tensor& x = in[0];
    Tensor buf = Tensor::zeros({1, 6, 3, 4, 4}, Device::cpu(), x.dtype());
    Tensor s0 = F::copy_into(x, buf.narrow(1, 0, 2));
    Tensor s1 = F::conv_into(s0, in[1], in[2], {1, 1}, buf.narrow(1, 2, 2));
    Tensor cat01 = F::concat({s0, s1});
    Tensor s2 = F::conv_into(cat01, in[3], in[4], {1, 1}, buf.narrow(1, 4, 2));
    return F::leaky_relu(F::contiguous(F::concat({s0, s1, s2})));
  };
  test::check_gradient(
      {"dense block", {{1, 2, 3, 4, 4}, {2, 2, 3, 3, 3}, {2}, {2, 4, 3, 3, 3}, {2}}, block});
}

TEST_CASE("concat: the dense block with two samples (strided slices) passes the gradient check",
          "[concat][gradcheck]") {
  auto block = [](const std::vector<Tensor>& in) {
    const Tensor& x = in[0];
    Tensor buf = Tensor::zeros({2, 5, 2, 3, 3}, Device::cpu(), x.dtype());
    Tensor s0 = F::copy_into(x, buf.narrow(1, 0, 2));
    Tensor s1 = F::conv_into(s0, in[1], in[2], {1, 1}, buf.narrow(1, 2, 3));
    return F::contiguous(F::concat({s0, s1}));
  };
  test::check_gradient({"dense block N=2", {{2, 2, 2, 3, 3}, {3, 2, 3, 3, 3}, {3}}, block});
}
