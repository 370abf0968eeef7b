// Durable replacement of files: what is written to a temporary and renamed over its target is
// on disk before the rename (sync_file on the temporary), and the rename itself is (sync_parent
// after it: a rename is a change to the folder). Without both, a power cut soon after a
// "successful" write can leave the target empty or the old one (ext4 delayed allocation).
#pragma once

#include <cstdint>
#include <string>

namespace ddnet {

// fsync(2) of the file or folder `path` (opened read-only). Errors read "<what>: cannot sync
// <path> to disk (<reason>)"; a file system that cannot sync (EINVAL, e.g. some FUSE mounts and
// special files) is not an error.
void sync_file(const std::string& path, const std::string& what);
// fsync of the folder that holds `path` ("." for a bare name): after renaming onto `path`.
void sync_parent(const std::string& path, const std::string& what);
// The end of an atomic write: syncs the complete temporary `tmp`, renames it onto `path`, syncs
// the folder. When the sync or the rename fails, `tmp` is removed and the error names both.
void replace_file(const std::string& tmp, const std::string& path, const std::string& what);
// How many syncs this process has made (tests check the writers call them).
std::uint64_t sync_count();

}  // namespace ddnet
