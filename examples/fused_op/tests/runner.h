// The Catch2 session of both runners (runner.cpp, which also holds Catch2's implementation,
// compiled once for both): a test name or tag that selects no test case is an error (exit 2),
// where Catch2 2.x would pass having run nothing.
#pragma once

namespace fused_op::test {

int run_session(int argc, char** argv);

}  // namespace fused_op::test
