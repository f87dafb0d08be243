#pragma once
// Small text helpers for error messages.

#include <cstddef>
#include <string>
#include <string_view>

namespace storesync::detail {

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
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    unsigned cp = 0;
    if (c < 0x80) { ++i; continue; }
    if (c >= 0xc2 && c <= 0xdf) { n = 1; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { n = 2; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { n = 3; cp = c & 0x07; }
    else return i;
    if (i + n >= s.size()) return i;  // truncated sequence
    for (std::size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return i;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return i;
    i += n + 1;
  }
  return std::string_view::npos;
}

}  // namespace storesync::detail
