// ddnet_fuzz: our own mutation driver for the fuzz targets (targets.h, docs/fuzzing.md).
//
//   ddnet_fuzz <target> --corpus DIR [--iterations N] [--seconds S] [--seed K] [--timeout T]
//              [--crashes DIR] [--save-new DIR] [--max-len BYTES]
//   ddnet_fuzz <target> --run FILE|DIR...     replay inputs (a crash report names the file)
//   ddnet_fuzz --replay DIR                   replay DIR/<target>/* for every target
//   ddnet_fuzz --list                         the targets
//   ddnet_fuzz make-corpus DIR                write the seed corpus with the project's writers
//
// AFL-style havoc without coverage: each input is a corpus entry with a stack of 2..16 byte
// mutations (bit flips, interesting 8/16/32/64-bit values in both byte orders, small
// arithmetic, random bytes, block deletes, inserts and copies, truncation, splicing with another
// entry, numbers in text replaced by interesting ones), from a seeded RNG: the same seed and
// corpus give the same inputs. The one feedback is the target's outcome (the message it refused
// the input with, digits taken out): an input that reaches an outcome never seen joins the queue.
// A crash (signal, sanitizer report, uncaught exception) or a run past --timeout seconds saves
// the input under --crashes and prints how to reproduce it.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <typeinfo>
#include <vector>

#include "engine/error.h"
#include "tests/fuzz/targets.h"

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

// Sanitizer hooks: present (strong) in sanitized builds, null otherwise.
extern "C" __attribute__((weak)) void __sanitizer_set_death_callback(void (*)(void));

// Defaults of this executable under the sanitizers (ASAN_OPTIONS and UBSAN_OPTIONS still
// override): an allocation of more than 2 GiB fails as it would on a machine without that much
// memory: malloc returns null (the C libraries, HDF5, ITK's NRRD and NIfTI code, check it and
// report an error) and operator new throws std::bad_alloc, which is a finding when it escapes a
// reader (a few-KB input must be refused before it makes a reader allocate that much).
extern "C" const char* __asan_default_options() {
  return "max_allocation_size_mb=2048:allocator_may_return_null=1";
}
extern "C" const char* __ubsan_default_options() {
  return "print_stacktrace=1:halt_on_error=1";
}

namespace {

// ---------------------------------------------------------------------------------------------
// What the crash handlers read: set before each execution, plain data only.

const std::uint8_t* g_input = nullptr;
std::size_t g_input_size = 0;
volatile sig_atomic_t g_in_run = 0, g_saved = 0;
char g_crash_dir[2048] = "crashes";
char g_target[64] = "";
char g_hash[17] = "";
char g_run_file[2048] = "";
unsigned g_timeout = 10;
volatile std::uint64_t g_execs = 0;  // executions of this run, the crashing one included

void put(const char* s) {
  const std::size_t n = std::strlen(s);
  std::size_t done = 0;
  while (done < n) {
    const ssize_t w = write(2, s + done, n - done);
    if (w <= 0) return;
    done += static_cast<std::size_t>(w);
  }
}

void put_u64(std::uint64_t v) {
  char buf[24];
  int i = 23;
  buf[i] = '\0';
  do {
    buf[--i] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  put(buf + i);
}

void append(char* dst, std::size_t cap, const char* src) {
  const std::size_t n = std::strlen(dst);
  std::size_t i = 0;
  for (; src[i] != '\0' && n + i + 1 < cap; ++i) dst[n + i] = src[i];
  dst[n + i] = '\0';
}

// Saves the input being run as <crashes>/<target>-<kind>-<hash> (async-signal-safe calls only).
void save_input(const char* kind) {
  if (g_saved) return;
  g_saved = 1;
  if (!g_in_run) {
    if (g_run_file[0] != '\0') {
      put("\nddnet_fuzz: ");
      put(kind);
      put(" on ");
      put(g_run_file);
      put("\n");
    }
    return;
  }
  char path[2200] = "";
  append(path, sizeof path, g_crash_dir);
  append(path, sizeof path, "/");
  append(path, sizeof path, g_target);
  append(path, sizeof path, "-");
  append(path, sizeof path, kind);
  append(path, sizeof path, "-");
  append(path, sizeof path, g_hash);
  mkdir(g_crash_dir, 0755);
  const int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    std::size_t done = 0;
    while (done < g_input_size) {
      const ssize_t w = write(fd, g_input + done, g_input_size - done);
      if (w <= 0) break;
      done += static_cast<std::size_t>(w);
    }
    close(fd);
  }
  put("\nddnet_fuzz: ");
  put(kind);
  put(" on an input of ");
  put_u64(g_input_size);
  put(" bytes (execution ");
  put_u64(g_execs);
  put(" of this run), saved as ");
  put(fd >= 0 ? path : "(could not be saved)");
  put("\nreproduce: ddnet_fuzz ");
  put(g_target);
  put(" --run ");
  put(path);
  put("\n");
}

void on_sanitizer_death() {
  save_input("crash");
}

void on_fatal_signal(int sig) {
  if (sig == SIGALRM) {
    save_input("timeout");
    put("ddnet_fuzz: the input ran longer than ");
    put_u64(g_timeout);
    put(" s (a hang)\n");
    _exit(70);
  }
  save_input("crash");
  signal(sig, SIG_DFL);
  raise(sig);
}

void on_terminate() {
  // An exception other than ddnet::Error left a target: name it, then crash.
  if (const std::exception_ptr e = std::current_exception()) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      std::fprintf(stderr, "\nddnet_fuzz: uncaught %s: %s\n", typeid(x).name(), x.what());
    } catch (...) {
      std::fprintf(stderr, "\nddnet_fuzz: uncaught exception of a type not from std::exception\n");
    }
  }
  std::abort();
}

