// Whole-scan denoising: normalise, pad, tile, run, blend, map back to HU.
#include "models/denoise.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "engine/allocator.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/parallel.h"

namespace ddnet::models {

namespace {

constexpr double kMiB = 1024.0 * 1024.0;

std::int64_t round_up16(std::int64_t n) {
  return (n + 15) / 16 * 16;
}

// (d, h, w) -> (pd, ph, pw) by repeating the last slice, row and column.
std::vector<float> edge_pad(const std::vector<float>& x, std::int64_t d, std::int64_t h,
                            std::int64_t w, std::int64_t pd, std::int64_t ph, std::int64_t pw) {
  if (pd == d && ph == h && pw == w) return x;
  std::vector<float> out(static_cast<std::size_t>(pd * ph * pw));
  for (std::int64_t k = 0; k < pd; ++k)
    for (std::int64_t i = 0; i < ph; ++i) {
      const float* row = x.data() + (std::min(k, d - 1) * h + std::min(i, h - 1)) * w;
      float* dst = out.data() + (k * ph + i) * pw;
      for (std::int64_t j = 0; j < pw; ++j) dst[j] = row[std::min(j, w - 1)];
    }
  return out;
}

}  // namespace

double inference_bytes_per_voxel(int dims) {
  // The growth of the host allocator's peak over one eval forward pass per added input voxel
  // (bench_denoise: 3D 32x64x64 -> 32x128x128: 597 B; 2D 256^2 -> 512^2 slices: 617 B; the
  // parameters are the constant part), with ~15% to spare. The CUDA path holds the same
  // activations plus cuDNN workspaces; its figure is still to be measured on a GPU.
  (void)dims;
  return 700.0;
}

double measure_inference_bytes_per_voxel(DDnet& net, const Device& device) {
  static std::mutex mu;
  static std::map<std::pair<int, std::string>, double> measured;
  const int dims = net.dims();
  std::lock_guard<std::mutex> lock(mu);
  const auto key = std::make_pair(dims, device.str());
  if (auto it = measured.find(key); it != measured.end()) return it->second;
  if (device.is_cpu() && !host_caching_enabled()) return 0;
  CachingAllocator& alloc = device.is_cuda() ? cuda_allocator(device.index()) : host_allocator();
  const bool was_training = net.training();
  net.eval();
  NoGradGuard no_grad;
  auto peak_of = [&](std::int64_t side) {  // peak bytes above the start, voxels
    const Shape s = dims == 3 ? Shape{1, 1, 16, side, side} : Shape{1, 1, side, side};
    const Tensor x = Tensor::zeros(s, device);
    // A first pass for the shape's one-time work (on a GPU cuDNN's algorithm search, whose
    // trial workspace is not what a tile then needs), then the measured one.
    { const Tensor warm = net.forward(x); }
    const std::int64_t base = alloc.stats().requested_bytes;
    alloc.reset_peak_stats();
    { const Tensor y = net.forward(x); }
    return std::make_pair(static_cast<double>(alloc.stats().peak_requested_bytes - base),
                          static_cast<double>(s.numel()));
  };
  const auto [p1, v1] = peak_of(dims == 3 ? 32 : 64);
  const auto [p2, v2] = peak_of(dims == 3 ? 64 : 128);
  net.train(was_training);
  const double per_voxel = 1.15 * std::max(0.0, (p2 - p1) / (v2 - v1));
  measured[key] = per_voxel;
  return per_voxel;
}

DenoiseOptions with_measured_bytes_per_voxel(DDnet& net, const DenoiseOptions& o) {
  DenoiseOptions planned = o;
  const bool tile_given = o.tile[1] > 0 || o.tile[2] > 0 || (net.dims() == 3 && o.tile[0] > 0);
  const bool budgeted = !tile_given && (o.memory_mib > 0 || o.device.is_cuda());
  if (planned.bytes_per_voxel <= 0 && budgeted)
    planned.bytes_per_voxel = measure_inference_bytes_per_voxel(net, o.device);
  if (planned.bytes_per_voxel <= 0) planned.bytes_per_voxel = inference_bytes_per_voxel(net.dims());
  return planned;
}

TileGrid denoise_tiles(int dims, std::int64_t d, std::int64_t h, std::int64_t w,
                       const DenoiseOptions& o) {
  DDNET_CHECK(d >= 1 && h >= 1 && w >= 1, "denoise: empty volume");
  DDNET_CHECK(o.overlap >= 0, "denoise: overlap must be >= 0, got ", o.overlap);
  DDNET_CHECK(o.batch >= 1, "denoise: batch must be >= 1, got ", o.batch);
  const bool is3d = dims == 3;
  const std::array<std::int64_t, 3> extent{is3d ? round_up16(d) : d, round_up16(h), round_up16(w)};
  const std::array<std::int64_t, 3> align{is3d ? 16 : 1, 16, 16};
  const std::array<std::int64_t, 3> overlap{is3d ? o.overlap : 0, o.overlap, o.overlap};  // wanted
  std::array<std::int64_t, 3> tile{};
  bool given = false;
  for (int a = 0; a < 3; ++a) {
    DDNET_CHECK(o.tile[a] >= 0, "denoise: tile sizes must be >= 0 (0: whole axis)");
    if (a == 0 && !is3d) {
      tile[a] = 1;
      continue;
    }
    tile[a] = o.tile[a] > 0 ? std::min(round_up16(o.tile[a]), extent[a]) : extent[a];
    given = given || o.tile[a] > 0;
  }
  if (!given) {
    double budget = o.memory_mib * kMiB;
    if (budget <= 0 && o.device.is_cuda()) {
      std::size_t free_bytes = 0, total_bytes = 0;
      cuda_memory_info(o.device.index(), &free_bytes, &total_bytes);
      budget = 0.8 * static_cast<double>(free_bytes);
    }
    if (budget > 0) {
      const double per_voxel =
          (o.bytes_per_voxel > 0 ? o.bytes_per_voxel : inference_bytes_per_voxel(dims)) *
          static_cast<double>(o.batch);
      const std::int64_t smallest =
          std::max<std::int64_t>({16, round_up16(2 * o.overlap), round_up16(o.overlap + 16)});
      auto bytes = [&] { return per_voxel * static_cast<double>(tile[0] * tile[1] * tile[2]); };
      while (bytes() > budget) {
        int axis = -1;  // shrink the longest axis that can still shrink
        for (int a = is3d ? 0 : 1; a < 3; ++a)
          if (tile[a] - 16 >= smallest && (axis < 0 || tile[a] > tile[axis])) axis = a;
        DDNET_CHECK(axis >= 0, "denoise: a memory budget of ", budget / kMiB,
                    " MiB is too small: the smallest tile (", tile[0], "x", tile[1], "x", tile[2],
                    " with overlap ", o.overlap, ", batch ", o.batch, ") needs about ",
                    std::ceil(bytes() / kMiB), " MiB; lower the overlap or the batch");
        tile[axis] -= 16;
      }
    }
  }
  // An overlap too large for a tile shrinks along that axis (a 16-slice tile has no room for
  // any: its neighbours must start 16 slices on).
  std::array<std::int64_t, 3> ov = overlap;
  for (int a = 0; a < 3; ++a)
    if (tile[a] < extent[a]) ov[a] = std::min({ov[a], tile[a] / 2, tile[a] - align[a]});
  return plan_tiles(extent, tile, ov, align);
}

std::vector<float> denoise_volume(DDnet& net, const float* hu, std::int64_t d, std::int64_t h,
                                  std::int64_t w, const DenoiseOptions& o, DenoiseStats* stats) {
  DDNET_CHECK(d >= 1 && h >= 1 && w >= 1, "denoise: empty volume");
  DDNET_CHECK(o.normalise == "minmax" || o.normalise == "window", "denoise: normalise '",
              o.normalise, "': expected minmax or window");
  const auto t0 = std::chrono::steady_clock::now();
  const std::int64_t n = d * h * w;
  double lo = o.window_lo, hi = o.window_hi;
  if (o.normalise == "minmax") {
    lo = std::numeric_limits<double>::infinity();
    hi = -lo;
    for (std::int64_t i = 0; i < n; ++i) {
      lo = std::min(lo, static_cast<double>(hu[i]));
      hi = std::max(hi, static_cast<double>(hu[i]));
    }
  }
  const double range = hi > lo ? hi - lo : 1.0;
  std::vector<float> x(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    double v = (static_cast<double>(hu[i]) - lo) / range;
    if (o.normalise == "window") v = std::clamp(v, 0.0, 1.0);
    x[static_cast<std::size_t>(i)] = static_cast<float>(v);
  }

  const int dims = net.dims();
  const DenoiseOptions planned = with_measured_bytes_per_voxel(net, o);
  const TileGrid grid = denoise_tiles(dims, d, h, w, planned);
  const auto [pd, ph, pw] = grid.extent;
  const std::vector<float> padded = edge_pad(x, d, h, w, pd, ph, pw);
  CachingAllocator& alloc =
      o.device.is_cuda() ? cuda_allocator(o.device.index()) : host_allocator();
  alloc.reset_peak_stats();
  std::int64_t forwards = 0;
  NoGradGuard no_grad;
  net.eval();
  const auto [sd, sh, sw] = grid.size;
  CpuShare cpu_share;  // the CPU threads follow the cores other processes leave free
  const std::vector<float> y_padded =
      apply_tiled(padded.data(), grid, o.batch, [&](const std::vector<float>& in, std::int64_t k) {
        if (!o.device.is_cuda()) cpu_share.update();
        const Shape shape = dims == 3 ? Shape{k, 1, sd, sh, sw} : Shape{k * sd, 1, sh, sw};
        Tensor t = Tensor::empty(shape);
        std::copy(in.begin(), in.end(), t.data<float>());
        ++forwards;
        return net.forward(t.to(o.device)).to(Device::cpu()).to_vector<float>();
      });
  std::vector<float> y(static_cast<std::size_t>(n));
  for (std::int64_t k = 0; k < d; ++k)
    for (std::int64_t i = 0; i < h; ++i) {
      const float* src = y_padded.data() + (k * ph + i) * pw;
      float* dst = y.data() + (k * h + i) * w;
      for (std::int64_t j = 0; j < w; ++j)
        dst[j] = static_cast<float>(lo + range * static_cast<double>(src[j]));
    }
  if (stats) {
    stats->grid = grid;
    stats->forwards = forwards;
    stats->peak_device_mib = static_cast<double>(alloc.stats().peak_allocated_bytes) / kMiB;
    stats->bytes_per_voxel = planned.bytes_per_voxel;
    stats->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  return y;
}

}  // namespace ddnet::models
