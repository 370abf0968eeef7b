// Batch normalisation: values computed by hand on a tiny case (forward, running stats, backward),
// gradient checks of x, weight and bias in training and eval mode over 2D and 3D odd shapes,
// determinism across thread counts, strided inputs, and the errors.
// Parity: batch normalisation against PyTorch's F.batch_norm (fixtures from
// tests/fixtures/make_fixtures.py batchnorm): forward, running stats after the call, and the
// gradients of x, weight and bias, training and eval, 2D and 3D, affine and not; rtol 1e-4.
#include <catch2/catch.hpp>

#include <cmath>
#if defined(_OPENMP)
#include <omp.h>
#endif

#include "engine/autograd.h"
#include "engine/rng.h"
#include "kernels/batchnorm_ops.h"
#include "layers/batchnorm_autograd.h"
#include "tests/fixtures.h"
#include "tests/op_harness.h"

using namespace ddnet;
using Catch::Matchers::Contains;

namespace {

// x: (N, C, H, W) = (2, 2, 1, 2). Channel 0 holds 1, 3, 5, 7 (mean 4, biased variance 5,
// unbiased 20/3); channel 1 holds 2, 2, 4, 8 (mean 4, biased variance 6, unbiased 8).
Tensor tiny_x() {
  return Tensor::from_vector(std::vector<float>{1, 3, 2, 2, 5, 7, 4, 8}, {2, 2, 1, 2});
}

// Per-channel values a + b * c in the element type and on the device of `like`.
Tensor channel_values(const Tensor& like, std::int64_t C, double a, double b) {
  std::vector<double> d;
  std::vector<float> f;
  for (std::int64_t c = 0; c < C; ++c) {
    d.push_back(a + b * static_cast<double>(c));
    f.push_back(static_cast<float>(d.back()));
  }
  Tensor t = like.dtype() == DType::f64 ? Tensor::from_vector(d, {C}) : Tensor::from_vector(f, {C});
  return t.to(like.device());
}

std::vector<double> values(const Tensor& t) {
  return test::to_f64(t).to_vector<double>();
}

}  // namespace

TEST_CASE("batch_norm: training normalises with the batch mean and biased variance",
          "[batchnorm]") {
  Tensor w = test::vec({2.0f, 0.5f}), b = test::vec({1.0f, -1.0f});
  Tensor rm = test::vec({0, 1}), rv = test::vec({1, 2});
  const auto y = values(F::batch_norm(tiny_x(), w, b, rm, rv, true));
  const double eps = 1e-5, s0 = std::sqrt(5 + eps), s1 = std::sqrt(6 + eps);
  // Element order (n, c, w): n0c0 = {1, 3}, n0c1 = {2, 2}, n1c0 = {5, 7}, n1c1 = {4, 8}.
  const std::vector<double> expected = {
      (1 - 4) / s0 * 2 + 1, (3 - 4) / s0 * 2 + 1, (2 - 4) / s1 * 0.5 - 1, (2 - 4) / s1 * 0.5 - 1,
      (5 - 4) / s0 * 2 + 1, (7 - 4) / s0 * 2 + 1, (4 - 4) / s1 * 0.5 - 1, (8 - 4) / s1 * 0.5 - 1};
  REQUIRE(y.size() == expected.size());
  for (std::size_t i = 0; i < y.size(); ++i) REQUIRE(y[i] == Approx(expected[i]).epsilon(1e-6));

  // The statistics the kernel saves for the backward.
  Tensor none_m, none_v;
  const auto fw = kernels::batch_norm_forward(tiny_x(), w, b, none_m, none_v, true);
  REQUIRE(values(fw.mean) == std::vector<double>{4, 4});
  REQUIRE(values(fw.invstd)[0] == Approx(1 / s0).epsilon(1e-7));
  REQUIRE(values(fw.invstd)[1] == Approx(1 / s1).epsilon(1e-7));
}

