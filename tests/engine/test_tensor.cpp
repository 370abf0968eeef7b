// Tensor: construction, strides, channel views, copies, and the errors a user sees.
#include <catch2/catch.hpp>

#include "engine/device.h"
#include "engine/memory.h"
#include "engine/tensor.h"
#include "kernels/copy_ops.h"

using namespace ddnet;
using Catch::Matchers::Contains;

TEST_CASE("tensor: contiguous strides and sizes of a 5-d tensor", "[tensor]") {
  Tensor t = Tensor::zeros({2, 3, 4, 5, 6});
  REQUIRE(t.dim() == 5);
  REQUIRE(t.numel() == 720);
  REQUIRE(t.strides() == Shape({360, 120, 30, 6, 1}));
  REQUIRE(t.is_contiguous());
  REQUIRE(t.nbytes() == 720 * 4);
  REQUIRE(t.device() == Device::cpu());
  for (float v : t.to_vector<float>()) REQUIRE(v == 0.f);
  REQUIRE(t.str() == "Tensor(float32, cpu, (2, 3, 4, 5, 6))");
}

TEST_CASE("tensor: a sixth dimension is refused", "[tensor]") {
  REQUIRE_THROWS_WITH(Shape({1, 2, 3, 4, 5, 6}), Contains("at most 5 dimensions"));
}

TEST_CASE("tensor: from_vector checks the count and keeps the values", "[tensor]") {
  Tensor t = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
  REQUIRE(t.to_vector<float>() == std::vector<float>{1, 2, 3, 4, 5, 6});
  REQUIRE_THROWS_WITH(Tensor::from_vector(std::vector<float>{1, 2}, {3}),
                      Contains("2 values for shape (3)"));
  REQUIRE(Tensor::full({1}, 2.5).item() == 2.5);
  REQUIRE_THROWS_WITH(t.item(), Contains("only one-element tensors"));
}

TEST_CASE("tensor: channel views write into the parent buffer", "[tensor]") {
  // (N=2, C=5, D=1, H=2, W=3): the dense blocks' concatenation buffer in miniature.
  Tensor buf = Tensor::zeros({2, 5, 1, 2, 3});
  Tensor slice = buf.narrow(1, 1, 2);
  REQUIRE(slice.shape() == Shape({2, 2, 1, 2, 3}));
  REQUIRE(slice.shares_storage_with(buf));
  REQUIRE_FALSE(slice.is_contiguous());  // N > 1: two runs with a gap
  REQUIRE(slice.storage_offset() == 6);

  std::vector<float> src(24);
  for (std::size_t i = 0; i < src.size(); ++i) src[i] = static_cast<float>(i + 1);
  slice.copy_(Tensor::from_vector(src, slice.shape()));
  const auto all = buf.to_vector<float>();
  // batch 0, channels 1..2 -> elements 6..17; batch 1 -> 36..47
  for (int i = 0; i < 12; ++i) {
    REQUIRE(all[static_cast<std::size_t>(6 + i)] == src[static_cast<std::size_t>(i)]);
    REQUIRE(all[static_cast<std::size_t>(36 + i)] == src[static_cast<std::size_t>(12 + i)]);
  }
  REQUIRE(all[0] == 0.f);
  REQUIRE(all[18] == 0.f);
  REQUIRE(slice.clone().is_contiguous());
  REQUIRE(slice.clone().to_vector<float>() == src);
  // N = 1: a channel slice is contiguous
  REQUIRE(Tensor::zeros({1, 5, 2, 2, 2}).narrow(1, 2, 3).is_contiguous());
}

TEST_CASE("tensor: narrow and view check their arguments", "[tensor]") {
  Tensor t = Tensor::zeros({2, 4, 3});
  REQUIRE_THROWS_WITH(t.narrow(1, 3, 2), Contains("outside dimension 1 of size 4"));
  REQUIRE_THROWS_WITH(t.narrow(5, 0, 1), Contains("dimension 5 of a 3-d tensor"));
  REQUIRE(t.view({24}).numel() == 24);
  REQUIRE_THROWS_WITH(t.view({5, 5}), Contains("has 25 elements"));
  REQUIRE_THROWS_WITH(t.narrow(1, 0, 2).view({12}), Contains("non-contiguous"));
}

