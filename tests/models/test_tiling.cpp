// Tiled inference (models/tiling.h, models/denoise.h): the grid, the blend weights, exactness for
// an operator whose reach fits in the discarded margin, a volume that fits passing untouched,
// batching, and the memory budget's choice of tiles.
#include <catch2/catch.hpp>

#include <cmath>

#include "engine/allocator.h"
#include "engine/autograd.h"
#include "engine/rng.h"
#include "models/denoise.h"
#include "models/tiling.h"

using namespace ddnet;
using models::TileGrid;

namespace {

// A (d, h, w) box mean of radius r with zero padding: a stand-in for a network whose receptive
// field has radius r and that sees zeros beyond its input, as convolutions do.
std::vector<float> box(const std::vector<float>& x, std::int64_t d, std::int64_t h, std::int64_t w,
                       std::int64_t r) {
  std::vector<float> y(x.size());
  for (std::int64_t k = 0; k < d; ++k)
    for (std::int64_t i = 0; i < h; ++i)
      for (std::int64_t j = 0; j < w; ++j) {
        double s = 0;
        for (std::int64_t a = -r; a <= r; ++a)
          for (std::int64_t b = -r; b <= r; ++b)
            for (std::int64_t c = -r; c <= r; ++c) {
              const std::int64_t kk = k + a, ii = i + b, jj = j + c;
              if (kk >= 0 && kk < d && ii >= 0 && ii < h && jj >= 0 && jj < w)
                s += static_cast<double>(x[static_cast<std::size_t>((kk * h + ii) * w + jj)]);
            }
        y[static_cast<std::size_t>((k * h + i) * w + j)] = static_cast<float>(s);
      }
  return y;
}

std::vector<float> random_volume(std::int64_t n, std::uint64_t seed) {
  Generator g(seed);
  return g.uniform(Shape{n}).to_vector<float>();
}

}  // namespace

TEST_CASE("tiling: grid of aligned, overlapping tiles, the last shifted back", "[models][tiling]") {
  const TileGrid g = models::plan_tiles({48, 160, 96}, {32, 64, 0}, {16, 32, 32}, {16, 16, 16});
  CHECK(g.size == std::array<std::int64_t, 3>{32, 64, 96});
  CHECK(g.starts[0] == std::vector<std::int64_t>{0, 16});          // step 16, last 48 - 32
  CHECK(g.starts[1] == std::vector<std::int64_t>{0, 32, 64, 96});  // step 32, last 160 - 64
  CHECK(g.starts[2] == std::vector<std::int64_t>{0});              // whole axis
  CHECK(g.overlap == std::array<std::int64_t, 3>{16, 32, 0});
  CHECK(g.count() == 8);
  // A tile larger than the volume is the volume.
  const TileGrid one = models::plan_tiles({16, 32, 32}, {64, 64, 64}, {32, 32, 32}, {16, 16, 16});
  CHECK(one.count() == 1);
  CHECK(one.size == std::array<std::int64_t, 3>{16, 32, 32});
  CHECK_THROWS_WITH(models::plan_tiles({48, 64, 64}, {20, 0, 0}, {0, 0, 0}, {16, 16, 16}),
                    Catch::Contains("multiple of 16"));
  CHECK_THROWS_WITH(models::plan_tiles({64, 64, 64}, {32, 0, 0}, {24, 0, 0}, {16, 16, 16}),
                    Catch::Contains("half the tile"));
  CHECK_THROWS_WITH(models::plan_tiles({64, 64, 64}, {16, 0, 0}, {8, 0, 0}, {16, 16, 16}),
                    Catch::Contains("no step"));
}

TEST_CASE("tiling: blend weights drop the margin next to a cut and ramp across the overlap",
          "[models][tiling]") {
  const TileGrid g = models::plan_tiles({1, 1, 96}, {1, 1, 64}, {0, 0, 32}, {1, 1, 16});
  REQUIRE(g.starts[2] == std::vector<std::int64_t>{0, 32});
  const auto left = models::tile_weights(g, 2, 0), right = models::tile_weights(g, 2, 1);
  CHECK(left[0] == 1.0);  // the volume's own border keeps full weight
  CHECK(right[63] == 1.0);
  for (int q = 0; q < 8; ++q) {  // m = 32 / 4 voxels next to the cut are never used
    CHECK(left[static_cast<std::size_t>(63 - q)] == 0.0);
    CHECK(right[static_cast<std::size_t>(q)] == 0.0);
  }
  for (int i = 32; i < 64; ++i)  // with the nominal overlap the two ramps add up to one
    CHECK(left[static_cast<std::size_t>(i)] + right[static_cast<std::size_t>(i - 32)] ==
          Approx(1.0));
}

