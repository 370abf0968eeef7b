// The kernel engine of the CUDA emulator: each CUDA thread of a block runs as a fiber on the
// stream worker's OS thread. A block's fibers run in a seeded shuffled order until each reaches
// a barrier, a warp operation or its end; a barrier completes when every thread of the block
// waits at it, a warp operation when every lane its mask names has called it. So a kernel that
// reads shared memory without the barrier that orders it gets another thread's stale value (and,
// under ThreadSanitizer, a race report: fibers are separate TSan threads whose only
// happens-before edges are the barriers), and one that depends on the order of its blocks sees
// them in another order for another seed.
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <numeric>
#include <sstream>
#include <vector>

#include "sim.h"

#if defined(__SANITIZE_ADDRESS__)
#define DDNET_SIM_ASAN 1
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(__SANITIZE_THREAD__)
#define DDNET_SIM_TSAN 1
#include <sanitizer/tsan_interface.h>
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer) && !defined(DDNET_SIM_ASAN)
#define DDNET_SIM_ASAN 1
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if __has_feature(thread_sanitizer) && !defined(DDNET_SIM_TSAN)
#define DDNET_SIM_TSAN 1
#include <sanitizer/tsan_interface.h>
#endif
#endif

#if !defined(__x86_64__)
#error "tests/sim: the fiber switch is written for x86-64"
#endif

// Saves the callee-saved registers, the SSE and x87 control words and the stack pointer of the
// running context into *from_sp and continues the context saved at to_sp.
extern "C" void ddnet_sim_switch(void** from_sp, void* to_sp);
// The first frame of a fiber: calls r13(r12) on an aligned stack; the callee never returns.
extern "C" void ddnet_sim_trampoline();
asm(R"(
  .text
  .globl ddnet_sim_switch
  .type ddnet_sim_switch, @function
ddnet_sim_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size ddnet_sim_switch, .-ddnet_sim_switch

  .globl ddnet_sim_trampoline
  .type ddnet_sim_trampoline, @function
ddnet_sim_trampoline:
  movq %r12, %rdi
  callq *%r13
  ud2
  .size ddnet_sim_trampoline, .-ddnet_sim_trampoline
  .section .note.GNU-stack,"",@progbits
  .text
)");

