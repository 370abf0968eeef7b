// CPU tests of fused_op::upsample_into: the same bits as the unfused path it replaces
// (F::copy_into(F::upsample(...), dst)), forward and backward, in every mode, 2D and 3D, one and
// two batch items, float32 and float64; the checks' messages; and a finite-difference gradient
// check in float64.
#include <catch2/catch.hpp>

#include "engine/autograd.h"
#include "helpers.h"
#include "kernels/copy_ops.h"
#include "kernels/upsample_ops.h"
#include "layers/functional.h"

using namespace fused_op::test;
using Catch::Matchers::Contains;
namespace F = ddnet::F;

namespace {

// One path (fused or not) on fresh copies of x: the whole concatenation buffer after the forward
// and x's gradient for the output gradient `seed` (a strided view when N > 1, as a slice of the
// concatenation's gradient would be).
struct Result {
  Tensor buffer, grad;
};
Result run(bool fused, const Tensor& x0, const Tensor& seed, const Mode& m) {
  Tensor x = x0.clone();
  x.set_requires_grad();
  ConcatBuffer b = concat_buffer(doubled(x.shape()), x.dtype(), x.device());
  const Tensor out = fused ? fused_op::upsample_into(x, b.first_half, m.mode, m.align_corners)
                           : F::copy_into(F::upsample(x, 2, m.mode, m.align_corners), b.first_half);
  REQUIRE(out.shares_storage_with(b.buffer));
  REQUIRE(out.storage_offset() == b.first_half.storage_offset());
  out.backward(seed);
  return {b.buffer, x.grad()};
}

Tensor strided_seed(const Shape& out, DType dtype, std::uint64_t seed) {
  Shape wide = out;
  wide[1] *= 2;
  return random(wide, dtype, seed).narrow(1, 0, out[1]);
}

}  // namespace

TEST_CASE("cpu: fused equals upsample + copy_into bit for bit, forward and backward",
          "[cpu][bitwise]") {
  for (DType dtype : {DType::f32, DType::f64})
    for (const Shape& s : shapes())
      for (const Mode& m : modes()) {
        INFO(describe(s, m, dtype));
        const Tensor x = random(s, dtype, 1);
        const Tensor seed = strided_seed(doubled(s), dtype, 2);
        REQUIRE((s[0] == 1 || !seed.is_contiguous()));
        const Result fused = run(true, x, seed, m), unfused = run(false, x, seed, m);
        REQUIRE(same_bits(fused.buffer, unfused.buffer));  // the skip's half untouched too
        REQUIRE(same_bits(fused.grad, unfused.grad));
      }
}

TEST_CASE("cpu: through the decoder's concatenation, one tape entry instead of two",
          "[cpu][bitwise]") {
  // The gradient reaches the op through F::concat of the two halves (a view), as in DDnet.
  const Mode& m = modes()[2];
  for (const Shape& s : {Shape{2, 4, 4, 6, 6}, Shape{2, 4, 8, 6}}) {
    INFO(s.str());
    const Tensor x0 = random(s, DType::f32, 3);
    const Tensor skip = random(doubled(s), DType::f32, 5);  // what the second half holds
    Shape wide = doubled(s);
    wide[1] *= 2;
    const Tensor weights = random(wide, DType::f32, 6);  // loss = sum(concat * weights)
    Tensor grads[2];
    for (int fused = 0; fused < 2; ++fused) {
      Tensor x = x0.clone();
      x.set_requires_grad();
      ConcatBuffer b = concat_buffer(doubled(s), DType::f32, Device::cpu());
      b.second_half.copy_(skip);
      const std::size_t before = ddnet::tape_size();
      const Tensor up =
          fused ? fused_op::upsample_into(x, b.first_half, m.mode, m.align_corners)
                : F::copy_into(F::upsample(x, 2, m.mode, m.align_corners), b.first_half);
      REQUIRE(ddnet::tape_size() - before == (fused ? 1u : 2u));
      F::sum(F::mul(F::concat({up, b.second_half}), weights)).backward();
      grads[fused] = x.grad();
    }
    REQUIRE(same_bits(grads[0], grads[1]));
  }
}

TEST_CASE("cpu: the backward reads a strided gradient in place", "[cpu][bitwise]") {
  for (const Mode& m : modes()) {
    const Shape s{2, 3, 3, 4, 5};
    const Tensor dy = strided_seed(doubled(s), DType::f32, 7);
    REQUIRE(!dy.is_contiguous());
    REQUIRE(fused_op::items_contiguous(dy));
    const Tensor ours = fused_op::upsample_into_backward(dy, s, m.mode, m.align_corners);
    const Tensor ref = ddnet::kernels::upsample_backward(ddnet::kernels::contiguous(dy), s, 2,
                                                         m.mode, m.align_corners);
    REQUIRE(same_bits(ours, ref));
  }
}

