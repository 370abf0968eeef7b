// The direct AVX2 weight gradient (kernels/cpu_conv/wgrad.h) against a naive double-precision sum,
// on the geometries that stress its blocking: an odd number of output channels (a block of
// one), kernel widths above 5 (two column blocks), uneven kernels, padding below and above
// k / 2, planes longer than one position chunk, 2D, batches with channel-slice strides, and
// accumulation into existing gradients.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "engine/rng.h"
#include "kernels/cpu_conv/wgrad.h"
#include "tests/kernels/conv_geometry.h"
#include "tests/skip.h"

using namespace ddnet;
using kernels::ConvGeometry;
using kernels::ConvStrides;
namespace wgrad = kernels::cpu_conv::direct_wgrad;

namespace {

constexpr auto geometry = test::conv_geometry;

// dw[co, ci, a, b, c] = sum dy[n, co, o] * x[n, ci, o - pad + (a, b, c)], in double; `mag` gets
// the sum of |terms| of each entry, which bounds float rounding.
std::vector<double> naive_wgrad(const ConvGeometry& g, const std::vector<float>& x, std::int64_t xs,
                                const std::vector<float>& dy, std::int64_t ys,
                                std::vector<double>* mag) {
  std::vector<double> dw(static_cast<std::size_t>(g.cout * g.cin * g.kvol()));
  mag->assign(dw.size(), 0.0);
  for (std::int64_t co = 0; co < g.cout; ++co)
    for (std::int64_t ci = 0; ci < g.cin; ++ci)
      for (std::int64_t a = 0; a < g.k[0]; ++a)
        for (std::int64_t b = 0; b < g.k[1]; ++b)
          for (std::int64_t c = 0; c < g.k[2]; ++c) {
            double acc = 0, abs_sum = 0;
            for (std::int64_t n = 0; n < g.n; ++n)
              for (std::int64_t od = 0; od < g.out[0]; ++od)
                for (std::int64_t oh = 0; oh < g.out[1]; ++oh)
                  for (std::int64_t ow = 0; ow < g.out[2]; ++ow) {
                    const std::int64_t id = od - g.pad[0] + a, ih = oh - g.pad[1] + b,
                                       iw = ow - g.pad[2] + c;
                    if (id < 0 || id >= g.in[0] || ih < 0 || ih >= g.in[1] || iw < 0 ||
                        iw >= g.in[2])
                      continue;
                    const double t =
                        static_cast<double>(dy[static_cast<std::size_t>(
                            n * ys + co * g.out_plane() + (od * g.out[1] + oh) * g.out[2] + ow)]) *
                        static_cast<double>(x[static_cast<std::size_t>(
                            n * xs + ci * g.in_plane() + (id * g.in[1] + ih) * g.in[2] + iw)]);
                    acc += t;
                    abs_sum += std::abs(t);
                  }
            const auto at = static_cast<std::size_t>(
                (((co * g.cin + ci) * g.k[0] + a) * g.k[1] + b) * g.k[2] + c);
            dw[at] = acc;
            (*mag)[at] = abs_sum;
          }
  return dw;
}

}  // namespace

