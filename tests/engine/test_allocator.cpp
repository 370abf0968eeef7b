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
  REQUIRE(a.stats().peak_reserved_bytes == 1024 + (4 << 20));  // a segment of 2 MiB multiples
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

TEST_CASE("allocator: a small cached block up to twice the size serves a smaller request",
          "[allocator]") {
  std::set<void*> events;
  CachingAllocator a(std::make_unique<FakeBackend>(64 << 20, &events), "fake");
  void* big = a.allocate(400 << 10, kStreamA);
  void* bigger = a.allocate(900 << 10, kStreamA);
  a.deallocate(bigger);
  a.deallocate(big);  // 400 and 900 KiB cached on stream A
  // 300 KiB: the smallest cached block within twice the size (400 KiB), counted at its size.
  void* p = a.allocate(300 << 10, kStreamA);
  CHECK(p == big);
  CHECK(a.stats().allocated_bytes == (400 << 10));
  // 200 KiB: the 900 KiB block is more than twice that: a new block; and not another stream's.
  void* q = a.allocate(200 << 10, kStreamA);
  CHECK(q != bigger);
  void* r = a.allocate(800 << 10, kStreamB);
  CHECK(r != bigger);
  CHECK(a.stats().num_backend_allocs == 4);
  a.deallocate(p);
  a.deallocate(q);
  a.deallocate(r);
}

TEST_CASE("allocator: large requests are carved out of segments, freed pieces merge",
          "[allocator]") {
  std::set<void*> events;
  CachingAllocator a(std::make_unique<FakeBackend>(64 << 20, &events), "fake");
  char* four = static_cast<char*>(a.allocate(4 << 20, kStreamA));
  char* six = static_cast<char*>(a.allocate(6 << 20, kStreamA));
  CHECK(a.stats().reserved_bytes == (10 << 20));
  a.deallocate(six);
  a.deallocate(four);  // two free segments of 4 and 6 MiB on stream A
  // 3 MiB: the smallest free piece that holds it (4 MiB), split: 3 MiB used, 1 MiB free.
  void* p = a.allocate(3 << 20, kStreamA);
  CHECK(p == four);
  CHECK(a.stats().allocated_bytes == (3 << 20));
  // 1 MiB + 1 byte: too large for the 1 MiB rest, so the 6 MiB piece is split.
  void* q = a.allocate((1 << 20) + 1, kStreamA);
  CHECK(q == six);
  CHECK(a.stats().allocated_bytes == (3 << 20) + (1 << 20) + 512);
  // 4.5 MiB fits in the 6 MiB segment's rest (5 MiB - 512 B): no new segment.
  void* r = a.allocate((9 << 20) / 2, kStreamA);
  CHECK(r == six + (1 << 20) + 512);
  CHECK(a.stats().num_backend_allocs == 2);
  // Another stream's request never takes stream A's pieces.
  void* other = a.allocate(2 << 20, kStreamB);
  CHECK(a.stats().num_backend_allocs == 3);
  // Freed, pieces merge with free neighbours: the whole 6 MiB segment serves 6 MiB again.
  a.deallocate(q);
  a.deallocate(r);
  void* whole = a.allocate(6 << 20, kStreamA);
  CHECK(whole == six);
  CHECK(a.stats().num_backend_allocs == 3);
  // empty_cache returns only the segments that are wholly free.
  a.deallocate(whole);
  a.empty_cache();
  CHECK(a.stats().reserved_bytes == (4 << 20) + (2 << 20));  // `four` (p in use) and stream B's
  a.deallocate(p);
  a.deallocate(other);
  a.empty_cache();
  CHECK(a.stats().reserved_bytes == 0);
  CHECK(a.stats().allocated_bytes == 0);
  CHECK(a.stats().requested_bytes == 0);
}

TEST_CASE("allocator: wholly free segments too small for a request are given back first",
          "[allocator]") {
  std::set<void*> events;
  CachingAllocator a(std::make_unique<FakeBackend>(64 << 20, &events), "fake");
  void* two = a.allocate(2 << 20, kStreamA);
  char* four = static_cast<char*>(a.allocate(4 << 20, kStreamA));
  void* in_use = a.allocate(3 << 20, kStreamA);  // a 4 MiB segment, 1 MiB of it free
  void* other = a.allocate(2 << 20, kStreamB);
  a.deallocate(two);
  a.deallocate(four);
  a.deallocate(other);  // wholly free: 2 and 4 MiB on stream A, 2 MiB on stream B
  CHECK(a.stats().reserved_bytes == (12 << 20));
  // 4 MiB fits the free 4 MiB segment: nothing is given back.
  void* p = a.allocate(4 << 20, kStreamA);
  CHECK(p == four);
  CHECK(a.stats().num_backend_frees == 0);
  a.deallocate(p);
  // 8 MiB fits no free piece of stream A: its two wholly free segments (6 MiB) go back before
  // the new one; stream B's and the one partly in use stay.
  void* big = a.allocate(8 << 20, kStreamA);
  CHECK(a.stats().num_backend_frees == 2);
  CHECK(a.stats().reserved_bytes == (4 << 20) + (2 << 20) + (8 << 20));
  CHECK(a.stats().peak_reserved_bytes == (8 << 20) + (12 << 20) - (6 << 20));
  a.deallocate(big);
  a.deallocate(in_use);
  a.empty_cache();
  CHECK(a.stats().reserved_bytes == 0);
}

TEST_CASE("allocator: a large piece used on another stream merges only after its event",
          "[allocator]") {
  std::set<void*> events;
  CachingAllocator a(std::make_unique<FakeBackend>(64 << 20, &events), "fake");
  char* p = static_cast<char*>(a.allocate(2 << 20, kStreamA));
  char* q = static_cast<char*>(a.allocate(2 << 20, kStreamA));
  a.record_stream(q, kStreamB);
  a.deallocate(q);  // pending on stream B's event
  a.deallocate(p);
  void* r = a.allocate(2 << 20, kStreamA);  // p again; q is not free yet
  CHECK(r == p);
  a.deallocate(r);
  CHECK(a.stats().num_backend_allocs == 2);
  events.clear();  // stream B is done: q is freed at the next call, and nothing merges across
                   // segments (each request had its own)
  void* s = a.allocate(4 << 20, kStreamA);
  CHECK(a.stats().num_backend_allocs == 3);
  a.deallocate(s);
  a.empty_cache();
  CHECK(a.stats().reserved_bytes == 0);
}

TEST_CASE("allocator: out of memory empties the cache, retries, then says what it had",
          "[allocator]") {
  std::set<void*> events;
  CachingAllocator a(std::make_unique<FakeBackend>(4 << 20, &events), "fake");
  void* p = a.allocate(3 << 20, kStreamA);
  a.deallocate(p);  // a free 4 MiB segment on stream A
  // Stream B cannot use it, and a new segment does not fit beside it: the cache is emptied and
  // the allocation retried.
  void* q = a.allocate(7 << 19, kStreamB);
  REQUIRE(a.stats().num_oom_retries == 1);
  REQUIRE(a.stats().reserved_bytes == (4 << 20));
  REQUIRE_THROWS_WITH(
      a.allocate(3 << 20, kStreamA),
      Contains("fake: out of memory allocating 3 MiB") && Contains("reserved 4 MiB"));
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
