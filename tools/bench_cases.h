// The cases `ddnet bench` runs: each one of our Google Benchmark cases (bench/bench_*.cpp) beside
// the PyTorch baseline of the same work at the same shape (bench/torch/bench_server.py), with the
// work it does (bytes moved, floating-point operations) for the roofline.
#pragma once

#include <string>
#include <vector>

namespace ddnet::tools {

struct BenchCase {
  std::string id;         // "add"; the PyTorch baseline's case id unless `torch` says otherwise
  std::string suite;      // kernels | layers | loss | step
  std::string title;      // what and at which shape, for the tables
  std::string binary;     // the Google Benchmark suite, "bench_elementwise"
  std::string cpu_name;   // its case on the CPU ("BM_add/cpu"); "" where it has none
  std::string cuda_name;  // and on CUDA
  std::string torch;      // the baseline's case id; "" when there is no baseline
  double bytes = 0;       // bytes one call moves (each operand read once, each result written once)
  double flops = 0;       // floating-point operations of one call (0: a pure data movement)
  std::string napkin;     // how bytes and flops were counted
};

// Every case, in the order the tables list them.
const std::vector<BenchCase>& bench_cases();

// The cases of one suite ("all": every case), optionally only those whose id is in `only`.
std::vector<BenchCase> select_bench_cases(const std::string& suite,
                                          const std::vector<std::string>& only);

// The machine limits of a GPU by its name (datasheet figures: FP32 without tensor cores, HBM
// bandwidth); false where the name is not known.
bool gpu_datasheet(const std::string& name, double* fp32_flops, double* bytes_per_s,
                   std::string* source);

}  // namespace ddnet::tools
