// ddnet eval's figures: each scan's slice through every model (the thesis's Figure 4.3), the
// differences from the standard dose on one colour scale (Figure 4.4), and the loss curves.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "tools/canvas.h"
#include "tools/png.h"
#include "tools/report.h"
#include "tools/report_internal.h"

namespace ddnet::tools {

namespace report_internal {

std::string tick_label(double v) {
  char buf[32];
  if (std::fabs(v - std::round(v)) < 1e-9)
    std::snprintf(buf, sizeof buf, "%.0f", v);
  else
    std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace report_internal

using namespace report_internal;

namespace {

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

}  // namespace

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

std::vector<report_internal::Figure> report_internal::write_figures(
    const EvalReport& r, const std::string& out, std::vector<std::string>* written) {
  const std::vector<std::string> labels = model_labels(r);
  std::vector<Figure> figs;
  for (const FigureSet& f : r.figures) {
    const std::string base = f.scan + "_slice" + std::to_string(f.slice);
    comparison_figure(f, labels, r.level, r.width).write_png(out + "/" + base + "_comparison.png");
    difference_figure(f, labels, r.diff_scale).write_png(out + "/" + base + "_difference.png");
    for (const char* kind : {"_comparison.png", "_difference.png"})
      written->push_back(out + "/" + base + kind);
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
    written->push_back(out + "/loss_curves.png");
    figs.push_back({"loss_curves.png",
                    "Training loss (moving average over steps) and validation loss per epoch, "
                    "from each run's train.jsonl."});
  }
  return figs;
}

}  // namespace ddnet::tools
