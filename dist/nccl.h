// NCCL for GPU collectives: one communicator per run, one GPU per rank (the rank's local rank
// picks it), bootstrapped over the MPI world (rank 0's ncclUniqueId broadcast to every rank).
//
// The communicator is non-blocking (ncclConfig_t::blocking = 0), so that no NCCL call can hang
// the rank: its init, each collective and its teardown return at once (NCCL's ncclInProgress)
// and finish in the background, and the communicator polls NCCL's state
// (ncclCommGetAsyncError) until they have, for at most timeout_s. Collectives are enqueued on a
// stream the caller gives (they return once NCCL has put them on it); wait() blocks until an
// event recorded after them completes while polling NCCL's asynchronous error state. On an
// error or after timeout_s the communicator is aborted (ncclCommAbort) and an error thrown,
// which `ddnet` turns into an abort of every rank (World::abort), so a failed peer (also one that
// never reaches the init) ends the run instead of hanging it. An aborted communicator refuses
// every later call with that reason.
//
// A world of one needs no MPI: the unique id is made locally. Built without NCCL, constructing
// a communicator throws "built without NCCL".
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "dist/world.h"
#include "engine/stream.h"

namespace ddnet::dist {

bool nccl_compiled();

class NcclComm {
 public:
  // NCCL's unique id (the bytes of an ncclUniqueId): made once, given to every rank.
  struct UniqueId {
    char bytes[128];
  };
  // A new unique id (ncclGetUniqueId).
  static UniqueId make_unique_id();

  // Collective: every rank of `world` calls it, each with its own GPU `device`.
  NcclComm(const World& world, int device, double timeout_s = 600.0);
  // Rank `rank` of `nranks`, the caller having given every rank the same `id` (tests run ranks
  // as threads of one process, one GPU each). Throws after timeout_s when a rank never joins.
  NcclComm(int nranks, int rank, const UniqueId& id, int device, double timeout_s = 600.0);
  // Destroys the communicator once its queued collectives are done (ncclCommFinalize, then
  // ncclCommDestroy); aborts it instead after an error, when they are not done within
  // timeout_s, or while an exception unwinds (its peers may never take part in them).
  ~NcclComm();
  NcclComm(const NcclComm&) = delete;
  NcclComm& operator=(const NcclComm&) = delete;

  int device() const { return device_; }
  int rank() const { return rank_; }
  int size() const { return size_; }
  double timeout_s() const { return timeout_s_; }
  // The communication stream (non-blocking, on device()): the reducer's all-reduces run here.
  const Stream& stream() const { return stream_; }
  // True once an error or a timeout aborted the communicator: every call then throws.
  bool aborted() const { return comm_ == nullptr; }

  // In place; enqueued on `stream`. avg: every rank ends with the mean (ncclAvg).
  void allreduce_avg(float* data, std::size_t n, const Stream& stream) const;
  void allreduce_sum(float* data, std::size_t n, const Stream& stream) const;
  void broadcast(void* data, std::size_t bytes, int root, const Stream& stream) const;

  // Blocks until `event` has completed, checking for NCCL's asynchronous errors meanwhile and
  // once more at the end; throws (after aborting the communicator) on an error or after
  // timeout_s.
  void wait(const Event& event, const char* what) const;
  // Throws when NCCL has recorded an asynchronous error (a peer failed, a network error).
  void check_async(const char* what) const;

 private:
  void* live(const char* what) const;  // the ncclComm_t; throws once aborted
  // After a collective returned `result`: waits while NCCL is still enqueueing it; throws on an
  // error or after timeout_s.
  void enqueued(int result, const char* call) const;
  // Aborts the communicator (ncclCommAbort), keeping `why` for the calls that follow.
  void abort_because(const std::string& why) const;

  mutable void* comm_ = nullptr;  // ncclComm_t; null once aborted
  mutable std::string abort_reason_;
  int device_ = 0, rank_ = 0, size_ = 1;
  double timeout_s_;
  Stream stream_;
};

}  // namespace ddnet::dist
