// The sample sources `ddnet train` feeds the training loop from: the HDF5 dataset through the
// published loaders (data/loader.h), or generated phantoms (data/synthetic.h).
#pragma once

#include <memory>

#include "models/train.h"

namespace ddnet::tools {

std::unique_ptr<models::SampleSource> make_sample_source(const models::TrainConfig& c);

}  // namespace ddnet::tools
