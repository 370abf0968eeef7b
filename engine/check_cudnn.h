// Checks for cuDNN calls: throw ddnet::Error naming the call, the status and file:line.
// Include only from sources that link cuDNN.
#pragma once

#include <cudnn.h>

#include "engine/error.h"

namespace ddnet::detail {
inline void check_cudnn(cudnnStatus_t s, const char* call, const char* file, int line) {
  if (s != CUDNN_STATUS_SUCCESS)
    throw_call_error("cuDNN", call, static_cast<long>(s), cudnnGetErrorString(s), file, line);
}
}  // namespace ddnet::detail

#define CUDNN_CHECK(call) ::ddnet::detail::check_cudnn((call), #call, __FILE__, __LINE__)
