// The MPI world, or a world of one without MPI.
#include "dist/world.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "engine/error.h"
#include "generated/ddnet_config.h"

#if DDNET_WITH_MPI
#include "engine/check_mpi.h"
#define DDNET_MPI(call) ::ddnet::detail::check_mpi((call), #call, __FILE__, __LINE__)
#endif

namespace ddnet::dist {

bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK",
                        "MPI_LOCALNRANKS", "MV2_COMM_WORLD_SIZE"})
    if (const char* s = std::getenv(v); s != nullptr && *s != '\0') return true;
  return false;
}

#if DDNET_WITH_MPI

struct Request::Impl {
  MPI_Request request = MPI_REQUEST_NULL;
  std::string what;
};

#else

struct Request::Impl {};

#endif

Request::Request() = default;

Request::~Request() {
  if (impl_) {
    try {
      wait();
    } catch (const std::exception& e) {
      std::cerr << "ddnet: an unfinished collective failed while being dropped: " << e.what()
                << "\n";
    }
  }
}
Request::Request(Request&& o) noexcept = default;
Request& Request::operator=(Request&& o) noexcept {
  if (this != &o) {
    if (impl_) wait();
    impl_ = std::move(o.impl_);
  }
  return *this;
}

void Request::wait() {
  if (!impl_) return;
#if DDNET_WITH_MPI
  std::unique_ptr<Impl> impl = std::move(impl_);
  const int rc = MPI_Wait(&impl->request, MPI_STATUS_IGNORE);
  if (rc != MPI_SUCCESS) ::ddnet::detail::check_mpi(rc, impl->what.c_str(), __FILE__, __LINE__);
#endif
  impl_.reset();
}

bool Request::test() {
  if (!impl_) return true;
#if DDNET_WITH_MPI
  int done = 0;
  DDNET_MPI(MPI_Test(&impl_->request, &done, MPI_STATUS_IGNORE));
  if (done) impl_.reset();
  return done != 0;
#else
  impl_.reset();
  return true;
#endif
}

World& World::get() {
  static World world;
  return world;
}

World& World::init() {
  World& w = get();
  if (w.mpi_ || !launched_by_mpi()) return w;
#if DDNET_WITH_MPI
  int initialized = 0;
  DDNET_MPI(MPI_Initialized(&initialized));
  if (!initialized) {
    int provided = 0;
    DDNET_MPI(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided));
    DDNET_CHECK(provided >= MPI_THREAD_SERIALIZED, "MPI: this MPI library gives thread level ",
                provided, ", below MPI_THREAD_SERIALIZED");
  }
  // Errors come back as codes (turned into exceptions naming the call), not as aborts.
  DDNET_MPI(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
  DDNET_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &w.rank_));
  DDNET_MPI(MPI_Comm_size(MPI_COMM_WORLD, &w.size_));
  MPI_Comm local = MPI_COMM_NULL;
  DDNET_MPI(
      MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, w.rank_, MPI_INFO_NULL, &local));
  DDNET_MPI(MPI_Comm_rank(local, &w.local_rank_));
  DDNET_MPI(MPI_Comm_size(local, &w.local_size_));
  w.local_comm_ = new MPI_Comm(local);
  w.mpi_ = true;
#else
  DDNET_FAIL(
      "this process was started by an MPI launcher, but ddnet was built without MPI; "
      "install libopenmpi-dev and rebuild, or start a single process without mpirun");
#endif
  return w;
}

void World::barrier() const {
#if DDNET_WITH_MPI
  if (mpi_) DDNET_MPI(MPI_Barrier(MPI_COMM_WORLD));
#endif
}

void World::broadcast(void* data, std::size_t bytes, int root) const {
  DDNET_CHECK(root >= 0 && root < size_, "broadcast: root ", root, " outside the world of ", size_);
#if DDNET_WITH_MPI
  if (!mpi_) return;
  auto* p = static_cast<char*>(data);
  constexpr std::size_t kChunk = std::size_t{1} << 30;  // MPI counts are int
  for (std::size_t off = 0; off < bytes; off += kChunk)
    DDNET_MPI(MPI_Bcast(p + off, static_cast<int>(std::min(kChunk, bytes - off)), MPI_BYTE, root,
                        MPI_COMM_WORLD));
#else
  (void)data;
  (void)bytes;
#endif
}

