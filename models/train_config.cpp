// TrainConfig (train_config.h): the field table, the JSON reader and writer built from it, and
// the checks of a configuration before a run.
#include "models/train_config.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>
#include <type_traits>

#include "engine/error.h"

namespace ddnet::models {

using json = nlohmann::json;

const std::vector<TrainConfigField>& train_config_fields() {
  using C = TrainConfig;
  static const std::vector<TrainConfigField> fields = {
      {"model", &C::model, "2d or 3d"},
      {"device", &C::device, "cpu, cuda or cuda:N"},
      {"residual", &C::residual,
       "Not published: learn the noise (output = input + network), identity at the start"},
      {"memory", &C::memory,
       "lean (recompute each BatchNorm output in backward: about half the activation memory, "
       "same results) or fast (keep them)"},
      {"recompute_from_level", &C::recompute_from_level,
       "Stage recompute: levels from this one (1-4) down keep only their input and run again in "
       "backward (1: least memory, one more forward of the lower levels; same results; 0: off)"},
      {"epochs", &C::epochs, "Epochs"},
      {"lr", &C::lr, "Learning rate (Adam)"},
      {"decay", &C::decay, "ExponentialLR gamma per epoch"},
      {"loss_gamma", &C::loss_gamma, "Weight of (1 - MS-SSIM)"},
      {"clip_norm", &C::clip_norm, "Gradient-norm clipping (0: off)"},
      {"slices", &C::slices, "Slices per volume (3D)"},
      {"size", &C::size, "Height = width of a volume"},
      {"batch", &C::batch, "Batch size"},
      {"loader", &C::loader, "synthetic, strided, centre, random (3D) or 2d"},
      {"dataset", &C::dataset, "HDF5 dataset (ddnet prepare)"},
      {"samples_per_scan", &C::samples_per_scan, "Dataset items per scan per epoch (3D loaders)"},
      {"normalise", &C::normalise, "minmax (published) or window"},
      {"window_lo", &C::window_lo, nullptr},
      {"window_hi", &C::window_hi, nullptr},
      {"train_samples", &C::train_samples, "Training samples per epoch"},
      {"val_samples", &C::val_samples, "Validation samples"},
      {"seed", &C::seed, "Seed (initialisation, data, order)"},
      {"donor", &C::donor, "2D weights (HDF5) for 2D -> 3D transfer learning"},
      {"fill", &C::fill, "Transfer fill: centre, all or random"},
      {"freeze_bn", &C::freeze_bn,
       "BatchNorm keeps its running statistics while training (fine-tuning; true/false)"},
      {"bn_recalibrate", &C::bn_recalibrate,
       "BatchNorm statistics recomputed over N whole training volumes before each validation, "
       "which then runs on whole volumes too (for networks trained on crops; 0: off)"},
      {"out", &C::out, "Output folder"},
      {"checkpoint_every", &C::checkpoint_every, "Checkpoint every N epochs"},
      {"progress", &C::progress, "Progress output (true/false)"},
      {"stop_after_steps", &C::stop_after_steps, "Testing: interrupt after N steps"},
  };
  return fields;
}

namespace {

// An integer field's JSON value: an integer (or a float with an integral value, such as 2.0) in
// the range of T; anything else is an error naming the key, never truncated or wrapped.
template <typename T>
T json_integer(const json& v, const std::string& where, const std::string& key) {
  using L = std::numeric_limits<T>;
  const auto out_of_range = [&] {
    DDNET_FAIL(where, ": key '", key, "' is ", v.dump(), "; expected an integer in [",
               static_cast<long long>(L::min()), ", ", L::max(), "]");
  };
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(L::max())) out_of_range();
    return static_cast<T>(u);
  }
  if (v.is_number_integer()) {
    const auto i = v.get<std::int64_t>();
    if (i < static_cast<std::int64_t>(L::min()) ||
        (i > 0 && static_cast<std::uint64_t>(i) > static_cast<std::uint64_t>(L::max())))
      out_of_range();
    return static_cast<T>(i);
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::isfinite(d) && std::trunc(d) == d && std::fabs(d) < 9007199254740992.0)
      return json_integer<T>(json(static_cast<std::int64_t>(d)), where, key);
    out_of_range();
  }
  DDNET_FAIL(where, ": key '", key, "' is ", v.dump(), "; expected an integer");
}

template <typename T>
void json_value(const json& v, T& out, const std::string& where, const std::string& key) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    out = json_integer<T>(v, where, key);
  } else {
    try {
      v.get_to(out);
    } catch (const json::exception& e) {
      DDNET_FAIL(where, ": key '", key, "' has the wrong type: ", e.what());
    }
  }
}

}  // namespace

