// GPU entries for the engine: host<->device copies (views included), the CUDA caching
// allocator's statistics, streams and events, RNG equality with the CPU, accumulation.
#include <catch2/catch.hpp>

#include "engine/allocator.h"
#include "engine/autograd.h"
#include "engine/cuda_runtime_seam.h"
#include "engine/memory.h"
#include "engine/prefetch.h"
#include "engine/rng.h"
#include "engine/stream.h"
#include "kernels/elementwise_ops.h"

using namespace ddnet;
using Catch::Matchers::Contains;

TEST_CASE("gpu engine: round trips, channel views across devices", "[gpu]") {
  const Device gpu = Device::cuda(0);
  Generator g(1);
  Tensor x = g.uniform({2, 5, 3, 4, 7});
  Tensor on = x.to(gpu);
  REQUIRE(on.device() == gpu);
  REQUIRE(on.to(Device::cpu()).to_vector<float>() == x.to_vector<float>());
  // cpu slice -> gpu buffer slice, then back (cudaMemcpy2D on both sides)
  Tensor buf = Tensor::zeros({2, 9, 3, 4, 7}, gpu);
  Tensor dst = buf.narrow(1, 3, 5);
  dst.copy_(x);
  REQUIRE(dst.to(Device::cpu()).to_vector<float>() == x.to_vector<float>());
  Tensor back = Tensor::zeros({2, 5, 3, 4, 7});
  back.copy_(dst);
  REQUIRE(back.to_vector<float>() == x.to_vector<float>());
  REQUIRE(Tensor::full({3}, 2.0, gpu).to_vector<float>() == std::vector<float>{2, 2, 2});
}

TEST_CASE("gpu engine: caching allocator statistics", "[gpu][allocator]") {
  const Device gpu = Device::cuda(0);
  CachingAllocator& a = cuda_allocator(0);
  cuda_synchronize(0);
  a.empty_cache();
  a.reset_peak_stats();
  a.reset_counters();
  const auto base = a.stats();
  {
    Tensor t = Tensor::empty({1 << 20}, gpu);  // 4 MiB
    auto s = a.stats();
    REQUIRE(s.allocated_bytes - base.allocated_bytes == (4 << 20));
    REQUIRE(s.num_backend_allocs == 1);
  }
  REQUIRE(a.stats().allocated_bytes == base.allocated_bytes);
  { Tensor t2 = Tensor::empty({1 << 20}, gpu); }
  auto s = a.stats();
  REQUIRE(s.num_cache_hits == 1);
  REQUIRE(s.num_backend_allocs == 1);
  REQUIRE(s.peak_allocated_bytes - base.allocated_bytes == (4 << 20));
  a.reset_peak_stats();
  REQUIRE(a.stats().peak_allocated_bytes == base.allocated_bytes);
}

TEST_CASE("gpu engine: streams, events and stream guards", "[gpu]") {
  const Device gpu = Device::cuda(0);
  Stream s = Stream::create(0);
  Event start(true), stop(true);
  {
    StreamGuard guard(s);
    REQUIRE(current_stream(0) == s);
    start.record(s);
    Tensor t = Tensor::zeros({1 << 22}, gpu);
    Tensor u = Generator(3).uniform({1 << 22}, gpu);
    accumulate_into(t, u);
    stop.record(s);
    stop.synchronize();
    REQUIRE(stop.query());
    REQUIRE(stop.elapsed_ms(start) >= 0.f);
    REQUIRE(t.to_vector<float>() == u.to_vector<float>());
  }
  REQUIRE(current_stream(0).handle() == nullptr);
}

TEST_CASE("gpu engine: uniform and normal tensors are bit-identical to the CPU", "[gpu][rng]") {
  const Device gpu = Device::cuda(0);
  for (std::int64_t n : {1, 3, 4, 33, 1023, 65537, 1000003}) {
    for (std::uint64_t offset : {0ull, 5ull, 1ull << 33}) {
      Tensor c = Tensor::empty({n}), d = Tensor::empty({n}, gpu);
      fill_uniform(c, 1234, offset, -1.f, 2.f);
      fill_uniform(d, 1234, offset, -1.f, 2.f);
      REQUIRE(d.to_vector<float>() == c.to_vector<float>());
      fill_normal(c, 99, offset, 0.5f, 3.f);
      fill_normal(d, 99, offset, 0.5f, 3.f);
      REQUIRE(d.to_vector<float>() == c.to_vector<float>());
    }
  }
}

TEST_CASE("gpu engine: gradient accumulation on the device", "[gpu][autograd]") {
  const Device gpu = Device::cuda(0);
  Tensor y = Tensor::full({1000}, 1.0, gpu), x = Tensor::full({1000}, 2.0, gpu);
  accumulate_into(y, x);
  for (float v : y.to_vector<float>()) REQUIRE(v == 3.f);
}

