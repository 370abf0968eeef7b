// The 3D-DDnet parity run against PyTorch's fixtures (tests/fixtures/gen_ddnet3d.py), shared by
// the CPU entries (tests/models/test_ddnet3d_parity.cpp) and the GPU ones (tests/gpu/).
#pragma once

#include <string>

#include "engine/device.h"
#include "tests/fixtures.h"

namespace ddnet::test {

struct Measured {
  double output_rel_l2 = 0, loss_abs = 0, grad_norm_rel_max = 0, grad_norm_rel_rms = 0;
};

// Builds 3D-DDnet with the formula weights on `device` (parameters packed into an arena there,
// buffers moved), runs the formula 1x1x16x64x64 volume forward in train or eval mode, the loss
// MSE + 0.1 (1 - MS-SSIM) and the backward, and measures them against fixture group `g`. With
// `tight`, sampled outputs, the loss parts and sampled gradients are also CHECKed at tight
// tolerances.
Measured run_ddnet3d_parity(const Fixtures& fx, const std::string& g, bool train, bool tight,
                            Device device);

}  // namespace ddnet::test
