// Concatenation along channels (dim 1) of any number of tensors, and its backward, the split.
// One launch handles up to kMaxInputs inputs (more are done in groups). Each input and the
// output need only have every sample contiguous, so channel slices of a bigger buffer work too.
#pragma once

#include <cstdint>

namespace ddnet::kernels {

constexpr int kConcatMaxInputs = 16;

template <class T>
struct ConcatPart {
  T* data;                     // the input (concat) or its gradient (split)
  std::int64_t channels;       // its channels
  std::int64_t channel_start;  // where they start in the output
  std::int64_t batch_stride;   // elements between its samples
};

// out has `out_channels` channels of `plane` elements per sample, `out_batch_stride` apart.
template <class T>
struct ConcatArgs {
  int count = 0;
  ConcatPart<T> parts[kConcatMaxInputs];
  std::int64_t n = 1, plane = 1, out_channels = 0, out_batch_stride = 0;
};

namespace cpu {
template <class T>
void concat(const ConcatArgs<T>& a, T* out);  // out[parts] = parts
template <class T>
void split(const ConcatArgs<T>& a, const T* grad);  // parts = grad[parts]
}  // namespace cpu
namespace cuda {
template <class T>
void concat(const ConcatArgs<T>& a, T* out, void* stream);
template <class T>
void split(const ConcatArgs<T>& a, const T* grad, void* stream);
}  // namespace cuda

}  // namespace ddnet::kernels
