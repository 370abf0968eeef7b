// The MPI world, or a world of one without MPI.
#include "dist/world.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <thread>

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

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

constexpr int kNoticeTag = 23;
// "This rank has waited for a moment in collective #seq (what)".
struct Notice {
  std::uint64_t seq = 0;
  char what[120] = {0};
};

}  // namespace

struct Request::Impl {
  MPI_Request request = MPI_REQUEST_NULL;
  const World* world = nullptr;
  std::uint64_t seq = 0;
  std::string what;
};

// Who reached which collective: notices travel on a communicator of their own, so they never
// match the collectives' traffic. A rank sends them only when a collective has kept it waiting
// for a moment (a fast step sends none) and drains them only while it waits that long.
struct World::Watch {
  MPI_Comm comm = MPI_COMM_NULL;          // a duplicate of MPI_COMM_WORLD
  std::uint64_t seq = 0;                  // collectives this rank started
  std::vector<std::uint64_t> reached;     // per rank: the latest collective it waited in (0: none)
  std::vector<std::string> reached_what;  // and what it was
  struct Sent {
    MPI_Request request = MPI_REQUEST_NULL;
    std::unique_ptr<Notice> notice;
  };
  std::vector<Sent> sent;  // notices in flight
  std::string broken;      // why collectives are refused (a timeout)

  void drain() {
    for (;;) {
      int flag = 0;
      MPI_Status st;
      DDNET_MPI(MPI_Iprobe(MPI_ANY_SOURCE, kNoticeTag, comm, &flag, &st));
      if (!flag) break;
      Notice n;
      DDNET_MPI(
          MPI_Recv(&n, sizeof n, MPI_BYTE, st.MPI_SOURCE, kNoticeTag, comm, MPI_STATUS_IGNORE));
      const auto src = static_cast<std::size_t>(st.MPI_SOURCE);
      if (src < reached.size() && n.seq > reached[src]) {
        reached[src] = n.seq;
        reached_what[src] = std::string(n.what, strnlen(n.what, sizeof n.what));
      }
    }
    std::vector<Sent> still;
    for (Sent& s : sent) {
      int done = 0;
      DDNET_MPI(MPI_Test(&s.request, &done, MPI_STATUS_IGNORE));
      if (!done) still.push_back(std::move(s));
    }
    sent = std::move(still);
  }

  void tell(int me, int size, std::uint64_t at, const std::string& what) {
    for (int r = 0; r < size; ++r) {
      if (r == me) continue;
      Sent s;
      s.notice = std::make_unique<Notice>();
      s.notice->seq = at;
      std::strncpy(s.notice->what, what.c_str(), sizeof s.notice->what - 1);
      DDNET_MPI(
          MPI_Isend(s.notice.get(), sizeof(Notice), MPI_BYTE, r, kNoticeTag, comm, &s.request));
      sent.push_back(std::move(s));
    }
  }
};

#else

struct Request::Impl {};
struct World::Watch {};

#endif

World::World() = default;
World::~World() = default;

Request::Request() = default;

Request::~Request() {
  if (!impl_) return;
  // While an exception unwinds (a timeout, a failed peer) the collective may never complete:
  // it is left to MPI_Abort, which the command calls next.
  if (std::uncaught_exceptions() > 0) {
    impl_.reset();
    return;
  }
  try {
    wait();
  } catch (const std::exception& e) {
    std::cerr << "ddnet: an unfinished collective failed while being dropped: " << e.what() << "\n";
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
  impl->world->complete(&impl->request, impl->seq, impl->what);
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

void World::set_timeout(double seconds) {
  DDNET_CHECK(seconds > 0 && std::isfinite(seconds),
              "the communication timeout must be a positive number of seconds, got ", seconds);
  timeout_s_ = seconds;
}

#if DDNET_WITH_MPI

std::uint64_t World::start(const std::string& what) const {
  Watch& w = *watch_;
  if (!w.broken.empty())
    DDNET_FAIL("MPI: rank ", rank_, " of ", size_, ": ", what,
               " refused: an earlier collective failed (", w.broken, ")");
  return ++w.seq;
}

void World::complete(void* request, std::uint64_t seq, const std::string& what) const {
  auto* req = static_cast<MPI_Request*>(request);
  Watch& w = *watch_;
  // After `notice_after` s of waiting this rank tells the others it is here; at the timeout it
  // waits as long again (and a little) for the notices of ranks that arrived just before.
  const double notice_after = std::min(1.0, timeout_s_ / 4);
  const double give_up = timeout_s_ + notice_after + 0.25;
  const auto t0 = Clock::now();
  bool told = false;
  for (int polls = 0;; ++polls) {
    int done = 0;
    const int rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) ::ddnet::detail::check_mpi(rc, what.c_str(), __FILE__, __LINE__);
    if (done) return;
    const double waited = seconds_since(t0);
    if (!told && waited >= notice_after) {
      w.tell(rank_, size_, seq, what);
      told = true;
    }
    if (told) w.drain();
    if (waited > give_up) break;
    // Yield for the first polls (a step's all-reduce usually ends within microseconds), then
    // sleep about 1% of the time waited so far (20 us to 2 ms): a long wait costs ~nothing.
    if (polls < 64)
      std::this_thread::yield();
    else
      std::this_thread::sleep_for(
          std::chrono::microseconds(std::clamp(static_cast<long>(waited * 1e4), 20L, 2000L)));
  }
  w.drain();
  std::string missing, seen;
  for (int r = 0; r < size_; ++r) {
    const auto i = static_cast<std::size_t>(r);
    if (r == rank_ || w.reached[i] >= seq) continue;
    missing += (missing.empty() ? "" : ", ") + std::to_string(r);
    if (w.reached[i] > 0)
      seen += detail::concat("; rank ", r, " last waited in collective #", w.reached[i], " (",
                             w.reached_what[i], ")");
  }
  const std::string why =
      missing.empty()
          ? detail::concat(what, " (collective #", seq, ") did not complete within ", timeout_s_,
                           " s although every rank reported reaching it (on this rank ", rank_, ")")
          : detail::concat(
                what, " (collective #", seq, ") did not complete within ", timeout_s_, " s: rank",
                missing.find(',') == std::string::npos ? " " : "s ", missing, " of ", size_,
                " did not reach it (stopped, hung, or far slower than rank ", rank_, seen, ")");
  w.broken = why;
  // No "rank R of N:" here: the command prefixes it when it ends every rank (World::abort).
  DDNET_FAIL("MPI: ", why, "; --comm-timeout sets how long a rank waits for the others");
}

#endif

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
  w.watch_ = std::make_unique<Watch>();
  DDNET_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &w.watch_->comm));
  w.watch_->reached.assign(static_cast<std::size_t>(w.size_), 0);
  w.watch_->reached_what.assign(static_cast<std::size_t>(w.size_), "");
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
  if (!mpi_) return;
  const std::uint64_t seq = start("barrier");
  MPI_Request req = MPI_REQUEST_NULL;
  DDNET_MPI(MPI_Ibarrier(MPI_COMM_WORLD, &req));
  complete(&req, seq, "barrier");
