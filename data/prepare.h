// `ddnet prepare`: scans in clinical formats (and InVesalius projects) -> one HDF5 dataset.
// Inputs, each one of:
//   - a scan: a DICOM series folder, a NIfTI / MHA / MHD / NRRD file, a folder of TIFF slices,
//     a multi-page TIFF, or an InVesalius .inv3 project (standard dose);
//   - a pair: a folder holding a low-dose and a standard-dose scan, named LQ/HQ (the published
//     layout), ldct/ndct, low/full or low_dose/full_dose (any case; files or folders);
//   - a root of pairs: a folder whose subfolders are pairs (the published train/ test/ layout).
// Values: HU, clamped below -1024. Scans with no low-dose partner get one simulated
// (data/lowdose.h) unless simulation is off; their standard partner is then the noise-free
// reconstruction through the same projection and FBP, so the pair differs by dose alone.
// Splits: by scan (fractions, deterministic per seed), or, for few scans, slabs along z.
// The dataset is written to a temporary file and renamed: never half-written.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/lowdose.h"

namespace ddnet::data {

struct Slab {
  Split split;
  std::int64_t slices;  // -1: the rest
};

struct PrepareOptions {
  std::vector<std::string> inputs;
  std::string out;
  bool simulate = true;  // simulate low dose for scans that have none
  LowDoseOptions lowdose;
  double val_fraction = 0.1, test_fraction = 0.1;  // by-scan splits
  std::vector<Slab> slabs;  // non-empty: cut every scan into these slabs, in order from slice 0
  std::uint64_t seed = 0;
};

// "test:24,val:16,train:rest" -> slabs.
std::vector<Slab> parse_slabs(const std::string& spec);

struct PreparedScan {
  std::string name;
  Split split;
  std::int64_t slices, rows, cols;
  std::string ldct_source;
};

// Progress lines go to `log` (one per step). Returns what was written.
std::vector<PreparedScan> prepare_dataset(const PrepareOptions& o,
                                          const std::function<void(const std::string&)>& log);

// Reads one scan of any supported kind (.inv3 here, the rest through ITK), clamped at -1024 HU.
Volume read_any_scan(const std::string& path);

}  // namespace ddnet::data
