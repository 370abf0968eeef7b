// BatchNorm recalibration (recalibrate.h).
#include "models/recalibrate.h"

#include <optional>
#include <vector>

#include "engine/autograd.h"
#include "engine/error.h"
#include "graph/nn.h"

namespace ddnet::models {

void recalibrate_batch_norm(nn::Module& net, const std::function<Tensor(const Tensor&)>& forward,
                            std::int64_t count, const std::function<Tensor(std::int64_t)>& volume,
                            Device device) {
  DDNET_CHECK(count >= 1, "BatchNorm recalibration: needs at least one volume, got ", count);
  std::vector<nn::BatchNorm*> layers;
  net.for_each_module([&layers](nn::Module& m) {
    if (auto* bn = dynamic_cast<nn::BatchNorm*>(&m)) layers.push_back(bn);
  });
  // Each layer's momentum, given back and the network put in eval mode however this ends.
  struct Restore {
    std::vector<nn::BatchNorm*>& layers;
    nn::Module& net;
    std::vector<std::optional<double>> momenta;
    ~Restore() {
      for (std::size_t k = 0; k < layers.size(); ++k) layers[k]->momentum = momenta[k];
      net.eval();
    }
  } restore{layers, net, {}};
  for (nn::BatchNorm* bn : layers) {
    restore.momenta.push_back(bn->momentum);
    bn->momentum.reset();  // the plain average
    bn->running_mean.zero_();
    bn->running_var.copy_(Tensor::full(bn->running_var.shape(), 1.0, bn->running_var.device(),
                                       bn->running_var.dtype()));
    bn->num_batches_tracked.data<std::int32_t>()[0] = 0;
  }
  NoGradGuard no_grad;
  net.train();
  for (std::int64_t i = 0; i < count; ++i) forward(volume(i).to(device));
}

}  // namespace ddnet::models
