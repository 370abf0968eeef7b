// Checks for cuBLAS calls: throw ddnet::Error naming the call, the status and file:line.
// Include only from sources that link cuBLAS.
#pragma once

#include <cublas_v2.h>

#include "engine/error.h"

namespace ddnet::detail {
inline void check_cublas(cublasStatus_t s, const char* call, const char* file, int line) {
  if (s != CUBLAS_STATUS_SUCCESS)
    throw_call_error("cuBLAS", call, static_cast<long>(s), cublasGetStatusString(s), file, line);
}
}  // namespace ddnet::detail

#define CUBLAS_CHECK(call) ::ddnet::detail::check_cublas((call), #call, __FILE__, __LINE__)
