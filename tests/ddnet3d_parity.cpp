// The 3D-DDnet parity run (tests/ddnet3d_parity.h). Eval mode is well conditioned: tight
// tolerances. Train mode with these untrained weights amplifies float32 rounding, so there the
// callers compare distances to PyTorch's float64 values with PyTorch float32's own.
#include "tests/ddnet3d_parity.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <sstream>

#include "graph/arena.h"
#include "layers/loss.h"
#include "models/ddnet.h"
#include "tests/formula.h"
#include "tests/op_harness.h"

namespace ddnet::test {

Measured run_ddnet3d_parity(const Fixtures& fx, const std::string& g, bool train, bool tight,
                            Device device) {
  models::DDnet net({3});
  formula_weights(net);
  const nn::Arena arena = nn::pack_parameters(net, device);
  for (const auto& b : net.named_buffers())
    if (b.tensor->dtype() == DType::f32) *b.tensor = b.tensor->to(device);
  net.train(train);
  Tensor input, target;
  formula_volume(16, 64, 64, &input, &target);
  input = input.to(device);
  target = target.to(device);
  Tensor out = net.forward(input);
  const auto o = out.to_vector<float>();
  std::vector<double> sample;
  for (std::size_t j = 0; j < 4096; ++j)
    sample.push_back(static_cast<double>(o[(j * 7919) % o.size()]));
  const auto ref_out = fx.tensor(g, "output_sample").to_vector<float>();
  Measured m;
  double num = 0, den = 0;
  for (std::size_t j = 0; j < sample.size(); ++j) {
    const double r = ref_out[j];
    num += (sample[j] - r) * (sample[j] - r);
    den += r * r;
  }
  m.output_rel_l2 = std::sqrt(num / den);
  auto loss = F::ddnet_loss(out, target);
  m.loss_abs = std::fabs(loss.total.item() - fx.tensor(g, "loss").item());
  if (tight) {
    check_close(Tensor::from_vector(sample, {4096}), to_f64(fx.tensor(g, "output_sample")), 1e-4,
                1e-6, "output");
    check_close(loss.mse, fx.tensor(g, "mse"), 1e-5, 1e-9, "mse");
    check_close(loss.msssim, fx.tensor(g, "msssim"), 1e-5, 1e-8, "msssim");
  }
  loss.total.backward();
  std::istringstream names(fx.attr_string(g, "names"));
  const auto params = net.named_parameters();
  const auto samples = fx.tensor(g, "grad_samples").to_vector<float>();
  const auto norms = fx.tensor(g, "grad_norms").to_vector<float>();
  REQUIRE(norms.size() == params.size());
  double sq = 0;
  for (std::size_t k = 0; k < params.size(); ++k) {
    std::string name;
    std::getline(names, name);
    INFO("parameter " << k << " " << params[k].name);
    REQUIRE(name == params[k].name);  // PyTorch's parameter order
    const auto gr = params[k].tensor->grad().to_vector<float>();
    double norm = 0;
    for (float v : gr) norm += static_cast<double>(v) * static_cast<double>(v);
    norm = std::sqrt(norm);
    const double ref = static_cast<double>(norms[k]);
    const double rel = std::fabs(norm - ref) / ref;
    m.grad_norm_rel_max = std::max(m.grad_norm_rel_max, rel);
    sq += rel * rel;
    if (tight) {
      CHECK(rel <= 1e-3);
      for (std::size_t j = 0; j < 8; ++j) {
        const double got = gr[(j * 7919 + k) % gr.size()], want = samples[k * 8 + j];  // NOLINT
        CHECK(std::fabs(got - want) <=
              1e-3 * std::fabs(want) + 1e-4 * ref / std::sqrt(static_cast<double>(gr.size())));
      }
    }
  }
  m.grad_norm_rel_rms = std::sqrt(sq / static_cast<double>(params.size()));
  return m;
}

}  // namespace ddnet::test
