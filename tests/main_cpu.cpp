// Catch2 runner of the CPU suite: exits with 77 (ctest: SKIPPED) when every test case that ran
// was skipped (DDNET_SKIP) and none failed, and fails when the names given match no test case
// (tests/runner.h).
#include "tests/runner.h"

int main(int argc, char** argv) {
  return ddnet::test::run_session(argc, argv);
}
