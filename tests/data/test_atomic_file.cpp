// Atomic, durable outputs (data/atomic_file.h, engine/file_sync.h): the temporaries are synced
// and the folder after the rename; temporaries a killed earlier run left behind (the same
// process id, reused) are never taken for this run's.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "data/atomic_file.h"
#include "data/dataset.h"
#include "engine/error.h"
#include "engine/file_sync.h"

using namespace ddnet;
using namespace ddnet::data;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& tag) {
    path = fs::temp_directory_path() / ("ddnet_test_" + tag + "_" + std::to_string(getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

std::string slurp(const fs::path& p) {
  std::ifstream f(p);
  std::string s;
  std::getline(f, s);
  return s;
}

// What a run killed with -9 leaves: the hidden temporary folders this process would name next
// (.<target>.tmp-<pid>-<n>), each holding a file of its own.
void leave_stale_temps(const fs::path& target) {
  for (int n = 0; n < 200; ++n) {
    const fs::path d = target.parent_path() / ("." + target.filename().string() + ".tmp-" +
                                               std::to_string(getpid()) + "-" + std::to_string(n));
    fs::create_directories(d);
    std::ofstream(d / "stale.txt") << "from a killed run";
  }
}

}  // namespace

TEST_CASE("atomic_file: a single file is synced before its rename, the folder after", "[data]") {
  TempDir dir("atomic_sync");
  const fs::path target = dir.path / "out.txt";
  const std::uint64_t before = sync_count();
  scan_internal::write_single_file(target, target.string(),
                                   [](const fs::path& f) { std::ofstream(f) << "new"; });
  CHECK(slurp(target) == "new");
  CHECK(sync_count() - before >= 2);  // the file, then its folder
  const std::uint64_t folder_before = sync_count();
  scan_internal::write_folder(dir.path / "series", "series", [](const fs::path& d) {
    std::ofstream(d / "slice_0000.tif") << "a";
    std::ofstream(d / "slice_0001.tif") << "b";
  });
  CHECK(slurp(dir.path / "series" / "slice_0001.tif") == "b");
  CHECK(sync_count() - folder_before >= 4);  // two files, the folder built, the parent
  REQUIRE_THROWS_WITH(sync_file((dir.path / "nope").string(), "test"),
                      Contains("test: cannot sync ") && Contains("nope"));
}

TEST_CASE("atomic_file: temporaries a killed earlier run left are not taken for this run's",
          "[data]") {
  TempDir dir("atomic_stale");
  SECTION("a single file") {
    const fs::path target = dir.path / "scan.mha";
    leave_stale_temps(target);
    scan_internal::write_single_file(target, target.string(),
                                     [](const fs::path& f) { std::ofstream(f) << "mine"; });
    CHECK(slurp(target) == "mine");
    CHECK(!fs::exists(dir.path / "stale.txt"));  // nothing of the killed run moved beside it
  }
  SECTION("a folder of slices") {
    const fs::path target = dir.path / "series";
    leave_stale_temps(target);
    scan_internal::write_folder(target, target.string(), [](const fs::path& d) {
      std::ofstream(d / "slice_0000.dcm") << "mine";
    });
    CHECK(slurp(target / "slice_0000.dcm") == "mine");
    CHECK(!fs::exists(target / "stale.txt"));
  }
  SECTION("a dataset: a stale <path>.tmp-<pid> is replaced") {
    const fs::path target = dir.path / "ct.h5";
    std::ofstream(target.string() + ".tmp-" + std::to_string(getpid())) << "half a file";
    DatasetWriter w(target.string());
    Volume v(2, 3, 3);
    w.add_scan("s", Split::train, v, nullptr);
    const std::uint64_t before = sync_count();
    w.commit();
    CHECK(sync_count() - before == 2);  // the file before its rename, the folder after
    CHECK(Dataset::open(target.string()).scans().size() == 1);
    CHECK(!fs::exists(target.string() + ".tmp-" + std::to_string(getpid())));
  }
}
