// How much memory a training run or a denoising pass will need, estimated before it starts, so
// that a configuration that cannot fit is refused at once with the estimate (instead of being
// killed by the kernel's OOM killer minutes later, or failing in cudaMalloc).
//
// The estimate is the sum of
//   parameters, gradients, Adam's two moments  4 x 4 B per parameter (training; 1 x for denoise),
//   activations   bytes per input voxel x voxels per step (batch x slices x rows x cols): what
//                 the autograd tape keeps for backward, the activation gradients, the
//                 convolutions' workspaces and the prefetched batches. Fitted to the peak
//                 resident memory of CPU runs (docs/memory.md gives the measurements), the same
//                 figure for CUDA (cuDNN's workspaces are bounded separately; unmeasured there),
//   volumes       denoising: the scan in and out, the padded copy and the blending sums,
//   runtime       the process before any tensor: libraries, thread pools (CPU only).
// On a GPU only the device memory is estimated: the parameters and activations, with the
// allocator-peak figure of models/denoise.h for denoising; for training the tensors' peak per
// voxel of the step accounting (device-independent) times the caching allocator's measured
// reserve, plus cuDNN's workspace cap and the depth split's buffers (docs/memory.md; measured on
// the CPU's host allocator, which is the same code: no GPU has run it).
// The available memory is MemAvailable of /proc/meminfo (bounded by the cgroup's memory.max when
// one is set) on the CPU, cudaMemGetInfo's free memory on a GPU; DDNET_MEMORY_LIMIT_MIB sets a
// lower limit by hand (a batch job's share of a node).
#pragma once

#include <cstdint>
#include <string>

#include "engine/device.h"

namespace ddnet::models {

struct MemoryEstimate {
  double parameters = 0;                      // parameters, gradients and optimiser moments
  double activations = 0;                     // per step / per forward pass
  double volumes = 0;                         // denoising: whole-scan buffers
  double runtime = 0;                         // CPU: the process's fixed part
  double workspaces = 0;                      // GPU training: cuDNN's, the depth split's
  std::int64_t voxels = 0;                    // input voxels per step / forward pass
  const char* parameters_are = "parameters";  // what `parameters` holds, for str()
  double total() const { return parameters + activations + volumes + runtime + workspaces; }
  // "about 3.1 GiB (activations 2.9 GiB for 1048576 input voxels at once, parameters,
  // gradients and Adam moments 40 MiB, runtime 115 MiB)"
  std::string str() const;
};

// "3.1 GiB" (from 1 GiB on) or "284 MiB" (rounded up), as the estimates print bytes.
std::string bytes_str(double bytes);

// The number of parameters of 2D-DDnet (dims 2) or 3D-DDnet (dims 3).
std::int64_t ddnet_parameter_count(int dims);

// Training one rank: `voxels_per_step` = batch x slices x rows x cols (2D: batch x rows x cols);
// lean: the memory mode (DDnetOptions::lean, `--memory lean|fast`); recompute_from_level:
// stage recompute (DDnetOptions::recompute_from_level, 0 off; fitted for 1, levels 2-4 take
// lean's figure: what they save is under 6 % of it).
MemoryEstimate estimate_training_memory(int dims, std::int64_t voxels_per_step,
                                        const Device& device, bool lean = true,
                                        int recompute_from_level = 0);

// Denoising: `tile_voxels` x `batch` per forward pass over a scan of `volume_voxels` (padded).
MemoryEstimate estimate_denoise_memory(int dims, std::int64_t tile_voxels, std::int64_t batch,
                                       std::int64_t volume_voxels, const Device& device);

// Bytes this process can still use on `device`; `what` says where the figure comes from
// ("MemAvailable", "the cgroup's memory.max", "cudaMemGetInfo"). 0 (and `what` saying why) when
// it cannot be told.
double available_memory(const Device& device, std::string* what);

// Throws, naming `command`, the estimate, the available memory and `advice` (what to change),
// when the estimate (times `processes_sharing`: ranks on one machine share its memory) exceeds
// what is available. The commands skip it with --ignore-memory-estimate.
void check_memory(const std::string& command, const MemoryEstimate& e, const Device& device,
                  int processes_sharing, const std::string& advice);

}  // namespace ddnet::models
