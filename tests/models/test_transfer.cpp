// Transfer learning 2D -> 3D: centre, all and random fill, by name.
#include <catch2/catch.hpp>

#include "models/ddnet.h"
#include "models/transfer.h"

using namespace ddnet;
using Catch::Matchers::Contains;

namespace {
const Tensor& find(nn::Module& m, const std::string& name) {
  for (const auto& n : m.state_dict())
    if (n.name == name) return *n.tensor;
  FAIL("no " << name);
  static Tensor none;
  return none;
}
}  // namespace

TEST_CASE("transfer: centre fill puts the 2D kernel in the middle slice", "[transfer]") {
  models::DDnet two({2, kernels::UpsampleMode::linear, 1}),
      three({3, kernels::UpsampleMode::linear, 2});
  const auto r = models::transfer_2d_to_3d(two, three, models::TransferFill::centre);
  REQUIRE(r.kernels == 8 * 4 + 5 + 8);                     // dense-block convs, conv1-5, convT1-8
  const Tensor& w2 = find(two, "dnet2.conv2_1.weight");    // (16, 64, 5, 5)
  const Tensor& w3 = find(three, "dnet2.conv2_1.weight");  // (16, 64, 5, 5, 5)
  const auto a = w2.to_vector<float>(), b = w3.to_vector<float>();
  for (std::int64_t pq = 0; pq < 16 * 64; ++pq)
    for (std::int64_t z = 0; z < 5; ++z)
      for (std::int64_t i = 0; i < 25; ++i) {
        const float v = b[static_cast<std::size_t>((pq * 5 + z) * 25 + i)];
        REQUIRE(v == (z == 2 ? a[static_cast<std::size_t>(pq * 25 + i)] : 0.f));
      }
  REQUIRE(find(three, "convT3.bias").to_vector<float>() ==
          find(two, "convT3.bias").to_vector<float>());
  REQUIRE(find(three, "batch7.weight").to_vector<float>() ==
          find(two, "batch7.weight").to_vector<float>());
}

TEST_CASE("transfer: all fill and random fill", "[transfer]") {
  models::DDnet two({2, kernels::UpsampleMode::linear, 1}), all({3}), noisy({3});
  models::transfer_2d_to_3d(two, all, models::TransferFill::all);
  models::transfer_2d_to_3d(two, noisy, models::TransferFill::random, 0.1, 7);
  const auto a = find(two, "conv1.weight").to_vector<float>();  // (16, 1, 7, 7)
  const auto b = find(all, "conv1.weight").to_vector<float>(),
             c = find(noisy, "conv1.weight").to_vector<float>();
  double diff = 0;
  for (std::int64_t o = 0; o < 16; ++o)
    for (std::int64_t z = 0; z < 7; ++z)
      for (std::int64_t i = 0; i < 49; ++i) {
        const auto k = static_cast<std::size_t>((o * 7 + z) * 49 + i);
        REQUIRE(b[k] == a[static_cast<std::size_t>(o * 49 + i)]);
        diff += std::abs(static_cast<double>(c[k]) - static_cast<double>(b[k]));
      }
  REQUIRE(diff > 0);
  REQUIRE(diff / static_cast<double>(b.size()) < 0.1);  // noise around the 2D kernel, small
  REQUIRE_THROWS_WITH(models::parse_transfer_fill("edge"),
                      Contains("expected centre, all or random"));
}
