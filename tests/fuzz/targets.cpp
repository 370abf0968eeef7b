// The fuzz targets (targets.h) and the seed corpus they start from (make_corpus).
#include "tests/fuzz/targets.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>

#include "data/dataset.h"
#include "data/loader.h"
#include "data/scan_io.h"
#include "engine/error.h"
#include "engine/rng.h"
#include "graph/arena.h"
#include "graph/module.h"
#include "graph/nn.h"
#include "graph/optim.h"
#include "models/checkpoint.h"
#include "models/train_config.h"

namespace fs = std::filesystem;

namespace ddnet::fuzz {

namespace {

std::string g_outcome = "ok";

// The process's own temporary folder (removed at exit; left behind by a crash, which is what a
// crash report wants anyway).
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("ddnet-fuzz-" + std::to_string(getpid()));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

const fs::path& temp_dir() {
  static TempDir dir;
  return dir.path;
}

// The input as the file `input.<ext>` that the readers are given.
std::string write_input(const std::uint8_t* data, std::size_t size, const char* ext) {
  const fs::path p = temp_dir() / (std::string("input") + ext);
  std::FILE* f = std::fopen(p.c_str(), "wb");
  if (f == nullptr) {
    std::perror(p.c_str());
    std::abort();  // the harness itself is broken: not a finding about the input
  }
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  return p.string();
}

// A message as a signature: the temporary path and every run of digits taken out, so that the
// same refusal of different sizes or offsets counts once.
std::string normalise(const std::string& msg) {
  std::string s = msg;
  const std::string dir = temp_dir().string();
  for (std::size_t at = s.find(dir); at != std::string::npos; at = s.find(dir))
    s.replace(at, dir.size(), "$TMP");
  std::string out;
  for (std::size_t i = 0; i < s.size() && out.size() < 160; ++i) {
    if (std::isdigit(static_cast<unsigned char>(s[i]))) {
      while (i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1]))) ++i;
      out += '#';
    } else {
      out += s[i];
    }
  }
  return out;
}

// Runs one step of a target: a ddnet::Error is the expected way to refuse an input; its
// signature is appended to the outcome. Anything else propagates.
void attempt(const std::function<void()>& step) {
  try {
    step();
  } catch (const Error& e) {
    if (g_outcome == "ok") g_outcome.clear();
    if (g_outcome.size() < 512) g_outcome += normalise(e.what()) + "|";
  }
}

// ---------------------------------------------------------------------------------------------
// dataset: Dataset::open, listing, slice and crop reads, whole reads, and the loaders.

