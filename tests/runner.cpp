// Catch2's implementation (CATCH_CONFIG_RUNNER: no main of its own) and the suites' sessions
// (runner.h). Part of ddnet_test_harness; the suites' mains include catch.hpp plainly.
#define CATCH_CONFIG_RUNNER
#include "tests/runner.h"

#include <catch2/catch.hpp>

#include "tests/skip.h"

namespace ddnet::test {

int run_session(int argc, char** argv) {
  Catch::Session session;
  if (const int rc = session.applyCommandLine(argc, argv)) return rc;
  Catch::ConfigData& c = session.configData();
  c.warnings = static_cast<Catch::WarnAbout::What>(c.warnings | Catch::WarnAbout::NoTests);
  const int failed = session.run();
  return failed == 0 && all_skipped() ? 77 : failed;
}

int run_plain_session(int argc, char** argv) {
  return Catch::Session().run(argc, argv);
}

}  // namespace ddnet::test
