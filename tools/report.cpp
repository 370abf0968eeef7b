// ddnet eval's outputs (report.h): reading a run's training log, the JSON report, and
// write_report, which puts the figures (report_figures.cpp), the tables (report_tables.cpp), the
// JSON and the page (report_html.cpp) into one folder.
#include "tools/report.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/file_sync.h"
#include "tools/report_internal.h"

namespace ddnet::tools {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace report_internal;

void write_text_file(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary);
    DDNET_CHECK(f.good(), "cannot write ", tmp);
    f << text;
    f.close();
    if (!f.good()) {
      std::remove(tmp.c_str());
      DDNET_FAIL("cannot write ", tmp, " (disk full?)");
    }
  }
  replace_file(tmp, path, "report " + path);  // synced, renamed, the folder synced
}

namespace {

json stat_json(const models::Stat& s) {
  return {{"mean", s.mean}, {"std", s.std}, {"n", s.n}};
}

json scores_json(const models::Scores& s) {
  return {{"mse", stat_json(s.mse)},
          {"psnr_db", stat_json(s.psnr)},
          {"ssim", stat_json(s.ssim)},
          {"msssim", stat_json(s.msssim)},
          {"rmse_hu", stat_json(s.rmse_hu)}};
}

json slices_json(const std::vector<models::SliceScores>& v) {
  json a = json::array();
  for (const auto& s : v)
    a.push_back({{"mse", s.mse},
                 {"psnr_db", std::isinf(s.psnr) ? json(nullptr) : json(s.psnr)},
                 {"ssim", s.ssim},
                 {"msssim", s.msssim},
                 {"rmse_hu", s.rmse_hu}});
  return a;
}

// j[key] as T, or `fallback` when the object j has no such key: json::value's meaning. For an int,
// json::value inlined into this small file trips GCC's -Wnull-dereference (a false positive).
template <class T>
T field(const json& j, const char* key, T fallback) {
  const auto it = j.find(key);
  return it == j.end() ? fallback : it->template get<T>();
}

// report.json: the dataset, the baseline and every model, overall and per scan and slice.
std::string report_json(const EvalReport& r) {
  json j;
  j["dataset"] = r.dataset;
  j["split"] = r.split;
  j["device"] = r.device;
  j["scans"] = r.scans;
  j["metrics"] =
      "per slice after scaling both images with the reference volume's min and max; mean and "
      "population std over slices; SSIM: Gaussian 11x11 sigma 1.5 (scikit-image); MS-SSIM: the "
      "published code's; RMSE in HU";
  j["baseline"] = {{"overall", scores_json(overall(r.baseline))}};
  for (const std::string& s : r.scans)
    j["baseline"]["scans"][s] = {{"summary", scores_json(models::summarise(r.baseline.at(s)))},
                                 {"slices", slices_json(r.baseline.at(s))}};
  j["models"] = json::array();
  for (const ModelReport& m : r.models) {
    json jm = {{"label", m.label},
               {"checkpoint", m.checkpoint},
               {"config", m.has_config ? json::parse(m.config.to_json()) : json(nullptr)},
               {"training_log", m.log.path},
               {"training_seconds", m.log.timed ? json(m.log.seconds) : json(nullptr)},
               {"steps", m.log.steps.size()},
               {"denoise_seconds", m.denoise_seconds},
               {"overall", scores_json(overall(m.scans))}};
    for (const std::string& s : r.scans)
      jm["scans"][s] = {{"summary", scores_json(models::summarise(m.scans.at(s)))},
                        {"slices", slices_json(m.scans.at(s))}};
    j["models"].push_back(jm);
  }
  return j.dump(2) + "\n";
}

}  // namespace

TrainingLog read_training_log(const std::string& checkpoint) {
  TrainingLog log;
  const fs::path path = fs::path(checkpoint).parent_path() / "train.jsonl";
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return log;
  log.path = path.string();
  std::ifstream f(path);
  std::map<std::int64_t, TrainingLog::Step> steps;
  std::map<int, TrainingLog::Epoch> epochs;
  std::map<std::int64_t, double> step_secs;
  std::map<int, double> val_secs;
  std::string line;
  int number = 0, bad = 0;
  while (std::getline(f, line)) {
    ++number;
    if (line.empty()) continue;
    const json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object() || !j.contains("type")) {
      if (bad++ == 0)
        std::cerr << "eval: " << log.path << ": line " << number
                  << " is not a JSON record; skipped\n";
      continue;
    }
    const std::string type = j.value("type", "");
    if (type == "step") {
      TrainingLog::Step s{field(j, "epoch", 0), j.value("step", std::int64_t{0}),
                          j.value("loss", 0.0)};
      steps[s.step] = s;
      if (j.contains("seconds")) step_secs[s.step] = j.value("seconds", 0.0);
    } else if (type == "epoch") {
      TrainingLog::Epoch e{field(j, "epoch", 0), j.value("train_loss", 0.0),
                           j.value("val_loss", 0.0)};
      epochs[e.epoch] = e;
      if (j.contains("val_seconds")) val_secs[e.epoch] = j.value("val_seconds", 0.0);
    }
  }
  for (const auto& [k, s] : steps) log.steps.push_back(s);
  for (const auto& [k, e] : epochs) log.epochs.push_back(e);
  log.timed = !steps.empty() && step_secs.size() == steps.size();
  for (const auto& [k, v] : step_secs) log.seconds += v;
  for (const auto& [k, v] : val_secs) log.seconds += v;
  return log;
}

std::vector<std::string> write_report(const EvalReport& r, const std::string& out) {
  fs::create_directories(out);
  std::vector<std::string> written;
  auto put = [&](const std::string& name, const std::string& text) {
    write_text_file(out + "/" + name, text);
    written.push_back(out + "/" + name);
  };
  const std::vector<Figure> figs = write_figures(r, out, &written);
  const std::string md = table_markdown(r);
  put("table.md", md);
  put("table.csv", table_csv(r));
  put("report.json", report_json(r));
  put("report.html", report_html(r, figs, out));
  return written;
}

}  // namespace ddnet::tools
