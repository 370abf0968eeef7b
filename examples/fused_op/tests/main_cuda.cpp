// Catch2 runner of the CUDA tests: without a usable CUDA device (a machine without a GPU, an
// install without CUDA) it exits with 77, which ctest reports as Skipped (SKIP_RETURN_CODE 77 in
// CMakeLists.txt), never as passed. The emulated install has devices: the tests run there.
#include <cstring>
#include <iostream>

#include "engine/device.h"
#include "runner.h"

int main(int argc, char** argv) {
  bool listing = false;
  for (int i = 1; i < argc; ++i) listing = listing || std::strncmp(argv[i], "--list", 6) == 0;
  if (!listing && (!FUSED_OP_WITH_CUDA || ddnet::cuda_device_count() == 0)) {
    std::cout << "SKIPPED: no usable CUDA device ("
              << (FUSED_OP_WITH_CUDA ? ddnet::cuda_unavailable_reason()
                                     : std::string("the example was built without CUDA"))
              << ")\n";
    return 77;
  }
  std::cout << "CUDA device 0: " << ddnet::cuda_device_name(0) << "\n";
  return fused_op::test::run_session(argc, argv);
}
