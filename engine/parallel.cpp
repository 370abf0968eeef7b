// The CPU thread count: OpenMP's, the cores this process may use, and CpuShare, which follows
// the cores other processes leave free.
#include "engine/parallel.h"

#include <sched.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>

#include "engine/error.h"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace ddnet {

namespace {

int openmp_default_threads() {
#if defined(_OPENMP)
  static const int n = omp_get_max_threads();  // before anyone changed it
  return n;
#else
  return 1;
#endif
}

// A cgroup CPU quota in cores (v2 cpu.max, or v1 cfs quota/period); 0 when there is none.
double cgroup_quota_cores() {
  std::ifstream v2("/sys/fs/cgroup/cpu.max");
  std::string quota;
  double period = 0;
  if (v2 >> quota >> period) return quota == "max" || period <= 0 ? 0 : std::stod(quota) / period;
  std::ifstream q("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), p("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
  double qv = 0, pv = 0;
  if (q >> qv && p >> pv && qv > 0 && pv > 0) return qv / pv;
  return 0;
}

int machine_cores() {
  const long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

}  // namespace

int cpu_threads() {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

void set_cpu_threads(int n) {
  DDNET_CHECK(n >= 1, "set_cpu_threads: ", n, " threads (at least 1)");
#if defined(_OPENMP)
  openmp_default_threads();  // remembered before the first change
  omp_set_num_threads(n);
#endif
}

int cpu_cores_allowed() {
  int cores = machine_cores();
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) cores = std::max(1, CPU_COUNT(&set));
  const double quota = cgroup_quota_cores();
  if (quota > 0) cores = std::min(cores, std::max(1, static_cast<int>(std::ceil(quota - 0.01))));
  return cores;
}

void exec_with_short_spin_waits(char** argv) {
  if (std::getenv("GOMP_SPINCOUNT") != nullptr || std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  // The executable's own path, not /proc/self/exe: the process name (ps, pgrep, top) is the
  // base name of the path executed.
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0 || static_cast<std::size_t>(n) >= sizeof self - 1) return;
  self[n] = '\0';
  if (setenv("GOMP_SPINCOUNT", "1000", 1) != 0) return;
  execv(self, argv);
  unsetenv("GOMP_SPINCOUNT");  // exec failed: carry on as we are
}

int cpu_threads_planned() {
  static const int n = CpuThreadPolicy::from_environment().max_threads;  // read once
  return n;
}

CpuThreadPolicy CpuThreadPolicy::from_environment() {
  CpuThreadPolicy p;
  p.max_threads = std::max(1, std::min(openmp_default_threads(), cpu_cores_allowed()));
  const char* v = std::getenv("DDNET_CPU_THREADS");
  const std::string s = v ? v : "";
  if (s.empty() || s == "auto") {
    const char* omp = std::getenv("OMP_NUM_THREADS");
    if (omp && *omp) {  // the user chose a count
      p.adaptive = false;
      p.max_threads = openmp_default_threads();
    }
    return p;
  }
  char* end = nullptr;
  const long n = std::strtol(s.c_str(), &end, 10);
  DDNET_CHECK(end && *end == '\0' && n >= 1 && n <= 4096, "DDNET_CPU_THREADS='", s,
              "': expected auto or a thread count (1 or more)");
  p.adaptive = false;
  p.max_threads = static_cast<int>(n);
  return p;
}

std::string CpuThreadPolicy::summary() const {
  std::ostringstream o;
  if (adaptive)
    o << "up to " << max_threads
      << ", fewer while other processes keep cores busy (DDNET_CPU_THREADS=auto|N)";
  else
    o << max_threads << ", fixed (DDNET_CPU_THREADS or OMP_NUM_THREADS)";
  return o.str();
}

CpuShare::CpuShare(CpuThreadPolicy policy, double min_interval_s)
    : policy_(policy), min_interval_(min_interval_s) {
  set_cpu_threads(policy_.max_threads);
  if (policy_.adaptive) last_ = sample();
}

CpuShare::Sample CpuShare::sample() {
  Sample s;
  s.wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  timespec ts{};
  if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) return s;
  s.self = static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
  std::ifstream stat("/proc/stat");
  std::string cpu;
  // user nice system idle iowait irq softirq steal (guest time is inside user)
  double v[8] = {};
  if (!(stat >> cpu) || cpu != "cpu") return s;
  for (double& x : v)
    if (!(stat >> x)) return s;
  const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  if (hz <= 0) return s;
  s.busy = (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / hz;
  s.ok = true;
  return s;
}

int CpuShare::threads_for(int allowed, int machine, double others_busy, int max_threads) {
  // Others may run on cores outside our affinity first; what spills onto ours is lost to us.
  const double on_ours = std::max(0.0, others_busy - std::max(0, machine - allowed));
  const int free_cores = static_cast<int>(std::lround(static_cast<double>(allowed) - on_ours));
  return std::clamp(free_cores, 1, std::max(1, max_threads));
}

int CpuShare::update() {
  if (!policy_.adaptive) return cpu_threads();
  const Sample now = sample();
  if (!now.ok || !last_.ok) {
    last_ = now;
    return cpu_threads();
  }
  const double dt = now.wall - last_.wall;
  if (dt < min_interval_) return cpu_threads();
  // Others' busy time: the machine's minus ours (the two clocks tick differently: clamp at 0).
  others_ = std::max(0.0, ((now.busy - last_.busy) - (now.self - last_.self)) / dt);
  last_ = now;
  const int n = threads_for(cpu_cores_allowed(), machine_cores(), others_, policy_.max_threads);
  if (n != cpu_threads()) set_cpu_threads(n);
  return n;
}

}  // namespace ddnet
