// Outputs never replace inputs (tools/output_guard.h): the same file by another spelling, a hard
// or symbolic link, a folder and a file inside it are caught; a sibling is not.
#include <catch2/catch.hpp>

#include <unistd.h>
#include <filesystem>
#include <fstream>

#include "engine/error.h"
#include "tools/output_guard.h"

using namespace ddnet;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

TEST_CASE("output guard: an output that is an input, however spelled, is refused", "[tools]") {
  const fs::path dir = fs::temp_directory_path() / ("ddnet_guard_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "series");
  std::ofstream(dir / "scan.mha") << "x";
  std::ofstream(dir / "series" / "slice_0000.dcm") << "x";
  fs::create_hard_link(dir / "scan.mha", dir / "hard.mha");
  fs::create_symlink(dir / "scan.mha", dir / "soft.mha");
  const std::string scan = (dir / "scan.mha").string(), series = (dir / "series").string();

  CHECK(tools::output_replaces(scan, scan));
  CHECK(tools::output_replaces((dir / "." / "series" / ".." / "scan.mha").string(), scan));
  CHECK(tools::output_replaces((dir / "hard.mha").string(), scan));
  CHECK(tools::output_replaces((dir / "soft.mha").string(), scan));
  CHECK(tools::output_replaces(series + "/", series));
  CHECK(tools::output_replaces(series, (dir / "series" / "slice_0000.dcm").string()));
  CHECK(tools::output_replaces(dir.string(), scan));  // a folder written over its contents
  CHECK_FALSE(tools::output_replaces((dir / "scan_denoised.mha").string(), scan));
  CHECK_FALSE(tools::output_replaces((dir / "series_denoised").string(), series));
  CHECK_FALSE(tools::output_replaces((dir / "series" / "out.mha").string(), series));
  CHECK_FALSE(tools::output_replaces("", scan));

  REQUIRE_THROWS_WITH(
      tools::check_output_not_input("--output", (dir / "hard.mha").string(), {"other.mha", scan}),
      Contains("--output " + (dir / "hard.mha").string() + " would replace the input " + scan +
               " (the same file or folder)"));
  REQUIRE_THROWS_WITH(
      tools::check_output_not_input("--out", series, {(dir / "series/slice_0000.dcm").string()}),
      Contains("(the input lies inside it)"));
  CHECK_NOTHROW(tools::check_output_not_input("--out", (dir / "new.h5").string(), {scan, series}));
  fs::remove_all(dir);
}
