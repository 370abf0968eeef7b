// PNG output with libpng.
#include "tools/png.h"

#include <png.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "engine/error.h"
#include "engine/file_sync.h"

namespace ddnet::tools {

namespace {

// libpng reports errors by longjmp back here; nothing local changes after setjmp.
bool encode(png_structp png, png_infop info, FILE* f, const std::uint8_t* grey, std::int64_t rows,
            std::int64_t cols) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_init_io(png, f);
  png_set_IHDR(png, info, static_cast<png_uint_32>(cols), static_cast<png_uint_32>(rows), 8,
               PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (std::int64_t r = 0; r < rows; ++r)
    png_write_row(png, const_cast<png_bytep>(grey + r * cols));  // libpng's API is not const
  png_write_end(png, nullptr);
  return true;
}

}  // namespace

void write_png(const std::string& path, const std::uint8_t* grey, std::int64_t rows,
               std::int64_t cols) {
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  DDNET_CHECK(f != nullptr, "cannot write ", tmp);
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  const bool ok = png && info && encode(png, info, f, grey, rows, cols);
  png_destroy_write_struct(png ? &png : nullptr, info ? &info : nullptr);
  const bool closed = std::fclose(f) == 0;
  if (!ok || !closed) {
    std::remove(tmp.c_str());
    DDNET_FAIL("cannot write PNG ", path);
  }
  replace_file(tmp, path, "PNG " + path);  // synced, renamed, the folder synced
}

std::vector<std::uint8_t> window_hu(const float* hu, std::int64_t n, double level, double width) {
  std::vector<std::uint8_t> out(static_cast<std::size_t>(n));
  const double lo = level - width / 2;
  for (std::int64_t i = 0; i < n; ++i)
    out[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(
        std::lround(std::clamp((static_cast<double>(hu[i]) - lo) / width, 0.0, 1.0) * 255));
  return out;
}

std::vector<std::uint8_t> difference_map(const float* a, const float* b, std::int64_t n,
                                         double full_scale) {
  std::vector<std::uint8_t> out(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i)
    out[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(std::lround(
        std::min(std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i])) / full_scale,
                 1.0) *
        255));
  return out;
}

std::vector<std::uint8_t> montage(const std::vector<std::vector<std::uint8_t>>& images,
                                  std::int64_t rows, std::int64_t cols, std::int64_t gap) {
  const auto k = static_cast<std::int64_t>(images.size());
  const std::int64_t width = k * cols + (k - 1) * gap;
  std::vector<std::uint8_t> out(static_cast<std::size_t>(rows * width), 0);
  for (std::int64_t m = 0; m < k; ++m)
    for (std::int64_t r = 0; r < rows; ++r)
      std::copy_n(images[static_cast<std::size_t>(m)].begin() + r * cols, cols,
                  out.begin() + r * width + m * (cols + gap));
  return out;
}

}  // namespace ddnet::tools
