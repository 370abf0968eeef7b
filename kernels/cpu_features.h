// What the CPU running us can do, asked once per process: the kernels that have AVX2 (or AVX2 +
// FMA) versions of their loops choose them at run time with these, as the baseline build targets
// plain x86-64.
#pragma once

namespace ddnet::kernels {

inline bool cpu_has_avx2() {
#if defined(__x86_64__)
  static const bool yes = __builtin_cpu_supports("avx2");
  return yes;
#else
  return false;
#endif
}

inline bool cpu_has_avx2_fma() {
#if defined(__x86_64__)
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes;
#else
  return false;
#endif
}

}  // namespace ddnet::kernels
