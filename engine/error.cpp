// Formatting and throwing of ddnet::Error, kept out of line so call sites stay small.
#include "engine/error.h"

#include <cstring>

namespace ddnet::detail {

namespace {
const char* basename_of(const char* file) {
  const char* slash = std::strrchr(file, '/');
  return slash ? slash + 1 : file;
}
}  // namespace

void throw_error(const std::string& msg, const char* file, int line) {
  throw Error(concat(msg, " [", basename_of(file), ":", line, "]"));
}

void throw_call_error(const char* library, const char* call, long code,
                      const std::string& description, const char* file, int line) {
  throw Error(concat(library, " error ", code, " (", description, ") in `", call, "` at ",
                     basename_of(file), ":", line));
}

}  // namespace ddnet::detail
