// Fuzz targets (docs/fuzzing.md): one function per reader of untrusted files, with libFuzzer's
// signature, so that the same code runs under our own driver (driver.cpp, `ddnet_fuzz`) and,
// with DDNET_LIBFUZZER=ON under clang, under libFuzzer (libfuzzer_main.cpp). Each writes the
// bytes to a temporary file where the API takes a path, calls the reader as the program does,
// and catches ddnet::Error (a refused input is the expected outcome). Anything else (another
// exception type, a crash, a sanitizer report, a hang) is a bug and is left to end the process.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ddnet::fuzz {

using TargetFn = int (*)(const std::uint8_t* data, std::size_t size);

struct Target {
  const char* name;  // the command line's name, and the corpus folder's
  TargetFn fn;
  const char* what;  // one line for --list
};

// Every target, in the order `ddnet_fuzz --list` prints them.
const std::vector<Target>& targets();
const Target* find_target(const std::string& name);

// What the last call of a target ended with: "ok", or the ddnet::Error's message with its
// digits and the temporary path taken out (a cheap signature of how far the input got, which
// the driver uses as feedback: an input reaching a message never seen before joins the queue).
const std::string& last_outcome();

// Writes seed inputs for every target under dir/<target>/ with the project's own writers.
void make_corpus(const std::string& dir);

}  // namespace ddnet::fuzz