TEST_CASE("tiling: tiled equals untiled for an operator whose reach fits in the margin",
          "[models][tiling]") {
  const std::int64_t d = 48, h = 64, w = 80, r = 3;  // overlap 16: margin 4 >= r
  const auto x = random_volume(d * h * w, 3);
  const auto whole = box(x, d, h, w, r);
  const TileGrid g = models::plan_tiles({d, h, w}, {32, 32, 48}, {16, 16, 16}, {16, 16, 16});
  REQUIRE(g.count() > 8);
  std::int64_t calls = 0;
  auto fn = [&](std::int64_t batch) {
    return models::apply_tiled(
        x.data(), g, batch, [&](const std::vector<float>& in, std::int64_t n) {
          ++calls;
          std::vector<float> out;
          const std::int64_t tv = g.tile_voxels();
          for (std::int64_t t = 0; t < n; ++t) {
            std::vector<float> one(in.begin() + t * tv, in.begin() + (t + 1) * tv);
            const auto y = box(one, g.size[0], g.size[1], g.size[2], r);
            out.insert(out.end(), y.begin(), y.end());
          }
          return out;
        });
  };
  const auto tiled = fn(1);
  CHECK(calls == g.count());
  double worst = 0;
  for (std::size_t i = 0; i < whole.size(); ++i)
    worst =
        std::max(worst, std::abs(static_cast<double>(tiled[i]) - static_cast<double>(whole[i])));
  CHECK(worst < 1e-5);  // up to float rounding of the blend
  calls = 0;
  const auto batched = fn(5);
  CHECK(calls == (g.count() + 4) / 5);
  CHECK(batched == tiled);
}

TEST_CASE("tiling: a volume that fits in one tile is passed through untouched",
          "[models][tiling]") {
  const auto x = random_volume(16 * 32 * 48, 4);
  const TileGrid g = models::plan_tiles({16, 32, 48}, {0, 0, 0}, {32, 32, 32}, {16, 16, 16});
  const auto y =
      models::apply_tiled(x.data(), g, 4, [](const std::vector<float>& in, std::int64_t n) {
        CHECK(n == 1);
        std::vector<float> out(in.size());
        for (std::size_t i = 0; i < in.size(); ++i) out[i] = std::sqrt(in[i]) * 3.0f;
        return out;
      });
  for (std::size_t i = 0; i < x.size(); ++i) REQUIRE(y[i] == std::sqrt(x[i]) * 3.0f);
}

TEST_CASE("denoise: DDnet over tiles, batched slices, and tiles sized by a memory budget",
          "[models][tiling]") {
  models::DDnet net({2, kernels::UpsampleMode::linear, 7, false});  // published form, random
  const std::int64_t d = 3, h = 120, w = 100;                       // padded to 128 x 112
  std::vector<float> hu(static_cast<std::size_t>(d * h * w));
  Generator g(9);
  const auto u = g.uniform(Shape{d * h * w}).to_vector<float>();
  for (std::int64_t k = 0; k < d; ++k)
    for (std::int64_t i = 0; i < h; ++i)
      for (std::int64_t j = 0; j < w; ++j) {
        const std::size_t n = static_cast<std::size_t>((k * h + i) * w + j);
        hu[n] = static_cast<float>(
            -1000 + 1500 * ((i - 60) * (i - 60) + (j - 50) * (j - 50) < 1600) + 40 * u[n]);
      }
  models::DenoiseOptions o;
  const auto whole = models::denoise_volume(net, hu.data(), d, h, w, o);
  // An explicit tile as large as the volume: the same computation.
  o.tile = {0, 512, 512};
  CHECK(models::denoise_volume(net, hu.data(), d, h, w, o) == whole);
  // Slices batched three at a time: eval-mode BatchNorm is per sample, so the same values.
  o.batch = 3;
  const auto batched = models::denoise_volume(net, hu.data(), d, h, w, o);
  double worst_batch = 0;
  for (std::size_t i = 0; i < hu.size(); ++i)
    worst_batch = std::max(
        worst_batch, std::abs(static_cast<double>(batched[i]) - static_cast<double>(whole[i])));
  CHECK(worst_batch < 1e-2);  // HU; only summation order differs
  // 64 x 64 tiles with overlap 32: DDnet's receptive field is wider than the margin, so close to,
  // not equal to, the untiled output.
  o.batch = 1;
  o.tile = {0, 64, 64};
  o.overlap = 32;
  models::DenoiseStats st;
  const auto tiled = models::denoise_volume(net, hu.data(), d, h, w, o, &st);
  CHECK(st.grid.count() == 3 * 3 * 3);
  double sq = 0, sq_ref = 0, mean = 0;
  for (const float v : whole) mean += static_cast<double>(v) / static_cast<double>(whole.size());
  for (std::size_t i = 0; i < hu.size(); ++i) {
    sq += std::pow(static_cast<double>(tiled[i]) - static_cast<double>(whole[i]), 2);
    sq_ref += std::pow(static_cast<double>(whole[i]) - mean, 2);
  }
  const double rel = std::sqrt(sq / sq_ref);
  INFO("tiled vs untiled: relative RMS difference " << rel);
  CHECK(rel < 0.1);

  // The budget sizes the tiles: the chosen tile's estimated activations fit.
  models::DenoiseOptions b;
  b.overlap = 16;
  b.memory_mib = 32;
  const TileGrid grid = models::denoise_tiles(3, 40, 200, 180, b);
  CHECK(static_cast<double>(grid.tile_voxels()) * models::inference_bytes_per_voxel(3) <=
        32 * 1024.0 * 1024.0);
  CHECK(grid.count() > 1);
  b.memory_mib = 1;
  CHECK_THROWS_WITH(models::denoise_tiles(3, 40, 200, 180, b), Catch::Contains("too small"));
}