namespace ddnet::sim {

namespace {

constexpr int kWarp = 32;
constexpr unsigned kMaxThreadsPerBlock = 1024;
constexpr unsigned kMaxBlockDim[3] = {1024, 1024, 64};
constexpr unsigned kMaxGrid[3] = {2147483647u, 65535u, 65535u};
constexpr std::size_t kMaxDynamicShared = 48 * 1024;  // without cudaFuncSetAttribute (never used)

std::size_t stack_bytes() {
  static const std::size_t bytes = [] {
    const char* v = std::getenv("DDNET_SIM_STACK_KB");
    const long kb = v ? std::atol(v) : 0;
    return static_cast<std::size_t>(kb > 0 ? kb : 256) * 1024;
  }();
  return bytes;
}

enum class State : int { idle, runnable, at_barrier, at_warp, done };

struct Block;

struct Fiber {
  void* sp = nullptr;     // saved stack pointer while switched out
  char* stack = nullptr;  // mmap'ed, lowest address
  std::size_t stack_size = 0;
  int slot = 0;
  Block* block = nullptr;  // the block whose thread this fiber runs now
  ThreadCoords coords{};
  // Shared between the fiber and the scheduler, which TSan sees as different threads with no
  // happens-before between them: relaxed atomics, so neither TSan nor the compiler reorders.
  std::atomic<int> state{static_cast<int>(State::idle)};
  std::atomic<unsigned> warp_mask{0};
  std::atomic<std::uint64_t> warp_value{0};
  std::atomic<int> warp_src{0};
  std::atomic<const char*> warp_what{nullptr};
  std::atomic<std::uint64_t> warp_result{0};
  unsigned barrier_phase = 0;
#if DDNET_SIM_TSAN
  void* tsan_fiber = nullptr;
#endif
#if DDNET_SIM_ASAN
  void* fake_stack = nullptr;
#endif
};

struct Block {
  std::function<void()>* body = nullptr;
  const LaunchConfig* cfg = nullptr;
  unsigned nthreads = 0;
  // Synchronisation objects for TSan's happens-before (addresses only).
  char done_sync = 0, barrier_sync[2] = {0, 0};
};

// One per OS thread that runs kernels (a stream worker, or the host for the null stream).
struct Engine {
  std::vector<std::unique_ptr<Fiber>> fibers;
  std::vector<Fiber*> threads, order;  // run_block's, kept to avoid an allocation per block
  void* main_sp = nullptr;
#if DDNET_SIM_TSAN
  std::atomic<void*> tsan_main{nullptr};
#endif
#if DDNET_SIM_ASAN
  const void* main_stack_bottom = nullptr;
  std::size_t main_stack_size = 0;
  void* main_fake_stack = nullptr;
#endif
};

thread_local Engine* t_engine = nullptr;
// The fiber running now on this OS thread, if any: set by the scheduler, read by the fibers
// (separate threads for TSan, hence an atomic).
thread_local std::atomic<Fiber*> t_fiber{nullptr};

Engine& engine() {
  if (!t_engine) {
    // Per OS thread, kept until exit and reachable from here (fibers' stacks are mapped memory).
    static std::mutex m;
    static std::vector<Engine*>* all = new std::vector<Engine*>();
    t_engine = new Engine();
    std::lock_guard<std::mutex> lock(m);
    all->push_back(t_engine);
  }
  return *t_engine;
}

State state_of(const Fiber& f) {
  return static_cast<State>(f.state.load(std::memory_order_relaxed));
}
void set_state(Fiber& f, State s) {
  f.state.store(static_cast<int>(s), std::memory_order_relaxed);
}

// Fiber -> scheduler.
void switch_to_scheduler(Fiber& f, bool finished_forever = false) {
  Engine& e = engine();
  (void)finished_forever;
#if DDNET_SIM_TSAN
  __tsan_switch_to_fiber(e.tsan_main.load(std::memory_order_relaxed),
                         __tsan_switch_to_fiber_no_sync);
#endif
#if DDNET_SIM_ASAN
  __sanitizer_start_switch_fiber(&f.fake_stack, e.main_stack_bottom, e.main_stack_size);
#endif
  ddnet_sim_switch(&f.sp, e.main_sp);
#if DDNET_SIM_ASAN
  // Resumed by the scheduler: its stack may be another than last time (learn it again).
  __sanitizer_finish_switch_fiber(f.fake_stack, &e.main_stack_bottom, &e.main_stack_size);
#endif
}

// Scheduler -> fiber.
void resume(Fiber& f) {
  Engine& e = engine();
  t_fiber.store(&f, std::memory_order_relaxed);
#if DDNET_SIM_TSAN
  // The scheduler's context, to switch back to.
  e.tsan_main.store(__tsan_get_current_fiber(), std::memory_order_relaxed);
  __tsan_switch_to_fiber(f.tsan_fiber, __tsan_switch_to_fiber_no_sync);
#endif
#if DDNET_SIM_ASAN
  __sanitizer_start_switch_fiber(&e.main_fake_stack, f.stack, f.stack_size);
#endif
  ddnet_sim_switch(&e.main_sp, f.sp);
#if DDNET_SIM_ASAN
  __sanitizer_finish_switch_fiber(e.main_fake_stack, nullptr, nullptr);
#endif
  t_fiber.store(nullptr, std::memory_order_relaxed);
}

[[noreturn]] void fiber_main(void* arg) {
  Fiber& f = *static_cast<Fiber*>(arg);
#if DDNET_SIM_ASAN
  // The first switch into this fiber: learn the scheduler's stack for the switches back.
  Engine& e = engine();
  __sanitizer_finish_switch_fiber(nullptr, &e.main_stack_bottom, &e.main_stack_size);
#endif
  for (;;) {
    // One CUDA thread per turn of this loop; the scheduler set coords and block, then released
    // this fiber's object.
#if DDNET_SIM_TSAN
    __tsan_acquire(&f);
#endif
    Block& b = *f.block;
    (*b.body)();
#if DDNET_SIM_TSAN
    __tsan_release(&b.done_sync);
#endif
    set_state(f, State::done);
    switch_to_scheduler(f);
  }
}

Fiber& fiber(int slot) {
  Engine& e = engine();
  while (static_cast<int>(e.fibers.size()) <= slot) {
    auto f = std::make_unique<Fiber>();
    f->slot = static_cast<int>(e.fibers.size());
    f->stack_size = stack_bytes();
    void* mem = mmap(nullptr, f->stack_size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) fail("cannot map a fiber stack");
    f->stack = static_cast<char*>(mem);
    // The initial frame ddnet_sim_switch pops: control words, r15..rbp, then the return address.
    auto* top = reinterpret_cast<std::uint64_t*>(f->stack + f->stack_size);
    top[-1] = reinterpret_cast<std::uint64_t>(&ddnet_sim_trampoline);
    top[-2] = 0;                                                      // rbp
    top[-3] = 0;                                                      // rbx
    top[-4] = reinterpret_cast<std::uint64_t>(f.get());               // r12: the argument
    top[-5] = reinterpret_cast<std::uint64_t>(&fiber_main);           // r13: the entry
    top[-6] = 0;                                                      // r14
    top[-7] = 0;                                                      // r15
    top[-8] = 0x1F80u | (static_cast<std::uint64_t>(0x037Fu) << 32);  // mxcsr, x87 control word
    f->sp = &top[-8];
#if DDNET_SIM_TSAN
    f->tsan_fiber = __tsan_create_fiber(0);
#endif
    e.fibers.push_back(std::move(f));
  }
  return *e.fibers[static_cast<std::size_t>(slot)];
}

std::string where(const Fiber& f) {
  std::ostringstream o;
  o << "thread (" << f.coords.thread_idx.x << "," << f.coords.thread_idx.y << ","
    << f.coords.thread_idx.z << ") of block (" << f.coords.block_idx.x << ","
    << f.coords.block_idx.y << "," << f.coords.block_idx.z << ")";
  return o.str();
}

// Settles the warp operations that every lane of their mask has reached. Returns true when one
// completed; fails when a warp operation can never complete.
bool settle_warps(const LaunchConfig& cfg, std::vector<Fiber*>& threads, bool stuck) {
  bool progressed = false;
  const unsigned n = static_cast<unsigned>(threads.size());
  for (unsigned w0 = 0; w0 < n; w0 += kWarp) {
    const unsigned lanes = std::min<unsigned>(kWarp, n - w0);
    unsigned waiting = 0, mask = 0;
    const char* what = nullptr;
    for (unsigned l = 0; l < lanes; ++l) {
      Fiber& f = *threads[w0 + l];
      if (state_of(f) != State::at_warp) continue;
      waiting |= 1u << l;
      mask = f.warp_mask.load(std::memory_order_relaxed);
      what = f.warp_what.load(std::memory_order_relaxed);
    }
    if (!waiting) continue;
    if (waiting == mask) {
      // Complete the exchange: every lane receives its source lane's value.
      for (unsigned l = 0; l < lanes; ++l) {
        if (!(mask & (1u << l))) continue;
        Fiber& f = *threads[w0 + l];
        const int src = f.warp_src.load(std::memory_order_relaxed);
        std::uint64_t r = f.warp_value.load(std::memory_order_relaxed);
        if (src >= 0 && src < kWarp && (mask & (1u << src)))
          r = threads[w0 + static_cast<unsigned>(src)]->warp_value.load(std::memory_order_relaxed);
        else if (src >= 0 && src < kWarp && src != static_cast<int>(l))
          fail(std::string("kernel ") + cfg.kernel + ": " + what + " in " + where(f) +
               " reads lane " + std::to_string(src) + ", which its mask does not name");
        f.warp_result.store(r, std::memory_order_relaxed);
        set_state(f, State::runnable);
      }
      progressed = true;
      continue;
    }
    // Lanes the mask names that cannot arrive any more (ended, at a barrier), or a deadlock.
    bool can_arrive = false;
    for (unsigned l = 0; l < kWarp; ++l) {
      if (!(mask & (1u << l)) || (waiting & (1u << l))) continue;
      if (l >= lanes) {
        fail(std::string("kernel ") + cfg.kernel + ": " + what + " with mask 0x" +
             [&] {
               std::ostringstream o;
               o << std::hex << mask;
               return o.str();
             }() +
             " names lane " + std::to_string(l) + ", which this block (" + std::to_string(n) +
             " threads) does not have");
      }
      const State s = state_of(*threads[w0 + l]);
      if (s == State::runnable) can_arrive = true;
    }
    if (!can_arrive || stuck) {
      std::ostringstream o;
      o << "kernel " << cfg.kernel << ": " << what << " in warp " << (w0 / kWarp) << " of block ("
        << threads[w0]->coords.block_idx.x << "," << threads[w0]->coords.block_idx.y << ","
        << threads[w0]->coords.block_idx.z << ") with mask 0x" << std::hex << mask
        << " was reached by lanes 0x" << waiting << " only (the others ended or wait elsewhere)";
      fail(o.str());
    }
  }
  return progressed;
}

}  // namespace

const ThreadCoords& coords() {
  Fiber* f = t_fiber.load(std::memory_order_relaxed);
  if (!f) fail("threadIdx/blockIdx/blockDim/gridDim read outside a kernel");
  return f->coords;
}

void syncthreads() {
  Fiber* f = t_fiber.load(std::memory_order_relaxed);
  if (!f) fail("__syncthreads called outside a kernel");
  [[maybe_unused]] Block& b = *f->block;
#if DDNET_SIM_TSAN
  __tsan_release(&b.barrier_sync[f->barrier_phase & 1]);
#endif
  set_state(*f, State::at_barrier);
  switch_to_scheduler(*f);
#if DDNET_SIM_TSAN
  __tsan_acquire(&b.barrier_sync[f->barrier_phase & 1]);
#endif
  ++f->barrier_phase;
}

std::uint64_t warp_exchange(const char* what, unsigned mask, std::uint64_t value, int src_lane) {
  Fiber* f = t_fiber.load(std::memory_order_relaxed);
  if (!f) fail(std::string(what) + " called outside a kernel");
  const unsigned lane = f->coords.thread_idx.x % kWarp;  // blocks of one dimension here
  if (f->block->cfg->block.y != 1 || f->block->cfg->block.z != 1)
    fail(std::string(what) + ": the emulator supports warp operations in 1-D blocks only");
  if (!(mask & (1u << lane))) {
    std::ostringstream o;
    o << "kernel " << f->block->cfg->kernel << ": " << what << " called by lane " << lane << " ("
      << where(*f) << ") with mask 0x" << std::hex << mask << ", which does not name it";
    fail(o.str());
  }
  f->warp_mask.store(mask, std::memory_order_relaxed);
  f->warp_value.store(value, std::memory_order_relaxed);
  f->warp_src.store(src_lane, std::memory_order_relaxed);
  f->warp_what.store(what, std::memory_order_relaxed);
  set_state(*f, State::at_warp);
  switch_to_scheduler(*f);
  return f->warp_result.load(std::memory_order_relaxed);
}

unsigned warp_vote(const char* what, unsigned mask, bool predicate) {
  (void)what;
  Fiber* f = t_fiber.load(std::memory_order_relaxed);
  if (!f) fail(std::string(what) + " called outside a kernel");
  // A vote is an exchange where each lane contributes one bit; gather them lane by lane.
  const unsigned lane = f->coords.thread_idx.x % kWarp;
  unsigned ballot = 0;
  for (int src = 0; src < kWarp; ++src) {
    if (!(mask & (1u << src))) continue;
    const std::uint64_t bit = warp_exchange(what, mask, predicate ? 1u : 0u, src);
    if (bit) ballot |= 1u << src;
  }
  (void)lane;
  return ballot;
}

// Under ThreadSanitizer, a stream worker runs each op on an executor fiber of its own, entered
// with synchronisation (the op sees what the host did before queueing it) and left without (the
// worker's queue lock must not carry the op's effects back to the host). Elsewhere a plain call.
#if DDNET_SIM_TSAN
namespace {
struct Executor {
  void* sp = nullptr;
  void* caller_sp = nullptr;
  void* tsan_fiber = nullptr;
  // Written by the worker, read by the executor, which TSan sees as unordered: atomics.
  std::atomic<void*> tsan_caller{nullptr};
  std::atomic<std::function<void()>*> job{nullptr};
};
thread_local Executor* t_executor = nullptr;

[[noreturn]] void executor_main(void* arg) {
  Executor& x = *static_cast<Executor*>(arg);
  for (;;) {
    // The job lives on the heap and dies here: nothing the executor touched is reused by the
    // worker, which the executor does not synchronize with when it switches back.
    std::function<void()>* job = x.job.load(std::memory_order_relaxed);
    (*job)();
    delete job;
    __tsan_switch_to_fiber(x.tsan_caller.load(std::memory_order_relaxed),
                           __tsan_switch_to_fiber_no_sync);
    ddnet_sim_switch(&x.sp, x.caller_sp);
  }
}
}  // namespace

void run_isolated(std::function<void()> work) {
  if (!t_executor) {
    auto* x = new Executor();  // per OS thread, kept until exit
    const std::size_t size = stack_bytes();
    void* mem = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) fail("cannot map an executor stack");
    auto* top = reinterpret_cast<std::uint64_t*>(static_cast<char*>(mem) + size);
    top[-1] = reinterpret_cast<std::uint64_t>(&ddnet_sim_trampoline);
    top[-2] = top[-3] = top[-6] = top[-7] = 0;
    top[-4] = reinterpret_cast<std::uint64_t>(x);
    top[-5] = reinterpret_cast<std::uint64_t>(&executor_main);
    top[-8] = 0x1F80u | (static_cast<std::uint64_t>(0x037Fu) << 32);
    x->sp = &top[-8];
    x->tsan_fiber = __tsan_create_fiber(0);
    t_executor = x;
  }
  Executor& x = *t_executor;
  x.job.store(new std::function<void()>(std::move(work)), std::memory_order_relaxed);
  x.tsan_caller.store(__tsan_get_current_fiber(), std::memory_order_relaxed);
  __tsan_switch_to_fiber(x.tsan_fiber, 0);
  ddnet_sim_switch(&x.caller_sp, x.sp);
}
#else
void run_isolated(std::function<void()> work) {
  work();
}
#endif

