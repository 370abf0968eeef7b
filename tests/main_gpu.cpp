// Catch2 runner of the GPU suite: without a usable CUDA device every entry exits with 77, which
// ctest reports as SKIPPED (never as passed), as does an entry whose test case DDNET_SKIP ended
// (tests/skip.h: two ranks on a one-GPU machine). Listing tests works without a device. CPU
// references run the pinned CPU convolutions (im2col + BLAS, kernels/cpu_conv/config.h), so what
// CUDA results are compared against does not change with the machine.
#include <cstring>
#include <iostream>

#include "engine/device.h"
#include "kernels/cpu_conv/config.h"
#include "tests/runner.h"

int main(int argc, char** argv) {
  bool listing = false;
  for (int i = 1; i < argc; ++i) listing = listing || std::strncmp(argv[i], "--list", 6) == 0;
  if (!listing && ddnet::cuda_device_count() == 0) {
    std::cout << "SKIPPED: no usable CUDA device (" << ddnet::cuda_unavailable_reason() << ")\n";
    return 77;
  }
  ddnet::kernels::cpu_conv::set_config(ddnet::kernels::cpu_conv::Config::pinned());
  return ddnet::test::run_session(argc, argv);
}