TEST_CASE("denoise: the normalisation is undone exactly (an identity network returns its input)",
          "[models][tiling]") {
  // The residual DDnet is the identity before training: whatever comes out differs from the
  // input HU only by float rounding of the normalise / un-normalise maps, tiled or not.
  for (const int dims : {2, 3}) {
    models::DDnet net({dims, kernels::UpsampleMode::linear, 1, /*residual=*/true});
    const std::int64_t d = 20, h = 40, w = 36;
    Generator g(11);
    std::vector<float> hu =
        g.uniform(Shape{d * h * w}, Device::cpu(), -1000.f, 1800.f).to_vector<float>();
    for (const char* norm : {"minmax", "window"}) {
      models::DenoiseOptions o;
      o.normalise = norm;
      o.window_lo = -1024;
      o.window_hi = 2048;
      for (const std::int64_t tile : {0, 32}) {
        o.tile = {tile, tile, tile};
        o.overlap = 8;
        const auto y = models::denoise_volume(net, hu.data(), d, h, w, o);
        double worst = 0;
        for (std::size_t i = 0; i < hu.size(); ++i)
          worst = std::max(worst, std::abs(static_cast<double>(y[i]) - static_cast<double>(hu[i])));
        INFO(dims << "D, " << norm << ", tile " << tile);
        CHECK(worst < 1e-3);  // HU
      }
    }
  }
}

TEST_CASE("denoise: tiles are planned with the inference bytes per voxel measured on the device",
          "[models][tiling][memory]") {
  if (!host_caching_enabled()) {
    SUCCEED("host allocator bypassed (AddressSanitizer): nothing to measure, the assumed figure");
    return;
  }
  models::DDnetOptions no;
  no.seed = 3;
  models::DDnet net(no);
  net.train();
  const double measured = models::measure_inference_bytes_per_voxel(net, Device::cpu());
  INFO("measured " << measured << " B/voxel (assumed " << models::inference_bytes_per_voxel(3)
                   << ")");
  CHECK(net.training());  // left as it was
  CHECK(measured > 200);
  CHECK(measured < 1000);
  CHECK(models::measure_inference_bytes_per_voxel(net, Device::cpu()) == measured);  // once
  // The figure predicts a larger forward pass: 16x96x96 within 15 % (it has 15 % to spare).
  CachingAllocator& a = host_allocator();
  NoGradGuard no_grad;
  net.eval();
  const Tensor x = Tensor::zeros({1, 1, 16, 96, 96});
  const std::int64_t base = a.stats().requested_bytes;
  a.reset_peak_stats();
  { const Tensor y = net.forward(x); }
  const double actual =
      static_cast<double>(a.stats().peak_requested_bytes - base) / static_cast<double>(x.numel());
  INFO("actual peak " << actual << " B/voxel at 16x96x96");
  CHECK(actual <= measured);
  CHECK(actual > measured / 1.3);
  // Under a budget the plan uses it: the tile's activations fit, and the options say so.
  models::DenoiseOptions o;
  o.overlap = 16;
  o.memory_mib = 32;
  const models::DenoiseOptions planned = models::with_measured_bytes_per_voxel(net, o);
  CHECK(planned.bytes_per_voxel == measured);
  const TileGrid grid = models::denoise_tiles(3, 40, 200, 180, planned);
  CHECK(static_cast<double>(grid.tile_voxels()) * measured <= 32 * 1024.0 * 1024.0);
  // With a tile given nothing needs measuring: the assumed figure stands in.
  o.tile = {16, 64, 64};
  CHECK(models::with_measured_bytes_per_voxel(net, o).bytes_per_voxel ==
        models::inference_bytes_per_voxel(3));
}
