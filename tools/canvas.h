// A small RGB raster for report figures: CT panels side by side with captions, colour-mapped
// difference maps with a colour bar, and line plots (loss curves). Text uses a built-in 5x7
// bitmap font (capitals, digits, a little punctuation), so figures need no font library.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ddnet::tools {

struct Rgb {
  std::uint8_t r = 0, g = 0, b = 0;
};

class Canvas {
 public:
  Canvas(std::int64_t rows, std::int64_t cols, Rgb background = {255, 255, 255});
  std::int64_t rows() const { return rows_; }
  std::int64_t cols() const { return cols_; }
  const std::vector<std::uint8_t>& rgb() const { return rgb_; }

  void set(std::int64_t row, std::int64_t col, Rgb c);  // ignored outside the canvas
  void fill(std::int64_t top, std::int64_t left, std::int64_t rows, std::int64_t cols, Rgb c);
  // A grey image (rows x cols, 0..255) or an RGB one (3 bytes per pixel) at (top, left).
  void grey(const std::vector<std::uint8_t>& img, std::int64_t rows, std::int64_t cols,
            std::int64_t top, std::int64_t left);
  void colour(const std::vector<Rgb>& img, std::int64_t rows, std::int64_t cols, std::int64_t top,
              std::int64_t left);
  void line(double r0, double c0, double r1, double c1, Rgb c, int thickness = 1);
  // Text with its top-left corner at (top, left); each glyph is 6 x 8 cells of `scale` pixels.
  void text(const std::string& s, std::int64_t top, std::int64_t left, Rgb c, int scale = 1);
  static std::int64_t text_width(const std::string& s, int scale = 1);

  void write_png(const std::string& path) const;  // temporary file, then rename

 private:
  std::int64_t rows_, cols_;
  std::vector<std::uint8_t> rgb_;
};

// |a - b| in HU through a perceptual dark-to-bright colour map: 0 black, `full_scale` and above
// pale yellow. One fixed scale for every model, so the maps compare.
std::vector<Rgb> difference_colours(const float* a, const float* b, std::int64_t n,
                                    double full_scale);
Rgb colour_at(double t);  // the colour map at t in [0, 1]

// The standard colours of plotted series, by index.
Rgb series_colour(std::size_t i);

}  // namespace ddnet::tools
