// Synthetic paired volumes for training before the HDF5 dataset (issue 6) lands: a smooth
// phantom (ellipsoids of different densities in a body) as the standard-dose target and the
// same phantom plus Gaussian noise as the low-dose input, both in [0, 1]. Sample i of a split is
// a pure function of (seed, split, i): any sample can be regenerated, so resuming needs no state.
#pragma once

#include <cstdint>

#include "engine/tensor.h"

namespace ddnet::data {

struct SyntheticPair {
  Tensor input, target;  // (1, 1, D, H, W) or (1, 1, H, W)
};

// dims 2 or 3; sizes (D ignored in 2D); noise: standard deviation of the added noise.
SyntheticPair synthetic_pair(int dims, std::int64_t d, std::int64_t h, std::int64_t w,
                             std::uint64_t seed, int split, std::int64_t index,
                             double noise = 0.05);

}  // namespace ddnet::data
