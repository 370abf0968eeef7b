// Writing scans so a reader never sees half a file: a single file is made in a temporary folder
// beside the target and renamed into place; a folder of slices is built beside the target and
// renamed onto it (an existing one is replaced only when it holds nothing but our slice files).
// Whatever is renamed is synced to disk first, and the folder after (engine/file_sync.h).
// Private to the scan_*.cpp files of data/; messages name write_scan.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

namespace ddnet::data::scan_internal {

namespace fs = std::filesystem;

// A folder beside `target` named .<name>.<tag>-<pid>-<n>, unique within this process and not
// there yet (a run killed with -9 whose process id this one has may have left one).
fs::path sibling_temp(const fs::path& target, const char* tag);

// Creates a new folder (one that exists already is an error), and removes it with everything in
// it on scope exit unless `keep` is set.
struct TempFolder {
  fs::path path;
  bool keep = false;
  explicit TempFolder(fs::path p);
  ~TempFolder();
  TempFolder(const TempFolder&) = delete;
  TempFolder& operator=(const TempFolder&) = delete;
};

// slice_NNNN<ext> (at least 4 digits, more when n needs them): the files of a series folder.
std::string slice_name(std::int64_t k, std::int64_t n, const char* ext);

// The checks the writers below make of the target before writing, on their own (so a command can
// refuse a target before its work): a single file must not name a folder; a folder of slices
// may replace only a folder that holds nothing but our slice files.
void check_single_file_target(const fs::path& target, const std::string& shown);
void check_folder_target(const fs::path& target, const std::string& shown);

// Writes a single-file format: `write(tmp_file)` writes into a temporary folder beside the
// target under the target's own name (so detached data files keep the names their header
// gives); every file it made is then renamed beside the target, the named file last.
void write_single_file(const fs::path& target, const std::string& shown,
                       const std::function<void(const fs::path&)>& write);

// Writes a folder format: `write(tmp_folder)` fills a temporary folder beside the target, which
// then replaces the target (only when that holds nothing but slice files of ours).
void write_folder(const fs::path& target, const std::string& shown,
                  const std::function<void(const fs::path&)>& write);

}  // namespace ddnet::data::scan_internal
