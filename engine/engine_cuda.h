// Internal: launchers of the engine's own CUDA kernels (gradient accumulation, RNG), with
// CUDA-free signatures. Defined only in CUDA builds; callers guard with DDNET_WITH_CUDA.
#pragma once

#include <cstdint>

namespace ddnet::engine_cuda {

void accumulate(float* y, const float* x, std::int64_t n, void* stream);  // y += x
void accumulate(double* y, const double* x, std::int64_t n, void* stream);
void philox_uniform(float* out, std::int64_t n, std::uint64_t seed, std::uint64_t offset, float lo,
                    float hi, void* stream);
void philox_normal(float* out, std::int64_t n, std::uint64_t seed, std::uint64_t offset, float mean,
                   float stddev, void* stream);

}  // namespace ddnet::engine_cuda
