// Catch2 runner of the GPU suite: without a usable CUDA device every entry exits with 77, which
// ctest reports as SKIPPED (never as passed), as does an entry whose test case DDNET_SKIP ended
// (tests/skip.h: two ranks on a one-GPU machine). Listing tests works without a device.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstring>
#include <iostream>

#include "engine/device.h"
#include "tests/runner.h"

int main(int argc, char** argv) {
  bool listing = false;
  for (int i = 1; i < argc; ++i) listing = listing || std::strncmp(argv[i], "--list", 6) == 0;
  if (!listing && ddnet::cuda_device_count() == 0) {
    std::cout << "SKIPPED: no usable CUDA device (" << ddnet::cuda_unavailable_reason() << ")\n";
    return 77;
  }
  return ddnet::test::run_session(argc, argv);
}
