// Packing parameters and gradients into two arenas.
#include "graph/arena.h"

namespace ddnet::nn {

Arena pack_parameters(Module& m, Device device) {
  Arena a;
  a.layout = m.named_parameters();
  std::int64_t total = 0;
  for (const auto& p : a.layout) {
    a.offsets.push_back(total);
    total += p.tensor->numel();
  }
  a.params = Tensor::empty(Shape{total}, device);
  a.grads = Tensor::zeros(Shape{total}, device);
  for (std::size_t i = 0; i < a.layout.size(); ++i) {
    Tensor& p = *a.layout[i].tensor;
    const Shape shape = p.shape();
    Tensor view = a.params.narrow(0, a.offsets[i], p.numel()).view(shape);
    view.copy_(p);
    Tensor g = a.grads.narrow(0, a.offsets[i], p.numel()).view(shape);
    p = view;
    p.set_requires_grad(true);
    p.set_grad(g);
  }
  return a;
}

}  // namespace ddnet::nn
