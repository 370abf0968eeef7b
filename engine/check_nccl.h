// Checks for NCCL calls: throw ddnet::Error naming the call, the status and file:line.
// Include only from sources that link NCCL.
#pragma once

#include <nccl.h>

#include "engine/error.h"

namespace ddnet::detail {
inline void check_nccl(ncclResult_t s, const char* call, const char* file, int line) {
  if (s != ncclSuccess)
    throw_call_error("NCCL", call, static_cast<long>(s), ncclGetErrorString(s), file, line);
}
}  // namespace ddnet::detail

#define NCCL_CHECK(call) ::ddnet::detail::check_nccl((call), #call, __FILE__, __LINE__)
