#pragma once
// Small text helpers for error messages.

#include <cstddef>
#include <string>
#include <string_view>

namespace storesync::detail {

/// Length of the UTF-8 sequence at `p` (a byte >= 0x80), or 0 if it is not
/// well-formed (overlong, a UTF-16 surrogate, beyond U+10FFFF, truncated).
inline std::size_t utf8_sequence(const unsigned char* p, const unsigned char* end) noexcept {
  const unsigned c = p[0];
  auto cont = [&](std::ptrdiff_t i, unsigned lo = 0x80, unsigned hi = 0xBF) {
    return end - p > i && p[i] >= lo && p[i] <= hi;
  };
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c == 0xE0) return cont(1, 0xA0) && cont(2) ? 3 : 0;
  if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) return cont(1) && cont(2) ? 3 : 0;
  if (c == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
  if (c == 0xF0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xF1 && c <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

/// Offset of the first byte that breaks UTF-8 (overlongs, surrogates and
/// code points above U+10FFFF included), or npos when `s` is valid.
std::size_t invalid_utf8_at(std::string_view s) noexcept;

/// A key or name as it should appear in an error message: quoted, control
/// bytes and bytes that are not UTF-8 escaped as \xNN (so the message is
/// always valid UTF-8 and safe in JSON and logs), cut after 80 bytes so a
/// 1 MiB key cannot flood a log.
inline std::string quoted(std::string_view s) {
  constexpr std::size_t max_shown = 80;
  static constexpr char hex[] = "0123456789abcdef";
  std::string_view shown = s.substr(0, max_shown);
  // Never cut a UTF-8 sequence in half.
  while (shown.size() < s.size() && !shown.empty() &&
         (static_cast<unsigned char>(s[shown.size()]) & 0xc0) == 0x80)
    shown.remove_suffix(1);
  std::string out = "\"";
  std::size_t i = 0;
  while (i < shown.size()) {
    const auto c = static_cast<unsigned char>(shown[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    if (c >= 0x80) {
      // Copy a whole valid sequence; escape a byte that starts none.
      const std::size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
      if (i + n <= shown.size() && invalid_utf8_at(shown.substr(i, n)) == std::string_view::npos) {
        out.append(shown.substr(i, n));
        i += n;
        continue;
      }
    }
    out += "\\x";
    out += hex[c >> 4];
    out += hex[c & 15];
    ++i;
  }
  out += '"';
  if (shown.size() < s.size()) out += "... (" + std::to_string(s.size()) + " bytes)";
  return out;
}

inline std::size_t invalid_utf8_at(std::string_view s) noexcept {
  const auto* const begin = reinterpret_cast<const unsigned char*>(s.data());
  const auto* const end = begin + s.size();
  for (const unsigned char* p = begin; p != end;) {
    if (*p < 0x80) {
      ++p;
      continue;
    }
    const std::size_t n = utf8_sequence(p, end);
    if (n == 0) return static_cast<std::size_t>(p - begin);
    p += n;
  }
  return std::string_view::npos;
}

}  // namespace storesync::detail
