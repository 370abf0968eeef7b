// What the CPU running us can do, asked once per process: the kernels that have AVX2 (or AVX2 +
// FMA) versions of their loops choose them at run time with these, as the baseline build targets
// plain x86-64.
#pragma once

#include <atomic>
#include <cstddef>

#include <string>

namespace ddnet::kernels {

namespace detail {
// Set by tests (ForceBaselineIsa) to run the baseline x86-64 twins on an AVX2 machine, so that
// the twins can be compared bit for bit.
inline std::atomic<bool>& force_baseline_isa() {
  static std::atomic<bool> yes{false};
  return yes;
}
// Set by tests (ForceStreamStores) to take the non-temporal paths on small tensors.
inline std::atomic<bool>& force_stream_stores() {
  static std::atomic<bool> yes{false};
  return yes;
}
}  // namespace detail

inline bool cpu_has_avx2() {
#if defined(__x86_64__)
  static const bool yes = __builtin_cpu_supports("avx2");
  return yes && !detail::force_baseline_isa().load(std::memory_order_relaxed);
#else
  return false;
#endif
}

inline bool cpu_has_avx2_fma() {
#if defined(__x86_64__)
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes && !detail::force_baseline_isa().load(std::memory_order_relaxed);
#else
  return false;
#endif
}

// While one lives, cpu_has_avx2() and cpu_has_avx2_fma() say no (for tests; not thread-safe
// against kernels running at the same time).
class ForceBaselineIsa {
 public:
  ForceBaselineIsa() { detail::force_baseline_isa().store(true); }
  ~ForceBaselineIsa() { detail::force_baseline_isa().store(false); }
  ForceBaselineIsa(const ForceBaselineIsa&) = delete;
  ForceBaselineIsa& operator=(const ForceBaselineIsa&) = delete;
};

// Non-temporal stores. A kernel that writes more than the cache it can count on in one call
// (cpu_stream_store_threshold_bytes: the upsampling forward, concatenation and split) writes
// with non-temporal stores: what it writes
// would leave the cache before anyone reads it, and a plain store first reads the line it writes
// (read-for-ownership), a third more memory traffic than a copy needs.
// DDNET_CPU_STREAM_STORES=auto (that rule, the default) | on (always) | off (never); read once.
enum class StreamStores { automatic, always, never };
StreamStores stream_stores_from_environment();  // a bad value is an error naming the variable
StreamStores stream_stores();                   // the setting in force (read once)

// The last-level cache's size in bytes (sysfs, else sysconf), 8 MiB when the system does not say.
std::size_t cpu_last_level_cache_bytes();

// The bytes from which a call's writes bypass the cache (`auto`): the last-level cache or 16 MiB
// per CPU this process may use, whichever is less. In a VM, sysfs reports the host socket's
// whole L3, shared with other tenants (260 MiB on the 2-CPU Intel Xeon VMs here, where 128 MiB
// upsampling outputs wrote 1.4-2x faster with non-temporal stores).
std::size_t cpu_stream_store_threshold_bytes();

// Whether a call writing this many bytes uses non-temporal stores.
bool cpu_stream_stores_for(std::size_t bytes_written);

// One line for `ddnet info` and `ddnet bench`.
std::string stream_stores_summary();

// While one lives, every call takes the non-temporal path (for tests, like ForceBaselineIsa).
class ForceStreamStores {
 public:
  ForceStreamStores() { detail::force_stream_stores().store(true); }
  ~ForceStreamStores() { detail::force_stream_stores().store(false); }
  ForceStreamStores(const ForceStreamStores&) = delete;
  ForceStreamStores& operator=(const ForceStreamStores&) = delete;
};

}  // namespace ddnet::kernels
