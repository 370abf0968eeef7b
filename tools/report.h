// `ddnet eval`'s outputs: the training log of a run, the Table 4.1-like summary (markdown, CSV),
// the JSON report, the figures (Figures 4.3 and 4.4 of the thesis, loss curves) and one
// self-contained HTML page with all of them.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "models/metrics.h"
#include "models/train.h"
#include "tools/canvas.h"

namespace ddnet::tools {

// What train.jsonl (ddnet train) says about a run.
struct TrainingLog {
  std::string path;  // empty when no log was found beside the checkpoint
  struct Step {
    int epoch = 0;
    std::int64_t step = 0;
    double loss = 0;
  };
  struct Epoch {
    int epoch = 0;
    double train_loss = 0, val_loss = 0;
  };
  std::vector<Step> steps;    // one per step number (a resumed run's repeats: the last one)
  std::vector<Epoch> epochs;  // likewise per epoch
  double seconds = 0;         // training time: steps' and validations' wall time
  bool timed = false;         // false for logs written before the times were recorded
};
// Reads <folder of checkpoint>/train.jsonl; a missing file gives an empty log, a malformed line
// is skipped with a warning naming the file and line.
TrainingLog read_training_log(const std::string& checkpoint);

struct ModelReport {
  std::string label, checkpoint;
  models::TrainConfig config;
  bool has_config = false;
  TrainingLog log;
  std::map<std::string, std::vector<models::SliceScores>> scans;  // scan -> per-slice scores
  double denoise_seconds = 0;
};

struct FigureSet {  // one slice of one scan, every model's output
  std::string scan;
  std::int64_t slice = 0, rows = 0, cols = 0;
  std::vector<float> low, standard;
  std::vector<std::vector<float>> outputs;  // per model
};

struct EvalReport {
  std::string dataset, split, device;
  double level = 40, width = 400, diff_scale = 100;  // figure window and difference scale (HU)
  std::vector<std::string> scans;
  std::map<std::string, std::vector<models::SliceScores>> baseline;  // low dose vs standard
  std::vector<ModelReport> models;
  std::vector<FigureSet> figures;
};

// Every scan's slices together.
models::Scores overall(const std::map<std::string, std::vector<models::SliceScores>>& scans);

std::string table_markdown(const EvalReport& r);  // overall table, then per scan
std::string table_csv(const EvalReport& r);       // one row per (model, scan) and (model, all)

// Writes `text` to `path` atomically (a synced temporary renamed over it, the folder synced).
void write_text_file(const std::string& path, const std::string& text);

// Writes table.md, table.csv, report.json, the figures (<scan>_slice<k>_comparison.png,
// <scan>_slice<k>_difference.png, loss_curves.png) and report.html into `out` (each file written
// under a temporary name and renamed). Returns the files written.
std::vector<std::string> write_report(const EvalReport& r, const std::string& out);

// Figure pieces, for tests and reuse.
Canvas comparison_figure(const FigureSet& f, const std::vector<std::string>& labels, double level,
                         double width);
Canvas difference_figure(const FigureSet& f, const std::vector<std::string>& labels,
                         double diff_scale);
Canvas loss_figure(const std::vector<ModelReport>& models);  // log-scale loss against epochs
std::string base64(const std::string& bytes);
std::string format_duration(double seconds);  // H:MM:SS

}  // namespace ddnet::tools