#endif
}

void World::broadcast(void* data, std::size_t bytes, int root) const {
  DDNET_CHECK(root >= 0 && root < size_, "broadcast: root ", root, " outside the world of ", size_);
#if DDNET_WITH_MPI
  if (!mpi_) return;
  auto* p = static_cast<char*>(data);
  constexpr std::size_t kChunk = std::size_t{1} << 30;  // MPI counts are int
  const std::string what = detail::concat("broadcast of ", bytes, " bytes from rank ", root);
  for (std::size_t off = 0; off < bytes; off += kChunk) {
    const std::uint64_t seq = start(what);
    MPI_Request req = MPI_REQUEST_NULL;
    DDNET_MPI(MPI_Ibcast(p + off, static_cast<int>(std::min(kChunk, bytes - off)), MPI_BYTE, root,
                         MPI_COMM_WORLD, &req));
    complete(&req, seq, what);
  }
#else
  (void)data;
  (void)bytes;
#endif
}

void World::allreduce_sum(float* data, std::size_t n) const {
#if DDNET_WITH_MPI
  if (!mpi_) return;
  DDNET_CHECK(n <= static_cast<std::size_t>(INT32_MAX), "allreduce: ", n, " values at once");
  const std::string what = detail::concat("all-reduce of ", n, " floats");
  const std::uint64_t seq = start(what);
  MPI_Request req = MPI_REQUEST_NULL;
  DDNET_MPI(MPI_Iallreduce(MPI_IN_PLACE, data, static_cast<int>(n), MPI_FLOAT, MPI_SUM,
                           MPI_COMM_WORLD, &req));
  complete(&req, seq, what);
#else
  (void)data;
  (void)n;
#endif
}

void World::allreduce_sum(double* data, std::size_t n) const {
#if DDNET_WITH_MPI
  if (!mpi_) return;
  DDNET_CHECK(n <= static_cast<std::size_t>(INT32_MAX), "allreduce: ", n, " values at once");
  const std::string what = detail::concat("all-reduce of ", n, " doubles");
  const std::uint64_t seq = start(what);
  MPI_Request req = MPI_REQUEST_NULL;
  DDNET_MPI(MPI_Iallreduce(MPI_IN_PLACE, data, static_cast<int>(n), MPI_DOUBLE, MPI_SUM,
                           MPI_COMM_WORLD, &req));
  complete(&req, seq, what);
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
  r.impl_->what = detail::concat("all-reduce of ", n, " floats");
  r.impl_->world = this;
  r.impl_->seq = start(r.impl_->what);
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
  const std::uint64_t seq1 = start("allgather of the lengths");
  MPI_Request req = MPI_REQUEST_NULL;
  DDNET_MPI(MPI_Iallgather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, MPI_COMM_WORLD, &req));
  complete(&req, seq1, "allgather of the lengths");
  std::vector<int> offsets(static_cast<std::size_t>(size_), 0);
  int total = 0;
  for (int r = 0; r < size_; ++r) {
    offsets[static_cast<std::size_t>(r)] = total;
    total += lens[static_cast<std::size_t>(r)];
  }
  std::string all(static_cast<std::size_t>(total), '\0');
  const std::uint64_t seq2 = start("allgather");
  DDNET_MPI(MPI_Iallgatherv(value.data(), len, MPI_CHAR, all.data(), lens.data(), offsets.data(),
                            MPI_CHAR, MPI_COMM_WORLD, &req));
  complete(&req, seq2, "allgather");
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
  // After a timeout MPI_Finalize would wait for the rank that never came: the process exits
  // without it (the command has ended every rank with MPI_Abort by then).
  if (watch_ && !watch_->broken.empty()) return;
  if (watch_) {
    // Notices still in flight: eager sends, done at once (bounded all the same).
    const auto t0 = Clock::now();
    while (!watch_->sent.empty() && seconds_since(t0) < 1.0) {
      try {
        watch_->drain();
      } catch (const std::exception&) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    for (auto& sent : watch_->sent) {
      MPI_Request_free(&sent.request);
      (void)sent.notice.release();  // MPI may still read it
    }
    watch_->sent.clear();
    MPI_Comm_free(&watch_->comm);
  }
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
