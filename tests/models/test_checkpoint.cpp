// Checkpoints: round trip of weights, optimiser and training state; atomic replacement; errors
// naming the file and dataset; and a stopped-and-resumed run giving the same losses on the CPU.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "engine/file_sync.h"
#include "engine/hdf5.h"
#include "engine/rng.h"
#include "graph/arena.h"
#include "graph/optim.h"
#include "layers/loss.h"
#include "models/checkpoint.h"
#include "models/ddnet.h"
#include "models/train.h"

using namespace ddnet;
using Catch::Matchers::Contains;

namespace {
std::string temp_path(const std::string& name) {
  return "/tmp/ddnet_test_" + name + ".h5";
}

// One training run of `steps` steps of 2D-DDnet on generated slices; optionally stops after
// `stop_after` steps, checkpoints, and continues in fresh objects loaded from the checkpoint.
std::vector<double> run(int steps, int stop_after, const std::string& path) {
  std::vector<double> losses;
  auto net =
      std::make_unique<models::DDnet>(models::DDnetOptions{2, kernels::UpsampleMode::linear, 11});
  auto arena = std::make_unique<nn::Arena>(nn::pack_parameters(*net, Device::cpu()));
  auto adam = std::make_unique<nn::Adam>(*arena, nn::AdamOptions{});
  Generator data(99);
  for (int s = 0; s < steps; ++s) {
    if (s == stop_after) {
      models::TrainingState st{0, s, data.seed(), data.offset(), "{\"test\": true}"};
      models::save_checkpoint(path, *net, adam.get(), st);
      net = std::make_unique<models::DDnet>(
          models::DDnetOptions{2, kernels::UpsampleMode::linear, 12345});  // other init
      arena = std::make_unique<nn::Arena>(nn::pack_parameters(*net, Device::cpu()));
      adam = std::make_unique<nn::Adam>(*arena, nn::AdamOptions{});
      const auto back = models::load_checkpoint(path, *net, adam.get());
      REQUIRE(back.step == s);
      REQUIRE(back.config_json == "{\"test\": true}");
      data.set_state(back.rng_seed, back.rng_offset);
    }
    const Tensor target = data.uniform({1, 1, 32, 32}, Device::cpu(), 0.f, 1.f);
    const Tensor input = data.uniform({1, 1, 32, 32}, Device::cpu(), 0.f, 1.f);
    adam->zero_grad();
    auto loss = F::ddnet_loss(net->forward(input), target);
    loss.total.backward();
    adam->step();
    losses.push_back(loss.total.item());
  }
  return losses;
}
}  // namespace

TEST_CASE("checkpoint: weights, optimiser and state round trip, atomic write", "[checkpoint]") {
  const std::string path = temp_path("roundtrip");
  models::DDnet a({2, kernels::UpsampleMode::linear, 1}), b({2, kernels::UpsampleMode::linear, 2});
  nn::Arena arena = nn::pack_parameters(a, Device::cpu());
  nn::Adam adam(arena, {});
  arena.grads.copy_(Generator(5).normal(arena.grads.shape()));
  adam.step();
  models::save_checkpoint(path, a, &adam, {3, 17, 42, 7, "{}"});
  REQUIRE_FALSE(std::ifstream(path + ".tmp").good());
  models::save_checkpoint(path, a, &adam, {4, 18, 42, 8, "{\"lr\": 0.001}"});  // replaces the first
  nn::Arena arena_b = nn::pack_parameters(b, Device::cpu());
  nn::Adam adam_b(arena_b, {});
  const auto st = models::load_checkpoint(path, b, &adam_b);
  REQUIRE(st.epoch == 4);
  REQUIRE(st.step == 18);
  REQUIRE(st.rng_offset == 8);
  REQUIRE(st.config_json == "{\"lr\": 0.001}");
  REQUIRE(adam_b.steps() == 1);
  const auto sa = a.state_dict(), sb = b.state_dict();
  for (std::size_t i = 0; i < sa.size(); ++i) {
    INFO(sa[i].name);
    if (sa[i].tensor->dtype() == DType::f32)
      REQUIRE(sa[i].tensor->to_vector<float>() == sb[i].tensor->to_vector<float>());
  }
  REQUIRE(adam.exp_avg_sq().to_vector<float>() == adam_b.exp_avg_sq().to_vector<float>());
  std::remove(path.c_str());
}

