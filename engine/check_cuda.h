// Checks for CUDA runtime calls and kernel launches. Include only from .cu/.cpp files that
// already use CUDA: it pulls in cuda_runtime.h, so it is never included by a public header.
#pragma once

#include <cuda_runtime.h>

#include "engine/error.h"

namespace ddnet::detail {

inline void check_cuda(cudaError_t err, const char* call, const char* file, int line) {
  if (err != cudaSuccess) {
    (void)cudaGetLastError();  // clear the sticky-free error so the next call starts clean
    throw_call_error("CUDA", call, static_cast<long>(err),
                     concat(cudaGetErrorName(err), ": ", cudaGetErrorString(err)), file, line);
  }
}

// After a kernel launch: the launch error always; with sync_after_launch() on (environment
// DDNET_SYNC_LAUNCHES=1 or set_sync_after_launch(true)) also the kernel's own execution error.
void check_launch(const char* kernel, const char* file, int line);

}  // namespace ddnet::detail

// A kernel launch: DDNET_LAUNCH(grid, block, shared_bytes, stream, kernel)(args...) is
// kernel<<<grid, block, shared_bytes, stream>>>(args...) with nvcc, and a queued launch of the CPU
// emulator in the `sim` flavour (tests/sim). The kernel comes last so template arguments with
// commas need no parentheses.
#if defined(DDNET_CUDA_SIM)
#define DDNET_LAUNCH(grid, block, shared_bytes, stream, ...)                           \
  ::ddnet::sim::make_launcher((grid), (block), (shared_bytes), (stream), #__VA_ARGS__, \
                              [](auto&&... ddnet_args) { __VA_ARGS__(ddnet_args...); })
#else
#define DDNET_LAUNCH(grid, block, shared_bytes, stream, ...) \
  __VA_ARGS__<<<(grid), (block), (shared_bytes), (stream)>>>
#endif

#define CUDA_CHECK(call) ::ddnet::detail::check_cuda((call), #call, __FILE__, __LINE__)
#define CUDA_CHECK_LAUNCH(kernel) ::ddnet::detail::check_launch(kernel, __FILE__, __LINE__)
