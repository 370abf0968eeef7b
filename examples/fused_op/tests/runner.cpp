// Catch2's implementation (CATCH_CONFIG_RUNNER: no main of its own) and the runners' session
// (runner.h). The mains, main_cpu.cpp and main_cuda.cpp, only call it.
#define CATCH_CONFIG_RUNNER
#include "runner.h"

#include <catch2/catch.hpp>

namespace fused_op::test {

int run_session(int argc, char** argv) {
  Catch::Session session;
  if (const int rc = session.applyCommandLine(argc, argv)) return rc;
  Catch::ConfigData& c = session.configData();
  c.warnings = static_cast<Catch::WarnAbout::What>(c.warnings | Catch::WarnAbout::NoTests);
  return session.run();
}

}  // namespace fused_op::test
