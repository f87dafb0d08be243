#pragma once
/// \file
/// The on-disk frame of one journal record, little-endian:
///
///   offset 0  u32 payload length
///   offset 4  u32 CRC32C of (payload, length field, lsn field)
///   offset 8  u64 lsn
///   offset 16 payload
///
/// The CRC covers the payload first so it can be computed before the lsn is
/// known (outside the append lock), then extended by the 12 header bytes.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "storesync/journal/detail/crc32c.hpp"

namespace storesync::detail {

inline constexpr std::size_t frame_header_size = 16;
/// Largest payload a frame may carry; a larger length field means damage.
inline constexpr std::size_t max_record_size = 64u << 20;

inline void put_u32(std::byte* p, std::uint32_t v) noexcept {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
inline void put_u64(std::byte* p, std::uint64_t v) noexcept {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
inline std::uint32_t get_u32(const std::byte* p) noexcept {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= std::uint32_t(std::to_integer<std::uint8_t>(p[i])) << (8 * i);
  return v;
}
inline std::uint64_t get_u64(const std::byte* p) noexcept {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= std::uint64_t(std::to_integer<std::uint8_t>(p[i])) << (8 * i);
  return v;
}

/// The frame CRC from the payload CRC and the header fields.
inline std::uint32_t frame_crc(std::uint32_t payload_crc, std::uint32_t length,
                               std::uint64_t lsn) noexcept {
  std::byte tail[12];
  put_u32(tail, length);
  put_u64(tail + 4, lsn);
  return crc32c(std::span<const std::byte>(tail, sizeof tail), payload_crc);
}

/// Writes a header for `payload` (whose CRC32C is `payload_crc`) at `out`.
inline void write_frame_header(std::byte* out, std::uint32_t payload_crc, std::uint32_t length,
                               std::uint64_t lsn) noexcept {
  put_u32(out, length);
  put_u32(out + 4, frame_crc(payload_crc, length, lsn));
  put_u64(out + 8, lsn);
}

/// What a header says, before the payload is checked.
struct frame_header {
  std::uint32_t length = 0;
  std::uint32_t crc = 0;
  std::uint64_t lsn = 0;
};

inline frame_header read_frame_header(const std::byte* p) noexcept {
  return {get_u32(p), get_u32(p + 4), get_u64(p + 8)};
}

inline bool frame_valid(const frame_header& h, std::span<const std::byte> payload) noexcept {
  return payload.size() == h.length && frame_crc(crc32c(payload), h.length, h.lsn) == h.crc;
}

}  // namespace storesync::detail
