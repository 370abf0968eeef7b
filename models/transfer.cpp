// 2D -> 3D weight transfer by name.
#include "models/transfer.h"

#include <cmath>
#include <map>

#include "engine/error.h"
#include "engine/rng.h"

namespace ddnet::models {

TransferFill parse_transfer_fill(const std::string& s) {
  if (s == "centre" || s == "center") return TransferFill::centre;
  if (s == "all") return TransferFill::all;
  if (s == "random") return TransferFill::random;
  DDNET_FAIL("transfer fill '", s, "': expected centre, all or random");
}

TransferReport transfer_2d_to_3d(nn::Module& donor, nn::Module& target, TransferFill fill,
                                 double noise, std::uint64_t seed) {
  std::map<std::string, Tensor*> src;
  for (const auto& n : donor.state_dict()) src[n.name] = n.tensor;
  Generator gen(seed);
  TransferReport r;
  for (const auto& n : target.state_dict()) {
    auto it = src.find(n.name);
    DDNET_CHECK(it != src.end(), "transfer 2D -> 3D: the donor has no '", n.name, "'");
    const Tensor from = it->second->to(Device::cpu());
    Tensor& to = *n.tensor;
    if (to.dim() == 5) {  // a 3D kernel (out, in, k, k, k) from (out, in, k, k)
      DDNET_CHECK(from.dim() == 4 && from.size(0) == to.size(0) && from.size(1) == to.size(1) &&
                      from.size(2) == to.size(3) && from.size(3) == to.size(4),
                  "transfer 2D -> 3D: '", n.name, "' is ", from.shape().str(), " in the donor and ",
                  to.shape().str(), " in the target");
      const std::int64_t k = to.size(2), plane = to.size(3) * to.size(4),
                         pairs = to.size(0) * to.size(1);
      const auto w = from.to_vector<float>();
      double mean = 0, sq = 0;
      for (float v : w) mean += static_cast<double>(v);
      mean /= static_cast<double>(w.size());
      for (float v : w) sq += (static_cast<double>(v) - mean) * (static_cast<double>(v) - mean);
      const float sigma = static_cast<float>(noise * std::sqrt(sq / static_cast<double>(w.size())));
      std::vector<float> out(static_cast<std::size_t>(to.numel()), 0.f);
      std::vector<float> jitter;
      if (fill == TransferFill::random)
        jitter = gen.normal({to.numel()}, Device::cpu(), 0.f, sigma).to_vector<float>();
      for (std::int64_t pq = 0; pq < pairs; ++pq)
        for (std::int64_t z = 0; z < k; ++z) {
          if (fill == TransferFill::centre && z != k / 2) continue;
          for (std::int64_t i = 0; i < plane; ++i) {
            const auto o = static_cast<std::size_t>((pq * k + z) * plane + i);
            out[o] =
                w[static_cast<std::size_t>(pq * plane + i)] + (jitter.empty() ? 0.f : jitter[o]);
          }
        }
      to.copy_(Tensor::from_vector(out, to.shape()));
      ++r.kernels;
    } else {
      DDNET_CHECK(from.shape() == to.shape() && from.dtype() == to.dtype(), "transfer 2D -> 3D: '",
                  n.name, "' is ", from.str(), " in the donor and ", to.str(), " in the target");
      to.copy_(from);
      ++r.copied;
    }
  }
  return r;
}

}  // namespace ddnet::models