// Runs one block: every thread a fiber, scheduled in a seeded order phase by phase.
void run_block(const LaunchConfig& cfg, std::function<void()>& body, uint3 block_idx,
               std::uint64_t order_seed) {
  Block b;
  b.body = &body;
  b.cfg = &cfg;
  b.nthreads = cfg.block.x * cfg.block.y * cfg.block.z;
  std::vector<Fiber*>& threads = engine().threads;
  threads.assign(b.nthreads, nullptr);
  for (unsigned t = 0; t < b.nthreads; ++t) {
    Fiber& f = fiber(static_cast<int>(t));
    f.block = &b;
    f.barrier_phase = 0;
    f.coords.thread_idx = {t % cfg.block.x, (t / cfg.block.x) % cfg.block.y,
                           t / (cfg.block.x * cfg.block.y)};
    f.coords.block_idx = block_idx;
    f.coords.block_dim = cfg.block;
    f.coords.grid_dim = cfg.grid;
    set_state(f, State::runnable);
    threads[t] = &f;
#if DDNET_SIM_TSAN
    __tsan_release(&f);
#endif
  }
  // A cheap generator (a 64-bit state per block): the order of every phase is reshuffled.
  std::uint64_t rng = order_seed;
  std::vector<Fiber*>& order = engine().order;
  for (;;) {
    order.clear();
    for (Fiber* f : threads)
      if (state_of(*f) == State::runnable) order.push_back(f);
    if (!order.empty()) {
      for (std::size_t i = order.size(); i > 1; --i)
        std::swap(order[i - 1], order[(rng = mix(rng, i)) % i]);
      for (Fiber* f : order) resume(*f);
      continue;
    }
    // Nothing runnable: complete warp operations, then a barrier, else the block is done.
    if (settle_warps(cfg, threads, false)) continue;
    unsigned at_barrier = 0, done = 0;
    for (Fiber* f : threads) {
      const State s = state_of(*f);
      at_barrier += s == State::at_barrier;
      done += s == State::done;
    }
    if (done == b.nthreads) break;
    if (at_barrier == b.nthreads) {
      for (Fiber* f : threads) set_state(*f, State::runnable);
      continue;
    }
    if (at_barrier > 0) {
      const Fiber* ended = nullptr;
      for (Fiber* f : threads)
        if (state_of(*f) == State::done) ended = f;
      std::ostringstream o;
      o << "kernel " << cfg.kernel << ": __syncthreads reached by " << at_barrier << " of "
        << b.nthreads << " threads of block (" << block_idx.x << "," << block_idx.y << ","
        << block_idx.z << "); " << (ended ? where(*ended) + " had already returned" : "")
        << " (a barrier in divergent code)";
      fail(o.str());
    }
    settle_warps(cfg, threads, true);  // fails: lanes wait on a warp operation forever
    fail(std::string("kernel ") + cfg.kernel + ": the block can make no progress");
  }
#if DDNET_SIM_TSAN
  __tsan_acquire(&b.done_sync);
#endif
  for (Fiber* f : threads) {
    f->block = nullptr;
    set_state(*f, State::idle);
  }
}

