// Runner of the MPI tests: the same Catch2 cases on every rank of `mpirun -np N` (or alone, a
// world of one). A rank with a failed case makes the whole run fail: the ranks agree on the
// worst result before they exit. `main_mpi fault` is the fault scenario instead: rank 1 throws
// while rank 0 waits in a collective; every rank must end, non-zero, naming rank 1's error.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <chrono>
#include <cstring>
#include <thread>

#include "dist/world.h"
#include "engine/error.h"

int main(int argc, char** argv) {
  ddnet::dist::World& w = ddnet::dist::World::init();
  if (argc > 1 && std::strcmp(argv[1], "fault") == 0) {
    try {
      if (w.rank() == 1) {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        DDNET_FAIL("step 3: injected failure on this rank");
      }
      w.barrier();  // rank 0 waits here for a rank that never comes
      return 0;
    } catch (const std::exception& e) {
      w.abort(e.what(), 3);
    }
  }
  const int failed = Catch::Session().run(argc, argv);
  double worst = failed;
  w.allreduce_sum(&worst, 1);
  w.finalize();
  return worst > 0 ? 1 : 0;
}
