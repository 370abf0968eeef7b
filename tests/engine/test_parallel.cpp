// The CPU thread count: the policy read from the environment, and CpuShare, which gives the
// cores other processes keep busy back to them.
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>

#include "engine/error.h"
#include "engine/parallel.h"

using namespace ddnet;
using Catch::Matchers::Contains;

namespace {

// Sets (or, with nullopt, unsets) an environment variable for a scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* v = std::getenv(name)) old_ = v;
    if (value)
      setenv(name, value->c_str(), 1);
    else
      unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_)
      setenv(name_, old_->c_str(), 1);
    else
      unsetenv(name_);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// Restores the thread count at the end of a test.
struct KeepThreads {
  int n = cpu_threads();
  ~KeepThreads() { set_cpu_threads(n); }
};

}  // namespace

TEST_CASE("parallel: the thread count follows the cores other processes leave free", "[parallel]") {
  // allowed cores, machine cores, others' busy cores, most threads -> threads
  CHECK(CpuShare::threads_for(2, 2, 0.0, 2) == 2);
  CHECK(CpuShare::threads_for(2, 2, 0.3, 2) == 2);  // a light load: keep both
  CHECK(CpuShare::threads_for(2, 2, 0.7, 2) == 1);  // one busy process: one core is ours
  CHECK(CpuShare::threads_for(2, 2, 1.0, 2) == 1);
  CHECK(CpuShare::threads_for(2, 2, 5.0, 2) == 1);    // never fewer than one
  CHECK(CpuShare::threads_for(16, 16, 4.0, 8) == 8);  // at most the policy's maximum
  CHECK(CpuShare::threads_for(16, 16, 10.0, 16) == 6);
  // Pinned to 4 of 8 cores: others first fill the 4 cores outside our set.
  CHECK(CpuShare::threads_for(4, 8, 3.0, 4) == 4);
  CHECK(CpuShare::threads_for(4, 8, 6.0, 4) == 2);
}

TEST_CASE("parallel: DDNET_CPU_THREADS and OMP_NUM_THREADS choose the policy", "[parallel]") {
  const ScopedEnv omp("OMP_NUM_THREADS", std::nullopt);
  {
    const ScopedEnv v("DDNET_CPU_THREADS", std::nullopt);
    const CpuThreadPolicy p = CpuThreadPolicy::from_environment();
    CHECK(p.adaptive);
    CHECK(p.max_threads >= 1);
    CHECK(p.max_threads <= cpu_cores_allowed());
    CHECK_THAT(p.summary(), Contains("fewer while other processes keep cores busy"));
  }
  {
    const ScopedEnv v("DDNET_CPU_THREADS", std::string("auto"));
    CHECK(CpuThreadPolicy::from_environment().adaptive);
  }
  {
    const ScopedEnv v("DDNET_CPU_THREADS", std::string("3"));
    const CpuThreadPolicy p = CpuThreadPolicy::from_environment();
    CHECK_FALSE(p.adaptive);
    CHECK(p.max_threads == 3);
    CHECK_THAT(p.summary(), Contains("3, fixed"));
  }
  for (const char* bad : {"0", "-2", "two", "2x", ""}) {
    if (std::string(bad).empty()) continue;  // empty means the default
    const ScopedEnv v("DDNET_CPU_THREADS", std::string(bad));
    REQUIRE_THROWS_WITH(CpuThreadPolicy::from_environment(),
                        Contains("DDNET_CPU_THREADS='" + std::string(bad) + "'") &&
                            Contains("expected auto or a thread count"));
  }
  {
    const ScopedEnv v("DDNET_CPU_THREADS", std::nullopt);
    const ScopedEnv o("OMP_NUM_THREADS", std::string("1"));
    CHECK_FALSE(CpuThreadPolicy::from_environment().adaptive);  // the user's count stands
  }
}

TEST_CASE("parallel: a fixed policy keeps its count, an adaptive one measures other processes",
          "[parallel]") {
  const KeepThreads keep;
  CpuThreadPolicy fixed;
  fixed.adaptive = false;
  fixed.max_threads = 3;
  CpuShare f(fixed);
  CHECK(cpu_threads() == 3);
  CHECK(f.update() == 3);

  // Another process spins on a core while this one sleeps: the share sees it busy.
  CpuThreadPolicy adaptive;
  adaptive.max_threads = 2;
  CpuShare share(adaptive, 0.1);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(600);
    volatile unsigned x = 0;
    while (std::chrono::steady_clock::now() < end) x = x + 1;
    _exit(0);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const int n = share.update();
  int status = 0;
  waitpid(child, &status, 0);
  INFO("others kept " << share.others_busy() << " cores busy");
  CHECK(share.others_busy() > 0.4);  // the child: about one core (less on a loaded machine)
  CHECK(n >= 1);
  CHECK(n <= 2);
  CHECK(cpu_threads() == n);
}
