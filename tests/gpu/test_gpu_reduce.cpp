// GPU entries for the reductions: sum, mean, sum of squares and max against the CPU over odd
// shapes, and run-to-run determinism.
#include <catch2/catch.hpp>

#include "engine/rng.h"
#include "kernels/reduce_ops.h"
#include "layers/functional.h"
#include "tests/op_harness.h"

using namespace ddnet;

TEST_CASE("gpu kernels: reductions match the CPU", "[gpu][reduce]") {
  for (const Shape& s : test::odd_shapes()) {
    test::check_cuda_matches_cpu({"sum", {s}, [](const auto& in) { return F::sum(in[0]); }});
    test::check_cuda_matches_cpu({"mean", {s}, [](const auto& in) { return F::mean(in[0]); }});
    test::check_cuda_matches_cpu({"sum_sq", {s}, [](const auto& in) { return F::sum_sq(in[0]); }});
    test::check_cuda_matches_cpu(
        {"max", {s}, [](const auto& in) { return kernels::max(in[0]); }, -1.f, 1.f, 0, 0, false});
  }
}

TEST_CASE("gpu kernels: reductions are deterministic run to run", "[gpu][reduce]") {
  Tensor x = Generator(8).normal({1, 1, 32, 256, 256}, Device::cuda(0));
  const float first = kernels::sum(x).to_vector<float>()[0];
  for (int i = 0; i < 5; ++i) REQUIRE(kernels::sum(x).to_vector<float>()[0] == first);
}
