// `ddnet denoise`: a trained checkpoint over whole scans: one scan in any format the importer
// reads (or a scan of our HDF5 dataset) to a scan file in the same or a chosen format, or a
// dataset split, scored against the standard dose, with PNG figures. Volumes of any size run in
// tiles (models/tiling.h).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <utility>

#include "data/dataset.h"
#include "data/path_util.h"
#include "data/prepare.h"
#include "data/scan_io.h"
#include "engine/error.h"
#include "engine/file_sync.h"
#include "engine/interrupt.h"
#include "models/denoise.h"
#include "models/metrics.h"
#include "tools/commands.h"
#include "tools/model_load.h"
#include "tools/output_guard.h"
#include "tools/png.h"

namespace ddnet::tools {

namespace {

namespace fs = std::filesystem;

struct DenoiseArgs {
  std::string checkpoint, dataset, split = "test", scan, input, output, out = "denoised";
  std::string device = "cpu", format, model, normalise, description = "ddnet denoised";
  std::int64_t png_slice = -1;
  double level = 40, width = 400, diff_scale = 100;
  bool allow_external = false;
  TilingArgs tiling;
};

nlohmann::json stat_json(const models::Stat& s) {
  return {{"mean", s.mean}, {"std", s.std}};
}

nlohmann::json scores_json(const models::Scores& s) {
  return {{"mse", stat_json(s.mse)},         {"psnr_db", stat_json(s.psnr)},
          {"ssim", stat_json(s.ssim)},       {"msssim", stat_json(s.msssim)},
          {"rmse_hu", stat_json(s.rmse_hu)}, {"slices", s.mse.n}};
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

// "data.h5#scan" (the low-dose volume of a scan of our dataset, or its standard dose with
// "#scan:ndct"), else any importer format.
bool is_dataset_ref(const std::string& path, std::string* file, std::string* scan, bool* low) {
  const std::size_t hash = path.rfind('#');
  if (hash == std::string::npos) return false;
  const std::string f = path.substr(0, hash);
  const std::string l = data::lower(f);
  if (!data::ends_with(l, ".h5") && !data::ends_with(l, ".hdf5")) return false;
  *file = f;
  *scan = path.substr(hash + 1);
  *low = true;
  const std::size_t colon = scan->rfind(':');
  if (colon != std::string::npos) {
    const std::string which = scan->substr(colon + 1);
    DDNET_CHECK(which == "ldct" || which == "ndct", path, ": expected '#scan', '#scan:ldct' or ",
                "'#scan:ndct' after the dataset file");
    *low = which == "ldct";
    *scan = scan->substr(0, colon);
  }
  return true;
}

data::Volume read_input(const std::string& path, bool allow_external) {
  std::string file, scan;
  bool low = true;
  if (!is_dataset_ref(path, &file, &scan, &low)) return data::read_any_scan(path);
  const data::Dataset ds = data::Dataset::open(file, allow_external);
  for (std::size_t i = 0; i < ds.scans().size(); ++i)
    if (ds.scans()[i].name == scan) {
      DDNET_CHECK(!low || ds.scans()[i].has_ldct, file, ": scan '", scan, "' has no ldct; name '#",
                  scan, ":ndct' to denoise its standard dose");
      data::Volume v = ds.read(i, low);
      v.source = path;
      return v;
    }
  DDNET_FAIL(file, ": no scan named '", scan, "'");
}

// The output path when --output is not given: beside the input, "_denoised" before the
// extension (or after a folder's name), same format.
std::string default_output(const std::string& input) {
  std::string file, scan;
  bool low = true;
  DDNET_CHECK(!is_dataset_ref(input, &file, &scan, &low), "--input ", input,
              " is a dataset scan: give --output (a scan file, e.g. ", scan, "_denoised.mha)");
  fs::path p(input);
  while (!p.empty() && p.filename().empty()) p = p.parent_path();  // "folder/" -> "folder"
  std::error_code ec;
  if (fs::is_directory(p, ec)) return p.string() + "_denoised";
  std::string name = p.filename().string();
  const std::string l = data::lower(name);
  std::string ext;
  for (const char* e :
       {".nii.gz", ".nii", ".mha", ".mhd", ".nrrd", ".nhdr", ".tiff", ".tif", ".dcm", ".inv3"})
    if (data::ends_with(l, e)) {
      ext = name.substr(name.size() - std::string(e).size());
      break;
    }
  if (ext.empty()) ext = p.extension().string();
  name = name.substr(0, name.size() - ext.size());
  if (data::lower(ext) == ".inv3") ext = ".mha";  // .inv3 is read, not written
  if (data::lower(ext) == ".dcm") return (p.parent_path() / (name + "_denoised")).string();
  return (p.parent_path() / (name + "_denoised" + ext)).string();
}

void print_tiles(const models::DenoiseStats& st) {
  const auto& g = st.grid;
  std::cerr << "denoise: " << g.count() << " tile(s) of " << g.size[0] << "x" << g.size[1] << "x"
            << g.size[2] << " (padded volume " << g.extent[0] << "x" << g.extent[1] << "x"
            << g.extent[2] << ", overlap " << g.overlap[0] << "x" << g.overlap[1] << "x"
            << g.overlap[2] << "), " << st.forwards << " forward pass(es), " << st.seconds
            << " s, peak " << static_cast<long long>(st.peak_device_mib) << " MiB, planned with "
            << static_cast<long long>(st.bytes_per_voxel) << " B/voxel\n";
}

// The file of an --input: the dataset file of "data.h5#scan", else the path itself.
std::string input_file(const std::string& input) {
  std::string file, scan;
  bool low = true;
  return is_dataset_ref(input, &file, &scan, &low) ? file : input;
}

// --input's output path and format: --format, else the input's when the output name is derived,
// else by name. Checked, with the options that go with it, before any work.
std::pair<std::string, data::ScanFormat> scan_output(const CLI::App& cmd, const DenoiseArgs& a) {
  for (const char* other : {"--dataset", "--scan", "--split", "--out"})
    DDNET_CHECK(cmd.get_option(other)->count() == 0, "--input and ", other,
                " do not go together: --input denoises one scan into --output, --dataset ",
                "denoises a split or --scan of a dataset into the folder --out");
  DDNET_CHECK(data::have_itk(),
              "denoise --input needs ITK to write the result; this build "
              "has none (use --dataset mode)");
  const std::string output = a.output.empty() ? default_output(a.input) : a.output;
  data::ScanFormat format;
  if (!a.format.empty())
    format = data::parse_format(a.format);
  else if (a.output.empty())
    format = data::ends_with(data::lower(a.input), ".inv3") ? data::ScanFormat::mha
                                                            : data::format_from_path(a.input);
  else
    format = data::format_from_path(output);
  check_output_not_input(a.output.empty() ? "the default output" : "--output", output,
                         {input_file(a.input), a.checkpoint});
  data::check_scan_target(output, format);
  return {output, format};
}

int run(const CLI::App& cmd, const DenoiseArgs& a) {
  const Device device = Device::parse(a.device);
  std::pair<std::string, data::ScanFormat> target;
  if (!a.input.empty()) {
    target = scan_output(cmd, a);
  } else {
    DDNET_CHECK(!a.dataset.empty(), "give --input (a scan) or --dataset (with --split or --scan)");
    DDNET_CHECK(a.output.empty(), "--output ", a.output,
                " goes with --input; a dataset's scans go into the folder --out");
    if (!a.format.empty()) data::parse_format(a.format);
    if (a.scan.empty()) data::parse_split(a.split);
    DDNET_CHECK(a.width > 0 && a.diff_scale > 0, "--width ", a.width, " and --diff-scale ",
                a.diff_scale, ": must be > 0 (HU)");
    DDNET_CHECK(a.png_slice >= -1, "--png-slice ", a.png_slice, ": must be >= 0, or -1 (middle)");
    std::error_code ec;
    DDNET_CHECK(!fs::exists(a.out, ec) || fs::is_directory(a.out, ec), "--out ", a.out,
                " exists and is not a folder: give the folder for the denoised scans");
  }
  use_device(device);
  const LoadedModel m = load_model(a.checkpoint, a.model, a.normalise, device);
  DDNET_CHECK(
      m.config.model != "2d" || std::count(a.tiling.tile.begin(), a.tiling.tile.end(), 'x') < 2,
      "--tile '", a.tiling.tile, "': ", a.checkpoint,
      " is a 2D model, which denoises one slice at a time: give RxC (or S)");
  models::DenoiseOptions o = denoise_options(m, device);
  apply_tiling(a.tiling, o);

  if (!a.input.empty()) {  // one scan -> one scan file
    const auto& [output, format] = target;
    const data::Volume in = read_input(a.input, a.allow_external);
    check_denoise_memory("denoise", m, o, a.tiling, a.input, in.slices, in.rows, in.cols);
    std::cerr << "denoise: " << a.input << ": " << in.slices << "x" << in.rows << "x" << in.cols
              << " voxels read, denoising\n";
    data::Volume out = in;
    models::DenoiseStats st;
    out.voxels =
        models::denoise_volume(*m.net, in.voxels.data(), in.slices, in.rows, in.cols, o, &st);
    print_tiles(st);
    out.source = "ddnet denoise " + a.checkpoint;
    if (!a.description.empty()) {
      const auto it = in.dicom.find("0008|103e");
      out.dicom["0008|103e"] = it == in.dicom.end() || it->second.empty()
                                   ? a.description
                                   : it->second + " " + a.description;
    }
    data::write_scan(out, output, format);
    std::cerr << "denoise: " << a.input << " -> " << output << "\n";
    return 0;
  }

  const data::Dataset ds = data::Dataset::open(a.dataset, a.allow_external);
  std::vector<std::size_t> which;
  if (!a.scan.empty()) {
    for (std::size_t i = 0; i < ds.scans().size(); ++i)
      if (ds.scans()[i].name == a.scan) which.push_back(i);
    DDNET_CHECK(!which.empty(), a.dataset, ": no scan named '", a.scan, "'");
  } else {
    which = ds.scans_in(data::parse_split(a.split));
    DDNET_CHECK(!which.empty(), a.dataset, ": no scans in the '", a.split, "' split");
  }
  for (const std::size_t i : which) {
    const data::ScanInfo& info = ds.scans()[i];
    check_denoise_memory("denoise", m, o, a.tiling, a.dataset + "#" + info.name, info.slices,
                         info.rows, info.cols);
  }
  fs::create_directories(a.out);
  nlohmann::json report = nlohmann::json::object();
  for (const std::size_t i : which) {
    check_interrupted("denoise");
    const data::ScanInfo& info = ds.scans()[i];
    DDNET_CHECK(info.has_ldct, a.dataset, ": scan '", info.name, "' has no ldct to denoise");
    const data::Volume low = ds.read(i, true), full = ds.read(i, false);
    models::DenoiseStats st;
    const std::vector<float> den =
        models::denoise_volume(*m.net, low.voxels.data(), low.slices, low.rows, low.cols, o, &st);
    print_tiles(st);
    const auto before =
        models::score_volume(low.voxels.data(), full.voxels.data(), low.slices, low.rows, low.cols);
    const auto after =
        models::score_volume(den.data(), full.voxels.data(), low.slices, low.rows, low.cols);
    std::printf("%s (%lld slices of %lldx%lld, %.1f s):\n", info.name.c_str(),
                static_cast<long long>(low.slices), static_cast<long long>(low.rows),
                static_cast<long long>(low.cols), st.seconds);
    std::printf("  %-24s %10s %9s %9s %9s %9s\n", "(mean over slices)", "MSE", "PSNR dB", "SSIM",
                "MS-SSIM", "RMSE HU");
    for (const auto& [label, s] :
         {std::pair{"low dose vs standard", before}, std::pair{"denoised vs standard", after}})
      std::printf("  %-24s %10.6f %9.3f %9.5f %9.5f %9.2f\n", label, s.mse.mean, s.psnr.mean,
                  s.ssim.mean, s.msssim.mean, s.rmse_hu.mean);
    report[info.name] = {{"before", scores_json(before)},
                         {"after", scores_json(after)},
                         {"slices", low.slices},
                         {"seconds", st.seconds}};
    if (data::have_itk()) {
      data::Volume out = low;
      out.voxels = den;
      out.source = "ddnet denoise " + a.checkpoint;
      const std::string ext = a.format.empty() ? "mha" : a.format;
      data::write_scan(out, detail::concat(a.out, "/", info.name, "_denoised.", ext));
    }
    figures(a, info.name, low, full, den);
  }
  const std::string path = a.out + "/scores.json";
  std::FILE* f = std::fopen((path + ".tmp").c_str(), "w");
  DDNET_CHECK(f != nullptr, "cannot write ", path);
  const std::string text = report.dump(2) + "\n";
  const bool written = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  if (std::fclose(f) != 0 || !written) {
    std::remove((path + ".tmp").c_str());
    DDNET_FAIL("cannot write ", path, " (disk full?)");
  }
  replace_file(path + ".tmp", path, "denoise " + path);  // synced, renamed, the folder synced
  std::cerr << "denoise: scores in " << path << "\n";
  return 0;
}

}  // namespace

Command add_denoise(CLI::App& app) {
  auto a = std::make_shared<DenoiseArgs>();
  auto* cmd = app.add_subcommand(
      "denoise",
      "Denoise scans with a trained checkpoint: one scan (DICOM, NIfTI, MHA, NRRD, TIFF, "
      "data.h5#scan) to a scan file, or a dataset split (scored, with PNG figures)");
  cmd->add_option("--checkpoint", a->checkpoint, "Trained weights (final.h5 of ddnet train)")
      ->required();
  cmd->add_option("--model", a->model,
                  "2d or 3d, for weights without a training configuration (default: from the "
                  "checkpoint, else 3d)");
  cmd->add_option("--normalise", a->normalise,
                  "minmax or window (default: as the checkpoint was trained, else minmax)");
  cmd->add_option("--input", a->input,
                  "A scan file or folder (any importer format), or data.h5#scan[:ldct|ndct]");
  cmd->add_option("--output", a->output,
                  "Where --input's denoised scan goes, format by name (default: beside the "
                  "input, '_denoised' added, same format)");
  cmd->add_option("--format", a->format,
                  "Output format (dicom, nifti, mha, nrrd, tiff) instead of the one the name "
                  "implies; dataset mode: the volumes' extension (default mha)");
  cmd->add_option("--description", a->description,
                  "Appended to the DICOM series description of the output (new series UID)")
      ->capture_default_str();
  cmd->add_option("--dataset", a->dataset, "HDF5 dataset (ddnet prepare)");
  cmd->add_flag("--allow-external", a->allow_external,
                "With --dataset, or an --input naming a dataset's scan (file.h5#scan): read a "
                "dataset whose members are external links, external storage or virtual datasets "
                "(HDF5 then opens the other host files they name). Refused by default; give it "
                "only for files you trust");
  cmd->add_option("--split", a->split, "Split of the dataset to denoise")->capture_default_str();
  cmd->add_option("--scan", a->scan, "One scan of the dataset, by name");
  cmd->add_option("--out", a->out, "Output folder (dataset mode)")->capture_default_str();
  cmd->add_option("--device", a->device, "cpu, cuda or cuda:N")->capture_default_str();
  add_tiling_options(cmd, a->tiling);
  cmd->add_option("--png-slice", a->png_slice, "Slice shown in the figures (-1: the middle)");
  cmd->add_option("--level", a->level, "Figure window level (HU)")->capture_default_str();
  cmd->add_option("--width", a->width, "Figure window width (HU)")->capture_default_str();
  cmd->add_option("--diff-scale", a->diff_scale, "HU shown white in difference maps")
      ->capture_default_str();
  return {cmd, [cmd, a] {
            // SIGINT / SIGTERM: the write in progress removes its temporaries, then 130 / 143.
            InterruptScope interrupts;
            try {
              return run(*cmd, *a);
            } catch (const Interrupted& e) {
              std::cerr << "ddnet denoise: " << e.what()
                        << "; temporary files removed, the outputs written so far kept\n";
              return e.exit_code();
            }
          }};
}

}  // namespace ddnet::tools
