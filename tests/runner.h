// The suites' Catch2 sessions (runner.cpp, which also holds Catch2's implementation, compiled once
// for every suite: about 25 s per suite and build when each main compiled it).
#pragma once

namespace ddnet::test {

// The session of main_cpu.cpp, main_gpu.cpp and main_published.cpp: exits with 77 (ctest:
// SKIPPED) when every test case that ran was skipped (DDNET_SKIP, tests/skip.h) and none failed,
// and with 2 when the test names given select no test case, where Catch2 2.x would pass: a ctest
// entry whose name no longer matches its test case (catch_discover_tests cuts names at a ';')
// must not pass without running.
int run_session(int argc, char** argv);

// Catch2's own session, as it is (mpi/main_mpi.cpp: every rank runs it and the ranks' failures
// are summed).
int run_plain_session(int argc, char** argv);

}  // namespace ddnet::test
