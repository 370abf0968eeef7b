// The tape and the reverse walk.
#include "engine/autograd.h"

#include <algorithm>
#include <unordered_map>

#include "engine/parallel.h"

namespace ddnet {

namespace {

struct Entry {
  const char* op;
  std::vector<std::shared_ptr<AutogradMeta>> inputs;
  std::vector<std::shared_ptr<AutogradMeta>> outputs;
  BackwardFn backward;
};

struct Tape {
  std::vector<Entry> entries;
  std::uint64_t generation = 1;  // 0 marks leaves
  void release() {
    entries.clear();
    ++generation;
  }
};

Tape& tape() {
  thread_local Tape t;
  return t;
}

GradReadyHook& grad_ready_hook() {
  thread_local GradReadyHook hook;
  return hook;
}

bool& grad_mode() {
  thread_local bool on = true;
  return on;
}

[[noreturn]] void released_error(const char* where) {
  DDNET_FAIL("backward(): ", where,
             " belongs to a graph that was already released, by an earlier backward() or by "
             "clear_tape(); to run backward twice through one graph, pass retain_graph=true to "
             "the first call");
}

void check_same(const Tensor& grad, const Tensor& of, const char* what) {
  DDNET_CHECK(
      grad.shape() == of.shape() && grad.dtype() == of.dtype() && grad.device() == of.device(),
      what, ": gradient ", grad.str(), " does not match ", of.str());
}

// slot += g, copying g only when the slot already holds a buffer it does not own.
void accumulate_slot(AutogradMeta& slot, const Tensor& g) {
  if (!slot.grad.defined()) {
    slot.grad = g;
    slot.grad_owned = false;
  } else if (slot.grad_owned) {
    accumulate_into(slot.grad, g);
  } else {
    Tensor fresh = slot.grad.clone();
    accumulate_into(fresh, g);
    slot.grad = fresh;
    slot.grad_owned = true;
  }
}

}  // namespace

const Tensor& GradContext::grad_output(std::size_t i) const {
  DDNET_CHECK(i < grad_outputs_.size(), "grad_output(", i, "): the op has ", grad_outputs_.size(),
              " outputs");
  return grad_outputs_[i];
}

bool GradContext::needs_input_grad(std::size_t i) const {
  DDNET_CHECK(i < inputs_.size(), "needs_input_grad(", i, "): the op has ", inputs_.size(),
              " inputs");
  return inputs_[i]->requires_grad;
}

void GradContext::accumulate(std::size_t i, const Tensor& g) {
  if (!needs_input_grad(i) || !g.defined()) return;
  AutogradMeta& slot = *inputs_[i];
  if (slot.grad.defined()) check_same(g, slot.grad, "accumulate");
  accumulate_slot(slot, g);
}

bool grad_enabled() {
  return grad_mode();
}

NoGradGuard::NoGradGuard() : previous_(grad_mode()) {
  grad_mode() = false;
}
NoGradGuard::~NoGradGuard() {
  grad_mode() = previous_;
}

bool should_record(std::initializer_list<const Tensor*> inputs) {
  if (!grad_mode()) return false;
  return std::any_of(inputs.begin(), inputs.end(),
                     [](const Tensor* t) { return t && t->requires_grad(); });
}

void record(const char* op, std::vector<Tensor> inputs, std::vector<Tensor> outputs,
            BackwardFn backward) {
  Tape& t = tape();
  Entry e{op, {}, {}, std::move(backward)};
  e.inputs.reserve(inputs.size());
  for (const Tensor& in : inputs) {
    auto m = in.autograd_meta_ptr();
    if (m->requires_grad && !m->is_leaf() && m->generation != t.generation)
      released_error((std::string("an input of ") + op).c_str());
    e.inputs.push_back(std::move(m));
  }
  const std::size_t index = t.entries.size();
  for (const Tensor& out : outputs) {
    auto m = out.autograd_meta_ptr();
    DDNET_CHECK(m->is_leaf() && !m->requires_grad, "record(", op,
                "): an output already has autograd history or is a parameter");
    m->requires_grad = true;
    m->generation = t.generation;
    m->entry = index;
    e.outputs.push_back(std::move(m));
  }
  t.entries.push_back(std::move(e));
}

std::size_t tape_size() {
  return tape().entries.size();
}
void clear_tape() {
  tape().release();
}

void run_backward(const Tensor& root, const Tensor& seed_in, bool retain_graph) {
  DDNET_CHECK(root.defined(), "backward() on an undefined tensor");
  DDNET_CHECK(root.requires_grad(), "backward() on ", root.str(),
              ", which does not require grad: no input of the ops that made it requires grad, "
              "or it was computed under NoGradGuard");
  Tensor seed = seed_in;
  if (!seed.defined()) {
    DDNET_CHECK(root.numel() == 1, "backward() on ", root.str(),
                ": a tensor with more than one element needs an explicit gradient");
    seed = Tensor::full(root.shape(), 1.0, root.device(), root.dtype());
  }
  check_same(seed, root, "backward()");

  AutogradMeta& rm = root.autograd_meta();
  if (rm.is_leaf()) {
    accumulate_slot(rm, seed);
    return;
  }
  Tape& t = tape();
  if (rm.generation != t.generation || rm.entry >= t.entries.size()) released_error("this tensor");
  accumulate_slot(rm, seed);

  // With a grad-ready hook: how many more entries will read each leaf (a leaf read twice by one
  // op counts twice); at zero its gradient is complete.
  const GradReadyHook& hook = grad_ready_hook();
  std::unordered_map<const AutogradMeta*, int> uses;
  if (hook)
    for (std::size_t k = 0; k <= rm.entry; ++k)
      for (const auto& in : t.entries[k].inputs)
        if (in->requires_grad && in->is_leaf()) ++uses[in.get()];
  auto done_with = [&](const Entry& e) {
    if (!hook) return;
    for (const auto& in : e.inputs)
      if (in->requires_grad && in->is_leaf() && --uses[in.get()] == 0) hook(in.get());
  };

  for (std::size_t k = rm.entry + 1; k-- > 0;) {
    Entry& e = t.entries[k];
    const bool reached = std::any_of(e.outputs.begin(), e.outputs.end(),
                                     [](const auto& m) { return m->grad.defined(); });
    if (!reached) {
      if (!retain_graph) e.backward = nullptr;  // what it saved is not needed
      done_with(e);
      continue;
    }
    GradContext ctx;
    bool any_input = false;
    for (const auto& in : e.inputs) {
      if (in->requires_grad && !in->is_leaf() && in->generation != t.generation)
        released_error((std::string("an input of ") + e.op).c_str());
      any_input = any_input || in->requires_grad;
      ctx.inputs_.push_back(in.get());
    }
    for (const auto& out : e.outputs) ctx.grad_outputs_.push_back(out->grad);
    if (any_input) e.backward(ctx);
    // Without retain_graph the closure is not run again: what it saved (activations, argmax,
    // statistics) is freed now, not when the whole tape is released, so memory falls as backward
    // walks down the network instead of peaking at activations plus gradients.
    if (!retain_graph) e.backward = nullptr;
    // Gradients of intermediate tensors are complete here (every consumer ran before) and are
    // not needed again: free them now.
    for (const auto& out : e.outputs) {
      out->grad = Tensor();
      out->grad_owned = false;
    }
    done_with(e);
  }
  if (!retain_graph) t.release();
}

GradReadyHookGuard::GradReadyHookGuard(GradReadyHook hook)
    : previous_(std::move(grad_ready_hook())) {
  grad_ready_hook() = std::move(hook);
}

GradReadyHookGuard::~GradReadyHookGuard() {
  grad_ready_hook() = std::move(previous_);
}

}  // namespace ddnet