TEST_CASE("cpu: no gradient recorded without grad mode or an input that needs one", "[cpu]") {
  const Shape s{1, 2, 4, 4};
  ConcatBuffer b = concat_buffer(doubled(s), DType::f32, Device::cpu());
  const std::size_t before = ddnet::tape_size();
  const Tensor out =
      fused_op::upsample_into(random(s, DType::f32, 8), b.first_half, UpsampleMode::linear, true);
  REQUIRE(!out.requires_grad());
  Tensor x = random(s, DType::f32, 9);
  x.set_requires_grad();
  {
    ddnet::NoGradGuard no_grad;
    REQUIRE(!fused_op::upsample_into(x, b.first_half, UpsampleMode::linear, true).requires_grad());
  }
  REQUIRE(ddnet::tape_size() == before);
}

TEST_CASE("cpu: what a caller can get wrong is refused with a message", "[cpu]") {
  const Tensor x = random({2, 3, 4, 4}, DType::f32, 10);
  ConcatBuffer b = concat_buffer({2, 3, 8, 8}, DType::f32, Device::cpu());
  const auto lin = UpsampleMode::linear;
  REQUIRE_THROWS_WITH(fused_op::upsample_into(x, b.buffer.narrow(1, 0, 2), lin, true),
                      Contains("every spatial size doubled"));
  REQUIRE_THROWS_WITH(fused_op::upsample_into(x, b.first_half, UpsampleMode::nearest, true),
                      Contains("align_corners applies to linear"));
  REQUIRE_THROWS_WITH(
      fused_op::upsample_into(random({2, 3, 4}, DType::f32, 1), b.first_half, lin, true),
      Contains("must be (N, C, H, W) or (N, C, D, H, W)"));
  REQUIRE_THROWS_WITH(
      fused_op::upsample_into(random({2, 3, 4, 4}, DType::f64, 1), b.first_half, lin, true),
      Contains("one element type and one device"));
  // Every other row of a taller buffer: not contiguous within a batch item.
  const Tensor tall = Tensor::zeros({2, 3, 16, 8});
  const Tensor rows = tall.as_strided({2, 3, 8, 8}, {3 * 16 * 8, 16 * 8, 16, 1}, 0);
  REQUIRE_THROWS_WITH(fused_op::upsample_into(x, rows, lin, true),
                      Contains("each batch item contiguous"));
  // x inside the destination's buffer, overlapping it.
  const Tensor inside = b.buffer.narrow(1, 0, 1).as_strided({1, 1, 4, 4}, {64, 16, 4, 1}, 0);
  const Tensor dst1 = b.buffer.as_strided({1, 1, 8, 8}, {64, 64, 8, 1}, 0);
  REQUIRE_THROWS_WITH(fused_op::upsample_into(inside, dst1, lin, true), Contains("overlap"));
  REQUIRE_THROWS_WITH(
      fused_op::upsample_into_backward(random({2, 3, 8, 6}, DType::f32, 1), x.shape(), lin, true),
      Contains("does not match the output"));
}

TEST_CASE("cpu: gradient check in float64 (central differences)", "[cpu][gradcheck]") {
  // L(x) = sum(upsample_into(x, dst) * w): the closure's x-gradient against
  // (L(x + eps e_j) - L(x - eps e_j)) / (2 eps) at sampled elements j.
  for (const Shape& s : {Shape{2, 2, 3, 4, 5}, Shape{2, 3, 5, 3}})
    for (const Mode& m : modes()) {
      INFO(describe(s, m, DType::f64));
      Tensor x = random(s, DType::f64, 11);
      x.set_requires_grad();
      const Tensor w = strided_seed(doubled(s), DType::f64, 12);
      ConcatBuffer b = concat_buffer(doubled(s), DType::f64, Device::cpu());
      fused_op::upsample_into(x, b.first_half, m.mode, m.align_corners).backward(w);
      const std::vector<double> analytic = values(x.grad());
      const std::vector<double> wv = values(w);
      auto loss = [&](const std::vector<double>& xv) {
        ddnet::NoGradGuard no_grad;
        fused_op::upsample_into(Tensor::from_vector(xv, s), b.first_half, m.mode, m.align_corners);
        const std::vector<double> y = values(b.first_half);
        double l = 0;
        for (std::size_t i = 0; i < y.size(); ++i) l += y[i] * wv[i];
        return l;
      };
      std::vector<double> xv = values(x);
      const double eps = 1e-6;
      const std::size_t n = xv.size(), step = std::max<std::size_t>(1, n / 40);
      for (std::size_t j = 0; j < n; j += step) {
        const double keep = xv[j];
        xv[j] = keep + eps;
        const double up = loss(xv);
        xv[j] = keep - eps;
        const double down = loss(xv);
        xv[j] = keep;
        const double numeric = (up - down) / (2 * eps);
        INFO("element " << j << ": analytic " << analytic[j] << ", numeric " << numeric);
        REQUIRE(std::abs(analytic[j] - numeric) <= 1e-7 * (1 + std::abs(numeric)));
      }
    }
}
