// SIGINT and SIGTERM for the commands that write through temporaries (`ddnet prepare`, `ddnet
// denoise`): while an InterruptScope lives, the first such signal only records itself; long
// loops call check_interrupted() at safe points, which throws Interrupted, and the temporaries'
// owners remove them as the exception unwinds (DatasetWriter, write_scan's folders). The
// command then exits 128 + the signal (130, 143), as `ddnet train` does. A second signal ends
// the process at once, as it would have without the scope (its temporaries then stay; they do
// not disturb a later run).
#pragma once

#include <string>

#include "engine/error.h"

namespace ddnet {

class Interrupted : public Error {
 public:
  Interrupted(const std::string& what, int signal) : Error(what), signal_(signal) {}
  int signal() const { return signal_; }
  int exit_code() const { return 128 + signal_; }

 private:
  int signal_;
};

class InterruptScope {
 public:
  InterruptScope();
  ~InterruptScope();
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;
};

// The signal received within the scope, 0 for none (safe to call from any thread).
int interrupt_signal();
// Throws Interrupted ("<where>: interrupted (SIGINT)") when a signal was received.
void check_interrupted(const std::string& where);

}  // namespace ddnet
