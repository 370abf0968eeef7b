// Sample sources for `ddnet train`.
#include "tools/sources.h"

#include "data/loader.h"
#include "data/synthetic.h"
#include "engine/error.h"
#include "engine/rng.h"

namespace ddnet::tools {

namespace {

// Generated phantoms; the training order is reshuffled every epoch.
class SyntheticSource final : public models::SampleSource {
 public:
  SyntheticSource(const models::TrainConfig& c, int rank, int world)
      : c_(c), dims_(c.model == "3d" ? 3 : 2), rank_(rank), world_(world) {}
  std::int64_t size(int split) const override {  // this rank's share, padded by repetition
    const std::int64_t n = split == 0 ? c_.train_samples : c_.val_samples;
    return (n + world_ - 1) / world_;
  }
  models::Sample get(int split, std::int64_t epoch, std::int64_t index) const override {
    const std::int64_t n = split == 0 ? c_.train_samples : c_.val_samples;
    DDNET_CHECK(index >= 0 && index < size(split), "synthetic samples: item ", index,
                " out of range (", size(split), " per rank)");
    std::int64_t i = (index * world_ + rank_) % n;  // interleaved shards, as the loaders do
    if (split == 0) {  // the epoch's permutation, a pure function of (seed, epoch)
      std::vector<std::int64_t> order(static_cast<std::size_t>(n));
      for (std::int64_t k = 0; k < n; ++k) order[static_cast<std::size_t>(k)] = k;
      Generator g(c_.seed ^ 0x5eed0000ull, static_cast<std::uint64_t>(epoch) << 32);
      for (std::int64_t k = n - 1; k > 0; --k)
        std::swap(order[static_cast<std::size_t>(k)],
                  order[static_cast<std::size_t>(g.next_below(static_cast<std::uint64_t>(k + 1)))]);
      i = order[static_cast<std::size_t>(i)];
    }
    auto p = data::synthetic_pair(dims_, c_.slices, c_.size, c_.size, c_.seed, split, i);
    return {p.input, p.target, detail::concat("synthetic phantom ", i)};
  }
  // Phantoms are not cropped: the whole volumes are the training items, in their own order.
  std::int64_t whole_size() const override { return size(0); }
  models::Sample whole(std::int64_t index) const override {
    DDNET_CHECK(index >= 0 && index < whole_size(), "synthetic whole volumes: item ", index,
                " out of range (", whole_size(), " per rank)");
    const std::int64_t i = (index * world_ + rank_) % c_.train_samples;
    auto p = data::synthetic_pair(dims_, c_.slices, c_.size, c_.size, c_.seed, 0, i);
    return {p.input, p.target, detail::concat("synthetic phantom ", i)};
  }

 private:
  models::TrainConfig c_;
  int dims_, rank_, world_;
};

// The HDF5 dataset through the loaders: training items from the train split, validation from
// the val split (fixed: no shuffle, centred crops; whole volumes, one per scan, with
// bn_recalibrate), and with bn_recalibrate whole training volumes.
class DatasetSource final : public models::SampleSource {
 public:
  DatasetSource(const models::TrainConfig& c, int rank, int world, bool allow_external) {
    auto ds = std::make_shared<const data::Dataset>(data::Dataset::open(c.dataset, allow_external));
    data::LoaderOptions o;
    o.kind = c.loader;
    o.slices = c.slices;
    o.crop = c.size;
    o.samples_per_scan = c.samples_per_scan;
    o.normalise = c.normalise;
    o.window_lo = c.window_lo;
    o.window_hi = c.window_hi;
    o.seed = c.seed;
    o.rank = rank;
    o.world = world;
    train_ = std::make_unique<data::VolumeLoader>(ds, data::Split::train, o);
    data::LoaderOptions v = o;
    if (c.bn_recalibrate > 0) {
      // Recalibrated for whole volumes, so validated on whole volumes: one per validation scan
      // (each costs crop-to-slice-area times a crop's forward).
      v.crop = 0;
      v.samples_per_scan = 1;
      data::LoaderOptions w = o;  // the training loader on whole slices
      w.crop = 0;
      whole_ = std::make_unique<data::VolumeLoader>(ds, data::Split::train, w);
    }
    if (!ds->scans_in(data::Split::val).empty())
      val_ = std::make_unique<data::VolumeLoader>(ds, data::Split::val, v);
    for (const auto* l : {train_.get(), val_.get(), whole_.get()}) {
      if (!l) continue;
      const auto s = l->spec(0, 0);
      DDNET_CHECK(s.rows % 16 == 0 && s.cols % 16 == 0, c.dataset, ": samples of ", s.rows, "x",
                  s.cols, " (scan '", ds->scans()[s.scan].name,
                  "') must be multiples of 16 in each dimension for DDnet's four 2x poolings; ",
                  l == whole_.get() || (l == val_.get() && c.bn_recalibrate > 0)
                      ? "BatchNorm recalibration (bn_recalibrate) recalibrates and validates on "
                        "whole slices, which must be too"
                      : "set size (the crop) to a multiple of 16");
    }
  }
  std::int64_t size(int split) const override {
    return split == 0 ? train_->size() : (val_ ? val_->size() : 0);
  }
  models::Sample get(int split, std::int64_t epoch, std::int64_t index) const override {
    const auto s = (split == 0 ? train_ : val_)->get(epoch, index);
    return {s.input, s.target,
            detail::concat("scan '", s.scan, "' (slices ", s.spec.slices.front(), "..",
                           s.spec.slices.back(), ")")};
  }
  // The training loader's items on whole slices, as in its first epoch.
  std::int64_t whole_size() const override { return whole_ ? whole_->size() : 0; }
  models::Sample whole(std::int64_t index) const override {
    DDNET_CHECK(whole_, "whole training volumes: the source was made without bn_recalibrate");
    const auto s = whole_->get(0, index);
    return {s.input, s.target,
            detail::concat("scan '", s.scan, "' (whole slices ", s.spec.slices.front(), "..",
                           s.spec.slices.back(), ")")};
  }

 private:
  std::unique_ptr<data::VolumeLoader> train_, val_, whole_;
};

}  // namespace

std::unique_ptr<models::SampleSource> make_sample_source(const models::TrainConfig& c, int rank,
                                                         int world, bool allow_external) {
  if (c.loader == "synthetic") return std::make_unique<SyntheticSource>(c, rank, world);
  return std::make_unique<DatasetSource>(c, rank, world, allow_external);
}

}  // namespace ddnet::tools
