#pragma once
// A fast check for the JSON most values are: ASCII text, simple escapes, no
// exponents. Validation asks it first and runs the full parser
// (nlohmann::json::accept) only when it cannot answer, so a large batch is
// not bound by the parser's speed.

#include <cstddef>
#include <cstring>
#include <string_view>

namespace storesync::detail {

/// True when `text` is certainly one JSON value that `nlohmann::json::accept`
/// accepts; false means "not known": ask the full parser. Strings must be
/// printable ASCII with the escapes \" \\ \/ \b \f \n \r \t; numbers must have
/// no exponent and at most 300 characters (so they cannot overflow a double);
/// nesting at most 64 deep. Anything else (UTF-8, \u escapes, a byte-order
/// mark, invalid JSON) is left to the parser.
inline bool plain_json(std::string_view text) noexcept {
  constexpr std::size_t max_depth = 64;
  char open[max_depth];  // '{' or '[' of each enclosing container
  std::size_t depth = 0;
  const char* p = text.data();
  const char* const end = p + text.size();

  const auto skip_space = [&] {
    while (p != end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) ++p;
  };
  const auto digits = [&] {
    const char* from = p;
    while (p != end && *p >= '0' && *p <= '9') ++p;
    return p != from;
  };
  const auto string = [&] {  // at a '"'
    for (++p; p != end; ++p) {
      const auto c = static_cast<unsigned char>(*p);
      if (c == '"') {
        ++p;
        return true;
      }
      if (c < 0x20 || c >= 0x80) return false;
      if (c == '\\') {
        if (++p == end || std::strchr("\"\\/bfnrt", *p) == nullptr || *p == '\0') return false;
      }
    }
    return false;
  };
  const auto number = [&] {
    const char* from = p;
    if (*p == '-') ++p;
    if (p == end || *p < '0' || *p > '9') return false;
    if (*p == '0') ++p;
    else digits();
    if (p != end && *p == '.' && (++p, !digits())) return false;
    if (p != end && (*p == 'e' || *p == 'E')) return false;
    return p - from <= 300;
  };
  const auto word = [&](std::string_view w) {
    if (static_cast<std::size_t>(end - p) < w.size() || std::memcmp(p, w.data(), w.size()) != 0)
      return false;
    p += w.size();
    return true;
  };
  // At an object member: its key, the colon, and the space before its value.
  const auto member_key = [&] {
    if (p == end || *p != '"' || !string()) return false;
    skip_space();
    if (p == end || *p != ':') return false;
    ++p;
    skip_space();
    return true;
  };

  skip_space();
  for (;;) {
    // One value; containers push and go on with their first element.
    if (p == end) return false;
    bool done = true;
    switch (*p) {
      case '{':
      case '[': {
        const char close = *p == '{' ? '}' : ']';
        const char kind = *p++;
        skip_space();
        if (p != end && *p == close) {
          ++p;
          break;
        }
        if (depth == max_depth || (kind == '{' && !member_key())) return false;
        open[depth++] = kind;
        done = false;
        break;
      }
      case '"':
        if (!string()) return false;
        break;
      case 't':
        if (!word("true")) return false;
        break;
      case 'f':
        if (!word("false")) return false;
        break;
      case 'n':
        if (!word("null")) return false;
        break;
      default:
        if (!number()) return false;
        break;
    }
    if (!done) continue;
    // After a value: close finished containers, or move to the next element.
    for (;;) {
      skip_space();
      if (depth == 0) return p == end;
      if (p == end) return false;
      const char kind = open[depth - 1];
      if (*p == (kind == '{' ? '}' : ']')) {
        ++p;
        --depth;
        continue;
      }
      if (*p != ',') return false;
      ++p;
      skip_space();
      if (kind == '{' && !member_key()) return false;
      break;
    }
  }
}

}  // namespace storesync::detail
