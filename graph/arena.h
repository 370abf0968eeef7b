// All parameters in one contiguous buffer and all gradients in another, each tensor a view:
// the optimizer and the data-parallel all-reduce then work on a few large calls.
#pragma once

#include "graph/module.h"

namespace ddnet::nn {

struct Arena {
  Tensor params;  // (total,) every parameter's values, in named_parameters() order
  Tensor grads;   // (total,) their gradients; each parameter's grad() is a view of it
  std::vector<Named> layout;
  std::vector<std::int64_t> offsets;
};

// Moves the module's parameters into one buffer on `device` (their values copied) and makes
// each gradient a view of a second, zeroed buffer. Call once, after building the module.
Arena pack_parameters(Module& m, Device device);

}  // namespace ddnet::nn
