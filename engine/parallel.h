// CPU parallelism: OpenMP when the build has it, a plain loop otherwise. Reductions that must be
// deterministic split work into fixed-size chunks (independent of the thread count) and combine
// the chunk results in order.
#pragma once

#include <algorithm>
#include <cstdint>

namespace ddnet {

int cpu_threads();  // threads a parallel region uses

// f(begin, end) over [0, n) in ranges of at least `grain` elements; serial when n <= grain.
template <class F>
void parallel_for(std::int64_t n, std::int64_t grain, F&& f) {
  if (n <= 0) return;
  const std::int64_t chunks = std::max<std::int64_t>(
      1, std::min<std::int64_t>(n / std::max<std::int64_t>(grain, 1), cpu_threads()));
  if (chunks == 1) {
    f(std::int64_t{0}, n);
    return;
  }
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) num_threads(static_cast <int>(chunks))
#endif
  for (std::int64_t c = 0; c < chunks; ++c) {
    const std::int64_t b = n * c / chunks, e = n * (c + 1) / chunks;
    f(b, e);
  }
}

}  // namespace ddnet
