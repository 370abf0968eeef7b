// A convolution geometry from its sizes, for the CPU convolution kernels' tests.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/conv.h"

namespace ddnet::test {

// Batch n, channels cin -> cout, input extent, kernel and padding per axis (D, H, W); stride 1.
inline kernels::ConvGeometry conv_geometry(std::int64_t n, std::int64_t cin, std::int64_t cout,
                                           const std::vector<std::int64_t>& in,
                                           const std::vector<std::int64_t>& k,
                                           const std::vector<std::int64_t>& pad) {
  kernels::ConvGeometry g;
  g.n = n;
  g.cin = cin;
  g.cout = cout;
  for (std::size_t a = 0; a < 3; ++a) {
    g.in[a] = in[a];
    g.k[a] = k[a];
    g.pad[a] = pad[a];
  }
  kernels::conv_output_size(g);
  return g;
}

}  // namespace ddnet::test