void World::allreduce_sum(float* data, std::size_t n) const {
#if DDNET_WITH_MPI
  if (!mpi_) return;
  DDNET_CHECK(n <= static_cast<std::size_t>(INT32_MAX), "allreduce: ", n, " values at once");
  DDNET_MPI(
      MPI_Allreduce(MPI_IN_PLACE, data, static_cast<int>(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD));
#else
  (void)data;
  (void)n;
#endif
}

void World::allreduce_sum(double* data, std::size_t n) const {
#if DDNET_WITH_MPI
  if (!mpi_) return;
  DDNET_CHECK(n <= static_cast<std::size_t>(INT32_MAX), "allreduce: ", n, " values at once");
  DDNET_MPI(
      MPI_Allreduce(MPI_IN_PLACE, data, static_cast<int>(n), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD));
#else
  (void)data;
  (void)n;
#endif
}

Request World::iallreduce_sum(float* data, std::size_t n) const {
  Request r;
#if DDNET_WITH_MPI
  if (!mpi_) return r;
  DDNET_CHECK(n <= static_cast<std::size_t>(INT32_MAX), "allreduce: ", n, " values at once");
  r.impl_ = std::make_unique<Request::Impl>();
  r.impl_->what = "MPI_Iallreduce of " + std::to_string(n) + " floats";
  DDNET_MPI(MPI_Iallreduce(MPI_IN_PLACE, data, static_cast<int>(n), MPI_FLOAT, MPI_SUM,
                           MPI_COMM_WORLD, &r.impl_->request));
#else
  (void)data;
  (void)n;
#endif
  return r;
}

std::vector<std::string> World::allgather(const std::string& value) const {
  if (size_ == 1) return {value};
  std::vector<std::string> out;
#if DDNET_WITH_MPI
  int len = static_cast<int>(value.size());
  std::vector<int> lens(static_cast<std::size_t>(size_));
  DDNET_MPI(MPI_Allgather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, MPI_COMM_WORLD));
  std::vector<int> offsets(static_cast<std::size_t>(size_), 0);
  int total = 0;
  for (int r = 0; r < size_; ++r) {
    offsets[static_cast<std::size_t>(r)] = total;
    total += lens[static_cast<std::size_t>(r)];
  }
  std::string all(static_cast<std::size_t>(total), '\0');
  DDNET_MPI(MPI_Allgatherv(value.data(), len, MPI_CHAR, all.data(), lens.data(), offsets.data(),
                           MPI_CHAR, MPI_COMM_WORLD));
  for (int r = 0; r < size_; ++r)
    out.push_back(all.substr(static_cast<std::size_t>(offsets[static_cast<std::size_t>(r)]),
                             static_cast<std::size_t>(lens[static_cast<std::size_t>(r)])));
#endif
  return out;
}

void World::check_same(const std::string& what, const std::string& value) const {
  if (size_ == 1) return;
  const std::vector<std::string> all = allgather(value);
  auto shorten = [](const std::string& s) {
    return s.size() <= 300 ? s : s.substr(0, 300) + "...";
  };
  for (int r = 1; r < size_; ++r)
    if (all[static_cast<std::size_t>(r)] != all[0]) {
      // Where they first differ, for a readable message about long texts.
      const std::string& a = all[0];
      const std::string& b = all[static_cast<std::size_t>(r)];
      std::size_t i = 0;
      while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
      const std::size_t from = i > 40 ? i - 40 : 0;
      DDNET_FAIL("ranks disagree on ", what, ": rank ", r, " differs from rank 0 at character ", i,
                 " (rank 0: '", shorten(a.substr(from)), "', rank ", r, ": '",
                 shorten(b.substr(from)), "')");
    }
}

void World::abort(const std::string& message, int code) const {
  std::fprintf(stderr, "ddnet: rank %d of %d: %s\n", rank_, size_, message.c_str());
  std::fflush(stderr);
#if DDNET_WITH_MPI
  if (mpi_ && !finalized_) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::exit(code);
}

void World::finalize() {
#if DDNET_WITH_MPI
  if (!mpi_ || finalized_) return;
  if (local_comm_) {
    auto* c = static_cast<MPI_Comm*>(local_comm_);
    MPI_Comm_free(c);
    delete c;
    local_comm_ = nullptr;
  }
  MPI_Finalize();
  finalized_ = true;
#endif
}

}  // namespace ddnet::dist
