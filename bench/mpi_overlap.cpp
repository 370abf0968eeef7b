// Exposed communication per data-parallel step, with the reducer's overlap on and off.
//
//   mpirun -np 2 -x OMP_NUM_THREADS=1 build/release/bench/mpi_overlap [options]
//   options: --model 2d|3d (2d)  --size S (64)  --slices D (16, 3d)  --steps K (10)
//            --bucket-mib M (25)  --first-bucket-kib K (1024)  --device cpu|cuda (cpu)
//
// Every rank runs the same steps (zero the gradients, forward, DDnet loss, backward, gradient
// all-reduce) in three modes: `local` (the ranks meet in a barrier after backward but move no
// data: the compute floor plus waiting for the slower rank), `after` (the
// reducer with overlap off: every bucket's all-reduce after backward) and `overlap` (buckets
// start during backward). Per mode it prints the median step time, the median time finish()
// waited (local: the barrier), i.e. the communication backward did not hide plus the wait for
// the slower rank, and the median of step minus the same round's local step; and, once, the median
// time of one blocking all-reduce of the whole gradient (the communication to hide). A plain timing
// program rather than a Google Benchmark suite: it runs under mpirun, and every rank must take the
// same steps in lock step. On CUDA (one rank per GPU) the reducer goes through NCCL; with one rank
// that shows the NCCL path's overhead on the step.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "dist/nccl.h"
#include "dist/reducer.h"
#include "dist/world.h"
#include "engine/error.h"
#include "engine/rng.h"
#include "graph/arena.h"
#include "layers/loss.h"
#include "models/ddnet.h"

using namespace ddnet;

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

struct Options {
  std::string model = "2d", device = "cpu";
  int size = 64, slices = 16, steps = 10;
  double bucket_mib = 25, first_bucket_kib = 1024;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    DDNET_CHECK(i + 1 < argc, "mpi_overlap: ", a, " needs a value");
    const std::string v = argv[++i];
    if (a == "--model")
      o.model = v;
    else if (a == "--device")
      o.device = v;
    else if (a == "--size")
      o.size = std::stoi(v);
    else if (a == "--slices")
      o.slices = std::stoi(v);
    else if (a == "--steps")
      o.steps = std::stoi(v);
    else if (a == "--bucket-mib")
      o.bucket_mib = std::stod(v);
    else if (a == "--first-bucket-kib")
      o.first_bucket_kib = std::stod(v);
    else
      DDNET_FAIL("mpi_overlap: unknown option ", a);
  }
  DDNET_CHECK(o.model == "2d" || o.model == "3d", "mpi_overlap: --model 2d or 3d, got ", o.model);
  DDNET_CHECK(o.steps >= 1 && o.size >= 16 && o.slices >= 1, "mpi_overlap: bad sizes");
  return o;
}

