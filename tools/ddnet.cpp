// The `ddnet` command. Subcommands arrive with their issues (train, denoise, eval, prepare,
// bench); `ddnet info` reports the build and the devices this process can use.
#include <CLI/CLI.hpp>

#include <iostream>

#include "engine/allocator.h"
#include "engine/device.h"
#include "engine/error.h"
#include "engine/parallel.h"
#include "generated/ddnet_config.h"

namespace {

int info() {
  std::cout << "ddnet " << DDNET_VERSION << "\n"
            << "  CUDA paths compiled: " << (ddnet::cuda_compiled() ? "yes" : "no") << "\n"
            << "  cuDNN: " << (DDNET_WITH_CUDNN ? "yes" : "no")
            << ", NCCL: " << (DDNET_WITH_NCCL ? "yes" : "no")
            << ", MPI: " << (DDNET_WITH_MPI ? "yes" : "no")
            << ", HDF5: " << (DDNET_WITH_HDF5 ? "yes" : "no") << "\n"
            << "  CPU threads: " << ddnet::cpu_threads() << "\n";
  const int n = ddnet::cuda_device_count();
  if (n == 0) {
    std::cout << "  CUDA devices: none (" << ddnet::cuda_unavailable_reason() << ")\n";
  } else {
    for (int i = 0; i < n; ++i)
      std::cout << "  cuda:" << i << ": " << ddnet::cuda_device_name(i) << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ddnet: 3D-DDnet low-dose CT denoising on a hand-written CUDA/cuDNN engine"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("ddnet ") + DDNET_VERSION);
  auto* info_cmd = app.add_subcommand("info", "Show the build configuration and usable devices");
  CLI11_PARSE(app, argc, argv);
  try {
    if (info_cmd->parsed()) return info();
  } catch (const ddnet::Error& e) {
    std::cerr << "ddnet: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
