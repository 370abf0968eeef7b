// libFuzzer's entry point for one fuzz target (DDNET_LIBFUZZER=ON, clang): built once per target
// as fuzz_<target>, with DDNET_FUZZ_TARGET naming it. The targets are the ones ddnet_fuzz runs.
#include <cstdio>
#include <cstdlib>

#include "tests/fuzz/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const ddnet::fuzz::Target* target = [] {
    const ddnet::fuzz::Target* t = ddnet::fuzz::find_target(DDNET_FUZZ_TARGET);
    if (t == nullptr) {
      std::fprintf(stderr, "no fuzz target named %s\n", DDNET_FUZZ_TARGET);
      std::abort();
    }
    return t;
  }();
  return target->fn(data, size);
}
