#pragma once
// One pass over JSON text (RFC 8259) that checks it against `value_rules`
// without building anything: no recursion, no allocation, so neither depth
// nor size of the input can exhaust the stack. Also the few helpers that walk
// text this scan has already accepted (skip a value, decode a string).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "storesync/core/detail/text.hpp"

namespace storesync::detail {

/// Why and where `scan_json` refused its input; `what` empty means valid.
/// `rule`: the text is JSON, but breaks one of the `json_limits`.
struct json_fault {
  std::size_t at = 0;
  std::string_view what;
  bool rule = false;

  explicit operator bool() const noexcept { return !what.empty(); }
};

/// What the scan enforces beyond RFC 8259 (see storesync::value_rules).
struct json_limits {
  std::size_t max_depth;
  bool nul_in_strings;
  bool numbers_fit_numeric;
};

namespace json_scan_impl {

inline int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// The four hex digits after "\u" at `p`, or -1.
inline long hex4(const char* p, const char* end) noexcept {
  if (end - p < 4) return -1;
  long v = 0;
  for (int i = 0; i < 4; ++i) {
    const int d = hex_value(p[i]);
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

/// Whether the eight bytes at `p` are all printable ASCII other than '"'
/// and '\\' (no byte below 0x20 or from 0x80, none of the two).
inline bool plain_ascii8(const char* p) noexcept {
  std::uint64_t x;
  std::memcpy(&x, p, 8);
  constexpr std::uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
  // The word tests of "Bit Twiddling Hacks": whether some byte is zero, and
  // whether some byte is below 0x20; both exact as to whether one exists.
  auto has_zero = [&](std::uint64_t v) { return ((v - ones) & ~v & highs) != 0; };
  const bool below_0x20 = ((x - ones * 0x20) & ~x & highs) != 0;
  return !below_0x20 && (x & highs) == 0 && !has_zero(x ^ (ones * '"')) && !has_zero(x ^ (ones * '\\'));
}

}  // namespace json_scan_impl

/// Checks that `text` is exactly one JSON value within `limits`. Strings
/// must be UTF-8 with no unpaired surrogate escapes; a byte-order mark is
/// refused (RFC 8259 forbids sending one, and PostgreSQL refuses it).
inline json_fault scan_json(std::string_view text, const json_limits& limits) noexcept {
  using namespace json_scan_impl;
  const char* const begin = text.data();
  const char* const end = begin + text.size();
  const char* p = begin;
  auto fault = [&](const char* at, std::string_view what) {
    return json_fault{static_cast<std::size_t>(at - begin), what, false};
  };
  auto broken_rule = [&](const char* at, std::string_view what) {
    return json_fault{static_cast<std::size_t>(at - begin), what, true};
  };
  auto skip_space = [&] {
    while (p != end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) ++p;
  };
  // A string at its opening quote; on success `p` is past the closing one.
  auto string = [&]() -> json_fault {
    const char* const open = p++;
    for (;;) {
      // Plain printable ASCII is the common case: eight bytes at a time
      // while none of them needs a look, then byte by byte.
      while (end - p >= 8 && plain_ascii8(p)) p += 8;
      while (p != end) {
        const auto c = static_cast<unsigned char>(*p);
        if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80) break;
        ++p;
      }
      if (p == end) return fault(open, "unterminated string");
      const auto c = static_cast<unsigned char>(*p);
      if (c == '"') {
        ++p;
        return {};
      }
      if (c < 0x20) return fault(p, "control character in a string (escape it)");
      if (c >= 0x80) {
        const auto n = utf8_sequence(reinterpret_cast<const unsigned char*>(p),
                                     reinterpret_cast<const unsigned char*>(end));
        if (n == 0) return fault(p, "invalid UTF-8");
        p += n;
        continue;
      }
      // A backslash escape.
      if (++p == end) return fault(p, "unterminated escape");
      switch (*p) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
          ++p;
          continue;
        case 'u':
          break;
        default:
          return fault(p - 1, "invalid escape");
      }
      const long u = hex4(++p, end);
      if (u < 0) return fault(p - 2, "\\u needs four hex digits");
      p += 4;
      if (u == 0 && !limits.nul_in_strings) return broken_rule(p - 6, "\\u0000 (the target store cannot hold U+0000)");
      if (u >= 0xDC00 && u <= 0xDFFF) return fault(p - 6, "unpaired UTF-16 surrogate escape");
      if (u >= 0xD800 && u <= 0xDBFF) {
        const long low = end - p >= 2 && p[0] == '\\' && p[1] == 'u' ? hex4(p + 2, end) : -1;
        if (low < 0xDC00 || low > 0xDFFF) return fault(p - 6, "unpaired UTF-16 surrogate escape");
        p += 6;
      }
    }
  };
  // A number at its first character; on success `p` is past it.
  auto number = [&]() -> json_fault {
    const char* const from = p;
    if (*p == '-') ++p;
    const char* const int_from = p;
    if (p == end || *p < '0' || *p > '9') return fault(from, "unexpected character");
    if (*p == '0') ++p;
    else
      while (p != end && *p >= '0' && *p <= '9') ++p;
    const std::size_t int_digits = (*int_from == '0') ? 0 : static_cast<std::size_t>(p - int_from);
    std::size_t frac_digits = 0;
    if (p != end && *p == '.') {
      const char* const f = ++p;
      while (p != end && *p >= '0' && *p <= '9') ++p;
      if (p == f) return fault(from, "invalid number: no digit after the point");
      frac_digits = static_cast<std::size_t>(p - f);
    }
    std::int64_t exponent = 0;
    if (p != end && (*p == 'e' || *p == 'E')) {
      ++p;
      bool negative = false;
      if (p != end && (*p == '+' || *p == '-')) negative = *p++ == '-';
      const char* const e = p;
      for (; p != end && *p >= '0' && *p <= '9'; ++p)
        if (exponent < (std::int64_t{1} << 40)) exponent = exponent * 10 + (*p - '0');
      if (p == e) return fault(from, "invalid number: no digit in the exponent");
      if (negative) exponent = -exponent;
    }
    if (limits.numbers_fit_numeric) {
      // PostgreSQL's numeric: at most 131072 digits before the point and
      // 16383 after it, once the exponent is applied.
      const std::int64_t before = static_cast<std::int64_t>(int_digits) + exponent;
      const std::int64_t after = static_cast<std::int64_t>(frac_digits) - exponent;
      if (before > 131072 || after > 16383)
        return broken_rule(from, "number out of the target store's range (PostgreSQL numeric)");
    }
    return {};
  };
  auto word = [&](std::string_view w) -> json_fault {
    if (static_cast<std::size_t>(end - p) < w.size() || text.substr(p - begin, w.size()) != w)
      return fault(p, "unexpected character");
    p += w.size();
    return {};
  };

