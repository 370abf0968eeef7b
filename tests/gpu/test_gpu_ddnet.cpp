// GPU entries for the models: 3D-DDnet on CUDA against PyTorch's fixtures (the same measures and
// tolerances as the CPU entries in tests/models/test_ddnet3d_parity.cpp), through cuDNN, the
// fused MS-SSIM and every CUDA layer of the network; the memory modes (fast, lean, stage
// recompute) agreeing on the device; and BatchNorm recalibration on the device.
#include <catch2/catch.hpp>

#include <vector>

#include "engine/rng.h"
#include "graph/arena.h"
#include "layers/loss.h"
#include "models/ddnet.h"
#include "models/recalibrate.h"
#include "tests/ddnet3d_parity.h"
#include "tests/op_harness.h"

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

TEST_CASE("gpu ddnet: fast, lean and stage recompute agree on the device", "[gpu][ddnet]") {
  // 2D-DDnet with two slices per batch (the skips are strided channel slices of the decoder's
  // buffers), one training step's forward and backward, in each memory mode. (That the running
  // statistics are updated once is the CPU entries' part: tests/models/test_ddnet_recompute.cpp.)
  const Device cuda = Device::cuda(0);
  struct Mode {
    bool lean;
    int recompute_from_level;
    const char* name;
  };
  const Mode modes[] = {{false, 0, "fast"}, {true, 0, "lean"}, {true, 1, "lean + recompute"}};
  std::vector<std::vector<Tensor>> results;
  for (const Mode& m : modes) {
    models::DDnetOptions o;
    o.dims = 2;
    o.seed = 5;
    o.lean = m.lean;
    o.recompute_from_level = m.recompute_from_level;
    models::DDnet net(o);
    net.train();
    nn::Arena arena = nn::pack_parameters(net, cuda);
    for (const auto& b : net.named_buffers())
      if (b.tensor->dtype() == DType::f32) *b.tensor = b.tensor->to(cuda);
    Generator g(100);
    const Tensor x = g.uniform(Shape{2, 1, 32, 32}).to(cuda),
                 y = g.uniform(Shape{2, 1, 32, 32}).to(cuda);
    arena.grads.zero_();
    const Tensor pred = net.forward(x);
    F::ddnet_loss(pred, y).total.backward();
    std::vector<Tensor> r = {pred.to(Device::cpu()), arena.grads.to(Device::cpu())};
    for (const auto& b : net.named_buffers())
      if (b.tensor->dtype() == DType::f32) r.push_back(b.tensor->to(Device::cpu()));
    results.push_back(std::move(r));
  }
  // cuDNN may choose other algorithms for other call sequences: a tight tolerance, not bits.
  for (std::size_t k = 1; k < results.size(); ++k)
    for (std::size_t i = 0; i < results[0].size(); ++i) {
      INFO(modes[k].name << " against fast, result " << i
                         << " (0: output, 1: gradients, then the running statistics)");
      test::check_close(results[k][i], results[0][i], 1e-4, 1e-6, modes[k].name);
    }
}

TEST_CASE("gpu recalibration: BatchNorm statistics over whole volumes match the CPU's",
          "[gpu][ddnet]") {
  // models/recalibrate.h on the device: training-mode forwards without gradients, each batch
  // weighing 1 / its number (the batch-norm kernels' running-statistics update with that factor),
  // in the lean mode `ddnet train` uses; the CPU's recalibration of the same weights is the
  // reference.
  Generator g(17);
  const std::vector<Tensor> volumes = {g.uniform(Shape{2, 1, 32, 32}),
                                       g.uniform(Shape{2, 1, 32, 32}, Device::cpu(), 0.2f, 0.6f)};
  std::vector<std::vector<Tensor>> stats;
  for (const Device device : {Device::cpu(), Device::cuda(0)}) {
    models::DDnetOptions o;
    o.dims = 2;
    o.seed = 9;
    o.lean = true;
    models::DDnet net(o);
    nn::Arena arena = nn::pack_parameters(net, device);
    for (const auto& b : net.named_buffers())
      if (b.tensor->dtype() == DType::f32) *b.tensor = b.tensor->to(device);
    models::recalibrate_batch_norm(
        net, [&net](const Tensor& x) { return net.forward(x); }, 2,
        [&volumes](std::int64_t i) { return volumes[static_cast<std::size_t>(i)]; }, device);
    std::vector<Tensor> s;
    for (const auto& b : net.named_buffers())
      if (b.tensor->dtype() == DType::f32) s.push_back(b.tensor->to(Device::cpu()));
    stats.push_back(std::move(s));
  }
  // The bottom level's statistics come from 8 values per channel (2 x 2 x 2 of a 2 x 32 x 32
  // batch after four poolings), behind convolutions whose float32 sums the CPU and the device
  // order differently: the worst element differed by 1.5e-4 relative on the emulator, hence 1e-3.
  REQUIRE(stats[0].size() == stats[1].size());
  for (std::size_t i = 0; i < stats[0].size(); ++i) {
    INFO("running statistic " << i);
    test::check_close(stats[1][i], stats[0][i], 1e-3, 1e-6, "recalibrated statistic");
  }
}
