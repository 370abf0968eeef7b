// Data-parallel training (models::train with tools::MpiSync) on every rank of the launch: N ranks
// with batch 1 each end where one process with batch N ends, to fp32 tolerance. Equal by
// construction only where the batch-N loss is the mean of per-sample losses and BatchNorm does
// not look across the batch: MSE alone (the published MS-SSIM averages its maps over the whole
// batch before combining levels) and BatchNorm on running statistics (freeze_bn); with batch
// statistics each rank normalises its own sample, as PyTorch DDP does.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "dist/world.h"
#include "models/checkpoint.h"
#include "models/ddnet.h"
#include "models/train.h"
#include "tools/data_parallel.h"
#include "tools/sources.h"

using namespace ddnet;
namespace fs = std::filesystem;

namespace {

models::TrainConfig config(const std::string& out, int batch) {
  models::TrainConfig c;
  c.model = "2d";
  c.loader = "synthetic";
  c.size = 32;
  c.train_samples = 8;
  c.val_samples = 2;
  c.epochs = 2;
  c.batch = batch;
  c.loss_gamma = 0;  // MSE only
  c.freeze_bn = true;
  c.seed = 21;
  c.progress = false;
  c.out = out;
  return c;
}

std::vector<float> weights(const std::string& checkpoint) {
  models::DDnet net({2, kernels::UpsampleMode::linear, 0, false});
  models::load_checkpoint(checkpoint, net, nullptr);
  std::vector<float> all;
  for (const auto& p : net.named_parameters()) {
    const auto v = p.tensor->to_vector<float>();
    all.insert(all.end(), v.begin(), v.end());
  }
  return all;
}

}  // namespace

TEST_CASE("data parallel: N ranks of batch 1 end where one process of batch N ends", "[mpi]") {
  dist::World& w = dist::World::get();
  // One folder for the run (rank 0's name), another per rank for the reference.
  std::string base =
      (fs::temp_directory_path() / ("ddnet_dp_" + std::to_string(getpid()))).string();
  std::vector<char> buf(base.begin(), base.end());
  buf.resize(256, '\0');
  w.broadcast(buf.data(), buf.size());
  base = std::string(buf.data());
  const std::string parallel = base + "_parallel",
                    single = base + "_single_rank" + std::to_string(w.rank());

  dist::ReducerOptions ro;
  ro.bucket_bytes = 512 << 10;  // several buckets for 566k parameters
  ro.first_bucket_bytes = 32 << 10;
  tools::MpiSync sync(w, ro);
  const models::TrainConfig pc = config(parallel, 1);
  const auto src = tools::make_sample_source(pc, w.rank(), w.size());
  const auto r = models::train(pc, *src, false, w.size() > 1 ? &sync : nullptr);
  REQUIRE(r.exit_code == 0);
  CHECK(r.steps == 2 * 8 / w.size());
  w.barrier();  // rank 0 has written final.h5

  const models::TrainConfig sc = config(single, w.size());
  const auto one = tools::make_sample_source(sc, 0, 1);
  const auto rs = models::train(sc, *one, false, nullptr);
  REQUIRE(rs.exit_code == 0);
  CHECK(rs.steps == r.steps);

  const auto a = weights(parallel + "/final.h5"), b = weights(single + "/final.h5");
  REQUIRE(a.size() == b.size());
  double worst = 0, moved = 0;
  const auto init = [&] {
    models::DDnet net({2, kernels::UpsampleMode::linear, 21, false});
    std::vector<float> all;
    for (const auto& p : net.named_parameters()) {
      const auto v = p.tensor->to_vector<float>();
      all.insert(all.end(), v.begin(), v.end());
    }
    return all;
  }();
  for (std::size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
    moved = std::max(moved, std::abs(static_cast<double>(b[i]) - static_cast<double>(init[i])));
  }
  INFO("largest difference " << worst << ", largest change by training " << moved);
  CHECK(moved > 1e-4);           // training did move the weights
  CHECK(worst <= 1e-3 * moved);  // and both runs moved them alike, to fp32 rounding
  w.barrier();
  fs::remove_all(single);
  if (w.is_root()) fs::remove_all(parallel);
}