// Validates a launch as the runtime does; returns the error cudaGetLastError should report.
cudaError_t validate_launch(const LaunchConfig& cfg, std::string* why) {
  const unsigned bd[3] = {cfg.block.x, cfg.block.y, cfg.block.z};
  const unsigned gd[3] = {cfg.grid.x, cfg.grid.y, cfg.grid.z};
  std::ostringstream o;
  o << "kernel " << cfg.kernel << " launched with grid (" << gd[0] << "," << gd[1] << "," << gd[2]
    << ") block (" << bd[0] << "," << bd[1] << "," << bd[2] << ") shared " << cfg.shared_bytes
    << ": ";
  for (int i = 0; i < 3; ++i) {
    if (bd[i] == 0 || bd[i] > kMaxBlockDim[i] || gd[i] == 0 || gd[i] > kMaxGrid[i]) {
      *why = o.str() +
             "a dimension is 0 or past sm_90's limits (block 1024x1024x64, grid "
             "2^31-1 x 65535 x 65535)";
      return cudaErrorInvalidConfiguration;
    }
  }
  if (static_cast<std::uint64_t>(bd[0]) * bd[1] * bd[2] > kMaxThreadsPerBlock) {
    *why = o.str() + "more than 1024 threads per block";
    return cudaErrorInvalidConfiguration;
  }
  if (cfg.shared_bytes > kMaxDynamicShared) {
    *why = o.str() + "more than 48 KiB of dynamic shared memory without opting in";
    return cudaErrorInvalidValue;
  }
  return cudaSuccess;
}

