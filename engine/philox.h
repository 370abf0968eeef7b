// Philox4x32-10 (Salmon et al., SC'11) and the transforms to uniform and normal floats, shared
// by the CPU and CUDA paths so that both give bit-identical values for one (seed, offset).
//
// Element i of a tensor filled at `offset` takes word i % 4 of the Philox block at counter
// offset + i / 4 (key = seed). Uniform: the top 24 bits, scaled to [0, 1), then fmaf to
// [lo, hi). Normal: Box-Muller on the word pairs (0, 1) and (2, 3), computed in double with
// only +, -, *, /, sqrt (correctly rounded on both sides) and rounded to float once. The files
// that include this header are compiled without floating-point contraction (-fmad=false,
// -ffp-contract=off), so no compiler fuses differently on the two sides.
#pragma once

#include <math.h>  // sqrt, fmaf: global names in host and device code
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define DDNET_HD __host__ __device__ __forceinline__
#else
#define DDNET_HD inline
#endif

namespace ddnet::philox {

struct Block {
  std::uint32_t w[4];
};

DDNET_HD std::uint32_t mulhilo(std::uint32_t a, std::uint32_t b, std::uint32_t* hi) {
  const std::uint64_t p = static_cast<std::uint64_t>(a) * b;
  *hi = static_cast<std::uint32_t>(p >> 32);
  return static_cast<std::uint32_t>(p);
}

// The 4 words for counter (c0, c1, c2, c3) and key (k0, k1).
DDNET_HD Block philox4x32_10(std::uint32_t c0, std::uint32_t c1, std::uint32_t c2, std::uint32_t c3,
                             std::uint32_t k0, std::uint32_t k1) {
  for (int r = 0; r < 10; ++r) {
    if (r > 0) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    std::uint32_t hi0, hi1;
    const std::uint32_t lo0 = mulhilo(0xD2511F53u, c0, &hi0);
    const std::uint32_t lo1 = mulhilo(0xCD9E8D57u, c2, &hi1);
    const std::uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
  }
  return Block{{c0, c1, c2, c3}};
}

DDNET_HD Block block_at(std::uint64_t seed, std::uint64_t counter) {
  return philox4x32_10(static_cast<std::uint32_t>(counter),
                       static_cast<std::uint32_t>(counter >> 32), 0u, 0u,
                       static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32));
}

// [0, 1) with 24 random bits: exact in float.
DDNET_HD float to_unit(std::uint32_t w) {
  return static_cast<float>(w >> 8) * (1.0f / 16777216.0f);
}

DDNET_HD float uniform(std::uint32_t w, float lo, float hi) {
  return fmaf(to_unit(w), hi - lo, lo);
}

// ln(x) for x in (0, 1], from x = m * 2^e with m in [sqrt(1/2), sqrt(2)) and the atanh series.
DDNET_HD double log_unit(double x) {
  std::uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  int e = static_cast<int>((bits >> 52) & 0x7FF) - 1023;
  bits = (bits & 0x000FFFFFFFFFFFFFull) | (1023ull << 52);
  double m;
  std::memcpy(&m, &bits, sizeof m);  // [1, 2)
  if (m > 1.4142135623730951) {
    m = m * 0.5;
    e = e + 1;
  }
  const double s = (m - 1.0) / (m + 1.0);
  const double s2 = s * s;
  double series = 1.0 / 17.0;
  series = series * s2 + 1.0 / 15.0;
  series = series * s2 + 1.0 / 13.0;
  series = series * s2 + 1.0 / 11.0;
  series = series * s2 + 1.0 / 9.0;
  series = series * s2 + 1.0 / 7.0;
  series = series * s2 + 1.0 / 5.0;
  series = series * s2 + 1.0 / 3.0;
  series = series * s2 + 1.0;
  return static_cast<double>(e) * 0.6931471805599453 + 2.0 * s * series;
}

// sin and cos of 2*pi*u for u in [0, 1): quadrant from 4u, Taylor series on [0, pi/2).
DDNET_HD void sincos_2pi(double u, double* s, double* c) {
  const double x = u * 4.0;
  const int q = static_cast<int>(x);
  const double f = (x - static_cast<double>(q)) * 1.5707963267948966;
  const double f2 = f * f;
  double sn = 1.0 / 355687428096000.0;  // 1/17!
  sn = -1.0 / 1307674368000.0 + f2 * sn;
  sn = 1.0 / 6227020800.0 + f2 * sn;
  sn = -1.0 / 39916800.0 + f2 * sn;
  sn = 1.0 / 362880.0 + f2 * sn;
  sn = -1.0 / 5040.0 + f2 * sn;
  sn = 1.0 / 120.0 + f2 * sn;
  sn = -1.0 / 6.0 + f2 * sn;
  sn = 1.0 + f2 * sn;
  sn = f * sn;
  double cs = -1.0 / 6402373705728000.0;  // -1/18!
  cs = 1.0 / 20922789888000.0 + f2 * cs;
  cs = -1.0 / 87178291200.0 + f2 * cs;
  cs = 1.0 / 479001600.0 + f2 * cs;
  cs = -1.0 / 3628800.0 + f2 * cs;
  cs = 1.0 / 40320.0 + f2 * cs;
  cs = -1.0 / 720.0 + f2 * cs;
  cs = 1.0 / 24.0 + f2 * cs;
  cs = -0.5 + f2 * cs;
  cs = 1.0 + f2 * cs;
  switch (q & 3) {
    case 0:
      *s = sn;
      *c = cs;
      break;
    case 1:
      *s = cs;
      *c = -sn;
      break;
    case 2:
      *s = -sn;
      *c = -cs;
      break;
    default:
      *s = -cs;
      *c = sn;
      break;
  }
}

// Two standard normals from two words (Box-Muller); u1 in (0, 1] so the log is finite.
DDNET_HD void normal_pair(std::uint32_t a, std::uint32_t b, float mean, float stddev, float* z0,
                          float* z1) {
  const double u1 = (static_cast<double>(a >> 8) + 1.0) * (1.0 / 16777216.0);
  const double u2 = static_cast<double>(b >> 8) * (1.0 / 16777216.0);
  const double r = sqrt(-2.0 * log_unit(u1));
  double s, c;
  sincos_2pi(u2, &s, &c);
  *z0 = static_cast<float>(static_cast<double>(mean) + static_cast<double>(stddev) * (r * c));
  *z1 = static_cast<float>(static_cast<double>(mean) + static_cast<double>(stddev) * (r * s));
}

// The 4 values of block `counter` (fewer at the tail: `count` <= 4).
DDNET_HD void uniform_block(std::uint64_t seed, std::uint64_t counter, float lo, float hi,
                            float* out, int count) {
  const Block b = block_at(seed, counter);
  for (int j = 0; j < count; ++j) out[j] = uniform(b.w[j], lo, hi);
}

DDNET_HD void normal_block(std::uint64_t seed, std::uint64_t counter, float mean, float stddev,
                           float* out, int count) {
  const Block b = block_at(seed, counter);
  float z[4];
  normal_pair(b.w[0], b.w[1], mean, stddev, &z[0], &z[1]);
  normal_pair(b.w[2], b.w[3], mean, stddev, &z[2], &z[3]);
  for (int j = 0; j < count; ++j) out[j] = z[j];
}

}  // namespace ddnet::philox
