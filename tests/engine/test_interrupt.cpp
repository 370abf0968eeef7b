// engine/interrupt.h: within a scope SIGINT / SIGTERM are recorded, not fatal, and
// check_interrupted throws Interrupted carrying 128 + the signal; outside it nothing is pending.
#include <catch2/catch.hpp>

#include <csignal>

#include "engine/interrupt.h"

using namespace ddnet;
using Catch::Matchers::Contains;

TEST_CASE("interrupt: a signal within the scope is recorded and thrown at the next check",
          "[engine]") {
  for (const int sig : {SIGINT, SIGTERM}) {
    {
      InterruptScope scope;
      REQUIRE_NOTHROW(check_interrupted("work"));
      std::raise(sig);
      CHECK(interrupt_signal() == sig);
      try {
        check_interrupted("work");
        FAIL("no Interrupted thrown");
      } catch (const Interrupted& e) {
        CHECK(e.signal() == sig);
        CHECK(e.exit_code() == 128 + sig);
        CHECK_THAT(e.what(), Contains(sig == SIGINT ? "work: interrupted (SIGINT, signal 2)"
                                                    : "work: interrupted (SIGTERM, signal 15)"));
      }
    }
    CHECK(interrupt_signal() == 0);  // the scope's end forgets it
    REQUIRE_NOTHROW(check_interrupted("work"));
  }
}
