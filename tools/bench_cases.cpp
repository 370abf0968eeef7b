// The catalogue of `ddnet bench` (tools/bench_cases.h). The shapes are those of the Google
// Benchmark suites in bench/ (their napkin math is in bench/README.md); the PyTorch side runs the
// same shapes (bench/torch/bench_server.py).
#include "tools/bench_cases.h"

#include <algorithm>

#include "engine/error.h"

namespace ddnet::tools {

namespace {

constexpr double kVox = 32.0 * 256 * 256;          // elementwise/reduce: one 32x256x256 sample
constexpr double kUpIn = 16.0 * 16 * 128 * 128;    // upsample input, 1x16x16x128x128
constexpr double kPoolIn = 16.0 * 32 * 256 * 256;  // pool input, 1x16x32x256x256
constexpr double kBn = 32.0 * 32 * 128 * 128;      // batch norm, 1x32x32x128x128
constexpr double kConvVox = 32.0 * 64 * 64;        // conv output voxels, 1xCx32x64x64
constexpr double kMs = 32.0 * 256 * 256;           // MS-SSIM volume, 1x1x32x256x256

std::vector<BenchCase> make_cases() {
  std::vector<BenchCase> c;
  auto add = [&](BenchCase b) {
    if (b.torch == "-")
      b.torch.clear();
    else if (b.torch.empty())
      b.torch = b.id;
    c.push_back(std::move(b));
  };
  // kernels: bandwidth-bound, read against the copy bandwidth
  add({"add", "kernels", "add y = a + b, 32x256x256", "bench_elementwise", "BM_add/cpu",
       "BM_add/cuda/manual_time", "", 3 * 4 * kVox, kVox, "2 reads + 1 write of 4 B; 1 FLOP each"});
  add({"leaky_relu", "kernels", "LeakyReLU, 32x256x256", "bench_elementwise", "BM_leaky_relu/cpu",
       "BM_leaky_relu/cuda/manual_time", "", 2 * 4 * kVox, kVox, "1 read + 1 write; 1 FLOP each"});
  add({"sum", "kernels", "sum, 32x256x256", "bench_reduce", "BM_sum/cpu", "BM_sum/cuda/manual_time",
       "", 4 * kVox, kVox, "1 read; 1 add each"});
  add({"copy_into_channel_slice", "kernels", "copy 2x16x16x64x64 into a channel slice",
       "bench_copy", "BM_copy_into_channel_slice/cpu",
       "BM_copy_into_channel_slice/cuda/manual_time", "", 2 * 4 * (2.0 * 16 * 16 * 64 * 64), 0,
       "1 read + 1 write"});
  add({"upsample_trilinear_fwd", "kernels", "trilinear x2 (align corners) 1x16x16x128^2 forward",
       "bench_upsample", "BM_upsample_fwd/cpu/real_time", "BM_upsample_fwd/cuda/manual_time", "",
       4 * 9 * kUpIn, 8 * kUpIn * 21,
       "input read once, 8x output written once; 7 lerps (21 FLOP) per output"});
  add({"upsample_trilinear_bwd", "kernels", "trilinear x2 backward", "bench_upsample",
       "BM_upsample_bwd/cpu/real_time", "BM_upsample_bwd/cuda/manual_time", "", 4 * 9 * kUpIn,
       8 * kUpIn * 21, "dy read once, dx written once; 21 FLOP per dy element"});
  add({"upsample_nearest_fwd", "kernels", "nearest x2 1x16x16x128^2 forward", "bench_upsample",
       "BM_upsample_fwd/nearest_cpu/real_time", "BM_upsample_fwd/nearest_cuda/manual_time", "",
       4 * 9 * kUpIn, 0, "input read once, 8x output written once"});
  add({"upsample_nearest_bwd", "kernels", "nearest x2 backward", "bench_upsample",
       "BM_upsample_bwd/nearest_cpu/real_time", "BM_upsample_bwd/nearest_cuda/manual_time", "",
       4 * 9 * kUpIn, 8 * kUpIn, "dy read once, dx written once; 1 add per dy element"});
  add({"concat", "kernels", "dense concatenation of 5 x 1x16x16x128^2", "bench_concat",
       "BM_concat_kernel/cpu/real_time", "BM_concat_kernel/cuda/manual_time", "",
       2 * 4 * 5 * (16.0 * 16 * 128 * 128), 0, "every part read once, the buffer written once"});
  // layers
  add({"max_pool_fwd", "layers", "max-pool 3/2/1 of 1x16x32x256^2 (with argmax)", "bench_pool",
       "BM_max_pool_fwd/cpu/real_time", "BM_max_pool_fwd/cuda/manual_time", "",
       4 * kPoolIn + 8 * kPoolIn / 8, 27 * kPoolIn / 8,
       "input read once, value + argmax written; 27 compares per output"});
  add({"max_pool_bwd", "layers", "max-pool 3/2/1 backward", "bench_pool",
       "BM_max_pool_bwd/cpu/real_time", "BM_max_pool_bwd/cuda/manual_time", "",
       4 * kPoolIn + 8 * kPoolIn / 8, kPoolIn / 8, "dy + argmax read, dx written"});
  add({"batch_norm_fwd_train", "layers", "batch norm (train) 1x32x32x128^2 forward",
       "bench_batchnorm", "BM_batch_norm_forward_train/cpu/real_time",
       "BM_batch_norm_forward_train/cuda/manual_time", "", 3 * 4 * kBn, 5 * kBn,
       "x read twice (statistics, normalise), y written; ~5 FLOP per element"});
  add({"batch_norm_fwd_bwd_train", "layers", "batch norm (train) forward + backward",
       "bench_batchnorm", "BM_batch_norm_forward_backward_train/cpu/real_time",
       "BM_batch_norm_forward_backward_train/cuda/manual_time", "", 8 * 4 * kBn, 13 * kBn,
       "forward 3 passes, backward x, dy read twice and dx written; ~13 FLOP per element"});
  const double conv_flops = 2.0 * 64 * 16 * 125 * kConvVox;  // = 2 x 32 x 32 x 125 x voxels
  add({"conv3d_64_16_fwd", "layers", "Conv3d 64->16, 5^3, 1x64x32x64^2 forward", "bench_conv",
       "conv/conv3d_64_16_fwd_cpu/real_time", "conv/conv3d_64_16_fwd_cuda/manual_time", "",
       4 * (64 + 16) * kConvVox, conv_flops, "x read, y written once; 2 FLOP per MAC"});
  add({"conv3d_64_16_fwd_bwd", "layers", "Conv3d 64->16 forward + backward (dx, dw, db)",
       "bench_conv", "conv/conv3d_64_16_fwd_bwd_cpu/real_time",
       "conv/conv3d_64_16_fwd_bwd_cuda/manual_time", "", 3 * 4 * (64 + 16) * kConvVox,
       3 * conv_flops, "3 convolutions' worth"});
  add({"convT3d_32_32_fwd", "layers", "ConvTranspose3d 32->32, 5^3, 1x32x32x64^2 forward",
       "bench_conv", "conv/convT3d_32_32_fwd_cpu/real_time",
       "conv/convT3d_32_32_fwd_cuda/manual_time", "", 4 * (32 + 32) * kConvVox, conv_flops,
       "x read, y written once; 2 FLOP per MAC"});
  add({"convT3d_32_32_fwd_bwd", "layers", "ConvTranspose3d 32->32 forward + backward", "bench_conv",
       "conv/convT3d_32_32_fwd_bwd_cpu/real_time", "conv/convT3d_32_32_fwd_bwd_cuda/manual_time",
       "", 3 * 4 * (32 + 32) * kConvVox, 3 * conv_flops, "3 convolutions' worth"});
  // loss: ours (fused, separable windows) against the published formula and a separable one
  const double ms_fwd = 420 * kMs;  // 5 maps x 3 x 11 taps x 2 FLOP x 1.14 (scales) + maps
  const std::string ms_note =
      "ours' work: 5 maps x 3 separable 11-tap passes x 2 FLOP x 1.14 (4 scales), ~420 FLOP per "
      "voxel forward, ~2.5x that with backward; inputs read once";
  add({"msssim_fwd_vs_published", "loss", "MS-SSIM 1x1x32x256^2 forward, vs the published formula",
       "bench_msssim", "msssim/fwd_cpu_32x256x256/real_time", "", "msssim_published_fwd",
       2 * 4 * kMs, ms_fwd, ms_note});
  add({"msssim_fwd_bwd_vs_published", "loss",
       "MS-SSIM forward + backward, vs the published formula", "bench_msssim",
       "msssim/fwd_bwd_cpu_32x256x256/real_time", "", "msssim_published_fwd_bwd", 3 * 4 * kMs,
       2.5 * ms_fwd, ms_note});
  add({"msssim_fwd_vs_separable", "loss", "MS-SSIM forward, vs a separable PyTorch version",
       "bench_msssim", "msssim/fwd_cpu_32x256x256/real_time", "", "msssim_separable_fwd",
       2 * 4 * kMs, ms_fwd, ms_note});
  add({"msssim_fwd_bwd_vs_separable", "loss",
       "MS-SSIM forward + backward, vs a separable PyTorch version", "bench_msssim",
       "msssim/fwd_bwd_cpu_32x256x256/real_time", "", "msssim_separable_fwd_bwd", 3 * 4 * kMs,
       2.5 * ms_fwd, ms_note});
  // step: the whole network
  add({"ddnet3d_step", "step", "3D-DDnet training step 1x1x16x64^2 (forward, loss, backward, Adam)",
       "bench_ddnet_step", "step/cpu/16/64/iterations:3/real_time", "step/cuda/16/64/real_time", "",
       0, 3 * 2 * 226613.0 * 16 * 64 * 64,
       "226,613 MACs per voxel forward (REFERENCE.md), x2 FLOP, x3 with backward"});
  add({"ddnet3d_denoise", "step", "3D-DDnet denoise forward 1x1x32x64^2 (eval, no tiles)",
       "bench_denoise", "denoise/cpu3d/32/64/0/iterations:1/real_time", "", "", 0,
       2 * 226613.0 * 32 * 64 * 64, "226,613 MACs per voxel, x2 FLOP"});
  return c;
}

}  // namespace

const std::vector<BenchCase>& bench_cases() {
  static const std::vector<BenchCase> cases = make_cases();
  return cases;
}

std::vector<BenchCase> select_bench_cases(const std::string& suite,
                                          const std::vector<std::string>& only) {
  static const std::vector<std::string> suites{"kernels", "layers", "loss", "step", "all"};
  DDNET_CHECK(std::find(suites.begin(), suites.end(), suite) != suites.end(), "--suite ", suite,
              ": expected kernels, layers, loss, step or all");
  std::vector<BenchCase> out;
  for (const BenchCase& b : bench_cases())
    if ((suite == "all" || b.suite == suite) &&
        (only.empty() || std::find(only.begin(), only.end(), b.id) != only.end()))
      out.push_back(b);
  for (const std::string& id : only) {
    const bool known = std::any_of(bench_cases().begin(), bench_cases().end(),
                                   [&](const BenchCase& b) { return b.id == id; });
    DDNET_CHECK(known, "--cases ", id, ": no such case (`ddnet bench --list` lists them)");
  }
  DDNET_CHECK(!out.empty(), "no case of suite ", suite, " is among --cases");
  return out;
}

bool gpu_datasheet(const std::string& name, double* fp32_flops, double* bytes_per_s,
                   std::string* source) {
  struct Sheet {
    const char* key;
    double tflops, tbps;
    const char* source;
  };
  // FP32 on the CUDA cores (no TF32: ddnet computes in fp32), HBM bandwidth.
  static const Sheet sheets[] = {
      {"H200", 66.9, 4.8, "NVIDIA H200 SXM datasheet: 67 TFLOP/s FP32, 4.8 TB/s"},
      {"H100 PCIe", 51.2, 2.0, "NVIDIA H100 PCIe datasheet: 51 TFLOP/s FP32, 2.0 TB/s"},
      {"H100", 66.9, 3.35, "NVIDIA H100 SXM datasheet: 67 TFLOP/s FP32, 3.35 TB/s"},
      {"A100", 19.5, 2.0, "NVIDIA A100 80GB SXM datasheet: 19.5 TFLOP/s FP32, 2.0 TB/s"},
  };
  for (const Sheet& s : sheets)
    if (name.find(s.key) != std::string::npos) {
      *fp32_flops = s.tflops * 1e12;
      *bytes_per_s = s.tbps * 1e12;
      *source = s.source;
      return true;
    }
  return false;
}

}  // namespace ddnet::tools
