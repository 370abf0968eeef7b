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
  // Activation bytes per input voxel of a forward pass, which size the tiles under a budget.
  // 0: denoise_volume measures it on the device (measure_inference_bytes_per_voxel), or takes
  // inference_bytes_per_voxel(dims) where it cannot.
  double bytes_per_voxel = 0;
};

struct DenoiseStats {
  TileGrid grid;               // the tiles used (in the edge-padded volume)
  std::int64_t forwards = 0;   // forward passes
  double seconds = 0;          // wall time
  double peak_device_mib = 0;  // CUDA: the caching allocator's peak during the run; CPU: host
  double bytes_per_voxel = 0;  // what sized the tiles (measured, or the assumed figure)
};

// Activation memory of one DDnet forward pass (eval, no gradients) per input voxel, in bytes,
// as assumed when it cannot be measured: the host allocator's peak measured once on the CPU
// (docs/evaluation.md) with 15 % to spare.
double inference_bytes_per_voxel(int dims);

// The same, measured on `device` with `net`: the growth of the allocator's peak (the bytes the
// tensors ask for; on a GPU cuDNN's workspaces too) over one eval forward pass without gradients
// between two small inputs (3D: 16x32x32 and 16x64x64; 2D: 64x64 and 128x128; each after a
// first pass, so that cuDNN's algorithm search is not in it), per added voxel, with 15 % to spare.
// Measured once per process for each dims and device. 0 where the allocator keeps no statistics
// (CPU builds with AddressSanitizer).
double measure_inference_bytes_per_voxel(DDnet& net, const Device& device);

// Runs `net` (eval mode, no gradients) over a (d, h, w) HU volume and returns the denoised HU.
// The normalised volume is edge-padded to multiples of 16 once, cut into tiles (models/tiling.h;
// one tile when it fits), run `batch` tiles at a time, blended, cropped back and mapped back to
// HU with the same affine map that normalised it, so output HU line up with input HU. Min-max
// normalisation uses the whole input's range (the published per-volume choice).
std::vector<float> denoise_volume(DDnet& net, const float* hu, std::int64_t d, std::int64_t h,
                                  std::int64_t w, const DenoiseOptions& o,
                                  DenoiseStats* stats = nullptr);

// `o` with bytes_per_voxel set as denoise_volume sets it: measured on o.device when a memory
// budget sizes the tiles (no tile given; --memory-mib, or a GPU), else the assumed figure.
DenoiseOptions with_measured_bytes_per_voxel(DDnet& net, const DenoiseOptions& o);

// The tile grid denoise_volume would use for a (d, h, w) volume with these options (give them
// through with_measured_bytes_per_voxel for the same grid).
TileGrid denoise_tiles(int dims, std::int64_t d, std::int64_t h, std::int64_t w,
                       const DenoiseOptions& o);

}  // namespace ddnet::models
