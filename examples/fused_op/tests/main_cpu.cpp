// Catch2 runner of the CPU tests. A test name or tag that selects no test case fails (exit 2)
// instead of passing without running (Catch2 2.x passes), so a renamed test cannot go quiet.
#include "runner.h"

int main(int argc, char** argv) {
  return fused_op::test::run_session(argc, argv);
}