void install_handlers() {
  std::set_terminate(on_terminate);
  const bool sanitized = __sanitizer_set_death_callback != nullptr;
  if (sanitized) __sanitizer_set_death_callback(on_sanitizer_death);
  // Under a sanitizer its own SEGV handler reports (and calls the death callback); abort (an
  // uncaught exception, a failed property) and the timeout are ours either way.
  std::vector<int> sigs = {SIGABRT, SIGALRM};
  if (!sanitized) sigs.insert(sigs.end(), {SIGSEGV, SIGBUS, SIGFPE, SIGILL});
  for (const int s : sigs) signal(s, on_fatal_signal);
  if (!sanitized) {
    // Without ASan's allocation limit: at most 8 GiB of address space (a bad_alloc is a finding).
    rlimit lim{8ull << 30, 8ull << 30};
    setrlimit(RLIMIT_AS, &lim);
  }
}

// ---------------------------------------------------------------------------------------------
// The RNG and the mutations.

struct Rng {
  std::uint64_t s;
  std::uint64_t next() {  // splitmix64
    std::uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  std::size_t below(std::size_t n) { return n == 0 ? 0 : static_cast<std::size_t>(next() % n); }
  bool coin() { return (next() & 1) != 0; }
};

const std::uint8_t kInteresting8[] = {0, 1, 0x10, 0x20, 0x40, 0x64, 0x7f, 0x80, 0x81, 0xff, 0xfe};
const std::uint16_t kInteresting16[] = {0,     1,      0x80,   0xff,   0x100,  0x200, 0x3e8,
                                        0x400, 0x1000, 0x7fff, 0x8000, 0xff7f, 0xffff};
const std::uint32_t kInteresting32[] = {0,          1,          0x7fff,     0x8000,
                                        0xffff,     0x10000,    0x5ffff05,  0x7fffffff,
                                        0x80000000, 0xfa0000fa, 0xfffffffe, 0xffffffff};
const std::uint64_t kInteresting64[] = {0,
                                        1,
                                        0xffffffffffffffffull,
                                        0x7fffffffffffffffull,
                                        0x8000000000000000ull,
                                        0x100000000ull,
                                        0x10000000000ull,
                                        0x7ff0000000000000ull,   // +inf
                                        0xfff0000000000000ull,   // -inf
                                        0x7ff8000000000000ull,   // NaN
                                        0x7fefffffffffffffull};  // DBL_MAX
const char* const kInterestingText[] = {"0",
                                        "-1",
                                        "1",
                                        "65535",
                                        "65536",
                                        "2147483647",
                                        "2147483648",
                                        "4294967296",
                                        "-2147483649",
                                        "18446744073709551615",
                                        "1e308",
                                        "-1e309",
                                        "nan",
                                        "inf",
                                        "0.0",
                                        "-0",
                                        "9007199254740993"};

template <class T>
void put_int(Bytes& b, std::size_t at, T v, bool swap) {
  std::uint8_t raw[sizeof(T)];
  std::memcpy(raw, &v, sizeof(T));
  if (swap) std::reverse(raw, raw + sizeof(T));
  std::memcpy(b.data() + at, raw, sizeof(T));
}

std::size_t block_len(Rng& r, std::size_t limit) {
  if (limit == 0) return 0;
  static const std::size_t caps[] = {8, 32, 128, 1024};
  const std::size_t cap = std::min(limit, caps[r.below(4)]);
  return 1 + r.below(cap);
}

void mutate_once(Bytes& b, Rng& r, const std::vector<Bytes>& queue, std::size_t max_len) {
  const std::size_t n = b.size();
  switch (r.below(15)) {
    case 0:  // bit flip
      if (n) b[r.below(n)] ^= static_cast<std::uint8_t>(1u << r.below(8));
      break;
    case 1:  // interesting byte
      if (n) b[r.below(n)] = kInteresting8[r.below(std::size(kInteresting8))];
      break;
    case 2:
      if (n >= 2)
        put_int(b, r.below(n - 1), kInteresting16[r.below(std::size(kInteresting16))], r.coin());
      break;
    case 3:
      if (n >= 4)
        put_int(b, r.below(n - 3), kInteresting32[r.below(std::size(kInteresting32))], r.coin());
      break;
    case 4:
      if (n >= 8)
        put_int(b, r.below(n - 7), kInteresting64[r.below(std::size(kInteresting64))], r.coin());
      break;
    case 5:  // small arithmetic on a byte
      if (n)
        b[r.below(n)] += static_cast<std::uint8_t>(r.coin() ? 1 + r.below(35) : -(1 + r.below(35)));
      break;
    case 6:  // small arithmetic on a 32-bit little- or big-endian value
      if (n >= 4) {
        const std::size_t at = r.below(n - 3);
        const bool swap = r.coin();
        std::uint8_t raw[4];
        std::memcpy(raw, b.data() + at, 4);
        if (swap) std::reverse(raw, raw + 4);
        std::uint32_t v;
        std::memcpy(&v, raw, 4);
        v += r.coin() ? static_cast<std::uint32_t>(1 + r.below(35))
                      : -static_cast<std::uint32_t>(1 + r.below(35));
        put_int(b, at, v, swap);
      }
      break;
    case 7:  // random byte
      if (n) b[r.below(n)] = static_cast<std::uint8_t>(r.next());
      break;
    case 8:  // delete a block
      if (n > 1) {
        const std::size_t len = block_len(r, n - 1);
        const std::size_t at = r.below(n - len + 1);
        b.erase(b.begin() + static_cast<std::ptrdiff_t>(at),
                b.begin() + static_cast<std::ptrdiff_t>(at + len));
      }
      break;
    case 9: {  // insert a block: a copy of another part, or one repeated byte
      if (n >= max_len) break;
      const std::size_t len = block_len(r, std::min<std::size_t>(max_len - n, n ? n : 16));
      Bytes block;
      if (n && r.coin()) {
        const std::size_t from = r.below(n - std::min(len, n) + 1);
        block.assign(b.begin() + static_cast<std::ptrdiff_t>(from),
                     b.begin() + static_cast<std::ptrdiff_t>(from + std::min(len, n)));
      } else {
        block.assign(len, r.coin() ? static_cast<std::uint8_t>(r.next())
                                   : kInteresting8[r.below(std::size(kInteresting8))]);
      }
      b.insert(b.begin() + static_cast<std::ptrdiff_t>(r.below(n + 1)), block.begin(), block.end());
      break;
    }
    case 10:  // overwrite with a block copied from elsewhere in the input
      if (n > 1) {
        const std::size_t len = block_len(r, n - 1);
        const std::size_t from = r.below(n - len + 1), to = r.below(n - len + 1);
        std::memmove(b.data() + to, b.data() + from, len);
      }
      break;
    case 11:  // truncate
      if (n) b.resize(r.below(n));
      break;
    case 12:  // splice: this input's head, another entry's tail
      if (!queue.empty()) {
        const Bytes& other = queue[r.below(queue.size())];
        const std::size_t cut = r.below(n + 1), from = r.below(other.size() + 1);
        b.resize(cut);
        b.insert(b.end(), other.begin() + static_cast<std::ptrdiff_t>(from), other.end());
        if (b.size() > max_len) b.resize(max_len);
      }
      break;
    case 13: {  // a number in text replaced by an interesting one
      if (!n) break;
      std::size_t at = r.below(n), tries = 0;
      while (tries++ < n && !std::isdigit(b[at])) at = (at + 1) % n;
      if (!std::isdigit(b[at])) break;
      std::size_t begin = at, end = at;
      while (begin > 0 &&
             (std::isdigit(b[begin - 1]) || b[begin - 1] == '.' || b[begin - 1] == '-'))
        --begin;
      while (end < n && (std::isdigit(b[end]) || b[end] == '.' || b[end] == 'e')) ++end;
      const char* text = kInterestingText[r.below(std::size(kInterestingText))];
      b.erase(b.begin() + static_cast<std::ptrdiff_t>(begin),
              b.begin() + static_cast<std::ptrdiff_t>(end));
      b.insert(b.begin() + static_cast<std::ptrdiff_t>(begin), text, text + std::strlen(text));
      break;
    }
    default:  // a 16-bit value in either order set to a random one
      if (n >= 2) put_int(b, r.below(n - 1), static_cast<std::uint16_t>(r.next()), r.coin());
      break;
  }
  if (b.size() > max_len) b.resize(max_len);
}

// ---------------------------------------------------------------------------------------------
// Running inputs.

void set_hash(const Bytes& b) {
  std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a
  for (const std::uint8_t c : b) h = (h ^ c) * 0x100000001b3ull;
  static const char hex[] = "0123456789abcdef";
  for (int i = 0; i < 16; ++i) g_hash[i] = hex[(h >> (60 - 4 * i)) & 0xf];
  g_hash[16] = '\0';
}

void execute(const ddnet::fuzz::Target& t, const Bytes& b) {
  set_hash(b);
  g_input = b.data();
  g_input_size = b.size();
  g_in_run = 1;
  g_execs = g_execs + 1;
  alarm(g_timeout);
  t.fn(b.data(), b.size());
  alarm(0);
  g_in_run = 0;
}

Bytes read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<fs::path> files_in(const fs::path& p) {
  std::vector<fs::path> out;
  if (fs::is_directory(p)) {
    for (const auto& e : fs::directory_iterator(p))
      if (e.is_regular_file() && e.path().filename().string()[0] != '.') out.push_back(e.path());
    std::sort(out.begin(), out.end());
  } else {
    out.push_back(p);
  }
  return out;
}

// Replays files through a target; returns how many ran.
std::size_t replay(const ddnet::fuzz::Target& t, const std::vector<fs::path>& paths, bool verbose) {
  std::size_t n = 0;
  for (const fs::path& p : paths)
    for (const fs::path& f : files_in(p)) {
      std::snprintf(g_run_file, sizeof g_run_file, "%s", f.c_str());
      const Bytes b = read_file(f);
      g_saved = 0;
      alarm(g_timeout);
      t.fn(b.data(), b.size());
      alarm(0);
      if (verbose)
        std::printf("%s %s: %s\n", t.name, f.c_str(), ddnet::fuzz::last_outcome().c_str());
      ++n;
    }
  g_run_file[0] = '\0';
  return n;
}

int usage(const char* why) {
  if (why) std::fprintf(stderr, "ddnet_fuzz: %s\n", why);
  std::fprintf(
      stderr,
      "usage: ddnet_fuzz <target> --corpus DIR [--iterations N] [--seconds S] [--seed K]\n"
      "                  [--timeout T] [--crashes DIR] [--save-new DIR] [--max-len BYTES]\n"
      "       ddnet_fuzz <target> --run FILE|DIR...\n"
      "       ddnet_fuzz --replay DIR      (DIR/<target>/* for every target)\n"
      "       ddnet_fuzz --list\n"
      "       ddnet_fuzz make-corpus DIR\n");
  return 2;
}

std::uint64_t parse_u64(const char* flag, const char* text) {
  char* end = nullptr;
  const unsigned long long v = std::strtoull(text, &end, 10);
  if (end == text || *end != '\0') {
    std::fprintf(stderr, "ddnet_fuzz: %s needs a non-negative integer, got '%s'\n", flag, text);
    std::exit(2);
  }
  return v;
}

int fuzz(const ddnet::fuzz::Target& t, int argc, char** argv) {
  std::string corpus, save_new;
  std::uint64_t iterations = UINT64_MAX, seconds = 0, seed = 0, max_len = 0;
  std::vector<fs::path> run;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) std::exit(usage((a + " needs a value").c_str()));
      return argv[++i];
    };
    if (a == "--corpus")
      corpus = value();
    else if (a == "--iterations")
      iterations = parse_u64("--iterations", value());
    else if (a == "--seconds")
      seconds = parse_u64("--seconds", value());
    else if (a == "--seed")
      seed = parse_u64("--seed", value());
    else if (a == "--timeout")
      g_timeout = static_cast<unsigned>(parse_u64("--timeout", value()));
    else if (a == "--max-len")
      max_len = parse_u64("--max-len", value());
    else if (a == "--crashes")
      std::snprintf(g_crash_dir, sizeof g_crash_dir, "%s", value());
    else if (a == "--save-new")
      save_new = value();
    else if (a == "--run") {
      while (i + 1 < argc && argv[i + 1][0] != '-') run.emplace_back(argv[++i]);
      if (run.empty()) return usage("--run needs a file or folder");
    } else
      return usage(("unknown option " + a).c_str());
  }
  if (!run.empty()) {
    const std::size_t n = replay(t, run, true);
    std::printf("ddnet_fuzz: %s: %zu input(s) ran without a crash\n", t.name, n);
    return 0;
  }
  if (corpus.empty()) return usage("give --corpus DIR (or --run FILE)");
  if (seconds == 0 && iterations == UINT64_MAX) seconds = 60;
  std::vector<Bytes> queue;
  std::size_t largest = 0;
  for (const fs::path& f : files_in(corpus)) {
    queue.push_back(read_file(f));
    largest = std::max(largest, queue.back().size());
  }
  if (queue.empty()) {
    std::fprintf(stderr, "ddnet_fuzz: %s holds no seed files\n", corpus.c_str());
    return 2;
  }
  if (max_len == 0) max_len = std::max<std::size_t>(4096, 2 * largest);
  if (!save_new.empty()) fs::create_directories(save_new);

  Rng rng{seed * 0x9e3779b97f4a7c15ull + 1};
  std::set<std::string> outcomes;
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  std::uint64_t execs = 0;
  for (const Bytes& b : queue) {  // the seeds themselves first
    execute(t, b);
    ++execs;
    outcomes.insert(ddnet::fuzz::last_outcome());
  }
  const std::size_t seeds = queue.size();
  double next_report = 10;
  while (execs < iterations && (seconds == 0 || elapsed() < static_cast<double>(seconds))) {
    Bytes child = queue[rng.below(queue.size())];
    const std::size_t stack = std::size_t{1} << (1 + rng.below(4));
    for (std::size_t s = 0; s < stack; ++s) mutate_once(child, rng, queue, max_len);
    execute(t, child);
    ++execs;
    if (outcomes.insert(ddnet::fuzz::last_outcome()).second && queue.size() < 4096) {
      queue.push_back(child);
      if (!save_new.empty()) {
        set_hash(child);
        std::ofstream(fs::path(save_new) / (std::string(t.name) + "-" + g_hash), std::ios::binary)
            .write(reinterpret_cast<const char*>(child.data()),
                   static_cast<std::streamsize>(child.size()));
      }
    }
    if (elapsed() >= next_report) {
      std::printf("ddnet_fuzz: %s: %llu execs, %.0f s, %.1f/s, %zu outcomes, queue %zu\n", t.name,
                  static_cast<unsigned long long>(execs), elapsed(),
                  static_cast<double>(execs) / elapsed(), outcomes.size(), queue.size());
      std::fflush(stdout);
      next_report += 10 * std::max(1.0, std::floor(next_report / 60));
    }
  }
  const double s = elapsed();
  std::printf(
      "ddnet_fuzz: %s: %llu executions in %.1f s (%.1f/s), seed %llu, %zu distinct outcomes, "
      "queue %zu (%zu seeds), no crash\n",
      t.name, static_cast<unsigned long long>(execs), s, static_cast<double>(execs) / s,
      static_cast<unsigned long long>(seed), outcomes.size(), queue.size(), seeds);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  install_handlers();
  if (argc < 2) return usage(nullptr);
  const std::string first = argv[1];
  if (first == "--list") {
    for (const auto& t : ddnet::fuzz::targets()) std::printf("%-12s %s\n", t.name, t.what);
    return 0;
  }
  if (first == "make-corpus") {
    if (argc != 3) return usage("make-corpus needs a folder");
    try {
      ddnet::fuzz::make_corpus(argv[2]);
    } catch (const ddnet::Error& e) {
      std::fprintf(stderr, "ddnet_fuzz: make-corpus: %s\n", e.what());
      return 1;
    }
    return 0;
  }
  if (first == "--replay") {
    if (argc != 3) return usage("--replay needs a folder");
    std::size_t n = 0;
    for (const auto& t : ddnet::fuzz::targets()) {
      const fs::path dir = fs::path(argv[2]) / t.name;
      if (fs::is_directory(dir)) n += replay(t, {dir}, true);
    }
    std::printf("ddnet_fuzz: %zu regression input(s) ran without a crash\n", n);
    return 0;
  }
  const ddnet::fuzz::Target* t = ddnet::fuzz::find_target(first);
  if (t == nullptr) return usage(("unknown target '" + first + "' (see --list)").c_str());
  std::snprintf(g_target, sizeof g_target, "%s", t->name);
  return fuzz(*t, argc, argv);
}