TEST_CASE("batch_norm: training updates the running stats in place (unbiased variance)",
          "[batchnorm]") {
  Tensor w = test::vec({1, 1}), b = test::vec({0, 0});
  Tensor rm = test::vec({0, 1}), rv = test::vec({1, 2});
  const Tensor rm_handle = rm;  // a handle to the same buffer: the update is in place
  F::batch_norm(tiny_x(), w, b, rm, rv, true);
  // r = 0.9 r + 0.1 batch: means 4 and 4, unbiased variances 20/3 and 8.
  REQUIRE(values(rm_handle)[0] == Approx(0.4).epsilon(1e-6));
  REQUIRE(values(rm_handle)[1] == Approx(1.3).epsilon(1e-6));
  REQUIRE(values(rv)[0] == Approx(0.9 + 0.1 * 20.0 / 3.0).epsilon(1e-6));
  REQUIRE(values(rv)[1] == Approx(0.9 * 2 + 0.1 * 8).epsilon(1e-6));

  // Another momentum; a second call compounds.
  F::batch_norm(tiny_x(), w, b, rm, rv, true, 0.5);
  REQUIRE(values(rm)[0] == Approx(0.5 * 0.4 + 0.5 * 4).epsilon(1e-6));
  REQUIRE(values(rv)[1] == Approx(0.5 * 2.6 + 0.5 * 8).epsilon(1e-6));

  // Eval mode leaves them alone; training without running stats (not tracked) is allowed.
  const auto before_m = values(rm), before_v = values(rv);
  F::batch_norm(tiny_x(), w, b, rm, rv, false);
  REQUIRE(values(rm) == before_m);
  REQUIRE(values(rv) == before_v);
  Tensor none_m, none_v;
  REQUIRE(F::batch_norm(tiny_x(), w, b, none_m, none_v, true).shape() == Shape({2, 2, 1, 2}));
  REQUIRE(!none_m.defined());
}

TEST_CASE("batch_norm: eval mode normalises with the running stats", "[batchnorm]") {
  Tensor w = test::vec({2.0f, 0.5f}), b = test::vec({1.0f, -1.0f});
  Tensor rm = test::vec({1, -1}), rv = test::vec({4, 0.25f});
  const auto y = values(F::batch_norm(tiny_x(), w, b, rm, rv, false));
  const double eps = 1e-5, s0 = std::sqrt(4 + eps), s1 = std::sqrt(0.25 + eps);
  const std::vector<double> x = {1, 3, 2, 2, 5, 7, 4, 8};
  for (std::size_t i = 0; i < x.size(); ++i) {
    const bool c0 = (i / 2) % 2 == 0;
    const double e = c0 ? (x[i] - 1) / s0 * 2 + 1 : (x[i] + 1) / s1 * 0.5 - 1;
    REQUIRE(y[i] == Approx(e).epsilon(1e-6));
  }
  // affine = False: gamma 1, beta 0.
  const auto plain = values(F::batch_norm(tiny_x(), Tensor(), Tensor(), rm, rv, false));
  REQUIRE(plain[0] == Approx(0.0).margin(1e-7));
  REQUIRE(plain[2] == Approx(3 / s1).epsilon(1e-6));
}

TEST_CASE("batch_norm: backward by hand", "[batchnorm]") {
  Tensor w = test::vec({2.0f, 0.5f}), b = test::vec({1.0f, -1.0f});
  w.set_requires_grad();
  b.set_requires_grad();
  Tensor rm = test::vec({0, 0}), rv = test::vec({1, 1});
  {
    // dy = 1: the normalised output does not change with a shift of x, so dx = 0;
    // dbias = sum(dy) = 4 values per channel; dweight = sum(xhat) = 0.
    Tensor x = tiny_x().set_requires_grad();
    Tensor y = F::batch_norm(x, w, b, rm, rv, true);
    y.backward(Tensor::full(y.shape(), 1.0));
    for (double g : values(x.grad())) REQUIRE(g == Approx(0).margin(1e-6));
    REQUIRE(values(b.grad()) == std::vector<double>{4, 4});
    for (double g : values(w.grad())) REQUIRE(g == Approx(0).margin(1e-6));
  }
  w.zero_grad();
  b.zero_grad();
  {
    // dy = xhat (eps = 0): dx = gamma invstd (xhat - xhat * sum(xhat^2) / n) = 0,
    // dweight = sum(xhat^2) = n = 4.
    Tensor x = tiny_x().set_requires_grad();
    Tensor y = F::batch_norm(x, w, b, rm, rv, true, 0.1, 0.0);
    const double s0 = std::sqrt(5.0), s1 = std::sqrt(6.0);
    std::vector<float> xhat;
    const std::vector<double> xs = {1, 3, 2, 2, 5, 7, 4, 8};
    for (std::size_t i = 0; i < xs.size(); ++i)
      xhat.push_back(static_cast<float>((xs[i] - 4) / ((i / 2) % 2 == 0 ? s0 : s1)));
    y.backward(Tensor::from_vector(xhat, y.shape()));
    for (double g : values(x.grad())) REQUIRE(g == Approx(0).margin(1e-6));
    for (double g : values(w.grad())) REQUIRE(g == Approx(4).epsilon(1e-6));
  }
  {
    // Eval: dx = dy * gamma / sqrt(running_var + eps); dweight = sum(dy * xhat), xhat from the
    // running stats.
    Tensor x = tiny_x().set_requires_grad();
    Tensor rv4 = test::vec({4, 4});
    Tensor y = F::batch_norm(x, w, Tensor(), rm, rv4, false, 0.1, 0.0);
    y.backward(Tensor::full(y.shape(), 1.0));
    const auto dx = values(x.grad());
    for (std::size_t i = 0; i < dx.size(); ++i)
      REQUIRE(dx[i] == Approx((i / 2) % 2 == 0 ? 2.0 / 2 : 0.5 / 2).epsilon(1e-6));
  }
}

