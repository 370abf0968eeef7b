// GPU entries for upsampling: nearest and linear (both align_corners), factors 2 and 3, 2D and
// 3D, against the CPU (forward and input gradient).
#include <catch2/catch.hpp>

#include "kernels/upsample_ops.h"
#include "layers/functional.h"
#include "tests/op_harness.h"

using namespace ddnet;

TEST_CASE("gpu kernels: upsample (nearest, linear, both align_corners) matches the CPU",
          "[gpu][upsample]") {
  using kernels::UpsampleMode;
  for (const Shape& s : {Shape{2, 3, 5, 7}, Shape{1, 16, 4, 8, 8}, Shape{1, 2, 3, 33, 17}})
    for (int factor : {2, 3}) {
      test::check_cuda_matches_cpu({"upsample nearest", {s}, [factor](const auto& in) {
                                      return F::upsample(in[0], factor, UpsampleMode::nearest,
                                                         false);
                                    }});
      for (bool align : {true, false})
        test::check_cuda_matches_cpu({"upsample linear", {s}, [factor, align](const auto& in) {
                                        return F::upsample(in[0], factor, UpsampleMode::linear,
                                                           align);
                                      }});
    }
}
