// Elementwise kernels: values, shape errors, and gradient checks over odd shapes.
#include <catch2/catch.hpp>

#include "engine/rng.h"
#include "kernels/elementwise_ops.h"
#include "layers/functional.h"
#include "tests/op_harness.h"

using namespace ddnet;
using Catch::Matchers::Contains;

using test::vec;

TEST_CASE("elementwise: values", "[kernels]") {
  Tensor a = vec({1, -2, 3}), b = vec({0.5f, 4, -1});
  REQUIRE(kernels::add(a, b).to_vector<float>() == std::vector<float>{1.5f, 2, 2});
  REQUIRE(kernels::mul(a, b).to_vector<float>() == std::vector<float>{0.5f, -8, -3});
  REQUIRE(kernels::scale(a, -2).to_vector<float>() == std::vector<float>{-2, 4, -6});
  Tensor y = b.clone();
  kernels::axpy_(2, a, y);
  REQUIRE(y.to_vector<float>() == std::vector<float>{2.5f, 0, 5});
  kernels::fill_(y, 7);
  REQUIRE(y.to_vector<float>() == std::vector<float>{7, 7, 7});
  REQUIRE(kernels::leaky_relu(a, 0.01).to_vector<float>() == std::vector<float>{1, -0.02f, 3});
  REQUIRE(kernels::leaky_relu_backward(a, vec({1, 1, 1}), 0.01).to_vector<float>() ==
          std::vector<float>{1, 0.01f, 1});
  REQUIRE(kernels::scale_by_scalar({}, vec({2}), 0.5, {2}).to_vector<float>() ==
          std::vector<float>{1, 1});
}

TEST_CASE("elementwise: large inputs take the multi-threaded path", "[kernels]") {
  const std::int64_t n = 300001;
  Tensor a = Tensor::full({n}, 1.5), b = Tensor::full({n}, 2.0);
  const auto y = kernels::mul(a, b).to_vector<float>();
  REQUIRE(y.front() == 3.f);
  REQUIRE(y[static_cast<std::size_t>(n / 2)] == 3.f);
  REQUIRE(y.back() == 3.f);
}

TEST_CASE("elementwise: mismatched inputs are refused with the reason", "[kernels]") {
  REQUIRE_THROWS_WITH(kernels::add(vec({1, 2}), vec({1, 2, 3})),
                      Contains("shapes differ: (2) vs (3)"));
  Tensor d = Tensor::zeros({2}, Device::cpu(), DType::f64);
  REQUIRE_THROWS_WITH(kernels::mul(vec({1, 2}), d), Contains("element types differ"));
  Tensor strided = Tensor::zeros({2, 4}).narrow(1, 0, 2);
  REQUIRE_THROWS_WITH(kernels::scale(strided, 2), Contains("strided view"));
  Tensor i = Tensor::zeros({2}, Device::cpu(), DType::i32);
  REQUIRE_THROWS_WITH(kernels::scale(i, 2), Contains("only float32 and float64"));
}

TEST_CASE("elementwise: gradient checks over odd shapes", "[kernels][gradcheck]") {
  for (const Shape& s : test::odd_shapes()) {
    if (s.numel() > 20000) continue;
    test::check_gradient({"add", {s, s}, [](const auto& in) { return F::add(in[0], in[1]); }});
    test::check_gradient({"mul", {s, s}, [](const auto& in) { return F::mul(in[0], in[1]); }});
    test::check_gradient({"scale", {s}, [](const auto& in) { return F::scale(in[0], -1.7); }});
    test::check_gradient(
        {"leaky_relu", {s}, [](const auto& in) { return F::leaky_relu(in[0], 0.01); }});
  }
}

TEST_CASE("elementwise: leaky_relu_into a channel slice equals copying leaky_relu's output",
          "[kernels][elementwise]") {
  for (double slope : {0.01, -0.5}) {
    INFO("slope " << slope);
    // Two batch entries: the slice of the 5-channel buffer is not contiguous.
    std::vector<std::vector<float>> got[2];
    for (int into = 0; into < 2; ++into) {
      Tensor x = Generator(3).uniform({2, 3, 4, 5}, Device::cpu(), -1.f, 1.f).set_requires_grad();
      Tensor buf = Tensor::zeros({2, 5, 4, 5});
      const Tensor slice = buf.narrow(1, 1, 3);
      const Tensor y =
          into ? F::leaky_relu_into(x, slice, slope) : F::copy_into(F::leaky_relu(x, slope), slice);
      CHECK(y.shares_storage_with(buf));
      const Tensor r = Generator(4).uniform(y.shape(), Device::cpu(), -1.f, 1.f);
      F::sum(F::mul(F::contiguous(y), r)).backward();
      got[into] = {buf.to_vector<float>(), x.grad().to_vector<float>()};
    }
    CHECK(got[0] == got[1]);
  }
  Tensor x = Tensor::zeros({2, 3});
  CHECK_THROWS_WITH(F::leaky_relu_into(x, Tensor::zeros({2, 4})),
                    Catch::Matchers::Contains("leaky_relu_into: output"));
}

TEST_CASE("elementwise: leaky_relu_backward_inplace writes leaky_relu_backward's bits over dy",
          "[kernels][elementwise]") {
  Generator g(11);
  // 300001 elements: the multi-threaded path too.
  for (const Shape& s : {Shape{7}, Shape{2, 3, 5, 4, 9}, Shape{300001}})
    for (int f64 = 0; f64 < 2; ++f64)
      for (double slope : {0.01, -0.5}) {
        INFO("shape " << s.str() << (f64 ? ", float64" : ", float32") << ", slope " << slope);
        Tensor x = g.uniform(s, Device::cpu(), -1.f, 1.f),
               dy = g.uniform(s, Device::cpu(), -1.f, 1.f);
        if (f64) {
          x = test::to_f64(x);
          dy = test::to_f64(dy);
        }
        const Tensor want = kernels::leaky_relu_backward(x, dy, slope);
        const void* where = dy.raw_data();
        kernels::leaky_relu_backward_inplace(x, dy, slope);
        CHECK(dy.raw_data() == where);
        CHECK(test::same_bits(dy, want));
      }
  Tensor strided = Tensor::zeros({2, 4}).narrow(1, 0, 2);
  CHECK_THROWS_WITH(kernels::leaky_relu_backward_inplace(Tensor::zeros({2, 2}), strided),
                    Contains("strided view"));
}

TEST_CASE(
    "elementwise: LeakyReLU's backward writes over its output gradient only when it is its own",
    "[kernels][elementwise]") {
  // y1 + y2 hands the same gradient tensor to both LeakyReLUs: the first to run may not write
  // over it, or the second would read its result. Both against the formula.
  {
    Generator g(12);
    Tensor x1 = g.uniform({3, 40}, Device::cpu(), -1.f, 1.f).set_requires_grad();
    Tensor x2 = g.uniform({3, 40}, Device::cpu(), -1.f, 1.f).set_requires_grad();
    const Tensor y1 = F::leaky_relu(x1, 0.1), y2 = F::leaky_relu(x2, 0.2);
    F::sum(F::add(y1, y2)).backward();
    const auto g1 = x1.grad().to_vector<float>(), g2 = x2.grad().to_vector<float>();
    const auto v1 = x1.to_vector<float>(), v2 = x2.to_vector<float>();
    for (std::size_t i = 0; i < g1.size(); ++i) {
      CHECK(g1[i] == (v1[i] > 0 ? 1.f : 0.1f));
      CHECK(g2[i] == (v2[i] > 0 ? 1.f : 0.2f));
    }
  }
}
