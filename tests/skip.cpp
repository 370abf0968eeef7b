// Counts the test cases that ran and those that DDNET_SKIP ended (tests/skip.h), with a Catch2
// listener, for the runners' exit status (tests/runner.h).
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include "tests/skip.h"

#include <iostream>

namespace ddnet::test {

namespace {
int g_cases = 0, g_skipped = 0;
bool g_current_skipped = false;

struct SkipCounter : Catch::TestEventListenerBase {
  using TestEventListenerBase::TestEventListenerBase;
  void testCaseStarting(const Catch::TestCaseInfo&) override {
    ++g_cases;
    g_current_skipped = false;
  }
  void testCaseEnded(const Catch::TestCaseStats&) override {
    if (g_current_skipped) ++g_skipped;
  }
};
CATCH_REGISTER_LISTENER(SkipCounter)
}  // namespace

void record_skip(const std::string& why) {
  g_current_skipped = true;
  std::cout << "SKIPPED: " << why << std::endl;
}

bool all_skipped() {
  return g_cases > 0 && g_skipped == g_cases;
}

}  // namespace ddnet::test
