// InVesalius project files (.inv3): a gzipped tar holding `main.plist` (an Apple property list:
// the matrix's dtype and shape, the voxel spacing) and the raw little-endian volume it names
// (`matrix.dat`, shape (slices, rows, cols), HU). Debian's `invesalius-examples` ships a real
// head CT in this form (Cranium.inv3: int16, 108x256x256, 0.957x0.957x1.5 mm), the README's
// bundled scan. Read with zlib and a small tar walker; no ITK needed.
#pragma once

#include <string>

#include "data/volume.h"

namespace ddnet::data {

Volume read_inv3(const std::string& path);

}  // namespace ddnet::data