TEST_CASE("checkpoint: errors name the file and the dataset", "[checkpoint]") {
  const std::string path = temp_path("mismatch");
  models::DDnet two({2});
  models::save_checkpoint(path, two, nullptr, {});
  models::DDnet three({3});
  REQUIRE_THROWS_WITH(models::load_checkpoint(path, three, nullptr),
                      Contains(path) &&
                          Contains("dataset 'conv1.weight' has shape (16, 1, 7, 7)") &&
                          Contains("expects (16, 1, 7, 7, 7)"));
  REQUIRE_THROWS_WITH(models::load_checkpoint("/tmp/does-not-exist.h5", two, nullptr),
                      Contains("cannot open checkpoint /tmp/does-not-exist.h5"));
  std::remove(path.c_str());
}

TEST_CASE("checkpoint: bare weights tell 2D from 3D by the rank of conv1.weight", "[checkpoint]") {
  // What `ddnet eval` / `denoise` use to load the published weights or torch2h5's output, which
  // carry no training configuration.
  const std::string p2 = temp_path("bare2d"), p3 = temp_path("bare3d");
  models::DDnet two({2}), three({3});
  models::save_checkpoint(p2, two, nullptr, {});
  models::save_checkpoint(p3, three, nullptr, {});
  REQUIRE(models::read_checkpoint_config(p2).empty());
  REQUIRE(models::read_checkpoint_rank(p2, "conv1.weight") == 4);
  REQUIRE(models::read_checkpoint_rank(p3, "conv1.weight") == 5);
  REQUIRE(models::read_checkpoint_rank(p3, "no.such.weight") == -1);
  REQUIRE_THROWS_WITH(models::read_checkpoint_rank("/tmp/does-not-exist.h5", "conv1.weight"),
                      Contains("cannot open checkpoint /tmp/does-not-exist.h5"));
  std::remove(p2.c_str());
  std::remove(p3.c_str());
}

TEST_CASE("checkpoint: a stopped and resumed run gives the same losses", "[checkpoint]") {
  const std::string path = temp_path("resume");
  const auto straight = run(4, -1, path);
  const auto resumed = run(4, 2, path);
  REQUIRE(straight == resumed);  // bitwise, on the CPU
  std::remove(path.c_str());
}

TEST_CASE("checkpoint: a config attribute written as h5py's str (variable-length UTF-8) is read",
          "[checkpoint]") {
  const std::string path = temp_path("vlen_config");
  models::DDnet two({2});
  models::save_checkpoint(path, two, nullptr, {});
  const std::string config = "{\"out\": \"r\u00e9sultats\", \"note\": \"\xc3\xa9\"}";
  {
    h5::Handle f(H5_CHECK(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT)));
    if (h5::has_attr(f, "config", path)) H5_CHECK(H5Adelete(f, "config"));
    const h5::Handle type(H5_CHECK(H5Tcopy(H5T_C_S1)));
    H5_CHECK(H5Tset_size(type, H5T_VARIABLE));
    H5_CHECK(H5Tset_cset(type, H5T_CSET_UTF8));
    const h5::Handle space(H5_CHECK(H5Screate(H5S_SCALAR)));
    const h5::Handle a(H5_CHECK(H5Acreate2(f, "config", type, space, H5P_DEFAULT, H5P_DEFAULT)));
    const char* p = config.c_str();
    H5_CHECK(H5Awrite(a, type, &p));
    f.close(path);
  }
  REQUIRE(models::read_checkpoint_config(path) == config);
  REQUIRE(models::load_checkpoint(path, two, nullptr).config_json == config);
  std::remove(path.c_str());
}

TEST_CASE("checkpoint: a weight that is an external link or external storage is refused",
          "[checkpoint]") {
  const std::string path = temp_path("external"), other = temp_path("external_other");
  const std::string raw = "/tmp/ddnet_test_external_secret.raw";
  models::DDnet two({2});
  models::save_checkpoint(other, two, nullptr, {});
  SECTION("an external link") {
    models::save_checkpoint(path, two, nullptr, {});
    {
      h5::Handle f(H5_CHECK(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT)));
      H5_CHECK(H5Ldelete(f, "conv1.weight", H5P_DEFAULT));
      H5_CHECK(H5Lcreate_external(other.c_str(), "conv1.weight", f, "conv1.weight", H5P_DEFAULT,
                                  H5P_DEFAULT));
      f.close(path);
    }
    REQUIRE_THROWS_WITH(models::load_checkpoint(path, two, nullptr),
                        Contains(path + ": 'conv1.weight' is an external link to " + other));
    REQUIRE_THROWS_WITH(models::read_checkpoint_rank(path, "conv1.weight"),
                        Contains("is an external link"));
  }
  SECTION("external storage") {
    models::save_checkpoint(path, two, nullptr, {});
    const Tensor& w = *two.state_dict().front().tensor;
    {
      std::ofstream(raw, std::ios::binary)
          .write(std::string(static_cast<std::size_t>(w.numel()) * 4, 'x').data(),
                 static_cast<std::streamsize>(w.numel() * 4));
      h5::Handle f(H5_CHECK(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT)));
      const std::string name = two.state_dict().front().name;
      H5_CHECK(H5Ldelete(f, name.c_str(), H5P_DEFAULT));
      std::vector<hsize_t> dims;
      for (int d = 0; d < w.dim(); ++d) dims.push_back(static_cast<hsize_t>(w.size(d)));
      const h5::Handle space(
          H5_CHECK(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr)));
      const h5::Handle dcpl(H5_CHECK(H5Pcreate(H5P_DATASET_CREATE)));
      H5_CHECK(H5Pset_external(dcpl, raw.c_str(), 0, static_cast<hsize_t>(w.numel() * 4)));
      h5::Handle(H5_CHECK(H5Dcreate2(f, name.c_str(), H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl,
                                     H5P_DEFAULT)))
          .close(name);
      f.close(path);
    }
    REQUIRE_THROWS_WITH(models::load_checkpoint(path, two, nullptr),
                        Contains("external storage") && Contains(raw));
    std::remove(raw.c_str());
  }
  std::remove(path.c_str());
  std::remove(other.c_str());
}

