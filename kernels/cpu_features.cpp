// The non-temporal store switch (cpu_features.h): parsed once from the environment.
#include "kernels/cpu_features.h"

#include <sched.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <thread>

#if __has_include(<unistd.h>)
#include <unistd.h>
#endif

#include "engine/error.h"

namespace ddnet::kernels {

StreamStores stream_stores_from_environment() {
  const char* v = std::getenv("DDNET_CPU_STREAM_STORES");
  const std::string s = v ? v : "";
  if (s.empty() || s == "auto") return StreamStores::automatic;
  DDNET_CHECK(s == "on" || s == "off", "DDNET_CPU_STREAM_STORES='", s,
              "': expected auto, on or off");
  return s == "on" ? StreamStores::always : StreamStores::never;
}

StreamStores stream_stores() {
  static const StreamStores mode = stream_stores_from_environment();
  return mode;
}

namespace {
// The highest-level cache cpu0 sees, from sysfs ("32768K"), or 0. Read before sysconf: glibc's
// answer comes from CPUID and on the EPYC VMs here says 256 MiB for a 32 MiB L3.
std::size_t sysfs_last_level_cache() {
  std::size_t best = 0;
  int best_level = 0;
  for (int i = 0; i < 8; ++i) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
    std::ifstream level_file(dir + "level"), size_file(dir + "size");
    int level = 0;
    std::string size;
    if (!(level_file >> level) || !(size_file >> size) || size.empty()) continue;
    std::size_t unit = 1;
    if (size.back() == 'K') unit = std::size_t{1} << 10;
    if (size.back() == 'M') unit = std::size_t{1} << 20;
    const std::size_t value = std::strtoull(size.c_str(), nullptr, 10) * unit;
    if (level > best_level && value > 0) {
      best_level = level;
      best = value;
    }
  }
  return best;
}
}  // namespace

std::size_t cpu_last_level_cache_bytes() {
  static const std::size_t bytes = [] {
    if (const std::size_t sysfs = sysfs_last_level_cache(); sysfs > 0) return sysfs;
    long b = -1;
#if defined(_SC_LEVEL3_CACHE_SIZE)
    b = sysconf(_SC_LEVEL3_CACHE_SIZE);
#endif
#if defined(_SC_LEVEL2_CACHE_SIZE)
    if (b <= 0) b = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
    return b > 0 ? static_cast<std::size_t>(b) : std::size_t{8} << 20;
  }();
  return bytes;
}

std::size_t cpu_stream_store_threshold_bytes() {
  static const std::size_t bytes = [] {
    cpu_set_t set;
    CPU_ZERO(&set);
    std::size_t cpus = std::thread::hardware_concurrency();
    if (sched_getaffinity(0, sizeof set, &set) == 0) cpus = CPU_COUNT(&set);
    cpus = std::max<std::size_t>(cpus, 1);
    return std::min(cpu_last_level_cache_bytes(), cpus * (std::size_t{16} << 20));
  }();
  return bytes;
}

bool cpu_stream_stores_for(std::size_t bytes_written) {
  if (detail::force_stream_stores().load(std::memory_order_relaxed)) return true;
  switch (stream_stores()) {
    case StreamStores::always:
      return true;
    case StreamStores::never:
      return false;
    default:
      return bytes_written >= cpu_stream_store_threshold_bytes();
  }
}

std::string stream_stores_summary() {
  const auto mib = static_cast<double>(cpu_stream_store_threshold_bytes()) / (1024.0 * 1024.0);
  const auto llc = static_cast<double>(cpu_last_level_cache_bytes()) / (1024.0 * 1024.0);
  std::string s;
  switch (stream_stores()) {
    case StreamStores::always:
      s = "always";
      break;
    case StreamStores::never:
      s = "never";
      break;
    default:
      s = ::ddnet::detail::concat("for calls writing at least ", mib,
                                  " MiB (the last-level cache, ", llc,
                                  " MiB, or 16 MiB per CPU, whichever is less)");
  }
  return "non-temporal stores " + s + " (DDNET_CPU_STREAM_STORES)";
}

}  // namespace ddnet::kernels
