// Error checks name the library, the call, the status and file:line; the debug sync switch.
#include <catch2/catch.hpp>

#include "engine/device.h"
#include "engine/error.h"
#include "engine/hdf5.h"
#include "generated/ddnet_config.h"
#if DDNET_WITH_CUDA
#include "engine/check_cuda.h"
#include "engine/check_cudnn.h"
#include "engine/check_nccl.h"
#endif
#if DDNET_WITH_MPI
#include "engine/check_mpi.h"
#endif

using Catch::Matchers::Contains;

TEST_CASE("errors: DDNET_CHECK says what and where", "[errors]") {
  auto check = [](int channels) {
    DDNET_CHECK(channels == 1, "conv3d: input has ", channels, " channels, weight expects 1");
  };
  REQUIRE_NOTHROW(check(1));
  REQUIRE_THROWS_AS(check(2), ddnet::Error);
  REQUIRE_THROWS_WITH(check(2), Contains("conv3d: input has 2 channels, weight expects 1") &&
                                    Contains("test_errors.cpp:"));
}

TEST_CASE("errors: HDF5 calls that return a negative value throw", "[errors]") {
  auto failing_h5_call = [] { return -1; };
  REQUIRE_THROWS_WITH(H5_CHECK(failing_h5_call()),
                      Contains("HDF5 error -1") && Contains("failing_h5_call()"));
  REQUIRE(H5_CHECK(3) == 3);
}

#if DDNET_WITH_CUDA
TEST_CASE("errors: CUDA, cuDNN and NCCL statuses are named", "[errors]") {
  REQUIRE_THROWS_WITH(CUDA_CHECK(cudaErrorMemoryAllocation),
                      Contains("CUDA error 2") && Contains("cudaErrorMemoryAllocation") &&
                          Contains("test_errors.cpp"));
  REQUIRE_THROWS_WITH(CUDNN_CHECK(CUDNN_STATUS_BAD_PARAM),
                      Contains("cuDNN error") && Contains("CUDNN_STATUS_BAD_PARAM"));
  REQUIRE_THROWS_WITH(NCCL_CHECK(ncclInvalidArgument),
                      Contains("NCCL error 4") && Contains("ncclInvalidArgument"));
  CUDA_CHECK(cudaSuccess);
}
#endif

#if DDNET_WITH_MPI
TEST_CASE("errors: MPI return codes are named", "[errors]") {
  REQUIRE_THROWS_WITH(MPI_CHECK(MPI_ERR_COUNT), Contains("MPI error") &&
                                                    Contains("MPI_ERR_COUNT") &&
                                                    Contains("not initialised"));
}
#endif

TEST_CASE("errors: the sync-after-launch debug switch", "[errors]") {
  const bool before = ddnet::sync_after_launch();
  ddnet::set_sync_after_launch(true);
  REQUIRE(ddnet::sync_after_launch());
  ddnet::set_sync_after_launch(before);
}