// Runs a whole grid on the calling OS thread, blocks in a seeded shuffled order.
void run_grid(const LaunchConfig& cfg, std::function<void()>& body, std::uint64_t launch_seed) {
  const std::uint64_t nblocks = static_cast<std::uint64_t>(cfg.grid.x) * cfg.grid.y * cfg.grid.z;
  // A seeded permutation of the block indices, by an affine map modulo nblocks: cheap for
  // grids of any size and different for every launch and seed.
  std::uint64_t a = 1;
  for (std::uint64_t t = 0; t < 64 && nblocks > 1; ++t) {
    const std::uint64_t cand = mix(launch_seed, t + 10) % nblocks;
    if (cand > 0 && std::gcd(cand, nblocks) == 1) {
      a = cand;
      break;
    }
  }
  const std::uint64_t c = mix(launch_seed, 2) % nblocks;
  std::uint64_t id = c;
  for (std::uint64_t k = 0; k < nblocks; ++k, id = (id + a) % nblocks) {
    const uint3 bi{
        static_cast<unsigned>(id % cfg.grid.x),
        static_cast<unsigned>((id / cfg.grid.x) % cfg.grid.y),
        static_cast<unsigned>(id / (static_cast<std::uint64_t>(cfg.grid.x) * cfg.grid.y))};
    run_block(cfg, body, bi, mix(launch_seed, id + 3));
  }
}

void launch(const LaunchConfig& cfg, std::function<void()> body) {
  std::string why;
  const cudaError_t err = validate_launch(cfg, &why);
  if (err != cudaSuccess) {
    // As the runtime does: the launch does not happen, and the next cudaGetLastError says why.
    set_last_error(err, why);
    return;
  }
  if (cfg.stream != nullptr && stream_device(cfg.stream) != current_device())
    fail(std::string("kernel ") + cfg.kernel +
         " launched on a stream of cuda:" + std::to_string(stream_device(cfg.stream)) +
         " while cuda:" + std::to_string(current_device()) +
         " is current (cudaErrorInvalidResourceHandle)");
  count(std::string("kernel ") + cfg.kernel);
  static std::atomic<std::uint64_t> launches{0};
  const std::uint64_t launch_seed = mix(seed(), launches.fetch_add(1) + 0x5eed);
  auto shared_body = std::make_shared<std::function<void()>>(std::move(body));
  const LaunchConfig c = cfg;
  enqueue(cfg.stream, cfg.kernel,
          [c, shared_body, launch_seed] { run_grid(c, *shared_body, launch_seed); });
}

}  // namespace ddnet::sim
