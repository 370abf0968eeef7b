// CRC-32C (Castagnoli: the reflected polynomial 0x82F63B78, initial value and final XOR
// 0xFFFFFFFF; "123456789" gives 0xE3069283), the checksum that checkpoints and datasets store
// beside every tensor and volume they write (models/checkpoint.h, docs/dataset.md). On x86-64
// CPUs with SSE4.2 it runs on the crc32 instruction (three interleaved streams, several GB/s),
// elsewhere on tables, eight bytes per step.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ddnet {

// The CRC-32C of n bytes at data, continuing `crc` (the CRC of the bytes before them; 0 to
// start): crc32c(b, n2, crc32c(a, n1)) is the CRC of a followed by b.
std::uint32_t crc32c(const void* data, std::size_t n, std::uint32_t crc = 0);

// The same on tables whatever the CPU (tests compare both paths).
std::uint32_t crc32c_portable(const void* data, std::size_t n, std::uint32_t crc = 0);

// Whether crc32c runs on the CPU's crc32 instruction (for `ddnet info` and the benchmark).
bool crc32c_hardware();

}  // namespace ddnet
