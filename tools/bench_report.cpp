// The reports of `ddnet bench` (tools/bench_report.h).
#include "tools/bench_report.h"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/error.h"
#include "tools/canvas.h"
#include "tools/report.h"

namespace ddnet::tools {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

double median_of(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

__attribute__((format(printf, 1, 2))) std::string fmt(const char* f, ...) {
  char buf[96];
  va_list args;
  va_start(args, f);
  std::vsnprintf(buf, sizeof buf, f, args);
  va_end(args);
  return buf;
}

// A time in its natural unit.
std::string fmt_time(double s) {
  if (s <= 0) return "-";
  if (s < 1e-3) return fmt("%.0f us", s * 1e6);
  if (s < 1) return fmt(s < 0.01 ? "%.2f ms" : s < 0.1 ? "%.1f ms" : "%.0f ms", s * 1e3);
  return fmt("%.2f s", s);
}

std::string display_id(const std::string& id) {
  const auto h = id.find('#');
  return h == std::string::npos ? id : id.substr(0, h) + " (again)";
}

struct Row {
  const CaseResult* r = nullptr;
  SideStats ours;
  std::vector<SideStats> theirs;
  std::vector<double> ratio;  // paired, per baseline; 0 where none
  double gbps = 0, gflops = 0, copy_frac = 0, peak_frac = 0, roof_frac = 0;
};

Row make_row(const BenchRun& run, const CaseResult& r) {
  Row row;
  row.r = &r;
  row.ours = side_stats(r.ours);
  for (std::size_t i = 0; i < r.theirs.size(); ++i) {
    row.theirs.push_back(side_stats(r.theirs[i]));
    row.ratio.push_back(paired_ratio(r.ours, r.theirs[i]));
  }
  if (row.ours.n > 0 && row.ours.median > 0) {
    const double t = row.ours.median;
    row.gbps = r.c.bytes / t / 1e9;
    row.gflops = r.c.flops / t / 1e9;
    if (run.limits.copy_bytes_per_s > 0 && r.c.bytes > 0)
      row.copy_frac = r.c.bytes / t / run.limits.copy_bytes_per_s;
    if (run.limits.peak_flops > 0 && r.c.flops > 0)
      row.peak_frac = r.c.flops / t / run.limits.peak_flops;
    // The roofline's attainable rate at the case's intensity.
    if (r.c.flops > 0 && r.c.bytes > 0 && run.limits.peak_flops > 0 &&
        run.limits.copy_bytes_per_s > 0) {
      const double attainable =
          std::min(run.limits.peak_flops, run.limits.copy_bytes_per_s * r.c.flops / r.c.bytes);
      row.roof_frac = r.c.flops / t / attainable;
    } else if (r.c.flops > 0 && run.limits.peak_flops > 0) {
      row.roof_frac = row.peak_frac;
    } else if (r.c.bytes > 0) {
      row.roof_frac = row.copy_frac;
    }
  }
  return row;
}

json samples_json(const std::vector<BenchSample>& v) {
  json a = json::array();
  for (const BenchSample& s : v) {
    if (s.seconds <= 0) continue;
    json o{{"seconds", s.seconds}, {"iterations", s.iterations}};
    if (s.peak_bytes >= 0) o["peak_bytes"] = s.peak_bytes;
    a.push_back(o);
  }
  return a;
}

json stats_json(const SideStats& s) {
  return {{"samples", s.n}, {"median_s", s.median}, {"min_s", s.min}, {"max_s", s.max}};
}

double peak_of(const std::vector<BenchSample>& v) {
  double p = -1;
  for (const BenchSample& s : v) p = std::max(p, s.peak_bytes);
  return p;
}

// --- figures ---------------------------------------------------------------------------------

struct LogAxis {
  double lo, hi;      // data range (powers of ten)
  std::int64_t a, b;  // pixel range
  double at(double v) const {
    return static_cast<double>(a) + (std::log10(v) - std::log10(lo)) /
                                        (std::log10(hi) - std::log10(lo)) *
                                        static_cast<double>(b - a);
  }
};

void dot(Canvas& cv, double row, double col, Rgb c, bool filled) {
  for (int dr = -4; dr <= 4; ++dr)
    for (int dc = -4; dc <= 4; ++dc) {
      const int d2 = dr * dr + dc * dc;
      if (filled ? d2 <= 16 : (d2 <= 16 && d2 >= 8))
        cv.set(static_cast<std::int64_t>(row) + dr, static_cast<std::int64_t>(col) + dc, c);
    }
}

std::string si(double v) {
  if (v >= 1e3) return fmt("%.0f", v);
  if (v >= 1) return fmt("%.0f", v);
  if (v >= 0.1) return fmt("%.1f", v);
  return fmt("%.2f", v);
}

void roofline_png(const BenchRun& run, const std::vector<Row>& rows, const fs::path& path) {
  const std::int64_t W = 980, H = 640, L = 90, R = 700, T = 60, B = 560;
  Canvas cv(H, W);
  const Rgb ink{40, 40, 40}, grid{225, 225, 225}, roof{0, 0, 0};
  const double peak_g = run.limits.peak_flops / 1e9, bw_g = run.limits.copy_bytes_per_s / 1e9;
  double ymax = std::max(peak_g, 1.0), ymin = ymax;
  for (const Row& r : rows) {
    if (r.r->c.flops <= 0 || r.r->c.bytes <= 0 || r.ours.n == 0) continue;
    ymin = std::min(ymin, r.gflops);
    for (std::size_t i = 0; i < r.theirs.size(); ++i)
      if (r.theirs[i].n) ymin = std::min(ymin, r.r->c.flops / r.theirs[i].median / 1e9);
  }
  LogAxis x{0.01, 10000, L, R};
  LogAxis y{std::pow(10.0, std::floor(std::log10(std::max(ymin, 1e-3)))),
            std::pow(10.0, std::ceil(std::log10(ymax * 1.5))), B, T};
  for (double v = x.lo; v <= x.hi * 1.01; v *= 10) {
    cv.line(T, x.at(v), B, x.at(v), grid);
    cv.text(si(v), B + 8, static_cast<std::int64_t>(x.at(v)) - 10, ink);
  }
  for (double v = y.lo; v <= y.hi * 1.01; v *= 10) {
    cv.line(y.at(v), L, y.at(v), R, grid);
    cv.text(si(v), static_cast<std::int64_t>(y.at(v)) - 4, 20, ink);
  }
  cv.line(B, L, B, R, ink);
  cv.line(T, L, B, L, ink);
  cv.text("ROOFLINE: " + run.machine, 14, L, ink, 2);
  cv.text("ARITHMETIC INTENSITY (FLOP/BYTE)", B + 30, L + 150, ink);
  cv.text("GFLOP/S", T - 18, 20, ink);
  // The roof: bandwidth slope up to the ridge, then the peak.
  if (peak_g > 0 && bw_g > 0) {
    double prev_r = 0, prev_c = 0;
    for (int i = 0; i <= 400; ++i) {
      const double xi = x.lo * std::pow(x.hi / x.lo, i / 400.0);
      const double yi = std::min(peak_g, bw_g * xi);
      if (yi < y.lo) continue;
      const double rr = y.at(yi), cc = x.at(xi);
      if (prev_c > 0) cv.line(prev_r, prev_c, rr, cc, roof, 2);
      prev_r = rr;
      prev_c = cc;
    }
    cv.text(fmt("PEAK %.0f GFLOP/S", peak_g), static_cast<std::int64_t>(y.at(peak_g)) - 14, R - 170,
            ink);
    cv.text(fmt("COPY %.1f GB/S", bw_g), static_cast<std::int64_t>(y.at(peak_g)) - 14, L + 10, ink);
  }
  // Points: ours filled, each baseline hollow in its colour; a label per case.
  std::int64_t legend = T;
  int k = 0;
  for (const Row& r : rows) {
    const BenchCase& c = r.r->c;
    if (c.flops <= 0 || c.bytes <= 0 || r.ours.n == 0 || c.id.find('#') != std::string::npos)
      continue;
    const double xi = c.flops / c.bytes;
    const Rgb col = series_colour(static_cast<std::size_t>(k++));
    dot(cv, y.at(r.gflops), x.at(xi), col, true);
    for (std::size_t i = 0; i < r.theirs.size(); ++i)
      if (r.theirs[i].n) dot(cv, y.at(c.flops / r.theirs[i].median / 1e9), x.at(xi), col, false);
    cv.fill(legend + 2, R + 20, 8, 8, col);
    cv.text(c.id, legend + 2, R + 34, ink);
    legend += 14;
  }
  cv.text("FILLED: DDNET. HOLLOW: PYTORCH", B + 50, L + 150, ink);
  cv.write_png(path.string());
}

void ratios_png(const BenchRun& run, const std::vector<Row>& rows, const fs::path& path) {
  const std::int64_t bar_h = 14, gap = 6, L = 300, R = 940, T = 60;
  std::size_t nbars = 0;
  for (const Row& r : rows)
    for (double q : r.ratio) nbars += q > 0;
  const std::int64_t H = T + static_cast<std::int64_t>(nbars) * (bar_h + gap) + 60;
  Canvas cv(std::max<std::int64_t>(H, 160), 980);
  const Rgb ink{40, 40, 40}, grid{225, 225, 225};
  const LogAxis x{1.0 / 16, 64, L, R};
  for (double v = x.lo; v <= x.hi * 1.01; v *= 2) {
    cv.line(T - 6, x.at(v), cv.rows() - 40, x.at(v), v == 1.0 ? ink : grid);
    cv.text(v >= 1 ? fmt("%.0fX", v) : fmt("1/%.0f", 1 / v), cv.rows() - 32,
            static_cast<std::int64_t>(x.at(v)) - 10, ink);
  }
  cv.text("PYTORCH TIME / DDNET TIME (PAIRED MEDIAN): RIGHT OF 1X DDNET IS FASTER", 14, 20, ink, 2);
  std::int64_t top = T;
  for (const Row& r : rows)
    for (std::size_t i = 0; i < r.ratio.size(); ++i) {
      const double q = r.ratio[i];
      if (q <= 0) continue;
      const double qc = std::clamp(q, x.lo, x.hi);
      const double a = x.at(1.0), b = x.at(qc);
      cv.fill(top, static_cast<std::int64_t>(std::min(a, b)), bar_h,
              std::max<std::int64_t>(1, static_cast<std::int64_t>(std::abs(b - a))),
              series_colour(i));
      std::string label = display_id(r.r->c.id);
      if (run.baselines.size() > 1) label += " " + run.baselines[i].version;
      cv.text(label.substr(0, 48), top + 3, 10, ink);
      cv.text(fmt(q >= 10 ? "%.0fX" : "%.2fX", q), top + 3,
              static_cast<std::int64_t>(std::max(a, b)) + 6, ink);
      top += bar_h + gap;
    }
  cv.write_png(path.string());
}

}  // namespace

SideStats side_stats(const std::vector<BenchSample>& s) {
  SideStats st;
  std::vector<double> v;
  for (const BenchSample& x : s)
    if (x.seconds > 0) v.push_back(x.seconds);  // 0: a failed sample, kept for the pairing
  st.n = v.size();
  if (v.empty()) return st;
  st.median = median_of(v);
  st.min = *std::min_element(v.begin(), v.end());
  st.max = *std::max_element(v.begin(), v.end());
  return st;
}

double paired_ratio(const std::vector<BenchSample>& ours, const std::vector<BenchSample>& theirs) {
  std::vector<double> q;
  for (std::size_t i = 0; i < std::min(ours.size(), theirs.size()); ++i)
    if (ours[i].seconds > 0 && theirs[i].seconds > 0)
      q.push_back(theirs[i].seconds / ours[i].seconds);
  return median_of(q);
}

void write_bench_reports(const BenchRun& run, const fs::path& dir) {
  std::vector<Row> rows;
  for (const CaseResult& r : run.results) rows.push_back(make_row(run, r));

  // bench.json: everything, every sample.
  json j;
  j["ddnet"] = {{"version", run.version}, {"commit", run.commit}};
  j["date"] = run.date;
  j["machine"] = {{"cpu", run.machine}, {"device", run.device}, {"threads", run.threads}};
  if (!run.gpu.empty()) j["machine"]["gpu"] = run.gpu;
  j["limits"] = {{"copy_bytes_per_s", run.limits.copy_bytes_per_s},
                 {"copy_source", run.limits.copy_source},
                 {"peak_flops", run.limits.peak_flops},
                 {"peak_source", run.limits.peak_source},
                 {"copy_samples_bytes_per_s", run.limits.copy_samples},
                 {"stream_copy_bytes_per_s", run.limits.stream_copy_bytes_per_s},
                 {"stream_copy_samples_bytes_per_s", run.limits.stream_copy_samples},
                 {"peak_samples_flops", run.limits.peak_samples}};
  j["settings"] = {{"repeat", run.repeat},
                   {"min_time_s", run.min_time},
                   {"pairs_per_round_under_20ms", run.small_pairs},
                   {"order", "round by round; in each round every case: ours, then each baseline"}};
  j["libraries"] = json::object();
  for (const auto& [name, what] : run.libraries) j["libraries"][name] = what;
  for (const Baseline& b : run.baselines) j["libraries"]["torch " + b.python] = b.version;
  j["baselines"] = json::array();
  for (const Baseline& b : run.baselines)
    j["baselines"].push_back({{"name", b.name}, {"python", b.python}, {"torch", b.version}});
  j["notes"] = run.notes;
  j["wall_seconds"] = run.seconds;
  j["cases"] = json::array();
  double r1 = 0, r2 = 0;
  for (const Row& row : rows) {
    const CaseResult& r = *row.r;
    json c{{"id", r.c.id},
           {"suite", r.c.suite},
           {"title", r.c.title},
           {"ours_case", r.c.binary + " " + (run.device == "cuda" ? r.c.cuda_name : r.c.cpu_name)},
           {"bytes", r.c.bytes},
           {"flops", r.c.flops},
           {"napkin", r.c.napkin},
           {"ours", stats_json(row.ours)}};
    c["ours"]["all"] = samples_json(r.ours);
    if (!r.ours_error.empty()) c["ours"]["error"] = r.ours_error;
    if (!r.skipped.empty()) c["skipped"] = r.skipped;
    const double peak = peak_of(r.ours);
    if (peak >= 0) c["ours"]["peak_bytes"] = peak;
    c["achieved"] = {{"GB_per_s", row.gbps},
                     {"GFLOP_per_s", row.gflops},
                     {"fraction_of_copy_bandwidth", row.copy_frac},
                     {"fraction_of_peak_flops", row.peak_frac},
                     {"fraction_of_roofline", row.roof_frac}};
    c["baselines"] = json::array();
    for (std::size_t i = 0; i < r.theirs.size(); ++i) {
      json b = stats_json(row.theirs[i]);
      b["name"] = run.baselines[i].name;
      b["case"] = r.c.torch;
      b["all"] = samples_json(r.theirs[i]);
      b["ratio_theirs_over_ours_paired_median"] = row.ratio[i];
      const double p = peak_of(r.theirs[i]);
      if (p >= 0) b["peak_bytes"] = p;
      if (auto e = r.their_errors.find(i); e != r.their_errors.end()) b["error"] = e->second;
      c["baselines"].push_back(b);
    }
    if (!row.ratio.empty()) {
      if (r.c.id == run.repeat_check) r1 = row.ratio[0];
      if (r.c.id == run.repeat_check + "#2") r2 = row.ratio[0];
    }
    j["cases"].push_back(c);
  }
  json rep{{"case", run.repeat_check}};
  if (r1 > 0 && r2 > 0) {
    rep["ratio_first"] = r1;
    rep["ratio_second"] = r2;
    rep["relative_difference"] = std::abs(r1 / r2 - 1);
  }
  j["repeatability"] = rep;
  {
    std::ostringstream s;
    s << j.dump(2) << "\n";
    write_text_file((dir / "bench.json").string(), s.str());
  }

  // bench.md
  std::ostringstream md;
  md << "# ddnet bench, " << run.date.substr(0, 10) << "\n\n"
     << "- ddnet " << run.version << ", commit " << run.commit << "; device " << run.device
     << (run.gpu.empty() ? "" : " (" + run.gpu + ")") << "\n"
     << "- CPU: " << run.machine << ", " << run.threads << " threads on both sides\n"
     << "- limits: copy " << fmt("%.1f", run.limits.copy_bytes_per_s / 1e9) << " GB/s ("
     << run.limits.copy_source << "); peak " << fmt("%.0f", run.limits.peak_flops / 1e9)
     << " GFLOP/s (" << run.limits.peak_source << ")\n";
  if (run.limits.stream_copy_bytes_per_s > 0)
    md << "- for context: the same copy with non-temporal stores (as the kernels that write more "
          "than the last-level cache use) reached "
       << fmt("%.1f", run.limits.stream_copy_bytes_per_s / 1e9)
       << " GB/s, best sample; the fractions below are of the memcpy figure\n";
  for (const auto& [name, what] : run.libraries)
    if (name != "ddnet") md << "- " << name << ": " << what << "\n";
  for (const Baseline& b : run.baselines)
    md << "- baseline: " << b.name << " (" << b.python << ")\n";
  for (const std::string& n : run.notes) md << "- note: " << n << "\n";
  md << "- " << run.repeat << " rounds; in each, every case runs ours then each baseline ("
     << run.small_pairs << " times for cases under 20 ms) "
     << "(at least " << run.min_time << " s a sample); ratios are medians of the paired rounds; "
     << fmt("%.0f", run.seconds) << " s in all\n";
  if (rep.contains("relative_difference"))
    md << "- repeatability: " << run.repeat_check << " measured twice in this run: ratio "
       << fmt("%.2f", r1) << " and " << fmt("%.2f", r2) << " ("
       << fmt("%.1f", 100 * rep["relative_difference"].get<double>()) << " % apart)\n";
  md << "\n| suite | case | ours (median, min-max) |";
  for (const Baseline& b : run.baselines) md << " " << b.name << " | ratio |";
  md << " GB/s (of copy) | GFLOP/s (of peak) | of roofline | peak memory |\n|---|---|---|";
  for (std::size_t i = 0; i < run.baselines.size(); ++i) md << "---|---|";
  md << "---|---|---|---|\n";
  for (const Row& row : rows) {
    const CaseResult& r = *row.r;
    md << "| " << r.c.suite << " | " << display_id(r.c.id) << " |";
    if (row.ours.n)
      md << " " << fmt_time(row.ours.median) << " (" << fmt_time(row.ours.min) << "-"
         << fmt_time(row.ours.max) << ", n=" << row.ours.n << ") |";
    else
      md << " " << (r.ours_error.empty() ? r.skipped : "error: " + r.ours_error) << " |";
    for (std::size_t i = 0; i < r.theirs.size(); ++i) {
      if (row.theirs[i].n)
        md << " " << fmt_time(row.theirs[i].median) << " |"
           << (row.ratio[i] > 0 ? fmt(" %.2fx", row.ratio[i]) : std::string(" -")) << " |";
      else
        md << " " << (r.c.torch.empty() ? "no baseline" : "error") << " | - |";
    }
    md << " "
       << (r.c.bytes > 0 && row.ours.n
               ? fmt("%.1f", row.gbps) + fmt(" (%.0f %%)", 100 * row.copy_frac)
               : "-")
       << " | "
       << (r.c.flops > 0 && row.ours.n
               ? fmt("%.1f", row.gflops) +
                     (row.peak_frac > 0 ? fmt(" (%.0f %%)", 100 * row.peak_frac) : "")
               : "-")
       << " | " << (row.roof_frac > 0 ? fmt("%.0f %%", 100 * row.roof_frac) : "-") << " | ";
    const double peak = peak_of(r.ours);
    md << (peak >= 0 ? fmt("%.0f MiB", peak / (1 << 20)) : "-");
    for (std::size_t i = 0; i < r.theirs.size(); ++i) {
      const double p = peak_of(r.theirs[i]);
      if (p >= 0) md << fmt(" / %.0f MiB", p / (1 << 20));
    }
    md << " |\n";
  }
  md << "\nRatio: PyTorch's time over ours (above 1: ours is faster). GB/s and GFLOP/s are ours, "
        "from the napkin counts in bench.json (`bytes`, `flops`, `napkin`); \"of roofline\" is "
        "the achieved rate over the lower of the peak and bandwidth x intensity.\n\n"
     << "![roofline](roofline.png)\n\n![ratios](ratios.png)\n";
  write_text_file((dir / "bench.md").string(), md.str());

  roofline_png(run, rows, dir / "roofline.png");
  ratios_png(run, rows, dir / "ratios.png");
}

void print_bench_table(const BenchRun& run, std::ostream& os) {
  char line[512];
  std::snprintf(line, sizeof line, "%-30s %12s", "case", "ours");
  os << line;
  for (const Baseline& b : run.baselines) {
    std::snprintf(line, sizeof line, " %14s %7s", b.name.substr(0, 14).c_str(), "ratio");
    os << line;
  }
  os << "  achieved\n";
  for (const CaseResult& r : run.results) {
    const Row row = make_row(run, r);
    std::snprintf(line, sizeof line, "%-30s %12s", display_id(r.c.id).substr(0, 30).c_str(),
                  row.ours.n ? fmt_time(row.ours.median).c_str() : "error");
    os << line;
    for (std::size_t i = 0; i < r.theirs.size(); ++i) {
      std::snprintf(line, sizeof line, " %14s %7s",
                    row.theirs[i].n ? fmt_time(row.theirs[i].median).c_str() : "-",
                    row.ratio[i] > 0 ? fmt("%.2fx", row.ratio[i]).c_str() : "-");
      os << line;
    }
    if (row.ours.n) {
      if (r.c.bytes > 0)
        os << "  " << fmt("%.1f GB/s", row.gbps) << fmt(" (%.0f%% of copy)", 100 * row.copy_frac);
      if (r.c.flops > 0) os << "  " << fmt("%.1f GFLOP/s", row.gflops);
    } else if (!r.ours_error.empty()) {
      os << "  " << r.ours_error;
    }
    os << "\n";
  }
}

}  // namespace ddnet::tools
