// ddnet eval's report pieces (tools/report.h, tools/canvas.h): the training-log reader, the
// tables, the figures and the self-contained HTML page.
#include <unistd.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tools/canvas.h"
#include "tools/report.h"

using namespace ddnet;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& tag) {
    path = fs::temp_directory_path() / ("ddnet_test_" + tag + "_" + std::to_string(getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

std::vector<models::SliceScores> slices(double mse, int n) {
  std::vector<models::SliceScores> v;
  for (int i = 0; i < n; ++i) {
    const double m = mse * (1 + 0.1 * i);
    v.push_back({m, 10 * std::log10(1 / m), 0.9, 0.95, 100 * std::sqrt(m)});
  }
  return v;
}

tools::EvalReport small_report(const fs::path& ckpt_dir) {
  tools::EvalReport r;
  r.dataset = "data.h5";
  r.split = "test";
  r.device = "cpu";
  r.scans = {"a", "b"};
  r.baseline = {{"a", slices(1e-3, 3)}, {"b", slices(2e-3, 2)}};
  tools::ModelReport m;
  m.label = "3D-DDnet-TL";
  m.checkpoint = (ckpt_dir / "final.h5").string();
  m.config.model = "3d";
  m.config.slices = 16;
  m.config.epochs = 5;
  m.has_config = true;
  m.log = tools::read_training_log(m.checkpoint);
  m.scans = {{"a", slices(2e-4, 3)}, {"b", slices(3e-4, 2)}};
  r.models.push_back(m);
  tools::FigureSet f;
  f.scan = "a";
  f.slice = 1;
  f.rows = 32;
  f.cols = 40;
  f.standard.assign(32 * 40, 0.0f);
  f.low = f.standard;
  f.low[5] = 500;  // one bright difference
  f.outputs = {f.standard};
  r.figures.push_back(f);
  return r;
}

}  // namespace

TEST_CASE("report: base64 and durations", "[tools][report]") {
  CHECK(tools::base64("") == "");
  CHECK(tools::base64("f") == "Zg==");
  CHECK(tools::base64("fo") == "Zm8=");
  CHECK(tools::base64("foo") == "Zm9v");
  CHECK(tools::base64("foobar") == "Zm9vYmFy");
  CHECK(tools::base64(std::string("\xff\x00\x10", 3)) == "/wAQ");
  CHECK(tools::format_duration(3725.4) == "1:02:05");
  CHECK(tools::format_duration(0) == "0:00:00");
}

TEST_CASE("report: training log with a resumed step and a broken line", "[tools][report]") {
  TempDir dir("report_log");
  {
    std::ofstream f(dir.path / "train.jsonl");
    f << R"({"type":"step","epoch":1,"step":1,"loss":0.5,"seconds":2})"
      << "\n"
      << R"({"type":"step","epoch":1,"step":2,"loss":0.4,"seconds":2})"
      << "\n"
      << "{not json\n"
      << R"({"type":"interrupted","step":2,"checkpoint":"x"})"
      << "\n"
      << R"({"type":"step","epoch":1,"step":2,"loss":0.3,"seconds":3})"
      << "\n"  // resumed
      << R"({"type":"epoch","epoch":1,"step":2,"train_loss":0.4,"val_loss":0.35,"val_seconds":1})"
      << "\n";
  }
  const auto log = tools::read_training_log((dir.path / "final.h5").string());
  CHECK(log.path == (dir.path / "train.jsonl").string());
  REQUIRE(log.steps.size() == 2);
  CHECK(log.steps[1].loss == 0.3);  // the resumed run's record wins
  REQUIRE(log.epochs.size() == 1);
  CHECK(log.epochs[0].val_loss == 0.35);
  CHECK(log.timed);
  CHECK(log.seconds == Approx(2 + 3 + 1));
  // No log beside the checkpoint: empty, not an error.
  const auto none = tools::read_training_log((dir.path / "sub" / "final.h5").string());
  CHECK(none.path.empty());
  CHECK(none.steps.empty());
}

TEST_CASE("report: tables, figures and one self-contained page", "[tools][report]") {
  TempDir dir("report_page");
  {
    std::ofstream f(dir.path / "train.jsonl");
    for (int s = 1; s <= 20; ++s)
      f << R"({"type":"step","epoch":)" << (s <= 10 ? 1 : 2) << R"(,"step":)" << s << R"(,"loss":)"
        << 0.1 / s << R"(,"seconds":1.5})"
        << "\n";
    f << R"({"type":"epoch","epoch":1,"train_loss":0.02,"val_loss":0.03,"val_seconds":0.5})"
      << "\n";
  }
  const tools::EvalReport r = small_report(dir.path);
  const std::string md = tools::table_markdown(r);
  CHECK_THAT(md, Catch::Contains("| Low dose (no model) |"));
  CHECK_THAT(md, Catch::Contains("| 3D-DDnet-TL | 5 | 16 | 1 | 0:00:31 |"));  // 20 x 1.5 + 0.5
  // 5 slices: 2e-4 x {1, 1.1, 1.2} and 3e-4 x {1, 1.1}
  CHECK_THAT(md, Catch::Contains("0.000258 ± 0.000049"));
  const std::string csv = tools::table_csv(r);
  CHECK_THAT(csv, Catch::Contains("model,checkpoint,scan,slices,mse_mean,mse_std"));
  CHECK_THAT(csv, Catch::Contains("3D-DDnet-TL,"));
  CHECK(std::count(csv.begin(), csv.end(), '\n') == 1 + 3 + 3);

  const fs::path out = dir.path / "eval";
  const auto files = tools::write_report(r, out.string());
  for (const char* name :
       {"table.md", "table.csv", "report.json", "report.html", "a_slice1_comparison.png",
        "a_slice1_difference.png", "loss_curves.png"}) {
    INFO(name);
    REQUIRE(fs::exists(out / name));
  }
  CHECK(slurp(out / "a_slice1_comparison.png").substr(1, 3) == "PNG");
  const std::string html = slurp(out / "report.html");
  CHECK_THAT(html, Catch::Contains("data:image/png;base64,iVBORw0KGgo"));  // embedded PNGs
  CHECK(html.find("src=\"a_slice") == std::string::npos);  // no links to files beside it
  CHECK_THAT(html, Catch::Contains("<td>3D-DDnet-TL</td>"));
  for (const auto& e : fs::directory_iterator(out)) CHECK(e.path().extension() != ".tmp");

  // The difference figure: zero difference is the colour map's black, the one bright pixel of
  // the low-dose panel (500 HU > the 100 HU full scale) its brightest colour.
  const tools::Canvas d = tools::difference_figure(r.figures[0], {"3D"}, 100);
  const auto px = [&](std::int64_t row, std::int64_t col) {
    const auto* p = d.rgb().data() + (row * d.cols() + col) * 3;
    return std::array<int, 3>{p[0], p[1], p[2]};
  };
  const std::int64_t top = 14, left = 6;  // caption height, gap
  CHECK(px(top + 0, left + 5) == std::array<int, 3>{252, 255, 164});
  CHECK(px(top + 10, left + 10) == std::array<int, 3>{0, 0, 4});
}

TEST_CASE("canvas: text, lines and the colour map", "[tools][report]") {
  tools::Canvas c(20, 40, {0, 0, 0});
  c.text("A1", 2, 2, {255, 255, 255});
  int lit = 0;
  for (std::size_t i = 0; i < c.rgb().size(); i += 3) lit += c.rgb()[i] == 255;
  CHECK(lit == 18 + 10);  // the glyphs' set cells: 'A' 18, '1' 10
  CHECK(tools::Canvas::text_width("AB") == 11);
  c.line(0, 0, 0, 39, {1, 2, 3});
  CHECK(c.rgb()[39 * 3 + 2] == 3);
  c.set(-1, 100, {9, 9, 9});  // outside: ignored
  CHECK(tools::colour_at(0).b == 4);
  CHECK(tools::colour_at(2).r == 252);  // clamped
}
