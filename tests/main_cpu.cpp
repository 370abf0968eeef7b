// Catch2 runner of the CPU suite: exits with 77 (ctest: SKIPPED) when every test case that ran
// was skipped (DDNET_SKIP, tests/skip.h) and none failed.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "tests/skip.h"

int main(int argc, char** argv) {
  const int failed = Catch::Session().run(argc, argv);
  return failed == 0 && ddnet::test::all_skipped() ? 77 : failed;
}
