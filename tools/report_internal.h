// Private to tools/report*.cpp (report.h is the interface): numbers as the tables print them, the
// summary rows, tick labels, and the figure and page writers that write_report puts together.
#pragma once

#include <string>
#include <vector>

#include "models/metrics.h"
#include "tools/report.h"

namespace ddnet::tools::report_internal {

// ---- tables (report_tables.cpp) -------------------------------------------------------------

std::string fixed(double v, int decimals);  // "n/a" for NaN

struct Row {
  std::string model, epochs, slices, batch, time;
  models::Scores s;
};
std::vector<Row> overall_rows(const EvalReport& r);  // the low dose first, then each model
// MSE, PSNR, SSIM, MS-SSIM, RMSE as "mean ± std".
std::vector<std::string> score_cells(const models::Scores& s);

// ---- figures (report_figures.cpp) -----------------------------------------------------------

std::string tick_label(double v);  // whole numbers without decimals

struct Figure {  // a PNG written into the report folder, and its caption
  std::string file, caption;
};
// Writes every FigureSet's comparison and difference figures and, when a model has a training
// log, the loss curves into `out`; appends their paths to `written`.
std::vector<Figure> write_figures(const EvalReport& r, const std::string& out,
                                  std::vector<std::string>* written);

// ---- the page (report_html.cpp) -------------------------------------------------------------

// report.html: the summary and per-scan tables, the models, every figure inlined as base64
// (read back from `out`).
std::string report_html(const EvalReport& r, const std::vector<Figure>& figs,
                        const std::string& out);

}  // namespace ddnet::tools::report_internal