TEST_CASE("gpu engine: the sync-after-launch switch surfaces no error on good launches", "[gpu]") {
  set_sync_after_launch(true);
  Tensor t = Generator(1).normal({4097}, Device::cuda(0));
  set_sync_after_launch(false);
  REQUIRE(t.to_vector<float>().size() == 4097);
}

TEST_CASE("gpu engine: an asynchronous copy through a pinned buffer", "[gpu][memory]") {
  const Device gpu = Device::cuda(0);
  const std::int64_t n = 1 << 20;
  PinnedBuffer pinned(static_cast<std::size_t>(n) * sizeof(float));
  float* host = static_cast<float*>(pinned.data());
  for (std::int64_t i = 0; i < n; ++i) host[i] = static_cast<float>(i % 977);
  Stream s = Stream::create(0);
  StreamGuard guard(s);
  Tensor t = Tensor::empty({n}, gpu);
  seam::memcpy_async(t.raw_data(), host, pinned.bytes(), seam::CopyKind::host_to_device,
                     s.handle());
  s.synchronize();
  const auto back = t.to_vector<float>();
  for (std::int64_t i = 0; i < n; i += 4099) REQUIRE(back[static_cast<std::size_t>(i)] == host[i]);
}

TEST_CASE("gpu engine: the batch prefetcher stages in pinned slots and copies on its own stream",
          "[gpu][prefetch]") {
  const Device gpu = Device::cuda(0);
  // Batches of different values, read on a caller stream that is not the default one: a slot
  // rewritten before its copy finished, or a batch read before its copy, shows as wrong values.
  const std::int64_t n = 1 << 18;
  auto fetch = [n](std::int64_t k) {
    HostBatch hb;
    for (int b = 0; b < 2; ++b) {
      Tensor in = Tensor::full({1, 1, 4, n / 4}, static_cast<double>(k * 10 + b));
      hb.inputs.push_back(in);
      hb.targets.push_back(Tensor::full({1, 1, 4, n / 4}, static_cast<double>(-(k * 10 + b))));
    }
    return hb;
  };
  Stream caller = Stream::create(0);
  StreamGuard guard(caller);
  auto check = [n, gpu](const Batch& b, std::int64_t k) {
    REQUIRE(b.input.device() == gpu);
    REQUIRE(b.input.shape() == Shape({2, 1, 4, n / 4}));
    const auto in = b.input.to_vector<float>(), tg = b.target.to_vector<float>();
    for (std::int64_t i = 0; i < 2 * n; i += 997) {
      const float want = static_cast<float>(k * 10 + i / n);
      REQUIRE(in[static_cast<std::size_t>(i)] == want);
      REQUIRE(tg[static_cast<std::size_t>(i)] == -want);
    }
  };
  BatchPrefetcher p(gpu);
  // Epoch 1: every batch read back at once (the caller's stream synchronised each time).
  p.start(fetch, 0, 12);
  REQUIRE(p.pinned());
  for (std::int64_t k = 0; k < 12; ++k) check(p.next(), k);
  REQUIRE(p.done());
  REQUIRE(p.pinned_bytes() >= 2 * 4 * static_cast<std::size_t>(n) * sizeof(float));
  // Epoch 2, same prefetcher: all batches held and nothing synchronised until the end, so the
  // slots are refilled while earlier copies may still be queued behind the caller's work.
  p.start(fetch, 0, 12);
  std::vector<Batch> held;
  for (std::int64_t k = 0; k < 12; ++k) {
    held.push_back(p.next());
    held.back().input = kernels::scale(held.back().input, 1.0);  // caller-stream work on it
  }
  for (std::int64_t k = 0; k < 12; ++k) check(held[static_cast<std::size_t>(k)], k);
  // Stopped with a batch in flight, then started again.
  p.start(fetch, 0, 12);
  check(p.next(), 0);
  p.stop();
  p.start(fetch, 5, 6);
  check(p.next(), 5);
}

TEST_CASE("gpu engine: a cross-stream free on another device keeps the caller's device",
          "[gpu][allocator]") {
  // The allocator records the free's events on the block's device; the thread that frees stays
  // on its own device (the emulator has two; a one-GPU machine checks device 0 alone).
  const int devices = cuda_device_count();
  const int other = devices > 1 ? 1 : 0;
  const Stream s = Stream::create(0);  // outlives the block recorded on it
  Tensor t = Tensor::zeros({1000}, Device::cuda(0));
  t.storage()->record_stream(s);
  seam::set_device(other);
  t = Tensor();  // freed from cuda:<other>: an event recorded on cuda:0's stream
  CHECK(seam::get_device() == other);
  seam::set_device(0);
  cuda_synchronize(0);
}
