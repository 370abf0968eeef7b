// Reductions: values against a naive sum, NaN handling, determinism across thread counts,
// and gradient checks.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#if defined(_OPENMP)
#include <omp.h>
#endif

#include "engine/rng.h"
#include "kernels/reduce_ops.h"
#include "layers/functional.h"
#include "tests/op_harness.h"

using namespace ddnet;
using Catch::Matchers::Contains;

TEST_CASE("reduce: sum, mean, max, sum of squares against a naive loop", "[kernels][reduce]") {
  for (const Shape& s : test::odd_shapes()) {
    Generator g(9);
    Tensor x = g.uniform(s, Device::cpu(), -1.f, 1.f);
    double sum = 0, sq = 0, mx = -INFINITY;
    for (float v : x.to_vector<float>()) {
      sum += static_cast<double>(v);
      sq += static_cast<double>(v) * static_cast<double>(v);
      mx = std::max(mx, static_cast<double>(v));
    }
    const double n = static_cast<double>(x.numel());
    REQUIRE(kernels::sum(x).item() == Approx(sum).margin(1e-5));
    REQUIRE(kernels::mean(x).item() == Approx(sum / n).margin(1e-6));
    REQUIRE(kernels::max(x).item() == mx);
    REQUIRE(kernels::sum_sq(x).item() == Approx(sq).epsilon(1e-6));
    REQUIRE(kernels::sum(x).shape() == Shape({1}));
  }
}

TEST_CASE("reduce: NaN propagates through max, empty inputs", "[kernels][reduce]") {
  Tensor x = Tensor::from_vector(std::vector<float>{1, NAN, 3}, {3});
  REQUIRE(std::isnan(kernels::max(x).item()));
  REQUIRE(std::isnan(kernels::sum(x).item()));
  Tensor e = Tensor::empty({0});
  REQUIRE(kernels::sum(e).item() == 0);
  REQUIRE(std::isnan(kernels::mean(e).item()));
  REQUIRE_THROWS_WITH(kernels::max(e), Contains("is empty"));
}

TEST_CASE("reduce: the result does not depend on the thread count", "[kernels][reduce]") {
  Generator g(4);
  Tensor x = g.normal({1, 1, 16, 100, 100});
  const double two = kernels::sum(x).item();
#if defined(_OPENMP)
  const int before = omp_get_max_threads();
  omp_set_num_threads(1);
  const double one = kernels::sum(x).item();
  omp_set_num_threads(before);
  REQUIRE(one == two);  // bitwise
#endif
  REQUIRE(kernels::sum(x).item() == two);
}

TEST_CASE("reduce: gradient checks", "[kernels][reduce][gradcheck]") {
  for (const Shape& s : test::odd_shapes()) {
    if (s.numel() > 20000) continue;
    test::check_gradient({"sum", {s}, [](const auto& in) { return F::sum(in[0]); }});
    test::check_gradient({"mean", {s}, [](const auto& in) { return F::mean(in[0]); }});
    test::check_gradient({"sum_sq", {s}, [](const auto& in) { return F::sum_sq(in[0]); }});
  }
}