TEST_CASE("checkpoint: a non-finite weight is never saved, the previous file is kept",
          "[checkpoint]") {
  const std::string path = temp_path("nonfinite");
  models::DDnet net({2});
  models::save_checkpoint(path, net, nullptr, {});
  for (const auto& n : net.state_dict())
    if (n.name == "conv2.weight") n.tensor->data<float>()[3] = std::nanf("");
  REQUIRE_THROWS_WITH(models::save_checkpoint(path, net, nullptr, {}),
                      Contains(path + ".tmp: refusing to save a non-finite value (nan) in "
                                      "dataset 'conv2.weight' (element 3)"));
  REQUIRE_FALSE(std::ifstream(path + ".tmp").good());
  models::DDnet back({2});
  REQUIRE_NOTHROW(models::load_checkpoint(path, back, nullptr));
  std::remove(path.c_str());
}

namespace {

// Training samples of 32 x 32: random, or a constant (all-zero) input, as a scan of air gives.
class TestSource final : public models::SampleSource {
 public:
  TestSource(std::int64_t n, bool constant) : n_(n), constant_(constant) {}
  std::int64_t size(int split) const override { return split == 0 ? n_ : 0; }
  models::Sample get(int, std::int64_t epoch, std::int64_t index) const override {
    DDNET_CHECK(index >= 0 && index < n_, "TestSource: index ", index, " out of range");
    Generator g(static_cast<std::uint64_t>(epoch * 1000 + index));
    const Shape shape{1, 1, 32, 32};
    return {
        constant_ ? Tensor::zeros(shape, Device::cpu()) : g.uniform(shape, Device::cpu(), 0.f, 1.f),
        g.uniform(shape, Device::cpu(), 0.f, 1.f), "phantom " + std::to_string(index)};
  }

 private:
  std::int64_t n_;
  bool constant_;
};

models::TrainConfig small_run(const std::string& out, int epochs, std::int64_t samples) {
  models::TrainConfig c;
  c.model = "2d";
  c.size = 32;
  c.epochs = epochs;
  c.train_samples = samples;
  c.val_samples = 0;
  c.progress = false;
  c.out = out;
  return c;
}

}  // namespace

TEST_CASE("train: a finite loss with a non-finite gradient stops before the update",
          "[checkpoint]") {
  // An all-zero input: the input BatchNorm's variance is 0, the gradient overflows to NaN in the
  // backward while the loss is finite. One Adam step would make every parameter NaN.
  const std::string out = "/tmp/ddnet_test_nonfinite_grad";
  std::filesystem::remove_all(out);
  const TestSource constant(2, true);
  const models::TrainResult r = models::train(small_run(out, 1, 2), constant, false, nullptr);
  REQUIRE(r.exit_code == 3);
  REQUIRE_THAT(r.message, Contains("step 1 (epoch 1): the gradient is not finite (first in "
                                   "conv1.weight, element 0") &&
                              Contains("batch: phantom ") && Contains("before the update"));
  REQUIRE_FALSE(std::filesystem::exists(out + "/checkpoint.h5"));
  std::filesystem::remove_all(out);
}

