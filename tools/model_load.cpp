// Loading a trained checkpoint for inference.
#include "tools/model_load.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <sstream>

#include "engine/error.h"
#include "models/checkpoint.h"
#include "models/memory_estimate.h"

namespace ddnet::tools {

LoadedModel load_model(const std::string& checkpoint, const std::string& model,
                       const std::string& normalise, Device device) {
  LoadedModel m;
  m.path = checkpoint;
  const std::string config = models::read_checkpoint_config(checkpoint);
  m.has_config = !config.empty();
  if (m.has_config) m.config = models::TrainConfig::from_json(config, checkpoint + ": config");
  if (!model.empty()) {
    m.config.model = model;
  } else if (!m.has_config) {
    // Bare weights (the published ones, torch2h5's output): the first convolution says 2D or 3D.
    const int rank = models::read_checkpoint_rank(checkpoint, "conv1.weight");
    if (rank == 4) m.config.model = "2d";
    if (rank == 5) m.config.model = "3d";
  }
  if (!normalise.empty()) m.config.normalise = normalise;
  DDNET_CHECK(m.config.model == "2d" || m.config.model == "3d", checkpoint, ": model '",
              m.config.model, "': expected 2d or 3d");
  m.net = std::make_unique<models::DDnet>(models::DDnetOptions{
      m.config.model == "2d" ? 2 : 3, kernels::UpsampleMode::linear, 0, m.config.residual});
  models::load_checkpoint(checkpoint, *m.net, nullptr);
  // Parameters into one arena on the device, buffers (BatchNorm statistics) beside them.
  m.arena = nn::pack_parameters(*m.net, device);
  for (const auto& b : m.net->named_buffers())
    if (b.tensor->dtype() == DType::f32) *b.tensor = b.tensor->to(device);
  return m;
}

models::DenoiseOptions denoise_options(const LoadedModel& m, Device device) {
  models::DenoiseOptions o;
  o.normalise = m.config.normalise;
  o.window_lo = m.config.window_lo;
  o.window_hi = m.config.window_hi;
  o.device = device;
  return o;
}

void add_tiling_options(CLI::App* cmd, TilingArgs& t) {
  cmd->add_option("--tile", t.tile,
                  "Tile size: S (every axis), RxC (rows x cols) or SxRxC, multiples of 16 "
                  "(default: the whole volume, or what --memory-mib allows)");
  cmd->add_option("--overlap", t.overlap, "Voxels neighbouring tiles share")->capture_default_str();
  cmd->add_option("--memory-mib", t.memory_mib,
                  "Activation memory budget that sizes the tiles (0: 80% of free GPU memory on "
                  "CUDA, no limit on the CPU)")
      ->capture_default_str();
  cmd->add_option("--batch", t.batch, "Tiles (2D models: slices) per forward pass")
      ->capture_default_str();
  cmd->add_flag("--ignore-memory-estimate", t.ignore_memory_estimate,
                "Denoise even when the estimated memory exceeds what the machine or GPU has "
                "available");
}

void check_denoise_memory(const std::string& command, const LoadedModel& m,
                          const models::DenoiseOptions& o, const TilingArgs& t,
                          const std::string& scan, std::int64_t d, std::int64_t h, std::int64_t w) {
  if (t.ignore_memory_estimate) return;
  const int dims = m.net->dims();
  const models::TileGrid g =
      models::denoise_tiles(dims, d, h, w, models::with_measured_bytes_per_voxel(*m.net, o));
  const std::int64_t per_pass = std::min<std::int64_t>(o.batch, g.count());
  const models::MemoryEstimate e = models::estimate_denoise_memory(
      dims, g.tile_voxels(), per_pass, g.extent[0] * g.extent[1] * g.extent[2], o.device);
  models::check_memory(
      command + " " + scan + " (" + std::to_string(d) + "x" + std::to_string(h) + "x" +
          std::to_string(w) + ", " + std::to_string(g.count()) + " tile(s) of " +
          std::to_string(g.size[0]) + "x" + std::to_string(g.size[1]) + "x" +
          std::to_string(g.size[2]) + ")",
      e, o.device, 1,
      "Cut the scan into smaller tiles: --tile (e.g. --tile 64, or RxC for a 2D model) or "
      "--memory-mib (the activation budget that sizes them), or give a smaller --batch");
}

void apply_tiling(const TilingArgs& t, models::DenoiseOptions& o) {
  DDNET_CHECK(t.overlap >= 0, "--overlap ", t.overlap, ": must be >= 0");
  DDNET_CHECK(t.batch >= 1, "--batch ", t.batch, ": must be >= 1");
  DDNET_CHECK(t.memory_mib >= 0, "--memory-mib ", t.memory_mib, ": must be >= 0");
  o.overlap = t.overlap;
  o.batch = t.batch;
  o.memory_mib = t.memory_mib;
  if (t.tile.empty()) return;
  std::vector<std::int64_t> v;
  std::string part;
  std::stringstream ss(t.tile);
  while (std::getline(ss, part, 'x')) {
    std::size_t used = 0;
    long long n = -1;
    try {
      n = std::stoll(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    DDNET_CHECK(used == part.size() && !part.empty() && n > 0, "--tile '", t.tile,
                "': expected S, RxC or SxRxC with positive sizes");
    v.push_back(n);
  }
  DDNET_CHECK(!v.empty() && v.size() <= 3, "--tile '", t.tile,
              "': expected S, RxC or SxRxC with positive sizes");
  if (v.size() == 1) o.tile = {v[0], v[0], v[0]};
  if (v.size() == 2) o.tile = {0, v[0], v[1]};
  if (v.size() == 3) o.tile = {v[0], v[1], v[2]};
}

}  // namespace ddnet::tools
