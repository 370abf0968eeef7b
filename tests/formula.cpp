// The integer formulas of tests/formula.h.
#include "tests/formula.h"

#include <cmath>
#include <vector>

namespace ddnet::test {

std::uint32_t hash32(std::uint64_t i) {
  std::uint32_t h = static_cast<std::uint32_t>(i * 2654435761u);
  h ^= h >> 16;
  h *= 2246822519u;
  h ^= h >> 13;
  return h;
}

void formula_volume(std::int64_t d, std::int64_t h, std::int64_t w, Tensor* pred, Tensor* target) {
  std::vector<float> p(static_cast<std::size_t>(d * h * w)), t(p.size());
  for (std::int64_t z = 0; z < d; ++z)
    for (std::int64_t y = 0; y < h; ++y)
      for (std::int64_t x = 0; x < w; ++x) {
        const std::int64_t i = (z * h + y) * w + x;
        const double tv = static_cast<double>((z * 5 + y * 3 + x * 7) % 97) / 128.0 +
                          static_cast<double>(((y / 8) + (x / 8) + (z / 4)) % 2) * 0.125;
        const double noise =
            (static_cast<double>(hash32(static_cast<std::uint64_t>(i)) % 257) - 128.0) / 2048.0;
        t[static_cast<std::size_t>(i)] = static_cast<float>(tv);
        p[static_cast<std::size_t>(i)] = static_cast<float>(tv + noise);
      }
  *pred = Tensor::from_vector(p, {1, 1, d, h, w});
  *target = Tensor::from_vector(t, {1, 1, d, h, w});
}

void formula_weights(nn::Module& m) {
  std::uint64_t k = 0;
  for (const auto& n : m.named_parameters()) {
    Tensor& p = *n.tensor;
    std::vector<float> v(static_cast<std::size_t>(p.numel()));
    const bool bn = n.name.find("batch") != std::string::npos;
    const bool weight = n.name.size() >= 6 && n.name.compare(n.name.size() - 6, 6, "weight") == 0;
    double fan_in = 1;
    for (int d = 1; d < p.dim(); ++d) fan_in *= static_cast<double>(p.size(d));
    for (std::size_t i = 0; i < v.size(); ++i) {
      const double u = (static_cast<double>(hash32(k * 1000003 + i) % 2001) - 1000.0) / 1000.0;
      double x;
      if (bn)
        x = weight ? 1.0 + 0.1 * u : 0.1 * u;
      else if (weight)
        x = u * (1.0 / std::sqrt(fan_in));
      else
        x = u * 0.25;
      v[i] = static_cast<float>(x);
    }
    p.copy_(Tensor::from_vector(v, p.shape()));
    ++k;
  }
}

}  // namespace ddnet::test