TEST_CASE("batch_norm: backward with overwrite_dy writes dx over dy, the same bits",
          "[batchnorm]") {
  Generator g(21);
  for (const Shape& s : {Shape{2, 3, 5, 7}, Shape{1, 4, 3, 9, 17}})
    for (int f64 = 0; f64 < 2; ++f64)
      for (bool training : {true, false})
        for (bool affine : {true, false}) {
          INFO("shape " << s.str() << (f64 ? ", float64" : ", float32") << ", training " << training
                        << ", affine " << affine);
          Tensor x = g.uniform(s, Device::cpu(), -2.f, 3.f), dy = g.uniform(s, Device::cpu());
          if (f64) {
            x = test::to_f64(x);
            dy = test::to_f64(dy);
          }
          const std::int64_t C = s[1];
          const Tensor w = affine ? channel_values(x, C, 0.5, 0.25) : Tensor();
          const Tensor b = affine ? channel_values(x, C, -0.1, 0.05) : Tensor();
          Tensor rm = channel_values(x, C, 0.1, 0.01), rv = channel_values(x, C, 1.2, 0.1);
          const kernels::BatchNormForward fw =
              kernels::batch_norm_forward(x, w, b, rm, rv, training);
          const kernels::BatchNormGrads want = kernels::batch_norm_backward(
              dy, x, w, fw.mean, fw.invstd, training, true, affine, affine);
          const kernels::BatchNormGrads got = kernels::batch_norm_backward(
              dy, x, w, fw.mean, fw.invstd, training, true, affine, affine, true);
          CHECK(got.dx.shares_storage_with(dy));
          CHECK(test::same_bits(got.dx, want.dx));
          if (affine) {
            CHECK(test::same_bits(got.dweight, want.dweight));
            CHECK(test::same_bits(got.dbias, want.dbias));
          }
        }
  // A strided dy is read through a contiguous copy, so it is left as it was.
  Tensor x = g.uniform({2, 3, 4, 5}), rm = test::vec({0, 0, 0}), rv = test::vec({1, 1, 1});
  const Tensor buf = g.uniform({2, 5, 4, 5});
  const Tensor dy = buf.narrow(1, 1, 3);
  const auto before = buf.to_vector<float>();
  const kernels::BatchNormForward fw =
      kernels::batch_norm_forward(x, Tensor(), Tensor(), rm, rv, true);
  const kernels::BatchNormGrads got = kernels::batch_norm_backward(
      dy, x, Tensor(), fw.mean, fw.invstd, true, true, false, false, true);
  CHECK_FALSE(got.dx.shares_storage_with(buf));
  CHECK(buf.to_vector<float>() == before);
}

TEST_CASE("batch_norm: gradient checks of x, weight and bias, training and eval, 2D and 3D",
          "[batchnorm][gradcheck]") {
  const std::vector<Shape> train_shapes = {
      Shape{2, 3, 5, 7},    Shape{3, 2, 1, 1},    Shape{2, 2, 1, 1},
      Shape{1, 1, 1, 9},    Shape{1, 4, 3, 5, 6}, Shape{2, 1, 1, 3, 1},
      Shape{1, 3, 1, 1, 5}, Shape{2, 5, 2, 1, 3}, Shape{1, 2, 1, 1, 16385}};
  std::vector<Shape> eval_shapes = train_shapes;
  eval_shapes.push_back(Shape{1, 3, 1, 1});  // one value per channel: fine in eval mode
  eval_shapes.push_back(Shape{1, 2, 1, 1, 1});
  for (bool training : {true, false})
    for (const Shape& s : training ? train_shapes : eval_shapes) {
      const std::int64_t C = s[1];
      auto fn = [training, C](const std::vector<Tensor>& in) {
        Tensor rm = channel_values(in[0], C, -0.2, 0.1), rv = channel_values(in[0], C, 0.5, 0.25);
        return F::batch_norm(in[0], in[1], in[2], rm, rv, training);
      };
      test::check_gradient(
          {training ? "batch_norm train" : "batch_norm eval", {s, Shape{C}, Shape{C}}, fn});
      // affine = False: x only.
      test::check_gradient({training ? "batch_norm train, no affine" : "batch_norm eval, no affine",
                            {s},
                            [training, C](const std::vector<Tensor>& in) {
                              Tensor rm = channel_values(in[0], C, 0.3, -0.1),
                                     rv = channel_values(in[0], C, 1.5, 0.5);
                              return F::batch_norm(in[0], Tensor(), Tensor(), rm, rv, training);
                            }});
    }
}

