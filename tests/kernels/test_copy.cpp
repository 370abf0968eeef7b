// Strided copies: views to contiguous, contiguous into a channel slice, and the gradient checks
// of F::contiguous and F::copy_into in double.
#include <catch2/catch.hpp>

#include "engine/rng.h"
#include "kernels/copy_ops.h"
#include "kernels/reduce_ops.h"
#include "layers/copy_autograd.h"
#include "tests/op_harness.h"

using namespace ddnet;
using Catch::Matchers::Contains;

TEST_CASE("copy: a narrowed view becomes contiguous with the right values", "[kernels][copy]") {
  Generator g(2);
  Tensor x = g.uniform({3, 7, 2, 5, 9});
  Tensor v = x.narrow(1, 2, 3).narrow(4, 1, 6);  // two narrowed dimensions: not a pitched layout
  Tensor c = kernels::contiguous(v);
  REQUIRE(c.is_contiguous());
  const auto xv = x.to_vector<float>(), cv = c.to_vector<float>();
  std::size_t k = 0;
  for (int n = 0; n < 3; ++n)
    for (int ch = 2; ch < 5; ++ch)
      for (int d = 0; d < 2; ++d)
        for (int h = 0; h < 5; ++h)
          for (int w = 1; w < 7; ++w)
            REQUIRE(cv[k++] ==
                    xv[static_cast<std::size_t>((((n * 7 + ch) * 2 + d) * 5 + h) * 9 + w)]);
  REQUIRE_THROWS_WITH(Tensor::empty(v.shape()).copy_(v), Contains("use kernels::copy"));
}

TEST_CASE("copy: into a channel slice of a concatenation buffer", "[kernels][copy]") {
  Tensor buf = Tensor::zeros({2, 6, 3, 4, 4});
  Tensor y = Tensor::full({2, 2, 3, 4, 4}, 5.0);
  Tensor slice = buf.narrow(1, 4, 2);
  kernels::copy(y, slice);
  REQUIRE(kernels::sum(buf).item() == 5.0 * y.numel());
  REQUIRE(kernels::sum(kernels::contiguous(buf.narrow(1, 0, 4))).item() == 0);
  REQUIRE_THROWS_WITH(kernels::copy(y, buf), Contains("shape or element type differs"));
}

TEST_CASE("copy: gradient checks of copy_into and contiguous", "[kernels][copy][gradcheck]") {
  // A feature map copied into a channel slice of a buffer (a strided result whose gradient flows
  // back to the source), then made contiguous (a copy whose gradient flows back to the slice).
  // Views themselves (narrow) are not recorded: the slice is where the graph starts.
  test::check_gradient({"copy_into + contiguous", {{2, 2, 3, 4, 5}}, [](const auto& in) {
                          const Tensor buf =
                              Tensor::zeros({2, 6, 3, 4, 5}, in[0].device(), in[0].dtype());
                          const Tensor slice = F::copy_into(in[0], buf.narrow(1, 4, 2));
                          REQUIRE_FALSE(slice.is_contiguous());
                          return F::contiguous(slice);
                        }});
}
