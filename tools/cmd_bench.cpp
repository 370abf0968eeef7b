// `ddnet bench`: our Google Benchmark cases (bench/bench_*.cpp) and the PyTorch baselines of the
// same work (bench/torch/bench_server.py) in one command, interleaved (ours, theirs, ours,
// theirs ...) so that ratios survive a noisy machine, each read against the machine's limits
// (measured copy bandwidth and FMA peak, or a GPU's datasheet). Google Benchmark does our timing;
// this file only drives the suites and the baselines and reports. Writes bench.json (every
// sample), bench.md, roofline.png and ratios.png under --out.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/error.h"
#include "engine/parallel.h"
#include "generated/ddnet_config.h"
#include "kernels/cpu_conv/config.h"
#include "kernels/cpu_features.h"
#include "tools/bench_cases.h"
#include "tools/bench_report.h"
#include "tools/commands.h"

extern char** environ;

namespace ddnet::tools {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct BenchOptions {
  std::string suite = "all";
  std::string device = "cpu";
  std::string baseline = "torch";
  std::vector<std::string> pythons;
  std::vector<std::string> cases;
  int repeat = 5;
  int small_pairs = 3;
  double min_time = 0.3;
  int threads = 0;
  std::string out;
  std::string bench_dir;
  std::string server;
  bool list = false;
};

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string regex_escape(const std::string& s) {
  std::string r;
  for (char c : s) {
    if (std::string("\\^$.|?*+()[]{}").find(c) != std::string::npos) r += '\\';
    r += c;
  }
  return r;
}

std::string first_line(const std::string& s) {
  const auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

// The last non-empty line (a Python traceback's error).
std::string last_line(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  const auto nl = s.rfind('\n');
  return nl == std::string::npos ? s : s.substr(nl + 1);
}

// Runs a shell command; its stdout, its exit status. Stderr goes to `err_path`.
int run_capture(const std::string& cmd, const std::string& err_path, std::string* out) {
  FILE* p = popen((cmd + " 2>>" + quote(err_path)).c_str(), "r");
  DDNET_CHECK(p != nullptr, "ddnet bench: cannot run ", cmd);
  out->clear();
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out->append(buf, n);
  const int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string read_tail(const std::string& path, std::size_t max_bytes = 600) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  return s.size() > max_bytes ? s.substr(s.size() - max_bytes) : s;
}

using Sample = BenchSample;  // one sample: Google Benchmark's mean over its iterations

double to_seconds(double v, const std::string& unit) {
  if (unit == "ns") return v * 1e-9;
  if (unit == "us") return v * 1e-6;
  if (unit == "ms") return v * 1e-3;
  return v;
}

Sample run_ours(const std::string& binary, const std::string& name, double min_time,
                const std::string& env, const std::string& err_path) {
  std::ostringstream cmd;
  cmd << env << quote(binary) << " --benchmark_filter=" << quote("^" + regex_escape(name) + "$")
      << " --benchmark_format=json --benchmark_min_time=" << min_time;
  std::string out;
  const int rc = run_capture(cmd.str(), err_path, &out);
  Sample s;
  json j;
  try {
    j = json::parse(out);
  } catch (const std::exception&) {
    s.error = "exit " + std::to_string(rc) + ", no JSON from " +
              fs::path(binary).filename().string() + ": " + first_line(read_tail(err_path, 300));
    return s;
  }
  const json& list = j.value("benchmarks", json::array());
  if (list.empty()) {
    s.error = "no case named " + name + " in " + fs::path(binary).filename().string();
    return s;
  }
  const json& b = list.front();
  if (b.value("error_occurred", false)) {
    s.error = b.value("error_message", std::string("error"));
    return s;
  }
  const std::string unit = b.value("time_unit", std::string("ns"));
  s.seconds = to_seconds(b.value("real_time", 0.0), unit);
  s.iterations = b.value("iterations", std::int64_t{0});
  if (b.contains("peak_MiB")) s.peak_bytes = b["peak_MiB"].get<double>() * 1024 * 1024;
  return s;
}

// The PyTorch baseline server of one Python: a child process fed one request per line.
class TorchServer {
 public:
  TorchServer(const std::string& python, const std::string& script, int threads,
              const std::string& device, const std::string& err_path)
      : python_(python) {
    int in[2], out[2];
    DDNET_CHECK(pipe(in) == 0 && pipe(out) == 0, "ddnet bench: pipe failed");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_addclose(&fa, in[1]);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    const std::string t = std::to_string(threads);
    // `python` may be a command with arguments ("env -u LD_LIBRARY_PATH python3").
    std::vector<std::string> args;
    std::istringstream words(python);
    for (std::string w; words >> w;) args.push_back(w);
    DDNET_CHECK(!args.empty(), "--python: empty");
    for (const std::string& a :
         {std::string("-u"), script, std::string("--threads"), t, std::string("--device"), device})
      args.push_back(a);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int rc = posix_spawnp(&pid_, args[0].c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    to_ = fdopen(in[1], "w");
    from_ = fdopen(out[0], "r");
    if (rc != 0) {
      pid_ = -1;
      why_ = python + ": cannot start (" + std::strerror(rc) + ")";
      return;
    }
    const std::string hello = read_line();
    try {
      info_ = json::parse(hello);
    } catch (const std::exception&) {
      why_ =
          python + " could not start the PyTorch baselines: " + last_line(read_tail(err_path, 400));
      return;
    }
    ok_ = info_.value("ready", false);
  }
  ~TorchServer() {
    if (to_) {
      if (ok_) std::fputs("\n", to_);  // the end of the requests (SIGPIPE is ignored)
      std::fclose(to_);
    }
    if (from_) std::fclose(from_);
    if (pid_ > 0) waitpid(pid_, nullptr, 0);
  }
  TorchServer(const TorchServer&) = delete;
  TorchServer& operator=(const TorchServer&) = delete;

  bool ok() const { return ok_; }
  const std::string& why() const { return why_; }
  const json& info() const { return info_; }
  const std::string& python() const { return python_; }

  Sample request(const std::string& id, double min_time) {
    Sample s;
    if (!ok_) {
      s.error = why_;
      return s;
    }
    json req{{"case", id}, {"min_time", min_time}};
    std::fputs((req.dump() + "\n").c_str(), to_);
    std::fflush(to_);
    const std::string line = read_line();
    json r;
    try {
      r = json::parse(line);
    } catch (const std::exception&) {
      ok_ = false;
      why_ = python_ + ": the baseline server ended";
      s.error = why_;
      return s;
    }
    if (r.contains("error")) {
      s.error = r["error"].get<std::string>();
      return s;
    }
    s.seconds = r.value("seconds", 0.0);
    s.iterations = r.value("iterations", std::int64_t{0});
    if (r.contains("peak_bytes")) s.peak_bytes = r["peak_bytes"].get<double>();
    return s;
  }

 private:
  std::string read_line() {
    std::string line;
    if (!from_) return line;
    char buf[4096];
    while (std::fgets(buf, sizeof buf, from_)) {
      line += buf;
      if (!line.empty() && line.back() == '\n') break;
    }
    return line;
  }
  std::string python_;
  pid_t pid_ = -1;
  FILE* to_ = nullptr;
  FILE* from_ = nullptr;
  json info_;
  bool ok_ = false;
  std::string why_;
};

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) {
      const auto c = line.find(':');
      return c == std::string::npos ? line : line.substr(c + 2);
    }
  return "unknown CPU";
}

std::string today() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", std::gmtime(&t));
  return buf;
}

