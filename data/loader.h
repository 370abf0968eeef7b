// Volume loaders over the HDF5 dataset, with the published slice choices
// (../shared/spec/REFERENCE.md, "Data as published"):
//   strided  every (n / V)-th slice of the first n - n % V slices  (V slices per volume)
//   centre   V consecutive slices around the middle: start (n - V) / 2
//   random   V consecutive slices at a random start in [0, n - V]
//   2d       every slice of every scan, one sample each (2D-DDnet)
// Each sample is normalised as published (min-max to [0, 1] per sample, input and target
// separately, over the voxels selected) or with a fixed HU window. Random crops make CPU-sized
// training possible. Items are sharded across ranks with equal counts (padded by repetition),
// shuffled identically on every rank per epoch; everything is a pure function of
// (seed, epoch, item), so a resumed run sees the same samples as one that never stopped.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "engine/tensor.h"

namespace ddnet::data {

enum class LoaderKind { slices2d, strided, centre, random };
LoaderKind parse_loader_kind(const std::string& name);  // 2d | strided | centre | random
const char* loader_kind_name(LoaderKind k);

// The published slice choices for a scan of n slices and volumes of v slices (v <= n).
std::vector<std::int64_t> strided_slices(std::int64_t n, std::int64_t v);
std::vector<std::int64_t> centre_slices(std::int64_t n, std::int64_t v);
std::vector<std::int64_t> random_slices(std::int64_t n, std::int64_t v, std::uint64_t seed);

struct LoaderOptions {
  std::string kind = "strided";
  std::int64_t slices = 16;           // V, slices per volume (3D loaders)
  std::int64_t crop = 0;              // 0: whole slices; else crop x crop (random in training)
  std::int64_t samples_per_scan = 1;  // items per scan per epoch (3D loaders)
  std::string normalise = "minmax";   // minmax (published) | window
  double window_lo = -1024, window_hi = 2048;  // HU mapped to [0, 1] by "window", clamped
  std::uint64_t seed = 0;
  int rank = 0, world = 1;
  void validate() const;
};

// What one item is: the scan, its slices, the crop.
struct ItemSpec {
  std::size_t scan = 0;
  std::vector<std::int64_t> slices;
  std::int64_t row0 = 0, col0 = 0, rows = 0, cols = 0;
};

struct LoadedSample {
  Tensor input, target;  // ldct, ndct normalised; (1, 1, V, h, w) or (1, 1, h, w), CPU float32
  ItemSpec spec;
  std::string scan;
  // The normalisation applied, to undo it: hu = lo + x * (hi - lo).
  float input_lo = 0, input_hi = 1, target_lo = 0, target_hi = 1;
};

// Maps values to [0, 1] in place; returns the (lo, hi) used.
std::pair<float, float> normalise_minmax(float* x, std::int64_t n);
void normalise_window(float* x, std::int64_t n, double lo, double hi);

class VolumeLoader {
 public:
  VolumeLoader(std::shared_ptr<const Dataset> dataset, Split split, LoaderOptions options);

  std::int64_t size() const { return per_rank_; }      // items per epoch on this rank
  std::int64_t global_size() const { return items_; }  // items per epoch before padding
  bool is_3d() const { return kind_ != LoaderKind::slices2d; }
  const LoaderOptions& options() const { return opt_; }
  const Dataset& dataset() const { return *dataset_; }

  // Item `index` (< size()) of `epoch` for this rank. Training shuffles per epoch (the same
  // permutation on every rank) and draws random starts / crops per (epoch, item); validation and
  // test are fixed: no shuffle, centre crops, random starts keyed by the item alone.
  ItemSpec spec(std::int64_t epoch, std::int64_t index) const;
  LoadedSample load(const ItemSpec& spec) const;  // thread-safe
  LoadedSample get(std::int64_t epoch, std::int64_t index) const {
    return load(spec(epoch, index));
  }

 private:
  std::shared_ptr<const Dataset> dataset_;
  Split split_;
  LoaderOptions opt_;
  LoaderKind kind_;
  std::vector<std::size_t> scans_;                              // of the split
  std::vector<std::pair<std::size_t, std::int64_t>> slices2d_;  // (scan, slice) for 2d
  std::int64_t items_ = 0, per_rank_ = 0;
};

}  // namespace ddnet::data
