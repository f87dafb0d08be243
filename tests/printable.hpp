#pragma once
// What tests print of bytes they did not choose (hostile bodies, values
// read back): safe in a failure message.

#include <cstddef>
#include <string>
#include <string_view>

namespace storesync::testing {

/// `text` with bytes outside printable ASCII (and backslashes) as \xNN, cut
/// at `limit` bytes.
inline std::string printable(std::string_view text, std::size_t limit = 300) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (const char ch : text.substr(0, limit)) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += ch;
    } else {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  if (text.size() > limit) out += "... (" + std::to_string(text.size()) + " bytes)";
  return out;
}

}  // namespace storesync::testing
