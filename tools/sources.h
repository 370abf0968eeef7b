// The sample sources `ddnet train` feeds the training loop from: the HDF5 dataset through the
// published loaders (data/loader.h), or generated phantoms (data/synthetic.h).
#pragma once

#include <memory>

#include "models/train.h"

namespace ddnet::tools {

// This rank's shard of the samples: equal counts per rank (padded by repetition), interleaved.
// allow_external: the dataset may reach into other files (data::Dataset::open; --allow-external).
std::unique_ptr<models::SampleSource> make_sample_source(const models::TrainConfig& c, int rank = 0,
                                                         int world = 1,
                                                         bool allow_external = false);

}  // namespace ddnet::tools
