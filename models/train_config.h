// The configuration of `ddnet train` (TrainConfig), and its fields declared once: each one's JSON
// key, the member it sets and its command-line help. The JSON reader and writer here and the
// command line (tools/cmd_train.cpp) are built from that one table, so a field added to the
// struct is added to the table and nowhere else.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace ddnet::models {

struct TrainConfig {
  std::string model = "3d";  // 3d | 2d
  bool residual = false;     // DDnetOptions::residual (not published; off by default)
  // lean: BatchNorm -> convolution pairs recompute the normalised tensor in backward (about half
  // the activation memory, the same results bit for bit); fast: they keep it (DDnetOptions::lean)
  std::string memory = "lean";
  // Stage recompute (DDnetOptions::recompute_from_level): 0 off; L in 1..4: the levels from L
  // down keep only their input in forward and run again in backward (1: least memory, about a
  // half of lean's held bytes; the same results bit for bit).
  int recompute_from_level = 0;
  std::string device = "cpu";  // cpu | cuda | cuda:N
  int epochs = 2;
  double lr = 1e-3;
  double decay = 0.8;        // ExponentialLR gamma, per epoch
  double loss_gamma = 0.1;   // MSE + loss_gamma * (1 - MS-SSIM)
  double clip_norm = 0;      // > 0: gradient-norm clipping
  std::int64_t slices = 16;  // D of a training volume (3D)
  std::int64_t size = 64;  // H = W: of synthetic phantoms, or the crop of dataset slices (0: whole)
  int batch = 1;
  // synthetic (generated phantoms) | strided | centre | random (3D) | 2d (slices): data/loader.h
  std::string loader = "synthetic";
  std::string dataset;                         // the HDF5 dataset (ddnet prepare) for the loaders
  std::int64_t samples_per_scan = 1;           // dataset items per scan per epoch (3D loaders)
  std::string normalise = "minmax";            // minmax (published) | window
  double window_lo = -1024, window_hi = 2048;  // HU window of normalise=window
  std::int64_t train_samples = 8, val_samples = 2;  // synthetic only; loaders count their items
  std::uint64_t seed = 0;
  std::string donor;            // 2D weights (HDF5) for 2D -> 3D transfer learning
  std::string fill = "centre";  // centre | all | random
  // BatchNorm layers use (and keep) their running statistics while training: for fine-tuning a
  // transferred model on crops, whose per-sample statistics differ from whole slices'.
  bool freeze_bn = false;
  // N > 0: before each validation and checkpoint, the BatchNorm running statistics are recomputed
  // as the average over N whole (uncropped) training volumes (models/recalibrate.h): for a
  // network trained on crops, the statistics of the volumes it will denoise. The dataset loaders
  // then validate on whole volumes too, one per validation scan. 0: off.
  std::int64_t bn_recalibrate = 0;
  std::string out = "runs/ddnet";
  int checkpoint_every = 1;  // epochs
  bool progress = true;
  int stop_after_steps = 0;  // testing: deliver SIGINT to itself after this many steps

  std::string to_json() const;
  static TrainConfig from_json(const std::string& text,
                               const std::string& where);  // unknown keys are errors
  void validate() const;
};

// One field of TrainConfig: its JSON key, which is also its command-line flag ("--" and '-' for
// '_': loss_gamma is --loss-gamma), the member, and the command line's help (null: the field is
// set in the configuration file only).
struct TrainConfigField {
  using Member = std::variant<std::string TrainConfig::*, bool TrainConfig::*, int TrainConfig::*,
                              double TrainConfig::*, std::int64_t TrainConfig::*,
                              std::uint64_t TrainConfig::*>;
  const char* key;
  Member member;
  const char* help;
  std::string flag() const;
};
// Every field, in the order `ddnet train --help` lists them.
const std::vector<TrainConfigField>& train_config_fields();

}  // namespace ddnet::models
