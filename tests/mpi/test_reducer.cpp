// The gradient reducer (dist/reducer.h) on every rank of the launch: buckets in reverse
// parameter order with a small first one, buckets started in order whatever order gradients
// become ready in, overlap with a real backward (the first bucket starts before backward ends),
// and the result: every rank holds the average of the ranks' gradients.
#include <catch2/catch.hpp>

#include <cmath>
#include <numeric>

#include "dist/nccl.h"
#include "dist/reducer.h"
#include "engine/autograd.h"
#include "engine/device.h"
#include "engine/rng.h"
#include "graph/arena.h"
#include "layers/loss.h"
#include "models/ddnet.h"
#include "tests/skip.h"

using namespace ddnet;

namespace {

// Four leaf parameters of 300, 50, 1000 and 20 values packed in one gradient arena.
struct Toy {
  Tensor grads = Tensor::zeros(Shape{1370});
  std::vector<Tensor> params;
  std::vector<std::int64_t> offsets{0, 300, 350, 1350};
  Toy() {
    for (std::size_t i = 0; i < offsets.size(); ++i) {
      const std::int64_t n = (i + 1 < offsets.size() ? offsets[i + 1] : 1370) - offsets[i];
      Tensor p = Tensor::full(Shape{n}, 1.0);
      p.set_requires_grad();
      p.set_grad(grads.narrow(0, offsets[i], n));
      params.push_back(p);
    }
  }
};

}  // namespace

TEST_CASE("reducer: buckets in reverse parameter order, a small first one", "[mpi]") {
  Toy t;
  dist::ReducerOptions o;
  o.first_bucket_bytes = 20 * 4;  // 20 values: the last parameter alone
  o.bucket_bytes = 1000 * 4;
  dist::Reducer r(dist::World::get(), t.grads, t.params, t.offsets, o);
  const auto& b = r.buckets();
  REQUIRE(b.size() == 3);
  CHECK(b[0].params == std::vector<std::size_t>{3});
  CHECK(b[0].begin == 1350);
  CHECK(b[0].end == 1370);
  CHECK(b[1].params == std::vector<std::size_t>{2});  // 1000 values fill a bucket
  CHECK(b[2].params == std::vector<std::size_t>{1, 0});
  CHECK(b[2].begin == 0);
  CHECK(b[2].end == 350);
  CHECK_THROWS_WITH(dist::Reducer(dist::World::get(), t.grads, t.params, {0, 300, 351, 1350}, o),
                    Catch::Contains("not where the arena layout says"));
}

TEST_CASE("reducer: buckets start in order whatever order gradients are ready in", "[mpi]") {
  Toy t;
  dist::ReducerOptions o;
  o.first_bucket_bytes = 4;  // one parameter per bucket
  o.bucket_bytes = 4;
  dist::Reducer r(dist::World::get(), t.grads, t.params, t.offsets, o);
  REQUIRE(r.buckets().size() == 4);  // buckets 0..3 hold parameters 3, 2, 1, 0
  const dist::World& w = dist::World::get();
  for (std::int64_t i = 0; i < 1370; ++i)
    t.grads.data<float>()[i] = static_cast<float>(w.rank() + 1);
  r.begin();
  r.mark_ready(1);  // bucket 2: must wait for buckets 0 and 1
  CHECK(r.last().launch_order.empty());
  r.mark_ready(3);  // bucket 0 starts
  CHECK(r.last().launch_order == std::vector<std::size_t>{0});
  r.mark_ready(2);  // bucket 1, then the waiting bucket 2
  CHECK(r.last().launch_order == std::vector<std::size_t>{0, 1, 2});
  CHECK_THROWS_WITH(r.mark_ready(2), Catch::Contains("reported ready twice"));
  r.finish();  // parameter 0 never reported: started here
  CHECK(r.last().launch_order == std::vector<std::size_t>{0, 1, 2, 3});
  CHECK(r.last().launched_in_backward == std::vector<int>{1, 1, 1, 0});
  const float mean = static_cast<float>(w.size() + 1) / 2;
  for (std::int64_t i = 0; i < 1370; ++i) REQUIRE(t.grads.data<float>()[i] == mean);
}

