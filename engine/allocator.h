// The caching device allocator: size-binned, stream-aware, with statistics.
//
// Freed blocks are kept for reuse, not returned to the driver (except by empty_cache, on out of
// memory, and as below when a stream's wholly free segments are too small for a new request),
// so the steady state of a training loop makes no cudaMalloc/cudaFree calls. Two pools:
// - small requests (up to 1 MiB) get bins of 512 B multiples; a freed block waits in a free list
//   keyed by (stream, bin) and serves the next request of that stream and bin, or, when that
//   bin has none, the smallest cached one up to twice its size;
// - larger requests are carved out of segments (one device allocation each, a multiple of
//   2 MiB): the smallest free piece of the stream that holds the request (512 B multiples) is
//   split, the rest staying free when it is 1 MiB or more, and a freed piece merges with its free
//   neighbours, so memory freed by one phase of a step serves the other phase's different sizes.
//   When no free piece holds a request, the stream's wholly free segments (all too small) are
//   given back before a new segment is obtained.
//   Without splitting, a 3D-DDnet step with stage recompute reserved 2.06 times the peak of what
//   it used at 512x512x32 (docs/memory.md). empty_cache returns the segments wholly free. A block
//   used on another
// stream (record_stream) is reused only after an event recorded on that stream has completed.
// Keys are raw stream handles, which the driver recycles; Stream (engine/stream.h) therefore
// synchronizes a stream before destroying it, so blocks filed under a dead stream's handle have
// no work pending when a new stream with that handle takes them.
//
// The caching logic is written against AllocatorBackend so that it is tested on the CPU with a
// fake backend; cuda_allocator(device) is the instance over cudaMalloc/cudaFree.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

namespace ddnet {

struct AllocatorStats {
  std::int64_t allocated_bytes = 0;       // in blocks handed to users now (bin sizes)
  std::int64_t peak_allocated_bytes = 0;  // max of allocated_bytes since the last reset
  std::int64_t requested_bytes = 0;       // what users asked for (<= allocated_bytes)
  std::int64_t peak_requested_bytes = 0;  // max of requested_bytes since the last reset
  std::int64_t reserved_bytes = 0;        // obtained from the backend (in use + cached)
  std::int64_t peak_reserved_bytes = 0;
  std::int64_t num_allocs = 0;          // allocate() calls
  std::int64_t num_cache_hits = 0;      // of those, served from the cache
  std::int64_t num_backend_allocs = 0;  // cudaMalloc calls
  std::int64_t num_backend_frees = 0;   // cudaFree calls
  std::int64_t num_oom_retries = 0;     // backend failures retried after emptying the cache
  std::string str() const;
};

// What the allocator needs from a device. Events: opaque handles, nullptr when not needed.
class AllocatorBackend {
 public:
  virtual ~AllocatorBackend() = default;
  virtual void* raw_alloc(std::size_t bytes) = 0;  // nullptr when out of memory
  virtual void raw_free(void* p) = 0;
  virtual void* record_event(void* stream) = 0;  // an event recorded on `stream`
  virtual bool event_done(void* event) = 0;
  virtual void destroy_event(void* event) = 0;
  virtual std::string describe_memory() { return {}; }  // e.g. driver free/total, for OOM text
};

class CachingAllocator {
 public:
  explicit CachingAllocator(std::unique_ptr<AllocatorBackend> backend, std::string name);
  ~CachingAllocator();
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // Bin sizes: multiples of 512 B below 1 MiB, then 8 bins per power of two (<= 12.5% waste).
  // Only the small pool uses bins above 512 B granularity since the large pool splits segments.
  static std::size_t bin_size(std::size_t bytes);
  static constexpr std::size_t kLargeRequest = std::size_t{1} << 20;  // above: the large pool
  static constexpr std::size_t kSegmentGranularity = std::size_t{2} << 20;

  // A block of at least `bytes` for use on `stream`. Throws ddnet::Error on out of memory with
  // the request, the statistics and the backend's memory report.
  void* allocate(std::size_t bytes, void* stream);
  void deallocate(void* p);
  // The block at p is also used on `stream`: it will not be reused before that stream's work,
  // as of the moment the block is freed, is done.
  void record_stream(void* p, void* stream);
  // Returns every cached block that is not in use to the backend.
  void empty_cache();

  AllocatorStats stats() const;
  void reset_peak_stats();  // peaks start again from the current values
  void reset_counters();    // counts of calls start again from zero

 private:
  struct Block {
    void* ptr = nullptr;
    std::size_t size = 0;       // bin size (small pool) or piece size (large pool)
    std::size_t requested = 0;  // what the user asked for
    void* stream = nullptr;     // the stream it was allocated for
    std::vector<void*> other_streams;
    bool large = false;
  };
  // A piece of a large-pool segment; pieces of one segment are linked by address.
  struct Piece {
    std::size_t size = 0;
    void* stream = nullptr;  // the segment's stream
    bool free = false;
    char* prev = nullptr;  // adjacent pieces of the same segment (nullptr at its ends)
    char* next = nullptr;
  };
  void* allocate_large_locked(std::size_t bytes, void* stream, std::size_t* got);
  void free_piece_locked(char* p);
  void split_piece_locked(char* p, std::size_t size);
  struct Pending {
    Block block;
    std::vector<void*> events;
  };
  void process_pending_locked();
  void release_cached_locked();
  void release_free_segments_locked(void* stream);
  void* backend_alloc_locked(std::size_t size, std::size_t requested);

  std::unique_ptr<AllocatorBackend> backend_;
  std::string name_;
  mutable std::mutex mu_;
  std::unordered_map<void*, Block> in_use_;
  std::map<std::pair<void*, std::size_t>, std::vector<void*>> free_;  // (stream, bin) -> ptrs
  std::unordered_map<char*, Piece> pieces_;                           // large pool, by address
  std::set<std::tuple<void*, std::size_t, char*>> free_pieces_;       // (stream, size, ptr)
  std::vector<Pending> pending_;
  AllocatorStats stats_;
};

// The caching allocator of CUDA device `device` (created on first use, lives for the process).
CachingAllocator& cuda_allocator(int device);

// The caching allocator of host memory for CPU tensors (64-byte aligned): reusing blocks avoids
// the page faults of fresh multi-megabyte allocations, which otherwise dominate memory-bound CPU
// ops. Builds with AddressSanitizer bypass it (every tensor gets fresh memory) so that a
// use-after-free is still caught.
CachingAllocator& host_allocator();
bool host_caching_enabled();

}  // namespace ddnet
