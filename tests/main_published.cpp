// Catch2 runner of the tests that use the published 2D-DDnet weights: every entry exits with 77
// (ctest: SKIPPED) when ../shared/reference/2d-ddnet-published.h5 is absent. DDNET_SHARED_DIR in
// the environment overrides where it is looked for.
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>

#include "tests/runner.h"

std::string published_weights_path() {
  const char* env = std::getenv("DDNET_SHARED_DIR");
  return std::string(env && *env ? env : DDNET_SHARED_DIR) + "/reference/2d-ddnet-published.h5";
}

int main(int argc, char** argv) {
  bool listing = false;
  for (int i = 1; i < argc; ++i) listing = listing || std::strncmp(argv[i], "--list", 6) == 0;
  if (!listing && !std::ifstream(published_weights_path()).good()) {
    std::cout << "SKIPPED: published weights not found at " << published_weights_path() << "\n";
    return 77;
  }
  return ddnet::test::run_session(argc, argv);
}
