// `ddnet train`: the configuration from a JSON file (--config) with command-line values over it,
// one option per field of models::train_config_fields(), the data-parallel options, then
// models::train on the sample source for this rank.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "data/dataset.h"
#include "dist/world.h"
#include "engine/error.h"
#include "models/memory_estimate.h"
#include "models/train.h"
#include "tools/commands.h"
#include "tools/data_parallel.h"
#include "tools/output_guard.h"
#include "tools/sources.h"

namespace ddnet::tools {

namespace {

struct TrainArgs {
  std::string config_path;
  bool resume = false, overwrite = false, print_config = false, allow_external = false;
  models::TrainConfig over;  // command-line values, applied over the file's
  double bucket_mib = 25;
  bool no_overlap = false;
  double comm_timeout = 600;
  bool ignore_memory_estimate = false;
};

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  DDNET_CHECK(f.good(), "cannot read config file ", path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The file's configuration (or the defaults), with every option given on the command line
// replacing the file's value.
models::TrainConfig effective_config(const CLI::App& cmd, const TrainArgs& a) {
  models::TrainConfig c = a.config_path.empty() ? models::TrainConfig{}
                                                : models::TrainConfig::from_json(
                                                      read_file(a.config_path), a.config_path);
  for (const models::TrainConfigField& f : models::train_config_fields())
    if (f.help != nullptr && cmd.get_option(f.flag())->count() > 0)
      std::visit([&](auto member) { c.*member = a.over.*member; }, f.member);
  return c;
}

namespace fs = std::filesystem;

// What a run writes into its --out folder (models/train.h): the log and the checkpoints.
bool is_run_file(const std::string& name) {
  const std::string epoch = "checkpoint_epoch", h5 = ".h5";
  return name == "train.jsonl" || name == "checkpoint.h5" || name == "final.h5" ||
         (name.compare(0, epoch.size(), epoch) == 0 && name.size() > epoch.size() + h5.size() &&
          name.compare(name.size() - h5.size(), h5.size(), h5) == 0);
}

// The files of an earlier run in `out` (none when the folder does not exist).
std::vector<fs::path> run_files(const std::string& out) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(out, ec))
    if (is_run_file(e.path().filename().string())) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

// Before any work: the run's files replace none of its inputs, and an earlier run in --out is
// continued (--resume) or replaced (--overwrite: its log and checkpoints are removed here, by the
// rank that writes), never mixed into.
void check_run_folder(const models::TrainConfig& c, const TrainArgs& a, bool root) {
  std::error_code ec;
  DDNET_CHECK(!fs::exists(c.out, ec) || fs::is_directory(c.out, ec), "--out ", c.out,
              " exists and is not a folder: give the run's folder");
  for (const auto& [option, in] :
       {std::pair<const char*, const std::string&>{"--dataset", c.dataset},
        {"--donor", c.donor},
        {"--config", a.config_path}}) {
    if (in.empty()) continue;
    const std::string name = fs::weakly_canonical(fs::absolute(in), ec).filename().string();
    DDNET_CHECK(!is_run_file(name) || !output_replaces((fs::path(c.out) / name).string(), in),
                option, " ", in, " is a file the run writes into --out ", c.out,
                ": copy it elsewhere or give another --out");
  }
  const std::vector<fs::path> old = run_files(c.out);
  if (old.empty() || a.resume) return;
  std::string names;
  for (const fs::path& f : old) names += (names.empty() ? "" : ", ") + f.filename().string();
  DDNET_CHECK(a.overwrite, "--out ", c.out, " already holds a training run (", names,
              "): give --resume to continue it, or --overwrite to start afresh and replace its "
              "log and checkpoints");
  if (!root) return;
  for (const fs::path& f : old) {
    fs::remove(f, ec);
    DDNET_CHECK(!ec, "--overwrite: cannot remove ", f.string(), ": ", ec.message());
  }
  std::cerr << "ddnet train: --overwrite: removed " << old.size()
            << " file(s) of the earlier run in " << c.out << "\n";
}

// Input voxels of one training step: batch x slices x crop (2D: batch x crop); a crop of 0 takes
// whole slices, the largest of the dataset's.
std::int64_t voxels_per_step(const models::TrainConfig& c) {
  std::int64_t plane = c.size * c.size;
  if (c.size == 0 && !c.dataset.empty()) {
    const data::Dataset ds = data::Dataset::open(c.dataset);
    for (const data::ScanInfo& s : ds.scans()) plane = std::max(plane, s.rows * s.cols);
  }
  return static_cast<std::int64_t>(c.batch) * (c.model == "3d" ? c.slices : 1) * plane;
}

// Before any work: the run's estimated memory against what this machine (GPU) has left.
void check_training_memory(const models::TrainConfig& c, const Device& device,
                           const dist::World& world, bool enforce) {
  const models::MemoryEstimate e =
      models::estimate_training_memory(c.model == "3d" ? 3 : 2, voxels_per_step(c), device,
                                       c.memory == "lean", c.recompute_from_level);
  std::string where;
  const double available = models::available_memory(device, &where);
  if (world.is_root())
    std::cerr << "ddnet train: memory estimate per rank: " << e.str() << "; "
              << std::llround(available / (1024.0 * 1024.0)) << " MiB " << where << "\n";
  if (!enforce) return;
  // The largest crop (a multiple of 16) whose estimate fits, for the advice.
  const int sharing = device.is_cpu() ? world.local_size() : 1;
  std::int64_t fits = 0;
  for (std::int64_t size = 16; size <= 65536; size += 16) {
    models::TrainConfig smaller = c;
    smaller.size = size;
    const models::MemoryEstimate es =
        models::estimate_training_memory(c.model == "3d" ? 3 : 2, voxels_per_step(smaller), device,
                                         c.memory == "lean", c.recompute_from_level);
    if (es.total() * sharing > available) break;
    fits = size;
  }
  // The estimate with another memory mode or stage recompute, for the advice.
  auto estimate_with = [&](bool lean, int recompute_from_level) {
    return models::bytes_str(models::estimate_training_memory(c.model == "3d" ? 3 : 2,
                                                              voxels_per_step(c), device, lean,
                                                              recompute_from_level)
                                 .total());
  };
  models::check_memory(
      "train", e, device, sharing,
      std::string("Give a smaller --size (the crop; activations grow with its "
                  "square") +
          (fits > 0 ? "; --size " + std::to_string(fits) + " would fit" : "") + ")" +
          (c.model == "3d" ? ", fewer --slices" : "") +
          (c.memory == "fast" ? ", --memory lean (about " + estimate_with(true, 0) + ")" : "") +
          (c.recompute_from_level != 1 ? ", --recompute-from-level 1 (stage recompute: about " +
                                             estimate_with(true, 1) + ")"
                                       : "") +
          " or a smaller --batch, or a device with more memory");
}

int run_train(const CLI::App& cmd, const TrainArgs& a) {
  models::TrainConfig c = effective_config(cmd, a);
  if (a.print_config) {
    std::cout << c.to_json() << "\n";
    return 0;
  }
  c.validate();
  dist::World& world = dist::World::get();
  // This rank's device as MpiSync::device picks it (the GPU of its local rank).
  Device device = Device::parse(c.device);
  if (device.is_cuda() && world.local_size() > 1) device = Device::cuda(world.local_rank());
  check_training_memory(c, device, world, !a.ignore_memory_estimate);
  check_run_folder(c, a, world.is_root());
  std::unique_ptr<MpiSync> sync;
  if (world.size() > 1) {
    DDNET_CHECK(a.bucket_mib > 0, "--bucket-mib must be positive");
    DDNET_CHECK(a.comm_timeout > 0, "--comm-timeout must be positive");
    world.set_timeout(a.comm_timeout);  // every MPI collective of the run (CPU and GPU ranks)
    dist::ReducerOptions ro;
    ro.bucket_bytes = static_cast<std::size_t>(a.bucket_mib * 1024 * 1024);
    ro.first_bucket_bytes = std::min<std::size_t>(ro.bucket_bytes, 1u << 20);
    ro.overlap = !a.no_overlap;
    sync = std::make_unique<MpiSync>(world, ro, a.comm_timeout);
  }
  const auto source = make_sample_source(c, world.rank(), world.size(), a.allow_external);
  const auto r = models::train(c, *source, a.resume, sync.get());
  if (sync && world.is_root())
    std::cerr << "ddnet train: " << world.size() << " ranks; communication not hidden by "
              << "backward: " << sync->exposed_seconds() << " s in all\n";
  std::cerr << "ddnet train: " << r.message << "\n";
  return r.exit_code;
}

}  // namespace

Command add_train(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "train", "Train 2D-DDnet or 3D-DDnet on an HDF5 dataset (or synthetic phantoms)");
  auto a = std::make_shared<TrainArgs>();
  cmd->add_option("--config", a->config_path,
                  "JSON configuration file (keys as in --print-config)");
  auto* resume = cmd->add_flag("--resume", a->resume, "Continue from <out>/checkpoint.h5");
  cmd->add_flag("--overwrite", a->overwrite,
                "Start afresh in an --out folder that holds an earlier run, removing its log and "
                "checkpoints (without --resume or --overwrite such a folder is refused)")
      ->excludes(resume);
  cmd->add_flag("--print-config", a->print_config, "Print the effective configuration and exit");
  cmd->add_flag(
      "--allow-external", a->allow_external,
      "Read a dataset whose members are external links, external storage or virtual datasets: "
      "HDF5 then opens the other host files they name. Refused by default; give it only for "
      "files you trust");
  for (const models::TrainConfigField& f : models::train_config_fields())
    if (f.help != nullptr)
      std::visit(
          [&](auto member) {
            auto* opt = cmd->add_option(f.flag(), a->over.*member, f.help);
            using T = std::remove_reference_t<decltype(a->over.*member)>;
            // CLI11 reads "-1" into an unsigned as its largest value: refused instead.
            if constexpr (std::is_unsigned_v<T> && !std::is_same_v<T, bool>)
              opt->check(CLI::NonNegativeNumber);
          },
          f.member);
  cmd->add_flag("--ignore-memory-estimate", a->ignore_memory_estimate,
                "Train even when the estimated memory (printed at start) exceeds what the machine "
                "or GPU has available");
  cmd->add_option("--bucket-mib", a->bucket_mib,
                  "Data parallel (mpirun): gradient bucket size in MiB")
      ->capture_default_str();
  cmd->add_flag("--no-overlap", a->no_overlap,
                "Data parallel: all-reduce after backward instead of during it");
  cmd->add_option("--comm-timeout", a->comm_timeout,
                  "Data parallel (mpirun): seconds a collective (an MPI one on CPU ranks, at start "
                  "and for the logged losses on GPU ranks; NCCL's init and all-reduces on GPU "
                  "ranks) may wait for the other ranks before every rank is ended, naming the "
                  "ranks that did not arrive")
      ->capture_default_str();
  return {cmd, [cmd, a] { return run_train(*cmd, *a); }};
}

}  // namespace ddnet::tools
