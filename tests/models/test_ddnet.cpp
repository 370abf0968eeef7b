// 2D-DDnet and 3D-DDnet: the published parameter counts, names, forward shapes, a backward that
// reaches every parameter, and the parameter/gradient arenas.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "engine/rng.h"
#include "graph/arena.h"
#include "layers/functional.h"
#include "models/ddnet.h"

using namespace ddnet;
using Catch::Matchers::Contains;

TEST_CASE("ddnet: the published parameter counts", "[models]") {
  REQUIRE(models::DDnet({3}).parameter_count() == 2619155);
  REQUIRE(models::DDnet({2}).parameter_count() == 566451);
}

TEST_CASE("ddnet: PyTorch's state_dict names", "[models]") {
  models::DDnet net({3});
  std::vector<std::string> names;
  for (const auto& n : net.state_dict()) names.push_back(n.name);
  for (const char* expect :
       {"conv1.weight", "dnet1.conv1_0.weight", "dnet1.conv2_3.bias",
        "dnet1.batch_norm1_0.running_mean", "dnet4.batch_norm2_3.num_batches_tracked",
        "convT1.bias", "convT8.weight", "batch13.weight"})
    REQUIRE(std::find(names.begin(), names.end(), expect) != names.end());
  REQUIRE(names.front() == "conv1.weight");
  REQUIRE(net.state_dict().size() == 315);  // as many as the published 2D file holds
}

TEST_CASE("ddnet: forward and backward of 3D-DDnet reach every parameter", "[models]") {
  models::DDnet net({3});
  net.train();
  Tensor x = Generator(3).uniform({1, 1, 16, 32, 32}, Device::cpu(), 0.f, 1.f);
  Tensor y = net.forward(x);
  REQUIRE(y.shape() == Shape({1, 1, 16, 32, 32}));
  F::mean(y).backward();
  for (const auto& p : net.named_parameters()) {
    INFO(p.name);
    REQUIRE(p.tensor->grad().defined());
    for (float v : p.tensor->grad().to_vector<float>()) REQUIRE(std::isfinite(v));
  }
  REQUIRE_THROWS_WITH(net.forward(Tensor::zeros({1, 1, 16, 32, 24})), Contains("divisible by 16"));
}

TEST_CASE("ddnet: 2D forward, eval mode keeps the running statistics", "[models]") {
  models::DDnet net({2});
  net.eval();
  const auto before = net.state_dict()[0].tensor->to_vector<float>();
  Tensor y = net.forward(Generator(4).uniform({2, 1, 32, 32}, Device::cpu(), 0.f, 1.f));
  REQUIRE(y.shape() == Shape({2, 1, 32, 32}));
  for (const auto& b : net.named_buffers())
    if (b.name == "batch2.running_mean")
      REQUIRE(b.tensor->to_vector<float>() == std::vector<float>(80, 0.f));
  REQUIRE(net.state_dict()[0].tensor->to_vector<float>() == before);
}

TEST_CASE("arena: parameters and gradients become views of two buffers", "[graph]") {
  models::DDnet net({2});
  const auto first = net.named_parameters()[0].tensor->to_vector<float>();
  nn::Arena a = nn::pack_parameters(net, Device::cpu());
  REQUIRE(a.params.numel() == 566451);
  REQUIRE(a.grads.numel() == 566451);
  const auto params = net.named_parameters();
  REQUIRE(params[0].tensor->shares_storage_with(a.params));
  REQUIRE(params[0].tensor->to_vector<float>() == first);  // values carried over
  Tensor y = net.forward(Generator(5).uniform({1, 1, 32, 32}, Device::cpu(), 0.f, 1.f));
  F::mean(y).backward();
  for (const auto& p : params) REQUIRE(p.tensor->grad().shares_storage_with(a.grads));
  double norm = 0;
  for (float g : a.grads.to_vector<float>())
    norm += static_cast<double>(g) * static_cast<double>(g);
  REQUIRE(norm > 0);
}

TEST_CASE("ddnet: an upsample-into override is used, and must return its destination", "[models]") {
  models::DDnetOptions o;
  o.dims = 3;
  o.seed = 5;
  models::DDnet a(o), b(o);
  a.train();
  b.train();
  int calls = 0;
  // The built-in computation through the extension point: the same values and gradients.
  b.set_upsample_into(
      [&calls](const Tensor& x, const Tensor& dst, kernels::UpsampleMode mode, bool align) {
        ++calls;
        return F::copy_into(F::upsample(x, 2, mode, align), dst);
      });
  const Tensor x = Generator(6).uniform({1, 1, 16, 32, 32}, Device::cpu(), 0.f, 1.f);
  // One graph at a time: backward releases the tape.
  const Tensor ya = a.forward(x);
  F::mean(ya).backward();
  const Tensor yb = b.forward(x);
  F::mean(yb).backward();
  REQUIRE(calls == 4);  // one per decoder stage
  REQUIRE(ya.to_vector<float>() == yb.to_vector<float>());
  const auto pa = a.named_parameters(), pb = b.named_parameters();
  for (std::size_t i = 0; i < pa.size(); ++i)
    REQUIRE(pa[i].tensor->grad().to_vector<float>() == pb[i].tensor->grad().to_vector<float>());
  b.set_upsample_into([](const Tensor& in, const Tensor&, kernels::UpsampleMode mode, bool align) {
    return F::upsample(in, 2, mode, align);  // not written into the buffer
  });
  REQUIRE_THROWS_WITH(b.forward(x), Contains("must return its destination"));
  b.set_upsample_into({});
  REQUIRE(b.forward(x).to_vector<float>() == ya.to_vector<float>());
}
