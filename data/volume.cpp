// Volume helpers.
#include "data/volume.h"

#include <algorithm>

#include "engine/error.h"

namespace ddnet::data {

Volume Volume::slab(std::int64_t begin, std::int64_t count) const {
  DDNET_CHECK(begin >= 0 && count >= 1 && begin + count <= slices, "slab [", begin, ", ",
              begin + count, ") is outside the ", slices, " slices of ",
              source.empty() ? std::string("the volume") : source);
  Volume out = *this;
  out.slices = count;
  out.voxels.assign(voxels.begin() + begin * slice_size(),
                    voxels.begin() + (begin + count) * slice_size());
  for (int a = 0; a < 3; ++a)  // move along the slice axis: third column of the direction
    out.origin[static_cast<std::size_t>(a)] +=
        static_cast<double>(begin) * spacing[0] * direction[static_cast<std::size_t>(a * 3 + 2)];
  return out;
}

void check_hu(const Volume& v, const std::string& where) {
  for (std::size_t n = 0; n < v.voxels.size(); ++n) {
    if (plausible_hu(v.voxels[n])) continue;
    const auto i = static_cast<std::int64_t>(n);
    DDNET_FAIL(where, ": voxel (", i / (v.rows * v.cols), ", ", (i / v.cols) % v.rows, ", ",
               i % v.cols, ") (slice, row, col) holds ", v.voxels[n],
               ", not a CT value in HU (|HU| <= ", kMaxAbsHU,
               "): a wrong rescale slope/intercept, another unit, or corrupt data");
  }
}

void clamp_below(Volume& v, float lo) {
  for (float& x : v.voxels) x = std::max(x, lo);
}

}  // namespace ddnet::data
