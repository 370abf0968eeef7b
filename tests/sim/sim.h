// Internal interface of the CUDA emulator (tests/sim), shared by its runtime (runtime.cpp), its
// kernel engine (simt.cpp) and its fake vendor libraries (cudnn.cpp, nccl.cpp). Not for the
// engine: the engine sees only the CUDA, cuDNN and NCCL APIs of include/.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace ddnet::sim {

// A misuse the real device or library would punish (or silently mis-read): printed as
// "ddnet-sim: <what>" on stderr, then abort(), so the test fails loudly at the point of misuse.
[[noreturn]] void fail(const std::string& what);

// What the stream scheduler (runtime.cpp) needs to know of an op: a collective may block until
// peers outside this host's control join, so it is wanted as soon as it is queued and does not
// hold up the one-at-a-time order of the others.
enum class OpKind { local, collective };

// Work queued on a stream, run by the stream's worker thread in stream order, asynchronously to
// the host: lazily, when something needs it, one op at a time in a seeded order (default), or
// eagerly after a seeded delay (DDNET_SIM_STREAMS=eager; the default under ThreadSanitizer). A
// null stream is the legacy default stream of the current device: a queue like the others (it
// would also order itself with blocking streams, which the emulator refuses to create).
// `what` names the work in diagnostics ("cudnnConvolutionForward", "kernel reduce_pass1<T>").
void enqueue(cudaStream_t stream, const char* what, std::function<void()> work,
             OpKind kind = OpKind::local);

// The device a stream belongs to (the current device for the null stream); fails on a stream
// that was destroyed or never created.
int stream_device(cudaStream_t stream);
int current_device();
constexpr int kDeviceCount = 2;

// A device allocation (cudaMalloc) as the emulator tracks it.
struct DeviceRange {
  int device = -1;
  const char* base = nullptr;
  std::size_t bytes = 0;
};
// The live device allocation that holds p, if any.
bool find_allocation(const void* p, DeviceRange* out);
// The allocation that holds all of [p, p + bytes); fails naming `what` when p is not device
// memory, when the range runs past the allocation's end, or when it lies on another device than
// `device` (pass -1 to accept any device).
DeviceRange check_device_range(const void* p, std::size_t bytes, int device,
                               const std::string& what);

// Runs an op of a stream worker (runtime.cpp): under ThreadSanitizer on a context whose effects
// reach the host only through the edges the code declares; elsewhere a plain call.
void run_isolated(std::function<void()> work);

// The error the calling thread's next cudaGetLastError returns, with a line for stderr when
// DDNET_SIM_VERBOSE is set (a refused launch is not a crash: the engine reports it itself).
void set_last_error(cudaError_t err, const std::string& why);

// The run's seed (environment DDNET_SIM_SEED, default 1): block order, delays, Find's timings.
std::uint64_t seed();
// A deterministic stream of random numbers for one purpose, derived from seed() and `salt`.
std::uint64_t mix(std::uint64_t a, std::uint64_t b);

// Coverage of the emulated suite: every kernel launch, cuDNN and NCCL call is counted by name;
// with DDNET_SIM_COVERAGE=<file> the counts are appended to <file> at exit ("name count" lines).
void count(const std::string& name);

}  // namespace ddnet::sim
