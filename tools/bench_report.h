// What `ddnet bench` measured, and its reports: bench.json (every sample), bench.md, the terminal
// table, roofline.png and ratios.png (tools/cmd_bench.cpp runs, this file reports).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "tools/bench_cases.h"

namespace ddnet::tools {

struct BenchSample {
  double seconds = 0;           // per call
  std::int64_t iterations = 0;  // calls the sample averages
  double peak_bytes = -1;       // allocator peak where the side reports one
  std::string error;
};

struct Baseline {
  std::string name;     // "PyTorch 1.13.0"
  std::string python;   // the interpreter
  std::string version;  // torch.__version__
};

struct CaseResult {
  BenchCase c;
  std::vector<BenchSample> ours;
  std::vector<std::vector<BenchSample>> theirs;  // per baseline
  std::string ours_error, skipped;
  std::map<std::size_t, std::string> their_errors;
};

struct MachineLimits {
  double copy_bytes_per_s = 0;  // the best of the samples
  double peak_flops = 0;
  std::vector<double> copy_samples, peak_samples;
  // CPU only, for context (not a limit): the same copy with non-temporal stores, which the
  // kernels writing more than the last-level cache use; its best sample.
  double stream_copy_bytes_per_s = 0;
  std::vector<double> stream_copy_samples;
  std::string copy_source, peak_source;
};

struct BenchRun {
  std::string device, machine, gpu, date, commit, version;
  int threads = 1, repeat = 1, small_pairs = 1;
  double min_time = 0, seconds = 0;
  MachineLimits limits;
  std::vector<Baseline> baselines;
  std::vector<CaseResult> results;
  std::string repeat_check;  // the case measured twice ("<id>" and "<id>#2")
  std::vector<std::string> notes;
  std::vector<std::pair<std::string, std::string>> libraries;  // name, version or summary
};

// Median and spread of a side's samples.
struct SideStats {
  std::size_t n = 0;
  double median = 0, min = 0, max = 0;
};
SideStats side_stats(const std::vector<BenchSample>& s);
// theirs / ours: the median of the ratios of paired samples (round i of each side).
double paired_ratio(const std::vector<BenchSample>& ours, const std::vector<BenchSample>& theirs);

void write_bench_reports(const BenchRun& run, const std::filesystem::path& dir);
void print_bench_table(const BenchRun& run, std::ostream& os);

}  // namespace ddnet::tools