int run(dist::World& w, const Options& o) {
  const Device dev = o.device == "cpu" ? Device::cpu() : Device::cuda(w.local_rank());
  use_device(dev);
  const int dims = o.model == "3d" ? 3 : 2;
  models::DDnet net({dims, kernels::UpsampleMode::linear, 1, false});
  nn::Arena arena = nn::pack_parameters(net, dev);
  for (const auto& b : net.named_buffers())
    if (b.tensor->dtype() == DType::f32) *b.tensor = b.tensor->to(dev);
  std::vector<Tensor> params;
  for (const auto& p : net.named_parameters()) params.push_back(*p.tensor);
  Generator g(10 + static_cast<std::uint64_t>(w.rank()));
  const Shape s = dims == 3 ? Shape{1, 1, o.slices, o.size, o.size} : Shape{1, 1, o.size, o.size};
  const Tensor x = g.uniform(s, dev, 0.f, 1.f), y = g.uniform(s, dev, 0.f, 1.f);
  std::unique_ptr<dist::NcclComm> nccl;
  if (dev.is_cuda()) nccl = std::make_unique<dist::NcclComm>(w, dev.index(), 120.0);
  const std::int64_t n = arena.grads.numel();

  // The communication to hide: one blocking all-reduce of the whole gradient.
  std::vector<double> full;
  for (int k = 0; k < o.steps + 2; ++k) {
    w.barrier();
    const double t0 = now();
    if (nccl) {
      nccl->allreduce_avg(arena.grads.data<float>(), static_cast<std::size_t>(n), nccl->stream());
      nccl->stream().synchronize();
    } else {
      w.allreduce_sum(arena.grads.data<float>(), static_cast<std::size_t>(n));
    }
    if (k >= 2) full.push_back(now() - t0);
  }
  std::vector<double> full_nb;  // the same through the non-blocking call the CPU reducer uses
  if (!nccl)
    for (int k = 0; k < o.steps + 2; ++k) {
      w.barrier();
      const double t0 = now();
      w.iallreduce_sum(arena.grads.data<float>(), static_cast<std::size_t>(n)).wait();
      if (k >= 2) full_nb.push_back(now() - t0);
    }

  // The three modes interleaved, one step each per round, so drift on a busy machine falls on
  // all of them alike; the paired difference to the round's local step is the cost of the
  // communication on the step.
  const std::vector<std::string> modes{"local", "after", "overlap"};
  std::vector<std::unique_ptr<dist::Reducer>> reducers;
  for (const std::string& mode : modes) {
    dist::ReducerOptions ro;
    ro.bucket_bytes = static_cast<std::size_t>(o.bucket_mib * (1 << 20));
    ro.first_bucket_bytes =
        std::min(ro.bucket_bytes, static_cast<std::size_t>(o.first_bucket_kib * 1024));
    ro.overlap = mode == "overlap";
    reducers.push_back(mode == "local"
                           ? nullptr
                           : std::make_unique<dist::Reducer>(w, arena.grads, params, arena.offsets,
                                                             ro, nccl.get()));
  }
  // The reducer's communication alone: its buckets started and waited with no backward around.
  std::vector<double> alone;
  for (int k = 0; k < o.steps + 2; ++k) {
    w.barrier();
    const double t0 = now();
    reducers[1]->begin();
    reducers[1]->finish();
    if (k >= 2) alone.push_back(now() - t0);
  }
  std::vector<std::vector<double>> steps(modes.size()), waits(modes.size()), extra(modes.size());
  for (int k = 0; k < o.steps + 2; ++k) {
    std::vector<double> t(modes.size());
    for (std::size_t m = 0; m < modes.size(); ++m) {
      dist::Reducer* r = reducers[m].get();
      w.barrier();
      const double t0 = now();
      arena.grads.zero_();
      if (r) r->begin();
      F::ddnet_loss(net.forward(x), y).total.backward();
      double wait = 0;
      if (r) {
        r->finish();
        wait = r->last().finish_wait_s;
      } else {  // the ranks meet but move nothing: what waiting for the slower rank costs
        (void)arena.grads.narrow(0, 0, 1).to(Device::cpu());
        const double b0 = now();
        w.barrier();
        wait = now() - b0;
      }
      (void)arena.grads.narrow(0, 0, 1).to(Device::cpu());  // syncs with the device
      t[m] = now() - t0;
      if (k < 2) continue;  // warm-up
      steps[m].push_back(t[m]);
      waits[m].push_back(wait);
      extra[m].push_back(t[m] - t[0]);
    }
  }

  // Each rank's medians, averaged over the ranks (the rank that waits is the faster one).
  std::vector<std::vector<double>> stat(modes.size());
  for (std::size_t m = 0; m < modes.size(); ++m) {
    stat[m] = {median(steps[m]), median(waits[m]), median(extra[m])};
    w.allreduce_sum(stat[m].data(), 3);
    for (double& v : stat[m]) v /= w.size();
  }
  if (w.is_root()) {
    const double mb = static_cast<double>(n) * 4 / 1e6;
    std::printf(
        "# mpi_overlap: %d rank(s), %s-DDnet, %s, input %s, %lld parameters "
        "(%.2f MB of gradients), %d rounds (medians per rank, averaged over the ranks)\n",
        w.size(), o.model.c_str(), dev.str().c_str(), s.str().c_str(), static_cast<long long>(n),
        mb, o.steps);
    std::printf(
        "one blocking all-reduce of the whole gradient: %.2f ms (%.2f GB/s algorithm "
        "bandwidth)\n",
        median(full) * 1e3, mb / 1e3 / std::max(median(full), 1e-12));
    if (!full_nb.empty())
      std::printf("the same, non-blocking (MPI_Iallreduce, then MPI_Wait): %.2f ms\n",
                  median(full_nb) * 1e3);
    std::printf("the reducer's buckets alone (begin, finish, no backward): %.2f ms\n\n",
                median(alone) * 1e3);
    std::printf(
        "| mode | buckets | step (ms) | exposed communication: finish() wait (ms) | "
        "step - local step of the round (ms) |\n|---|---|---|---|---|\n");
    for (std::size_t m = 0; m < modes.size(); ++m)
      std::printf("| %s | %zu | %.1f | %.2f | %.2f |\n", modes[m].c_str(),
                  reducers[m] ? reducers[m]->buckets().size() : 0, stat[m][0] * 1e3,
                  stat[m][1] * 1e3, stat[m][2] * 1e3);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  dist::World& w = dist::World::init();
  try {
    const int rc = run(w, parse(argc, argv));
    w.finalize();
    return rc;
  } catch (const std::exception& e) {
    if (w.size() > 1) w.abort(e.what(), 1);
    std::cerr << "mpi_overlap: " << e.what() << "\n";
    return 1;
  }
}
