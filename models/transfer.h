// Transfer learning 2D -> 3D (thesis section 2.5.2, Algorithm 2), by parameter name: every 3D
// kernel gets the donor's 2D kernel in its centre z slice and zeros elsewhere ("centre", the
// default), in every z slice ("all"), or in every z slice plus Gaussian noise of `noise`
// times the 2D kernel's standard deviation ("random"). Biases, batch-norm parameters and
// running statistics are copied. Transposed convolutions transfer the same way.
#pragma once

#include <cstdint>
#include <string>

#include "graph/module.h"

namespace ddnet::models {

enum class TransferFill { centre, all, random };
TransferFill parse_transfer_fill(const std::string& s);  // "centre"/"center", "all", "random"

struct TransferReport {
  int kernels = 0, copied = 0;
};

TransferReport transfer_2d_to_3d(nn::Module& donor2d, nn::Module& target3d,
                                 TransferFill fill = TransferFill::centre, double noise = 0.1,
                                 std::uint64_t seed = 0);

}  // namespace ddnet::models
