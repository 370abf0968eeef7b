// Builds without NCCL (or without CUDA): GPU collectives are refused with the reason.
#include "dist/nccl.h"

#include "engine/error.h"

namespace ddnet::dist {

namespace {
constexpr const char* kNoNccl =
    ": this build has no NCCL (configure with the CUDA toolkit and NCCL found, see the "
    "configure summary)";
}

bool nccl_compiled() {
  return false;
}

NcclComm::UniqueId NcclComm::make_unique_id() {
  DDNET_FAIL("nccl: a unique id", kNoNccl);
}

NcclComm::NcclComm(const World& world, int device, double timeout_s)
    : device_(device), rank_(world.rank()), size_(world.size()), timeout_s_(timeout_s) {
  DDNET_FAIL("nccl: rank ", rank_, " asked for cuda:", device, kNoNccl);
}
NcclComm::NcclComm(int nranks, int rank, const UniqueId&, int device, double timeout_s)
    : device_(device), rank_(rank), size_(nranks), timeout_s_(timeout_s) {
  DDNET_FAIL("nccl: rank ", rank_, " asked for cuda:", device, kNoNccl);
}
NcclComm::~NcclComm() = default;
void NcclComm::allreduce_avg(float*, std::size_t, const Stream&) const {}
void NcclComm::allreduce_sum(float*, std::size_t, const Stream&) const {}
void NcclComm::broadcast(void*, std::size_t, int, const Stream&) const {}
void NcclComm::wait(const Event&, const char*) const {}
void NcclComm::check_async(const char*) const {}

}  // namespace ddnet::dist
