// 3D-DDnet against PyTorch (tests/fixtures/gen_ddnet3d.py): fixed formula weights, a formula
// 1x1x16x64x64 volume; output, loss (MSE + 0.1 (1 - MS-SSIM)) and every parameter's gradient,
// against PyTorch's float64 values. Eval mode is well conditioned: tight tolerances. Train mode
// with these untrained weights amplifies float32 rounding (PyTorch's own float32 run is off by
// up to ~10% in some gradient norms), so there ours must be about as close to the float64
// values as PyTorch's float32 is (within 3x of its distance).
#include <catch2/catch.hpp>

#include "tests/ddnet3d_parity.h"

using namespace ddnet;
using test::Measured;
using test::run_ddnet3d_parity;

TEST_CASE("ddnet3d parity: eval mode, output, loss and all gradients match PyTorch",
          "[models][parity]") {
  test::Fixtures fx("ddnet3d.h5");
  const Measured m = run_ddnet3d_parity(fx, "ddnet3d_eval", false, true, Device::cpu());
  WARN("eval mode vs PyTorch float64: output rel L2 "
       << m.output_rel_l2 << " (PyTorch float32 "
       << fx.attr("ddnet3d_eval", "torch32_output_rel_l2") << "), worst gradient-norm rel "
       << m.grad_norm_rel_max);
  REQUIRE(m.output_rel_l2 < 1e-5);
  REQUIRE(m.loss_abs < 1e-7);
}

TEST_CASE("ddnet3d parity: train mode, as close to PyTorch float64 as PyTorch float32 is",
          "[models][parity]") {
  test::Fixtures fx("ddnet3d.h5");
  const std::string g = "ddnet3d_train";
  const Measured m = run_ddnet3d_parity(fx, g, true, false, Device::cpu());
  WARN("train mode vs PyTorch float64 (ours | PyTorch float32): output rel L2 "
       << m.output_rel_l2 << " | " << fx.attr(g, "torch32_output_rel_l2") << "; loss " << m.loss_abs
       << " | " << fx.attr(g, "torch32_loss_abs") << "; gradient-norm rel max "
       << m.grad_norm_rel_max << " | " << fx.attr(g, "torch32_grad_norm_rel_max") << ", rms "
       << m.grad_norm_rel_rms << " | " << fx.attr(g, "torch32_grad_norm_rel_rms"));
  CHECK(m.output_rel_l2 <= 3 * fx.attr(g, "torch32_output_rel_l2") + 1e-6);
  CHECK(m.loss_abs <= 3 * fx.attr(g, "torch32_loss_abs") + 1e-7);
  CHECK(m.grad_norm_rel_max <= 3 * fx.attr(g, "torch32_grad_norm_rel_max") + 1e-4);
  CHECK(m.grad_norm_rel_rms <= 3 * fx.attr(g, "torch32_grad_norm_rel_rms") + 1e-5);
}
