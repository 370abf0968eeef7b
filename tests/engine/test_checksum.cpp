// CRC-32C (engine/checksum.h): the standard check values, continuation across pieces, the
// hardware path against a bit-by-bit reference at every length and alignment, and its speed.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "engine/checksum.h"

using namespace ddnet;

namespace {
// The definition, one bit at a time.
std::uint32_t crc32c_bitwise(const unsigned char* p, std::size_t n) {
  std::uint32_t c = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ ((c & 1u) ? 0x82F63B78u : 0u);
  }
  return ~c;
}
}  // namespace

TEST_CASE("crc32c: check values, pieces, every length and alignment", "[checksum]") {
  const std::string check = "123456789";
  CHECK(crc32c(check.data(), check.size()) == 0xE3069283u);
  CHECK(crc32c(nullptr, 0) == 0u);
  const std::vector<unsigned char> zeros(32, 0), ones(32, 0xFF);
  CHECK(crc32c(zeros.data(), 32) == 0x8A9136AAu);  // RFC 3720 (iSCSI) B.4
  CHECK(crc32c(ones.data(), 32) == 0x62A8AB43u);
  // Long enough for the three interleaved streams (3 x 8 KiB) plus odd ends.
  std::vector<unsigned char> data(3 * 3 * 8192 + 77);
  std::uint32_t x = 12345;
  for (auto& b : data) b = static_cast<unsigned char>((x = x * 1103515245u + 12345u) >> 24);
  for (const std::size_t offset : {0u, 1u, 3u, 7u})
    for (const std::size_t n :
         {0u, 1u, 5u, 8u, 15u, 64u, 1000u, 24575u, 24576u, 24577u, 3u * 3u * 8192u + 70u}) {
      INFO("offset " << offset << ", n " << n);
      REQUIRE(crc32c(data.data() + offset, n) == crc32c_bitwise(data.data() + offset, n));
      REQUIRE(crc32c_portable(data.data() + offset, n) == crc32c(data.data() + offset, n));
    }
  const std::uint32_t whole = crc32c(data.data(), data.size());
  for (const std::size_t cut : {std::size_t{0}, std::size_t{1}, std::size_t{100}, std::size_t{8192},
                                std::size_t{30000}, data.size()})
    REQUIRE(crc32c(data.data() + cut, data.size() - cut, crc32c(data.data(), cut)) == whole);
  data[40000] ^= 1;
  CHECK(crc32c(data.data(), data.size()) != whole);
}

TEST_CASE("crc32c: 100 MB in well under a second", "[checksum]") {
  std::vector<unsigned char> data(100u << 20);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<unsigned char>(i * 31);
  crc32c(data.data(), 1 << 20);  // tables, CPU check
  const auto t0 = std::chrono::steady_clock::now();
  const std::uint32_t c = crc32c(data.data(), data.size());
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cerr << "crc32c: 100 MiB in " << s * 1e3 << " ms (" << data.size() / s / 1e9 << " GB/s, "
            << (crc32c_hardware() ? "SSE4.2" : "tables") << "), crc " << c << "\n";
  const auto t1 = std::chrono::steady_clock::now();
  CHECK(crc32c_portable(data.data(), data.size()) == c);
  const double s1 = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  std::cerr << "crc32c on tables: 100 MiB in " << s1 * 1e3 << " ms\n";
  CHECK(s < 0.5);  // a loaded 2-core CI machine; about 0.01 s on SSE4.2, 0.1 s on tables
}