TEST_CASE("train: --resume refuses a checkpoint whose position does not fit the configuration",
          "[checkpoint]") {
  const std::string out = "/tmp/ddnet_test_resume_position";
  std::filesystem::remove_all(out);
  const TestSource two(2, false), three(3, false);
  models::TrainConfig c = small_run(out, 2, 2);
  c.stop_after_steps = 1;
  REQUIRE(models::train(c, two, false, nullptr).steps == 1);  // interrupted: epoch 0, step 1
  c.stop_after_steps = 0;
  // Other samples per epoch: 3 steps where the checkpoint counted 2.
  REQUIRE_THROWS_WITH(models::train(small_run(out, 2, 3), three, true, nullptr),
                      Contains("checkpoint.h5 was written with 2 steps per epoch, this "
                               "configuration makes 3") &&
                          Contains("train_samples 2 -> 3"));
  // The same configuration with more epochs continues.
  c.epochs = 2;
  const models::TrainResult done = models::train(c, two, true, nullptr);
  REQUIRE(done.exit_code == 0);
  REQUIRE(done.steps == 4);
  // Finished: nothing left at 2 epochs, and fewer epochs than the checkpoint's are refused.
  REQUIRE_THROWS_WITH(models::train(c, two, true, nullptr),
                      Contains("has already trained 2 epochs; nothing is left to train"));
  REQUIRE_THROWS_WITH(models::train(small_run(out, 1, 2), two, true, nullptr),
                      Contains("has already trained 2 epochs, more than epochs 1"));
  // More epochs than before: legitimate.
  c.epochs = 3;
  REQUIRE(models::train(c, two, true, nullptr).steps == 6);
  // An older checkpoint (no steps per epoch recorded) whose step does not fit.
  {
    models::DDnet net({2});
    models::save_checkpoint(out + "/checkpoint.h5", net, nullptr, {1, 9, 0, 0, c.to_json()});
  }
  REQUIRE_THROWS_WITH(
      models::train(c, two, true, nullptr),
      Contains("is at step 9 after 1 epochs, which does not fit 2 steps per epoch"));
  std::filesystem::remove_all(out);
}

namespace {
// Flips one bit of the raw values of contiguous dataset `name` in the file, behind HDF5's back.
void flip_raw_byte(const std::string& path, const char* name, std::size_t byte) {
  haddr_t offset = HADDR_UNDEF;
  {
    h5::Handle f(H5_CHECK(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT)));
    const h5::Handle ds(H5_CHECK(H5Dopen2(f, name, H5P_DEFAULT)));
    offset = H5Dget_offset(ds);
    f.close(path);
  }
  REQUIRE(offset != HADDR_UNDEF);
  std::fstream io(path, std::ios::in | std::ios::out | std::ios::binary);
  io.seekg(static_cast<std::streamoff>(offset + byte));
  char c = 0;
  io.read(&c, 1);
  c = static_cast<char>(c ^ 0x10);
  io.seekp(static_cast<std::streamoff>(offset + byte));
  io.write(&c, 1);
  REQUIRE(io.good());
}
}  // namespace

TEST_CASE("checkpoint: a flipped byte in a tensor fails the load, naming the dataset and checksum",
          "[checkpoint]") {
  const std::string path = temp_path("checksum");
  models::DDnet a({2, kernels::UpsampleMode::linear, 1}), b({2, kernels::UpsampleMode::linear, 2});
  nn::Arena arena = nn::pack_parameters(a, Device::cpu());
  nn::Adam adam(arena, {});
  const std::uint64_t syncs = sync_count();
  models::save_checkpoint(path, a, &adam, {});
  CHECK(sync_count() - syncs == 2);           // the file before its rename, the folder after
  models::load_checkpoint(path, b, nullptr);  // intact: loads
  SECTION("a weight") {
    flip_raw_byte(path, "conv1.weight", 13);
    REQUIRE_THROWS_WITH(models::load_checkpoint(path, b, nullptr),
                        Contains(path) && Contains("'conv1.weight'") && Contains("checksum"));
  }
  SECTION("an optimiser moment") {
    flip_raw_byte(path, "optimizer/exp_avg", 2);
    models::load_checkpoint(path, b, nullptr);  // weights only: the moments are not read
    nn::Arena arena_b = nn::pack_parameters(b, Device::cpu());
    nn::Adam adam_b(arena_b, {});
    REQUIRE_THROWS_WITH(models::load_checkpoint(path, b, &adam_b),
                        Contains(path) && Contains("'exp_avg'") && Contains("checksum"));
  }
  SECTION("a file without checksums (written before them) still loads") {
    {
      h5::Handle f(H5_CHECK(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT)));
      const h5::Handle ds(H5_CHECK(H5Dopen2(f, "conv1.weight", H5P_DEFAULT)));
      REQUIRE(h5::has_attr(ds, "crc32c", path));
      H5_CHECK(H5Adelete(ds, "crc32c"));
      f.close(path);
    }
    flip_raw_byte(path, "conv1.weight", 13);  // undetectable without its checksum
    models::load_checkpoint(path, b, nullptr);
  }
  std::remove(path.c_str());
}
