// The MPI world (dist/world.h) on every rank of the launch: ranks, the shared-memory split,
// broadcast, blocking and non-blocking all-reduce, allgather, and the start-up agreement check
// that refuses ranks with different configurations.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <numeric>
#include <vector>

#include "dist/world.h"

using namespace ddnet;

TEST_CASE("world: ranks, sizes and the launcher", "[mpi]") {
  const dist::World& w = dist::World::get();
  CHECK(w.size() >= 1);
  CHECK(w.rank() >= 0);
  CHECK(w.rank() < w.size());
  CHECK(w.local_rank() < w.local_size());
  CHECK(w.local_size() <= w.size());
  CHECK(w.uses_mpi() == dist::launched_by_mpi());
  if (const char* n = std::getenv("OMPI_COMM_WORLD_SIZE")) CHECK(w.size() == std::atoi(n));
}

TEST_CASE("world: broadcast from rank 0 and all-reduce sums", "[mpi]") {
  const dist::World& w = dist::World::get();
  std::vector<float> v(1000);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(w.rank() * 1000 + i);
  w.broadcast(v.data(), v.size() * sizeof(float));
  for (std::size_t i = 0; i < v.size(); ++i) REQUIRE(v[i] == static_cast<float>(i));

  std::vector<float> g(777);
  for (std::size_t i = 0; i < g.size(); ++i) g[i] = static_cast<float>((w.rank() + 1) * i);
  w.allreduce_sum(g.data(), g.size());
  const float ranks = static_cast<float>(w.size() * (w.size() + 1) / 2);
  for (std::size_t i = 0; i < g.size(); ++i) REQUIRE(g[i] == ranks * static_cast<float>(i));

  std::vector<float> a(50000, static_cast<float>(w.rank() + 1)), b(3, 1.0f);
  dist::Request ra = w.iallreduce_sum(a.data(), a.size());
  dist::Request rb = w.iallreduce_sum(b.data(), b.size());
  rb.wait();
  ra.wait();
  CHECK(!ra.pending());
  CHECK(a[0] == ranks);
  CHECK(a[49999] == ranks);
  CHECK(b[2] == static_cast<float>(w.size()));
  double d = 0.5;
  w.allreduce_sum(&d, 1);
  CHECK(d == 0.5 * w.size());
}

TEST_CASE("world: allgather and the agreement check", "[mpi]") {
  const dist::World& w = dist::World::get();
  const auto all = w.allgather("rank" + std::string(static_cast<std::size_t>(w.rank()), '+'));
  REQUIRE(static_cast<int>(all.size()) == w.size());
  for (int r = 0; r < w.size(); ++r)
    CHECK(all[static_cast<std::size_t>(r)] ==
          "rank" + std::string(static_cast<std::size_t>(r), '+'));
  CHECK_NOTHROW(w.check_same("the configuration", R"({"lr":0.001,"model":"3d"})"));
  if (w.size() > 1) {
    // Every rank throws (none is left waiting), naming the rank that differs.
    const std::string mine =
        w.rank() == 1 ? R"({"lr":0.01,"model":"3d"})" : R"({"lr":0.001,"model":"3d"})";
    CHECK_THROWS_WITH(w.check_same("the configuration", mine),
                      Catch::Contains("ranks disagree on the configuration: rank 1 differs") &&
                          Catch::Contains("0.01"));
  }
}
