// fsync of files and folders (engine/file_sync.h).
#include "engine/file_sync.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "engine/error.h"

namespace ddnet {

namespace {
std::atomic<std::uint64_t> g_syncs{0};
}  // namespace

void sync_file(const std::string& path, const std::string& what) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    DDNET_FAIL(what, ": cannot sync ", path, " to disk (cannot open it: ", std::strerror(err), ")");
  }
  int rc;
  do {
    rc = ::fsync(fd);
  } while (rc != 0 && errno == EINTR);
  const int err = rc != 0 ? errno : 0;
  ::close(fd);
  DDNET_CHECK(rc == 0 || err == EINVAL, what, ": cannot sync ", path, " to disk (",
              std::strerror(err), ")");
  ++g_syncs;
}

void sync_parent(const std::string& path, const std::string& what) {
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) parent = ".";
  sync_file(parent.string(), what);
}

void replace_file(const std::string& tmp, const std::string& path, const std::string& what) {
  try {
    sync_file(tmp, what);
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    DDNET_FAIL(what, ": cannot rename ", tmp, " to ", path, " (", std::strerror(err), ")");
  }
  sync_parent(path, what);
}

std::uint64_t sync_count() {
  return g_syncs.load();
}

}  // namespace ddnet
