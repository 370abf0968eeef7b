// BatchNorm recalibration (models/recalibrate.h, TrainConfig::bn_recalibrate): the cumulative
// momentum of nn::BatchNorm, the recalibrated statistics against each volume's own batch
// statistics, and `ddnet train --bn-recalibrate` leaving in its checkpoints what a recalibration
// of the trained weights gives, without changing the training.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/rng.h"
#include "graph/nn.h"
#include "models/checkpoint.h"
#include "models/ddnet.h"
#include "models/recalibrate.h"
#include "models/train.h"
#include "tests/op_harness.h"
#include "tools/sources.h"

using namespace ddnet;
using Catch::Matchers::Contains;

namespace {

// A dataset of 20 x side x side scans: one to train on, one to validate on.
std::string make_set(const std::string& dir, std::int64_t side = 64) {
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/set" + std::to_string(side) + ".h5";
  data::DatasetWriter w(path);
  data::Volume nd(20, side, side), ld(20, side, side);
  for (std::size_t i = 0; i < nd.voxels.size(); ++i) {
    nd.voxels[i] = static_cast<float>(static_cast<int>(i * 37 % 900)) - 500.f;
    ld.voxels[i] = nd.voxels[i] + static_cast<float>(static_cast<int>(i * 11 % 60)) - 30.f;
  }
  w.add_scan("a", data::Split::train, nd, &ld);
  w.add_scan("b", data::Split::val, nd, &ld);
  w.commit();
  return path;
}

// Per-channel mean and unbiased variance of x (N, C, spatial...), in double.
void channel_stats(const Tensor& x, std::vector<double>& mean, std::vector<double>& var) {
  const Tensor h = test::to_f64(x);
  const auto n = h.shape()[0], c = h.shape()[1];
  const std::int64_t s = h.numel() / (n * c);
  const double* p = h.data<double>();
  mean.assign(static_cast<std::size_t>(c), 0.0);
  var.assign(static_cast<std::size_t>(c), 0.0);
  for (std::int64_t k = 0; k < c; ++k) {
    double sum = 0, sq = 0;
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < s; ++j) sum += p[(i * c + k) * s + j];
    const double m = sum / static_cast<double>(n * s);
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < s; ++j)
        sq += (p[(i * c + k) * s + j] - m) * (p[(i * c + k) * s + j] - m);
    mean[static_cast<std::size_t>(k)] = m;
    var[static_cast<std::size_t>(k)] = sq / static_cast<double>(n * s - 1);
  }
}

std::vector<Tensor> running_stats(models::DDnet& net) {
  std::vector<Tensor> out;
  for (const auto& b : net.named_buffers())
    if (b.tensor->dtype() == DType::f32) out.push_back(b.tensor->to(Device::cpu()).clone());
  return out;
}

}  // namespace

TEST_CASE("batch norm: without a momentum, the running statistics average every batch",
          "[models][recalibrate]") {
  nn::BatchNorm bn(3);
  bn.momentum.reset();
  bn.train();
  Generator g(7);
  std::vector<double> sum_mean(3, 0.0), sum_var(3, 0.0), m, v;
  NoGradGuard no_grad;
  for (int k = 0; k < 3; ++k) {
    const Tensor x = g.uniform({2, 3, 4, 5, 6}, Device::cpu(), -1.f + k, 2.f + 2 * k);
    bn.forward(x);
    channel_stats(x, m, v);
    for (std::size_t c = 0; c < 3; ++c) {
      sum_mean[c] += m[c];
      sum_var[c] += v[c];
    }
  }
  REQUIRE(bn.num_batches_tracked.data<std::int32_t>()[0] == 3);
  std::vector<double> mean(3), var(3);
  for (std::size_t c = 0; c < 3; ++c) {
    mean[c] = sum_mean[c] / 3;
    var[c] = sum_var[c] / 3;
  }
  test::check_close(test::to_f64(bn.running_mean), Tensor::from_vector(mean, {3}), 1e-5, 1e-6,
                    "running_mean");
  test::check_close(test::to_f64(bn.running_var), Tensor::from_vector(var, {3}), 1e-5, 1e-6,
                    "running_var");
}