std::string now_iso() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// The commit of the source tree this binary was built from, when it is a git checkout.
std::string source_commit() {
  if (const char* c = std::getenv("DDNET_BENCH_COMMIT"); c && *c) return c;  // a bundle's
  std::string out;
  const std::string cmd = "git -C " + quote(DDNET_SOURCE_DIR) + " rev-parse --short HEAD";
  if (run_capture(cmd, "/dev/null", &out) != 0) return "unknown";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  std::string dirty;
  run_capture("git -C " + quote(DDNET_SOURCE_DIR) + " status --porcelain --untracked-files=no",
              "/dev/null", &dirty);
  return out + (dirty.empty() ? "" : " (with uncommitted changes)");
}

fs::path self_dir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::current_path() : exe.parent_path();
}

fs::path find_bench_dir(const std::string& given) {
  if (!given.empty()) return given;
  for (const fs::path& p : {self_dir() / ".." / "bench", self_dir(), self_dir() / "bench"})
    if (fs::exists(p / "bench_machine")) return fs::weakly_canonical(p);
  return self_dir() / ".." / "bench";
}

int run_bench(const BenchOptions& o) {
  if (o.list) {
    for (const BenchCase& c : bench_cases())
      std::cout << c.suite << "\t" << c.id << "\t" << c.title << "\n";
    return 0;
  }
  DDNET_CHECK(o.device == "cpu" || o.device == "cuda", "--device ", o.device,
              ": expected cpu or cuda");
  DDNET_CHECK(o.baseline == "torch" || o.baseline == "none", "--baseline ", o.baseline,
              ": expected torch or none");
  DDNET_CHECK(o.repeat >= 1, "--repeat ", o.repeat, ": at least 1");
  DDNET_CHECK(o.small_pairs >= 1, "--small-pairs ", o.small_pairs, ": at least 1");
  DDNET_CHECK(o.min_time > 0, "--min-time ", o.min_time, ": more than 0 seconds");
  const bool cuda = o.device == "cuda";
  std::signal(SIGPIPE, SIG_IGN);  // a baseline server that died is reported, not fatal
  if (cuda)
    DDNET_CHECK(cuda_device_count() > 0, "ddnet bench --device cuda: no CUDA device (",
                cuda_unavailable_reason(), ")");
  const std::vector<BenchCase> cases = select_bench_cases(o.suite, o.cases);
  const fs::path bench_dir = find_bench_dir(o.bench_dir);
  std::vector<std::string> missing;
  auto need = [&](const std::string& b) {
    if (!fs::exists(bench_dir / b) && std::find(missing.begin(), missing.end(), b) == missing.end())
      missing.push_back(b);
  };
  need("bench_machine");
  for (const BenchCase& c : cases) need(c.binary);
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += " " + m;
    DDNET_FAIL("ddnet bench: the benchmark suites", list, " are not in ", bench_dir.string(),
               ": build them (cmake --build <build dir> --target", list, ") or pass --bench-dir");
  }
  const int threads = o.threads > 0 ? o.threads : CpuThreadPolicy::from_environment().max_threads;
  const fs::path out_dir = o.out.empty() ? fs::path("bench-" + today()) : fs::path(o.out);
  fs::create_directories(out_dir / "logs");
  const std::string err_path = (out_dir / "logs" / "ours.stderr").string();
  // Our suites at a fixed thread count, the same as PyTorch's.
  const std::string env = "DDNET_CPU_THREADS=" + std::to_string(threads) +
                          " OMP_NUM_THREADS=" + std::to_string(threads) + " ";

  // The PyTorch servers, one per Python.
  std::vector<std::unique_ptr<TorchServer>> servers;
  std::vector<std::string> notes;
  if (o.baseline == "torch") {
    const std::string script = o.server.empty()
                                   ? std::string(DDNET_SOURCE_DIR) + "/bench/torch/bench_server.py"
                                   : o.server;
    DDNET_CHECK(fs::exists(script), "ddnet bench: the PyTorch baselines ", script,
                " are missing (pass --torch-server)");
    std::vector<std::string> pythons = o.pythons;
    if (pythons.empty()) pythons.push_back("python3");  // the one on PATH
    for (std::size_t i = 0; i < pythons.size(); ++i) {
      auto s = std::make_unique<TorchServer>(
          pythons[i], script, threads, o.device,
          (out_dir / "logs" / ("torch-" + std::to_string(i) + ".stderr")).string());
      if (!s->ok()) {
        notes.push_back("no PyTorch baseline from " + pythons[i] + ": " + s->why() +
                        "; ours reported alone");
        std::cerr << "ddnet bench: " << notes.back() << "\n";
        continue;
      }
      std::cerr << "ddnet bench: baseline PyTorch " << s->info().value("torch", "?") << " ("
                << pythons[i] << ")\n";
      servers.push_back(std::move(s));
    }
  }

  BenchRun run;
  run.device = o.device;
  run.threads = threads;
  run.repeat = o.repeat;
  run.small_pairs = o.small_pairs;
  run.min_time = o.min_time;
  run.notes = notes;
  run.machine = cpu_model();
  if (cuda) run.gpu = cuda_device_name(0);
  // What this build of ddnet computes with (the baselines' versions are in run.baselines).
  run.libraries = {{"ddnet", DDNET_VERSION},
                   {"built_with", std::string("CUDA ") + (cuda_compiled() ? "yes" : "no") +
                                      ", cuDNN " + (DDNET_WITH_CUDNN ? "yes" : "no") + ", NCCL " +
                                      (DDNET_WITH_NCCL ? "yes" : "no") + ", oneDNN " +
                                      (DDNET_WITH_DNNL ? "yes" : "no") + ", FFTW " +
                                      (DDNET_WITH_FFTW ? "yes" : "no")},
                   {"cpu_convolutions", kernels::cpu_conv::config().summary()},
                   {"cpu_stream_stores", kernels::stream_stores_summary()}};
  for (const auto& s : servers)
    run.baselines.push_back({"PyTorch " + s->info().value("torch", std::string("?")), s->python(),
                             s->info().value("torch", std::string("?"))});

  // Machine limits: three samples each before the cases and one more in every round (a shared
  // machine's bandwidth moves by tens of percent between minutes); the best sample is the limit.
  const fs::path machine = bench_dir / "bench_machine";
  auto sample_limits = [&] {
    const Sample copy =
        run_ours(machine.string(),
                 cuda ? "BM_machine_copy/cuda/manual_time" : "BM_machine_copy/cpu/real_time", 0.3,
                 env, err_path);
    if (copy.error.empty()) {
      run.limits.copy_samples.push_back(2.0 * (256 << 20) / copy.seconds);
      run.limits.copy_bytes_per_s =
          std::max(run.limits.copy_bytes_per_s, run.limits.copy_samples.back());
    }
    if (cuda) return;
    const Sample stream_copy =
        run_ours(machine.string(), "BM_machine_copy_nt/real_time", 0.3, env, err_path);
    if (stream_copy.error.empty()) {
      run.limits.stream_copy_samples.push_back(2.0 * (256 << 20) / stream_copy.seconds);
      run.limits.stream_copy_bytes_per_s =
          std::max(run.limits.stream_copy_bytes_per_s, run.limits.stream_copy_samples.back());
    }
    std::string out;
    std::ostringstream cmd;
    cmd << env << quote(machine.string())
        << " --benchmark_filter='^BM_machine_fma/real_time$' --benchmark_format=json";
    if (run_capture(cmd.str(), err_path, &out) != 0) return;
    try {
      const json b = json::parse(out)["benchmarks"].at(0);
      if (!b.value("error_occurred", false)) {
        run.limits.peak_samples.push_back(b.value("FLOP/s", 0.0));
        run.limits.peak_flops = std::max(run.limits.peak_flops, run.limits.peak_samples.back());
      }
    } catch (const std::exception&) {
    }
  };
  for (int i = 0; i < 3; ++i) sample_limits();
  if (cuda) {
    std::string source;
    double peak = 0, bw = 0;
    if (gpu_datasheet(run.gpu, &peak, &bw, &source)) {
      run.limits.peak_flops = peak;
      run.limits.peak_source = source;
    } else {
      run.limits.peak_source = "unknown GPU: no FP32 peak";
    }
    run.limits.copy_source =
        "measured: device-to-device copy of 256 MiB (bench_machine), the best sample";
  } else {
    run.limits.peak_source = "measured: independent FMA chains on " + std::to_string(threads) +
                             " threads (bench_machine), the best sample";
    run.limits.copy_source = "measured: 256 MiB memcpy in 1 MiB pieces on " +
                             std::to_string(threads) +
                             " threads, read + write counted (bench_machine), the best sample";
  }

  // The cases, plus the first one again under another name: the command's own repeatability.
  std::vector<BenchCase> plan = cases;
  BenchCase again = cases.front();
  again.id += "#2";
  plan.push_back(again);
  run.repeat_check = cases.front().id;
  for (const BenchCase& c : plan) {
    CaseResult r;
    r.c = c;
    r.theirs.resize(servers.size());
    run.results.push_back(r);
  }
  const auto t0 = std::chrono::steady_clock::now();
  for (int rep = 0; rep < o.repeat; ++rep) {
    if (rep > 0) sample_limits();
    for (CaseResult& r : run.results) {
      const std::string& name = cuda ? r.c.cuda_name : r.c.cpu_name;
      if (name.empty()) {
        r.skipped = "no " + o.device + " case";
        continue;
      }
      // Cases of a few milliseconds are the noisiest on a shared machine: they get several
      // pairs per round (each sample still lasts --min-time).
      const int pairs = !r.ours.empty() && r.ours.back().seconds < 0.02 ? o.small_pairs : 1;
      for (int pair = 0; pair < pairs; ++pair) {
        const Sample ours =
            run_ours((bench_dir / r.c.binary).string(), name, o.min_time, env, err_path);
        if (!ours.error.empty()) {  // no pair this time: theirs is not measured either
          r.ours_error = ours.error;
          continue;
        }
        r.ours.push_back(ours);
        for (std::size_t i = 0; i < servers.size(); ++i) {
          if (r.c.torch.empty()) continue;
          Sample theirs = servers[i]->request(r.c.torch, o.min_time);
          if (!theirs.error.empty()) {
            r.their_errors[i] = theirs.error;
            theirs.seconds = 0;  // keeps the rounds aligned; not counted (paired_ratio skips it)
          }
          r.theirs[i].push_back(theirs);
        }
      }
      std::cerr << "\rddnet bench: round " << rep + 1 << "/" << o.repeat << ", " << r.c.id
                << "                              " << std::flush;
    }
  }
  std::cerr << "\n";
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  run.date = now_iso();
  run.commit = source_commit();
  run.version = DDNET_VERSION;

  write_bench_reports(run, out_dir);
  print_bench_table(run, std::cout);
  std::cout << "ddnet bench: wrote " << (out_dir / "bench.json").string() << ", bench.md, "
            << "roofline.png and ratios.png in " << out_dir.string() << "\n";
  return 0;
}

}  // namespace

