// Tiled inference: a volume too large for one forward pass is cut into equal, overlapping tiles
// whose outputs are blended back together.
//
// Tiles start on multiples of `align` (16 for DDnet: four 2x poolings see the same grid as in
// the untiled pass) and all have one size, the last one along an axis shifted back to end at the
// volume's edge, so a batch of tiles is one tensor. Where tiles overlap, each output voxel is a
// weighted mean of the tiles that cover it. Along an axis, a tile's weight at distance q (in
// voxels, q + 0.5 to the voxel centre) from an edge it shares with a neighbour is
//   0 for q + 0.5 < m,  a linear ramp up to 1 at q + 0.5 = overlap - m,  1 beyond,
// with m = overlap / 4: the m voxels next to a cut are never used (they see the cut's zero
// padding most), the ramp hides the seam. Edges on the volume's border keep weight 1. The 3-D
// weight is the product over axes, and the blend divides by the sum of weights, so uneven
// overlaps (the shifted last tile) blend correctly too.
//
// Exactness: a network whose receptive-field radius is at most m gives the untiled output
// (up to float summation order); a volume that fits in one tile is passed through untouched.
// DDnet's receptive field is wider than any practical overlap, so its tiled output is close to,
// not equal to, the untiled one: docs/evaluation.md gives the measured difference.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <vector>

namespace ddnet::models {

struct TileGrid {
  std::array<std::int64_t, 3> extent{};   // (z, y, x) of the volume
  std::array<std::int64_t, 3> size{};     // one tile, each <= extent
  std::array<std::int64_t, 3> overlap{};  // nominal overlap of neighbours (0 where one tile)
  std::array<std::vector<std::int64_t>, 3> starts;
  std::int64_t count() const;
  std::int64_t tile_voxels() const { return size[0] * size[1] * size[2]; }
};

// Covers `extent` with tiles of `size` (0 or >= extent: the whole axis). `extent` and `size`
// must be multiples of `align` per axis; neighbours overlap by at least `overlap`, which must
// leave a step of at least `align` (size - overlap >= align) where an axis has several tiles.
TileGrid plan_tiles(const std::array<std::int64_t, 3>& extent,
                    const std::array<std::int64_t, 3>& size,
                    const std::array<std::int64_t, 3>& overlap,
                    const std::array<std::int64_t, 3>& align);

// The blending weights of tile `t` (index into starts[axis]) along `axis`: size[axis] values.
std::vector<double> tile_weights(const TileGrid& g, int axis, std::size_t t);

// Runs `fn` over all tiles of the (z, y, x) volume `x`, `batch` tiles at a time: fn gets n tiles
// packed one after the other (n * tile_voxels values) and returns as many outputs, and the
// outputs are blended into the returned volume.
using TileFn = std::function<std::vector<float>(const std::vector<float>& tiles, std::int64_t n)>;
std::vector<float> apply_tiled(const float* x, const TileGrid& g, std::int64_t batch,
                               const TileFn& fn);

}  // namespace ddnet::models
