// `ddnet prepare`.
#include "data/prepare.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>

#include "data/inv3.h"
#include "data/path_util.h"
#include "data/scan_io.h"
#include "engine/error.h"
#include "engine/interrupt.h"
#include "engine/rng.h"

namespace ddnet::data {

namespace fs = std::filesystem;

namespace {

// The low- and standard-dose members of a pair folder, if it is one.
bool find_pair(const fs::path& dir, fs::path& low, fs::path& full) {
  if (!fs::is_directory(dir)) return false;
  static const std::vector<std::string> lows = {"lq", "ldct", "low", "low_dose", "lowdose"};
  static const std::vector<std::string> fulls = {"hq", "ndct", "full", "full_dose", "fulldose"};
  low.clear();
  full.clear();
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string stem = lower(e.path().filename().string());
    for (const char* ext : {".nii.gz", ".nii", ".mha", ".mhd", ".nrrd", ".nhdr", ".tiff", ".tif"})
      if (ends_with(stem, ext)) stem = stem.substr(0, stem.size() - std::string(ext).size());
    if (std::find(lows.begin(), lows.end(), stem) != lows.end()) low = e.path();
    if (std::find(fulls.begin(), fulls.end(), stem) != fulls.end()) full = e.path();
  }
  return !low.empty() && !full.empty();
}

struct Input {
  std::string name, full, low;  // low empty: standard dose only
};

std::string scan_name(const fs::path& p) {
  std::string n = p.filename().string();
  if (n.empty()) n = p.parent_path().filename().string();
  for (const char* ext :
       {".nii.gz", ".nii", ".mha", ".mhd", ".nrrd", ".nhdr", ".tiff", ".tif", ".inv3"})
    if (ends_with(lower(n), ext)) n = n.substr(0, n.size() - std::string(ext).size());
  std::replace(n.begin(), n.end(), '/', '_');
  return n.empty() ? "scan" : n;
}

std::vector<Input> expand(const std::string& path) {
  DDNET_CHECK(fs::exists(path), path, ": no such file or folder");
  fs::path low, full;
  if (find_pair(path, low, full)) return {{scan_name(path), full.string(), low.string()}};
  if (fs::is_directory(path)) {
    std::vector<Input> pairs;
    std::vector<fs::path> subs;
    for (const auto& e : fs::directory_iterator(path))
      if (e.is_directory()) subs.push_back(e.path());
    std::sort(subs.begin(), subs.end());
    bool all_pairs = !subs.empty();
    for (const auto& s : subs) {
      if (find_pair(s, low, full))
        pairs.push_back({scan_name(s), full.string(), low.string()});
      else
        all_pairs = false;
    }
    if (all_pairs) return pairs;
    if (!pairs.empty()) {
      std::string odd;
      for (const auto& s : subs)
        if (!find_pair(s, low, full)) odd = s.string();
      DDNET_FAIL(path, ": some subfolders are low/standard-dose pairs but ", odd,
                 " is not (expected LQ and HQ, or ldct and ndct, inside it)");
    }
  }
  return {{scan_name(path), path, ""}};  // one standard-dose scan (a series folder, a file)
}

}  // namespace

std::vector<Slab> parse_slabs(const std::string& spec) {
  std::vector<Slab> out;
  std::stringstream ss(spec);
  std::string item;
  bool rest = false;
  while (std::getline(ss, item, ',')) {
    const auto colon = item.find(':');
    DDNET_CHECK(colon != std::string::npos, "--slabs '", spec,
                "': expected split:count items, e.g. test:24,val:16,train:rest");
    Slab s{parse_split(item.substr(0, colon)), -1};
    const std::string count = item.substr(colon + 1);
    if (count == "rest") {
      DDNET_CHECK(!rest, "--slabs '", spec, "': only one slab can take the rest");
      rest = true;
    } else {
      try {
        s.slices = std::stoll(count);
      } catch (const std::exception&) {
        DDNET_FAIL("--slabs '", spec, "': '", count, "' is not a slice count or 'rest'");
      }
      DDNET_CHECK(s.slices >= 1, "--slabs '", spec, "': slab sizes must be >= 1");
    }
    out.push_back(s);
  }
  DDNET_CHECK(!out.empty(), "--slabs is empty");
  return out;
}

Volume read_any_scan(const std::string& path) {
  Volume v = ends_with(lower(path), ".inv3") ? read_inv3(path) : read_scan(path);
  clamp_below(v);
  if (v.source.empty()) v.source = path;
  return v;
}

