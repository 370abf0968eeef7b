// The processes of one run. Launched by mpirun / mpiexec / srun (an MPI launcher sets its
// variables: OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX_RANK ...), World is an MPI world: rank, size,
// and the local rank among the processes of one machine (a shared-memory split), which picks the
// GPU. Started by hand, it is a world of one and MPI is never initialised, so no MPI daemon or
// launcher is needed.
//
// Collectives here work on host memory through MPI (GPU buffers go through NCCL: dist/nccl.h).
// Every call on a world of one is a no-op or a copy. Errors name the collective and the rank.
//
// No collective waits forever: each is started non-blocking and polled (sleeping between polls,
// so a waiting rank does not burn a core as MPI's blocking calls do) until it completes or
// timeout_s() passes. A rank that has waited in collective #k for a moment tells the others so
// (a small message on a communicator of its own); at the timeout the rank waits that moment more,
// then names the ranks from which no word of reaching #k came (a stopped, hung or far slower
// rank) in the error it throws. After a timeout the world is broken: every later collective
// throws at once, finalize() skips MPI_Finalize (it would wait for the missing rank), and the
// command ends every rank (abort()).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ddnet::dist {

// A non-blocking collective in flight; wait() finishes it (rethrowing its error). Destroying an
// unfinished request waits for it.
class Request {
 public:
  Request();
  ~Request();
  Request(Request&& o) noexcept;
  Request& operator=(Request&& o) noexcept;
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;
  void wait();  // for at most the world's timeout_s(), then throws naming the missing ranks
  bool test();  // true once finished (then wait() returns at once)
  bool pending() const { return impl_ != nullptr; }

 private:
  friend class World;
  struct Impl;  // holds the MPI_Request, so this header needs no mpi.h
  std::unique_ptr<Impl> impl_;
};

class World {
 public:
  // Initialises MPI when a launcher started this process (once; later calls return the same
  // world). Thread level: MPI_THREAD_SERIALIZED (a communication thread may make the calls).
  static World& init();
  // The world of init(), or a world of one if init() was not called.
  static World& get();

  int rank() const { return rank_; }
  int size() const { return size_; }
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }
  bool uses_mpi() const { return mpi_; }
  bool is_root() const { return rank_ == 0; }

  // Seconds a collective may wait for the other ranks before it throws (default 600; `ddnet
  // train --comm-timeout`). Positive.
  void set_timeout(double seconds);
  double timeout_s() const { return timeout_s_; }

  void barrier() const;
  void broadcast(void* data, std::size_t bytes, int root = 0) const;
  void allreduce_sum(float* data, std::size_t n) const;      // in place
  void allreduce_sum(double* data, std::size_t n) const;     // in place
  Request iallreduce_sum(float* data, std::size_t n) const;  // in place, non-blocking
  // The `value` of every rank, in rank order (e.g. to compare configurations).
  std::vector<std::string> allgather(const std::string& value) const;
  // Every rank must give the same `value`: otherwise every rank throws, naming `what`, the first
  // rank whose value differs from rank 0's and both values (shortened).
  void check_same(const std::string& what, const std::string& value) const;

  // Prints "ddnet: rank R of N: message" to stderr and ends every process of the world with
  // `code` (MPI_Abort), so no rank waits forever on one that failed. A world of one exits.
  [[noreturn]] void abort(const std::string& message, int code = 1) const;
  // Finalises MPI (only after init() started it); called at normal exit.
  void finalize();

 private:
  World();
  ~World();
  friend class Request;
  // Collective number `seq` (`what`) was started as `*request` (an MPI_Request): polls it until
  // it completes, for at most timeout_s(); throws naming the ranks that did not reach it.
  void complete(void* request, std::uint64_t seq, const std::string& what) const;
  // The number of the next collective; throws when an earlier one timed out.
  std::uint64_t start(const std::string& what) const;
  bool mpi_ = false, finalized_ = false;
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
  double timeout_s_ = 600;
  void* local_comm_ = nullptr;  // MPI_Comm of this machine's ranks
  struct Watch;                 // who reached which collective (world.cpp)
  std::unique_ptr<Watch> watch_;
};

// True when a launcher's variables say this process is one rank of several.
bool launched_by_mpi();

}  // namespace ddnet::dist
