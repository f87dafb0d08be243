#pragma once
/// \file
/// The text form of a `watermark`, so write-back can keep the last
/// (version, key) it consumed as the value of a named checkpoint: a
/// `std::string` that SQLite, PostgreSQL and DuckDB store in a TEXT column.
///
/// \code
///   storesync::watermark mark;                      // from the beginning ...
///   BOOST_OUTCOME_TRY(auto saved, sink.load_checkpoint("write_back"));
///   if (saved) {                                    // ... or from the checkpoint
///     BOOST_OUTCOME_TRY(auto resumed, storesync::decode_watermark(*saved));
///     mark = std::move(resumed);
///   }
///   BOOST_OUTCOME_TRY(auto batch, source.changes_after(mark, 500));
///   if (!batch.empty()) {
///     mark = {batch.back().version, batch.back().key};
///     BOOST_OUTCOME_TRY(sink.write_with_checkpoint(
///         batch, {"write_back", storesync::encode_watermark(mark)}));
///   }
/// \endcode
///
/// Format: `v1:<version>:<key length>:<key>`, for example `v1:42:7:user:42`
/// and, for the default watermark, `v1:0:0:`. Numbers are ASCII decimal
/// without sign or leading zeros; the key length counts bytes. A key may hold
/// `:` and digits, so the key is found by its length, never by a delimiter;
/// it is last, so the text ends exactly where the key does. `v1` names the
/// format: a later one takes a new prefix and this decoder refuses it rather
/// than misreading it.
///
/// The encoding is valid UTF-8 without NUL or other control bytes whenever the
/// key is (as every key that passed `validate_key` is). Decoding is strict:
/// text that `encode_watermark` could not have produced from a valid
/// watermark is `errc::corrupt`, with a message that quotes the text and says
/// what is wrong.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "storesync/core/detail/text.hpp"
#include "storesync/core/entry.hpp"
#include "storesync/core/error.hpp"
#include "storesync/core/result.hpp"
#include "storesync/core/store.hpp"

namespace storesync {

namespace detail {

inline constexpr std::string_view watermark_prefix = "v1:";

/// Parses a field that must be a canonical decimal number from 0 to `max`.
/// Returns what is wrong with it (naming the field as `name`), or an empty
/// string when `out` holds the number.
inline std::string parse_watermark_number(std::string_view name, std::string_view field,
                                          std::uint64_t max, std::uint64_t& out) {
  const auto wrong = [&](std::string_view what) {
    return std::string(name) + " " + quoted(field) + " " + std::string(what);
  };
  if (field.empty()) return std::string(name) + " is empty";
  if (field[0] == '-') return wrong("is negative");
  if (field[0] == '+') return wrong("has a sign");
  for (const char c : field)
    if (c < '0' || c > '9') return wrong("is not a decimal number");
  if (field.size() > 1 && field[0] == '0') return wrong("has a leading zero");
  std::uint64_t value = 0;
  for (const char c : field) {
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (value > max / 10 || (value == max / 10 && digit > max % 10))
      return wrong("is out of range (the largest is " + std::to_string(max) + ")");
    value = value * 10 + digit;
  }
  out = value;
  return {};
}

}  // namespace detail

/// The text form of `mark`: `v1:<version>:<key length>:<key>`.
///
/// Expects what a watermark taken from entries holds: a version of 0 or more
/// and a key that is empty or passes `validate_key`. Only then is the text
/// safe for a TEXT column and accepted back by `decode_watermark`.
inline std::string encode_watermark(const watermark& mark) {
  const std::string version = std::to_string(mark.version);
  const std::string length = std::to_string(mark.key.size());
  std::string out;
  out.reserve(detail::watermark_prefix.size() + version.size() + 1 + length.size() + 1 +
              mark.key.size());
  out += detail::watermark_prefix;
  out += version;
  out += ':';
  out += length;
  out += ':';
  out += mark.key;
  return out;
}

/// Parses text written by `encode_watermark`, reading nothing outside `text`.
///
/// **Errors**: `errc::corrupt` for anything else: another prefix or format
/// version, a missing field, a number that is empty, signed (a negative
/// version included), not decimal, with leading zeros or out of range (a
/// version above 2^63 - 1, a key length above `max_key_size`), a key length
/// that is not exactly the number of bytes that follow, or a key with control
/// characters or invalid UTF-8. The message quotes the text.
inline result<watermark> decode_watermark(std::string_view text) {
  const auto corrupt = [&](const std::string& what) {
    return error{errc::corrupt, "watermark " + detail::quoted(text) + ": " + what};
  };
  if (!text.starts_with(detail::watermark_prefix)) {
    // Name a format from a later release rather than calling it garbage.
    const auto colon = text.find(':');
    const std::string_view tag = text.substr(0, colon);
    if (colon != std::string_view::npos && tag.size() > 1 && tag[0] == 'v' &&
        tag.find_first_not_of("0123456789", 1) == std::string_view::npos)
      return corrupt("format " + detail::quoted(tag) + " is not supported (expected \"v1\")");
    return corrupt("does not start with \"v1:\"");
  }
  std::string_view rest = text.substr(detail::watermark_prefix.size());

  const auto version_end = rest.find(':');
  if (version_end == std::string_view::npos) return corrupt("no ':' after the version");
  std::uint64_t version = 0;
  if (auto what = detail::parse_watermark_number(
          "version", rest.substr(0, version_end),
          static_cast<std::uint64_t>(std::numeric_limits<version_type>::max()), version);
      !what.empty())
    return corrupt(what);
  rest.remove_prefix(version_end + 1);

  const auto length_end = rest.find(':');
  if (length_end == std::string_view::npos) return corrupt("no ':' after the key length");
  std::uint64_t length = 0;
  if (auto what =
          detail::parse_watermark_number("key length", rest.substr(0, length_end), max_key_size,
                                         length);
      !what.empty())
    return corrupt(what);
  rest.remove_prefix(length_end + 1);

  const auto bytes = [](std::size_t n) {
    return n == 1 ? std::string("1 byte") : std::to_string(n) + " bytes";
  };
  if (rest.size() < length)
    return corrupt("key is cut short: its length is " + std::to_string(length) + ", only " +
                   bytes(rest.size()) + " left");
  if (rest.size() > length)
    return corrupt("trailing garbage after the " + std::to_string(length) + "-byte key: " +
                   bytes(rest.size() - length) + " too many");

  for (std::size_t i = 0; i < rest.size(); ++i) {
    const auto c = static_cast<unsigned char>(rest[i]);
    if (c < 0x20 || c == 0x7f)
      return corrupt("key has a control character at byte " + std::to_string(i));
  }
  if (const auto at = detail::invalid_utf8_at(rest); at != std::string_view::npos)
    return corrupt("key is not valid UTF-8 at byte " + std::to_string(at));

  return watermark{static_cast<version_type>(version), std::string(rest)};
}

}  // namespace storesync
