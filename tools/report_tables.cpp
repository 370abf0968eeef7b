// ddnet eval's tables: the Table 4.1-like summary and the per-scan rows, as markdown and CSV
// (report.h), and the rows and cells the HTML page shows too.
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tools/report.h"
#include "tools/report_internal.h"

namespace ddnet::tools {

namespace report_internal {

std::string fixed(double v, int decimals) {
  if (std::isnan(v)) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

namespace {

std::string pm(const models::Stat& s, int decimals) {
  if (s.n == 0) return "n/a";
  return fixed(s.mean, decimals) + " ± " + fixed(s.std, decimals);
}

}  // namespace

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

}  // namespace report_internal

using namespace report_internal;

namespace {

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string o = "\"";
  for (const char c : s) o += c == '"' ? std::string("\"\"") : std::string(1, c);
  return o + "\"";
}

}  // namespace

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

}  // namespace ddnet::tools