TEST_CASE("recalibration: the statistics are the average of each volume's own, weights untouched",
          "[models][recalibrate]") {
  for (const int dims : {2, 3}) {
    const Shape shape = dims == 2 ? Shape{2, 1, 32, 32} : Shape{1, 1, 16, 32, 32};
    Generator g(11);
    const std::vector<Tensor> volumes = {g.uniform(shape, Device::cpu(), 0.f, 1.f),
                                         g.uniform(shape, Device::cpu(), 0.2f, 0.7f)};
    models::DDnet net({dims, kernels::UpsampleMode::linear, 5});
    const Tensor before = net.named_parameters()[0].tensor->clone();
    models::recalibrate_batch_norm(
        net, [&net](const Tensor& x) { return net.forward(x); }, 2,
        [&volumes](std::int64_t i) { return volumes[static_cast<std::size_t>(i)]; }, Device::cpu());
    CHECK_FALSE(net.training());
    CHECK(test::same_bits(*net.named_parameters()[0].tensor, before));
    std::vector<Tensor> got = running_stats(net);

    // Each volume's batch statistics: a training forward with momentum 1 copies them.
    std::vector<std::vector<Tensor>> each;
    for (const Tensor& v : volumes) {
      models::DDnet one({dims, kernels::UpsampleMode::linear, 5});
      one.for_each_module([](nn::Module& m) {
        if (auto* bn = dynamic_cast<nn::BatchNorm*>(&m)) bn->momentum = 1.0;
      });
      NoGradGuard no_grad;
      one.train();
      one.forward(v);
      each.push_back(running_stats(one));
    }
    REQUIRE(got.size() == each[0].size());
    REQUIRE(got.size() > 20);
    for (std::size_t k = 0; k < got.size(); ++k) {
      const Tensor a = test::to_f64(each[0][k]), b = test::to_f64(each[1][k]);
      std::vector<double> mean(static_cast<std::size_t>(a.numel()));
      for (std::size_t i = 0; i < mean.size(); ++i)
        mean[i] = 0.5 * (a.data<double>()[i] + b.data<double>()[i]);
      const Tensor expected = Tensor::from_vector(mean, a.shape());
      test::check_close(test::to_f64(got[k]), expected, 1e-5, 1e-7,
                        std::to_string(dims) + "D statistic " + std::to_string(k));
    }
    net.for_each_module([](nn::Module& m) {
      if (auto* bn = dynamic_cast<nn::BatchNorm*>(&m)) {
        CHECK(bn->momentum == 0.1);  // restored
        CHECK(bn->num_batches_tracked.data<std::int32_t>()[0] == 2);
      }
    });
  }
}

TEST_CASE("train: --bn-recalibrate leaves the recalibrated statistics of the trained weights",
          "[models][recalibrate]") {
  const std::string out = "/tmp/ddnet_test_bn_recalibrate";
  std::filesystem::remove_all(out);
  models::TrainConfig c;
  c.model = "2d";
  c.size = 32;
  c.epochs = 2;
  c.train_samples = 3;
  c.val_samples = 1;
  c.progress = false;
  c.bn_recalibrate = 2;
  c.out = out + "/recal";
  auto source = tools::make_sample_source(c);
  REQUIRE(models::train(c, *source, false, nullptr).exit_code == 0);
  models::TrainConfig plain = c;
  plain.bn_recalibrate = 0;
  plain.out = out + "/plain";
  REQUIRE(models::train(plain, *tools::make_sample_source(plain), false, nullptr).exit_code == 0);

  models::DDnet recal({2}), ref({2}), without({2});
  models::load_checkpoint(c.out + "/final.h5", recal, nullptr);
  models::load_checkpoint(c.out + "/final.h5", ref, nullptr);
  models::load_checkpoint(plain.out + "/final.h5", without, nullptr);
  // The training is the same: the statistics are not used by training-mode forwards.
  for (std::size_t k = 0; k < recal.named_parameters().size(); ++k)
    CHECK(test::same_bits(*recal.named_parameters()[k].tensor,
                          *without.named_parameters()[k].tensor));
  // Two of the three volumes, spread: items 0 and 1 (i * 3 / 2).
  REQUIRE(source->whole_size() == 3);
  models::recalibrate_batch_norm(
      ref, [&ref](const Tensor& x) { return ref.forward(x); }, 2,
      [&source](std::int64_t i) { return source->whole(i * 3 / 2).input; }, Device::cpu());
  const std::vector<Tensor> a = running_stats(recal), b = running_stats(ref),
                            d = running_stats(without);
  bool differs = false;
  for (std::size_t k = 0; k < a.size(); ++k) {
    CHECK(test::same_bits(a[k], b[k]));
    differs = differs || !test::same_bits(a[k], d[k]);
  }
  CHECK(differs);
  // The epoch records say how long it took.
  std::ifstream log(c.out + "/train.jsonl");
  std::string line, last_epoch;
  while (std::getline(log, line))
    if (line.find("\"type\":\"epoch\"") != std::string::npos) last_epoch = line;
  CHECK_THAT(last_epoch, Contains("\"bn_recalibrate_seconds\""));
  std::filesystem::remove_all(out);
}

