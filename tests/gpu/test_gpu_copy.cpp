// GPU entries for strided copies: a strided view made contiguous on the GPU equals the CPU's,
// and copy_into + contiguous, forward and gradient.
#include <catch2/catch.hpp>

#include "engine/rng.h"
#include "kernels/copy_ops.h"
#include "layers/functional.h"
#include "tests/op_harness.h"

using namespace ddnet;

TEST_CASE("gpu kernels: strided copy matches the CPU", "[gpu]") {
  const Device gpu = Device::cuda(0);
  Tensor x = Generator(5).uniform({3, 7, 2, 5, 9});
  Tensor xg = x.to(gpu);
  Tensor v = x.narrow(1, 2, 3).narrow(4, 1, 6);
  test::check_close(kernels::contiguous(xg.narrow(1, 2, 3).narrow(4, 1, 6)), kernels::contiguous(v),
                    0, 0, "strided copy");
  // copy_into a channel slice (strided), then contiguous: forward and gradient through both
  test::check_cuda_matches_cpu(
      {"copy_into + contiguous", {{2, 2, 3, 4, 5}}, [](const auto& in) {
         const Tensor buf = Tensor::zeros({2, 6, 3, 4, 5}, in[0].device(), in[0].dtype());
         return F::contiguous(F::copy_into(in[0], buf.narrow(1, 4, 2)));
       }});
}
