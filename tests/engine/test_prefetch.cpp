// The batch prefetcher on the CPU: order and contents, one batch ahead (never more), errors named
// by batch, clean destruction with work in flight. CUDA (pinned slots, copy stream) is in
// tests/gpu/test_gpu_engine.cpp.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "engine/prefetch.h"

using namespace ddnet;
using Catch::Matchers::Contains;

namespace {

// Sample b of batch k: (1, 2, 3, 4) filled with k * 1000 + b * 100 + index (targets negated).
Tensor sample(std::int64_t k, int b, float sign) {
  std::vector<float> v(24);
  for (std::size_t i = 0; i < v.size(); ++i)
    v[i] = sign * static_cast<float>(k * 1000 + b * 100 + static_cast<std::int64_t>(i));
  return Tensor::from_vector(v, {1, 2, 3, 4});
}

HostBatch make_batch(std::int64_t k, int n) {
  HostBatch hb;
  for (int b = 0; b < n; ++b) {
    hb.inputs.push_back(sample(k, b, 1.f));
    hb.targets.push_back(sample(k, b, -1.f));
  }
  return hb;
}

bool wait_for(const std::atomic<int>& value, int want) {
  for (int i = 0; i < 5000 && value.load() < want; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return value.load() >= want;
}

}  // namespace

TEST_CASE("prefetch: batches come in order, stacked along N", "[prefetch]") {
  BatchPrefetcher p([](std::int64_t k) { return make_batch(k, 3); }, Device::cpu(), 2, 6);
  REQUIRE_FALSE(p.pinned());
  for (std::int64_t k = 2; k < 6; ++k) {
    REQUIRE_FALSE(p.done());
    const Batch b = p.next();
    REQUIRE(b.input.shape() == Shape({3, 2, 3, 4}));
    REQUIRE(b.target.shape() == Shape({3, 2, 3, 4}));
    const auto in = b.input.to_vector<float>(), tg = b.target.to_vector<float>();
    for (int s = 0; s < 3; ++s)
      for (int i = 0; i < 24; ++i) {
        const auto at = static_cast<std::size_t>(s * 24 + i);
        REQUIRE(in[at] == static_cast<float>(k * 1000 + s * 100 + i));
        REQUIRE(tg[at] == -in[at]);
      }
  }
  REQUIRE(p.done());
  REQUIRE_THROWS_WITH(p.next(), Contains("no batches left"));
  BatchPrefetcher none([](std::int64_t) -> HostBatch { throw std::logic_error("never called"); },
                       Device::cpu(), 4, 4);
  REQUIRE(none.done());
}

TEST_CASE("prefetch: the next batch is fetched while the caller works, never two ahead",
          "[prefetch]") {
  std::atomic<int> fetched{0};
  BatchPrefetcher p(
      [&fetched](std::int64_t k) {
        fetched.store(static_cast<int>(k) + 1);
        return make_batch(k, 1);
      },
      Device::cpu(), 0, 4);
  REQUIRE(wait_for(fetched, 1));  // batch 0 starts at construction
  const Batch b0 = p.next();
  REQUIRE(wait_for(fetched, 2));  // batch 1 is read without another call
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  REQUIRE(fetched.load() == 2);  // and nothing further until batch 1 is taken
  REQUIRE(b0.input.to_vector<float>()[0] == 0.f);
  REQUIRE(p.next().input.to_vector<float>()[0] == 1000.f);
  REQUIRE(wait_for(fetched, 3));
}

TEST_CASE("prefetch: a failing fetch is reported by batch number, then the prefetcher is done",
          "[prefetch]") {
  BatchPrefetcher p(
      [](std::int64_t k) {
        if (k == 1) throw Error("scan Cranium_train: slice 40 is unreadable");
        return make_batch(k, 2);
      },
      Device::cpu(), 0, 5);
  REQUIRE(p.next().input.size(0) == 2);
  REQUIRE_THROWS_WITH(p.next(), Contains("batch 1: ") && Contains("slice 40 is unreadable"));
  REQUIRE(p.done());
}

TEST_CASE("prefetch: samples that cannot be stacked are named", "[prefetch]") {
  auto run = [](HostBatch hb) {
    BatchPrefetcher p([hb](std::int64_t) { return hb; }, Device::cpu(), 0, 1);
    p.next();
  };
  HostBatch mixed = make_batch(0, 2);
  mixed.inputs[1] = Tensor::zeros({1, 2, 3, 5});
  REQUIRE_THROWS_WITH(run(mixed), Contains("batch inputs: sample 1 has shape (1, 2, 3, 5)") &&
                                      Contains("sample 0 has (1, 2, 3, 4)"));
  HostBatch counts = make_batch(0, 2);
  counts.targets.pop_back();
  REQUIRE_THROWS_WITH(run(counts), Contains("2 inputs but 1 targets"));
  HostBatch lead;
  lead.inputs = {Tensor::zeros({2, 3})};
  lead.targets = {Tensor::zeros({2, 3})};
  REQUIRE_THROWS_WITH(run(lead), Contains("leading dimension of 1"));
  REQUIRE_THROWS_WITH(run(HostBatch{}), Contains("at least one sample"));
}

TEST_CASE("prefetch: destroyed with a fetch in flight or a failure unread", "[prefetch]") {
  std::atomic<int> started{0};
  {
    BatchPrefetcher p(
        [&started](std::int64_t k) {
          started.fetch_add(1);
          std::this_thread::sleep_for(std::chrono::milliseconds(30));
          if (k == 1) throw Error("dropped");
          return make_batch(k, 1);
        },
        Device::cpu(), 0, 3);
    p.next();  // batch 1 (which fails) is in flight when p goes
  }
  REQUIRE(started.load() == 2);
}

TEST_CASE("prefetch: one prefetcher runs epoch after epoch, stop() drops the fetch in flight",
          "[prefetch]") {
  std::atomic<int> fetched{0};
  BatchPrefetcher p(Device::cpu());
  REQUIRE(p.done());
  for (int epoch = 0; epoch < 3; ++epoch) {
    p.start(
        [&fetched, epoch](std::int64_t k) {
          fetched.fetch_add(1);
          return make_batch(epoch * 100 + k, 1);
        },
        1, 4);
    for (std::int64_t k = 1; k < 4; ++k)
      REQUIRE(p.next().input.to_vector<float>()[0] == static_cast<float>((epoch * 100 + k) * 1000));
    REQUIRE(p.done());
  }
  REQUIRE(fetched.load() == 9);
  // Interrupted mid-epoch: stop() waits for batch 1 (in flight) and drops it.
  p.start(
      [](std::int64_t k) {
        if (k == 1) throw Error("never reported");
        return make_batch(k, 1);
      },
      0, 5);
  REQUIRE(p.next().input.size(0) == 1);
  p.stop();
  REQUIRE(p.done());
  REQUIRE_THROWS_WITH(p.next(), Contains("no batches left"));
  // and starts again cleanly (a resumed epoch)
  p.start([](std::int64_t k) { return make_batch(k, 2); }, 3, 4);
  REQUIRE(p.next().input.size(0) == 2);
}
