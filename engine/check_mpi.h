// Checks for MPI calls (include after <mpi.h>; used by dist/).
#pragma once

#include <mpi.h>

#include "engine/error.h"

namespace ddnet::detail {
inline void check_mpi(int rc, const char* call, const char* file, int line) {
  if (rc != MPI_SUCCESS) {
    char text[MPI_MAX_ERROR_STRING] = {0};
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) text[0] = '\0';
    throw_call_error("MPI", call, rc, text[0] ? text : "unknown MPI error", file, line);
  }
}
}  // namespace ddnet::detail

#define MPI_CHECK(call) ::ddnet::detail::check_mpi((call), #call, __FILE__, __LINE__)