TEST_CASE("batch_norm: only the gradients that are needed, nothing recorded without grad",
          "[batchnorm]") {
  Generator g(3);
  Tensor x = g.uniform({2, 3, 4, 5}, Device::cpu(), -1, 1);
  Tensor w = g.uniform({3}).set_requires_grad(), b = g.uniform({3});
  Tensor rm = Tensor::zeros({3}), rv = Tensor::full({3}, 1.0);
  clear_tape();
  Tensor y = F::batch_norm(x, w, b, rm, rv, true);
  REQUIRE(tape_size() == 1);
  y.backward(g.uniform(y.shape()));
  REQUIRE(w.grad().defined());
  REQUIRE(!x.grad().defined());
  REQUIRE(!b.grad().defined());

  Tensor rm2 = Tensor::zeros({3}), rv2 = Tensor::full({3}, 1.0);
  {
    NoGradGuard no_grad;
    F::batch_norm(x, w, b, rm2, rv2, true);
  }
  REQUIRE(tape_size() == 0);
  REQUIRE(values(rm2) == values(rm));  // the running stats update regardless of grad mode
  REQUIRE(values(rv2) == values(rv));
}

TEST_CASE("batch_norm: a strided input (a channel slice) gives the contiguous result",
          "[batchnorm]") {
  Generator g(4);
  Tensor buf = g.uniform({2, 7, 3, 4, 5}, Device::cpu(), -2, 2);
  Tensor slice = buf.narrow(1, 2, 3);
  REQUIRE(!slice.is_contiguous());
  Tensor w = g.uniform({3}), b = g.uniform({3});
  Tensor rm1 = Tensor::zeros({3}), rv1 = Tensor::full({3}, 1.0);
  Tensor rm2 = Tensor::zeros({3}), rv2 = Tensor::full({3}, 1.0);
  test::check_close(F::batch_norm(slice, w, b, rm1, rv1, true),
                    F::batch_norm(slice.clone(), w, b, rm2, rv2, true), 0, 0, "strided input");
  test::check_close(rm1, rm2, 0, 0, "running mean");
}

TEST_CASE("batch_norm: results do not depend on the thread count", "[batchnorm]") {
  Generator g(5);
  // 70 x 70 x 4 = 19600 values per (n, c) row: two reduction pieces per row.
  Tensor x = g.normal({2, 3, 4, 70, 70}, Device::cpu(), 0.5f, 2.f);
  Tensor dy = g.uniform(x.shape(), Device::cpu(), -1, 1);
  Tensor w = g.uniform({3}), b = g.uniform({3});
  auto run = [&] {
    Tensor xi = x.clone().set_requires_grad(), wi = w.clone().set_requires_grad(),
           bi = b.clone().set_requires_grad();
    Tensor rm = Tensor::zeros({3}), rv = Tensor::full({3}, 1.0);
    Tensor y = F::batch_norm(xi, wi, bi, rm, rv, true);
    y.backward(dy);
    return std::vector<std::vector<double>>{
        values(y), values(rm), values(rv), values(xi.grad()), values(wi.grad()), values(bi.grad())};
  };
  const auto first = run();
#if defined(_OPENMP)
  const int before = omp_get_max_threads();
  omp_set_num_threads(1);
  const auto one = run();
  omp_set_num_threads(3);
  const auto three = run();
  omp_set_num_threads(before);
  REQUIRE(one == first);  // bitwise
  REQUIRE(three == first);
#endif
  REQUIRE(run() == first);
}

