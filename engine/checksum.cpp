// CRC-32C (engine/checksum.h): the table version, and the SSE4.2 version on x86-64.
#include "engine/checksum.h"

#include <array>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define DDNET_CRC32C_X86 1
#endif

namespace ddnet {

namespace {

constexpr std::uint32_t kPoly = 0x82F63B78u;  // 0x1EDC6F41 bit-reversed

// tables[k][b]: the CRC of byte b followed by k zero bytes (slicing by 8).
struct Tables {
  std::array<std::array<std::uint32_t, 256>, 8> t{};
  Tables() {
    for (std::uint32_t b = 0; b < 256; ++b) {
      std::uint32_t c = b;
      for (int i = 0; i < 8; ++i) c = (c >> 1) ^ ((c & 1u) ? kPoly : 0u);
      t[0][b] = c;
    }
    for (std::uint32_t b = 0; b < 256; ++b)
      for (std::size_t k = 1; k < 8; ++k) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xFFu];
  }
};

const Tables& tables() {
  static const Tables tables;
  return tables;
}

// On the reflected CRC register (no initial or final XOR).
std::uint32_t crc_tables(const unsigned char* p, std::size_t n, std::uint32_t c) {
  const auto& t = tables().t;
  for (; n > 0 && (reinterpret_cast<std::uintptr_t>(p) & 7u) != 0; --n)
    c = (c >> 8) ^ t[0][(c ^ *p++) & 0xFFu];
  for (; n >= 8; n -= 8, p += 8) {
    std::uint32_t lo = 0, hi = 0;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + 4, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    lo = __builtin_bswap32(lo);
    hi = __builtin_bswap32(hi);
#endif
    lo ^= c;
    c = t[7][lo & 0xFFu] ^ t[6][(lo >> 8) & 0xFFu] ^ t[5][(lo >> 16) & 0xFFu] ^ t[4][lo >> 24] ^
        t[3][hi & 0xFFu] ^ t[2][(hi >> 8) & 0xFFu] ^ t[1][(hi >> 16) & 0xFFu] ^ t[0][hi >> 24];
  }
  for (; n > 0; --n) c = (c >> 8) ^ t[0][(c ^ *p++) & 0xFFu];
  return c;
}

#ifdef DDNET_CRC32C_X86

// x^(8 n) mod P on the reflected register: what appending n zero bytes multiplies a CRC by.
std::uint32_t multiply(std::uint32_t a, std::uint32_t b) {  // reflected GF(2) product mod P
  std::uint32_t product = 0;
  for (int i = 0; i < 32; ++i) {
    if (a & 0x80000000u) product ^= b;
    a <<= 1;
    b = (b >> 1) ^ ((b & 1u) ? kPoly : 0u);
  }
  return product;
}

std::uint32_t x_pow_8n(std::size_t n) {
  std::uint32_t result = 0x80000000u;  // 1
  std::uint32_t square = 0x00800000u;  // x^8
  for (; n > 0; n >>= 1) {
    if (n & 1u) result = multiply(result, square);
    square = multiply(square, square);
  }
  return result;
}

// Three streams of kBlock bytes each hide the instruction's 3-cycle latency; their CRCs are
// joined by shifting the first two over the bytes that follow them (the constants below).
constexpr std::size_t kBlock = 8 * 1024;

struct Shifts {
  std::uint32_t one = x_pow_8n(kBlock), two = x_pow_8n(2 * kBlock);
};

const Shifts& shifts() {
  static const Shifts s;
  return s;
}

__attribute__((target("sse4.2"))) std::uint32_t crc_sse42(const unsigned char* p, std::size_t n,
                                                          std::uint32_t c) {
  for (; n > 0 && (reinterpret_cast<std::uintptr_t>(p) & 7u) != 0; --n) c = _mm_crc32_u8(c, *p++);
  if (n >= 3 * kBlock) {
    const Shifts& s = shifts();
    for (; n >= 3 * kBlock; n -= 3 * kBlock, p += 3 * kBlock) {
      std::uint64_t a = c, b = 0, d = 0;
      for (std::size_t i = 0; i < kBlock; i += 8) {
        std::uint64_t x, y, z;
        std::memcpy(&x, p + i, 8);
        std::memcpy(&y, p + kBlock + i, 8);
        std::memcpy(&z, p + 2 * kBlock + i, 8);
        a = _mm_crc32_u64(a, x);
        b = _mm_crc32_u64(b, y);
        d = _mm_crc32_u64(d, z);
      }
      c = multiply(static_cast<std::uint32_t>(a), s.two) ^
          multiply(static_cast<std::uint32_t>(b), s.one) ^ static_cast<std::uint32_t>(d);
    }
  }
  std::uint64_t c64 = c;
  for (; n >= 8; n -= 8, p += 8) {
    std::uint64_t x;
    std::memcpy(&x, p, 8);
    c64 = _mm_crc32_u64(c64, x);
  }
  c = static_cast<std::uint32_t>(c64);
  for (; n > 0; --n) c = _mm_crc32_u8(c, *p++);
  return c;
}

bool has_sse42() {
  static const bool yes = __builtin_cpu_supports("sse4.2");
  return yes;
}

#endif

}  // namespace

bool crc32c_hardware() {
#ifdef DDNET_CRC32C_X86
  return has_sse42();
#else
  return false;
#endif
}

std::uint32_t crc32c_portable(const void* data, std::size_t n, std::uint32_t crc) {
  return ~crc_tables(static_cast<const unsigned char*>(data), n, ~crc);
}

std::uint32_t crc32c(const void* data, std::size_t n, std::uint32_t crc) {
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint32_t c = ~crc;
#ifdef DDNET_CRC32C_X86
  if (has_sse42()) return ~crc_sse42(p, n, c);
#endif
  return ~crc_tables(p, n, c);
}

}  // namespace ddnet
