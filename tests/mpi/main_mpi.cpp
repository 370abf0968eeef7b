// Runner of the MPI tests: the same Catch2 cases on every rank of `mpirun -np N` (or alone, a
// world of one). A rank with a failed case makes the whole run fail: the ranks agree on the
// worst result before they exit. Two fault scenarios instead of the cases (tests/mpi/fault.sh):
//   `fault`:       rank 1 throws while rank 0 waits in a barrier;
//   `fault-train`: data-parallel training (2D-DDnet, synthetic data, batch 1 per rank) where
//                  rank 1's data fails at step 3 while rank 0 goes on into the step's gradient
//                  all-reduce.
// Either way every rank must end, non-zero, naming rank 1's error. And (tests/mpi/stall.sh):
//   `stall`:       rank 1 stops itself (SIGSTOP) while rank 0 waits in a barrier with a 2 s
//                  timeout: rank 0 must end every rank after about 2 s, naming rank 1, having
//                  used little CPU while it waited (it prints the seconds waited and used).
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include "dist/world.h"
#include "engine/error.h"
#include "models/train.h"
#include "tests/runner.h"
#include "tools/data_parallel.h"
#include "tools/sources.h"

namespace {

// This rank's samples, failing at training step `fail_step` (1-based, first epoch) when `fail`.
class FailingSource final : public ddnet::models::SampleSource {
 public:
  FailingSource(std::unique_ptr<ddnet::models::SampleSource> inner, bool fail, int fail_step)
      : inner_(std::move(inner)), fail_(fail), fail_step_(fail_step) {}
  std::int64_t size(int split) const override { return inner_->size(split); }
  ddnet::models::Sample get(int split, std::int64_t epoch, std::int64_t index) const override {
    if (fail_ && split == 0 && epoch == 0 && index == fail_step_ - 1)
      DDNET_FAIL("step ", fail_step_, ": injected failure on this rank");
    return inner_->get(split, epoch, index);
  }

 private:
  std::unique_ptr<ddnet::models::SampleSource> inner_;
  bool fail_;
  int fail_step_;
};

int train_with_fault(ddnet::dist::World& w) {
  using namespace ddnet;
  models::TrainConfig c;
  c.model = "2d";
  c.loader = "synthetic";
  c.size = 32;
  c.train_samples = 16;
  c.val_samples = 2;
  c.epochs = 1;
  c.batch = 1;
  c.progress = false;
  c.out = (std::filesystem::temp_directory_path() /
           ("ddnet_fault_train_" + std::to_string(w.is_root() ? getpid() : 0)))
              .string();
  std::string out = c.out;  // rank 0's folder everywhere (the configurations must agree)
  out.resize(512, '\0');
  w.broadcast(out.data(), out.size());
  c.out = out.c_str();
  tools::MpiSync sync(w, dist::ReducerOptions{});
  FailingSource source(tools::make_sample_source(c, w.rank(), w.size()), w.rank() == 1, 3);
  models::train(c, source, false, &sync);
  if (w.is_root()) std::filesystem::remove_all(c.out);
  return 0;
}

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

int stall(ddnet::dist::World& w) {
  w.set_timeout(2.0);
  w.barrier();  // both ranks are up
  if (w.rank() == 1) std::raise(SIGSTOP);
  const auto t0 = std::chrono::steady_clock::now();
  const double cpu0 = cpu_seconds();
  try {
    w.barrier();  // rank 0 waits here for a rank that is stopped
  } catch (const std::exception& e) {
    const double waited =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double cpu = cpu_seconds() - cpu0;
    std::printf("stall: rank %d waited %.2f s using %.3f s of CPU (%.1f%%)\n", w.rank(), waited,
                cpu, 100 * cpu / waited);
    std::fflush(stdout);
    w.abort(e.what(), 3);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  ddnet::dist::World& w = ddnet::dist::World::init();
  const bool fault = argc > 1 && std::strcmp(argv[1], "fault") == 0;
  const bool fault_train = argc > 1 && std::strcmp(argv[1], "fault-train") == 0;
  if (argc > 1 && std::strcmp(argv[1], "stall") == 0) return stall(w);
  if (fault || fault_train) {
    try {
      if (fault_train) return train_with_fault(w);
      if (w.rank() == 1) {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        DDNET_FAIL("step 3: injected failure on this rank");
      }
      w.barrier();  // rank 0 waits here for a rank that never comes
      return 0;
    } catch (const std::exception& e) {
      w.abort(e.what(), 3);
    }
  }
  const int failed = ddnet::test::run_plain_session(argc, argv);
  double worst = failed;
  w.allreduce_sum(&worst, 1);
  w.finalize();
  return worst > 0 ? 1 : 0;
}
