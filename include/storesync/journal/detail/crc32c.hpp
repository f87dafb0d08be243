#pragma once
/// \file
/// CRC32C (Castagnoli, polynomial 0x1EDC6F41, reflected 0x82F63B78), the
/// checksum of every journal frame. Software slicing-by-8; on x86-64 the
/// SSE4.2 `crc32` instruction is used when the CPU has it (checked once at
/// run time, so the library needs no `-msse4.2`).

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace storesync::detail {

inline constexpr std::uint32_t crc32c_poly = 0x82F63B78u;

inline constexpr std::array<std::array<std::uint32_t, 256>, 8> make_crc32c_tables() {
  std::array<std::array<std::uint32_t, 256>, 8> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? (c >> 1) ^ crc32c_poly : c >> 1;
    t[0][i] = c;
  }
  for (std::size_t s = 1; s < 8; ++s)
    for (std::size_t i = 0; i < 256; ++i) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xffu];
  return t;
}

inline constexpr auto crc32c_tables = make_crc32c_tables();

/// Software CRC32C over raw state (no pre/post inversion).
inline std::uint32_t crc32c_sw_raw(std::uint32_t crc, const unsigned char* p, std::size_t n) noexcept {
  const auto& t = crc32c_tables;
  while (n >= 8) {
    std::uint32_t lo;
    std::uint32_t hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + 4, 4);
    if constexpr (std::endian::native == std::endian::big) {
      lo = __builtin_bswap32(lo);
      hi = __builtin_bswap32(hi);
    }
    lo ^= crc;
    crc = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^
          t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^ t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n--) crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xffu];
  return crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define STORESYNC_CRC32C_HW 1
__attribute__((target("sse4.2"))) inline std::uint32_t crc32c_hw_raw(std::uint32_t crc,
                                                                      const unsigned char* p,
                                                                      std::size_t n) noexcept {
  std::uint64_t c = crc;
  while (n >= 8) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    c = __builtin_ia32_crc32di(c, v);
    p += 8;
    n -= 8;
  }
  auto c32 = static_cast<std::uint32_t>(c);
  while (n--) c32 = __builtin_ia32_crc32qi(c32, *p++);
  return c32;
}

inline bool crc32c_hw_available() noexcept {
  static const bool available = __builtin_cpu_supports("sse4.2");
  return available;
}
#endif

/// The software CRC32C of `data`, continuing from `crc` (0 to start).
inline std::uint32_t crc32c_software(std::span<const std::byte> data, std::uint32_t crc = 0) noexcept {
  return ~crc32c_sw_raw(~crc, reinterpret_cast<const unsigned char*>(data.data()), data.size());
}

/// The CRC32C of `data`, continuing from `crc` (0 to start): `crc32c(b, crc32c(a))`
/// equals the CRC of `a` followed by `b`.
inline std::uint32_t crc32c(std::span<const std::byte> data, std::uint32_t crc = 0) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
#ifdef STORESYNC_CRC32C_HW
  if (crc32c_hw_available()) return ~crc32c_hw_raw(~crc, p, data.size());
#endif
  return ~crc32c_sw_raw(~crc, p, data.size());
}

}  // namespace storesync::detail
