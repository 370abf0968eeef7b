// Caching allocator logic (device independent) and the CUDA instance.
#include "engine/allocator.h"

#include <algorithm>
#include <cstdlib>

#include "engine/cuda_runtime_seam.h"
#include "engine/device.h"
#include "engine/error.h"

namespace ddnet {

std::string AllocatorStats::str() const {
  auto mib = [](std::int64_t b) { return static_cast<double>(b) / (1024.0 * 1024.0); };
  return detail::concat("allocated ", mib(allocated_bytes), " MiB (peak ",
                        mib(peak_allocated_bytes), " MiB), reserved ", mib(reserved_bytes),
                        " MiB (peak ", mib(peak_reserved_bytes), " MiB), ", num_allocs,
                        " allocations, ", num_cache_hits, " cache hits, ", num_backend_allocs,
                        " device mallocs");
}

CachingAllocator::CachingAllocator(std::unique_ptr<AllocatorBackend> backend, std::string name)
    : backend_(std::move(backend)), name_(std::move(name)) {}

CachingAllocator::~CachingAllocator() {
  // In-use blocks are leaked on purpose: tensors may outlive a static allocator at exit.
  std::lock_guard<std::mutex> lock(mu_);
  try {
    for (auto& p : pending_)
      for (void* e : p.events) backend_->destroy_event(e);
    for (auto& [key, ptrs] : free_)
      for (void* ptr : ptrs) backend_->raw_free(ptr);
    for (auto& [ptr, piece] : pieces_)
      if (piece.free && !piece.prev && !piece.next) backend_->raw_free(ptr);
  } catch (const Error&) {
    // At process exit the CUDA context may be gone already.
  }
}

std::size_t CachingAllocator::bin_size(std::size_t bytes) {
  constexpr std::size_t kSmall = 1u << 20;
  if (bytes == 0) bytes = 1;
  if (bytes <= kSmall) return (bytes + 511) / 512 * 512;
  // 8 bins per octave: step = 2^(floor(log2(bytes)) - 3).
  std::size_t top = 1;
  while ((top << 1) <= bytes) top <<= 1;
  const std::size_t step = top >> 3;
  return (bytes + step - 1) / step * step;
}

void CachingAllocator::process_pending_locked() {
  for (auto it = pending_.begin(); it != pending_.end();) {
    bool done = std::all_of(it->events.begin(), it->events.end(),
                            [&](void* e) { return backend_->event_done(e); });
    if (!done) {
      ++it;
      continue;
    }
    for (void* e : it->events) backend_->destroy_event(e);
    if (it->block.large)
      free_piece_locked(static_cast<char*>(it->block.ptr));
    else
      free_[{it->block.stream, it->block.size}].push_back(it->block.ptr);
    it = pending_.erase(it);
  }
}

void CachingAllocator::release_cached_locked() {
  for (auto& [key, ptrs] : free_) {
    for (void* p : ptrs) {
      backend_->raw_free(p);
      stats_.reserved_bytes -= static_cast<std::int64_t>(key.second);
      ++stats_.num_backend_frees;
    }
  }
  free_.clear();
  release_free_segments_locked(nullptr);
}

// Large pool: returns the segments that are one free piece (of `stream` only, unless null).
void CachingAllocator::release_free_segments_locked(void* stream) {
  for (auto it = pieces_.begin(); it != pieces_.end();) {
    const Piece& pc = it->second;
    if (!pc.free || pc.prev || pc.next || (stream != nullptr && pc.stream != stream)) {
      ++it;
      continue;
    }
    free_pieces_.erase({pc.stream, pc.size, it->first});
    backend_->raw_free(it->first);
    stats_.reserved_bytes -= static_cast<std::int64_t>(pc.size);
    ++stats_.num_backend_frees;
    it = pieces_.erase(it);
  }
}

// Splits piece p so that it keeps `size` bytes; the rest becomes a free piece when it is at
// least kLargeRequest (else p keeps it all).
void CachingAllocator::split_piece_locked(char* p, std::size_t size) {
  Piece& pc = pieces_.at(p);
  if (pc.size - size < kLargeRequest) return;
  char* rest = p + size;
  Piece r;
  r.size = pc.size - size;
  r.stream = pc.stream;
  r.prev = p;
  r.next = pc.next;
  if (pc.next) pieces_.at(pc.next).prev = rest;
  pc.next = rest;
  pc.size = size;
  r.free = false;
  pieces_[rest] = r;
  free_piece_locked(rest);
}

// Marks piece p free, merges it with free neighbours and files the result for reuse.
void CachingAllocator::free_piece_locked(char* p) {
  Piece* pc = &pieces_.at(p);
  pc->free = true;
  if (pc->next) {
    const auto next_it = pieces_.find(pc->next);
    if (next_it->second.free) {
      const Piece& n = next_it->second;
      free_pieces_.erase({n.stream, n.size, next_it->first});
      pc->size += n.size;
      pc->next = n.next;
      if (n.next) pieces_.at(n.next).prev = p;
      pieces_.erase(next_it);
      pc = &pieces_.at(p);
    }
  }
  if (pc->prev) {
    char* q = pc->prev;
    Piece& pv = pieces_.at(q);
    if (pv.free) {
      free_pieces_.erase({pv.stream, pv.size, q});
      pv.size += pc->size;
      pv.next = pc->next;
      if (pc->next) pieces_.at(pc->next).prev = q;
      pieces_.erase(p);
      p = q;
      pc = &pieces_.at(p);
    }
  }
  free_pieces_.insert({pc->stream, pc->size, p});
}

void* CachingAllocator::allocate_large_locked(std::size_t bytes, void* stream, std::size_t* got) {
  const std::size_t size = (bytes + 511) / 512 * 512;
  // The smallest free piece of this stream that holds the request.
  const auto it = free_pieces_.lower_bound({stream, size, nullptr});
  char* p = nullptr;
  if (it != free_pieces_.end() && std::get<0>(*it) == stream) {
    p = std::get<2>(*it);
    free_pieces_.erase(it);
    ++stats_.num_cache_hits;
  } else {
    // No free piece of this stream holds the request, so neither does any of its wholly free
    // segments: they are given back before a new segment is obtained, so that what is reserved
    // is not the new segment on top of ones too small to serve it. The backward pass's
    // different sizes otherwise leave the first step with segments no later request fits
    // (docs/memory.md: a 3D-DDnet step's reserve over its tensors' peak fell from 1.30 to 1.14,
    // lean, and 1.44 to 1.31 with stage recompute). In a steady training loop this happens in
    // the first step only (no segment was obtained after it in lean and recompute runs, one in
    // fast's second step).
    release_free_segments_locked(stream);
    const std::size_t segment =
        (size + kSegmentGranularity - 1) / kSegmentGranularity * kSegmentGranularity;
    p = static_cast<char*>(backend_alloc_locked(segment, bytes));
    Piece fresh;
    fresh.size = segment;
    fresh.stream = stream;
    pieces_[p] = fresh;
  }
  pieces_.at(p).free = false;
  split_piece_locked(p, size);
  *got = pieces_.at(p).size;
  return p;
}

void* CachingAllocator::backend_alloc_locked(std::size_t size, std::size_t requested) {
  void* p = backend_->raw_alloc(size);
  if (!p) {
    ++stats_.num_oom_retries;
    process_pending_locked();
    release_cached_locked();
    p = backend_->raw_alloc(size);
  }
  if (!p) {
    auto mib = [](std::size_t b) { return static_cast<double>(b) / (1024.0 * 1024.0); };
    const std::string mem = backend_->describe_memory();
    DDNET_FAIL(name_, ": out of memory allocating ", mib(requested), " MiB (bin ", mib(size),
               " MiB); ", stats_.str(), mem.empty() ? "" : "; ", mem);
  }
  ++stats_.num_backend_allocs;
  stats_.reserved_bytes += static_cast<std::int64_t>(size);
  stats_.peak_reserved_bytes = std::max(stats_.peak_reserved_bytes, stats_.reserved_bytes);
  return p;
}

void* CachingAllocator::allocate(std::size_t bytes, void* stream) {
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.num_allocs;
  if (!pending_.empty()) process_pending_locked();
  const bool large = bytes > kLargeRequest;
  void* p = nullptr;
  std::size_t got = 0;
  if (large) {
    p = allocate_large_locked(bytes, stream, &got);
  } else {
    const std::size_t size = bin_size(bytes);
    got = size;
    // The smallest cached block of this stream in this bin or a larger one up to twice the size.
    for (auto it = free_.lower_bound({stream, size});
         it != free_.end() && it->first.first == stream && it->first.second <= 2 * size; ++it) {
      if (it->second.empty()) continue;
      p = it->second.back();
      it->second.pop_back();
      got = it->first.second;
      ++stats_.num_cache_hits;
      break;
    }
    if (!p) p = backend_alloc_locked(size, bytes);
  }
  in_use_[p] = Block{p, got, bytes, stream, {}, large};
  stats_.allocated_bytes += static_cast<std::int64_t>(got);
  stats_.requested_bytes += static_cast<std::int64_t>(bytes);
  stats_.peak_requested_bytes = std::max(stats_.peak_requested_bytes, stats_.requested_bytes);
  stats_.peak_allocated_bytes = std::max(stats_.peak_allocated_bytes, stats_.allocated_bytes);
  return p;
}

void CachingAllocator::record_stream(void* p, void* stream) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = in_use_.find(p);
  DDNET_CHECK(it != in_use_.end(), name_, ": record_stream on a pointer it did not allocate");
  Block& b = it->second;
  if (stream != b.stream &&
      std::find(b.other_streams.begin(), b.other_streams.end(), stream) == b.other_streams.end())
    b.other_streams.push_back(stream);
}

