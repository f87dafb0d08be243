#pragma once
// Internals of the SQL adapters that keep a content hash as one 16-byte blob
// (SQLite, DuckDB): hi then lo, big-endian, so the blob reads as the 128-bit
// number. Not part of the public API.

#include <array>
#include <cstddef>

#include "storesync/core/entry.hpp"

namespace storesync::detail {

inline std::array<unsigned char, 16> hash_to_blob(content_hash h) noexcept {
  std::array<unsigned char, 16> out{};
  for (std::size_t i = 0; i < 8; ++i) {
    out[i] = static_cast<unsigned char>(h.hi >> (56 - 8 * i));
    out[8 + i] = static_cast<unsigned char>(h.lo >> (56 - 8 * i));
  }
  return out;
}

/// The hash whose blob starts at `p` (16 bytes).
inline content_hash hash_from_blob(const unsigned char* p) noexcept {
  content_hash h;
  for (std::size_t i = 0; i < 8; ++i) {
    h.hi = (h.hi << 8) | p[i];
    h.lo = (h.lo << 8) | p[8 + i];
  }
  return h;
}

}  // namespace storesync::detail
