// Atomic replacement for write_scan (atomic_file.h): temporary files and folders beside the
// target, renamed into place, the old folder put back when the last rename fails.
#include "data/atomic_file.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <system_error>
#include <utility>

#include "data/scan_io_internal.h"
#include "engine/error.h"
#include "engine/file_sync.h"

namespace ddnet::data::scan_internal {

namespace {

void make_parent(const fs::path& target, const std::string& shown) {
  const fs::path parent = target.parent_path();
  if (parent.empty()) return;
  std::error_code ec;
  fs::create_directories(parent, ec);
  DDNET_CHECK(!ec, "write_scan: cannot create the folder ", parent.string(), " for ", shown, ": ",
              ec.message());
}

void rename_or_fail(const fs::path& from, const fs::path& to, const std::string& shown) {
  std::error_code ec;
  fs::rename(from, to, ec);
  DDNET_CHECK(!ec, "write_scan: cannot rename ", from.string(), " to ", to.string(), " for ", shown,
              ": ", ec.message());
}

// slice_<digits>.dcm / .tif: what write_scan puts in a series folder.
bool is_our_slice_file(const std::string& name) {
  const std::string prefix = "slice_";
  if (name.compare(0, prefix.size(), prefix) != 0) return false;
  std::size_t i = prefix.size();
  const std::size_t digits_begin = i;
  while (i < name.size() && std::isdigit(static_cast<unsigned char>(name[i]))) ++i;
  if (i == digits_begin) return false;
  const std::string rest = name.substr(i);
  return rest == ".dcm" || rest == ".tif";
}

}  // namespace

fs::path sibling_temp(const fs::path& target, const char* tag) {
  static std::atomic<unsigned> counter{0};
  fs::path parent = target.parent_path();
  if (parent.empty()) parent = ".";
  // A name nothing holds: a run killed with -9 whose process id this one reuses left its own.
  for (;;) {
    fs::path p = parent / ("." + target.filename().string() + "." + tag + "-" +
                           std::to_string(getpid()) + "-" + std::to_string(counter++));
    std::error_code ec;
    if (!fs::exists(fs::symlink_status(p, ec))) return p;
  }
}

TempFolder::TempFolder(fs::path p) : path(std::move(p)) {
  std::error_code ec;
  const bool made = fs::create_directory(path, ec);
  DDNET_CHECK(!ec && made, "write_scan: cannot create the temporary folder ", path.string(), ": ",
              ec ? ec.message() : std::string("it exists already"));
}

TempFolder::~TempFolder() {
  std::error_code ec;
  if (!keep) fs::remove_all(path, ec);
}

std::string slice_name(std::int64_t k, std::int64_t n, const char* ext) {
  const int width = std::max<int>(4, static_cast<int>(std::to_string(n - 1).size()));
  std::string digits = std::to_string(k);
  digits.insert(
      0, static_cast<std::size_t>(std::max<int>(0, width - static_cast<int>(digits.size()))), '0');
  return "slice_" + digits + ext;
}

void check_single_file_target(const fs::path& target, const std::string& shown) {
  std::error_code ec;
  DDNET_CHECK(!fs::is_directory(target, ec), "write_scan: ", shown,
              " is a folder; a single-file format needs a file name");
}

void check_folder_target(const fs::path& target, const std::string& shown) {
  std::error_code ec;
  if (!fs::exists(target, ec)) return;
  DDNET_CHECK(fs::is_directory(target, ec), "write_scan: ", shown,
              " exists and is not a folder; a DICOM series or TIFF slices need a folder");
  for (const fs::directory_entry& e : fs::directory_iterator(target, ec)) {
    const std::string name = e.path().filename().string();
    std::error_code fe;
    DDNET_CHECK(e.is_regular_file(fe) && is_our_slice_file(name), "write_scan: folder ", shown,
                " exists and holds other files (", name, "); remove it or write to a new folder");
  }
}

void write_single_file(const fs::path& target, const std::string& shown,
                       const std::function<void(const fs::path&)>& write) {
  std::error_code ec;
  check_single_file_target(target, shown);
  make_parent(target, shown);
  TempFolder tmp(sibling_temp(target, "tmp"));
  const fs::path tmp_file = tmp.path / target.filename();
  write(tmp_file);
  fs::path parent = target.parent_path();
  if (parent.empty()) parent = ".";
  DDNET_CHECK(fs::exists(tmp_file, ec), "write_scan: ", shown, ": the writer produced no file");
  const std::vector<fs::path> files = folder_files(tmp.path);
  for (const fs::path& f : files) sync_file(f.string(), "write_scan: " + shown);
  for (const fs::path& f : files)
    if (f.filename() != target.filename()) rename_or_fail(f, parent / f.filename(), shown);
  rename_or_fail(tmp_file, target, shown);
  sync_parent(target.string(), "write_scan: " + shown);
}

void write_folder(const fs::path& target, const std::string& shown,
                  const std::function<void(const fs::path&)>& write) {
  std::error_code ec;
  const bool exists = fs::exists(target, ec);
  check_folder_target(target, shown);
  make_parent(target, shown);
  TempFolder tmp(sibling_temp(target, "tmp"));
  write(tmp.path);
  for (const fs::path& f : folder_files(tmp.path)) sync_file(f.string(), "write_scan: " + shown);
  sync_file(tmp.path.string(), "write_scan: " + shown);  // its entries
  if (exists) {
    TempFolder old(sibling_temp(target, "old"));
    fs::remove(old.path, ec);
    rename_or_fail(target, old.path, shown);
    fs::rename(tmp.path, target, ec);
    if (ec) {  // put the old folder back before failing
      std::error_code ignored;
      fs::rename(old.path, target, ignored);
      DDNET_FAIL("write_scan: cannot rename ", tmp.path.string(), " to ", shown, ": ",
                 ec.message());
    }
  } else {
    rename_or_fail(tmp.path, target, shown);
  }
  tmp.keep = true;  // renamed away: nothing left to remove
  sync_parent(target.string(), "write_scan: " + shown);
}

}  // namespace ddnet::data::scan_internal