void CachingAllocator::deallocate(void* p) {
  if (!p) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = in_use_.find(p);
  DDNET_CHECK(it != in_use_.end(), name_, ": free of a pointer it did not allocate");
  Block b = std::move(it->second);
  in_use_.erase(it);
  stats_.allocated_bytes -= static_cast<std::int64_t>(b.size);
  stats_.requested_bytes -= static_cast<std::int64_t>(b.requested);
  if (b.other_streams.empty()) {
    if (b.large)
      free_piece_locked(static_cast<char*>(p));
    else
      free_[{b.stream, b.size}].push_back(p);
    return;
  }
  Pending pend{b, {}};
  for (void* s : b.other_streams) pend.events.push_back(backend_->record_event(s));
  pend.block.other_streams.clear();
  pending_.push_back(std::move(pend));
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mu_);
  process_pending_locked();
  release_cached_locked();
}

AllocatorStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void CachingAllocator::reset_peak_stats() {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.peak_allocated_bytes = stats_.allocated_bytes;
  stats_.peak_reserved_bytes = stats_.reserved_bytes;
  stats_.peak_requested_bytes = stats_.requested_bytes;
}

void CachingAllocator::reset_counters() {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.num_allocs = stats_.num_cache_hits = stats_.num_backend_allocs = 0;
  stats_.num_backend_frees = stats_.num_oom_retries = 0;
}

