// The op test harness: random inputs from the RNG, odd shapes, CUDA-vs-CPU comparison with
// |a - b| <= atol + rtol * |ref|, and a finite-difference gradient check of the CPU backward in
// double precision. Adding an op's tests is a few lines:
//
//   OpCase c{"leaky_relu", {shape}, [](const auto& in) { return F::leaky_relu(in[0]); }};
//   check_gradient(c);          // CPU suite
//   check_cuda_matches_cpu(c);  // GPU suite
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace ddnet::test {

using OpFn = std::function<Tensor(const std::vector<Tensor>&)>;

struct OpCase {
  std::string name;
  std::vector<Shape> inputs;  // one shape per input
  OpFn fn;                    // a differentiable op (layers/functional.h and friends)
  float lo = -1.f, hi = 1.f;  // inputs are uniform in [lo, hi)
  double rtol = 1e-4, atol = 1e-5;
  bool backward = true;
};

// Shapes that catch indexing bugs: size-1 dimensions, sizes that are not multiples of 32,
// every rank from 1 to 5, one above the reduction chunk size.
const std::vector<Shape>& odd_shapes();

std::vector<Tensor> random_inputs(const OpCase& c, Device device, DType dtype, std::uint64_t seed);

// Elementwise |actual - expected| <= atol + rtol * |expected|; fails with the worst element.
void check_close(const Tensor& actual, const Tensor& expected, double rtol, double atol,
                 const std::string& what);

// Forward output and every input gradient (for a random output gradient): CUDA in float32 against
// the CPU path in float64 on the same inputs, a reference no machine, environment variable or
// cost model changes.
void check_cuda_matches_cpu(const OpCase& c, std::uint64_t seed = 1);

// Analytic input gradients of the CPU path against central differences of
// L = sum(fn(x) * w) in float64, at up to `samples` elements per input.
void check_gradient(const OpCase& c, std::uint64_t seed = 1, double eps = 1e-6, double tol = 1e-7,
                    int samples = 40);

Tensor to_f64(const Tensor& t);

// A 1-d float32 CPU tensor of the given values.
Tensor vec(const std::vector<float>& values);
// Same shape, dtype and bytes (either device; both undefined counts as the same).
bool same_bits(const Tensor& a, const Tensor& b);

}  // namespace ddnet::test
