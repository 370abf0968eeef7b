// A trained checkpoint as `ddnet denoise` and `ddnet eval` use it: its training configuration
// (or overrides for bare weights), the network on the device, and the denoising options it
// implies (normalisation as trained).
#pragma once

#include <memory>
#include <string>

#include "graph/arena.h"
#include "models/ddnet.h"
#include "models/denoise.h"
#include "models/train.h"

namespace CLI {
class App;
}

namespace ddnet::tools {

struct LoadedModel {
  std::string path;
  models::TrainConfig config;  // from the checkpoint, with the overrides applied
  bool has_config = false;     // false for bare weights (published, converted)
  std::unique_ptr<models::DDnet> net;
  nn::Arena arena;  // the parameters on the device (keeps them alive)
};

// model: "2d" / "3d" / "" (from the checkpoint's configuration; for bare weights, from the rank of
// conv1.weight); normalise: "minmax" / "window" / "" (from the checkpoint, else minmax).
LoadedModel load_model(const std::string& checkpoint, const std::string& model,
                       const std::string& normalise, Device device);

// The checkpoint's normalisation and the device, the rest default.
models::DenoiseOptions denoise_options(const LoadedModel& m, Device device);

// The tiling options of denoise and eval (models::DenoiseOptions).
struct TilingArgs {
  std::string tile;  // "S", "RxC" or "SxRxC" (slices, rows, cols); empty: whole volume or budget
  std::int64_t overlap = 32, batch = 1;
  double memory_mib = 0;
  bool ignore_memory_estimate = false;
};
void add_tiling_options(CLI::App* cmd, TilingArgs& t);
void apply_tiling(const TilingArgs& t, models::DenoiseOptions& o);  // errors name the option

// Before denoising a (d, h, w) scan with `o`: the estimated memory (models/memory_estimate.h)
// against what the device has left; throws, naming the estimate and what to change (--tile,
// --memory-mib, --batch), unless --ignore-memory-estimate was given.
void check_denoise_memory(const std::string& command, const LoadedModel& m,
                          const models::DenoiseOptions& o, const TilingArgs& t,
                          const std::string& scan, std::int64_t d, std::int64_t h, std::int64_t w);

}  // namespace ddnet::tools