namespace {
class CudaBackend final : public AllocatorBackend {
 public:
  explicit CudaBackend(int device) : device_(device) {}
  void* raw_alloc(std::size_t bytes) override { return seam::device_malloc(bytes, device_); }
  void raw_free(void* p) override { seam::device_free(p, device_); }
  void* record_event(void* stream) override {
    // The event must belong to the stream's device; the caller's current device is restored (a
    // free on another device's thread must not move that thread to this device).
    const int previous = seam::get_device();
    if (previous != device_) seam::set_device(device_);
    void* e = nullptr;
    try {
      e = seam::event_create(false);
      seam::event_record(e, stream);
    } catch (...) {
      if (e) seam::event_destroy(e);
      if (previous != device_) seam::set_device(previous);
      throw;
    }
    if (previous != device_) seam::set_device(previous);
    return e;
  }
  bool event_done(void* event) override { return seam::event_query(event); }
  void destroy_event(void* event) override { seam::event_destroy(event); }
  std::string describe_memory() override {
    std::size_t free_b = 0, total_b = 0;
    seam::mem_get_info(device_, &free_b, &total_b);
    return detail::concat("cuda:", device_, " has ", free_b >> 20, " MiB free of ", total_b >> 20,
                          " MiB");
  }

 private:
  int device_;
};
}  // namespace

namespace {
class HostBackend final : public AllocatorBackend {
 public:
  void* raw_alloc(std::size_t bytes) override {
    return std::aligned_alloc(64, (bytes + 63) / 64 * 64);  // nullptr when out of memory
  }
  void raw_free(void* p) override { std::free(p); }
  void* record_event(void*) override { return nullptr; }  // host work is synchronous
  bool event_done(void*) override { return true; }
  void destroy_event(void*) override {}
};
}  // namespace

CachingAllocator& host_allocator() {
  static CachingAllocator a(std::make_unique<HostBackend>(), "host allocator");
  return a;
}

bool host_caching_enabled() {
#if defined(__SANITIZE_ADDRESS__)
  return false;
#else
  return true;
#endif
}

CachingAllocator& cuda_allocator(int device) {
  static std::mutex mu;
  static std::map<int, std::unique_ptr<CachingAllocator>> allocators;
  std::lock_guard<std::mutex> lock(mu);
  auto& a = allocators[device];
  if (!a) {
    Device::cuda(device);  // validates with a clear message
    a = std::make_unique<CachingAllocator>(std::make_unique<CudaBackend>(device),
                                           detail::concat("cuda:", device, " allocator"));
  }
  return *a;
}

}  // namespace ddnet
