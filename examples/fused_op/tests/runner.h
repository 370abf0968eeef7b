// The Catch2 session of both runners: a test name or tag that selects no test case is an error
// (exit 2), where Catch2 2.x would pass having run nothing.
#pragma once

#include <catch2/catch.hpp>

namespace fused_op::test {

inline int run_session(int argc, char** argv) {
  Catch::Session session;
  if (const int rc = session.applyCommandLine(argc, argv)) return rc;
  Catch::ConfigData& c = session.configData();
  c.warnings = static_cast<Catch::WarnAbout::What>(c.warnings | Catch::WarnAbout::NoTests);
  return session.run();
}

}  // namespace fused_op::test
