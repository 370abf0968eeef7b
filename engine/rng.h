// Counter-based random numbers (Philox4x32-10): the values depend only on (seed, offset, index),
// so the CPU and CUDA paths give bit-identical tensors, any slice of a stream can be generated
// independently, and a generator's whole state is two integers (checkpointed with a run).
#pragma once

#include <cstdint>

#include "engine/tensor.h"

namespace ddnet {

// Fill a contiguous float32 tensor. `offset` counts Philox blocks of 4 values.
void fill_uniform(Tensor& t, std::uint64_t seed, std::uint64_t offset, float lo = 0.f,
                  float hi = 1.f);
void fill_normal(Tensor& t, std::uint64_t seed, std::uint64_t offset, float mean = 0.f,
                 float stddev = 1.f);

// Blocks of 4 values that a tensor of n elements consumes.
constexpr std::uint64_t philox_blocks(std::int64_t n) {
  return (static_cast<std::uint64_t>(n) + 3) / 4;
}

// A seed and a running offset: each draw uses fresh blocks.
class Generator {
 public:
  explicit Generator(std::uint64_t seed = 0, std::uint64_t offset = 0)
      : seed_(seed), offset_(offset) {}
  Tensor uniform(const Shape& shape, Device device = Device::cpu(), float lo = 0.f, float hi = 1.f);
  Tensor normal(const Shape& shape, Device device = Device::cpu(), float mean = 0.f,
                float stddev = 1.f);
  // For host-side choices (loader shuffles, crop positions): one value in [0, 1), and an
  // integer in [0, n).
  double next_unit();
  std::uint64_t next_below(std::uint64_t n);

  std::uint64_t seed() const { return seed_; }
  std::uint64_t offset() const { return offset_; }
  void set_state(std::uint64_t seed, std::uint64_t offset) {
    seed_ = seed;
    offset_ = offset;
  }

 private:
  std::uint64_t seed_;
  std::uint64_t offset_;
};

}  // namespace ddnet