TEST_CASE("tensor: to() on the same device shares, clone() copies", "[tensor]") {
  Tensor t = Tensor::full({3}, 1.0);
  REQUIRE(t.to(Device::cpu()).shares_storage_with(t));
  Tensor c = t.clone();
  REQUIRE_FALSE(c.shares_storage_with(t));
  c.data<float>()[0] = 7;
  REQUIRE(t.to_vector<float>()[0] == 1.f);
  REQUIRE_THROWS_WITH(t.data<double>(), Contains("holds float32"));
}

TEST_CASE("device: parsing and the reason CUDA is unavailable", "[device]") {
  REQUIRE(Device::parse("cpu") == Device::cpu());
  REQUIRE_THROWS_WITH(Device::parse("tpu"), Contains("expected cpu, cuda or cuda:N"));
  REQUIRE_THROWS_WITH(Device::parse("cuda:x"), Contains("expected cpu, cuda or cuda:N"));
  if (cuda_device_count() == 0) {
    REQUIRE_FALSE(cuda_unavailable_reason().empty());
    REQUIRE_THROWS_WITH(Device::cuda(0), Contains("no CUDA device is usable"));
    REQUIRE_THROWS_WITH(Device::parse("cuda"), Contains(cuda_unavailable_reason()));
  } else {
    REQUIRE_THROWS_WITH(Device::cuda(cuda_device_count()), Contains("device(s) exist"));
  }
}

TEST_CASE("memory: pinned host buffers need CUDA and say so", "[memory]") {
  if (cuda_device_count() == 0) {
    REQUIRE_THROWS_WITH(PinnedBuffer(1024), Contains("pinned host memory needs CUDA"));
  } else {
    PinnedBuffer b(1024);
    REQUIRE(b.data() != nullptr);
    PinnedBuffer moved(std::move(b));
    REQUIRE(moved.bytes() == 1024);
    REQUIRE(b.data() == nullptr);
  }
}

TEST_CASE("tensor: a borrowed storage views outside memory and releases it with its last view",
          "[tensor]") {
  std::vector<float> outside(12);
  for (std::size_t i = 0; i < outside.size(); ++i) outside[i] = float(i);
  int released = 0;
  {
    auto s = Storage::borrow(outside.data(), outside.size() * sizeof(float), Device::cpu(),
                             [&released] { ++released; });
    REQUIRE(s->borrowed());
    // A transposed 3x4 view of the 4x3 row-major buffer: strides (1, 3).
    Tensor t = Tensor::from_storage(s, Shape{3, 4}, Shape{1, 3}, 0, DType::f32);
    s.reset();
    REQUIRE(t.raw_data() == outside.data());
    REQUIRE(kernels::contiguous(t).to_vector<float>() ==
            std::vector<float>{0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11});
    Tensor view = t.narrow(0, 1, 2);
    t = Tensor();
    REQUIRE(released == 0);  // a view still holds it
    outside[4] = -1;         // no copy: the view sees the owner's writes
    REQUIRE(kernels::contiguous(view).to_vector<float>()[1] == -1);
  }
  REQUIRE(released == 1);
  auto s = Storage::borrow(outside.data(), 8 * sizeof(float), Device::cpu(), {});
  REQUIRE_THROWS_WITH(Tensor::from_storage(s, Shape{3, 3}, Shape{3, 1}, 0, DType::f32),
                      Contains("reaches element 8 of a storage of 8"));
}

TEST_CASE("tensor: sole_owner is true only while no other handle, view or owner reaches the memory",
          "[tensor]") {
  Tensor t = Tensor::zeros({4, 3});
  CHECK(t.sole_owner());
  {
    const Tensor copy = t;  // another handle
    CHECK_FALSE(t.sole_owner());
  }
  CHECK(t.sole_owner());
  {
    const Tensor view = t.narrow(0, 1, 2);  // another tensor over the same storage
    CHECK_FALSE(t.sole_owner());
    CHECK_FALSE(view.sole_owner());
  }
  CHECK(t.sole_owner());
  std::vector<float> outside(6, 1.f);
  const Tensor borrowed = Tensor::from_storage(
      Storage::borrow(outside.data(), outside.size() * sizeof(float), Device::cpu(), {}), {6}, {1},
      0, DType::f32);
  CHECK_FALSE(borrowed.sole_owner());  // someone else's memory
  CHECK_FALSE(Tensor().sole_owner());
}
