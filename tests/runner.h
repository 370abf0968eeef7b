// The suites' Catch2 session (main_cpu.cpp, main_gpu.cpp, main_published.cpp; after their
// #define CATCH_CONFIG_RUNNER): exits with 77 (ctest: SKIPPED) when every test case that ran was
// skipped (DDNET_SKIP, tests/skip.h) and none failed, and with 2 when the test names given select
// no test case, where Catch2 2.x would pass: a ctest entry whose name no longer matches its test
// case (catch_discover_tests cuts names at a ';') must not pass without running.
#pragma once

#include <catch2/catch.hpp>

#include "tests/skip.h"

namespace ddnet::test {

inline int run_session(int argc, char** argv) {
  Catch::Session session;
  if (const int rc = session.applyCommandLine(argc, argv)) return rc;
  Catch::ConfigData& c = session.configData();
  c.warnings = static_cast<Catch::WarnAbout::What>(c.warnings | Catch::WarnAbout::NoTests);
  const int failed = session.run();
  return failed == 0 && all_skipped() ? 77 : failed;
}

}  // namespace ddnet::test
