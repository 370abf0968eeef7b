// 2D-DDnet / 3D-DDnet: registration in the published code's order (so state_dict order matches
// too) and the forward pass.
#include "models/ddnet.h"

#include <string>

#include "engine/autograd.h"
#include "layers/functional.h"
#include "layers/pool_autograd.h"

namespace ddnet::models {

namespace {
constexpr std::int64_t kFilters = 16;
constexpr int kDenseLayers = 4;
Tensor lrelu(const Tensor& x) {
  return F::leaky_relu(x, 0.01);
}
}  // namespace

DenseBlock::DenseBlock(int dims, std::int64_t channels, int kernel, Generator& gen, bool lean)
    : dims_(dims), lean_(lean), channels_(channels) {
  for (int i = 0; i < kDenseLayers; ++i) {
    const std::int64_t in = channels * (i + 1);
    conv1_.push_back(
        &register_module("conv1_" + std::to_string(i),
                         std::make_unique<nn::Conv>(dims, in, channels * 4, 1, 0, gen)));
    conv2_.push_back(&register_module(
        "conv2_" + std::to_string(i),
        std::make_unique<nn::Conv>(dims, channels * 4, channels, kernel, kernel / 2, gen)));
  }
  for (int i = 0; i < kDenseLayers; ++i) {
    bn1_.push_back(&register_module("batch_norm1_" + std::to_string(i),
                                    std::make_unique<nn::BatchNorm>(channels * (i + 1))));
    bn2_.push_back(&register_module("batch_norm2_" + std::to_string(i),
                                    std::make_unique<nn::BatchNorm>(channels * 4)));
  }
}

Tensor DenseBlock::forward(const Tensor& x) {
  DDNET_CHECK(x.dim() == dims_ + 2 && x.size(1) == channels_, "DenseBlock: input ", x.shape().str(),
              " should have ", channels_, " channels and ", dims_, " spatial dimensions");
  Shape s = x.shape();
  s[1] = channels_ * (kDenseLayers + 1);
  Tensor buf = Tensor::empty(s, x.device(), x.dtype());
  std::vector<Tensor> slices = {F::copy_into(x, buf.narrow(1, 0, channels_))};
  for (int i = 0; i < kDenseLayers; ++i) {
    const Tensor in = F::concat(slices);  // a view of the slices written so far
    const auto k = static_cast<std::size_t>(i);
    // Lean: one entry keeps `in` (a view of the buffer) and the statistics, not the
    // bottleneck's 64 channels. The new features go straight into their slice (no separate
    // LeakyReLU output kept).
    const Tensor pre =
        nn::bottleneck_conv(*bn1_[k], *conv1_[k], 0.01, *bn2_[k], *conv2_[k], in, lean_);
    slices.push_back(F::leaky_relu_into(pre, buf.narrow(1, channels_ * (i + 1), channels_), 0.01));
  }
  return F::concat(slices);
}

DDnet::DDnet(const DDnetOptions& o) : o_(o) {
  DDNET_CHECK(o.dims == 2 || o.dims == 3, "DDnet: dims must be 2 or 3, got ", o.dims);
  DDNET_CHECK(o.recompute_from_level >= 0 && o.recompute_from_level <= 4,
              "DDnet: recompute_from_level must be 0 (off) or a level from 1 to 4, got ",
              o.recompute_from_level);
  Generator gen(o.seed);
  const int d = o.dims;
  const std::int64_t f = kFilters, wide = kFilters * (kDenseLayers + 1);
  conv_[1] = &register_module("conv1", std::make_unique<nn::Conv>(d, 1, f, 7, 3, gen));
  dnet_[1] = &register_module("dnet1", std::make_unique<DenseBlock>(d, f, 5, gen, o.lean));
  for (int i = 2; i <= 5; ++i) {
    conv_[i] = &register_module("conv" + std::to_string(i),
                                std::make_unique<nn::Conv>(d, wide, f, 1, 0, gen));
    if (i <= 4)
      dnet_[i] = &register_module("dnet" + std::to_string(i),
                                  std::make_unique<DenseBlock>(d, f, 5, gen, o.lean));
  }
  for (int i = 1; i <= 8; ++i) {
    const bool wide_kernel =
        i % 2 == 1;  // convT1, 3, 5, 7: 5x5(x5), 32 -> 32; convT2, 4, 6: 1x1, 32 -> 16
    const std::int64_t out = i == 8 ? 1 : (wide_kernel ? 2 * f : f);
    convT_[i] = &register_module(
        "convT" + std::to_string(i),
        std::make_unique<nn::Conv>(d, 2 * f, out, wide_kernel ? 5 : 1, wide_kernel ? 2 : 0, gen,
                                   /*transpose=*/true));
  }
  const std::int64_t bn_channels[14] = {0,     1,     wide,  wide,  wide,  wide,  2 * f,
                                        2 * f, 2 * f, 2 * f, 2 * f, 2 * f, 2 * f, 2 * f};
  for (int i = 1; i <= 13; ++i)
    batch_[i] = &register_module("batch" + std::to_string(i),
                                 std::make_unique<nn::BatchNorm>(bn_channels[i]));
  if (o.residual) {  // the identity at the start: the last layer adds nothing yet
    convT_[8]->weight.zero_();
    convT_[8]->bias.zero_();
  }
}

Tensor DDnet::forward(const Tensor& x) {
  DDNET_CHECK(x.dim() == o_.dims + 2 && x.size(1) == 1, "DDnet", o_.dims, "D: input ",
              x.shape().str(), " should be (N, 1, ", o_.dims == 3 ? "D, " : "", "H, W)");
  for (int a = 2; a < x.dim(); ++a)
    DDNET_CHECK(x.size(a) % 16 == 0, "DDnet: spatial size ", x.size(a), " (axis ", a,
                ") must be divisible by 16 (four 2x poolings and upsamplings)");
  const Tensor c0 = skip_output(bn_conv(batch_[1], conv_[1], x));
  const Tensor h = decoder_stage(0, level(1, c0), c0);
  return o_.residual ? F::add(x, h) : h;
}

Tensor DDnet::bn_conv(nn::BatchNorm* bn, nn::Conv* conv, const Tensor& t) {
  return nn::batch_norm_conv(*bn, *conv, t, o_.lean);
}

Tensor DDnet::encoder_level(int l, const Tensor& above) {
  // The skip is a channel slice: contiguous for one volume, copied for the pooling when the
  // batch has more (the copy is freed once pooled).
  const Tensor pooled = F::max_pool(F::contiguous(above), 3, 2, 1);
  const Tensor pre = bn_conv(batch_[l + 1], conv_[l + 1], dnet_[l]->forward(pooled));
  return l == 4 ? lrelu(pre) : skip_output(pre);
}

Tensor DDnet::skip_output(const Tensor& pre) {
  Shape s = pre.shape();
  s[1] = 2 * kFilters;
  const Tensor buffer = Tensor::empty(s, pre.device(), pre.dtype());
  return F::leaky_relu_into(pre, buffer.narrow(1, kFilters, kFilters), 0.01);
}

Tensor DDnet::decoder_stage(int l, const Tensor& from_below, const Tensor& skip) {
  const int stage = 3 - l;  // stage 0 works at level 3, stage 3 at full resolution
  DDNET_CHECK(skip.size(1) == kFilters && skip.storage_offset() >= kFilters * skip.stride(1),
              "DDnet: the skip of level ", l, " is not in a decoder buffer (skip_output)");
  const Tensor first_half = skip.as_strided(skip.shape(), skip.strides(),
                                            skip.storage_offset() - kFilters * skip.stride(1));
  const bool align = o_.up == kernels::UpsampleMode::linear;
  const Tensor up = upsample_into_
                        ? upsample_into_(from_below, first_half, o_.up, align)
                        : F::copy_into(F::upsample(from_below, 2, o_.up, align), first_half);
  DDNET_CHECK(
      up.shares_storage_with(first_half) && up.storage_offset() == first_half.storage_offset(),
      "DDnet: the upsample-into override must return its destination (the first half of ",
      "the decoder buffer), got ", up.str());
  const Tensor cat = F::concat({up, skip});  // adjacent halves of one buffer: a view
  const Tensor wide = lrelu(bn_conv(batch_[6 + 2 * stage], convT_[2 * stage + 1], cat));
  const Tensor h = bn_conv(batch_[7 + 2 * stage], convT_[2 * stage + 2], wide);
  return o_.residual && stage == 3 ? h : lrelu(h);
}

Tensor DDnet::level(int l, const Tensor& above) {
  if (l != o_.recompute_from_level) return level_body(l, above);
  return checkpoint_segment(
      "ddnet_levels", [this, l](const std::vector<Tensor>& in) { return level_body(l, in[0]); },
      {above}, level_parameters(l));
}

Tensor DDnet::level_body(int l, const Tensor& above) {
  const Tensor c = encoder_level(l, above);
  return l == 4 ? c : decoder_stage(l, level(l + 1, c), c);
}

std::vector<Tensor> DDnet::level_parameters(int from) {
  std::vector<nn::Module*> modules;
  for (int l = from; l <= 4; ++l) {
    modules.insert(modules.end(), {dnet_[l], batch_[l + 1], conv_[l + 1]});
    if (l == 4) break;
    const int stage = 3 - l;
    modules.insert(modules.end(), {batch_[6 + 2 * stage], convT_[2 * stage + 1],
                                   batch_[7 + 2 * stage], convT_[2 * stage + 2]});
  }
  std::vector<Tensor> params;
  for (nn::Module* m : modules)
    for (const nn::Named& p : m->named_parameters()) params.push_back(*p.tensor);
  return params;
}

}  // namespace ddnet::models
