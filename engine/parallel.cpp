// Thread count for CPU kernels.
#include "engine/parallel.h"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace ddnet {
int cpu_threads() {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}
}  // namespace ddnet
