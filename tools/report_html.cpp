// ddnet eval's page: one self-contained HTML file with the tables, the models and every figure
// inlined as base64 PNG.
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "engine/error.h"
#include "tools/report.h"
#include "tools/report_internal.h"

namespace ddnet::tools {

using namespace report_internal;

namespace {

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  DDNET_CHECK(f.good(), "cannot read ", path);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
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

}  // namespace

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

std::string report_internal::report_html(const EvalReport& r, const std::vector<Figure>& figs,
                                         const std::string& out) {
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
  for (const Figure& f : figs)
    h << "<figure><img alt=\"" << html_escape(f.file) << "\" src=\"data:image/png;base64,"
      << base64(read_bytes(out + "/" + f.file)) << "\"><figcaption>" << html_escape(f.caption)
      << "</figcaption></figure>\n";
  h << "</body></html>\n";
  return h.str();
}

}  // namespace ddnet::tools
