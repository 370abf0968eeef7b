// Shared pieces of the benchmark suites: choosing the device of a case (a CUDA case reports an
// error, not a number, where no device exists) and timing an iteration (CUDA events on the GPU,
// with the caching allocator's peak memory; wall time on the CPU), with a bytes counter.
#pragma once

#include <benchmark/benchmark.h>

#include <string>

#include "engine/allocator.h"
#include "engine/device.h"
#include "engine/stream.h"

namespace ddnet::bench {

inline bool pick_device(benchmark::State& state, bool cuda, Device* out) {
  if (!cuda) {
    *out = Device::cpu();
    return true;
  }
  if (cuda_device_count() == 0) {
    state.SkipWithError(("no CUDA device: " + cuda_unavailable_reason()).c_str());
    return false;
  }
  *out = Device::cuda(0);
  return true;
}

// Runs body() once to warm up, then once per iteration; CUDA cases must use UseManualTime().
// `bytes`: what one call moves (0: no bytes counter).
template <class Body>
void timed(benchmark::State& state, Device dev, double bytes, Body&& body) {
  body();
  if (dev.is_cuda()) {
    cuda_allocator(dev.index()).reset_peak_stats();
    Event start(true), stop(true);
    const Stream s = current_stream(dev.index());
    for (auto _ : state) {
      start.record(s);
      body();
      stop.record(s);
      stop.synchronize();
      state.SetIterationTime(static_cast<double>(stop.elapsed_ms(start)) / 1e3);
    }
    state.counters["peak_MiB"] =
        static_cast<double>(cuda_allocator(dev.index()).stats().peak_allocated_bytes) / (1 << 20);
  } else {
    for (auto _ : state) body();
  }
  if (bytes > 0) state.SetBytesProcessed(static_cast<std::int64_t>(bytes) * state.iterations());
}

}  // namespace ddnet::bench