Command add_bench(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  auto* cmd = app.add_subcommand(
      "bench", "Benchmark our kernels, layers, loss and training step beside PyTorch, paired");
  cmd->add_option("--suite", o->suite, "kernels, layers, loss, step or all")->capture_default_str();
  cmd->add_option("--device", o->device, "cpu or cuda")->capture_default_str();
  cmd->add_option("--baseline", o->baseline, "torch, or none for ours alone")
      ->capture_default_str();
  cmd->add_option("--python", o->pythons,
                  "a Python with PyTorch for the baselines (repeat for several; default python3)");
  cmd->add_option("--repeat", o->repeat, "rounds: samples per case and side")
      ->capture_default_str();
  cmd->add_option("--min-time", o->min_time, "seconds each sample runs at least")
      ->capture_default_str();
  cmd->add_option("--small-pairs", o->small_pairs,
                  "pairs per round for cases under 20 ms (the noisiest)")
      ->capture_default_str();
  cmd->add_option("--threads", o->threads,
                  "CPU threads for both sides (default: ddnet's thread policy, DDNET_CPU_THREADS)");
  cmd->add_option("--cases", o->cases, "only these case ids (see --list)")->delimiter(',');
  cmd->add_option("--out", o->out, "output folder (default bench-<date>)");
  cmd->add_option("--bench-dir", o->bench_dir,
                  "where the bench_* suites are (default: beside this build's ddnet)");
  cmd->add_option("--torch-server", o->server,
                  "the baselines script (bench/torch/bench_server.py)");
  cmd->add_flag("--list", o->list, "list the cases and exit");
  return {cmd, [o] { return run_bench(*o); }};
}

}  // namespace ddnet::tools
