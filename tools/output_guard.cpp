// Outputs against inputs (output_guard.h).
#include "tools/output_guard.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "engine/error.h"

namespace ddnet::tools {

namespace {

namespace fs = std::filesystem;

// Absolute, symbolic links of the existing part resolved, "." and ".." gone, no trailing '/'.
fs::path resolved(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::absolute(path, ec);
  if (ec) p = fs::path(path);
  const fs::path w = fs::weakly_canonical(p, ec);
  p = (ec ? p : w).lexically_normal();
  while (p.has_parent_path() && p.filename().empty()) p = p.parent_path();
  return p;
}

}  // namespace

bool output_replaces(const std::string& output, const std::string& input) {
  if (output.empty() || input.empty()) return false;
  std::error_code ec;
  if (fs::equivalent(output, input, ec) && !ec) return true;  // hard links too
  const fs::path o = resolved(output), i = resolved(input);
  // `o` is `i` or one of the folders above it.
  return std::mismatch(o.begin(), o.end(), i.begin(), i.end()).first == o.end();
}

void check_output_not_input(const std::string& option, const std::string& output,
                            const std::vector<std::string>& inputs) {
  for (const std::string& in : inputs) {
    if (!output_replaces(output, in)) continue;
    std::error_code ec;
    const bool same = (fs::equivalent(output, in, ec) && !ec) || resolved(output) == resolved(in);
    DDNET_FAIL(option, " ", output, " would replace the input ", in,
               same ? " (the same file or folder)" : " (the input lies inside it)",
               ": give another output path; nothing was written");
  }
}

}  // namespace ddnet::tools
