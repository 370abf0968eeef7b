// Convolution workspaces, counted apart from tensors: cuDNN's workspaces (which also come from
// the device's caching allocator, so a CUDA step's tensor peak includes them) and, on the CPU,
// oneDNN's reordered copies and scratchpad, the FFT path's spectra and transform buffers (kept
// per thread and grown as needed: they stay counted while the thread lives) and the weight-
// gradient path's packed copies (plain host memory, outside the allocator). `ddnet train`
// reports the peak per step beside the tensors' (docs/memory.md). Thread-safe.
#pragma once

#include <cstdint>

namespace ddnet {

struct WorkspaceStats {
  std::int64_t in_use_bytes = 0;
  std::int64_t peak_bytes = 0;  // since the last reset_workspace_peak()
};

WorkspaceStats workspace_stats();
void reset_workspace_peak();  // the peak becomes what is in use now
void workspace_acquired(std::int64_t bytes);
void workspace_released(std::int64_t bytes);

// Counts `bytes` as in use for its lifetime.
class ScopedWorkspace {
 public:
  explicit ScopedWorkspace(std::int64_t bytes) : bytes_(bytes) { workspace_acquired(bytes_); }
  ~ScopedWorkspace() { workspace_released(bytes_); }
  ScopedWorkspace(const ScopedWorkspace&) = delete;
  ScopedWorkspace& operator=(const ScopedWorkspace&) = delete;

 private:
  std::int64_t bytes_;
};

}  // namespace ddnet
