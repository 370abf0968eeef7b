// The machine's own limits, measured, that `ddnet bench` reads every case against (the roofline):
//  - copy bandwidth: 256 MiB copied to another 256 MiB buffer, counted as 2 x 256 MiB moved (each
//    byte read once and written once, as our cases count theirs; the write-allocate reads a CPU
//    also does are not counted), on all threads in 1 MiB memcpy pieces (glibc's regular stores:
//    its non-temporal threshold is far above a piece); on CUDA a device-to-device copy;
//  - the same copy with non-temporal stores (CPU, BM_machine_copy_nt), for context: the kernels
//    that write more than the last-level cache in one call use such stores (kernels/cpu_stream.h);
//  - FMA peak (CPU): independent fused multiply-add chains, 12 per thread (enough to cover the
//    4-cycle latency of two FMA pipes), 8 lanes (AVX2) or 16 (AVX-512) wide, on all threads.
//    Counter FLOP/s = 2 per lane per FMA. A GPU's peak comes from its datasheet instead.
#include <benchmark/benchmark.h>
#include <immintrin.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include <cstring>
#include <vector>

#include "bench/bench_util.h"
#include "engine/tensor.h"
#include "kernels/cpu_stream.h"

using namespace ddnet;

namespace {

constexpr std::int64_t kCopyBytes = 256LL << 20;

void BM_machine_copy(benchmark::State& state, bool cuda) {
  Device dev;
  if (!bench::pick_device(state, cuda, &dev)) return;
  const std::int64_t n = kCopyBytes / 4;
  Tensor src = Tensor::full(Shape{n}, 1.0, dev), dst = Tensor::zeros(Shape{n}, dev);
  if (dev.is_cuda()) {
    bench::timed(state, dev, 2.0 * kCopyBytes, [&] { dst.copy_(src); });
    return;
  }
  const char* s = static_cast<const char*>(src.raw_data());
  char* d = static_cast<char*>(dst.raw_data());
  const std::int64_t chunk = 1 << 20;
  bench::timed(state, dev, 2.0 * kCopyBytes, [&] {
#pragma omp parallel for schedule(static)
    for (std::int64_t off = 0; off < kCopyBytes; off += chunk)
      std::memcpy(d + off, s + off, static_cast<std::size_t>(chunk));
    benchmark::ClobberMemory();
  });
}

void BM_machine_copy_nt(benchmark::State& state) {
  const std::int64_t n = kCopyBytes / 4;
  Tensor src = Tensor::full(Shape{n}, 1.0), dst = Tensor::zeros(Shape{n});
  const char* s = static_cast<const char*>(src.raw_data());
  char* d = static_cast<char*>(dst.raw_data());
  const std::int64_t chunk = 1 << 20;
  bench::timed(state, Device::cpu(), 2.0 * kCopyBytes, [&] {
#pragma omp parallel
    {
#pragma omp for schedule(static)
      for (std::int64_t off = 0; off < kCopyBytes; off += chunk)
        kernels::cpu::copy_streaming(d + off, s + off, static_cast<std::size_t>(chunk));
      kernels::cpu::stream_fence();
    }
    benchmark::ClobberMemory();
  });
}

// One thread's FMA chains; returns a value that depends on all of them.
__attribute__((target("avx2,fma"))) float fma_avx2(std::int64_t iters) {
  __m256 acc[12];
  for (int k = 0; k < 12; ++k) acc[k] = _mm256_set1_ps(1.0f + 0.01f * static_cast<float>(k));
  const __m256 m = _mm256_set1_ps(0.9999999f), c = _mm256_set1_ps(1e-7f);
  for (std::int64_t i = 0; i < iters; ++i)
    for (int k = 0; k < 12; ++k) acc[k] = _mm256_fmadd_ps(acc[k], m, c);
  __m256 s = acc[0];
  for (int k = 1; k < 12; ++k) s = _mm256_add_ps(s, acc[k]);
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0] + out[7];
}

__attribute__((target("avx512f"))) float fma_avx512(std::int64_t iters) {
  __m512 acc[12];
  for (int k = 0; k < 12; ++k) acc[k] = _mm512_set1_ps(1.0f + 0.01f * static_cast<float>(k));
  const __m512 m = _mm512_set1_ps(0.9999999f), c = _mm512_set1_ps(1e-7f);
  for (std::int64_t i = 0; i < iters; ++i)
    for (int k = 0; k < 12; ++k) acc[k] = _mm512_fmadd_ps(acc[k], m, c);
  __m512 s = acc[0];
  for (int k = 1; k < 12; ++k) s = _mm512_add_ps(s, acc[k]);
  float out[16];
  _mm512_storeu_ps(out, s);
  return out[0] + out[15];
}

void BM_machine_fma(benchmark::State& state) {
  const bool avx512 = __builtin_cpu_supports("avx512f");
  if (!avx512 && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) {
    state.SkipWithError("this CPU has neither AVX2 with FMA nor AVX-512");
    return;
  }
  const int lanes = avx512 ? 16 : 8;
  const std::int64_t iters = 1 << 22;
  int threads = 1;
  float sink = 0;
  for (auto _ : state) {
#pragma omp parallel reduction(+ : sink)
    {
#pragma omp single
#ifdef _OPENMP
      threads = omp_get_num_threads();
#endif
      sink += avx512 ? fma_avx512(iters) : fma_avx2(iters);
    }
    benchmark::DoNotOptimize(sink);
  }
  const double flops = 2.0 * lanes * 12 * static_cast<double>(iters) * threads;
  state.counters["FLOP/s"] =
      benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["threads"] = threads;
  state.counters["lanes"] = lanes;
}

}  // namespace

BENCHMARK_CAPTURE(BM_machine_copy, cpu, false)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_machine_copy, cuda, true)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_machine_copy_nt)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_machine_fma)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
