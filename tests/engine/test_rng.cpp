// Philox: known-answer vectors, the (seed, offset) contract, and the quality of the transforms.
#include <catch2/catch.hpp>

#include <cmath>

#include "engine/philox.h"
#include "engine/rng.h"

using namespace ddnet;

TEST_CASE("rng: Philox4x32-10 known-answer vectors (Random123)", "[rng]") {
  auto b = philox::philox4x32_10(0, 0, 0, 0, 0, 0);
  REQUIRE(b.w[0] == 0x6627e8d5u);
  REQUIRE(b.w[1] == 0xe169c58du);
  REQUIRE(b.w[2] == 0xbc57ac4cu);
  REQUIRE(b.w[3] == 0x9b00dbd8u);
  b = philox::philox4x32_10(~0u, ~0u, ~0u, ~0u, ~0u, ~0u);
  REQUIRE(b.w[0] == 0x408f276du);
  REQUIRE(b.w[1] == 0x41c83b0eu);
  REQUIRE(b.w[2] == 0xa20bc7c6u);
  REQUIRE(b.w[3] == 0x6d5451fdu);
  b = philox::philox4x32_10(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u,
                            0x299f31d0u);
  REQUIRE(b.w[0] == 0xd16cfe09u);
  REQUIRE(b.w[1] == 0x94fdccebu);
  REQUIRE(b.w[2] == 0x5001e420u);
  REQUIRE(b.w[3] == 0x24126ea1u);
}

TEST_CASE("rng: values depend only on seed, offset and index", "[rng]") {
  Tensor a = Tensor::empty({37}), b = Tensor::empty({37}), c = Tensor::empty({29});
  fill_uniform(a, 42, 0);
  fill_uniform(b, 42, 0);
  REQUIRE(a.to_vector<float>() == b.to_vector<float>());
  fill_uniform(c, 42, 2);  // block 2 starts at element 8
  const auto av = a.to_vector<float>(), cv = c.to_vector<float>();
  for (std::size_t i = 0; i < cv.size(); ++i) REQUIRE(cv[i] == av[i + 8]);
  fill_uniform(b, 43, 0);
  REQUIRE(a.to_vector<float>() != b.to_vector<float>());
}

TEST_CASE("rng: uniform range and moments", "[rng]") {
  Tensor t = Tensor::empty({100003});
  fill_uniform(t, 7, 11, -2.f, 3.f);
  double sum = 0, sq = 0;
  for (float v : t.to_vector<float>()) {
    REQUIRE(v >= -2.f);
    REQUIRE(v < 3.f);
    sum += static_cast<double>(v);
    sq += static_cast<double>(v) * static_cast<double>(v);
  }
  const double n = 100003, mean = sum / n, var = sq / n - mean * mean;
  REQUIRE(std::fabs(mean - 0.5) < 0.03);
  REQUIRE(std::fabs(var - 25.0 / 12.0) < 0.05);
}

TEST_CASE("rng: normal moments and the accuracy of its own log and sincos", "[rng]") {
  Tensor t = Tensor::empty({200001});
  fill_normal(t, 3, 0, 1.f, 2.f);
  double sum = 0, sq = 0;
  for (float v : t.to_vector<float>()) {
    REQUIRE(std::isfinite(v));
    sum += static_cast<double>(v);
    sq += static_cast<double>(v) * static_cast<double>(v);
  }
  const double n = 200001, mean = sum / n, var = sq / n - mean * mean;
  REQUIRE(std::fabs(mean - 1.0) < 0.02);
  REQUIRE(std::fabs(var - 4.0) < 0.06);
  for (double x : {1e-7, 0.001, 0.3, 0.5, 0.70710678, 0.9999, 1.0})
    REQUIRE(std::fabs(philox::log_unit(x) - std::log(x)) < 1e-12 * (1 + std::fabs(std::log(x))));
  for (double u = 0; u < 1; u += 0.0137) {
    double s, c;
    philox::sincos_2pi(u, &s, &c);
    REQUIRE(std::fabs(s - std::sin(2 * M_PI * u)) < 1e-10);
    REQUIRE(std::fabs(c - std::cos(2 * M_PI * u)) < 1e-10);
  }
}

TEST_CASE("rng: a generator advances its offset by the blocks it used", "[rng]") {
  Generator g(5);
  Tensor a = g.uniform({10});
  REQUIRE(g.offset() == 3);
  Tensor b = g.normal({4});
  REQUIRE(g.offset() == 4);
  Tensor again = Tensor::empty({10});
  fill_uniform(again, 5, 0);
  REQUIRE(a.to_vector<float>() == again.to_vector<float>());
  const double u = g.next_unit();
  REQUIRE((u >= 0 && u < 1));
  REQUIRE(g.next_below(10) < 10);
  Tensor d = Tensor::empty({2}, Device::cpu(), DType::f64);
  REQUIRE_THROWS_WITH(fill_uniform(d, 1, 0), Catch::Matchers::Contains("contiguous float32"));
}
