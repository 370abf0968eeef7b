// Module tree with PyTorch's names: parameters, buffers and children are registered in order,
// and state_dict names are the dotted paths PyTorch uses ("dnet1.conv1_0.weight",
// "batch1.running_mean"), so weights move between the engine and PyTorch by name.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace ddnet::nn {

struct Named {
  std::string name;
  Tensor* tensor;  // points into the owning module: stays valid while the module lives
};

class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  std::vector<Named> named_parameters();
  std::vector<Named> named_buffers();
  // Parameters and buffers in PyTorch's state_dict order (per module: parameters, then
  // buffers, then children).
  std::vector<Named> state_dict();
  std::int64_t parameter_count();

  void train(bool on = true);
  void eval() { train(false); }
  bool training() const { return training_; }
  // This module and every descendant, depth first in registration order.
  void for_each_module(const std::function<void(Module&)>& f);

 protected:
  Tensor& register_parameter(const std::string& name, Tensor t);  // becomes a leaf requiring grad
  Tensor& register_buffer(const std::string& name, Tensor t);
  template <class M>
  M& register_module(const std::string& name, std::unique_ptr<M> m) {
    M& ref = *m;
    children_.emplace_back(name, std::move(m));
    return ref;
  }

 private:
  void collect(const std::string& prefix, bool params, bool buffers, std::vector<Named>& out);
  std::vector<std::pair<std::string, std::unique_ptr<Tensor>>> params_, buffers_;
  std::vector<std::pair<std::string, std::unique_ptr<Module>>> children_;
  bool training_ = true;
};

}  // namespace ddnet::nn