TEST_CASE("conv wgrad: the direct AVX2 kernel matches a naive sum", "[conv][wgrad]") {
  struct Case {
    ConvGeometry g;
    std::int64_t extra_x, extra_y;  // channels of a bigger buffer the samples sit in
    const char* what;
  };
  const std::vector<Case> cases = {
      {geometry(1, 2, 4, {6, 9, 10}, {5, 5, 5}, {2, 2, 2}), 0, 0, "3D k5 pad 2 (DDnet's)"},
      {geometry(2, 3, 3, {4, 7, 9}, {3, 3, 3}, {1, 1, 1}), 2, 1,
       "odd output channels, a batch in channel slices"},
      {geometry(1, 1, 5, {5, 6, 11}, {7, 7, 7}, {3, 3, 3}), 0, 0, "k7: two column blocks"},
      {geometry(1, 2, 2, {5, 6, 7}, {3, 1, 5}, {0, 0, 1}), 0, 0, "uneven kernel, small padding"},
      {geometry(1, 2, 3, {3, 4, 5}, {3, 3, 3}, {2, 2, 2}), 0, 0, "padding above k / 2"},
      {geometry(1, 3, 2, {2, 40, 37}, {3, 3, 3}, {1, 1, 1}), 0, 0, "planes longer than one chunk"},
      {geometry(2, 2, 3, {1, 23, 19}, {1, 5, 5}, {0, 2, 2}), 0, 0, "2D"},
      {geometry(1, 2, 2, {1, 6, 6}, {1, 6, 2}, {0, 0, 0}), 0, 0, "2D, no padding, even kernel"},
      {geometry(1, 3, 16, {4, 9, 10}, {5, 5, 5}, {2, 2, 2}), 0, 0, "16 output channels"},
      {geometry(2, 2, 20, {3, 7, 6}, {3, 7, 3}, {1, 3, 1}), 1, 3,
       "20 output channels (a partial block), k7 rows, channel-slice batches"},
      {geometry(1, 2, 32, {2, 30, 41}, {3, 3, 3}, {1, 1, 1}), 0, 0, "32 channels, long planes"},
  };
  for (const auto variant :
       {wgrad::Variant::position_lanes, wgrad::Variant::channel_lanes, wgrad::Variant::automatic})
    for (const auto& c : cases) {
      INFO("variant " << static_cast<int>(variant) << ", " << c.what << ": " << c.g.str());
      const ConvGeometry& g = c.g;
      if (!wgrad::supports(g))
        DDNET_SKIP("this CPU has no AVX2/FMA: the direct weight gradient is not used here");
      const std::int64_t xs = (g.cin + c.extra_x) * g.in_plane();
      const std::int64_t ys = (g.cout + c.extra_y) * g.out_plane();
      Generator gen(3);
      const auto x = gen.uniform({g.n * xs}, Device::cpu(), -1.f, 1.f).to_vector<float>();
      const auto dy = gen.uniform({g.n * ys}, Device::cpu(), -1.f, 1.f).to_vector<float>();
      std::vector<double> mag;
      const auto want = naive_wgrad(g, x, xs, dy, ys, &mag);
      std::vector<float> dw(want.size(), 7.f), db(static_cast<std::size_t>(g.cout), 7.f);
      const ConvStrides s{c.extra_x ? xs : 0, c.extra_y ? ys : 0};
      wgrad::conv_backward_filter(g, x.data(), dy.data(), dw.data(), db.data(), false, s, variant);
      for (std::size_t i = 0; i < want.size(); ++i) {
        INFO("dw[" << i << "]");
        // float sums of up to thousands of terms: within 2e-6 (~32 ulp) of the terms' magnitude
        REQUIRE(std::abs(static_cast<double>(dw[i]) - want[i]) <= 1e-6 + 2e-6 * mag[i]);
      }
      for (std::int64_t co = 0; co < g.cout; ++co) {
        double sum = 0;
        for (std::int64_t n = 0; n < g.n; ++n)
          for (std::int64_t p = 0; p < g.out_plane(); ++p)
            sum +=
                static_cast<double>(dy[static_cast<std::size_t>(n * ys + co * g.out_plane() + p)]);
        REQUIRE(std::abs(static_cast<double>(db[static_cast<std::size_t>(co)]) - sum) <= 1e-4);
      }
      // accumulate: adds onto what is there
      wgrad::conv_backward_filter(g, x.data(), dy.data(), dw.data(), nullptr, true, s, variant);
      for (std::size_t i = 0; i < want.size(); ++i)
        REQUIRE(std::abs(static_cast<double>(dw[i]) - 2 * want[i]) <= 2e-6 + 4e-6 * mag[i]);
    }
}

TEST_CASE("conv wgrad: strided and pointwise convolutions are left to oneDNN / BLAS",
          "[conv][wgrad]") {
  REQUIRE_FALSE(wgrad::supports(geometry(1, 1, 1, {5, 5, 5}, {1, 1, 1}, {0, 0, 0})));
  ConvGeometry strided = geometry(1, 1, 1, {5, 5, 5}, {3, 3, 3}, {1, 1, 1});
  strided.stride[1] = 2;
  REQUIRE_FALSE(wgrad::supports(strided));
}
