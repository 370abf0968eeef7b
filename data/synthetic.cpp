// Synthetic phantoms and their noisy twins.
#include "data/synthetic.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/rng.h"

namespace ddnet::data {

SyntheticPair synthetic_pair(int dims, std::int64_t d, std::int64_t h, std::int64_t w,
                             std::uint64_t seed, int split, std::int64_t index, double noise) {
  if (dims == 2) d = 1;
  // Each (split, index) owns a disjoint range of Philox blocks.
  Generator g(seed, (static_cast<std::uint64_t>(split) << 48) +
                        static_cast<std::uint64_t>(index) * (1ull << 32));
  struct Ellipsoid {
    double cz, cy, cx, rz, ry, rx, value;
  };
  std::vector<Ellipsoid> shapes;
  shapes.push_back({0.5, 0.5, 0.5, 0.45, 0.42, 0.40, 0.45});  // the body
  const int n = 4 + static_cast<int>(g.next_below(5));
  for (int i = 0; i < n; ++i)
    shapes.push_back({0.3 + 0.4 * g.next_unit(), 0.3 + 0.4 * g.next_unit(),
                      0.3 + 0.4 * g.next_unit(), 0.05 + 0.15 * g.next_unit(),
                      0.05 + 0.15 * g.next_unit(), 0.05 + 0.15 * g.next_unit(),
                      -0.3 + 0.6 * g.next_unit()});
  std::vector<float> t(static_cast<std::size_t>(d * h * w), 0.f);
  for (std::int64_t z = 0; z < d; ++z)
    for (std::int64_t y = 0; y < h; ++y)
      for (std::int64_t x = 0; x < w; ++x) {
        const double pz = dims == 3 ? (static_cast<double>(z) + 0.5) / static_cast<double>(d) : 0.5;
        const double py = (static_cast<double>(y) + 0.5) / static_cast<double>(h);
        const double px = (static_cast<double>(x) + 0.5) / static_cast<double>(w);
        double v = 0;
        for (const auto& e : shapes) {
          const double q = ((pz - e.cz) * (pz - e.cz)) / (e.rz * e.rz) +
                           ((py - e.cy) * (py - e.cy)) / (e.ry * e.ry) +
                           ((px - e.cx) * (px - e.cx)) / (e.rx * e.rx);
          if (q < 1) v += e.value;
        }
        t[static_cast<std::size_t>((z * h + y) * w + x)] =
            static_cast<float>(std::clamp(v, 0.0, 1.0));
      }
  const Shape shape = dims == 3 ? Shape{1, 1, d, h, w} : Shape{1, 1, h, w};
  SyntheticPair p;
  p.target = Tensor::from_vector(t, shape);
  const auto nz = g.normal(shape, Device::cpu(), 0.f, static_cast<float>(noise)).to_vector<float>();
  std::vector<float> in(t.size());
  for (std::size_t i = 0; i < t.size(); ++i) in[i] = std::clamp(t[i] + nz[i], 0.f, 1.f);
  p.input = Tensor::from_vector(in, shape);
  return p;
}

}  // namespace ddnet::data
