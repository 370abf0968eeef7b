// The workspace counters (engine/workspace.h).
#include "engine/workspace.h"

#include <atomic>

namespace ddnet {

namespace {
std::atomic<std::int64_t> in_use{0}, peak{0};

void raise_peak(std::int64_t now) {
  std::int64_t p = peak.load(std::memory_order_relaxed);
  while (now > p && !peak.compare_exchange_weak(p, now, std::memory_order_relaxed)) {
  }
}
}  // namespace

WorkspaceStats workspace_stats() {
  return {in_use.load(std::memory_order_relaxed), peak.load(std::memory_order_relaxed)};
}

void reset_workspace_peak() {
  peak.store(in_use.load(std::memory_order_relaxed), std::memory_order_relaxed);
}

void workspace_acquired(std::int64_t bytes) {
  raise_peak(in_use.fetch_add(bytes, std::memory_order_relaxed) + bytes);
}

void workspace_released(std::int64_t bytes) {
  in_use.fetch_sub(bytes, std::memory_order_relaxed);
}

}  // namespace ddnet
