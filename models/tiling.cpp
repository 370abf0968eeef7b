// Tiled inference: the tile grid and the blend.
#include "models/tiling.h"

#include <algorithm>

#include "engine/error.h"
#include "engine/interrupt.h"

namespace ddnet::models {

std::int64_t TileGrid::count() const {
  return static_cast<std::int64_t>(starts[0].size() * starts[1].size() * starts[2].size());
}

TileGrid plan_tiles(const std::array<std::int64_t, 3>& extent,
                    const std::array<std::int64_t, 3>& size,
                    const std::array<std::int64_t, 3>& overlap,
                    const std::array<std::int64_t, 3>& align) {
  TileGrid g;
  g.extent = extent;
  const char* names[3] = {"z", "y", "x"};
  for (int a = 0; a < 3; ++a) {
    const std::int64_t e = extent[a], al = align[a];
    DDNET_CHECK(e >= 1 && al >= 1, "tiles: empty extent or alignment along ", names[a]);
    DDNET_CHECK(e % al == 0, "tiles: extent ", e, " along ", names[a], " is not a multiple of ",
                al);
    const std::int64_t s = size[a] <= 0 ? e : std::min(size[a], e);
    DDNET_CHECK(s % al == 0, "tiles: tile size ", s, " along ", names[a], " must be a multiple of ",
                al);
    g.size[a] = s;
    if (s == e) {
      g.starts[a] = {0};
      g.overlap[a] = 0;
      continue;
    }
    DDNET_CHECK(overlap[a] >= 0 && overlap[a] * 2 <= s, "tiles: overlap ", overlap[a], " along ",
                names[a], " must be between 0 and half the tile size (", s, ")");
    const std::int64_t step = (s - overlap[a]) / al * al;
    DDNET_CHECK(step >= al, "tiles: tile ", s, " minus overlap ", overlap[a], " along ", names[a],
                " leaves no step of ", al, " voxels; make the tile larger or the overlap smaller");
    g.overlap[a] = overlap[a];
    for (std::int64_t p = 0; p + s < e; p += step) g.starts[a].push_back(p);
    g.starts[a].push_back(e - s);
  }
  return g;
}

std::vector<double> tile_weights(const TileGrid& g, int axis, std::size_t t) {
  const std::int64_t s = g.size[axis], o = g.overlap[axis];
  std::vector<double> w(static_cast<std::size_t>(s), 1.0);
  const auto& starts = g.starts[axis];
  if (starts.size() == 1 || o == 0) return w;
  const double m = static_cast<double>(o / 4), ramp = static_cast<double>(o) - 2 * m;
  auto edge = [&](std::int64_t q) {  // weight at distance q from a shared edge
    const double c = static_cast<double>(q) + 0.5 - m;
    return c <= 0 ? 0.0 : (c >= ramp ? 1.0 : c / ramp);
  };
  const bool left = t > 0, right = t + 1 < starts.size();
  for (std::int64_t i = 0; i < s; ++i) {
    double v = 1.0;
    if (left) v = std::min(v, edge(i));
    if (right) v = std::min(v, edge(s - 1 - i));
    w[static_cast<std::size_t>(i)] = v;
  }
  return w;
}

std::vector<float> apply_tiled(const float* x, const TileGrid& g, std::int64_t batch,
                               const TileFn& fn) {
  DDNET_CHECK(batch >= 1, "tiles: batch must be at least 1, got ", batch);
  const auto [D, H, W] = g.extent;
  const auto [sd, sh, sw] = g.size;
  const std::int64_t tv = g.tile_voxels(), total = D * H * W;
  if (g.count() == 1) {  // one tile: the volume itself, untouched
    std::vector<float> in(x, x + total);
    std::vector<float> out = fn(in, 1);
    DDNET_CHECK(static_cast<std::int64_t>(out.size()) == total, "tiles: the network returned ",
                out.size(), " values for a tile of ", total);
    return out;
  }
  std::array<std::vector<std::vector<double>>, 3> weights;
  for (int a = 0; a < 3; ++a)
    for (std::size_t t = 0; t < g.starts[a].size(); ++t)
      weights[a].push_back(tile_weights(g, a, t));

  struct Tile {
    std::size_t iz, iy, ix;
  };
  std::vector<Tile> tiles;
  for (std::size_t iz = 0; iz < g.starts[0].size(); ++iz)
    for (std::size_t iy = 0; iy < g.starts[1].size(); ++iy)
      for (std::size_t ix = 0; ix < g.starts[2].size(); ++ix) tiles.push_back({iz, iy, ix});

  std::vector<double> acc(static_cast<std::size_t>(total), 0.0), wsum(acc.size(), 0.0);
  for (std::size_t b0 = 0; b0 < tiles.size(); b0 += static_cast<std::size_t>(batch)) {
    check_interrupted("denoise");
    const std::size_t n = std::min(tiles.size() - b0, static_cast<std::size_t>(batch));
    std::vector<float> in(n * static_cast<std::size_t>(tv));
    for (std::size_t t = 0; t < n; ++t) {
      const Tile& tl = tiles[b0 + t];
      const std::int64_t z0 = g.starts[0][tl.iz], y0 = g.starts[1][tl.iy], x0 = g.starts[2][tl.ix];
      float* dst = in.data() + t * static_cast<std::size_t>(tv);
      for (std::int64_t k = 0; k < sd; ++k)
        for (std::int64_t i = 0; i < sh; ++i) {
          const float* row = x + ((z0 + k) * H + y0 + i) * W + x0;
          std::copy(row, row + sw, dst + (k * sh + i) * sw);
        }
    }
    const std::vector<float> out = fn(in, static_cast<std::int64_t>(n));
    DDNET_CHECK(out.size() == in.size(), "tiles: the network returned ", out.size(), " values for ",
                in.size());
    for (std::size_t t = 0; t < n; ++t) {
      const Tile& tl = tiles[b0 + t];
      const std::int64_t z0 = g.starts[0][tl.iz], y0 = g.starts[1][tl.iy], x0 = g.starts[2][tl.ix];
      const auto& wz = weights[0][tl.iz];
      const auto& wy = weights[1][tl.iy];
      const auto& wx = weights[2][tl.ix];
      const float* src = out.data() + t * static_cast<std::size_t>(tv);
      for (std::int64_t k = 0; k < sd; ++k)
        for (std::int64_t i = 0; i < sh; ++i) {
          const double wzy = wz[static_cast<std::size_t>(k)] * wy[static_cast<std::size_t>(i)];
          if (wzy == 0) continue;
          const std::size_t base = static_cast<std::size_t>(((z0 + k) * H + y0 + i) * W + x0);
          const float* s = src + (k * sh + i) * sw;
          for (std::int64_t j = 0; j < sw; ++j) {
            const double w = wzy * wx[static_cast<std::size_t>(j)];
            acc[base + static_cast<std::size_t>(j)] += w * static_cast<double>(s[j]);
            wsum[base + static_cast<std::size_t>(j)] += w;
          }
        }
    }
  }
  std::vector<float> y(static_cast<std::size_t>(total));
  for (std::size_t i = 0; i < y.size(); ++i) {
    DDNET_CHECK(wsum[i] > 0, "tiles: voxel ", i, " is covered by no tile's weight (internal)");
    y[i] = static_cast<float>(acc[i] / wsum[i]);
  }
  return y;
}

}  // namespace ddnet::models
