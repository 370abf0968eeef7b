// The `ddnet` command: info, prepare (scans -> HDF5 dataset), train, denoise, eval, bench. Thin:
// argument parsing and output; the work lives in the libraries (data/, models/).
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <iostream>
#include <string>

#include "dist/world.h"
#include "engine/allocator.h"
#include "engine/device.h"
#include "engine/error.h"
#include "engine/parallel.h"
#include "generated/ddnet_config.h"
#include "kernels/cpu_conv/config.h"
#include "kernels/cpu_features.h"
#include "tools/commands.h"

using namespace ddnet;

namespace {

int info() {
  std::cout << "ddnet " << DDNET_VERSION << "\n"
            << "  CUDA paths compiled: " << (ddnet::cuda_compiled() ? "yes" : "no") << "\n"
            << "  cuDNN: " << (DDNET_WITH_CUDNN ? "yes" : "no")
            << ", NCCL: " << (DDNET_WITH_NCCL ? "yes" : "no")
            << ", MPI: " << (DDNET_WITH_MPI ? "yes" : "no")
            << ", HDF5: " << (DDNET_WITH_HDF5 ? "yes" : "no") << "\n"
            << "  CPU threads: " << ddnet::CpuThreadPolicy::from_environment().summary() << "\n"
            << "  OpenMP waits: "
            << (std::getenv("OMP_WAIT_POLICY")
                    ? std::string("OMP_WAIT_POLICY=") + std::getenv("OMP_WAIT_POLICY")
                : std::getenv("GOMP_SPINCOUNT")
                    ? std::string("spin ") + std::getenv("GOMP_SPINCOUNT") +
                          " times, then sleep (GOMP_SPINCOUNT)"
                    : std::string("libgomp's default"))
            << "\n"
            << "  CPU convolutions: " << kernels::cpu_conv::config().summary() << "\n"
            << "  CPU stores: " << kernels::stream_stores_summary() << "\n";
  const dist::World& w = dist::World::get();
  std::cout << "  processes: " << w.size()
            << (w.uses_mpi() ? " (MPI world; this is rank " + std::to_string(w.rank()) +
                                   ", local rank " + std::to_string(w.local_rank()) + " of " +
                                   std::to_string(w.local_size()) + ")"
                             : std::string(" (no MPI launcher)"))
            << "\n";
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
  ddnet::exec_with_short_spin_waits(argv);  // before any OpenMP work: engine/parallel.h
  CLI::App app{"ddnet: 3D-DDnet low-dose CT denoising on a hand-written CUDA/cuDNN engine"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("ddnet ") + DDNET_VERSION);
  auto* info_cmd = app.add_subcommand("info", "Show the build configuration and usable devices");

  auto train = tools::add_train(app);
  auto prepare = tools::add_prepare(app);
  auto denoise = tools::add_denoise(app);
  auto eval = tools::add_eval(app);
  auto bench = tools::add_bench(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; a usage error 2, as commands do (CLI11's own codes are
    // 100-127), so scripts tell it from a failed run (1) and an interrupted one (130, 143).
    return app.exit(e) == 0 ? 0 : 2;
  }
  dist::World* world = nullptr;
  struct FinalizeAtReturn {
    ~FinalizeAtReturn() { dist::World::get().finalize(); }
  } finalize_at_return;
  try {
    world = &dist::World::init();  // MPI only when a launcher (mpirun, srun) started us
    if (info_cmd->parsed()) return info();
    if (prepare.cmd->parsed()) return prepare.run();
    if (denoise.cmd->parsed()) return denoise.run();
    if (eval.cmd->parsed()) return eval.run();
    if (bench.cmd->parsed()) return bench.run();
    if (train.cmd->parsed()) return train.run();
  } catch (const std::exception& e) {
    // One rank of several: end them all, so none waits on this one in a collective.
    if (world != nullptr && world->size() > 1) world->abort(e.what(), 1);
    std::cerr << "ddnet: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
