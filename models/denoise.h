// Denoising whole scans with a trained DDnet. Volumes are raw (slices, rows, cols) float arrays
// in HU, so that data/ and models/ stay apart. The image scores live in models/metrics.h.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/device.h"
#include "models/ddnet.h"
#include "models/tiling.h"

namespace ddnet::models {

struct DenoiseOptions {
  std::string normalise = "minmax";  // as in training: minmax (of the input) | window
  double window_lo = -1024, window_hi = 2048;
  // Tile size (slices, rows, cols), multiples of 16; 0: the whole axis. 2D models ignore the
  // slice entry (they always see one slice).
  std::array<std::int64_t, 3> tile{0, 0, 0};
  // Voxels neighbouring tiles share (at most half a tile and a step of 16 is kept: shrunk per
  // axis where the tile is too small for it).
  std::int64_t overlap = 32;
  // With no tile given: the largest tiles whose estimated activation memory (times `batch`) fits
  // in this many MiB. 0: on CUDA, 80% of the device's free memory; on the CPU, no limit.
  double memory_mib = 0;
  std::int64_t batch = 1;  // tiles per forward pass (2D models: slices)
  Device device = Device::cpu();
};

struct DenoiseStats {
  TileGrid grid;               // the tiles used (in the edge-padded volume)
  std::int64_t forwards = 0;   // forward passes
  double seconds = 0;          // wall time
  double peak_device_mib = 0;  // CUDA: the caching allocator's peak during the run; CPU: host
};

// Activation memory of one DDnet forward pass (eval, no gradients) per input voxel, in bytes:
// measured with the host allocator's peak (docs/evaluation.md), used to size tiles.
double inference_bytes_per_voxel(int dims);

// Runs `net` (eval mode, no gradients) over a (d, h, w) HU volume and returns the denoised HU.
// The normalised volume is edge-padded to multiples of 16 once, cut into tiles (models/tiling.h;
// one tile when it fits), run `batch` tiles at a time, blended, cropped back and mapped back to
// HU with the same affine map that normalised it, so output HU line up with input HU. Min-max
// normalisation uses the whole input's range (the published per-volume choice).
std::vector<float> denoise_volume(DDnet& net, const float* hu, std::int64_t d, std::int64_t h,
                                  std::int64_t w, const DenoiseOptions& o,
                                  DenoiseStats* stats = nullptr);

// The tile grid denoise_volume would use for a (d, h, w) volume with these options.
TileGrid denoise_tiles(int dims, std::int64_t d, std::int64_t h, std::int64_t w,
                       const DenoiseOptions& o);

}  // namespace ddnet::models
