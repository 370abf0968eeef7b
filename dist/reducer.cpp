// Buckets, readiness and ordered, overlapped all-reduce.
#include "dist/reducer.h"

#include <algorithm>

#include "engine/error.h"
#include "engine/stream.h"

namespace ddnet::dist {

Reducer::Reducer(const World& world, Tensor grads, const std::vector<Tensor>& params,
                 const std::vector<std::int64_t>& offsets, ReducerOptions options,
                 const NcclComm* nccl)
    : world_(world), nccl_(nccl), grads_(std::move(grads)), options_(options) {
  if (grads_.device().is_cuda()) {
    DDNET_CHECK(nccl_ != nullptr, "reducer: gradients on ", grads_.device().str(),
                " need an NCCL communicator");
    DDNET_CHECK(nccl_->device() == grads_.device().index() && nccl_->size() == world.size(),
                "reducer: gradients on ", grads_.device().str(), " but the NCCL communicator is ",
                "on cuda:", nccl_->device(), " with ", nccl_->size(), " ranks (world of ",
                world.size(), ")");
  } else {
    nccl_ = nullptr;
  }
  DDNET_CHECK(grads_.dtype() == DType::f32 && grads_.is_contiguous() && grads_.dim() == 1,
              "reducer: the gradient arena must be a contiguous 1-D f32 tensor, got ",
              grads_.str());
  DDNET_CHECK(params.size() == offsets.size() && !params.empty(), "reducer: ", params.size(),
              " parameters and ", offsets.size(), " offsets");
  DDNET_CHECK(options_.bucket_bytes >= 4 && options_.first_bucket_bytes >= 4,
              "reducer: bucket sizes must hold at least one value");
  const std::size_t n = params.size();
  std::vector<std::int64_t> numel(n);
  for (std::size_t i = 0; i < n; ++i) {
    numel[i] = params[i].numel();
    const std::int64_t end = i + 1 < n ? offsets[i + 1] : grads_.numel();
    DDNET_CHECK(offsets[i] >= 0 && offsets[i] + numel[i] == end, "reducer: parameter ", i,
                " is not where the arena layout says (offset ", offsets[i], ", ", numel[i],
                " values, next at ", end, ")");
    index_of_[params[i].autograd_meta_ptr().get()] = i;
  }
  // Reverse parameter order, a small first bucket, then bucket_bytes each.
  bucket_of_.assign(n, 0);
  Bucket cur;
  std::size_t limit = options_.first_bucket_bytes;
  for (std::size_t k = n; k-- > 0;) {
    if (cur.params.empty()) cur.end = offsets[k] + numel[k];
    cur.params.push_back(k);
    cur.begin = offsets[k];
    if (static_cast<std::size_t>(cur.end - cur.begin) * sizeof(float) >= limit || k == 0) {
      for (const std::size_t p : cur.params) bucket_of_[p] = buckets_.size();
      buckets_.push_back(cur);
      cur = Bucket();
      limit = options_.bucket_bytes;
    }
  }
  pending_.assign(buckets_.size(), 0);
  if (nccl_ != nullptr) {
    for (std::size_t b = 0; b < buckets_.size(); ++b) ready_.push_back(std::make_unique<Event>());
    backward_end_ = std::make_unique<Event>(true);
    comm_end_ = std::make_unique<Event>(true);
  }
}

void Reducer::begin() {
  DDNET_CHECK(!in_step_, "reducer: begin() twice without finish()");
  in_step_ = true;
  in_backward_ = true;
  next_ = 0;
  requests_.clear();
  requests_.resize(buckets_.size());
  for (std::size_t b = 0; b < buckets_.size(); ++b)
    pending_[b] = static_cast<int>(buckets_[b].params.size());
  stats_ = Stats();
  stats_.launched_in_backward.assign(buckets_.size(), 0);
  guard_ = std::make_unique<GradReadyHookGuard>([this](const AutogradMeta* leaf) {
    const auto it = index_of_.find(leaf);
    if (it != index_of_.end()) mark_ready(it->second);
  });
}

void Reducer::mark_ready(std::size_t param) {
  DDNET_CHECK(in_step_, "reducer: a gradient reported ready outside begin()/finish()");
  DDNET_CHECK(param < bucket_of_.size(), "reducer: parameter ", param, " out of range");
  const std::size_t b = bucket_of_[param];
  DDNET_CHECK(pending_[b] > 0, "reducer: parameter ", param,
              " reported ready twice in one step (used by two backward passes?)");
  --pending_[b];
  if (!options_.overlap) return;
  launch_ready_prefix();
  if (nccl_ != nullptr) return;
  // MPI moves a non-blocking collective on only inside MPI calls: test the ones in flight at
  // every report, so they advance while backward computes.
  for (std::size_t k = 0; k < next_; ++k)
    if (requests_[k].pending()) requests_[k].test();
}

void Reducer::launch_ready_prefix() {
  while (next_ < buckets_.size() && pending_[next_] == 0) launch(next_++);
}

void Reducer::launch(std::size_t b) {
  const Bucket& bk = buckets_[b];
  float* p = grads_.data<float>() + bk.begin;
  const auto n = static_cast<std::size_t>(bk.end - bk.begin);
  if (nccl_ != nullptr) {
    // After the kernels that wrote this bucket's gradients (enqueued on the compute stream).
    ready_[b]->record(current_stream(grads_.device().index()));
    ready_[b]->wait(nccl_->stream());
    nccl_->allreduce_avg(p, n, nccl_->stream());
  } else {
    requests_[b] = world_.iallreduce_sum(p, n);
  }
  stats_.launch_order.push_back(b);
  stats_.launched_in_backward[b] = in_backward_ ? 1 : 0;
}

void Reducer::finish() {
  DDNET_CHECK(in_step_, "reducer: finish() without begin()");
  guard_.reset();
  in_backward_ = false;
  if (nccl_ != nullptr) {
    const Stream compute = current_stream(grads_.device().index());
    backward_end_->record(compute);
    while (next_ < buckets_.size()) launch(next_++);  // unreached parameters: zero gradients
    comm_end_->record(nccl_->stream());
    comm_end_->wait(compute);  // the optimizer, enqueued next, runs after the last all-reduce
    nccl_->wait(*comm_end_, "the gradient all-reduce");
    // comm_end_ done does not imply backward_end_ done (another stream): elapsed time needs both.
    backward_end_->synchronize();
    stats_.finish_wait_s =
        std::max(0.0, static_cast<double>(comm_end_->elapsed_ms(*backward_end_)) / 1000.0);
    in_step_ = false;
    return;
  }
  const auto t0 = std::chrono::steady_clock::now();
  while (next_ < buckets_.size()) launch(next_++);  // unreached parameters: zero gradients
  for (Request& r : requests_) r.wait();
  const float scale = 1.0f / static_cast<float>(world_.size());
  if (world_.size() > 1) {
    float* g = grads_.data<float>();
    const std::int64_t n = grads_.numel();  // hoisted: numel() is a call, the loop vectorises
    for (std::int64_t i = 0; i < n; ++i) g[i] *= scale;
  }
  stats_.finish_wait_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  in_step_ = false;
}

}  // namespace ddnet::dist
