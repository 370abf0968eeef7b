// `ddnet denoise`: a trained checkpoint over whole scans, from the HDF5 dataset (scored against
// the standard dose, with PNG figures) or from a scan file in any format the importer reads.
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include "data/dataset.h"
#include "data/prepare.h"
#include "data/scan_io.h"
#include "engine/error.h"
#include "graph/arena.h"
#include "models/checkpoint.h"
#include "models/denoise.h"
#include "models/train.h"
#include "tools/commands.h"
#include "tools/png.h"

namespace ddnet::tools {

namespace {

struct DenoiseArgs {
  std::string checkpoint, dataset, split = "test", scan, input, output, out = "denoised";
  std::string device = "cpu", format = "mha", model, normalise;
  std::int64_t chunk_slices = 0, png_slice = -1;
  double level = 40, width = 400, diff_scale = 100;
};

nlohmann::json scores_json(const models::Scores& s) {
  return {{"mse", s.mse}, {"psnr_db", s.psnr}, {"msssim", s.msssim}, {"rmse_hu", s.rmse_hu}};
}

void figures(const DenoiseArgs& a, const std::string& name, const data::Volume& low,
             const data::Volume& full, const std::vector<float>& den) {
  const std::int64_t k =
      a.png_slice >= 0 ? std::min(a.png_slice, full.slices - 1) : full.slices / 2;
  const std::int64_t n = full.slice_size(), rows = full.rows, cols = full.cols;
  const float* l = low.slice(k);
  const float* f = full.slice(k);
  const float* d = den.data() + k * n;
  const std::string base = detail::concat(a.out, "/", name, "_slice", k);
  const auto wl = window_hu(l, n, a.level, a.width), wf = window_hu(f, n, a.level, a.width),
             wd = window_hu(d, n, a.level, a.width);
  const auto dl = difference_map(l, f, n, a.diff_scale), dd = difference_map(d, f, n, a.diff_scale);
  write_png(base + "_low_dose.png", wl.data(), rows, cols);
  write_png(base + "_standard_dose.png", wf.data(), rows, cols);
  write_png(base + "_denoised.png", wd.data(), rows, cols);
  write_png(base + "_diff_low_dose.png", dl.data(), rows, cols);
  write_png(base + "_diff_denoised.png", dd.data(), rows, cols);
  const auto top = montage({wl, wf, wd}, rows, cols);
  write_png(base + "_montage.png", top.data(), rows, 3 * cols + 8);
  const auto diffs = montage({dl, dd}, rows, cols);
  write_png(base + "_diff_montage.png", diffs.data(), rows, 2 * cols + 4);
  std::cerr << "denoise: figures " << base << "_*.png (window level " << a.level << ", width "
            << a.width << " HU; differences 0.." << a.diff_scale << " HU)\n";
}

int run(const DenoiseArgs& a) {
  const std::string config = models::read_checkpoint_config(a.checkpoint);
  models::TrainConfig tc;
  if (!config.empty()) tc = models::TrainConfig::from_json(config, a.checkpoint + ": config");
  if (!a.model.empty()) tc.model = a.model;  // bare weights (published, converted) carry no config
  if (!a.normalise.empty()) tc.normalise = a.normalise;
  DDNET_CHECK(tc.model == "2d" || tc.model == "3d", "--model '", tc.model, "': expected 2d or 3d");
  models::DDnet net({tc.model == "2d" ? 2 : 3, kernels::UpsampleMode::linear, 0, tc.residual});
  models::load_checkpoint(a.checkpoint, net, nullptr);
  models::DenoiseOptions o;
  o.normalise = tc.normalise;
  o.window_lo = tc.window_lo;
  o.window_hi = tc.window_hi;
  o.chunk_slices = a.chunk_slices;
  o.device = Device::parse(a.device);
  // Parameters into one arena on the device, buffers (BatchNorm statistics) beside them.
  const nn::Arena arena = nn::pack_parameters(net, o.device);
  for (const auto& b : net.named_buffers())
    if (b.tensor->dtype() == DType::f32) *b.tensor = b.tensor->to(o.device);

  if (!a.input.empty()) {  // one scan file -> one scan file
    DDNET_CHECK(!a.output.empty(), "--input needs --output (the denoised scan's path)");
    const data::Volume in = data::read_any_scan(a.input);
    data::Volume out = in;
    out.voxels = models::denoise_volume(net, in.voxels.data(), in.slices, in.rows, in.cols, o);
    data::write_scan(out, a.output);
    std::cerr << "denoise: " << a.input << " -> " << a.output << "\n";
    return 0;
  }

  DDNET_CHECK(!a.dataset.empty(), "give --dataset (with --split or --scan) or --input/--output");
  const data::Dataset ds = data::Dataset::open(a.dataset);
  std::vector<std::size_t> which;
  if (!a.scan.empty()) {
    for (std::size_t i = 0; i < ds.scans().size(); ++i)
      if (ds.scans()[i].name == a.scan) which.push_back(i);
    DDNET_CHECK(!which.empty(), a.dataset, ": no scan named '", a.scan, "'");
  } else {
    which = ds.scans_in(data::parse_split(a.split));
    DDNET_CHECK(!which.empty(), a.dataset, ": no scans in the '", a.split, "' split");
  }
  std::filesystem::create_directories(a.out);
  nlohmann::json report = nlohmann::json::object();
  for (const std::size_t i : which) {
    const data::ScanInfo& info = ds.scans()[i];
    DDNET_CHECK(info.has_ldct, a.dataset, ": scan '", info.name, "' has no ldct to denoise");
    const data::Volume low = ds.read(i, true), full = ds.read(i, false);
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<float> den =
        models::denoise_volume(net, low.voxels.data(), low.slices, low.rows, low.cols, o);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const auto before =
        models::score_volume(low.voxels.data(), full.voxels.data(), low.slices, low.rows, low.cols);
    const auto after =
        models::score_volume(den.data(), full.voxels.data(), low.slices, low.rows, low.cols);
    std::printf("%s (%lld slices of %lldx%lld, %.1f s):\n", info.name.c_str(),
                static_cast<long long>(low.slices), static_cast<long long>(low.rows),
                static_cast<long long>(low.cols), secs);
    std::printf("  %-28s %10s %10s %10s %10s\n", "", "MSE", "PSNR dB", "MS-SSIM", "RMSE HU");
    std::printf("  %-28s %10.6f %10.3f %10.5f %10.2f\n", "low dose vs standard", before.mse,
                before.psnr, before.msssim, before.rmse_hu);
    std::printf("  %-28s %10.6f %10.3f %10.5f %10.2f\n", "denoised vs standard", after.mse,
                after.psnr, after.msssim, after.rmse_hu);
    report[info.name] = {{"before", scores_json(before)},
                         {"after", scores_json(after)},
                         {"slices", low.slices},
                         {"seconds", secs}};
    if (data::have_itk()) {
      data::Volume out = low;
      out.voxels = den;
      out.source = "ddnet denoise " + a.checkpoint;
      data::write_scan(out, detail::concat(a.out, "/", info.name, "_denoised.", a.format));
    }
    figures(a, info.name, low, full, den);
  }
  const std::string path = a.out + "/scores.json";
  std::FILE* f = std::fopen((path + ".tmp").c_str(), "w");
  DDNET_CHECK(f != nullptr, "cannot write ", path);
  const std::string text = report.dump(2) + "\n";
  std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
  std::filesystem::rename(path + ".tmp", path);
  std::cerr << "denoise: scores in " << path << "\n";
  return 0;
}

}  // namespace

Command add_denoise(CLI::App& app) {
  auto a = std::make_shared<DenoiseArgs>();
  auto* cmd = app.add_subcommand(
      "denoise",
      "Denoise scans with a trained checkpoint: a dataset split (scored, with PNG "
      "figures) or one scan file");
  cmd->add_option("--checkpoint", a->checkpoint, "Trained weights (final.h5 of ddnet train)")
      ->required();
  cmd->add_option("--model", a->model,
                  "2d or 3d, for weights without a training configuration (default: from the "
                  "checkpoint, else 3d)");
  cmd->add_option("--normalise", a->normalise,
                  "minmax or window (default: as the checkpoint was trained, else minmax)");
  cmd->add_option("--dataset", a->dataset, "HDF5 dataset (ddnet prepare)");
  cmd->add_option("--split", a->split, "Split of the dataset to denoise")->capture_default_str();
  cmd->add_option("--scan", a->scan, "One scan of the dataset, by name");
  cmd->add_option("--input", a->input, "A scan file or folder (any importer format)");
  cmd->add_option("--output", a->output, "Where --input's denoised scan goes (format by name)");
  cmd->add_option("--out", a->out, "Output folder (dataset mode)")->capture_default_str();
  cmd->add_option("--format", a->format,
                  "Denoised volumes' format in dataset mode (mha, nii.gz, nrrd)")
      ->capture_default_str();
  cmd->add_option("--device", a->device, "cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_option("--chunk-slices", a->chunk_slices,
                  "3D: slices per forward pass (0: whole volume)")
      ->capture_default_str();
  cmd->add_option("--png-slice", a->png_slice, "Slice shown in the figures (-1: the middle)");
  cmd->add_option("--level", a->level, "Figure window level (HU)")->capture_default_str();
  cmd->add_option("--width", a->width, "Figure window width (HU)")->capture_default_str();
  cmd->add_option("--diff-scale", a->diff_scale, "HU shown white in difference maps")
      ->capture_default_str();
  return {cmd, [a] { return run(*a); }};
}

}  // namespace ddnet::tools
