// ddnet eval's tables, figures and pages.
#include "tools/report.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <sstream>

#include "engine/error.h"
#include "tools/png.h"

namespace ddnet::tools {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

void write_text(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary);
    DDNET_CHECK(f.good(), "cannot write ", tmp);
    f << text;
    f.close();
    DDNET_CHECK(f.good(), "cannot write ", tmp, " (disk full?)");
  }
  fs::rename(tmp, path);
}

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  DDNET_CHECK(f.good(), "cannot read ", path);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string fixed(double v, int decimals) {
  if (std::isnan(v)) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string pm(const models::Stat& s, int decimals) {
  if (s.n == 0) return "n/a";
  return fixed(s.mean, decimals) + " ± " + fixed(s.std, decimals);
}

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

struct Row {
  std::string model, epochs, slices, batch, time;
  models::Scores s;
};

std::vector<Row> overall_rows(const EvalReport& r) {
  std::vector<Row> rows;
  rows.push_back({"Low dose (no model)", "–", "–", "–", "–", overall(r.baseline)});
  for (const ModelReport& m : r.models) {
    Row row;
    row.model = m.label;
    const bool is3d = m.config.model == "3d";
    row.epochs = m.has_config ? std::to_string(m.config.epochs) : "?";
    row.slices = !is3d ? "N/A" : (m.has_config ? std::to_string(m.config.slices) : "?");
    row.batch = m.has_config ? std::to_string(m.config.batch) : "?";
    row.time = m.log.timed ? format_duration(m.log.seconds)
                           : (m.log.path.empty() ? "no log" : "not logged");
    row.s = overall(m.scans);
    rows.push_back(row);
  }
  return rows;
}

std::vector<std::string> score_cells(const models::Scores& s) {
  return {pm(s.mse, 6), pm(s.psnr, 2), pm(s.ssim, 4), pm(s.msssim, 4), pm(s.rmse_hu, 1)};
}

std::string html_escape(const std::string& s) {
  std::string o;
  for (const char c : s) {
    if (c == '<')
      o += "&lt;";
    else if (c == '>')
      o += "&gt;";
    else if (c == '&')
      o += "&amp;";
    else if (c == '"')
      o += "&quot;";
    else
      o += c;
  }
  return o;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string o = "\"";
  for (const char c : s) o += c == '"' ? std::string("\"\"") : std::string(1, c);
  return o + "\"";
}

std::vector<std::string> model_labels(const EvalReport& r) {
  std::vector<std::string> l;
  for (const auto& m : r.models) l.push_back(m.label);
  return l;
}

// Evenly spaced "nice" tick values between lo and hi (about `count`).
std::vector<double> nice_ticks(double lo, double hi, int count) {
  const double span = hi - lo;
  if (!(span > 0)) return {lo};
  const double raw = span / count, mag = std::pow(10, std::floor(std::log10(raw)));
  double step = mag;
  for (const double k : {1.0, 2.0, 5.0, 10.0})
    if (raw <= k * mag) {
      step = k * mag;
      break;
    }
  std::vector<double> t;
  for (double v = std::ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) t.push_back(v);
  return t;
}

std::string tick_label(double v) {
  char buf[32];
  if (std::fabs(v - std::round(v)) < 1e-9)
    std::snprintf(buf, sizeof buf, "%.0f", v);
  else
    std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
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
      TrainingLog::Step s{j.value("epoch", 0), j.value("step", std::int64_t{0}),
                          j.value("loss", 0.0)};
      steps[s.step] = s;
      if (j.contains("seconds")) step_secs[s.step] = j.value("seconds", 0.0);
    } else if (type == "epoch") {
      TrainingLog::Epoch e{j.value("epoch", 0), j.value("train_loss", 0.0),
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

models::Scores overall(const std::map<std::string, std::vector<models::SliceScores>>& scans) {
  std::vector<models::SliceScores> all;
  for (const auto& [name, v] : scans) all.insert(all.end(), v.begin(), v.end());
  return models::summarise(all);
}

std::string format_duration(double seconds) {
  const auto t = static_cast<long long>(std::llround(seconds));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", t / 3600, t / 60 % 60, t % 60);
  return buf;
}

std::string table_markdown(const EvalReport& r) {
  std::ostringstream o;
  o << "| Model | Epochs | Slices | Batch | Training time | MSE | PSNR (dB) | SSIM | MS-SSIM | "
       "RMSE (HU) |\n|---|---|---|---|---|---|---|---|---|---|\n";
  for (const Row& row : overall_rows(r)) {
    o << "| " << row.model << " | " << row.epochs << " | " << row.slices << " | " << row.batch
      << " | " << row.time;
    for (const auto& c : score_cells(row.s)) o << " | " << c;
    o << " |\n";
  }
  o << "\nPer scan (mean ± std over its slices):\n\n| Scan | Slices | Model | MSE | PSNR (dB) | "
       "SSIM | MS-SSIM | RMSE (HU) |\n|---|---|---|---|---|---|---|---|\n";
  for (const std::string& scan : r.scans) {
    auto line = [&](const std::string& label, const std::vector<models::SliceScores>& v) {
      o << "| " << scan << " | " << v.size() << " | " << label;
      for (const auto& c : score_cells(models::summarise(v))) o << " | " << c;
      o << " |\n";
    };
    line("Low dose (no model)", r.baseline.at(scan));
    for (const ModelReport& m : r.models) line(m.label, m.scans.at(scan));
  }
  return o.str();
}

std::string table_csv(const EvalReport& r) {
  std::ostringstream o;
  o << "model,checkpoint,scan,slices";
  for (const char* m : {"mse", "psnr_db", "ssim", "msssim", "rmse_hu"})
    o << "," << m << "_mean," << m << "_std";
  o << "\n";
  auto row = [&](const std::string& model, const std::string& ckpt, const std::string& scan,
                 const models::Scores& s) {
    o << csv_field(model) << "," << csv_field(ckpt) << "," << csv_field(scan) << "," << s.mse.n;
    for (const models::Stat* st : {&s.mse, &s.psnr, &s.ssim, &s.msssim, &s.rmse_hu}) {
      char buf[64];
      std::snprintf(buf, sizeof buf, ",%.9g,%.9g", st->mean, st->std);
      o << buf;
    }
    o << "\n";
  };
  row("low_dose", "", "all", overall(r.baseline));
  for (const std::string& scan : r.scans)
    row("low_dose", "", scan, models::summarise(r.baseline.at(scan)));
  for (const ModelReport& m : r.models) {
    row(m.label, m.checkpoint, "all", overall(m.scans));
    for (const std::string& scan : r.scans)
      row(m.label, m.checkpoint, scan, models::summarise(m.scans.at(scan)));
  }
  return o.str();
}

Canvas comparison_figure(const FigureSet& f, const std::vector<std::string>& labels, double level,
                         double width) {
  const std::int64_t gap = 6, caption = 14, n = 2 + static_cast<std::int64_t>(f.outputs.size());
  Canvas c(caption + f.rows + gap, n * f.cols + (n + 1) * gap, {0, 0, 0});
  const std::int64_t plane = f.rows * f.cols;
  std::vector<const float*> imgs{f.low.data(), f.standard.data()};
  std::vector<std::string> names{"Low dose", "Standard dose"};
  for (std::size_t m = 0; m < f.outputs.size(); ++m) {
    imgs.push_back(f.outputs[m].data());
    names.push_back(labels[m]);
  }
  for (std::int64_t p = 0; p < n; ++p) {
    const std::int64_t left = gap + p * (f.cols + gap);
    c.grey(window_hu(imgs[static_cast<std::size_t>(p)], plane, level, width), f.rows, f.cols,
           caption, left);
    c.text(names[static_cast<std::size_t>(p)], 3, left, {255, 255, 255});
  }
  return c;
}

Canvas difference_figure(const FigureSet& f, const std::vector<std::string>& labels,
                         double diff_scale) {
  const std::int64_t gap = 6, caption = 14, bar = 14, bar_text = 60;
  const std::int64_t n = 1 + static_cast<std::int64_t>(f.outputs.size());
  Canvas c(caption + f.rows + gap, n * f.cols + (n + 1) * gap + bar + bar_text, {0, 0, 0});
  const std::int64_t plane = f.rows * f.cols;
  std::vector<const float*> imgs{f.low.data()};
  std::vector<std::string> names{"Low dose"};
  for (std::size_t m = 0; m < f.outputs.size(); ++m) {
    imgs.push_back(f.outputs[m].data());
    names.push_back(labels[m]);
  }
  for (std::int64_t p = 0; p < n; ++p) {
    const std::int64_t left = gap + p * (f.cols + gap);
    c.colour(
        difference_colours(imgs[static_cast<std::size_t>(p)], f.standard.data(), plane, diff_scale),
        f.rows, f.cols, caption, left);
    c.text("|" + names[static_cast<std::size_t>(p)] + " - standard|", 3, left, {255, 255, 255});
  }
  // Colour bar: full scale at the top, 0 at the bottom.
  const std::int64_t left = gap + n * (f.cols + gap);
  for (std::int64_t i = 0; i < f.rows; ++i)
    c.fill(caption + i, left, 1, bar,
           colour_at(1.0 - static_cast<double>(i) / static_cast<double>(f.rows - 1)));
  for (const double v : {0.0, 0.5, 1.0}) {
    const auto row = static_cast<std::int64_t>(caption + (1 - v) * static_cast<double>(f.rows - 1));
    c.text(tick_label(v * diff_scale) + (v == 1.0 ? " HU" : ""),
           std::clamp<std::int64_t>(row - 3, caption, caption + f.rows - 7), left + bar + 4,
           {255, 255, 255});
  }
  return c;
}

Canvas loss_figure(const std::vector<ModelReport>& models) {
  const std::int64_t H = 420, W = 760, left = 70, right = 230, top = 30, bottom = 40;
  Canvas c(H, W);
  const Rgb ink{40, 40, 40}, grid{225, 225, 225};
  const std::int64_t pw = W - left - right, ph = H - top - bottom;
  struct Series {
    std::vector<double> x, y;    // training loss, moving average
    std::vector<double> vx, vy;  // validation loss per epoch
  };
  std::vector<Series> series;
  double xmax = 1, ylo = std::numeric_limits<double>::infinity(), yhi = -ylo;
  for (const ModelReport& m : models) {
    Series s;
    std::map<int, std::vector<double>> by_epoch;
    for (const auto& st : m.log.steps) by_epoch[st.epoch].push_back(st.loss);
    std::vector<double> xs, ys;
    for (const auto& [e, losses] : by_epoch)
      for (std::size_t j = 0; j < losses.size(); ++j) {
        xs.push_back(e - 1 + static_cast<double>(j + 1) / static_cast<double>(losses.size()));
        ys.push_back(losses[j]);
      }
    // Moving average: at least 5 steps once there are 25, else a fortieth of the run.
    const std::size_t win = ys.size() >= 25 ? std::max<std::size_t>(5, ys.size() / 40) : 1;
    double run = 0;
    for (std::size_t i = 0; i < ys.size(); ++i) {
      run += ys[i];
      if (i >= win) run -= ys[i - win];
      const double avg = run / static_cast<double>(std::min(i + 1, win));
      if (avg > 0 && std::isfinite(avg)) {
        s.x.push_back(xs[i]);
        s.y.push_back(avg);
      }
    }
    for (const auto& e : m.log.epochs)
      if (e.val_loss > 0 && std::isfinite(e.val_loss)) {
        s.vx.push_back(e.epoch);
        s.vy.push_back(e.val_loss);
      }
    for (const double v : s.y) ylo = std::min(ylo, v), yhi = std::max(yhi, v);
    for (const double v : s.vy) ylo = std::min(ylo, v), yhi = std::max(yhi, v);
    for (const double v : s.x) xmax = std::max(xmax, v);
    for (const double v : s.vx) xmax = std::max(xmax, v);
    series.push_back(s);
  }
  if (!(ylo < yhi)) ylo = 1e-4, yhi = 1e-1;
  const double l0 = std::floor(std::log10(ylo)), l1 = std::ceil(std::log10(yhi));
  const double span = std::max(1.0, l1 - l0);
  auto px = [&](double x) {
    return static_cast<double>(left) + x / xmax * static_cast<double>(pw);
  };
  auto py = [&](double y) {
    return static_cast<double>(top) + (l0 + span - std::log10(y)) / span * static_cast<double>(ph);
  };
  // Grid and ticks: decades (and 2, 5 within them) on y, epochs on x.
  for (double d = l0; d <= l0 + span + 1e-9; d += 1)
    for (const double k : {1.0, 2.0, 5.0}) {
      const double v = k * std::pow(10, d);
      if (std::log10(v) > l0 + span + 1e-9) continue;
      const double r = py(v);
      c.line(r, left, r, left + pw, grid);
      if (k == 1.0) {
        char buf[16];
        std::snprintf(buf, sizeof buf, "1E%d", static_cast<int>(d));
        c.text(buf, static_cast<std::int64_t>(r) - 3, left - 8 - Canvas::text_width(buf), ink);
      }
    }
  for (const double e : nice_ticks(0, xmax, 8)) {
    const double q = px(e);
    c.line(top, q, top + ph, q, grid);
    const std::string t = tick_label(e);
    c.text(t, top + ph + 6, static_cast<std::int64_t>(q) - Canvas::text_width(t) / 2, ink);
  }
  c.line(top, left, top + ph, left, ink);
  c.line(top + ph, left, top + ph, left + pw, ink);
  c.text("Epoch", H - 16, left + pw / 2 - 15, ink);
  c.text("Loss (MSE + 0.1 (1 - MS-SSIM)), log scale", 10, left, ink);
  for (std::size_t m = 0; m < series.size(); ++m) {
    const Rgb col = series_colour(m);
    const Series& s = series[m];
    for (std::size_t i = 1; i < s.x.size(); ++i)
      c.line(py(s.y[i - 1]), px(s.x[i - 1]), py(s.y[i]), px(s.x[i]), col, 2);
    if (s.x.size() == 1)
      c.fill(static_cast<std::int64_t>(py(s.y[0])) - 1, static_cast<std::int64_t>(px(s.x[0])) - 1,
             3, 3, col);
    for (std::size_t i = 0; i < s.vx.size(); ++i)
      c.fill(static_cast<std::int64_t>(py(s.vy[i])) - 3, static_cast<std::int64_t>(px(s.vx[i])) - 3,
             7, 7, col);
    const std::int64_t ly = top + 10 + static_cast<std::int64_t>(m) * 16;
    c.line(ly + 3, left + pw + 15, ly + 3, left + pw + 35, col, 2);
    c.fill(ly, left + pw + 22, 7, 7, col);
    c.text(models[m].label, ly, left + pw + 42, ink);
  }
  const std::int64_t ny = top + 18 + static_cast<std::int64_t>(series.size()) * 16;
  c.text("Line: training loss", ny, left + pw + 15, ink);
  c.text("(moving average)", ny + 10, left + pw + 15, ink);
  c.text("Square: validation", ny + 24, left + pw + 15, ink);
  return c;
}

std::string base64(const std::string& bytes) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string o;
  o.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    o += a[v >> 18];
    o += a[(v >> 12) & 63];
    o += a[(v >> 6) & 63];
    o += a[v & 63];
  }
  if (i < bytes.size()) {
    unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    o += a[v >> 18];
    o += a[(v >> 12) & 63];
    o += i + 1 < bytes.size() ? a[(v >> 6) & 63] : '=';
    o += '=';
  }
  return o;
}

std::vector<std::string> write_report(const EvalReport& r, const std::string& out) {
  fs::create_directories(out);
  std::vector<std::string> written;
  auto put = [&](const std::string& name, const std::string& text) {
    write_text(out + "/" + name, text);
    written.push_back(out + "/" + name);
  };
  const std::vector<std::string> labels = model_labels(r);

  // Figures.
  struct Fig {
    std::string file, caption;
  };
  std::vector<Fig> figs;
  for (const FigureSet& f : r.figures) {
    const std::string base = f.scan + "_slice" + std::to_string(f.slice);
    comparison_figure(f, labels, r.level, r.width).write_png(out + "/" + base + "_comparison.png");
    difference_figure(f, labels, r.diff_scale).write_png(out + "/" + base + "_difference.png");
    for (const char* kind : {"_comparison.png", "_difference.png"})
      written.push_back(out + "/" + base + kind);
    figs.push_back({base + "_comparison.png",
                    "Scan " + f.scan + ", slice " + std::to_string(f.slice) +
                        ": low dose, standard dose and each model's output (window level " +
                        tick_label(r.level) + " HU, width " + tick_label(r.width) +
                        " HU), as the thesis's Figure 4.3."});
    figs.push_back({base + "_difference.png",
                    "The same slice: absolute difference from the standard dose, one colour "
                    "scale for all (black 0, pale yellow " +
                        tick_label(r.diff_scale) + " HU and above), as Figure 4.4."});
  }
  bool any_log = false;
  for (const auto& m : r.models) any_log = any_log || !m.log.steps.empty();
  if (any_log) {
    loss_figure(r.models).write_png(out + "/loss_curves.png");
    written.push_back(out + "/loss_curves.png");
    figs.push_back({"loss_curves.png",
                    "Training loss (moving average over steps) and validation loss per epoch, "
                    "from each run's train.jsonl."});
  }

  // Tables and JSON.
  const std::string md = table_markdown(r);
  put("table.md", md);
  put("table.csv", table_csv(r));
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
  put("report.json", j.dump(2) + "\n");

  // The page.
  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>ddnet eval: "
    << html_escape(r.dataset)
    << "</title>\n<style>body{font-family:sans-serif;max-width:1200px;"
       "margin:2em auto;color:#222}table{border-collapse:collapse;margin:1em 0}td,th{border:1px "
       "solid #ccc;padding:4px 8px;text-align:right}th{background:#f2f2f2}td:first-child,"
       "th:first-child{text-align:left}img{max-width:100%;display:block;margin:0.5em 0}"
       "figcaption{color:#555;margin-bottom:1.5em}</style></head><body>\n";
  h << "<h1>Denoising evaluation</h1>\n<p>Dataset <code>" << html_escape(r.dataset)
    << "</code>, split <code>" << html_escape(r.split) << "</code>: " << r.scans.size()
    << " scan(s), " << overall(r.baseline).mse.n << " slices; device " << html_escape(r.device)
    << ". Every slice (3D outputs split back into slices) is scored against the standard dose "
       "after scaling both with the reference volume's min and max; mean ± std over slices. "
       "SSIM: 11x11 Gaussian window, sigma 1.5 (scikit-image's); MS-SSIM: the published code's, "
       "the one the thesis's Table 4.1 reports; RMSE in HU.</p>\n";
  h << "<h2>Summary (as the thesis's Table 4.1)</h2>\n<table><tr><th>Model</th><th>Epochs</th>"
       "<th>Slices</th><th>Batch</th><th>Training time</th><th>MSE</th><th>PSNR (dB)</th>"
       "<th>SSIM</th><th>MS-SSIM</th><th>RMSE (HU)</th></tr>\n";
  for (const Row& row : overall_rows(r)) {
    h << "<tr><td>" << html_escape(row.model) << "</td><td>" << row.epochs << "</td><td>"
      << row.slices << "</td><td>" << row.batch << "</td><td>" << row.time << "</td>";
    for (const auto& cell : score_cells(row.s)) h << "<td>" << cell << "</td>";
    h << "</tr>\n";
  }
  h << "</table>\n<h2>Per scan</h2>\n<table><tr><th>Scan</th><th>Slices</th><th>Model</th>"
       "<th>MSE</th><th>PSNR (dB)</th><th>SSIM</th><th>MS-SSIM</th><th>RMSE (HU)</th></tr>\n";
  for (const std::string& scan : r.scans) {
    auto line = [&](const std::string& label, const std::vector<models::SliceScores>& v) {
      h << "<tr><td>" << html_escape(scan) << "</td><td>" << v.size() << "</td><td>"
        << html_escape(label) << "</td>";
      for (const auto& cell : score_cells(models::summarise(v))) h << "<td>" << cell << "</td>";
      h << "</tr>\n";
    };
    line("Low dose (no model)", r.baseline.at(scan));
    for (const ModelReport& m : r.models) line(m.label, m.scans.at(scan));
  }
  h << "</table>\n<h2>Models</h2>\n<ul>\n";
  for (const ModelReport& m : r.models)
    h << "<li><b>" << html_escape(m.label) << "</b>: <code>" << html_escape(m.checkpoint)
      << "</code>" << (m.has_config ? ", " + m.config.model + " model" : std::string())
      << ", denoised the split in " << fixed(m.denoise_seconds, 1) << " s</li>\n";
  h << "</ul>\n<h2>Figures</h2>\n";
  for (const Fig& f : figs)
    h << "<figure><img alt=\"" << html_escape(f.file) << "\" src=\"data:image/png;base64,"
      << base64(read_bytes(out + "/" + f.file)) << "\"><figcaption>" << html_escape(f.caption)
      << "</figcaption></figure>\n";
  h << "</body></html>\n";
  put("report.html", h.str());
  return written;
}

}  // namespace ddnet::tools