TEST_CASE("reducer: overlapped with a real backward, every rank ends with the mean gradient",
          "[mpi]") {
  const dist::World& w = dist::World::get();
  models::DDnet net({2, kernels::UpsampleMode::linear, 5, false});
  nn::Arena arena = nn::pack_parameters(net, Device::cpu());
  std::vector<Tensor> params;
  for (const auto& p : net.named_parameters()) params.push_back(*p.tensor);
  Generator g(100 + static_cast<std::uint64_t>(w.rank()));  // each rank its own sample
  const Tensor x = g.uniform(Shape{1, 1, 32, 32}), y = g.uniform(Shape{1, 1, 32, 32});

  // The local gradient, and the expected mean of all ranks' by a plain all-reduce.
  arena.grads.zero_();
  F::ddnet_loss(net.forward(x), y).total.backward();
  std::vector<float> expect = arena.grads.to_vector<float>();
  w.allreduce_sum(expect.data(), expect.size());
  for (float& v : expect) v /= static_cast<float>(w.size());

  dist::ReducerOptions o;
  o.first_bucket_bytes = 16 << 10;
  o.bucket_bytes = 256 << 10;
  dist::Reducer r(w, arena.grads, params, arena.offsets, o);
  REQUIRE(r.buckets().size() > 4);
  arena.grads.zero_();
  r.begin();
  F::ddnet_loss(net.forward(x), y).total.backward();
  r.finish();
  // Overlap: buckets started during backward, the first (the last layers) among them.
  const auto& s = r.last();
  CHECK(s.launch_order.front() == 0);
  CHECK(s.launched_in_backward[0] == 1);
  const auto started = std::count(s.launched_in_backward.begin(), s.launched_in_backward.end(), 1);
  CHECK(started >= static_cast<long>(r.buckets().size()) - 1);
  const std::vector<float> got = arena.grads.to_vector<float>();
  double worst = 0, scale = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    worst = std::max(worst, std::abs(static_cast<double>(got[i]) - static_cast<double>(expect[i])));
    scale = std::max(scale, std::abs(static_cast<double>(expect[i])));
  }
  CHECK(worst <= 1e-6 * scale);
  // Every rank holds the same gradient.
  double sum = std::accumulate(got.begin(), got.end(), 0.0), first = sum;
  w.broadcast(&first, sizeof first);
  CHECK(sum == first);
}

// The same over NCCL, rank r on cuda:r (tagged [cuda]: run by its own entry, under the CUDA
// emulator's two devices in the sanitize build; skipped where a rank has no device of its own).
// The ranks' samples differ, so a bucket's all-reduce that does not wait for the backward that
// writes it leaves a rank with its own gradient, not the mean.
TEST_CASE("reducer: over NCCL, rank r on cuda:r, every rank ends with the mean gradient",
          "[mpi][cuda]") {
  const dist::World& w = dist::World::get();
  if (!dist::nccl_compiled() || cuda_device_count() < w.size())
    DDNET_SKIP("needs NCCL and one CUDA device per rank (", w.size(), " ranks, ",
               cuda_device_count(), " devices)");
  const Device dev = Device::cuda(w.rank());
  models::DDnet net({2, kernels::UpsampleMode::linear, 5, false});
  nn::Arena arena = nn::pack_parameters(net, dev);
  for (const auto& b : net.named_buffers())
    if (b.tensor->dtype() == DType::f32) *b.tensor = b.tensor->to(dev);
  std::vector<Tensor> params;
  for (const auto& p : net.named_parameters()) params.push_back(*p.tensor);
  Generator g(100 + static_cast<std::uint64_t>(w.rank()));
  const Tensor x = g.uniform(Shape{1, 1, 32, 32}).to(dev),
               y = g.uniform(Shape{1, 1, 32, 32}).to(dev);

  arena.grads.zero_();
  F::ddnet_loss(net.forward(x), y).total.backward();
  std::vector<float> expect = arena.grads.to_vector<float>();
  w.allreduce_sum(expect.data(), expect.size());
  for (float& v : expect) v /= static_cast<float>(w.size());

  dist::NcclComm comm(w, w.rank(), 60.0);
  dist::ReducerOptions o;
  o.first_bucket_bytes = 16 << 10;
  o.bucket_bytes = 256 << 10;
  dist::Reducer r(w, arena.grads, params, arena.offsets, o, &comm);
  REQUIRE(r.buckets().size() > 4);
  arena.grads.zero_();
  r.begin();
  F::ddnet_loss(net.forward(x), y).total.backward();
  r.finish();
  CHECK(r.last().launched_in_backward[0] == 1);
  const std::vector<float> got = arena.grads.to_vector<float>();
  double worst = 0, scale = 0;
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double d = std::abs(static_cast<double>(got[i]) - static_cast<double>(expect[i]));
    worst = std::max(worst, d);
    scale = std::max(scale, std::abs(static_cast<double>(expect[i])));
    wrong += d > 1e-5 * std::abs(static_cast<double>(expect[i])) + 1e-7;
  }
  INFO(wrong << " of " << got.size() << " gradients differ from the mean over the ranks");
  CHECK(worst <= 1e-5 * scale);
}
