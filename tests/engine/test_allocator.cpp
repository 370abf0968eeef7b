// The caching allocator's logic and statistics, over a fake backend (no GPU needed).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <set>

#include "engine/allocator.h"
#include "engine/tensor.h"
#include "tests/skip.h"

using namespace ddnet;
using Catch::Matchers::Contains;

namespace {
// Host memory with a capacity, and events that complete when the test says so.
struct FakeBackend : AllocatorBackend {
  std::size_t capacity, used = 0;
  std::set<void*>* pending_events;
  explicit FakeBackend(std::size_t cap, std::set<void*>* events)
      : capacity(cap), pending_events(events) {}
  std::map<void*, std::size_t> sizes;
  void* raw_alloc(std::size_t bytes) override {
    if (used + bytes > capacity) return nullptr;
    used += bytes;
    void* p = std::malloc(bytes);
    sizes[p] = bytes;
    return p;
  }
  void raw_free(void* p) override {
    used -= sizes[p];
    sizes.erase(p);
    std::free(p);
  }
  void* record_event(void*) override {
    void* e = new int(0);
    pending_events->insert(e);
    return e;
  }
  bool event_done(void* e) override { return pending_events->count(e) == 0; }
  void destroy_event(void* e) override { delete static_cast<int*>(e); }
};

void* const kStreamA = reinterpret_cast<void*>(0x1);
void* const kStreamB = reinterpret_cast<void*>(0x2);
}  // namespace

TEST_CASE("allocator: bin sizes", "[allocator]") {
  REQUIRE(CachingAllocator::bin_size(0) == 512);
  REQUIRE(CachingAllocator::bin_size(1) == 512);
  REQUIRE(CachingAllocator::bin_size(513) == 1024);
  REQUIRE(CachingAllocator::bin_size(1 << 20) == (1 << 20));
  REQUIRE(CachingAllocator::bin_size((1 << 20) + 1) == (1 << 20) + (1 << 17));
  REQUIRE(CachingAllocator::bin_size(3000000) == 3145728);  // 2 MiB + 4 * 256 KiB
  for (std::size_t b : {1ul << 21, 5ul << 20, 100000000ul}) {
    const std::size_t bin = CachingAllocator::bin_size(b);
    REQUIRE(bin >= b);
    REQUIRE(static_cast<double>(bin) <= 1.125 * static_cast<double>(b));
  }
}

TEST_CASE("allocator: reuse, statistics and peak reset", "[allocator]") {
  std::set<void*> events;
  CachingAllocator a(std::make_unique<FakeBackend>(1 << 24, &events), "fake");
  void* p = a.allocate(1000, kStreamA);
  auto s = a.stats();
  REQUIRE(s.allocated_bytes == 1024);
  REQUIRE(s.requested_bytes == 1000);
  REQUIRE(s.reserved_bytes == 1024);
  REQUIRE(s.num_backend_allocs == 1);
  a.deallocate(p);
  REQUIRE(a.stats().allocated_bytes == 0);
  REQUIRE(a.stats().reserved_bytes == 1024);  // cached, not returned

  void* q = a.allocate(900, kStreamA);  // same bin, same stream: a cache hit
  REQUIRE(q == p);
  s = a.stats();
  REQUIRE(s.num_cache_hits == 1);
  REQUIRE(s.num_backend_allocs == 1);

  void* big = a.allocate(3 << 20, kStreamA);
  REQUIRE(a.stats().peak_allocated_bytes == 1024 + (3 << 20));
  a.deallocate(big);
  REQUIRE(a.stats().peak_allocated_bytes == 1024 + (3 << 20));
  a.reset_peak_stats();
  REQUIRE(a.stats().peak_allocated_bytes == 1024);
  REQUIRE(a.stats().peak_reserved_bytes == 1024 + (3 << 20));
  a.empty_cache();
  REQUIRE(a.stats().reserved_bytes == 1024);
  REQUIRE(a.stats().num_backend_frees == 1);
  a.deallocate(q);
  a.reset_counters();
  REQUIRE(a.stats().num_allocs == 0);
}