  if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") return fault(p, "byte-order mark");
  // The kind of each open container, one bit per level (1 = object), kept
  // in a fixed stack of words: the depth bound is checked before a push.
  constexpr std::size_t bits = 64;
  std::uint64_t kinds[64];  // only bits set by a push are ever read
  const std::size_t max_depth = limits.max_depth < bits * 64 ? limits.max_depth : bits * 64;
  std::size_t depth = 0;
  auto is_object = [&] { return (kinds[(depth - 1) / bits] >> ((depth - 1) % bits)) & 1u; };

  skip_space();
  for (;;) {
    // One value; a container pushes and goes on with its first element.
    if (p == end) return fault(p, depth ? "truncated: unclosed container" : "empty: no value");
    bool complete = true;
    switch (*p) {
      case '{':
      case '[': {
        const bool object = *p == '{';
        if (depth == max_depth) return broken_rule(p, "nesting deeper than the limit");
        const char* const at = p++;
        skip_space();
        if (p != end && *p == (object ? '}' : ']')) {
          ++p;
          break;
        }
        const std::uint64_t bit = std::uint64_t{1} << (depth % bits);
        kinds[depth / bits] = object ? kinds[depth / bits] | bit : kinds[depth / bits] & ~bit;
        ++depth;
        if (object) {
          if (p == end) return fault(at, "truncated: unclosed container");
          if (*p != '"') return fault(p, "expected a member name");
          if (auto f = string()) return f;
          skip_space();
          if (p == end || *p != ':') return fault(p, "expected ':'");
          ++p;
          skip_space();
        }
        complete = false;
        break;
      }
      case '"':
        if (auto f = string()) return f;
        break;
      case 't':
        if (auto f = word("true")) return f;
        break;
      case 'f':
        if (auto f = word("false")) return f;
        break;
      case 'n':
        if (auto f = word("null")) return f;
        break;
      default:
        if (auto f = number()) return f;
        break;
    }
    if (!complete) continue;
    // After a value: close finished containers, or go on to the next element.
    for (;;) {
      skip_space();
      if (depth == 0) return p == end ? json_fault{} : fault(p, "unexpected text after the value");
      if (p == end) return fault(p, "truncated: unclosed container");
      const bool object = is_object();
      if (*p == (object ? '}' : ']')) {
        ++p;
        --depth;
        continue;
      }
      if (*p != ',') return fault(p, object ? "expected ',' or '}'" : "expected ',' or ']'");
      ++p;
      skip_space();
      if (object) {
        if (p == end || *p != '"') return fault(p, "expected a member name");
        if (auto f = string()) return f;
        skip_space();
        if (p == end || *p != ':') return fault(p, "expected ':'");
        ++p;
        skip_space();
      }
      break;
    }
  }
}

/// The offset of the first byte at or after `at` that is not JSON whitespace.
inline std::size_t json_skip_space(std::string_view text, std::size_t at) noexcept {
  while (at < text.size() && (text[at] == ' ' || text[at] == '\n' || text[at] == '\r' || text[at] == '\t')) ++at;
  return at;
}

/// The offset just past the value that starts at `at` (after any
/// whitespace), in text `scan_json` accepted. Iterative.
inline std::size_t json_value_end(std::string_view text, std::size_t at) noexcept {
  at = json_skip_space(text, at);
  std::size_t depth = 0;
  do {
    const char c = text[at];
    if (c == '"') {
      // The closing quote: the first one after an even run of backslashes.
      for (++at;;) {
        const auto* q = static_cast<const char*>(std::memchr(text.data() + at, '"', text.size() - at));
        at = static_cast<std::size_t>(q - text.data());
        std::size_t escapes = 0;
        while (text[at - 1 - escapes] == '\\') ++escapes;
        ++at;
        if (escapes % 2 == 0) break;
      }
    } else if (c == '{' || c == '[') {
      ++depth;
      ++at;
    } else if (c == '}' || c == ']') {
      --depth;
      ++at;
    } else if (c == ',' || c == ':' || c == ' ' || c == '\n' || c == '\r' || c == '\t') {
      ++at;
    } else {
      while (at < text.size() && text[at] != ',' && text[at] != '}' && text[at] != ']' && text[at] != ' ' &&
             text[at] != '\n' && text[at] != '\r' && text[at] != '\t')
        ++at;
    }
  } while (depth > 0 && at < text.size());
  return at;
}

/// Calls `f(element)` with the text of each element of `array` (an array
/// `scan_json` accepted, from '[' to ']'), in order.
template <class F>
void json_elements(std::string_view array, F&& f) {
  std::size_t at = json_skip_space(array, 1);
  while (at < array.size() && array[at] != ']') {
    const std::size_t end = json_value_end(array, at);
    f(array.substr(at, end - at));
    at = json_skip_space(array, end);
    if (at < array.size() && array[at] == ',') at = json_skip_space(array, at + 1);
  }
}

/// Calls `f(name_literal, value)` for each member of `object` (an object
/// `scan_json` accepted, from '{' to '}'), in order; the name is still a
/// string literal, quotes included (see `json_unescape`).
template <class F>
void json_members(std::string_view object, F&& f) {
  std::size_t at = json_skip_space(object, 1);
  while (at < object.size() && object[at] != '}') {
    const std::size_t name_end = json_value_end(object, at);
    const std::string_view name = object.substr(at, name_end - at);
    const std::size_t value_at = json_skip_space(object, json_skip_space(object, name_end) + 1);
    const std::size_t value_end = json_value_end(object, value_at);
    f(name, object.substr(value_at, value_end - value_at));
    at = json_skip_space(object, value_end);
    if (at < object.size() && object[at] == ',') at = json_skip_space(object, at + 1);
  }
}

/// Appends code point `cp` as UTF-8.
inline void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

/// The text of a string literal (quotes included) that `scan_json` accepted.
inline std::string json_unescape(std::string_view literal) {
  using json_scan_impl::hex4;
  std::string out;
  out.reserve(literal.size() - 2);
  const char* p = literal.data() + 1;
  const char* const end = literal.data() + literal.size() - 1;
  while (p < end) {
    const auto* slash = static_cast<const char*>(std::memchr(p, '\\', static_cast<std::size_t>(end - p)));
    if (slash == nullptr) {
      out.append(p, end);
      break;
    }
    out.append(p, slash);
    p = slash;
    const char c = p[1];
    p += 2;
    switch (c) {
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'u': {
        auto cp = static_cast<std::uint32_t>(hex4(p, end));
        p += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          cp = 0x10000 + ((cp - 0xD800) << 10) + (static_cast<std::uint32_t>(hex4(p + 2, end)) - 0xDC00);
          p += 6;
        }
        append_utf8(out, cp);
        break;
      }
      default: out += c; break;  // " \ /
    }
  }
  return out;
}

/// Appends `text` as a JSON string.
inline void append_json_string(std::string& out, std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      out += "\\u00";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += ch;
    }
  }
  out += '"';
}

}  // namespace storesync::detail
