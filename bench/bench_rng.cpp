// The engine's counter-based normal generator (engine/rng.h) filling one 3D-DDnet sample, CPU
// and CUDA. Counter: bytes moved per second,
// against the copy bandwidth (napkin math in bench/README.md). CUDA cases time with events (manual
// time) and report an error, not a number, where no device exists.
#include <benchmark/benchmark.h>

#include "bench/bench_util.h"

#include "engine/device.h"
#include "engine/rng.h"
#include "engine/stream.h"

using namespace ddnet;

namespace {

// A 1x1x32x256x256 volume: one 3D-DDnet training sample at reduced resolution (8 MiB).
constexpr std::int64_t kVoxels = 32LL * 256 * 256;

void BM_normal(benchmark::State& state, bool cuda) {
  Device dev;
  if (!bench::pick_device(state, cuda, &dev)) return;
  Tensor t = Tensor::empty({kVoxels}, dev);
  std::uint64_t offset = 0;
  bench::timed(state, dev, 4.0 * kVoxels, [&] { fill_normal(t, 7, offset++); });
}

}  // namespace

BENCHMARK_CAPTURE(BM_normal, cpu, false)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_normal, cuda, true)->UseManualTime()->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
