// Checkpoints in HDF5: one dataset per state_dict name at the root (the layout of the published
// weights' file, so PyTorch tools read it), plus the optimiser's moments and step, the epoch and
// step of training, the RNG state and the training configuration (JSON text). Written to
// "<path>.tmp", synced to disk (fsync), renamed over <path> and the folder synced: a crash or a
// power cut never leaves a half-written checkpoint.
//
// Every tensor dataset carries a uint32 attribute `crc32c`: the CRC-32C (engine/checksum.h) of
// its values as stored (the file's type, little-endian, C order), over the whole tensor. Loading
// verifies it and a mismatch is an error naming the file, the dataset and "checksum". A dataset
// without it (files written before format 1 gained it, published weights, torch2h5's output)
// loads unverified: the attribute is optional, so the format number did not change.
#pragma once

#include <cstdint>
#include <string>

#include "graph/module.h"
#include "graph/optim.h"

namespace ddnet::models {

struct TrainingState {
  std::int64_t epoch = 0;  // completed epochs
  std::int64_t step = 0;   // completed steps
  std::uint64_t rng_seed = 0, rng_offset = 0;
  std::string config_json;
  std::int64_t steps_per_epoch = 0;  // of the run's configuration; 0: not recorded (older files)
};

constexpr int kCheckpointFormat = 1;

void save_checkpoint(const std::string& path, nn::Module& model, const nn::Adam* opt,
                     const TrainingState& state);

// Loads what the file holds into `model` (every state_dict name must be present with its shape:
// errors name the file and the dataset) and, when given, the optimiser; returns the state.
// Loading weights only (no optimiser in the file, or opt null) is how published weights and
// transfer-learning donors come in.
TrainingState load_checkpoint(const std::string& path, nn::Module& model, nn::Adam* opt);

// The training configuration (JSON) a checkpoint was written with; empty for bare weights such
// as the published ones.
std::string read_checkpoint_config(const std::string& path);

// The number of dimensions of dataset `name` (e.g. "conv1.weight": 4 for 2D-DDnet, 5 for
// 3D-DDnet), or -1 when the file has no such dataset.
int read_checkpoint_rank(const std::string& path, const std::string& name);

}  // namespace ddnet::models