TEST_CASE("allocator: a block freed on one stream is not handed to another", "[allocator]") {
  std::set<void*> events;
  CachingAllocator a(std::make_unique<FakeBackend>(1 << 24, &events), "fake");
  void* p = a.allocate(4096, kStreamA);
  a.deallocate(p);
  void* q = a.allocate(4096, kStreamB);
  REQUIRE(q != p);
  REQUIRE(a.stats().num_backend_allocs == 2);
  a.deallocate(q);
}

TEST_CASE("allocator: record_stream delays reuse until the other stream's event", "[allocator]") {
  std::set<void*> events;
  CachingAllocator a(std::make_unique<FakeBackend>(1 << 24, &events), "fake");
  void* p = a.allocate(4096, kStreamA);
  a.record_stream(p, kStreamB);
  a.deallocate(p);
  REQUIRE(events.size() == 1);
  void* q = a.allocate(4096, kStreamA);  // event pending: a fresh block
  REQUIRE(q != p);
  a.deallocate(q);
  events.clear();                        // stream B's work is done
  void* r = a.allocate(4096, kStreamA);  // now p (or q) comes back from the cache
  REQUIRE((r == p || r == q));
  REQUIRE(a.stats().num_backend_allocs == 2);
  a.deallocate(r);
}

TEST_CASE("allocator: a cached block up to twice the size serves a smaller request",
          "[allocator]") {
  std::set<void*> events;
  CachingAllocator a(std::make_unique<FakeBackend>(64 << 20, &events), "fake");
  void* big = a.allocate(4 << 20, kStreamA);
  void* bigger = a.allocate(6 << 20, kStreamA);
  a.deallocate(bigger);
  a.deallocate(big);  // 4 and 6 MiB cached on stream A
  // 3 MiB: the smallest cached block within twice the size (4 MiB), counted at its size.
  void* p = a.allocate(3 << 20, kStreamA);
  CHECK(p == big);
  CHECK(a.stats().allocated_bytes == (4 << 20));
  CHECK(a.stats().num_backend_allocs == 2);
  // 2 MiB: the 6 MiB block is more than twice that: a new block; and not another stream's.
  void* q = a.allocate(2 << 20, kStreamA);
  CHECK(q != bigger);
  void* r = a.allocate(5 << 20, kStreamB);
  CHECK(r != bigger);
  CHECK(a.stats().num_backend_allocs == 4);
  a.deallocate(p);
  a.deallocate(q);
  a.deallocate(r);
  // Freed, the 4 MiB block goes back to its own bin: an exact request finds it.
  void* again = a.allocate(4 << 20, kStreamA);
  CHECK(again == big);
  CHECK(a.stats().num_backend_allocs == 4);
  a.deallocate(again);
}

TEST_CASE("allocator: out of memory empties the cache, retries, then says what it had",
          "[allocator]") {
  std::set<void*> events;
  CachingAllocator a(std::make_unique<FakeBackend>(4 << 20, &events), "fake");
  void* p = a.allocate(3 << 20, kStreamA);
  a.deallocate(p);  // 3 MiB cached
  // 1.25 MiB: the cached block is more than twice that, so not handed out; and a new block does
  // not fit next to it: the cache is emptied and the allocation retried.
  void* q = a.allocate(5 << 18, kStreamA);
  REQUIRE(a.stats().num_oom_retries == 1);
  REQUIRE(a.stats().reserved_bytes == (5 << 18));
  REQUIRE_THROWS_WITH(
      a.allocate(3 << 20, kStreamA),
      Contains("fake: out of memory allocating 3 MiB") && Contains("reserved 1.25 MiB"));
  a.deallocate(q);
  REQUIRE_THROWS_WITH(a.deallocate(reinterpret_cast<void*>(0x1234)), Contains("did not allocate"));
}

TEST_CASE("allocator: CPU tensors reuse cached host blocks", "[allocator]") {
  if (!host_caching_enabled()) DDNET_SKIP("built with AddressSanitizer: host caching is bypassed");
  CachingAllocator& a = host_allocator();
  a.reset_counters();
  void* first = nullptr;
  {
    Tensor t = Tensor::empty({1 << 20});
    first = t.raw_data();
  }
  Tensor again = Tensor::empty({1 << 20});
  REQUIRE(again.raw_data() == first);
  REQUIRE(a.stats().num_cache_hits >= 1);
  REQUIRE(reinterpret_cast<std::uintptr_t>(again.raw_data()) % 64 == 0);
}
