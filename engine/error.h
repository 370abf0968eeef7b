// Errors: one exception type, and checks for every library call that throw with the call, the
// file and the line. CUDA-free: the per-library checks that need a library's headers live in
// engine/check_cuda.h (CUDA), engine/check_cudnn.h (cuDNN), engine/check_nccl.h (NCCL),
// engine/check_mpi.h (MPI) and engine/hdf5.h (HDF5).
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace ddnet {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {
[[noreturn]] void throw_error(const std::string& msg, const char* file, int line);
[[noreturn]] void throw_call_error(const char* library, const char* call, long code,
                                   const std::string& description, const char* file, int line);

inline void append(std::ostringstream&) {}
template <class T, class... Rest>
void append(std::ostringstream& os, const T& v, const Rest&... rest) {
  os << v;
  append(os, rest...);
}
template <class... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  append(os, args...);
  return os.str();
}
}  // namespace detail

}  // namespace ddnet

// DDNET_CHECK(cond, parts...): throws ddnet::Error("file:line: parts...") when cond is false.
// Messages should say what a user can act on: "conv3d: input has 2 channels, weight expects 1".
#define DDNET_CHECK(cond, ...)                                                                \
  do {                                                                                        \
    if (!(cond))                                                                              \
      ::ddnet::detail::throw_error(::ddnet::detail::concat(__VA_ARGS__), __FILE__, __LINE__); \
  } while (0)

#define DDNET_FAIL(...) \
  ::ddnet::detail::throw_error(::ddnet::detail::concat(__VA_ARGS__), __FILE__, __LINE__)

