// GPU entries for dist/: the NCCL communicator of one rank (the world of one a single-GPU machine
// can run) and the reducer over a CUDA gradient arena, overlapped with a real 2D-DDnet backward.
// Several ranks need several GPUs (NCCL refuses two ranks on one); with one, the ranks' mean is
// the rank's own gradient, and the checks are the NCCL path's plumbing: events, the
// communication stream, ordering, overlap and the final wait.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "dist/nccl.h"
#include "dist/reducer.h"
#include "engine/rng.h"
#include "graph/arena.h"
#include "layers/loss.h"
#include "models/ddnet.h"
#include "tests/op_harness.h"

using namespace ddnet;

TEST_CASE("gpu nccl: a communicator of one rank averages, sums and broadcasts in place",
          "[gpu][nccl]") {
  REQUIRE(dist::nccl_compiled());
  const dist::World& w = dist::World::get();
  dist::NcclComm comm(w, 0, 30.0);
  CHECK(comm.size() == w.size());
  Generator g(7);
  const Tensor host = g.uniform({100003});
  Tensor t = host.to(Device::cuda(0));
  const Stream s = current_stream(0);
  comm.allreduce_avg(t.data<float>(), static_cast<std::size_t>(t.numel()), s);
  comm.allreduce_sum(t.data<float>(), static_cast<std::size_t>(t.numel()), s);
  comm.broadcast(t.raw_data(), t.nbytes(), 0, s);
  Event done;
  done.record(s);
  comm.wait(done, "the test's collectives");
  comm.check_async("the test");
  test::check_close(t, host, 0, 0, "after avg, sum and broadcast over one rank");
}

TEST_CASE("gpu nccl: the reducer over a CUDA arena overlaps backward and keeps the gradient",
          "[gpu][nccl]") {
  REQUIRE(dist::nccl_compiled());
  const dist::World& w = dist::World::get();
  const Device cuda = Device::cuda(0);
  models::DDnet net({2, kernels::UpsampleMode::linear, 5, false});
  nn::Arena arena = nn::pack_parameters(net, cuda);
  for (const auto& b : net.named_buffers())
    if (b.tensor->dtype() == DType::f32) *b.tensor = b.tensor->to(cuda);
  std::vector<Tensor> params;
  for (const auto& p : net.named_parameters()) params.push_back(*p.tensor);
  Generator g(100);
  const Tensor x = g.uniform(Shape{1, 1, 64, 64}).to(cuda),
               y = g.uniform(Shape{1, 1, 64, 64}).to(cuda);

  arena.grads.zero_();
  F::ddnet_loss(net.forward(x), y).total.backward();
  const Tensor expect = arena.grads.to(Device::cpu());

  dist::NcclComm comm(w, 0, 30.0);
  dist::ReducerOptions o;
  o.first_bucket_bytes = 16 << 10;
  o.bucket_bytes = 256 << 10;
  dist::Reducer r(w, arena.grads, params, arena.offsets, o, &comm);
  REQUIRE(r.buckets().size() > 4);
  for (int step = 0; step < 3; ++step) {
    arena.grads.zero_();
    r.begin();
    F::ddnet_loss(net.forward(x), y).total.backward();
    r.finish();
    const auto& s = r.last();
    CHECK(s.launch_order.front() == 0);
    CHECK(s.launched_in_backward[0] == 1);
    const auto started =
        std::count(s.launched_in_backward.begin(), s.launched_in_backward.end(), 1);
    CHECK(started >= static_cast<long>(r.buckets().size()) - 1);
    CHECK(s.finish_wait_s >= 0);
    // The mean over one rank is the rank's gradient (cuDNN may pick other algorithms between
    // runs: a tight tolerance, not bit equality).
    test::check_close(arena.grads.to(Device::cpu()), expect, 1e-5, 1e-7,
                      "gradients through the NCCL reducer");
  }
}