int fuzz_dataset(const std::uint8_t* data, std::size_t size) {
  g_outcome = "ok";
  const std::string path = write_input(data, size, ".h5");
  std::shared_ptr<const data::Dataset> ds;
  attempt([&] { ds = std::make_shared<const data::Dataset>(data::Dataset::open(path)); });
  if (!ds) return 0;
  for (const data::Split sp : {data::Split::train, data::Split::val, data::Split::test})
    (void)ds->scans_in(sp);
  const auto& scans = ds->scans();
  attempt([&] { (void)ds->scan(scans.front().name); });
  for (std::size_t i = 0; i < scans.size() && i < 4; ++i) {
    const data::ScanInfo& s = scans[i];
    for (const bool ldct : {false, true}) {
      // A crop at each corner of the first, middle and last slices, as the loaders read them.
      const std::int64_t h = std::min<std::int64_t>(s.rows, 8),
                         w = std::min<std::int64_t>(s.cols, 8);
      std::vector<float> buf(static_cast<std::size_t>(3 * h * w));
      attempt([&] {
        ds->read_slices(i, ldct, {0, s.slices / 2, s.slices - 1}, 0, h, 0, w, buf.data());
      });
      attempt([&] {
        ds->read_slices(i, ldct, {s.slices - 1}, s.rows - h, h, s.cols - w, w, buf.data());
      });
      // Whole slices and the whole volume when they are small enough to hold.
      if (s.rows * s.cols <= (1 << 16)) {
        std::vector<float> slice(static_cast<std::size_t>(s.rows * s.cols));
        attempt([&] { ds->read_slices(i, ldct, {0}, slice.data()); });
      }
      if (s.slices <= (1 << 10) && s.rows * s.cols <= (1 << 14))
        attempt([&] { (void)ds->read(i, ldct); });
    }
  }
  // The loaders over each split, with small volumes and crops (what training and eval build).
  const char* kinds[] = {"strided", "centre", "random", "2d"};
  int k = 0;
  for (const data::Split sp : {data::Split::train, data::Split::val, data::Split::test}) {
    const auto in = ds->scans_in(sp);
    if (in.empty()) continue;
    std::int64_t total_slices = 0;
    for (const std::size_t i : in) total_slices += std::min<std::int64_t>(scans[i].slices, 1 << 20);
    data::LoaderOptions o;
    o.kind = kinds[k++ % 4];
    if (o.kind == "2d" && total_slices > (1 << 12)) o.kind = "centre";
    o.slices = 2;
    o.crop = std::min<std::int64_t>({scans[in.front()].rows, scans[in.front()].cols, 8});
    attempt([&] {
      data::VolumeLoader loader(ds, sp, o);
      for (std::int64_t item = 0; item < loader.size() && item < 2; ++item)
        (void)loader.get(0, item);
    });
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// checkpoint: load_checkpoint into a small network and its Adam, as resume and transfer do.

// A small network with DDnet's naming (conv/batch children, PyTorch's parameter names), so that
// checkpoints stay a few KB.
class TinyNet : public nn::Module {
 public:
  TinyNet() {
    Generator gen(1);
    register_module("conv1", std::make_unique<nn::Conv>(2, 1, 2, 3, 1, gen));
    register_module("batch1", std::make_unique<nn::BatchNorm>(2));
    register_module("convT1", std::make_unique<nn::Conv>(2, 2, 1, 1, 0, gen, true));
  }
};

struct TinyModel {
  TinyNet net;
  nn::Arena arena = nn::pack_parameters(net, Device::cpu());
  nn::Adam adam{arena, {}};
};

int fuzz_checkpoint(const std::uint8_t* data, std::size_t size) {
  g_outcome = "ok";
  static TinyModel m;
  const std::string path = write_input(data, size, ".h5");
  attempt([&] {
    const models::TrainingState st = models::load_checkpoint(path, m.net, &m.adam);
    // Resuming parses the configuration the checkpoint carries.
    if (!st.config_json.empty()) (void)models::TrainConfig::from_json(st.config_json, path);
  });
  attempt([&] { (void)models::load_checkpoint(path, m.net, nullptr); });
  attempt([&] { (void)models::read_checkpoint_config(path); });
  attempt([&] { (void)models::read_checkpoint_rank(path, "conv1.weight"); });
  attempt([&] { (void)models::read_checkpoint_rank(path, "optimizer/exp_avg"); });
  return 0;
}

// ---------------------------------------------------------------------------------------------
// scans: read_scan on one file of each format.

int fuzz_scan(const std::uint8_t* data, std::size_t size, const char* ext) {
  g_outcome = "ok";
  const std::string path = write_input(data, size, ext);
  attempt([&] {
    const data::Volume v = data::read_scan(path);
    // What prepare does next: the voxel count must be what the shape says.
    if (static_cast<std::int64_t>(v.voxels.size()) != v.numel()) std::abort();
  });
  return 0;
}

int fuzz_scan_mha(const std::uint8_t* d, std::size_t n) {
  return fuzz_scan(d, n, ".mha");
}
int fuzz_scan_nrrd(const std::uint8_t* d, std::size_t n) {
  return fuzz_scan(d, n, ".nrrd");
}
int fuzz_scan_nifti(const std::uint8_t* d, std::size_t n) {
  return fuzz_scan(d, n, ".nii");
}
int fuzz_scan_tiff(const std::uint8_t* d, std::size_t n) {
  return fuzz_scan(d, n, ".tif");
}
int fuzz_scan_dicom(const std::uint8_t* d, std::size_t n) {
  return fuzz_scan(d, n, ".dcm");
}

// ---------------------------------------------------------------------------------------------
// config: TrainConfig::from_json and validate; a configuration that validates must also survive
// its own round trip (to_json, from_json), which is what a checkpoint's copy goes through.

int fuzz_config(const std::uint8_t* data, std::size_t size) {
  g_outcome = "ok";
  const std::string text(reinterpret_cast<const char*>(data), size);
  bool valid = false;
  models::TrainConfig c;
  attempt([&] {
    c = models::TrainConfig::from_json(text, "fuzz.json");
    c.validate();
    valid = true;
  });
  if (!valid) return 0;
  const std::string once = c.to_json();
  std::string twice;
  try {
    twice = models::TrainConfig::from_json(once, "round trip").to_json();
  } catch (const Error& e) {
    std::fprintf(stderr, "fuzz config: a valid configuration does not read back: %s\n%s\n",
                 e.what(), once.c_str());
    std::abort();
  }
  if (twice != once) {
    std::fprintf(stderr, "fuzz config: the round trip changed the configuration:\n%s\n%s\n",
                 once.c_str(), twice.c_str());
    std::abort();
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// The seed corpus, from the project's writers.

data::Volume small_volume(std::int64_t d, std::int64_t h, std::int64_t w, float scale) {
  data::Volume v(d, h, w);
  for (std::int64_t n = 0; n < v.numel(); ++n)
    v.voxels[static_cast<std::size_t>(n)] = -1000.f + scale * static_cast<float>((n * 37) % 101);
  v.spacing = {2.5, 0.75, 0.75};
  v.origin = {-10, 5, 20};
  return v;
}

void copy_into(const fs::path& from, const fs::path& to) {
  fs::create_directories(to.parent_path());
  fs::copy_file(from, to, fs::copy_options::overwrite_existing);
}

}  // namespace

const std::vector<Target>& targets() {
  static const std::vector<Target> all = {
      {"dataset", fuzz_dataset,
       "HDF5 dataset: Dataset::open, slice/crop/whole reads, the four loaders"},
      {"checkpoint", fuzz_checkpoint,
       "HDF5 checkpoint: load_checkpoint (weights, Adam, state), its config, read_checkpoint_*"},
      {"scan_mha", fuzz_scan_mha, "MetaImage (.mha) through read_scan"},
      {"scan_nrrd", fuzz_scan_nrrd, "NRRD (.nrrd) through read_scan"},
      {"scan_nifti", fuzz_scan_nifti, "NIfTI (.nii) through read_scan"},
      {"scan_tiff", fuzz_scan_tiff, "TIFF (.tif) through read_scan"},
      {"scan_dicom", fuzz_scan_dicom, "one DICOM file (.dcm) through read_scan"},
      {"config", fuzz_config, "training configuration JSON: from_json, validate, round trip"},
  };
  return all;
}

const Target* find_target(const std::string& name) {
  for (const Target& t : targets())
    if (name == t.name) return &t;
  return nullptr;
}

const std::string& last_outcome() {
  return g_outcome;
}

void make_corpus(const std::string& dir_name) {
  const fs::path dir(dir_name);
  const fs::path work = temp_dir() / "corpus-work";
  fs::create_directories(work);

  // Datasets: one scan of int16 with a float32 low dose; two scans in two splits, float32,
  // standard dose only in the second.
  fs::create_directories(dir / "dataset");
  {
    data::DatasetWriter w((dir / "dataset" / "int16_with_ldct.h5").string());
    const data::Volume nd = small_volume(3, 8, 8, 1), ld = small_volume(3, 8, 8, 2);
    w.add_scan("scan0", data::Split::train, nd, &ld, "simulated (seed corpus)",
               data::StoreAs::int16);
    w.commit();
  }
  {
    data::DatasetWriter w((dir / "dataset" / "two_scans_float32.h5").string());
    const data::Volume a = small_volume(2, 8, 4, 0.5f), b = small_volume(4, 4, 8, 0.25f);
    w.add_scan("a", data::Split::val, a, &a, "", data::StoreAs::float32);
    w.add_scan("b", data::Split::test, b, nullptr, "", data::StoreAs::float32);
    w.commit();
  }

  // Checkpoints of the tiny network: with the optimiser, state and configuration; weights only.
  {
    TinyModel m;
    fs::create_directories(dir / "checkpoint");
    models::TrainConfig c;
    models::save_checkpoint((dir / "checkpoint" / "full.h5").string(), m.net, &m.adam,
                            {2, 10, 7, 3, c.to_json(), 5});
    models::save_checkpoint((dir / "checkpoint" / "weights_only.h5").string(), m.net, nullptr, {});
  }

  // Scans: a small volume in each single-file format (MetaImage and NRRD raw and compressed).
  if (data::have_itk()) {
    const data::Volume v = small_volume(2, 4, 4, 3);
    data::ScanWriteOptions raw;
    raw.compress = false;
    data::write_scan(v, (dir / "scan_mha" / "raw.mha").string(), data::ScanFormat::mha, raw);
    data::write_scan(v, (dir / "scan_mha" / "zlib.mha").string(), data::ScanFormat::mha);
    data::write_scan(v, (dir / "scan_nrrd" / "raw.nrrd").string(), data::ScanFormat::nrrd, raw);
    data::write_scan(v, (dir / "scan_nrrd" / "zlib.nrrd").string(), data::ScanFormat::nrrd);
    data::write_scan(v, (dir / "scan_nifti" / "float.nii").string(), data::ScanFormat::nifti);
    data::write_scan(v, (dir / "scan_tiff" / "float.tif").string(), data::ScanFormat::tiff);
    data::ScanWriteOptions i16;
    i16.tiff_int16 = true;
    data::write_scan(v, (dir / "scan_tiff" / "int16.tif").string(), data::ScanFormat::tiff, i16);
    // DICOM is written as a series folder: its files are the single-file seeds.
    const data::Volume one = small_volume(1, 4, 4, 3);
    data::write_scan(one, (work / "dicom1").string(), data::ScanFormat::dicom);
    data::write_scan(v, (work / "dicom2").string(), data::ScanFormat::dicom);
    copy_into(work / "dicom1" / "slice_0000.dcm", dir / "scan_dicom" / "one_slice.dcm");
    copy_into(work / "dicom2" / "slice_0001.dcm", dir / "scan_dicom" / "series_slice.dcm");
  } else {
    std::fprintf(stderr, "make-corpus: this build has no ITK: no scan seeds written\n");
  }

  // Configurations: the defaults, a dataset run, and a few edge cases.
  fs::create_directories(dir / "config");
  auto write_text = [&](const char* name, const std::string& text) {
    std::ofstream(dir / "config" / name, std::ios::binary) << text;
  };
  write_text("defaults.json", models::TrainConfig().to_json());
  models::TrainConfig c;
  c.model = "2d";
  c.loader = "2d";
  c.dataset = "data/ct.h5";
  c.size = 0;
  c.normalise = "window";
  c.clip_norm = 1.5;
  c.seed = 18446744073709551615ull;
  write_text("dataset_2d.json", c.to_json());
  write_text("small.json",
             "{\"epochs\": 1, \"lr\": 1e-4, \"slices\": 32, \"stop_after_steps\": 3}");
  write_text("types.json",
             "{\"residual\": true, \"decay\": 1, \"samples_per_scan\": 9007199254740993}");
  fs::remove_all(work);
}

}  // namespace ddnet::fuzz
