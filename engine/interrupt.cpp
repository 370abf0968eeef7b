// SIGINT / SIGTERM recorded for cooperative cancellation (engine/interrupt.h).
#include "engine/interrupt.h"

#include <signal.h>

#include <atomic>

namespace ddnet {

namespace {

std::atomic<int> g_signal{0};
struct sigaction g_old_int, g_old_term;
std::atomic<int> g_depth{0};

extern "C" void on_interrupt(int sig) {
  int none = 0;
  if (g_signal.compare_exchange_strong(none, sig)) return;
  // The second signal: what it would have done without us.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(sig, &dfl, nullptr);
  raise(sig);
}

}  // namespace

InterruptScope::InterruptScope() {
  if (g_depth++ > 0) return;
  g_signal = 0;
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // reads and writes in progress go on; the loops check the flag
  sigaction(SIGINT, &sa, &g_old_int);
  sigaction(SIGTERM, &sa, &g_old_term);
}

InterruptScope::~InterruptScope() {
  if (--g_depth > 0) return;
  sigaction(SIGINT, &g_old_int, nullptr);
  sigaction(SIGTERM, &g_old_term, nullptr);
  g_signal = 0;  // outside a scope nothing is interrupted
}

int interrupt_signal() {
  return g_signal.load(std::memory_order_relaxed);
}

void check_interrupted(const std::string& where) {
  const int sig = interrupt_signal();
  if (sig == 0) return;
  throw Interrupted(detail::concat(where, ": interrupted (", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                                   ", signal ", sig, ")"),
                    sig);
}

}  // namespace ddnet