std::vector<PreparedScan> prepare_dataset(const PrepareOptions& o,
                                          const std::function<void(const std::string&)>& log) {
  DDNET_CHECK(!o.inputs.empty(), "prepare: no input scans given");
  DDNET_CHECK(!o.out.empty(), "prepare: no output file given (--out)");
  DDNET_CHECK(o.val_fraction >= 0 && o.test_fraction >= 0 && o.val_fraction + o.test_fraction < 1,
              "prepare: val and test fractions must be >= 0 and sum below 1");
  if (o.simulate) o.lowdose.validate();
  std::vector<Input> inputs;
  for (const auto& p : o.inputs) {
    auto more = expand(p);
    inputs.insert(inputs.end(), more.begin(), more.end());
  }
  std::map<std::string, int> seen;  // unique names
  for (auto& in : inputs)
    if (seen[in.name]++) in.name += "_" + std::to_string(seen[in.name] - 1);

  // By-scan splits: a seeded permutation; the last ones go to test, then val.
  std::vector<Split> split(inputs.size(), Split::train);
  if (o.slabs.empty() && inputs.size() > 1) {
    std::vector<std::size_t> order(inputs.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    Generator g(o.seed ^ 0x53504c4954ull);
    for (std::size_t i = order.size() - 1; i > 0; --i)
      std::swap(order[i], order[g.next_below(i + 1)]);
    const auto n = static_cast<double>(inputs.size());
    const auto n_test = static_cast<std::size_t>(std::lround(o.test_fraction * n));
    const auto n_val = static_cast<std::size_t>(std::lround(o.val_fraction * n));
    for (std::size_t i = 0; i < n_test && i < order.size(); ++i) split[order[i]] = Split::test;
    for (std::size_t i = n_test; i < n_test + n_val && i < order.size(); ++i)
      split[order[i]] = Split::val;
  }

  DatasetWriter writer(o.out);
  std::vector<PreparedScan> written;
  for (std::size_t s = 0; s < inputs.size(); ++s) {
    const Input& in = inputs[s];
    const std::string tag = detail::concat("[", s + 1, "/", inputs.size(), "] ", in.name, ": ");
    check_interrupted("prepare");
    const auto t0 = std::chrono::steady_clock::now();
    Volume full = read_any_scan(in.full);
    log(detail::concat(tag, "read ", in.full, " (", full.slices, "x", full.rows, "x", full.cols,
                       ", spacing ", full.spacing[0], "x", full.spacing[1], "x", full.spacing[2],
                       " mm)"));
    Volume low;
    std::string ldct_source;
    bool has_low = false;
    if (!in.low.empty()) {
      low = read_any_scan(in.low);
      DDNET_CHECK(low.slices == full.slices && low.rows == full.rows && low.cols == full.cols,
                  in.low, ": low-dose scan ", low.slices, "x", low.rows, "x", low.cols,
                  " does not match its standard-dose partner ", in.full, " (", full.slices, "x",
                  full.rows, "x", full.cols, ")");
      ldct_source = "file " + in.low;
      has_low = true;
    } else if (o.simulate) {
      LowDoseOptions lo = o.lowdose;
      lo.seed = o.lowdose.seed ^ (0x9e3779b97f4a7c15ull * (s + 1));  // each scan its own noise
      SimulatedPair p = simulate_low_dose(full, lo);
      const std::string src = full.source;
      full = std::move(p.standard);
      full.source = src + " (reconstructed: same projection and FBP as ldct, no added noise)";
      low = std::move(p.low);
      clamp_below(low);
      clamp_below(full);
      ldct_source = detail::concat(
          "simulated: ", lo.geometry, " beam, dose fraction ", lo.dose_fraction, " of ",
          lo.incident_photons, " photons per bin, electronic noise ", lo.electronic_noise, ", ",
          lo.filter, " filter, seed ", o.lowdose.seed, " (scan ", s + 1, ")");
      has_low = true;
      log(detail::concat(
          tag, ldct_source, " (",
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), " s)"));
    }
    auto add = [&](const std::string& name, Split sp, const Volume& nd, const Volume* ld) {
      check_interrupted("prepare");
      writer.add_scan(name, sp, nd, ld, ldct_source);
      written.push_back({name, sp, nd.slices, nd.rows, nd.cols, ldct_source});
      log(detail::concat(tag, "wrote ", name, " (", split_name(sp), ", ", nd.slices, " slices)"));
    };
    if (o.slabs.empty()) {
      add(in.name, split[s], full, has_low ? &low : nullptr);
      continue;
    }
    std::int64_t fixed = 0;
    for (const Slab& sl : o.slabs) fixed += std::max<std::int64_t>(sl.slices, 0);
    DDNET_CHECK(fixed <= full.slices, in.full, ": the slabs need ", fixed, " slices, the scan has ",
                full.slices);
    std::int64_t at = 0;
    std::map<Split, int> uses;
    for (const Slab& sl : o.slabs) ++uses[sl.split];
    std::map<Split, int> used;
    for (const Slab& sl : o.slabs) {
      const std::int64_t n = sl.slices < 0 ? full.slices - fixed : sl.slices;
      if (n <= 0) continue;
      const Volume nd = full.slab(at, n);
      const Volume ld = has_low ? low.slab(at, n) : Volume{};
      const int k = used[sl.split]++;
      add(detail::concat(in.name, "_", split_name(sl.split),
                         uses[sl.split] > 1 ? detail::concat("_", k) : std::string()),
          sl.split, nd, has_low ? &ld : nullptr);
      at += n;
    }
  }
  check_interrupted("prepare");
  writer.commit();
  log(detail::concat("dataset written to ", o.out));
  return written;
}

}  // namespace ddnet::data
