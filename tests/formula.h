// Exact integer formulas shared with the fixture generators (tests/fixtures/gen_msssim.py,
// gen_ddnet3d.py): large inputs and weights that both sides build bit for bit, so fixtures store
// only results.
#pragma once

#include <cstdint>

#include "engine/tensor.h"
#include "graph/module.h"

namespace ddnet::test {

std::uint32_t hash32(std::uint64_t i);
// gen_msssim.formula_volume: a (1, 1, d, h, w) prediction-like volume and its target.
void formula_volume(std::int64_t d, std::int64_t h, std::int64_t w, Tensor* pred, Tensor* target);
// gen_ddnet3d.formula_weights, over the module's parameters in order.
void formula_weights(nn::Module& m);

}  // namespace ddnet::test
