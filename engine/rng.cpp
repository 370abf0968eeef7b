// Philox fills on the CPU (parallel over blocks) and dispatch to the CUDA kernels.
// Compiled with -ffp-contract=off (see CMakeLists.txt): see philox.h.
#include "engine/rng.h"

#include "engine/engine_cuda.h"
#include "engine/parallel.h"
#include "engine/philox.h"
#include "engine/stream.h"
#include "generated/ddnet_config.h"

namespace ddnet {

namespace {

template <class BlockFn>
void fill_cpu(float* out, std::int64_t n, BlockFn&& block) {
  const std::int64_t blocks = static_cast<std::int64_t>(philox_blocks(n));
  parallel_for(blocks, 4096, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t k = b; k < e; ++k) {
      const std::int64_t first = 4 * k;
      block(static_cast<std::uint64_t>(k), out + first,
            static_cast<int>(std::min<std::int64_t>(4, n - first)));
    }
  });
}

void check_fill(const Tensor& t, const char* what) {
  DDNET_CHECK(t.defined() && t.dtype() == DType::f32 && t.is_contiguous(), what,
              ": needs a contiguous float32 tensor, got ", t.str());
}

}  // namespace

void fill_uniform(Tensor& t, std::uint64_t seed, std::uint64_t offset, float lo, float hi) {
  check_fill(t, "fill_uniform");
  DDNET_CHECK(lo <= hi, "fill_uniform: lo ", lo, " > hi ", hi);
  float* out = t.data<float>();
  if (t.device().is_cpu()) {
    fill_cpu(out, t.numel(), [&](std::uint64_t k, float* o, int count) {
      philox::uniform_block(seed, offset + k, lo, hi, o, count);
    });
    return;
  }
#if DDNET_WITH_CUDA
  engine_cuda::philox_uniform(out, t.numel(), seed, offset, lo, hi,
                              current_stream(t.device().index()).handle());
#endif
}

void fill_normal(Tensor& t, std::uint64_t seed, std::uint64_t offset, float mean, float stddev) {
  check_fill(t, "fill_normal");
  float* out = t.data<float>();
  if (t.device().is_cpu()) {
    fill_cpu(out, t.numel(), [&](std::uint64_t k, float* o, int count) {
      philox::normal_block(seed, offset + k, mean, stddev, o, count);
    });
    return;
  }
#if DDNET_WITH_CUDA
  engine_cuda::philox_normal(out, t.numel(), seed, offset, mean, stddev,
                             current_stream(t.device().index()).handle());
#endif
}

Tensor Generator::uniform(const Shape& shape, Device device, float lo, float hi) {
  Tensor t = Tensor::empty(shape, device);
  fill_uniform(t, seed_, offset_, lo, hi);
  offset_ += philox_blocks(t.numel());
  return t;
}

Tensor Generator::normal(const Shape& shape, Device device, float mean, float stddev) {
  Tensor t = Tensor::empty(shape, device);
  fill_normal(t, seed_, offset_, mean, stddev);
  offset_ += philox_blocks(t.numel());
  return t;
}

double Generator::next_unit() {
  const philox::Block b = philox::block_at(seed_, offset_++);
  // 53 random bits from two words.
  const std::uint64_t bits = (static_cast<std::uint64_t>(b.w[0]) << 21) ^ (b.w[1] >> 11);
  return static_cast<double>(bits & ((1ull << 53) - 1)) * (1.0 / 9007199254740992.0);
}

std::uint64_t Generator::next_below(std::uint64_t n) {
  DDNET_CHECK(n > 0, "Generator::next_below(0)");
  return static_cast<std::uint64_t>(next_unit() * static_cast<double>(n)) % n;
}

}  // namespace ddnet
