// Autograd: a tape of backward closures, walked in reverse by Tensor::backward().
//
// An op that supports gradients records one entry per call when grad mode is on and one of its
// inputs requires grad: its inputs, its outputs and a closure. The closure reads the outputs'
// gradients and adds its contribution to each input's gradient (gradients accumulate with +=:
// one dense-block feature map feeds four concatenations). backward() runs the entries that lead
// to the root in reverse order and then releases the tape (unless retain_graph): the closures
// and what they saved are freed, and a second backward through the same graph is an error.
// The tape is per thread.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace ddnet {

struct AutogradMeta {
  bool requires_grad = false;
  Tensor grad;
  bool grad_owned = false;       // grad's buffer belongs to this slot and may be updated in place
  std::uint64_t generation = 0;  // tape generation of the producing entry; 0 for leaves
  std::size_t entry = 0;         // index of the producing entry on the tape
  bool is_leaf() const { return generation == 0; }
};

class GradContext {
 public:
  // Gradient of output i; an undefined tensor means zero (that output did not reach the root).
  const Tensor& grad_output(std::size_t i = 0) const;
  // The same gradient, moved out of the context (grad_output(i) is undefined after): the
  // closure frees it as soon as it is consumed, not when the closure returns.
  Tensor take_grad_output(std::size_t i = 0);
  std::size_t num_inputs() const { return inputs_.size(); }
  bool needs_input_grad(std::size_t i) const;
  // input i's gradient += g (g is not modified; the first contribution is kept without a copy).
  void accumulate(std::size_t i, const Tensor& g);

 private:
  friend void run_backward(const Tensor&, const Tensor&, bool);
  std::vector<AutogradMeta*> inputs_;
  std::vector<Tensor> grad_outputs_;
};

using BackwardFn = std::function<void(GradContext&)>;

bool grad_enabled();

// Disables recording for its lifetime (evaluation, optimizer steps).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// True when grad mode is on and any input requires grad: the op should record.
bool should_record(std::initializer_list<const Tensor*> inputs);
// Records an entry; outputs become non-leaf tensors that require grad.
void record(const char* op, std::vector<Tensor> inputs, std::vector<Tensor> outputs,
            BackwardFn backward);
// Entries on this thread's tape, and dropping them without a backward (e.g. after a forward
// pass in grad mode whose result is not trained on).
std::size_t tape_size();
void clear_tape();

// Used by Tensor::backward().
void run_backward(const Tensor& root, const Tensor& seed, bool retain_graph);

// Called by backward() on its thread as soon as a leaf's gradient is complete: every recorded op
// that read the leaf has run its backward (or could not reach the root), so nothing will add to
// it again in this backward. The data-parallel reducer starts that gradient's all-reduce here
// while backward goes on. Leaves no recorded op read are not reported. On CUDA the gradient's
// kernels are queued on the current stream when the hook runs, not necessarily finished.
using GradReadyHook = std::function<void(const AutogradMeta* leaf)>;
// Installs `hook` on this thread for the guard's lifetime (the previous one comes back after).
class GradReadyHookGuard {
 public:
  explicit GradReadyHookGuard(GradReadyHook hook);
  ~GradReadyHookGuard();
  GradReadyHookGuard(const GradReadyHookGuard&) = delete;
  GradReadyHookGuard& operator=(const GradReadyHookGuard&) = delete;

 private:
  GradReadyHook previous_;
};

// Activation checkpointing (recomputation by segment): fn(inputs) runs without recording, and
// the tape keeps one entry holding only `inputs`, not what fn makes on the way to its result. Its
// backward runs fn again with recording on a tape of its own (recomputing() is true meanwhile)
// and back-propagates through it: the gradients of `inputs` go to the outer graph, those of the
// leaves fn reads (parameters) accumulate as usual. fn must compute the same values both times
// and must read no tensor with autograd history other than `inputs`; `parameters` lists the
// leaves it reads, so that the entry reaches them (the grad-ready hook reports them when the
// entry has run). Modules keep their side effects to the first run: batch normalisation
// updates its running statistics in the forward run only, normalising the recomputation with
// the same batch statistics. Without grad mode, or when nothing requires grad, it is fn(inputs).
using SegmentFn = std::function<Tensor(const std::vector<Tensor>& inputs)>;
Tensor checkpoint_segment(const char* name, const SegmentFn& fn, const std::vector<Tensor>& inputs,
                          const std::vector<Tensor>& parameters);
// True while a checkpointed segment is recomputed in backward.
bool recomputing();

// y += x elementwise: same shape, dtype and device; y contiguous. The engine's own small kernel,
// so that autograd needs nothing above the engine.
void accumulate_into(Tensor& y, const Tensor& x);

}  // namespace ddnet