TEST_CASE("batch_norm: errors name the problem", "[batchnorm]") {
  Tensor x = Tensor::zeros({2, 3, 4, 4});
  Tensor w3 = Tensor::full({3}, 1.0), b3 = Tensor::zeros({3});
  Tensor rm = Tensor::zeros({3}), rv = Tensor::full({3}, 1.0);
  Tensor w4 = Tensor::full({4}, 1.0), rv4 = Tensor::full({4}, 1.0);
  REQUIRE_THROWS_WITH(F::batch_norm(x, w4, b3, rm, rv, true),
                      Contains("batch_norm: input has 3 channels, weight has 4"));
  REQUIRE_THROWS_WITH(F::batch_norm(x, w3, w4, rm, rv, true),
                      Contains("batch_norm: input has 3 channels, bias has 4"));
  REQUIRE_THROWS_WITH(F::batch_norm(x, w3, b3, rm, rv4, false),
                      Contains("batch_norm: input has 3 channels, running_var has 4"));
  Tensor flat = Tensor::zeros({2, 3});
  REQUIRE_THROWS_WITH(F::batch_norm(flat, w3, b3, rm, rv, true),
                      Contains("must be (N, C, H, W) or (N, C, D, H, W)"));
  Tensor w2d = Tensor::full({3, 1}, 1.0);
  REQUIRE_THROWS_WITH(F::batch_norm(x, w2d, b3, rm, rv, true),
                      Contains("weight must be one value per channel"));
  // One value per channel: PyTorch refuses to train on it, and so do we (eval is fine).
  Tensor single = Tensor::zeros({1, 3, 1, 1});
  REQUIRE_THROWS_WITH(F::batch_norm(single, w3, b3, rm, rv, true),
                      Contains("expected more than 1 value per channel when training, got input "
                               "(1, 3, 1, 1)"));
  REQUIRE_NOTHROW(F::batch_norm(single, w3, b3, rm, rv, false));
  Tensor none;
  REQUIRE_THROWS_WITH(F::batch_norm(x, w3, b3, none, none, false),
                      Contains("eval mode (training = false) normalises with running_mean"));
  REQUIRE_THROWS_WITH(F::batch_norm(x, w3, b3, rm, none, true),
                      Contains("give both running_mean and running_var, or neither"));
  Tensor w64 = test::to_f64(w3);
  REQUIRE_THROWS_WITH(F::batch_norm(x, w64, b3, rm, rv, true), Contains("different element types"));
  Tensor rm_grad = Tensor::zeros({3}).set_requires_grad();
  REQUIRE_THROWS_WITH(F::batch_norm(x, w3, b3, rm_grad, rv, true),
                      Contains("must not require grad"));
  REQUIRE_THROWS_WITH(F::batch_norm(x, w3, b3, rm, rv, true, 0.1, -1.0),
                      Contains("eps must not be negative"));
  REQUIRE_THROWS_WITH(kernels::batch_norm_backward(Tensor::zeros({2, 3, 4, 5}), x, w3, rm, rv, true,
                                                   true, false, false),
                      Contains("does not match the input"));
}

TEST_CASE("batch_norm parity: F.batch_norm forward, running stats and gradients",
          "[batchnorm][parity]") {
  test::Fixtures fx("batchnorm.h5");
  const auto cases = fx.cases();
  REQUIRE(cases.size() == 8);
  for (const auto& c : cases) {
    INFO("fixture case " << c);
    const bool training = fx.attr(c, "training") != 0;
    const bool affine = fx.has(c, "weight");
    Tensor x = fx.tensor(c, "x").set_requires_grad();
    Tensor weight, bias;
    if (affine) {
      weight = fx.tensor(c, "weight").set_requires_grad();
      bias = fx.tensor(c, "bias").set_requires_grad();
    }
    Tensor running_mean = fx.tensor(c, "running_mean"), running_var = fx.tensor(c, "running_var");
    Tensor y = F::batch_norm(x, weight, bias, running_mean, running_var, training,
                             fx.attr(c, "momentum"), fx.attr(c, "eps"));
    test::check_close(y, fx.tensor(c, "y"), 1e-4, 1e-5, c + " forward");
    test::check_close(running_mean, fx.tensor(c, "running_mean_after"), 1e-4, 1e-6,
                      c + " running_mean");
    test::check_close(running_var, fx.tensor(c, "running_var_after"), 1e-4, 1e-6,
                      c + " running_var");
    y.backward(fx.tensor(c, "dy"));
    test::check_close(x.grad(), fx.tensor(c, "dx"), 1e-4, 1e-5, c + " input gradient");
    if (affine) {
      test::check_close(weight.grad(), fx.tensor(c, "dweight"), 1e-4, 1e-5, c + " dweight");
      test::check_close(bias.grad(), fx.tensor(c, "dbias"), 1e-4, 1e-5, c + " dbias");
    }
  }
}
