// Checks for MPI calls (used by dist/).
#pragma once

// The C API only: OpenMPI's and MPICH's deprecated C++ bindings need their own library.
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include <mpi.h>

#include "engine/error.h"

namespace ddnet::detail {
inline void check_mpi(int rc, const char* call, const char* file, int line) {
  if (rc != MPI_SUCCESS) {
    // MPI_Error_string is only legal between MPI_Init and MPI_Finalize (OpenMPI aborts
    // otherwise); MPI_Initialized and MPI_Finalized are legal at any time.
    int initialized = 0, finalized = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    char text[MPI_MAX_ERROR_STRING] = {0};
    int len = 0;
    if (!initialized || finalized || MPI_Error_string(rc, text, &len) != MPI_SUCCESS)
      text[0] = '\0';
    throw_call_error(
        "MPI", call, rc,
        text[0] ? text : (initialized ? "no error text" : "MPI not initialised: no error text"),
        file, line);
  }
}
}  // namespace ddnet::detail

#define MPI_CHECK(call) ::ddnet::detail::check_mpi((call), #call, __FILE__, __LINE__)
