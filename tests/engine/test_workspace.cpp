// The convolution workspace counters (engine/workspace.h): in use, peak, reset, scopes.
#include <catch2/catch.hpp>

#include "engine/workspace.h"

using namespace ddnet;

TEST_CASE("workspace: scopes count while they live, the peak stays until reset", "[workspace]") {
  const WorkspaceStats start = workspace_stats();
  reset_workspace_peak();
  CHECK(workspace_stats().peak_bytes == start.in_use_bytes);
  {
    const ScopedWorkspace a(1000);
    {
      const ScopedWorkspace b(500);
      CHECK(workspace_stats().in_use_bytes == start.in_use_bytes + 1500);
    }
    CHECK(workspace_stats().in_use_bytes == start.in_use_bytes + 1000);
  }
  CHECK(workspace_stats().in_use_bytes == start.in_use_bytes);
  CHECK(workspace_stats().peak_bytes == start.in_use_bytes + 1500);
  reset_workspace_peak();
  CHECK(workspace_stats().peak_bytes == start.in_use_bytes);
  // Kept buffers (the FFT path's) are acquired once and stay counted.
  workspace_acquired(64);
  CHECK(workspace_stats().in_use_bytes == start.in_use_bytes + 64);
  workspace_released(64);
  CHECK(workspace_stats().in_use_bytes == start.in_use_bytes);
}
