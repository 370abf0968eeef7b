// --allow-external (train, denoise, eval): a dataset whose volume is an external link to another
// file is refused by default, naming the link, and read with the option.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "engine/error.h"
#include "engine/hdf5.h"
#include "models/checkpoint.h"
#include "models/ddnet.h"
#include "models/train_config.h"
#include "tools/commands.h"
#include "tools/sources.h"

using namespace ddnet;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

data::Volume phantom(float offset) {
  data::Volume v(4, 32, 32);
  for (std::size_t i = 0; i < v.voxels.size(); ++i)
    v.voxels[i] = static_cast<float>(static_cast<int>(i * 37 % 200)) - 100.f + offset;
  return v;
}

void make_set(const std::string& path) {
  data::DatasetWriter w(path);
  const data::Volume nd = phantom(0), ld = phantom(7);
  w.add_scan("a", data::Split::train, nd, &ld);
  w.add_scan("b", data::Split::test, nd, &ld);
  w.commit();
}

// Runs `ddnet <args...>` in this process, as tools/ddnet.cpp does (the subcommand's result).
int run_cli(const std::vector<std::string>& args) {
  CLI::App app;
  std::vector<tools::Command> cmds = {tools::add_train(app), tools::add_prepare(app),
                                      tools::add_denoise(app), tools::add_eval(app)};
  std::vector<const char*> argv = {"ddnet"};
  for (const std::string& a : args) argv.push_back(a.c_str());
  app.parse(static_cast<int>(argv.size()), argv.data());
  for (const tools::Command& c : cmds)
    if (c.cmd->parsed()) return c.run();
  return -1;
}

}  // namespace

TEST_CASE("allow-external: train, denoise and eval refuse external links without --allow-external",
          "[tools]") {
  const fs::path dir = fs::temp_directory_path() / ("ddnet_allow_ext_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string set = (dir / "set.h5").string(), other = (dir / "other.h5").string();
  make_set(set);
  make_set(other);
  {  // b's low dose becomes a link to other.h5's
    h5::Handle f(H5_CHECK(H5Fopen(set.c_str(), H5F_ACC_RDWR, H5P_DEFAULT)));
    H5_CHECK(H5Ldelete(f, "b/ldct", H5P_DEFAULT));
    H5_CHECK(H5Lcreate_external(other.c_str(), "/b/ldct", f, "b/ldct", H5P_DEFAULT, H5P_DEFAULT));
    f.close(set);
  }
  const std::string ck = (dir / "w.h5").string();
  models::DDnet net({2});
  models::save_checkpoint(ck, net, nullptr, {});
  // The refusal names the link and its target (matchers built in place: && keeps references).
#define REFUSED Contains("'ldct' is an external link to ") && Contains(other + ":/b/ldct")

  SECTION("eval") {
    const std::vector<std::string> args = {
        "eval",  "--checkpoint",          ck,          "--dataset", set,
        "--out", (dir / "eval").string(), "--figures", "0"};
    REQUIRE_THROWS_WITH(run_cli(args), REFUSED);
    std::vector<std::string> allowed = args;
    allowed.push_back("--allow-external");
    CHECK(run_cli(allowed) == 0);
  }
  SECTION("denoise --dataset, and --input file.h5#scan") {
    const std::vector<std::string> args = {"denoise", "--checkpoint",        ck, "--dataset", set,
                                           "--out",   (dir / "den").string()};
    REQUIRE_THROWS_WITH(run_cli(args), REFUSED);
    std::vector<std::string> allowed = args;
    allowed.push_back("--allow-external");
    CHECK(run_cli(allowed) == 0);
    CHECK(fs::exists(dir / "den" / "scores.json"));
    REQUIRE_THROWS_WITH(run_cli({"denoise", "--checkpoint", ck, "--input", set + "#b", "--output",
                                 (dir / "b.mha").string()}),
                        REFUSED);
  }
  SECTION("train: the option is there and reaches the dataset") {
    CLI::App app;
    const tools::Command train = tools::add_train(app);
    CHECK_THAT(train.cmd->help(), Contains("--allow-external"));
    models::TrainConfig c;
    c.model = "2d";
    c.loader = "2d";
    c.dataset = set;
    c.size = 32;
    REQUIRE_THROWS_WITH(tools::make_sample_source(c, 0, 1), REFUSED);
    REQUIRE_NOTHROW(tools::make_sample_source(c, 0, 1, true));
  }
#undef REFUSED
  fs::remove_all(dir);
}