std::string TrainConfigField::flag() const {
  std::string f = std::string("--") + key;
  for (char& ch : f)
    if (ch == '_') ch = '-';
  return f;
}

std::string TrainConfig::to_json() const {
  json j;
  for (const TrainConfigField& f : train_config_fields())
    std::visit([&](auto member) { j[f.key] = this->*member; }, f.member);
  return j.dump(2);
}

TrainConfig TrainConfig::from_json(const std::string& text, const std::string& where) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    DDNET_FAIL(where, ": not valid JSON: ", e.what());
  }
  DDNET_CHECK(j.is_object(), where, ": the configuration must be a JSON object");
  TrainConfig c;
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool known = false;
    for (const TrainConfigField& f : train_config_fields())
      if (it.key() == f.key) {
        std::visit([&](auto member) { json_value(it.value(), c.*member, where, it.key()); },
                   f.member);
        known = true;
      }
    DDNET_CHECK(known, where, ": unknown key '", it.key(), "'");
  }
  return c;
}

void TrainConfig::validate() const {
  DDNET_CHECK(model == "2d" || model == "3d", "model '", model, "': expected 2d or 3d");
  DDNET_CHECK(epochs >= 1 && batch >= 1 && train_samples >= batch && val_samples >= 0, "epochs ",
              epochs, ", batch ", batch, ", train_samples ", train_samples,
              ": need epochs >= 1 and train_samples >= batch >= 1");
  DDNET_CHECK(std::isfinite(lr) && lr > 0 && decay > 0 && decay <= 1, "lr ", lr, " and decay ",
              decay, ": need lr > 0 and 0 < decay <= 1");
  DDNET_CHECK(std::isfinite(loss_gamma) && loss_gamma >= 0, "loss_gamma ", loss_gamma,
              ": must be >= 0 (the weight of 1 - MS-SSIM)");
  DDNET_CHECK(std::isfinite(clip_norm) && clip_norm >= 0, "clip_norm ", clip_norm,
              ": must be >= 0 (0: no clipping)");
  DDNET_CHECK(stop_after_steps >= 0, "stop_after_steps ", stop_after_steps,
              ": must be >= 0 (0: off)");
  DDNET_CHECK(std::isfinite(window_lo) && std::isfinite(window_hi) && window_lo < window_hi,
              "window_lo ", window_lo, " and window_hi ", window_hi,
              ": need window_lo < window_hi (HU)");
  DDNET_CHECK(memory == "lean" || memory == "fast", "memory '", memory, "': expected lean or fast");
  DDNET_CHECK(recompute_from_level >= 0 && recompute_from_level <= 4, "recompute_from_level ",
              recompute_from_level, ": expected 0 (off) or a level from 1 to 4");
  const bool synthetic = loader == "synthetic";
  DDNET_CHECK(synthetic || loader == "strided" || loader == "centre" || loader == "random" ||
                  loader == "2d",
              "loader '", loader, "': expected synthetic, strided, centre, random or 2d");
  DDNET_CHECK(synthetic || !dataset.empty(), "loader '", loader,
              "' reads the HDF5 dataset: give --dataset (made by `ddnet prepare`)");
  DDNET_CHECK(synthetic || (loader == "2d") == (model == "2d"), "loader '", loader,
              "' does not fit model ", model, ": 2D-DDnet trains on the 2d loader, 3D-DDnet on ",
              "strided, centre or random");
  DDNET_CHECK((size % 16 == 0 && size >= 16) || (size == 0 && !synthetic), "size ", size,
              " must be a multiple of 16 (four 2x poolings)",
              synthetic ? "" : ", or 0 for whole slices");
  DDNET_CHECK(model == "2d" || (slices % 16 == 0 && slices >= 16), "slices ", slices,
              " must be a multiple of 16 (four 2x poolings)");
  DDNET_CHECK(samples_per_scan >= 1, "samples_per_scan must be >= 1");
  DDNET_CHECK(donor.empty() || model == "3d",
              "a transfer-learning donor needs model 3d (2D weights -> 3D-DDnet)");
  DDNET_CHECK(checkpoint_every >= 1, "checkpoint_every must be >= 1, got ", checkpoint_every);
  DDNET_CHECK(bn_recalibrate >= 0, "bn_recalibrate must be >= 0 (0: off), got ", bn_recalibrate);
  DDNET_CHECK(bn_recalibrate == 0 || !freeze_bn,
              "bn_recalibrate and freeze_bn exclude each other: frozen BatchNorm layers train with "
              "their running statistics, which recalibration would change under them");
}

}  // namespace ddnet::models
