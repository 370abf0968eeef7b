// Volume loaders.
#include "data/loader.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/error.h"
#include "engine/rng.h"

namespace ddnet::data {

namespace {

std::uint64_t mix(std::uint64_t x) {  // splitmix64's finaliser
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

std::uint64_t key(std::uint64_t seed, std::uint64_t tag, std::uint64_t a, std::uint64_t b) {
  return mix(mix(mix(seed ^ tag) ^ a) ^ b);
}

constexpr std::uint64_t kShuffleTag = 0x5348554646ull, kStartTag = 0x5354415254ull,
                        kCropTag = 0x43524f50ull, kFixedEpoch = ~0ull;

}  // namespace

LoaderKind parse_loader_kind(const std::string& name) {
  if (name == "2d" || name == "slices") return LoaderKind::slices2d;
  if (name == "strided") return LoaderKind::strided;
  if (name == "centre" || name == "center") return LoaderKind::centre;
  if (name == "random") return LoaderKind::random;
  DDNET_FAIL("unknown loader '", name, "': expected 2d, strided, centre or random");
}

const char* loader_kind_name(LoaderKind k) {
  switch (k) {
    case LoaderKind::slices2d:
      return "2d";
    case LoaderKind::strided:
      return "strided";
    case LoaderKind::centre:
      return "centre";
    case LoaderKind::random:
      return "random";
  }
  return "?";
}

std::vector<std::int64_t> strided_slices(std::int64_t n, std::int64_t v) {
  DDNET_CHECK(v >= 1 && n >= v, "strided loader: ", n, " slices cannot give ", v);
  const std::int64_t stride = n / v;  // of the first n - n % v slices, every stride-th
  std::vector<std::int64_t> out;
  for (std::int64_t i = 0; i < n - n % v; ++i)
    if (i % stride == 0) out.push_back(i);
  return out;
}

std::vector<std::int64_t> centre_slices(std::int64_t n, std::int64_t v) {
  DDNET_CHECK(v >= 1 && n >= v, "centre loader: ", n, " slices cannot give ", v);
  std::vector<std::int64_t> out;
  for (std::int64_t i = 0; i < v; ++i) out.push_back((n - v) / 2 + i);
  return out;
}

std::vector<std::int64_t> random_slices(std::int64_t n, std::int64_t v, std::uint64_t seed) {
  DDNET_CHECK(v >= 1 && n >= v, "random loader: ", n, " slices cannot give ", v);
  Generator g(seed);
  const auto start = static_cast<std::int64_t>(g.next_below(static_cast<std::uint64_t>(n - v + 1)));
  std::vector<std::int64_t> out;
  for (std::int64_t i = 0; i < v; ++i) out.push_back(start + i);
  return out;
}

void LoaderOptions::validate() const {
  parse_loader_kind(kind);
  DDNET_CHECK(slices >= 1, "loader: slices must be >= 1, got ", slices);
  DDNET_CHECK(crop >= 0, "loader: crop must be >= 0 (0 = whole slices), got ", crop);
  DDNET_CHECK(samples_per_scan >= 1, "loader: samples_per_scan must be >= 1, got ",
              samples_per_scan);
  DDNET_CHECK(normalise == "minmax" || normalise == "window", "loader: normalise '", normalise,
              "': expected minmax or window");
  DDNET_CHECK(window_hi > window_lo, "loader: window_hi (", window_hi, ") must exceed window_lo (",
              window_lo, ")");
  DDNET_CHECK(world >= 1 && rank >= 0 && rank < world, "loader: rank ", rank,
              " is not in [0, world ", world, ")");
}

std::pair<float, float> normalise_minmax(float* x, std::int64_t n) {
  float lo = std::numeric_limits<float>::infinity(), hi = -lo;
  for (std::int64_t i = 0; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  // The published code divides by (max - min) unguarded; a constant sample would be NaN. Ours
  // maps it to 0.
  const double range = static_cast<double>(hi) - static_cast<double>(lo);
  for (std::int64_t i = 0; i < n; ++i)
    x[i] = range > 0
               ? static_cast<float>((static_cast<double>(x[i]) - static_cast<double>(lo)) / range)
               : 0.f;
  return {lo, hi};
}

void normalise_window(float* x, std::int64_t n, double lo, double hi) {
  for (std::int64_t i = 0; i < n; ++i)
    x[i] = static_cast<float>(std::clamp((static_cast<double>(x[i]) - lo) / (hi - lo), 0.0, 1.0));
}

VolumeLoader::VolumeLoader(std::shared_ptr<const Dataset> dataset, Split split,
                           LoaderOptions options)
    : dataset_(std::move(dataset)), split_(split), opt_(std::move(options)) {
  opt_.validate();
  kind_ = parse_loader_kind(opt_.kind);
  const Dataset& ds = *dataset_;
  scans_ = ds.scans_in(split_);
  DDNET_CHECK(!scans_.empty(), ds.path(), ": no scans in the '", split_name(split_),
              "' split (prepare assigns splits; see `ddnet prepare --help`)");
  for (const std::size_t s : scans_) {
    const ScanInfo& info = ds.scans()[s];
    DDNET_CHECK(info.has_ldct, ds.path(), ": scan '", info.name,
                "' has no low-dose volume 'ldct' to train or evaluate on (simulate one with "
                "`ddnet prepare --simulate-dose`)");
    if (is_3d())
      DDNET_CHECK(info.slices >= opt_.slices, ds.path(), ": scan '", info.name, "' has ",
                  info.slices, " slices, fewer than the ", opt_.slices,
                  " a volume needs (lower `slices` or drop the scan)");
    if (opt_.crop > 0)
      DDNET_CHECK(opt_.crop <= info.rows && opt_.crop <= info.cols, ds.path(), ": scan '",
                  info.name, "' is ", info.rows, "x", info.cols, ", smaller than the crop ",
                  opt_.crop);
    if (!is_3d())
      for (std::int64_t k = 0; k < info.slices; ++k) slices2d_.emplace_back(s, k);
  }
  items_ = is_3d() ? static_cast<std::int64_t>(scans_.size()) * opt_.samples_per_scan
                   : static_cast<std::int64_t>(slices2d_.size());
  per_rank_ = (items_ + opt_.world - 1) / opt_.world;  // padded by repetition
}

ItemSpec VolumeLoader::spec(std::int64_t epoch, std::int64_t index) const {
  DDNET_CHECK(index >= 0 && index < per_rank_, "loader: item ", index, " out of range (", per_rank_,
              " per rank)");
  const bool training = split_ == Split::train;
  // Global position of this rank's item (DistributedSampler's interleaving), then the epoch's
  // permutation, then wrap the padding onto the first items.
  std::int64_t g = index * opt_.world + opt_.rank;
  if (g >= items_) g -= items_;
  if (training) {
    std::vector<std::int64_t> order(static_cast<std::size_t>(items_));
    for (std::int64_t i = 0; i < items_; ++i) order[static_cast<std::size_t>(i)] = i;
    Generator rng(key(opt_.seed, kShuffleTag, static_cast<std::uint64_t>(epoch), 0));
    for (std::int64_t i = items_ - 1; i > 0; --i)
      std::swap(order[static_cast<std::size_t>(i)],
                order[static_cast<std::size_t>(rng.next_below(static_cast<std::uint64_t>(i + 1)))]);
    g = order[static_cast<std::size_t>(g)];
  }
  const std::uint64_t ep = training ? static_cast<std::uint64_t>(epoch) : kFixedEpoch;
  ItemSpec s;
  if (is_3d()) {
    s.scan = scans_[static_cast<std::size_t>(g / opt_.samples_per_scan)];
    const std::int64_t n = dataset_->scans()[s.scan].slices;
    switch (kind_) {
      case LoaderKind::strided:
        s.slices = strided_slices(n, opt_.slices);
        break;
      case LoaderKind::centre:
        s.slices = centre_slices(n, opt_.slices);
        break;
      default:
        s.slices = random_slices(n, opt_.slices,
                                 key(opt_.seed, kStartTag, ep, static_cast<std::uint64_t>(g)));
    }
  } else {
    s.scan = slices2d_[static_cast<std::size_t>(g)].first;
    s.slices = {slices2d_[static_cast<std::size_t>(g)].second};
  }
  const ScanInfo& info = dataset_->scans()[s.scan];
  s.rows = opt_.crop > 0 ? opt_.crop : info.rows;
  s.cols = opt_.crop > 0 ? opt_.crop : info.cols;
  if (training && opt_.crop > 0) {
    Generator rng(key(opt_.seed, kCropTag, ep, static_cast<std::uint64_t>(g)));
    s.row0 = static_cast<std::int64_t>(
        rng.next_below(static_cast<std::uint64_t>(info.rows - s.rows + 1)));
    s.col0 = static_cast<std::int64_t>(
        rng.next_below(static_cast<std::uint64_t>(info.cols - s.cols + 1)));
  } else {
    s.row0 = (info.rows - s.rows) / 2;
    s.col0 = (info.cols - s.cols) / 2;
  }
  return s;
}

LoadedSample VolumeLoader::load(const ItemSpec& s) const {
  const auto v = static_cast<std::int64_t>(s.slices.size());
  const Shape shape = is_3d() ? Shape{1, 1, v, s.rows, s.cols} : Shape{1, 1, s.rows, s.cols};
  LoadedSample out;
  out.spec = s;
  out.scan = dataset_->scans()[s.scan].name;
  out.input = Tensor::empty(shape);
  out.target = Tensor::empty(shape);
  float* in = out.input.data<float>();
  float* tg = out.target.data<float>();
  dataset_->read_slices(s.scan, true, s.slices, s.row0, s.rows, s.col0, s.cols, in);
  dataset_->read_slices(s.scan, false, s.slices, s.row0, s.rows, s.col0, s.cols, tg);
  const std::int64_t n = out.input.numel();
  if (opt_.normalise == "minmax") {
    std::tie(out.input_lo, out.input_hi) = normalise_minmax(in, n);
    std::tie(out.target_lo, out.target_hi) = normalise_minmax(tg, n);
  } else {
    normalise_window(in, n, opt_.window_lo, opt_.window_hi);
    normalise_window(tg, n, opt_.window_lo, opt_.window_hi);
    out.input_lo = out.target_lo = static_cast<float>(opt_.window_lo);
    out.input_hi = out.target_hi = static_cast<float>(opt_.window_hi);
  }
  // A constant training input (a scan of air clamped to -1024 HU, a window it lies outside)
  // becomes all zeros, which DDnet's input BatchNorm cannot normalise (variance 0): every
  // BatchNorm after it then has (near-)constant channels, each multiplies the gradient by up to
  // 1/sqrt(eps) ~ 316, and the gradient overflows to NaN while the loss stays finite.
  if (split_ == Split::train)
    DDNET_CHECK(std::any_of(in, in + n, [v = in[0]](float x) { return x != v; }), dataset_->path(),
                ": scan '", out.scan, "' slices ", s.slices.front(), "..", s.slices.back(),
                ", rows ", s.row0, "+", s.rows, ", cols ", s.col0, "+", s.cols,
                ": the low-dose input is constant (",
                opt_.normalise == "minmax" ? detail::concat(out.input_lo, " HU everywhere")
                                           : std::string("after the HU window"),
                "): nothing to learn from, and it makes the training gradient NaN; drop the scan "
                "from the train split or fix its ldct");
  return out;
}

}  // namespace ddnet::data
