// Convolutions: the im2col + BLAS path against a naive direct convolution (kept here only as the
// oracle), on odd geometries; gradient checks of conv and conv_transpose in double; the
// channel-slice output path; errors.
// Parity: convolutions against PyTorch's F.conv{2,3}d and F.conv_transpose{2,3}d (fixtures from
// tests/fixtures/gen_conv.py): output and the gradients of input, weight and bias, rtol 1e-4.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <string>

#include "engine/rng.h"
#include "kernels/conv_ops.h"
#include "kernels/copy_ops.h"
#include "kernels/cpu_conv/config.h"
#include "kernels/reduce_ops.h"
#include "layers/conv_autograd.h"
#include "layers/elementwise_autograd.h"
#include "layers/reduce_autograd.h"
#include "tests/fixtures.h"
#include "tests/op_harness.h"
#include "tests/skip.h"

using namespace ddnet;
using Catch::Matchers::Contains;
using kernels::ConvGeometry;
using kernels::ConvOptions;

namespace {

// y[n, co, o] = b[co] + sum_{ci, k} w[co, ci, k] x[n, ci, o*s - p + k], in double.
std::vector<double> naive_conv(const ConvGeometry& g, const std::vector<double>& x,
                               const std::vector<double>& w, const std::vector<double>& b) {
  std::vector<double> y(static_cast<std::size_t>(g.n * g.cout * g.out_plane()));
  for (std::int64_t n = 0; n < g.n; ++n)
    for (std::int64_t co = 0; co < g.cout; ++co)
      for (std::int64_t od = 0; od < g.out[0]; ++od)
        for (std::int64_t oh = 0; oh < g.out[1]; ++oh)
          for (std::int64_t ow = 0; ow < g.out[2]; ++ow) {
            double acc = b.empty() ? 0 : b[static_cast<std::size_t>(co)];
            for (std::int64_t ci = 0; ci < g.cin; ++ci)
              for (std::int64_t kd = 0; kd < g.k[0]; ++kd)
                for (std::int64_t kh = 0; kh < g.k[1]; ++kh)
                  for (std::int64_t kw = 0; kw < g.k[2]; ++kw) {
                    const std::int64_t id = od * g.stride[0] - g.pad[0] + kd,
                                       ih = oh * g.stride[1] - g.pad[1] + kh,
                                       iw = ow * g.stride[2] - g.pad[2] + kw;
                    if (id < 0 || id >= g.in[0] || ih < 0 || ih >= g.in[1] || iw < 0 ||
                        iw >= g.in[2])
                      continue;
                    acc += w[static_cast<std::size_t>(
                               (((co * g.cin + ci) * g.k[0] + kd) * g.k[1] + kh) * g.k[2] + kw)] *
                           x[static_cast<std::size_t>(
                               (((n * g.cin + ci) * g.in[0] + id) * g.in[1] + ih) * g.in[2] + iw)];
                  }
            y[static_cast<std::size_t>(
                (((n * g.cout + co) * g.out[0] + od) * g.out[1] + oh) * g.out[2] + ow)] = acc;
          }
  return y;
}

struct Case {
  Shape x, w;
  ConvOptions o;
};

const std::vector<Case>& cases() {
  static const std::vector<Case> c = {
      {{1, 1, 9, 11}, {3, 1, 3, 3}, {1, 1}},       // 2D, pad 1
      {{2, 3, 7, 8}, {4, 3, 5, 5}, {2, 2}},        // 2D, stride 2
      {{1, 2, 5, 6, 7}, {3, 2, 3, 3, 3}, {1, 1}},  // 3D
      {{2, 3, 4, 5, 6}, {2, 3, 1, 1, 1}, {1, 0}},  // 3D pointwise (no im2col)
      {{1, 1, 6, 7, 5}, {2, 1, 7, 7, 7}, {1, 3}},  // 3D, the network's first conv (k7 p3)
      {{1, 2, 5, 5, 5}, {2, 2, 3, 3, 3}, {2, 1}},  // 3D stride 2
  };
  return c;
}

}  // namespace

