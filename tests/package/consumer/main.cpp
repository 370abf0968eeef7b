// An outside program on the installed ddnet: a tensor, the fused loss and its gradient, a
// 3D-DDnet forward and backward, one Adam step, and a dataset written and read back.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "generated/ddnet_config.h"
#include "graph/optim.h"
#include "layers/loss.h"
#include "models/ddnet.h"

using namespace ddnet;

namespace {
int failures = 0;
void check(bool ok, const std::string& what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
  if (!ok) ++failures;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer <scratch.h5>\n");
    return 2;
  }
  std::printf("ddnet %s (CUDA %d, cuDNN %d)\n", DDNET_VERSION, DDNET_WITH_CUDA, DDNET_WITH_CUDNN);

  models::DDnetOptions o;
  o.dims = 3;
  o.seed = 7;
  models::DDnet net(o);
  nn::Arena arena = nn::pack_parameters(net, Device::cpu());
  std::vector<float> v(32 * 32 * 32);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = 0.5f + 0.4f * std::sin(0.37f * float(i));
  const Tensor x = Tensor::from_vector(v, Shape{1, 1, 32, 32, 32});
  const Tensor y = net.forward(x);
  check(y.shape() == x.shape(), "3D-DDnet forward keeps the shape: " + y.shape().str());

  const F::LossParts loss = F::ddnet_loss(y, x);
  const double before = loss.total.item();
  check(std::isfinite(before) && loss.msssim.item() <= 1.0, "loss " + std::to_string(before));
  loss.total.backward();
  double grad_sq = 0;
  for (float g : arena.grads.to_vector<float>()) grad_sq += double(g) * g;
  check(std::isfinite(grad_sq) && grad_sq > 0,
        "gradients reach the parameters: |g|^2 = " + std::to_string(grad_sq));

  nn::AdamOptions ao;
  ao.lr = 1e-3;
  nn::Adam adam(arena, ao);
  adam.step();
  const double after = F::ddnet_loss(net.forward(x), x).total.item();
  check(after != before, "one Adam step changes the loss: " + std::to_string(before) + " -> " +
                             std::to_string(after));

  {
    data::DatasetWriter w(argv[1]);
    data::Volume vol(4, 8, 8);
    for (std::size_t i = 0; i < vol.voxels.size(); ++i) vol.voxels[i] = float(i % 100) - 50.f;
    w.add_scan("scan0", data::Split::test, vol, nullptr);
    w.commit();
  }
  const data::Dataset ds = data::Dataset::open(argv[1]);
  const data::Volume back = ds.read(0, false);
  check(ds.scans().size() == 1 && back.numel() == 4 * 8 * 8 && back.voxels[5] == -45.f,
        "a dataset written and read back");
  return failures == 0 ? 0 : 1;
}
