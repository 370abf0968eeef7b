// The training configuration: every field survives the JSON round trip that checkpoints and
// `ddnet denoise` rely on, and bad combinations are refused with a message naming them.
#include <catch2/catch.hpp>

#include "engine/error.h"
#include "models/train.h"

using namespace ddnet;
using Catch::Matchers::Contains;

TEST_CASE("train config: every field round-trips through JSON", "[models]") {
  models::TrainConfig c;
  c.model = "2d";
  c.residual = true;
  c.device = "cuda:1";
  c.epochs = 7;
  c.lr = 3e-4;
  c.decay = 0.95;
  c.loss_gamma = 0.2;
  c.clip_norm = 1.5;
  c.slices = 32;
  c.size = 0;
  c.batch = 2;
  c.loader = "2d";
  c.dataset = "data/ct.h5";
  c.samples_per_scan = 5;
  c.normalise = "window";
  c.window_lo = -200;
  c.window_hi = 300;
  c.train_samples = 9;
  c.val_samples = 3;
  c.seed = 42;
  c.donor = "d.h5";
  c.fill = "all";
  c.freeze_bn = true;
  c.bn_recalibrate = 4;  // excludes freeze_bn (validate), but the round trip does not validate
  c.out = "runs/x";
  c.checkpoint_every = 3;
  c.progress = false;
  c.stop_after_steps = 11;
  const models::TrainConfig r = models::TrainConfig::from_json(c.to_json(), "test");
  CHECK(r.to_json() == c.to_json());
  CHECK(r.residual);
  CHECK(r.freeze_bn);
  CHECK(r.bn_recalibrate == 4);
  CHECK(r.dataset == "data/ct.h5");
  CHECK(r.window_lo == -200);
  CHECK(r.samples_per_scan == 5);
  // Every key of the defaults differs from the values above, so a field missing from the JSON
  // would show as a default here.
  const models::TrainConfig d;
  CHECK(d.to_json() != c.to_json());
}

TEST_CASE("train config: dataset loaders need a dataset and a matching model", "[models]") {
  models::TrainConfig c;
  c.loader = "strided";
  REQUIRE_THROWS_WITH(c.validate(), Contains("give --dataset"));
  c.dataset = "x.h5";
  c.model = "2d";
  REQUIRE_THROWS_WITH(c.validate(), Contains("does not fit model 2d"));
  c.model = "3d";
  c.size = 0;
  CHECK_NOTHROW(c.validate());  // whole slices
  c.loader = "synthetic";
  REQUIRE_THROWS_WITH(c.validate(), Contains("must be a multiple of 16"));
  c.loader = "spiral";
  REQUIRE_THROWS_WITH(c.validate(), Contains("loader 'spiral'"));
}

TEST_CASE("train config: integer keys take integers in range, never truncated or wrapped",
          "[models]") {
  using models::TrainConfig;
  CHECK(TrainConfig::from_json(R"({"epochs": 3})", "c.json").epochs == 3);
  CHECK(TrainConfig::from_json(R"({"epochs": 3.0})", "c.json").epochs == 3);
  CHECK(TrainConfig::from_json(R"({"seed": 18446744073709551615})", "c.json").seed ==
        18446744073709551615ull);
  REQUIRE_THROWS_WITH(TrainConfig::from_json(R"({"epochs": 1.5})", "c.json"),
                      Contains("c.json: key 'epochs' is 1.5; expected an integer"));
  REQUIRE_THROWS_WITH(TrainConfig::from_json(R"({"epochs": 99999999999999})", "c.json"),
                      Contains("key 'epochs' is 99999999999999; expected an integer in "
                               "[-2147483648, 2147483647]"));
  REQUIRE_THROWS_WITH(TrainConfig::from_json(R"({"seed": -1})", "c.json"),
                      Contains("key 'seed' is -1; expected an integer in [0, "));
  REQUIRE_THROWS_WITH(TrainConfig::from_json(R"({"size": "64"})", "c.json"),
                      Contains("key 'size' is \"64\"; expected an integer"));
  REQUIRE_THROWS_WITH(TrainConfig::from_json(R"({"lr": "fast"})", "c.json"),
                      Contains("key 'lr' has the wrong type"));
}

TEST_CASE("train config: weights, clipping and windows out of range are refused", "[models]") {
  models::TrainConfig c;
  CHECK_NOTHROW(c.validate());
  c.loss_gamma = -0.1;
  REQUIRE_THROWS_WITH(c.validate(), Contains("loss_gamma -0.1: must be >= 0"));
  c.loss_gamma = 0;
  c.clip_norm = -1;
  REQUIRE_THROWS_WITH(c.validate(), Contains("clip_norm -1: must be >= 0"));
  c.clip_norm = 0;
  c.stop_after_steps = -2;
  REQUIRE_THROWS_WITH(c.validate(), Contains("stop_after_steps -2: must be >= 0"));
  c.stop_after_steps = 0;
  c.window_lo = 100;
  c.window_hi = 100;
  REQUIRE_THROWS_WITH(c.validate(), Contains("need window_lo < window_hi"));
}
