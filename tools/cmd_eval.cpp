// `ddnet eval`: one or more trained checkpoints (2D and 3D) over a test split, every slice
// scored like the thesis does (§3.2), with the identity baseline, a Table 4.1-like summary, the
// thesis's figures, loss curves and one HTML page (tools/report.h).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <set>

#include "data/dataset.h"
#include "engine/error.h"
#include "models/denoise.h"
#include "models/metrics.h"
#include "tools/commands.h"
#include "tools/model_load.h"
#include "tools/report.h"

namespace ddnet::tools {

namespace {

struct EvalArgs {
  std::vector<std::string> checkpoints, labels, scans;
  std::string dataset, split = "test", out = "eval", device = "cpu";
  std::int64_t figure_slice = -1, figures = 4;
  double level = 40, width = 400, diff_scale = 100;
  bool allow_external = false;
  TilingArgs tiling;
};

std::string default_label(const LoadedModel& m, const std::set<std::string>& taken) {
  std::string base = m.config.model == "2d" ? "2D-DDnet" : "3D-DDnet";
  if (m.has_config && m.config.model == "3d" && !m.config.donor.empty()) base += "-TL";
  std::string label = base;
  // Two runs of one kind: name them by their folder.
  if (taken.count(label)) {
    const auto dir = std::filesystem::path(m.path).parent_path().filename().string();
    label = base + " (" + (dir.empty() ? m.path : dir) + ")";
  }
  return label;
}

int run(const EvalArgs& a) {
  DDNET_CHECK(!a.checkpoints.empty(), "eval: give at least one --checkpoint");
  DDNET_CHECK(a.labels.empty() || a.labels.size() == a.checkpoints.size(),
              "eval: ", a.labels.size(), " --label(s) for ", a.checkpoints.size(),
              " --checkpoint(s): give one per checkpoint, or none");
  DDNET_CHECK(a.diff_scale > 0 && a.width > 0, "eval: --diff-scale and --width must be positive");
  std::error_code ec;
  DDNET_CHECK(!std::filesystem::exists(a.out, ec) || std::filesystem::is_directory(a.out, ec),
              "eval: --out ", a.out, " exists and is not a folder: give the report's folder");
  const Device device = Device::parse(a.device);
  use_device(device);
  const data::Dataset ds = data::Dataset::open(a.dataset, a.allow_external);
  std::vector<std::size_t> which;
  if (!a.scans.empty()) {
    for (const std::string& name : a.scans) {
      bool found = false;
      for (std::size_t i = 0; i < ds.scans().size(); ++i)
        if (ds.scans()[i].name == name) {
          which.push_back(i);
          found = true;
        }
      DDNET_CHECK(found, a.dataset, ": no scan named '", name, "'");
    }
  } else {
    which = ds.scans_in(data::parse_split(a.split));
    DDNET_CHECK(!which.empty(), a.dataset, ": no scans in the '", a.split, "' split");
  }
  for (const std::size_t i : which)
    DDNET_CHECK(ds.scans()[i].has_ldct, a.dataset, ": scan '", ds.scans()[i].name,
                "' has no low-dose volume (ldct) to denoise");
  // Before any work: MS-SSIM (five 2x levels) scores no slice below 16 x 16 (SSIM: 11 x 11),
  // and a report of NaN scores is no evaluation.
  for (const std::size_t i : which) {
    const data::ScanInfo& si = ds.scans()[i];
    DDNET_CHECK(si.rows >= 16 && si.cols >= 16, a.dataset, ": scan '", si.name, "' has slices of ",
                si.rows, " x ", si.cols,
                ": too small to score (MS-SSIM's five levels need at least 16 x 16); leave it out "
                "(--scan) or evaluate larger scans");
  }

  EvalReport r;
  r.dataset = a.dataset;
  r.split = a.scans.empty() ? a.split : "(chosen scans)";
  r.device = device.str();
  r.level = a.level;
  r.width = a.width;
  r.diff_scale = a.diff_scale;
  std::vector<LoadedModel> loaded;
  std::vector<models::DenoiseOptions> options;
  std::set<std::string> taken;
  for (std::size_t m = 0; m < a.checkpoints.size(); ++m) {
    loaded.push_back(load_model(a.checkpoints[m], "", "", device));
    options.push_back(denoise_options(loaded.back(), device));
    apply_tiling(a.tiling, options.back());
    ModelReport mr;
    mr.checkpoint = a.checkpoints[m];
    mr.config = loaded.back().config;
    mr.has_config = loaded.back().has_config;
    mr.label = a.labels.empty() ? default_label(loaded.back(), taken) : a.labels[m];
    taken.insert(mr.label);
    mr.log = read_training_log(a.checkpoints[m]);
    r.models.push_back(std::move(mr));
  }

  for (const std::size_t i : which)
    for (std::size_t m = 0; m < loaded.size(); ++m)
      check_denoise_memory("eval", loaded[m], options[m], a.tiling,
                           a.dataset + "#" + ds.scans()[i].name, ds.scans()[i].slices,
                           ds.scans()[i].rows, ds.scans()[i].cols);

  for (std::size_t n = 0; n < which.size(); ++n) {
    const std::size_t i = which[n];
    const std::string& name = ds.scans()[i].name;
    r.scans.push_back(name);
    const data::Volume low = ds.read(i, true), full = ds.read(i, false);
    r.baseline[name] =
        models::score_slices(low.voxels.data(), full.voxels.data(), low.slices, low.rows, low.cols);
    const bool figure = static_cast<std::int64_t>(n) < a.figures;
    FigureSet f;
    if (figure) {
      f.scan = name;
      f.slice = a.figure_slice >= 0 ? std::min(a.figure_slice, low.slices - 1) : low.slices / 2;
      f.rows = low.rows;
      f.cols = low.cols;
      f.low.assign(low.slice(f.slice), low.slice(f.slice) + low.slice_size());
      f.standard.assign(full.slice(f.slice), full.slice(f.slice) + full.slice_size());
    }
    for (std::size_t m = 0; m < loaded.size(); ++m) {
      models::DenoiseStats st;
      const std::vector<float> den = models::denoise_volume(
          *loaded[m].net, low.voxels.data(), low.slices, low.rows, low.cols, options[m], &st);
      r.models[m].denoise_seconds += st.seconds;
      r.models[m].scans[name] =
          models::score_slices(den.data(), full.voxels.data(), low.slices, low.rows, low.cols);
      if (figure)
        f.outputs.emplace_back(den.begin() + f.slice * low.slice_size(),
                               den.begin() + (f.slice + 1) * low.slice_size());
      const models::Scores s = models::summarise(r.models[m].scans[name]);
      std::cerr << "eval: " << name << " (" << low.slices << " slices) " << r.models[m].label
                << ": RMSE " << s.rmse_hu.mean << " HU, MS-SSIM " << s.msssim.mean << " ("
                << st.seconds << " s, " << st.grid.count() << " tile(s))\n";
    }
    if (figure) r.figures.push_back(std::move(f));
  }

  const auto files = write_report(r, a.out);
  std::printf("%s", table_markdown(r).c_str());
  std::cerr << "eval: wrote";
  for (const auto& f : files) std::cerr << " " << f;
  std::cerr << "\n";
  return 0;
}

}  // namespace

Command add_eval(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  auto* cmd = app.add_subcommand(
      "eval",
      "Score checkpoints (2D and 3D) on a test split slice by slice, with the low-dose baseline: "
      "a Table 4.1-like summary (markdown, CSV), JSON, figures and an HTML report");
  cmd->add_option("--checkpoint", a->checkpoints, "Trained weights; repeat for several models")
      ->required();
  cmd->add_option("--label", a->labels,
                  "A name per checkpoint, in order (default: 2D-DDnet / 3D-DDnet(-TL))");
  cmd->add_option("--dataset", a->dataset, "HDF5 dataset (ddnet prepare)")->required();
  cmd->add_flag(
      "--allow-external", a->allow_external,
      "Read a dataset whose members are external links, external storage or virtual datasets: "
      "HDF5 then opens the other host files they name. Refused by default; give it only for "
      "files you trust");
  cmd->add_option("--split", a->split, "Split to score")->capture_default_str();
  cmd->add_option("--scan", a->scans, "Score these scans instead of a split (repeatable)");
  cmd->add_option("--out", a->out, "Report folder")->capture_default_str();
  cmd->add_option("--device", a->device, "cpu, cuda or cuda:N")->capture_default_str();
  add_tiling_options(cmd, a->tiling);
  cmd->add_option("--figures", a->figures, "Scans that get figures (the first N)")
      ->capture_default_str();
  cmd->add_option("--figure-slice", a->figure_slice, "Slice shown in figures (-1: the middle)");
  cmd->add_option("--level", a->level, "Figure window level (HU)")->capture_default_str();
  cmd->add_option("--width", a->width, "Figure window width (HU)")->capture_default_str();
  cmd->add_option("--diff-scale", a->diff_scale,
                  "HU at the top of the difference maps' colour scale")
      ->capture_default_str();
  return {cmd, [a] { return run(*a); }};
}

}  // namespace ddnet::tools