TEST_CASE(
    "train: with --bn-recalibrate the dataset loaders give whole volumes and validate on them",
    "[models][recalibrate]") {
  const std::string dir = "/tmp/ddnet_test_bn_recalibrate_set";
  std::filesystem::remove_all(dir);
  models::TrainConfig c;
  c.dataset = make_set(dir);
  c.model = "3d";
  c.loader = "random";
  c.slices = 16;
  c.size = 32;
  c.samples_per_scan = 3;
  const auto crops = tools::make_sample_source(c);
  CHECK(crops->whole_size() == 0);
  CHECK(crops->size(1) == 3);
  CHECK(crops->get(1, 0, 0).input.shape() == Shape{1, 1, 16, 32, 32});
  c.bn_recalibrate = 2;
  const auto whole = tools::make_sample_source(c);
  CHECK(whole->size(0) == 3);  // training: crops, as before
  CHECK(whole->get(0, 0, 0).input.shape() == Shape{1, 1, 16, 32, 32});
  CHECK(whole->whole_size() == 3);
  CHECK(whole->whole(2).input.shape() == Shape{1, 1, 16, 64, 64});
  CHECK(whole->size(1) == 1);  // one whole volume per validation scan
  CHECK(whole->get(1, 0, 0).input.shape() == Shape{1, 1, 16, 64, 64});
  // Slices of 40 x 40 train in crops of 32, but cannot be recalibrated on whole.
  c.dataset = make_set(dir, 40);
  c.bn_recalibrate = 0;
  CHECK_NOTHROW(tools::make_sample_source(c));
  c.bn_recalibrate = 2;
  REQUIRE_THROWS_WITH(tools::make_sample_source(c),
                      Contains("set40.h5: samples of 40x40") &&
                          Contains("recalibrates and validates on whole slices"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("train: --bn-recalibrate is checked", "[models][recalibrate]") {
  models::TrainConfig c;
  c.model = "2d";
  c.size = 32;
  c.bn_recalibrate = -1;
  REQUIRE_THROWS_WITH(c.validate(), Contains("bn_recalibrate must be >= 0"));
  c.bn_recalibrate = 2;
  c.freeze_bn = true;
  REQUIRE_THROWS_WITH(c.validate(), Contains("bn_recalibrate and freeze_bn exclude each other"));
  c.freeze_bn = false;
  CHECK_NOTHROW(c.validate());
  // A source without whole volumes is refused before training starts.
  struct Crops final : models::SampleSource {
    std::int64_t size(int) const override { return 1; }
    models::Sample get(int, std::int64_t, std::int64_t) const override {
      DDNET_FAIL("not reached");
    }
  } crops;
  c.out = "/tmp/ddnet_test_bn_recalibrate_checked";
  REQUIRE_THROWS_WITH(models::train(c, crops, false, nullptr),
                      Contains("bn_recalibrate 2: the training data has no whole volumes"));
  CHECK_FALSE(std::filesystem::exists(c.out));
}
