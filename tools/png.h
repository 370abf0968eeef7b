// 8-bit greyscale PNGs of CT slices (libpng): a window/level maps HU to grey, and a difference
// map uses a fixed scale so figures compare across models.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ddnet::tools {

// Writes rows x cols grey values (0..255) to path (temporary file, then rename).
void write_png(const std::string& path, const std::uint8_t* grey, std::int64_t rows,
               std::int64_t cols);
// HU -> grey through a window (level, width): level - width/2 is black, level + width/2 white.
std::vector<std::uint8_t> window_hu(const float* hu, std::int64_t n, double level, double width);
// |a - b| in HU -> grey, 0 black, `full_scale` HU and above white.
std::vector<std::uint8_t> difference_map(const float* a, const float* b, std::int64_t n,
                                         double full_scale);
// Images side by side with a gap of `gap` black columns (all rows x cols).
std::vector<std::uint8_t> montage(const std::vector<std::vector<std::uint8_t>>& images,
                                  std::int64_t rows, std::int64_t cols, std::int64_t gap = 4);

}  // namespace ddnet::tools
