// Module registration and traversal.
#include "graph/module.h"

#include "engine/error.h"

namespace ddnet::nn {

Tensor& Module::register_parameter(const std::string& name, Tensor t) {
  t.set_requires_grad(true);
  params_.emplace_back(name, std::make_unique<Tensor>(std::move(t)));
  return *params_.back().second;
}

Tensor& Module::register_buffer(const std::string& name, Tensor t) {
  buffers_.emplace_back(name, std::make_unique<Tensor>(std::move(t)));
  return *buffers_.back().second;
}

void Module::collect(const std::string& prefix, bool params, bool buffers,
                     std::vector<Named>& out) {
  if (params)
    for (auto& [n, t] : params_) out.push_back({prefix + n, t.get()});
  if (buffers)
    for (auto& [n, t] : buffers_) out.push_back({prefix + n, t.get()});
  for (auto& [n, m] : children_) m->collect(prefix + n + ".", params, buffers, out);
}

std::vector<Named> Module::named_parameters() {
  std::vector<Named> out;
  collect("", true, false, out);
  return out;
}

std::vector<Named> Module::named_buffers() {
  std::vector<Named> out;
  collect("", false, true, out);
  return out;
}

std::vector<Named> Module::state_dict() {
  std::vector<Named> out;
  collect("", true, true, out);
  return out;
}

std::int64_t Module::parameter_count() {
  std::int64_t n = 0;
  for (const auto& p : named_parameters()) n += p.tensor->numel();
  return n;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, m] : children_) m->train(on);
}

void Module::for_each_module(const std::function<void(Module&)>& f) {
  f(*this);
  for (auto& [n, m] : children_) m->for_each_module(f);
}

}  // namespace ddnet::nn
