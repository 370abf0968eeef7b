// The tape and the reverse walk.
#include "engine/autograd.h"

#include <algorithm>
#include <memory>
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

// Generations are unique per thread across all tapes (0 marks leaves), so a tensor of an outer
// tape is never taken for one of a nested tape's (checkpoint_segment's recomputation).
std::uint64_t next_generation() {
  thread_local std::uint64_t last = 0;
  return ++last;
}

struct Tape {
  std::vector<Entry> entries;
  std::uint64_t generation = next_generation();
  void release() {
    entries.clear();
    generation = next_generation();
  }
};

// The thread's tapes: the outermost first; record() and backward() use the innermost. A
// checkpointed segment's backward pushes one for its recomputation. unique_ptr: a reference to an
// outer tape stays valid while inner ones come and go.
std::vector<std::unique_ptr<Tape>>& tapes() {
  thread_local std::vector<std::unique_ptr<Tape>> stack = [] {
    std::vector<std::unique_ptr<Tape>> s;
    s.push_back(std::make_unique<Tape>());
    return s;
  }();
  return stack;
}

Tape& tape() {
  return *tapes().back();
}

// True when `generation` is that of a tape outside the innermost one.
bool outer_generation(std::uint64_t generation) {
  const auto& s = tapes();
  return std::any_of(s.begin(), s.end() - 1,
                     [generation](const auto& t) { return t->generation == generation; });
}

int& recompute_depth() {
  thread_local int depth = 0;
  return depth;
}

// A nested tape for its lifetime.
class TapeScope {
 public:
  TapeScope() { tapes().push_back(std::make_unique<Tape>()); }
  ~TapeScope() { tapes().pop_back(); }
  TapeScope(const TapeScope&) = delete;
  TapeScope& operator=(const TapeScope&) = delete;
};

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

Tensor GradContext::take_grad_output(std::size_t i) {
  DDNET_CHECK(i < grad_outputs_.size(), "take_grad_output(", i, "): the op has ",
              grad_outputs_.size(), " outputs");
  Tensor g = std::move(grad_outputs_[i]);
  grad_outputs_[i] = Tensor();
  return g;
}

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
    if (m->requires_grad && !m->is_leaf() && m->generation != t.generation) {
      if (outer_generation(m->generation))
        DDNET_FAIL("an input of ", op,
                   " inside a checkpointed segment's recomputation comes "
                   "from outside the segment: give checkpoint_segment every tensor with "
                   "autograd history that the segment reads as one of its inputs");
      released_error((std::string("an input of ") + op).c_str());
    }
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
    // The outputs' gradients move into the context: complete here (every consumer ran) and
    // needed by nothing after this entry, so a closure that takes one frees it once consumed.
    for (const auto& out : e.outputs) {
      ctx.grad_outputs_.push_back(std::move(out->grad));
      out->grad = Tensor();
      out->grad_owned = false;
    }
    if (any_input) e.backward(ctx);
    // Without retain_graph the closure is not run again: what it saved (activations, argmax,
    // statistics) is freed now, not when the whole tape is released, so memory falls as backward
    // walks down the network instead of peaking at activations plus gradients.
    if (!retain_graph) e.backward = nullptr;
    done_with(e);
  }
  if (!retain_graph) t.release();
}

bool recomputing() {
  return recompute_depth() > 0;
}

Tensor checkpoint_segment(const char* name, const SegmentFn& fn, const std::vector<Tensor>& inputs,
                          const std::vector<Tensor>& parameters) {
  // A view of t's storage without t's autograd history.
  auto alias = [](const Tensor& t) {
    return t.as_strided(t.shape(), t.strides(), t.storage_offset());
  };
  auto needs_grad = [](const Tensor& t) { return t.requires_grad(); };
  const bool record_it =
      grad_mode() && (std::any_of(inputs.begin(), inputs.end(), needs_grad) ||
                      std::any_of(parameters.begin(), parameters.end(), needs_grad));
  if (!record_it) return fn(inputs);
  Tensor y;
  {
    NoGradGuard no_grad;
    y = fn(inputs);
  }
  DDNET_CHECK(y.defined(), name, ": the checkpointed segment returned an undefined tensor");
  y = alias(y);  // a fresh autograd slot, even when the segment returned one of its inputs
  std::vector<Tensor> on_tape = inputs;
  on_tape.insert(on_tape.end(), parameters.begin(), parameters.end());
  record(name, std::move(on_tape), {y}, [fn, saved = inputs, alias](GradContext& ctx) {
    const Tensor& dy = ctx.grad_output();
    if (!dy.defined()) return;
    std::vector<Tensor> xs;
    xs.reserve(saved.size());
    for (std::size_t i = 0; i < saved.size(); ++i) {
      Tensor a = alias(saved[i]);
      if (ctx.needs_input_grad(i)) a.set_requires_grad();
      xs.push_back(std::move(a));
    }
    // The recomputation records on a tape of its own, walked at once; leaf gradients
    // (parameters) accumulate where they always do. The grad-ready hook waits for this entry
    // (the parameters are its inputs), so it is off inside.
    TapeScope scope;
    GradReadyHookGuard no_hook(nullptr);
    Tensor y2;
    {
      ++recompute_depth();
      struct Leave {
        ~Leave() { --recompute_depth(); }
      } leave;
      y2 = fn(xs);
    }
    if (y2.requires_grad()) run_backward(y2, dy, /*retain_graph=*/false);
    for (std::size_t i = 0; i < xs.size(); ++i)
      if (ctx.needs_input_grad(i)) ctx.accumulate(i, xs[i].grad());
  });
  return y;
}

GradReadyHookGuard::GradReadyHookGuard(GradReadyHook hook)
    : previous_(std::move(grad_ready_hook())) {
  grad_ready_hook() = std::move(hook);
}

GradReadyHookGuard::~GradReadyHookGuard() {
  grad_ready_hook() = std::move(previous_);
}

}  // namespace ddnet
