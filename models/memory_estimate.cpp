// Memory estimates (memory_estimate.h). The per-voxel figures are fitted to CPU runs'
// peak resident memory; docs/memory.md has the measurements and how to redo them.
#include "models/memory_estimate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>

#include "engine/error.h"
#include "kernels/conv_ops.h"
#include "models/ddnet.h"
#include "models/denoise.h"

namespace ddnet::models {

namespace {

constexpr double kMiB = 1024.0 * 1024.0, kGiB = 1024.0 * kMiB;

// Training on the CPU: the peak resident memory of a step, fixed + per_voxel x V + small x
// min(V, kSmallVoxels) for V input voxels per step (parameters, gradients and moments apart).
// The small-size term is what grows faster while a step is small: the caching allocator's
// reserve over the tensors' peak falls from 1.1-1.7x at 64 K voxels to 1.01-1.33x from 1 M on,
// and the CPU convolutions' workspaces from 1,190 to about 210 B/voxel. Fitted to `ddnet
// train` on the synthetic loader, second step, 2 threads (bench/memory-sizes.sh at abc17b5,
// Intel Xeon, 2026-12-05; docs/memory.md), from 16 x 64^2 to 64 x 512^2 (3D) and 256^2 to
// 2048^2 (2D), so that every measured point is at or under its estimate, by at most 17 % (most
// within 10 %). Stage recompute from level 2 to 4 saves little: lean's figures.
struct ResidentFit {
  double fixed_mib, per_voxel, small_per_voxel;
};
constexpr double kSmallVoxels = 262144;
ResidentFit training_resident_fit(int dims, bool lean, int recompute_from_level) {
  if (dims == 3) {
    if (recompute_from_level == 1) return {105, 780, 590};
    return lean ? ResidentFit{120, 840, 530} : ResidentFit{110, 1610, 530};
  }
  if (recompute_from_level == 1) return {20, 830, 1280};
  return lean ? ResidentFit{30, 1190, 600} : ResidentFit{30, 2350, 1010};
}
// Training on a GPU, where only device memory counts: the tensors' peak per input voxel that the
// step accounting measures (the allocator's requested bytes, the same on every device;
// bench/memory.sh), times the caching allocator's reserve over it (its reserved peak over the
// tensors' peak, the same allocator code on the host; docs/memory.md), plus the convolution
// workspace cap and the depth split's chunk buffers (added in estimate_training_memory).
// Measured 2026-12-05 at abc17b5 (Intel Xeon, CPU, bench/memory-sizes.sh: `ddnet train` on the
// synthetic loader, second step), with the dense layers' bottlenecks recomputed in lean mode and
// the allocator giving back free segments too small for a request: the tensors' peak per voxel
// is the same at every size (16x64^2 up; the largest figure is taken); the reserve is that of
// the sizes from 1 M voxels on, rounded up (3D: lean 1.13-1.14, recompute 1.32-1.33, fast 1.01
// and 1.11; 2D: lean 1.26-1.29, recompute 1.19-1.22, fast 1.07).
double gpu_tensor_peak_per_voxel(int dims, bool lean, int recompute_from_level) {
  if (dims == 3) return recompute_from_level == 1 ? 396.0 : lean ? 493.0 : 1215.0;
  return recompute_from_level == 1 ? 530.0 : lean ? 621.0 : 1964.0;
}
double allocator_reserve(int dims, bool lean, int recompute_from_level) {
  if (dims == 3) return recompute_from_level == 1 ? 1.35 : lean ? 1.15 : 1.12;
  return recompute_from_level == 1 ? 1.25 : lean ? 1.30 : 1.10;
}
// Denoising (eval mode, no tape): the peak resident memory per input voxel of a forward pass,
// fitted to CPU runs (3D: 32 x 128^2, 32 x 192^2, 64 x 192^2 in one tile; 2D: 256^2 and 512^2
// slices). Above inference_bytes_per_voxel (the allocator's peak, which sizes tiles): this
// counts what the allocator has freed but the process still holds, and the CPU convolutions'
// own workspaces. The 3D runtime is larger for denoising (the fit's intercept).
double denoise_bytes_per_voxel(int dims) {
  return dims == 3 ? 1200.0 : 1880.0;
}
double denoise_runtime_bytes(int dims) {
  return (dims == 3 ? 195.0 : 50.0) * kMiB;
}

}  // namespace

std::string bytes_str(double b) {
  char buf[64];
  if (b >= kGiB)
    std::snprintf(buf, sizeof buf, "%.1f GiB", b / kGiB);
  else
    std::snprintf(buf, sizeof buf, "%.0f MiB", std::ceil(b / kMiB));
  return buf;
}

std::string MemoryEstimate::str() const {
  std::string s = "about " + bytes_str(total()) + " (activations " + bytes_str(activations) +
                  " for " + std::to_string(voxels) + " input voxels at once, " + parameters_are +
                  " " + bytes_str(parameters);
  if (volumes > 0) s += ", whole-scan buffers " + bytes_str(volumes);
  if (workspaces > 0) s += ", convolution workspaces " + bytes_str(workspaces);
  if (runtime > 0) s += ", runtime " + bytes_str(runtime);
  return s + ")";
}

std::int64_t ddnet_parameter_count(int dims) {
  static std::mutex mu;
  static std::map<int, std::int64_t> counts;
  std::lock_guard<std::mutex> lock(mu);
  auto it = counts.find(dims);
  if (it != counts.end()) return it->second;
  DDnetOptions o;
  o.dims = dims;
  DDnet net(o);
  std::int64_t n = 0;
  for (const auto& p : net.named_parameters()) n += p.tensor->numel();
  counts[dims] = n;
  return n;
}

MemoryEstimate estimate_training_memory(int dims, std::int64_t voxels_per_step,
                                        const Device& device, bool lean, int recompute_from_level) {
  MemoryEstimate e;
  e.voxels = voxels_per_step;
  // Parameters, gradients, Adam's first and second moments (float32 each).
  e.parameters = 16.0 * static_cast<double>(ddnet_parameter_count(dims));
  e.parameters_are = "parameters, gradients and Adam moments";
  const auto v = static_cast<double>(voxels_per_step);
  if (device.is_cpu()) {
    // The fit's intercept is the runtime: the process before the tensors of a run and the
    // size-independent part of the workspaces (libraries, thread pools, the allocator's arenas).
    const ResidentFit f = training_resident_fit(dims, lean, recompute_from_level);
    e.activations = f.per_voxel * v + f.small_per_voxel * std::min(v, kSmallVoxels);
    e.runtime = f.fixed_mib * kMiB;
  }
  if (device.is_cuda()) {
    e.activations = gpu_tensor_peak_per_voxel(dims, lean, recompute_from_level) *
                    allocator_reserve(dims, lean, recompute_from_level) * v;
    // cuDNN's workspace (at most the cap per call, from the same allocator) and, when the widest
    // full-resolution tensor (32 channels) is over one convolution call's elements, the depth
    // split's two chunk buffers.
    e.workspaces = static_cast<double>(kernels::conv_workspace_limit());
    const kernels::ConvSplitLimits split = kernels::conv_split_limits();
    if (32 * voxels_per_step > split.max_elements)
      e.workspaces += 2.0 * 4.0 * static_cast<double>(split.chunk_elements);
  }
  return e;
}

MemoryEstimate estimate_denoise_memory(int dims, std::int64_t tile_voxels, std::int64_t batch,
                                       std::int64_t volume_voxels, const Device& device) {
  MemoryEstimate e;
  e.voxels = tile_voxels * batch;
  e.parameters = 4.0 * static_cast<double>(ddnet_parameter_count(dims));
  e.activations =
      (device.is_cpu() ? denoise_bytes_per_voxel(dims) : inference_bytes_per_voxel(dims)) *
      static_cast<double>(e.voxels);
  // The scan in (HU) and out, the normalised padded copy, the blending sums (two doubles), and
  // the dataset mode's reference volume: on the host whatever the device.
  if (device.is_cpu()) e.volumes = 32.0 * static_cast<double>(volume_voxels);
  e.runtime = device.is_cpu() ? denoise_runtime_bytes(dims) : 0;
  return e;
}

namespace {

// A "Key:   123 kB" line of /proc/meminfo, in bytes; -1 when absent.
double meminfo(const std::string& key) {
  std::ifstream f("/proc/meminfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.compare(0, key.size() + 1, key + ":") != 0) continue;
    std::istringstream ss(line.substr(key.size() + 1));
    double kb = -1;
    ss >> kb;
    return kb >= 0 ? kb * 1024.0 : -1;
  }
  return -1;
}

// The cgroup v2 limit left to this process (memory.max - memory.current); -1 without a limit.
double cgroup_left() {
  std::ifstream cg("/proc/self/cgroup");
  std::string line, path;
  while (std::getline(cg, line))
    if (line.compare(0, 3, "0::") == 0) path = line.substr(3);
  if (path.empty()) return -1;
  const std::string dir = "/sys/fs/cgroup" + (path == "/" ? std::string() : path);
  std::ifstream max_f(dir + "/memory.max"), cur_f(dir + "/memory.current");
  std::string max_s;
  double current = 0;
  if (!(max_f >> max_s) || max_s == "max" || !(cur_f >> current)) return -1;
  const double max_b = std::strtod(max_s.c_str(), nullptr);
  return max_b > 0 ? std::max(0.0, max_b - current) : -1;
}

double detected_memory(const Device& device, std::string* what) {
  if (device.is_cuda()) {
    if (device.index() >= cuda_device_count()) {
      if (what) *what = "unknown (no " + device.str() + ")";
      return 0;
    }
    std::size_t free_b = 0, total_b = 0;
    cuda_memory_info(device.index(), &free_b, &total_b);
    if (what) *what = "free on " + device.str() + " (cudaMemGetInfo)";
    return static_cast<double>(free_b);
  }
  const double avail = meminfo("MemAvailable");
  const double cg = cgroup_left();
  if (avail < 0 && cg < 0) {
    if (what) *what = "unknown (no MemAvailable in /proc/meminfo)";
    return 0;
  }
  if (cg >= 0 && (avail < 0 || cg < avail)) {
    if (what) *what = "left under this cgroup's memory.max";
    return cg;
  }
  if (what) *what = "available (MemAvailable of /proc/meminfo)";
  return avail;
}

}  // namespace

double available_memory(const Device& device, std::string* what) {
  const double found = detected_memory(device, what);
  // A lower limit set by hand (a batch job's share of a node; tests).
  if (const char* env = std::getenv("DDNET_MEMORY_LIMIT_MIB"); env != nullptr && *env != '\0') {
    char* end = nullptr;
    const double mib = std::strtod(env, &end);
    DDNET_CHECK(end != env && *end == '\0' && mib > 0 && std::isfinite(mib),
                "DDNET_MEMORY_LIMIT_MIB='", env, "': give a positive number of MiB");
    if (found <= 0 || mib * kMiB < found) {
      if (what) *what = "allowed by DDNET_MEMORY_LIMIT_MIB";
      return mib * kMiB;
    }
  }
  return found;
}

void check_memory(const std::string& command, const MemoryEstimate& e, const Device& device,
                  int processes_sharing, const std::string& advice) {
  std::string where;
  const double available = available_memory(device, &where);
  if (available <= 0) return;  // cannot tell: no refusal on a guess
  const int n = std::max(1, processes_sharing);
  const double need = e.total() * n;
  if (need <= available) return;
  DDNET_FAIL(command, ": this needs ", e.str(),
             n > 1 ? " per process, x " + std::to_string(n) +
                         " processes on this machine = " + bytes_str(need)
                   : std::string(),
             ", but only ", bytes_str(available), " is ", where, " on ", device.str(), ". ", advice,
             ". (--ignore-memory-estimate runs it anyway.)");
}

}  // namespace ddnet::models
