// GPU entries: max and average pooling on CUDA against the CPU, forward and gradient.
#include <catch2/catch.hpp>

#include "layers/pool_autograd.h"
#include "tests/op_harness.h"

using namespace ddnet;

TEST_CASE("gpu pool: max and average pooling match the CPU", "[gpu][pool]") {
  for (const Shape& s : {Shape{2, 3, 7, 9}, Shape{1, 16, 16, 32, 32}, Shape{1, 2, 5, 33, 17}}) {
    test::check_cuda_matches_cpu(
        {"max_pool 3/2/1", {s}, [](const auto& in) { return F::max_pool(in[0], 3, 2, 1); }});
    test::check_cuda_matches_cpu(
        {"max_pool 2/2/0", {s}, [](const auto& in) { return F::max_pool(in[0], 2, 2, 0); }});
    test::check_cuda_matches_cpu(
        {"avg_pool 2/2", {s}, [](const auto& in) { return F::avg_pool(in[0], 2, 2); }});
  }
}
