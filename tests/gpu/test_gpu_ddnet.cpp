// GPU entries for the models: 3D-DDnet on CUDA against PyTorch's fixtures (the same measures and
// tolerances as the CPU entries in tests/models/test_ddnet3d_parity.cpp), through cuDNN, the
// fused MS-SSIM and every CUDA layer of the network.
#include <catch2/catch.hpp>

#include "tests/ddnet3d_parity.h"

using namespace ddnet;

TEST_CASE("gpu ddnet3d parity: eval mode, output, loss and all gradients match PyTorch",
          "[gpu][ddnet]") {
  test::Fixtures fx("ddnet3d.h5");
  const test::Measured m =
      test::run_ddnet3d_parity(fx, "ddnet3d_eval", false, true, Device::cuda(0));
  WARN("CUDA, eval mode vs PyTorch float64: output rel L2 "
       << m.output_rel_l2 << ", worst gradient-norm rel " << m.grad_norm_rel_max);
  REQUIRE(m.output_rel_l2 < 1e-5);
  REQUIRE(m.loss_abs < 1e-7);
}

TEST_CASE("gpu ddnet3d parity: train mode, as close to PyTorch float64 as PyTorch float32 is",
          "[gpu][ddnet]") {
  test::Fixtures fx("ddnet3d.h5");
  const std::string g = "ddnet3d_train";
  const test::Measured m = test::run_ddnet3d_parity(fx, g, true, false, Device::cuda(0));
  WARN("CUDA, train mode vs PyTorch float64 (ours | PyTorch float32): output rel L2 "
       << m.output_rel_l2 << " | " << fx.attr(g, "torch32_output_rel_l2")
       << "; gradient-norm rel max " << m.grad_norm_rel_max << " | "
       << fx.attr(g, "torch32_grad_norm_rel_max"));
  CHECK(m.output_rel_l2 <= 3 * fx.attr(g, "torch32_output_rel_l2") + 1e-6);
  CHECK(m.loss_abs <= 3 * fx.attr(g, "torch32_loss_abs") + 1e-7);
  CHECK(m.grad_norm_rel_max <= 3 * fx.attr(g, "torch32_grad_norm_rel_max") + 1e-4);
  CHECK(m.grad_norm_rel_rms <= 3 * fx.attr(g, "torch32_grad_norm_rel_rms") + 1e-5);
}
