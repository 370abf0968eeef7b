// Subcommands of `ddnet` that live in their own files: each registers its options on the app
// and returns the function that runs it.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace ddnet::tools {

struct Command {
  CLI::App* cmd = nullptr;
  std::function<int()> run;
};

Command add_prepare(CLI::App& app);
Command add_train(CLI::App& app);
Command add_denoise(CLI::App& app);
Command add_eval(CLI::App& app);
Command add_bench(CLI::App& app);

}  // namespace ddnet::tools
