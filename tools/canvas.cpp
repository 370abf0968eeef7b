// RGB figures: raster, bitmap font, colour map, PNG output.
#include "tools/canvas.h"

#include <png.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "engine/error.h"
#include "engine/file_sync.h"

namespace ddnet::tools {

namespace {

// 5x7 glyphs, rows top to bottom, '#' set.
const std::map<char, std::array<const char*, 7>>& font() {
  static const std::map<char, std::array<const char*, 7>> f = {
      {'A', {".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"}},
      {'B', {"####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."}},
      {'C', {".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."}},
      {'D', {"####.", "#...#", "#...#", "#...#", "#...#", "#...#", "####."}},
      {'E', {"#####", "#....", "#....", "####.", "#....", "#....", "#####"}},
      {'F', {"#####", "#....", "#....", "####.", "#....", "#....", "#...."}},
      {'G', {".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".###."}},
      {'H', {"#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"}},
      {'I', {".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."}},
      {'J', {"..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."}},
      {'K', {"#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"}},
      {'L', {"#....", "#....", "#....", "#....", "#....", "#....", "#####"}},
      {'M', {"#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#"}},
      {'N', {"#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#"}},
      {'O', {".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."}},
      {'P', {"####.", "#...#", "#...#", "####.", "#....", "#....", "#...."}},
      {'Q', {".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#"}},
      {'R', {"####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"}},
      {'S', {".####", "#....", "#....", ".###.", "....#", "....#", "####."}},
      {'T', {"#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."}},
      {'U', {"#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."}},
      {'V', {"#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#.."}},
      {'W', {"#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#."}},
      {'X', {"#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"}},
      {'Y', {"#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#.."}},
      {'Z', {"#####", "....#", "...#.", "..#..", ".#...", "#....", "#####"}},
      {'0', {".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."}},
      {'1', {"..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."}},
      {'2', {".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"}},
      {'3', {"#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."}},
      {'4', {"...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."}},
      {'5', {"#####", "#....", "####.", "....#", "....#", "#...#", ".###."}},
      {'6', {"..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."}},
      {'7', {"#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."}},
      {'8', {".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."}},
      {'9', {".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."}},
      {'.', {".....", ".....", ".....", ".....", ".....", ".##..", ".##.."}},
      {',', {".....", ".....", ".....", ".....", ".##..", "..#..", ".#..."}},
      {'-', {".....", ".....", ".....", "#####", ".....", ".....", "....."}},
      {'+', {".....", "..#..", "..#..", "#####", "..#..", "..#..", "....."}},
      {'=', {".....", ".....", "#####", ".....", "#####", ".....", "....."}},
      {':', {".....", ".##..", ".##..", ".....", ".##..", ".##..", "....."}},
      {'(', {"...#.", "..#..", ".#...", ".#...", ".#...", "..#..", "...#."}},
      {')', {".#...", "..#..", "...#.", "...#.", "...#.", "..#..", ".#..."}},
      {'/', {".....", "....#", "...#.", "..#..", ".#...", "#....", "....."}},
      {'%', {"##...", "##..#", "...#.", "..#..", ".#...", "#..##", "...##"}},
      {'|', {"..#..", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."}},
      {'_', {".....", ".....", ".....", ".....", ".....", ".....", "#####"}},
      {' ', {".....", ".....", ".....", ".....", ".....", ".....", "....."}},
      {'?', {".###.", "#...#", "....#", "...#.", "..#..", ".....", "..#.."}},
  };
  return f;
}

// libpng reports errors by longjmp back here; nothing local changes after setjmp.
bool encode_rgb(png_structp png, png_infop info, FILE* f, const std::uint8_t* rgb,
                std::int64_t rows, std::int64_t cols) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_init_io(png, f);
  png_set_IHDR(png, info, static_cast<png_uint_32>(cols), static_cast<png_uint_32>(rows), 8,
               PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (std::int64_t r = 0; r < rows; ++r)
    png_write_row(png, const_cast<png_bytep>(rgb + r * cols * 3));  // libpng's API is not const
  png_write_end(png, nullptr);
  return true;
}

}  // namespace

Canvas::Canvas(std::int64_t rows, std::int64_t cols, Rgb background)
    : rows_(rows), cols_(cols), rgb_(static_cast<std::size_t>(rows * cols * 3)) {
  DDNET_CHECK(rows > 0 && cols > 0, "canvas: empty size ", rows, "x", cols);
  fill(0, 0, rows, cols, background);
}

void Canvas::set(std::int64_t row, std::int64_t col, Rgb c) {
  if (row < 0 || col < 0 || row >= rows_ || col >= cols_) return;
  std::uint8_t* p = rgb_.data() + (row * cols_ + col) * 3;
  p[0] = c.r;
  p[1] = c.g;
  p[2] = c.b;
}

void Canvas::fill(std::int64_t top, std::int64_t left, std::int64_t rows, std::int64_t cols,
                  Rgb c) {
  for (std::int64_t i = top; i < top + rows; ++i)
    for (std::int64_t j = left; j < left + cols; ++j) set(i, j, c);
}

void Canvas::grey(const std::vector<std::uint8_t>& img, std::int64_t rows, std::int64_t cols,
                  std::int64_t top, std::int64_t left) {
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < cols; ++j) {
      const std::uint8_t v = img[static_cast<std::size_t>(i * cols + j)];
      set(top + i, left + j, {v, v, v});
    }
}

void Canvas::colour(const std::vector<Rgb>& img, std::int64_t rows, std::int64_t cols,
                    std::int64_t top, std::int64_t left) {
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < cols; ++j)
      set(top + i, left + j, img[static_cast<std::size_t>(i * cols + j)]);
}

void Canvas::line(double r0, double c0, double r1, double c1, Rgb c, int thickness) {
  const double len = std::max(std::fabs(r1 - r0), std::fabs(c1 - c0));
  const int steps = static_cast<int>(std::ceil(len)) + 1;
  for (int s = 0; s <= steps; ++s) {
    const double t = steps == 0 ? 0 : static_cast<double>(s) / steps;
    const auto r = static_cast<std::int64_t>(std::lround(r0 + t * (r1 - r0)));
    const auto q = static_cast<std::int64_t>(std::lround(c0 + t * (c1 - c0)));
    for (int a = 0; a < thickness; ++a)
      for (int b = 0; b < thickness; ++b) set(r + a - thickness / 2, q + b - thickness / 2, c);
  }
}

void Canvas::text(const std::string& s, std::int64_t top, std::int64_t left, Rgb c, int scale) {
  const auto& f = font();
  std::int64_t x = left;
  for (const char raw : s) {
    const char ch = static_cast<char>(std::toupper(static_cast<unsigned char>(raw)));
    auto it = f.find(ch);
    if (it == f.end()) it = f.find('?');
    for (int r = 0; r < 7; ++r)
      for (int q = 0; q < 5; ++q)
        if (it->second[static_cast<std::size_t>(r)][q] == '#')
          fill(top + r * scale, x + q * scale, scale, scale, c);
    x += 6 * scale;
  }
}

std::int64_t Canvas::text_width(const std::string& s, int scale) {
  return static_cast<std::int64_t>(s.size()) * 6 * scale - (s.empty() ? 0 : scale);
}

void Canvas::write_png(const std::string& path) const {
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  DDNET_CHECK(f != nullptr, "cannot write ", tmp);
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  const bool ok = png && info && encode_rgb(png, info, f, rgb_.data(), rows_, cols_);
  png_destroy_write_struct(png ? &png : nullptr, info ? &info : nullptr);
  const bool closed = std::fclose(f) == 0;
  if (!ok || !closed) {
    std::remove(tmp.c_str());
    DDNET_FAIL("cannot write PNG ", path);
  }
  replace_file(tmp, path, "PNG " + path);  // synced, renamed, the folder synced
}

Rgb colour_at(double t) {
  // Dark to bright through purple, red and orange (close to matplotlib's 'inferno').
  static const double stops[6][3] = {{0, 0, 4},     {66, 10, 104},  {147, 38, 103},
                                     {221, 81, 58}, {252, 165, 10}, {252, 255, 164}};
  t = std::clamp(t, 0.0, 1.0) * 5;
  const int i = std::min(static_cast<int>(t), 4);
  const double u = t - i;
  auto mix = [&](int k) {
    return static_cast<std::uint8_t>(
        std::lround(stops[i][k] + u * (stops[i + 1][k] - stops[i][k])));
  };
  return {mix(0), mix(1), mix(2)};
}

std::vector<Rgb> difference_colours(const float* a, const float* b, std::int64_t n,
                                    double full_scale) {
  std::vector<Rgb> out(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i)
    out[static_cast<std::size_t>(i)] =
        colour_at(std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i])) / full_scale);
  return out;
}

Rgb series_colour(std::size_t i) {
  static const Rgb c[] = {{31, 119, 180},  {214, 39, 40}, {44, 160, 44},   {255, 127, 14},
                          {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {127, 127, 127}};
  return c[i % (sizeof c / sizeof c[0])];
}

}  // namespace ddnet::tools
