// Self-test of the emulator's lazy stream scheduler (tests/sim/runtime.cpp), through the CUDA
// runtime API the engine uses. Not an engine test: on a real GPU these orders are timing, here
// they must follow from the seed alone.
//
//   streams_selftest          runs itself (`check`) under several seeds, each twice, and checks
//                             that every run passes, that a seed repeats its interleaving and
//                             that different seeds interleave differently
//   streams_selftest check    the checks for this process's DDNET_SIM_SEED; prints "order <...>"
#include <cuda_runtime.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "sim.h"

namespace {

int failures = 0;

void expect(bool ok, const std::string& what) {
  std::printf("%s: %s\n", ok ? "ok" : "FAILED", what.c_str());
  if (!ok) ++failures;
}

void must(cudaError_t e, const char* call) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "%s: %s\n", call, cudaGetErrorString(e));
    std::exit(1);
  }
}

cudaStream_t make_stream() {
  cudaStream_t s = nullptr;
  must(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  return s;
}

unsigned char read_byte(const void* device) {
  unsigned char b = 0;
  must(cudaMemcpy(&b, device, 1, cudaMemcpyDeviceToHost), "cudaMemcpy");
  return b;
}

// Stream B copies what stream A writes. Without the event wait B runs first on every seed: the
// host asked for B only, so A's write has not run when B reads (cudaMalloc's fill is 0xff).
void missing_wait() {
  cudaStream_t a = make_stream(), b = make_stream();
  void *buf = nullptr, *out = nullptr;
  must(cudaMalloc(&buf, 16), "cudaMalloc");
  must(cudaMalloc(&out, 16), "cudaMalloc");
  must(cudaMemsetAsync(buf, 1, 16, a), "cudaMemsetAsync");
  must(cudaMemcpyAsync(out, buf, 16, cudaMemcpyDeviceToDevice, b), "cudaMemcpyAsync");
  must(cudaStreamSynchronize(b), "cudaStreamSynchronize");
  expect(read_byte(out) == 0xff,
         "a copy on stream B that does not wait for stream A's write reads "
         "the unwritten buffer");
  must(cudaDeviceSynchronize(), "cudaDeviceSynchronize");

  // The same with the wait: the write runs first because B's copy needs it.
  cudaEvent_t e = nullptr;
  must(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreateWithFlags");
  must(cudaMemsetAsync(buf, 2, 16, a), "cudaMemsetAsync");
  must(cudaEventRecord(e, a), "cudaEventRecord");
  must(cudaMemsetAsync(buf, 3, 16, a), "cudaMemsetAsync");  // after the record: not waited for
  must(cudaStreamWaitEvent(b, e, 0), "cudaStreamWaitEvent");
  must(cudaMemcpyAsync(out, buf, 16, cudaMemcpyDeviceToDevice, b), "cudaMemcpyAsync");
  must(cudaStreamSynchronize(b), "cudaStreamSynchronize");
  expect(read_byte(out) == 2,
         "with the event wait the copy reads the write recorded before the "
         "event, and not the one after it");
  must(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  must(cudaEventDestroy(e), "cudaEventDestroy");
  must(cudaFree(buf), "cudaFree");
  must(cudaFree(out), "cudaFree");
  must(cudaStreamDestroy(a), "cudaStreamDestroy");
  must(cudaStreamDestroy(b), "cudaStreamDestroy");
}

// The host changes a pinned buffer after queueing a copy from it, before synchronizing: the
// copy has not run yet and takes the new contents (a real GPU may or may not have copied).
void host_write_after_enqueue() {
  cudaStream_t s = make_stream();
  unsigned char* pinned = nullptr;
  void* dev = nullptr;
  must(cudaHostAlloc(reinterpret_cast<void**>(&pinned), 16, cudaHostAllocDefault), "cudaHostAlloc");
  must(cudaMalloc(&dev, 16), "cudaMalloc");
  std::memset(pinned, 7, 16);
  must(cudaMemcpyAsync(dev, pinned, 16, cudaMemcpyHostToDevice, s), "cudaMemcpyAsync");
  std::memset(pinned, 8, 16);  // the bug: the copy may still read it
  must(cudaStreamSynchronize(s), "cudaStreamSynchronize");
  expect(read_byte(dev) == 8,
         "a copy from pinned memory runs when the host synchronizes, so a "
         "host write before that is what it copies");
  must(cudaFree(dev), "cudaFree");
  must(cudaFreeHost(pinned), "cudaFreeHost");
  must(cudaStreamDestroy(s), "cudaStreamDestroy");
}

// Polling makes progress: cudaStreamQuery and cudaEventQuery ask for the work they look at.
void queries_progress() {
  cudaStream_t s = make_stream();
  void* dev = nullptr;
  must(cudaMalloc(&dev, 1 << 20), "cudaMalloc");
  cudaEvent_t e = nullptr;
  must(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreateWithFlags");
  for (int i = 0; i < 8; ++i) must(cudaMemsetAsync(dev, i, 1 << 20, s), "cudaMemsetAsync");
  must(cudaEventRecord(e, s), "cudaEventRecord");
  int polls = 0;
  while (cudaEventQuery(e) == cudaErrorNotReady && polls < 100000) {
    ++polls;
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  expect(cudaEventQuery(e) == cudaSuccess, "an event that is only polled completes");
  for (int i = 0; i < 8; ++i) must(cudaMemsetAsync(dev, i, 1 << 20, s), "cudaMemsetAsync");
  polls = 0;
  while (cudaStreamQuery(s) == cudaErrorNotReady && polls < 100000) {
    ++polls;
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  expect(cudaStreamQuery(s) == cudaSuccess, "a stream that is only polled completes");
  must(cudaEventDestroy(e), "cudaEventDestroy");
  must(cudaFree(dev), "cudaFree");
  must(cudaStreamDestroy(s), "cudaStreamDestroy");
}

// Work nothing asks for does not run (until the idle backstop, far later than this).
void nothing_runs_unasked() {
  cudaStream_t s = make_stream();
  std::atomic<bool> ran{false};
  ddnet::sim::enqueue(s, "selftest: unasked", [&ran] { ran.store(true); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  expect(!ran.load(), "queued work that nothing asks for has not run 20 ms later");
  must(cudaStreamSynchronize(s), "cudaStreamSynchronize");
  expect(ran.load(), "it runs when the host synchronizes the stream");

  // A collective is wanted as soon as it is queued (peers outside this host wait for it).
  std::atomic<bool> collective{false};
  ddnet::sim::enqueue(
      s, "selftest: collective", [&collective] { collective.store(true); },
      ddnet::sim::OpKind::collective);
  for (int i = 0; i < 2000 && !collective.load(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  expect(collective.load(), "a collective runs without the host asking");
  must(cudaStreamSynchronize(s), "cudaStreamSynchronize");
  must(cudaStreamDestroy(s), "cudaStreamDestroy");
}

// Three streams of four ops each, synchronized at once: the interleaving the seed picks.
std::string interleaving() {
  std::array<cudaStream_t, 3> streams{make_stream(), make_stream(), make_stream()};
  std::mutex m;
  std::string order;
  for (int op = 0; op < 4; ++op)
    for (int k = 0; k < 3; ++k)
      ddnet::sim::enqueue(streams[k], "selftest: order", [&m, &order, k] {
        std::lock_guard<std::mutex> lock(m);
        order += static_cast<char>('a' + k);
      });
  must(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  for (cudaStream_t s : streams) must(cudaStreamDestroy(s), "cudaStreamDestroy");
  // Stream order holds whatever the interleaving: each stream's ops ran one after another.
  expect(order.size() == 12, "every queued op ran once at the device synchronize");
  return order;
}

int check() {
  missing_wait();
  host_write_after_enqueue();
  queries_progress();
  nothing_runs_unasked();
  const std::string order = interleaving();
  std::printf("order %s\n", order.c_str());
  return failures == 0 ? 0 : 1;
}

// Runs `self check` with DDNET_SIM_SEED=seed; returns its "order" line, "" when it failed.
std::string run_child(const char* self, int seed) {
  const std::string cmd =
      // The idle backstop off (60 s): a stalled host must not change what runs when.
      "DDNET_SIM_STREAMS=lazy DDNET_SIM_IDLE_FLUSH_MS=60000 DDNET_SIM_SEED=" +
      std::to_string(seed) + " '" + self + "' check";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return "";
  std::string out, order;
  char line[512];
  while (std::fgets(line, sizeof line, p)) {
    out += line;
    if (std::strncmp(line, "order ", 6) == 0) order = std::string(line + 6);
  }
  const int status = pclose(p);
  if (status != 0) {
    std::printf("seed %d: the checks failed:\n%s", seed, out.c_str());
    return "";
  }
  return order;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "check") == 0) return check();
  std::map<std::string, int> orders;
  bool all = true;
  for (int seed = 1; seed <= 6; ++seed) {
    const std::string first = run_child(argv[0], seed), second = run_child(argv[0], seed);
    if (first.empty() || second.empty()) {
      all = false;
      continue;
    }
    std::printf("seed %d: %s", seed, first.c_str());
    expect(first == second, "seed " + std::to_string(seed) + " interleaves the same way twice");
    ++orders[first];
  }
  expect(all, "every seed passes the checks (a missing wait fails, a declared one holds)");
  expect(orders.size() >= 3,
         "the seeds interleave the three streams in at least 3 different "
         "ways (" +
             std::to_string(orders.size()) + " of 6)");
  return failures == 0 && all ? 0 : 1;
}