TEST_CASE("conv: the BLAS path matches a naive direct convolution", "[conv]") {
  for (const auto& c : cases()) {
    Generator gen(11);
    Tensor x = test::to_f64(gen.uniform(c.x)), w = test::to_f64(gen.uniform(c.w));
    Tensor b = test::to_f64(gen.uniform({c.w[0]}));
    const ConvGeometry g = kernels::conv_geometry("conv", x, w, c.o);
    INFO(g.str());
    const auto expect =
        naive_conv(g, x.to_vector<double>(), w.to_vector<double>(), b.to_vector<double>());
    const Tensor y = kernels::conv(x, w, b, c.o);
    test::check_close(y, Tensor::from_vector(expect, y.shape()), 1e-12, 1e-12, "conv forward");
    // float32 too
    Tensor yf = kernels::conv(gen.uniform(c.x), gen.uniform(c.w), Tensor(), c.o);
    REQUIRE(yf.dtype() == DType::f32);
  }
}

TEST_CASE("conv: gradient checks of conv and conv_transpose, 2D and 3D", "[conv][gradcheck]") {
  for (const auto& c : cases()) {
    const Shape bias{c.w[0]};
    test::check_gradient({"conv", {c.x, c.w, bias}, [o = c.o](const auto& in) {
                            return F::conv(in[0], in[1], in[2], o);
                          }});
  }
  // conv_transpose: weight (in, out, k...); the network uses stride 1 and pad k/2.
  const std::vector<Case> tcases = {{{1, 3, 4, 5}, {3, 2, 3, 3}, {1, 1}},
                                    {{2, 2, 3, 4, 3}, {2, 3, 3, 3, 3}, {1, 1}},
                                    {{1, 4, 3, 3, 3}, {4, 2, 1, 1, 1}, {1, 0}},
                                    {{1, 2, 3, 4}, {2, 2, 4, 4}, {2, 1}}};
  for (const auto& c : tcases) {
    const Shape bias{c.w[1]};
    test::check_gradient({"conv_transpose", {c.x, c.w, bias}, [o = c.o](const auto& in) {
                            return F::conv_transpose(in[0], in[1], in[2], o);
                          }});
  }
}

TEST_CASE("conv: writing into a channel slice equals a separate output", "[conv]") {
  Generator gen(3);
  Tensor x = gen.uniform({2, 4, 4, 6, 6}), w = gen.uniform({3, 4, 3, 3, 3}), b = gen.uniform({3});
  Tensor buf = Tensor::zeros({2, 10, 4, 6, 6});
  Tensor slice = buf.narrow(1, 5, 3);
  kernels::conv_into(x, w, b, {1, 1}, slice);
  test::check_close(kernels::contiguous(slice), kernels::conv(x, w, b, {1, 1}), 0, 0,
                    "slice output");
  REQUIRE(kernels::sum(kernels::contiguous(buf.narrow(1, 0, 5))).item() == 0);
  REQUIRE(kernels::sum(kernels::contiguous(buf.narrow(1, 8, 2))).item() == 0);
}

TEST_CASE("conv: errors a user can act on", "[conv]") {
  Tensor x = Tensor::zeros({1, 2, 8, 8, 8});
  REQUIRE_THROWS_WITH(kernels::conv(x, Tensor::zeros({16, 1, 7, 7, 7}), Tensor(), {1, 3}),
                      Contains("conv3d: input has 2 channels, weight expects 1"));
  REQUIRE_THROWS_WITH(kernels::conv(x, Tensor::zeros({4, 2, 3, 3}), Tensor(), {}),
                      Contains("has 4 dimensions"));
  REQUIRE_THROWS_WITH(kernels::conv(x, Tensor::zeros({4, 2, 3, 3, 3}), Tensor::zeros({5}), {1, 1}),
                      Contains("should have 4 elements"));
  REQUIRE_THROWS_WITH(
      kernels::conv(Tensor::zeros({1, 2, 2, 2, 2}), Tensor::zeros({4, 2, 5, 5, 5}), Tensor(), {}),
      Contains("smaller than the kernel"));
  REQUIRE_THROWS_WITH(kernels::conv_transpose(x, Tensor::zeros({3, 4, 3, 3, 3}), Tensor(), {1, 1}),
                      Contains("conv_transpose3d: input has 2 channels, weight expects 3"));
}

