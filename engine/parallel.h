// CPU parallelism: OpenMP when the build has it, a plain loop otherwise. Reductions that must be
// deterministic split work into fixed-size chunks (independent of the thread count) and combine
// the chunk results in order.
//
// The thread count follows the machine (issue 23, item 11): a parallel region waits for its
// slowest thread, so on a core that another process also wants, every region runs at that
// thread's speed and the threads that finished spin at the barrier, stealing time from both. A
// CpuShare, updated between training steps or denoised tiles, measures how many cores other
// processes kept busy since the last update and uses the rest (at least one thread).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

namespace ddnet {

int cpu_threads();  // threads a parallel region uses now
// Sets the threads parallel regions (ours and oneDNN's) use; 1 <= n.
void set_cpu_threads(int n);
// The cores this process may use: its CPU affinity, within a cgroup CPU quota when one is set.
int cpu_cores_allowed();

// How the thread count is chosen, read once from DDNET_CPU_THREADS: "auto" (the default: follow
// the cores other processes leave free, at most the OpenMP default), or a number (fixed). An
// OMP_NUM_THREADS in the environment fixes the count too. A bad value is an error naming the
// variable.
struct CpuThreadPolicy {
  bool adaptive = true;
  int max_threads = 1;  // the fixed count, or the most an adaptive count may use
  static CpuThreadPolicy from_environment();
  std::string summary() const;  // for `ddnet info`
};

// Follows the cores other processes leave free. update() measures, over the time since the
// previous update (at least `min_interval_s`), the CPU time this process used and the machine's
// busy time (/proc/stat, steal included), and sets cpu_threads() to the allowed cores minus
// those the others kept busy, rounded, between 1 and the policy's maximum. A fixed policy, or a
// machine without /proc/stat, leaves the count alone.
class CpuShare {
 public:
  explicit CpuShare(CpuThreadPolicy policy = CpuThreadPolicy::from_environment(),
                    double min_interval_s = 0.2);
  int update();                                   // the thread count now in force
  double others_busy() const { return others_; }  // cores others used in the last interval

  // The decision on its own (tested): cores busy with other work -> threads.
  static int threads_for(int allowed, int machine_cores, double others_busy, int max_threads);

 private:
  struct Sample {
    double wall = 0, self = 0, busy = 0;  // seconds
    bool ok = false;
  };
  static Sample sample();
  CpuThreadPolicy policy_;
  double min_interval_;
  Sample last_;
  double others_ = 0;
};

// The thread count for a scope, restored after it. oneDNN plans each convolution for the thread
// count in force when its primitive is made and keeps that plan; cpu_conv makes them under the
// policy's maximum (cpu_threads_planned()) so their results do not depend on the machine's load
// at that moment (a CpuShare changes only the count of the other kernels, whose results do not
// depend on it).
class ScopedCpuThreads {
 public:
  explicit ScopedCpuThreads(int n) : previous_(cpu_threads()) { set_cpu_threads(n); }
  ~ScopedCpuThreads() { set_cpu_threads(previous_); }
  ScopedCpuThreads(const ScopedCpuThreads&) = delete;
  ScopedCpuThreads& operator=(const ScopedCpuThreads&) = delete;

 private:
  int previous_;
};
int cpu_threads_planned();  // CpuThreadPolicy::from_environment().max_threads, read once

// OpenMP threads that wait at a barrier spin before they sleep; libgomp's default (300,000 spins,
// about a millisecond) makes a waiting thread take the core from a thread that still works when
// another process wants that core too. libgomp reads its spin count once, when it loads, so a
// command that wants short spins calls this first thing in main: without GOMP_SPINCOUNT or
// OMP_WAIT_POLICY in the environment it sets GOMP_SPINCOUNT=1000 and runs the executable again
// (its path from /proc/self/exe, same arguments, same process id and name); with either set, or if
// that fails, it returns and nothing changes. bench/contention.sh measures the effect (docs in
// README).
void exec_with_short_spin_waits(char** argv);

// f(begin, end) over [0, n) in ranges of at least `grain` elements; serial when n <= grain.
template <class F>
void parallel_for(std::int64_t n, std::int64_t grain, F&& f) {
  if (n <= 0) return;
  const std::int64_t chunks = std::max<std::int64_t>(
      1, std::min<std::int64_t>(n / std::max<std::int64_t>(grain, 1), cpu_threads()));
  if (chunks == 1) {
    f(std::int64_t{0}, n);
    return;
  }
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) num_threads(static_cast <int>(chunks))
#endif
  for (std::int64_t c = 0; c < chunks; ++c) {
    const std::int64_t b = n * c / chunks, e = n * (c + 1) / chunks;
    f(b, e);
  }
}

}  // namespace ddnet
