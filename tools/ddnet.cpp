// The `ddnet` command: info, prepare (scans -> HDF5 dataset), train, denoise, eval. Thin: argument
// parsing and output; the work lives in the libraries (data/, models/).
#include <CLI/CLI.hpp>

#include <iostream>

#include <fstream>
#include <sstream>

#include "data/prepare.h"
#include "dist/world.h"
#include "engine/allocator.h"
#include "engine/device.h"
#include "engine/error.h"
#include "engine/parallel.h"
#include "generated/ddnet_config.h"
#include "kernels/cpu_conv/config.h"
#include "models/train.h"
#include "tools/commands.h"
#include "tools/data_parallel.h"
#include "tools/sources.h"

using namespace ddnet;

namespace {

int info() {
  std::cout << "ddnet " << DDNET_VERSION << "\n"
            << "  CUDA paths compiled: " << (ddnet::cuda_compiled() ? "yes" : "no") << "\n"
            << "  cuDNN: " << (DDNET_WITH_CUDNN ? "yes" : "no")
            << ", NCCL: " << (DDNET_WITH_NCCL ? "yes" : "no")
            << ", MPI: " << (DDNET_WITH_MPI ? "yes" : "no")
            << ", HDF5: " << (DDNET_WITH_HDF5 ? "yes" : "no") << "\n"
            << "  CPU threads: " << ddnet::cpu_threads() << "\n"
            << "  CPU convolutions: " << kernels::cpu_conv::config().summary() << "\n";
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

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  DDNET_CHECK(f.good(), "cannot read config file ", path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ddnet: 3D-DDnet low-dose CT denoising on a hand-written CUDA/cuDNN engine"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("ddnet ") + DDNET_VERSION);
  auto* info_cmd = app.add_subcommand("info", "Show the build configuration and usable devices");

  auto* train_cmd = app.add_subcommand(
      "train", "Train 2D-DDnet or 3D-DDnet on an HDF5 dataset (or synthetic phantoms)");
  std::string config_path;
  bool resume = false, print_config = false;
  models::TrainConfig over;  // command-line values, applied over the file's
  train_cmd->add_option("--config", config_path,
                        "JSON configuration file (keys as in --print-config)");
  train_cmd->add_flag("--resume", resume, "Continue from <out>/checkpoint.h5");
  train_cmd->add_flag("--print-config", print_config, "Print the effective configuration and exit");
  std::vector<CLI::Option*> opts;
  opts.push_back(train_cmd->add_option("--model", over.model, "2d or 3d"));
  opts.push_back(train_cmd->add_option("--device", over.device, "cpu, cuda or cuda:N"));
  opts.push_back(train_cmd->add_option(
      "--residual", over.residual,
      "Not published: learn the noise (output = input + network), identity at the start"));
  opts.push_back(train_cmd->add_option("--epochs", over.epochs, "Epochs"));
  opts.push_back(train_cmd->add_option("--lr", over.lr, "Learning rate (Adam)"));
  opts.push_back(train_cmd->add_option("--decay", over.decay, "ExponentialLR gamma per epoch"));
  opts.push_back(train_cmd->add_option("--loss-gamma", over.loss_gamma, "Weight of (1 - MS-SSIM)"));
  opts.push_back(
      train_cmd->add_option("--clip-norm", over.clip_norm, "Gradient-norm clipping (0: off)"));
  opts.push_back(train_cmd->add_option("--slices", over.slices, "Slices per volume (3D)"));
  opts.push_back(train_cmd->add_option("--size", over.size, "Height = width of a volume"));
  opts.push_back(train_cmd->add_option("--batch", over.batch, "Batch size"));
  opts.push_back(train_cmd->add_option("--loader", over.loader,
                                       "synthetic, strided, centre, random (3D) or 2d"));
  opts.push_back(train_cmd->add_option("--dataset", over.dataset, "HDF5 dataset (ddnet prepare)"));
  opts.push_back(train_cmd->add_option("--samples-per-scan", over.samples_per_scan,
                                       "Dataset items per scan per epoch (3D loaders)"));
  opts.push_back(
      train_cmd->add_option("--normalise", over.normalise, "minmax (published) or window"));
  opts.push_back(
      train_cmd->add_option("--train-samples", over.train_samples, "Training samples per epoch"));
  opts.push_back(train_cmd->add_option("--val-samples", over.val_samples, "Validation samples"));
  opts.push_back(train_cmd->add_option("--seed", over.seed, "Seed (initialisation, data, order)"));
  opts.push_back(train_cmd->add_option("--donor", over.donor,
                                       "2D weights (HDF5) for 2D -> 3D transfer learning"));
  opts.push_back(
      train_cmd->add_option("--fill", over.fill, "Transfer fill: centre, all or random"));
  opts.push_back(train_cmd->add_option(
      "--freeze-bn", over.freeze_bn,
      "BatchNorm keeps its running statistics while training (fine-tuning; true/false)"));
  opts.push_back(train_cmd->add_option("--out", over.out, "Output folder"));
  opts.push_back(train_cmd->add_option("--checkpoint-every", over.checkpoint_every,
                                       "Checkpoint every N epochs"));
  opts.push_back(
      train_cmd->add_option("--progress", over.progress, "Progress output (true/false)"));
  opts.push_back(train_cmd->add_option("--stop-after-steps", over.stop_after_steps,
                                       "Testing: interrupt after N steps"));

  double bucket_mib = 25;
  bool no_overlap = false;
  train_cmd
      ->add_option("--bucket-mib", bucket_mib,
                   "Data parallel (mpirun): gradient bucket size in MiB")
      ->capture_default_str();
  train_cmd->add_flag("--no-overlap", no_overlap,
                      "Data parallel: all-reduce after backward instead of during it");
  double comm_timeout = 600;
  train_cmd
      ->add_option("--comm-timeout", comm_timeout,
                   "Data parallel on GPUs: seconds a gradient all-reduce may wait for the other "
                   "ranks before the run is ended")
      ->capture_default_str();

  auto prepare = tools::add_prepare(app);
  auto denoise = tools::add_denoise(app);
  auto eval = tools::add_eval(app);

  CLI11_PARSE(app, argc, argv);
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
    if (train_cmd->parsed()) {
      models::TrainConfig c =
          config_path.empty() ? models::TrainConfig{}
                              : models::TrainConfig::from_json(read_file(config_path), config_path);
      // Overrides: every option given on the command line replaces the file's value.
      auto given = [&](const char* name) { return train_cmd->get_option(name)->count() > 0; };
      if (given("--model")) c.model = over.model;
      if (given("--device")) c.device = over.device;
      if (given("--residual")) c.residual = over.residual;
      if (given("--epochs")) c.epochs = over.epochs;
      if (given("--lr")) c.lr = over.lr;
      if (given("--decay")) c.decay = over.decay;
      if (given("--loss-gamma")) c.loss_gamma = over.loss_gamma;
      if (given("--clip-norm")) c.clip_norm = over.clip_norm;
      if (given("--slices")) c.slices = over.slices;
      if (given("--size")) c.size = over.size;
      if (given("--batch")) c.batch = over.batch;
      if (given("--loader")) c.loader = over.loader;
      if (given("--dataset")) c.dataset = over.dataset;
      if (given("--samples-per-scan")) c.samples_per_scan = over.samples_per_scan;
      if (given("--normalise")) c.normalise = over.normalise;
      if (given("--train-samples")) c.train_samples = over.train_samples;
      if (given("--val-samples")) c.val_samples = over.val_samples;
      if (given("--seed")) c.seed = over.seed;
      if (given("--donor")) c.donor = over.donor;
      if (given("--fill")) c.fill = over.fill;
      if (given("--freeze-bn")) c.freeze_bn = over.freeze_bn;
      if (given("--out")) c.out = over.out;
      if (given("--checkpoint-every")) c.checkpoint_every = over.checkpoint_every;
      if (given("--progress")) c.progress = over.progress;
      if (given("--stop-after-steps")) c.stop_after_steps = over.stop_after_steps;
      if (print_config) {
        std::cout << c.to_json() << "\n";
        return 0;
      }
      c.validate();
      std::unique_ptr<tools::MpiSync> sync;
      if (world->size() > 1) {
        DDNET_CHECK(bucket_mib > 0, "--bucket-mib must be positive");
        DDNET_CHECK(comm_timeout > 0, "--comm-timeout must be positive");
        dist::ReducerOptions ro;
        ro.bucket_bytes = static_cast<std::size_t>(bucket_mib * 1024 * 1024);
        ro.first_bucket_bytes = std::min<std::size_t>(ro.bucket_bytes, 1u << 20);
        ro.overlap = !no_overlap;
        sync = std::make_unique<tools::MpiSync>(*world, ro, comm_timeout);
      }
      const auto source = tools::make_sample_source(c, world->rank(), world->size());
      const auto r = models::train(c, *source, resume, sync.get());
      if (sync && world->is_root())
        std::cerr << "ddnet train: " << world->size() << " ranks; communication not hidden by "
                  << "backward: " << sync->exposed_seconds() << " s in all\n";
      std::cerr << "ddnet train: " << r.message << "\n";
      return r.exit_code;
    }
  } catch (const std::exception& e) {
    // One rank of several: end them all, so none waits on this one in a collective.
    if (world != nullptr && world->size() > 1) world->abort(e.what(), 1);
    std::cerr << "ddnet: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