TEST_CASE("conv: the float32 fast paths (cpu_conv/) agree with the pinned im2col reference",
          "[conv]") {
  namespace cc = kernels::cpu_conv;
  if (!cc::Config::from_environment().uses_fast_paths())
    DDNET_SKIP("no fast path here (no oneDNN, or DDNET_CPU_CONV=im2col): only im2col exists");
  auto run = [](const cc::Config& config, const Case& c, bool transpose) {
    const cc::ScopedConfig scoped(config);
    Generator gen(5);
    Tensor x = gen.uniform(c.x).set_requires_grad();
    Tensor w = gen.uniform(c.w).set_requires_grad();
    Tensor b = gen.uniform({transpose ? c.w[1] : c.w[0]}).set_requires_grad();
    Tensor y = transpose ? F::conv_transpose(x, w, b, c.o) : F::conv(x, w, b, c.o);
    y.backward(gen.uniform(y.shape()));
    return std::vector<Tensor>{y, x.grad(), w.grad(), b.grad()};
  };
  std::vector<std::pair<Case, bool>> all;
  for (const auto& c : cases()) all.push_back({c, false});
  all.push_back({{{1, 3, 4, 5}, {3, 2, 3, 3}, {1, 1}}, true});
  all.push_back({{{2, 4, 3, 4, 3}, {4, 3, 5, 5, 5}, {1, 2}}, true});
  for (const auto& [c, t] : all) {
    const auto a = run(cc::Config::pinned(), c, t), d = run(cc::Config::from_environment(), c, t);
    const char* what[] = {"output", "input gradient", "weight gradient", "bias gradient"};
    for (std::size_t i = 0; i < a.size(); ++i) test::check_close(d[i], a[i], 1e-4, 1e-5, what[i]);
  }
}

TEST_CASE("conv: the CPU fast paths' switches are checked when read", "[conv]") {
  namespace cc = kernels::cpu_conv;
  struct Var {
    const char* name;
    const char* bad;
    const char* expected;
  };
  for (const Var& v : {Var{"DDNET_CPU_CONV", "mkl", "expected dnnl or im2col"},
                       Var{"DDNET_CPU_WGRAD", "fast", "expected direct or dnnl"},
                       Var{"DDNET_CPU_CONV_FFT", "yes", "expected auto, on or off"},
                       Var{"DDNET_CPU_CONV_FFT_PRECISION", "half", "expected float or double"}}) {
    const char* old = std::getenv(v.name);
    const std::string saved = old ? old : "";
    ::setenv(v.name, v.bad, 1);
    CHECK_THROWS_WITH(cc::Config::from_environment(), Contains(v.name) && Contains(v.expected));
    if (old)
      ::setenv(v.name, saved.c_str(), 1);
    else
      ::unsetenv(v.name);
  }
  // pinned() runs no fast path: the reference CUDA results and tests compare against
  CHECK_FALSE(cc::Config::pinned().uses_fast_paths());
  CHECK_THAT(cc::Config::pinned().summary(), Contains("im2col + BLAS"));
}

TEST_CASE("conv parity: PyTorch conv and conv_transpose, forward and backward", "[conv][parity]") {
  test::Fixtures fx("conv.h5");
  const auto cases = fx.cases();
  REQUIRE(cases.size() == 9);
  for (const auto& c : cases) {
    INFO("fixture case " << c);
    Tensor x = fx.tensor(c, "x").set_requires_grad();
    Tensor w = fx.tensor(c, "w").set_requires_grad();
    Tensor b = fx.tensor(c, "b").set_requires_grad();
    const kernels::ConvOptions o{static_cast<int>(fx.attr(c, "stride")),
                                 static_cast<int>(fx.attr(c, "padding"))};
    Tensor y = fx.attr(c, "transpose") != 0 ? F::conv_transpose(x, w, b, o) : F::conv(x, w, b, o);
    test::check_close(y, fx.tensor(c, "y"), 1e-4, 1e-5, c + " forward");
    y.backward(fx.tensor(c, "dy"));
    test::check_close(x.grad(), fx.tensor(c, "dx"), 1e-4, 1e-5, c + " input gradient");
    test::check_close(w.grad(), fx.tensor(c, "dw"), 1e-4, 1e-4, c + " weight gradient");
    test::check_close(b.grad(), fx.tensor(c, "db"), 1e-4, 1e-4, c + " bias gradient");
  }
}

