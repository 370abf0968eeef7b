// Every name and shape of our 2D-DDnet's state_dict against the published weights' HDF5 keys.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

#include "models/ddnet.h"
#include "tests/fixtures.h"

std::string published_weights_path();

using namespace ddnet;

TEST_CASE("published 2D-DDnet: every state_dict name and shape matches the HDF5 keys",
          "[published][models]") {
  test::Fixtures h5(published_weights_path());
  const auto keys = h5.cases();
  models::DDnet net({2});
  const auto sd = net.state_dict();
  std::set<std::string> ours;
  for (const auto& n : sd) {
    ours.insert(n.name);
    INFO("name " << n.name);
    REQUIRE(std::find(keys.begin(), keys.end(), n.name) != keys.end());
    REQUIRE(h5.dataset_shape(n.name) == n.tensor->shape());
  }
  for (const auto& k : keys) {
    INFO("published key " << k);
    CHECK(ours.count(k) == 1);
  }
  REQUIRE(sd.size() == keys.size());
}
