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
  c.out = "runs/x";
  c.checkpoint_every = 3;
  c.progress = false;
  c.stop_after_steps = 11;
  const models::TrainConfig r = models::TrainConfig::from_json(c.to_json(), "test");
  CHECK(r.to_json() == c.to_json());
  CHECK(r.residual);
  CHECK(r.freeze_bn);
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