namespace {

// Forward value and the gradients of every input of L = sum(fn(in) * r), on the CPU in float64
// (the im2col reference) or float32 (the fast paths of kernels/cpu_conv/).
std::vector<Tensor> value_and_grads(const test::OpCase& c, DType dtype = DType::f64) {
  std::vector<Tensor> in = test::random_inputs(c, Device::cpu(), dtype, 5);
  for (Tensor& t : in) t.set_requires_grad();
  Tensor y = c.fn(in);
  Generator gen(6);
  Tensor r = gen.uniform(y.shape());
  if (dtype == DType::f64) r = test::to_f64(r);
  F::sum(F::mul(y, r)).backward();
  std::vector<Tensor> out = {y};
  for (const Tensor& t : in) out.push_back(t.grad());
  return out;
}

// Limits under which every primitive of `g` runs split: max_elements one below the largest
// tensor's elements (it must hold one depth row of one sample with its halo); chunk buffers of
// one row (variant 0), about two rows (1) or as large as allowed (2).
kernels::ConvSplitLimits split_limits(const ConvGeometry& g, int variant) {
  const std::int64_t x_row = g.cin * g.in[1] * g.in[2], y_row = g.cout * g.out[1] * g.out[2];
  const std::int64_t need = std::max(g.k[0] * x_row, g.k[0] * y_row);
  const std::int64_t largest = std::max(g.n * g.in[0] * x_row, g.n * g.out[0] * y_row);
  REQUIRE(need < largest);
  const std::int64_t max = largest - 1;
  return {max, variant == 0 ? 1 : variant == 1 ? std::min(2 * need, max) : max};
}

}  // namespace

TEST_CASE("conv: a call over the element limit runs in depth chunks with halos, as one call",
          "[conv][split]") {
  struct C {
    Shape x, w;
    ConvOptions o;
    bool transpose;
  };
  const std::vector<C> cases = {
      {{2, 3, 9, 6, 5}, {4, 3, 3, 3, 3}, {1, 1}, false},   // two samples, k3 p1
      {{1, 1, 13, 7, 5}, {2, 1, 7, 7, 7}, {1, 3}, false},  // the first conv: halo 6
      {{1, 4, 8, 5, 6}, {3, 4, 1, 1, 1}, {1, 0}, false},   // pointwise: no halo
      {{1, 3, 9, 5, 4}, {5, 3, 5, 5, 5}, {1, 2}, false},   // k5 p2
      {{3, 2, 7, 8}, {4, 2, 3, 3}, {1, 1}, false},         // 2D: by samples
      {{1, 4, 7, 5, 6}, {4, 2, 5, 5, 5}, {1, 2}, true},    // ConvTranspose k5 p2
      {{2, 4, 6, 5, 3}, {4, 3, 1, 1, 1}, {1, 0}, true},    // ConvTranspose pointwise
  };
  for (const auto& c : cases) {
    const Shape bias{c.transpose ? c.w[1] : c.w[0]};
    const test::OpCase op{c.transpose ? "conv_transpose" : "conv",
                          {c.x, c.w, bias},
                          [o = c.o, t = c.transpose](const auto& in) {
                            return t ? F::conv_transpose(in[0], in[1], in[2], o)
                                     : F::conv(in[0], in[1], in[2], o);
                          }};
    const Tensor x0 = Tensor::zeros(c.x, Device::cpu(), DType::f64);
    const Tensor w0 = Tensor::zeros(c.w, Device::cpu(), DType::f64);
    const ConvGeometry g = c.transpose ? kernels::conv_transpose_geometry("t", x0, w0, c.o)
                                       : kernels::conv_geometry("c", x0, w0, c.o);
    const std::vector<Tensor> whole = value_and_grads(op);
    for (const int variant : {0, 1, 2}) {
      INFO(g.str() << (c.transpose ? " (transposed)" : "") << ", chunk variant " << variant);
      const std::int64_t before = kernels::conv_split_count();
      std::vector<Tensor> split;
      {
        const kernels::ScopedConvSplitLimits scope(split_limits(g, variant));
        split = value_and_grads(op);
      }
      // Forward, input gradient, weight gradient, bias gradient: each primitive ran split.
      REQUIRE(kernels::conv_split_count() - before == 3);
      const char* names[] = {"output", "input gradient", "weight gradient", "bias gradient"};
      for (std::size_t i = 0; i < whole.size(); ++i)
        test::check_close(split[i], whole[i], 1e-12, 1e-12, names[i]);
      // float32: the chunks' geometries (depth padding 0, or k - 1 for the input gradient,
      // unlike the other axes) through the fast paths.
      std::vector<Tensor> split32;
      {
        const kernels::ScopedConvSplitLimits scope(split_limits(g, variant));
        split32 = value_and_grads(op, DType::f32);
      }
      for (std::size_t i = 0; i < whole.size(); ++i)
        test::check_close(test::to_f64(split32[i]), whole[i], 1e-4, 1e-4, names[i]);
    }
    // The split path's own gradients against finite differences.
    const kernels::ScopedConvSplitLimits scope(split_limits(g, 1));
    test::check_gradient(op);
  }
}

