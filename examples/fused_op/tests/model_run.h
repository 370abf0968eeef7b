// One training step's forward and backward of a small DDnet (and an eval forward after it), with
// or without the fused operator switched in: what the model-switch tests compare.
#pragma once

#include <string>
#include <vector>

#include "engine/autograd.h"
#include "graph/arena.h"
#include "helpers.h"
#include "layers/functional.h"
#include "layers/loss.h"
#include "models/ddnet.h"

namespace fused_op::test {

// What one run produced, by name: the training forward's output, each parameter's gradient, each
// running statistic after the step, and the eval forward's output, on the host.
struct ModelResult {
  std::string name;
  Tensor value;
  bool gradient;
};
struct ModelRun {
  std::vector<ModelResult> results;
  int fused_calls = 0;  // how often the model called the fused operator
};

inline ModelRun run_model(int dims, const Shape& input, bool fused, Device device) {
  ddnet::models::DDnetOptions o;
  o.dims = dims;
  o.seed = 5;
  ddnet::models::DDnet net(o);
  ModelRun r;
  // The operator itself, counting its calls: each forward has four decoder stages.
  if (fused)
    net.set_upsample_into([&r](const Tensor& x, const Tensor& dst, UpsampleMode mode, bool align) {
      ++r.fused_calls;
      return fused_op::upsample_into(x, dst, mode, align);
    });
  net.train();
  ddnet::nn::Arena arena = ddnet::nn::pack_parameters(net, device);
  for (const auto& b : net.named_buffers())
    if (b.tensor->dtype() == DType::f32) *b.tensor = b.tensor->to(device);
  const Tensor x = random(input, DType::f32, 21, device);
  const Tensor target = random(input, DType::f32, 22, device);
  arena.grads.zero_();
  const Tensor pred = net.forward(x);
  ddnet::F::mse(pred, target).backward();
  r.results = {{"train output", pred.to(Device::cpu()), false}};
  for (const auto& p : net.named_parameters())
    r.results.push_back({"gradient of " + p.name, p.tensor->grad().to(Device::cpu()), true});
  for (const auto& b : net.named_buffers())
    if (b.tensor->dtype() == DType::f32)
      r.results.push_back({b.name, b.tensor->to(Device::cpu()), false});
  net.eval();
  ddnet::NoGradGuard no_grad;
  r.results.push_back({"eval output", net.forward(x).to(Device::cpu()), false});
  return r;
}

}  // namespace fused_op::test
