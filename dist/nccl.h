// NCCL for GPU collectives: one communicator per run, one GPU per rank (the rank's local rank
// picks it), bootstrapped over the MPI world (rank 0's ncclUniqueId broadcast to every rank).
// Collectives are enqueued on a stream the caller gives and return at once; wait() blocks until
// an event recorded after them completes while polling NCCL's asynchronous error state, and
// gives up after a timeout: the communicator is aborted and an error thrown, which `ddnet`
// turns into an abort of every rank (World::abort), so a failed peer ends the run instead of
// hanging it.
//
// A world of one needs no MPI: the unique id is made locally. Built without NCCL, constructing
// a communicator throws "built without NCCL".
#pragma once

#include <cstddef>
#include <memory>

#include "dist/world.h"
#include "engine/stream.h"

namespace ddnet::dist {

bool nccl_compiled();

class NcclComm {
 public:
  // Collective: every rank of `world` calls it, each with its own GPU `device`.
  NcclComm(const World& world, int device, double timeout_s = 600.0);
  ~NcclComm();
  NcclComm(const NcclComm&) = delete;
  NcclComm& operator=(const NcclComm&) = delete;

  int device() const { return device_; }
  int rank() const { return rank_; }
  int size() const { return size_; }
  double timeout_s() const { return timeout_s_; }
  // The communication stream (non-blocking, on device()): the reducer's all-reduces run here.
  const Stream& stream() const { return stream_; }

  // In place; enqueued on `stream`. avg: every rank ends with the mean (ncclAvg).
  void allreduce_avg(float* data, std::size_t n, const Stream& stream) const;
  void allreduce_sum(float* data, std::size_t n, const Stream& stream) const;
  void broadcast(void* data, std::size_t bytes, int root, const Stream& stream) const;

  // Blocks until `event` has completed, checking for NCCL's asynchronous errors meanwhile;
  // throws (after aborting the communicator) on an error or after timeout_s.
  void wait(const Event& event, const char* what) const;
  // Throws when NCCL has recorded an asynchronous error (a peer failed, a network error).
  void check_async(const char* what) const;

 private:
  void* comm_ = nullptr;  // ncclComm_t
  int device_ = 0, rank_ = 0, size_ = 1;
  double timeout_s_;
  Stream stream_;
  mutable bool aborted_ = false;
};

}  // namespace ddnet::dist
