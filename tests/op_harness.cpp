// Implementation of the op test harness.
#include "tests/op_harness.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <sstream>

#include "engine/autograd.h"
#include "engine/rng.h"
#include "kernels/copy_ops.h"

namespace ddnet::test {

const std::vector<Shape>& odd_shapes() {
  static const std::vector<Shape> shapes = {Shape{1},
                                            Shape{7},
                                            Shape{33},
                                            Shape{3, 65},
                                            Shape{1, 1, 1, 1, 1},
                                            Shape{2, 3, 1, 5, 7},
                                            Shape{1, 16, 3, 5, 33},
                                            Shape{1, 1, 17, 1, 31},
                                            Shape{16385}};
  return shapes;
}

Tensor vec(const std::vector<float>& values) {
  return Tensor::from_vector(values, {static_cast<std::int64_t>(values.size())});
}

Tensor to_f64(const Tensor& t) {
  if (t.dtype() == DType::f64) return t;
  const auto v = t.to_vector<float>();
  return Tensor::from_vector(std::vector<double>(v.begin(), v.end()), t.shape(), t.device());
}

namespace {
std::vector<double> host_values(const Tensor& t) {
  return to_f64(t.to(Device::cpu())).to_vector<double>();
}
}  // namespace

std::vector<Tensor> random_inputs(const OpCase& c, Device device, DType dtype, std::uint64_t seed) {
  Generator gen(seed);
  std::vector<Tensor> out;
  for (const Shape& s : c.inputs) {
    Tensor t = gen.uniform(s, Device::cpu(), c.lo, c.hi);
    if (dtype == DType::f64) t = to_f64(t);
    out.push_back(t.to(device));
  }
  return out;
}

void check_close(const Tensor& actual, const Tensor& expected, double rtol, double atol,
                 const std::string& what) {
  INFO(what << ": " << actual.str() << " vs " << expected.str());
  REQUIRE(actual.shape() == expected.shape());
  const auto a = host_values(actual), e = host_values(expected);
  std::size_t worst = 0;
  double worst_excess = -1;
  std::size_t bad = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double diff = std::fabs(a[i] - e[i]);
    const double excess = diff - (atol + rtol * std::fabs(e[i]));
    const bool nan_mismatch = std::isnan(a[i]) != std::isnan(e[i]);
    if (excess > 0 || nan_mismatch) ++bad;
    if (excess > worst_excess || nan_mismatch) {
      worst_excess = nan_mismatch ? HUGE_VAL : excess;
      worst = i;
    }
  }
  INFO(bad << " of " << a.size() << " elements out of tolerance (rtol " << rtol << ", atol " << atol
           << "); worst at " << worst << ": " << (a.empty() ? 0 : a[worst]) << " vs "
           << (e.empty() ? 0 : e[worst]));
  CHECK(bad == 0);
}

void check_cuda_matches_cpu(const OpCase& c, std::uint64_t seed) {
  INFO("op " << c.name);
  // The reference is the CPU path in float64 on the same float32 inputs: it does not change with
  // the machine, the environment or the CPU cost model (which pick among float32 fast paths).
  const Device gpu = Device::cuda(0);
  auto cpu_in = random_inputs(c, Device::cpu(), DType::f32, seed);
  std::vector<Tensor> gpu_in, ref_in;
  for (auto& t : cpu_in) {
    gpu_in.push_back(t.to(gpu));
    ref_in.push_back(to_f64(t));
  }
  if (c.backward)
    for (std::size_t i = 0; i < cpu_in.size(); ++i) {
      ref_in[i].set_requires_grad();
      gpu_in[i].set_requires_grad();
    }
  // One graph at a time: the tape is released by each backward().
  Tensor y_ref = c.fn(ref_in);
  REQUIRE(y_ref.dtype() == DType::f64);
  Generator gen(seed + 1000);
  const Tensor w = gen.uniform(y_ref.shape(), Device::cpu(), -1.f, 1.f);
  if (c.backward) y_ref.backward(to_f64(w));
  Tensor y_gpu = c.fn(gpu_in);
  check_close(y_gpu, y_ref, c.rtol, c.atol, c.name + " forward");
  if (!c.backward) return;
  y_gpu.backward(w.to(gpu));
  for (std::size_t i = 0; i < cpu_in.size(); ++i) {
    REQUIRE(ref_in[i].grad().defined());
    REQUIRE(gpu_in[i].grad().defined());
    check_close(gpu_in[i].grad(), ref_in[i].grad(), c.rtol, c.atol,
                c.name + " gradient of input " + std::to_string(i));
  }
}

void check_gradient(const OpCase& c, std::uint64_t seed, double eps, double tol, int samples) {
  INFO("op " << c.name);
  auto in = random_inputs(c, Device::cpu(), DType::f64, seed);
  for (auto& t : in) t.set_requires_grad();
  Tensor y = c.fn(in);
  REQUIRE(y.dtype() == DType::f64);
  Generator gen(seed + 2000);
  const Tensor w = to_f64(gen.uniform(y.shape(), Device::cpu(), -1.f, 1.f));
  const auto wv = w.to_vector<double>();
  y.backward(w);

  double magnitude = 0;  // sum |y_i w_i|: bounds the round-off of one loss evaluation
  auto loss = [&](const std::vector<Tensor>& x) {
    NoGradGuard no_grad;
    const auto yv = c.fn(x).to_vector<double>();
    double l = 0;
    magnitude = 0;
    for (std::size_t i = 0; i < yv.size(); ++i) {
      l += yv[i] * wv[i];
      magnitude += std::fabs(yv[i] * wv[i]);
    }
    return l;
  };
  for (std::size_t k = 0; k < in.size(); ++k) {
    REQUIRE(in[k].grad().defined());
    const auto analytic = in[k].grad().to_vector<double>();
    const std::int64_t n = in[k].numel();
    std::vector<Tensor> probe;
    for (auto& t : in) probe.push_back(t.clone());
    double* x = probe[k].data<double>();
    const std::int64_t step = std::max<std::int64_t>(1, n / samples);
    for (std::int64_t j = 0; j < n; j += step) {
      const double x0 = x[j];
      x[j] = x0 + eps;
      const double lp = loss(probe);
      x[j] = x0 - eps;
      const double lm = loss(probe);
      x[j] = x0;
      const double numeric = (lp - lm) / (2 * eps);
      const double a = analytic[static_cast<std::size_t>(j)];
      // Central differences err by O(eps^2) plus the loss's round-off divided by eps.
      const double roundoff = 16 * 2.2e-16 * magnitude / eps;
      INFO("input " << k << " element " << j << ": analytic " << a << ", numeric " << numeric
                    << ", allowed " << tol * (1 + std::fabs(numeric)) + roundoff);
      CHECK(std::fabs(a - numeric) <= tol * (1 + std::fabs(numeric)) + roundoff);
    }
  }
}

bool same_bits(const Tensor& a, const Tensor& b) {
  if (!a.defined() || !b.defined()) return a.defined() == b.defined();
  const Tensor ca = kernels::contiguous(a.to(Device::cpu())),
               cb = kernels::contiguous(b.to(Device::cpu()));
  return ca.shape() == cb.shape() && ca.dtype() == cb.dtype() &&
         std::memcmp(ca.raw_data(), cb.raw_data(), ca.nbytes()) == 0;
}

}  // namespace ddnet::test
