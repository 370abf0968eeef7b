// Strided copies (kernels/copy_ops.h) on the CPU and CUDA: a feature map into its channel slice
// of a dense-block buffer. Counter: bytes moved per second,
// against the copy bandwidth (napkin math in bench/README.md). CUDA cases time with events (manual
// time) and report an error, not a number, where no device exists.
#include <benchmark/benchmark.h>

#include "bench/bench_util.h"

#include "engine/device.h"
#include "engine/rng.h"
#include "engine/stream.h"
#include "kernels/copy_ops.h"

using namespace ddnet;

namespace {

// Writing a 16-channel feature map into its slice of an 80-channel dense-block buffer.
void BM_copy_into_channel_slice(benchmark::State& state, bool cuda) {
  Device dev;
  if (!bench::pick_device(state, cuda, &dev)) return;
  const Shape s{2, 16, 16, 64, 64};
  Tensor y = Generator(4).uniform(s, dev);
  Tensor buf = Tensor::zeros({2, 80, 16, 64, 64}, dev);
  Tensor slice = buf.narrow(1, 32, 16);
  bench::timed(state, dev, 2.0 * 4 * static_cast<double>(s.numel()),
               [&] { kernels::copy(y, slice); });
}

}  // namespace

BENCHMARK_CAPTURE(BM_copy_into_channel_slice, cpu, false)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_copy_into_channel_slice, cuda, true)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