TEST_CASE("conv: split calls accumulate, write channel slices, and refuse what they cannot split",
          "[conv][split]") {
  Generator gen(8);
  const Tensor x = test::to_f64(gen.uniform({2, 3, 7, 5, 4}));
  const Tensor w = test::to_f64(gen.uniform({4, 3, 3, 3, 3}));
  const Tensor b = test::to_f64(gen.uniform({4}));
  const ConvGeometry g = kernels::conv_geometry("conv", x, w, {1, 1});
  const Tensor dy = test::to_f64(gen.uniform({2, 4, 7, 5, 4}));
  // Input and weight gradients added onto what is there, into a channel slice.
  auto run = [&](bool split) {
    std::optional<kernels::ScopedConvSplitLimits> scope;
    if (split) scope.emplace(split_limits(g, 1));
    Tensor dxbuf = test::to_f64(Generator(9).uniform({2, 7, 7, 5, 4}));
    Tensor dx = dxbuf.narrow(1, 2, 3);
    kernels::conv_backward_data_t(g, dy, w, dx, /*accumulate=*/true);
    Tensor dw = test::to_f64(Generator(10).uniform({4, 3, 3, 3, 3}));
    Tensor db = test::to_f64(Generator(11).uniform({4}));
    kernels::conv_backward_filter_t(g, dxbuf.narrow(1, 4, 3), dy, dw, &db, /*accumulate=*/true);
    Tensor ybuf = Tensor::zeros({2, 9, 7, 5, 4}, Device::cpu(), DType::f64);
    Tensor y = ybuf.narrow(1, 3, 4);
    kernels::conv_into(x, w, b, {1, 1}, y);
    return std::vector<Tensor>{dxbuf, dw, db, ybuf};
  };
  const std::int64_t before = kernels::conv_split_count();
  const auto split = run(true);
  REQUIRE(kernels::conv_split_count() - before == 3);
  const auto whole = run(false);
  for (std::size_t i = 0; i < whole.size(); ++i)
    test::check_close(split[i], whole[i], 1e-12, 1e-12, "accumulated / sliced");

  // The input gradient of a convolution strided along depth is not split.
  const Tensor xs = Tensor::zeros({1, 2, 9, 5, 5}, Device::cpu(), DType::f64);
  const Tensor ws = Tensor::zeros({2, 2, 3, 3, 3}, Device::cpu(), DType::f64);
  const ConvGeometry gs = kernels::conv_geometry("conv", xs, ws, {2, 1});
  {
    const kernels::ScopedConvSplitLimits scope(split_limits(gs, 0));
    Tensor ys = kernels::conv(xs, ws, Tensor(), {2, 1});  // forward: fine
    Tensor dxs = Tensor::zeros(xs.shape(), Device::cpu(), DType::f64);
    REQUIRE_THROWS_WITH(kernels::conv_backward_data_t(gs, ys, ws, dxs, false),
                        Contains("strided along depth is not split"));
  }
  // One depth row with its halo over the limit: named, with the geometry.
  {
    const kernels::ScopedConvSplitLimits scope({100, 100});
    REQUIRE_THROWS_WITH(
        kernels::conv(x, w, b, {1, 1}),
        Contains("has a tensor over 100 elements") && Contains("cannot be split along depth"));
  }
  REQUIRE_THROWS_WITH(kernels::set_conv_split_limits({100, 200}),
                      Contains("chunk_elements <= max_elements"));
}
