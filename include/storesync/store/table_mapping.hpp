#pragma once
/// \file
/// `table_mapping`: how a SQL store keeps entries in a table of the user's
/// own, with typed columns, instead of its JSON table. Set it as the
/// `mapping` of a store's config (or load it from JSON, see
/// table_mapping_json.hpp).
///
/// \code
///   // scores(community_id bigint, profile_id bigint, score integer,
///   //        tier text, seen_at timestamptz, version bigint)
///   storesync::table_mapping m;
///   m.key = {{"community_id", storesync::column_type::bigint},
///            {"profile_id", storesync::column_type::bigint}};
///   m.fields = {{.field = "score", .type = storesync::column_type::integer, .required = true},
///               {.field = "tier", .type = storesync::column_type::text, .default_value = R"("free")"},
///               {.field = "seen_at", .type = storesync::column_type::timestamptz}};
///   BOOST_OUTCOME_TRY(auto key, storesync::encode_key(m, {"7", "42"}));
///   // key == "0000000000000000007 0000000000000000042"
///   auto e = storesync::entry::put(key, R"({"score":10,"seen_at":"2026-01-02T03:04:05+01:00"})", 1);
/// \endcode
///
/// **Keys.** An entry key stands for the values of the key columns, in the
/// mapping's order, by an encoding whose byte order is the order of the
/// column tuples, so key ranges, scans and checksums mean the same on a
/// typed table as on a JSON one:
/// - an integer or bigint column: 19 decimal digits, zero-padded, for n >= 0
///   (`42` -> `0000000000000000042`); `-` and the 19 digits of n + 2^63 for
///   n < 0 (`-1` -> `-9223372036854775807`);
/// - a text column: its text; when it is not the last column, with `!`
///   written `!!` and a space written `! `;
/// - columns joined by one space.
///
/// A single text key column is the entry key itself. Otherwise the table
/// also holds the encoded key in the metadata column `metadata.key`.
///
/// **Values.** An entry's value must be a JSON object. Each mapped field is
/// converted exactly, or the entry is refused (`errc::invalid_value`, naming
/// the key, the field and the column) before anything is written:
///
/// | column type      | accepts                                                          |
/// |------------------|------------------------------------------------------------------|
/// | text             | a string                                                         |
/// | integer, bigint  | an integral number in range (`1e3` and `2.0` are integral); a    |
/// |                  | fraction only with `round` (half away from zero)                 |
/// | numeric          | a number (kept as written, up to numeric's limits)               |
/// | double_precision | a number, read as the nearest double; refused if it overflows,  |
/// |                  | or is not zero and underflows to zero                            |
/// | boolean          | `true` or `false`                                                |
/// | timestamptz      | an RFC 3339 string with an offset (`Z` or `+01:00`), years       |
/// |                  | 1-9999 in UTC; digits past microseconds only with `round`        |
/// | date             | a string `YYYY-MM-DD`, a real date in years 1-9999               |
/// | jsonb            | any JSON value (a sub-document)                                  |
///
/// With `from_string`, an integer, bigint, numeric, double_precision or
/// boolean column also accepts a string holding exactly what it accepts as
/// JSON (`"42"`, `"true"`); nothing is ever coerced otherwise, and nothing
/// becomes 0. A field that is missing takes `default_value` when there is
/// one; a missing `required` field, or a `required` one that is `null`, is
/// refused; an optional one is NULL. Fields the mapping does not name go to
/// the `rest_column` (jsonb) when there is one and are refused otherwise, so
/// no field is ever dropped.
///
/// **Reading back.** `read`, `scan` and `changes_after` rebuild the value in
/// a canonical form: an object with every mapped field in the mapping's
/// order (`null` for NULL), then the rest column's fields. Numbers as the
/// column gives them (integers in decimal, numeric at the scale it was
/// written, `1.50` as `1.50`, double in its shortest exact text), timestamps as `YYYY-MM-DDTHH:MM:SS[.ffffff]Z` in
/// UTC with trailing zeros of the fraction cut, dates as `YYYY-MM-DD`. The
/// stored content hash stays the hash of the value as first written, so
/// checksums of a typed table and a JSON table holding the same entries
/// agree.
///
/// Each store says how it holds each column type, and what it cannot:
/// postgres_store.hpp (native types), sqlite_store.hpp (storage classes;
/// numeric as text) and duckdb_store.hpp (numeric as text: DuckDB's DECIMAL
/// has a fixed scale and at most 38 digits).
///
/// **Versions.** The version column is a bigint, or a timestamptz holding
/// the version as microseconds since 1970-01-01 UTC; there a version past
/// 9999-12-31T23:59:59.999999Z is refused (`errc::invalid_version`).
///
/// **Deletes** write a marker row: the key columns, the version, the
/// metadata with `metadata.deleted` true, and NULL in every value column. A
/// real DELETE would forget the deleted version, and then a late, older put
/// of the same key would bring it back; the marker keeps the version guard
/// and the checksums exact with one table. Queries of the table's live rows
/// filter on `NOT <deleted>` (a view does it once). Value columns must
/// therefore admit NULL.

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "storesync/core/detail/text.hpp"
#include "storesync/core/entry.hpp"
#include "storesync/core/result.hpp"

namespace storesync {

/// The column types a mapping can name. Each SQL store spells them in its
/// own dialect.
enum class column_type { text, integer, bigint, numeric, double_precision, boolean, timestamptz, date, jsonb };

/// The name of `t` as mappings spell it ("double_precision" for that one).
constexpr std::string_view to_string(column_type t) noexcept {
  switch (t) {
    case column_type::text: return "text";
    case column_type::integer: return "integer";
    case column_type::bigint: return "bigint";
    case column_type::numeric: return "numeric";
    case column_type::double_precision: return "double_precision";
    case column_type::boolean: return "boolean";
    case column_type::timestamptz: return "timestamptz";
    case column_type::date: return "date";
    case column_type::jsonb: return "jsonb";
  }
  return "?";
}

/// The type named `name` (as `to_string` spells it), or nothing.
constexpr std::optional<column_type> column_type_named(std::string_view name) noexcept {
  for (const column_type t :
       {column_type::text, column_type::integer, column_type::bigint, column_type::numeric,
        column_type::double_precision, column_type::boolean, column_type::timestamptz,
        column_type::date, column_type::jsonb})
    if (to_string(t) == name) return t;
  return std::nullopt;
}

/// One key column: text, integer or bigint.
struct key_column {
  std::string column;
  column_type type = column_type::text;
};

/// One field of the entry's JSON object and the column that holds it.
struct field_column {
  /// The member name in the entry's JSON object.
  std::string field;
  /// The column; empty: the same as `field`.
  std::string column = {};
  column_type type = column_type::text;
  /// A missing field, or `null`, is refused.
  bool required = false;
  /// JSON text used when the field is missing (not when it is `null`).
  std::optional<std::string> default_value = {};
  /// integer/bigint: round a fraction half away from zero; timestamptz:
  /// round digits past microseconds half up.
  bool round = false;
  /// Number and boolean columns also accept a string holding the JSON text.
  bool from_string = false;

  /// The column holding the field.
  const std::string& column_name() const noexcept { return column.empty() ? field : column; }
};

/// What the version column holds.
enum class version_column_type {
  bigint,
  /// A timestamptz: the version is its microseconds since 1970-01-01 UTC.
  timestamptz,
};

/// Names of the columns storesync adds to the user's table.
struct metadata_columns {
  /// The encoded entry key (text, byte order, unique). Only when the key is
  /// not a single text column.
  std::string key = "storesync_key";
  /// The content hash of the value as first written (two bigints).
  std::string hash_lo = "storesync_hash_lo";
  std::string hash_hi = "storesync_hash_hi";
  /// `row_hash(entry)`, summed by `checksum`.
  std::string row_hash = "storesync_row_hash";
  /// True on a deleted key's marker row.
  std::string deleted = "storesync_deleted";
};

/// A table of the user's own (see the file comment). The table's name is
/// the store config's.
struct table_mapping {
  /// One or more key columns; their order is the key encoding's.
  std::vector<key_column> key;
  std::string version_column = "version";
  version_column_type version_type = version_column_type::bigint;
  /// The mapped fields, in the order values are read back.
  std::vector<field_column> fields;
  /// A jsonb column for the fields no `field_column` names; empty: such
  /// fields are refused.
  std::string rest_column = {};
  metadata_columns metadata = {};

  /// Whether the entry key is the (single, text) key column itself.
  bool key_is_column() const noexcept { return key.size() == 1 && key[0].type == column_type::text; }
  /// The column holding the entry key.
  const std::string& key_column_name() const noexcept {
    return key_is_column() ? key[0].column : metadata.key;
  }
};

namespace detail {
inline constexpr int key_int_digits = 19;
inline constexpr std::uint64_t key_int_bias = std::uint64_t{1} << 63;

inline bool key_int_type(column_type t) noexcept {
  return t == column_type::integer || t == column_type::bigint;
}

/// Parses a canonical decimal integer ("-5", "0", "42"; no "+", no leading
/// zeros) that fits `t`.
inline std::optional<std::int64_t> parse_key_int(std::string_view s, column_type t) noexcept {
  if (s.empty() || s == "-" || s == "-0") return std::nullopt;
  const std::size_t digits_at = s[0] == '-' ? 1 : 0;
  if (s.size() > digits_at + 1 && s[digits_at] == '0') return std::nullopt;
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  if (t == column_type::integer && (v < INT32_MIN || v > INT32_MAX)) return std::nullopt;
  return v;
}
}  // namespace detail

/// Checks a mapping: at least one key column, key columns of type text,
/// integer or bigint, every column named once, field names unique and
/// non-empty. `errc::invalid_argument` names what is wrong.
inline result<void> check_mapping(const table_mapping& m) {
  auto bad = [](std::string what) { return error{errc::invalid_argument, "table mapping: " + what}; };
  if (m.key.empty()) return bad("no key column");
  std::vector<std::string_view> columns;
  auto add = [&](std::string_view what, std::string_view column) -> result<void> {
    if (column.empty()) return bad(std::string(what) + " has no column name");
    for (const std::string_view c : columns)
      if (c == column) return bad("column " + detail::quoted(column) + " is named twice");
    columns.push_back(column);
    return success();
  };
  for (const key_column& k : m.key) {
    if (k.type != column_type::text && !detail::key_int_type(k.type))
      return bad("key column " + detail::quoted(k.column) + " is " + std::string(to_string(k.type)) +
                 "; a key column is text, integer or bigint");
    BOOST_OUTCOME_TRY(add("a key column", k.column));
  }
  BOOST_OUTCOME_TRY(add("the version", m.version_column));
  std::vector<std::string_view> names;
  for (const field_column& f : m.fields) {
    if (f.field.empty()) return bad("a field has no name");
    for (const std::string_view n : names)
      if (n == f.field) return bad("field " + detail::quoted(f.field) + " is mapped twice");
    names.push_back(f.field);
    BOOST_OUTCOME_TRY(add("field " + detail::quoted(f.field), f.column_name()));
  }
  if (!m.rest_column.empty()) {
    BOOST_OUTCOME_TRY(add("the rest", m.rest_column));
  }
  if (!m.key_is_column()) {
    BOOST_OUTCOME_TRY(add("metadata.key", m.metadata.key));
  }
  BOOST_OUTCOME_TRY(add("metadata.hash_lo", m.metadata.hash_lo));
  BOOST_OUTCOME_TRY(add("metadata.hash_hi", m.metadata.hash_hi));
  BOOST_OUTCOME_TRY(add("metadata.row_hash", m.metadata.row_hash));
  BOOST_OUTCOME_TRY(add("metadata.deleted", m.metadata.deleted));
  return success();
}

/// The entry key for the key columns' values `parts` (text as is, integers
/// in canonical decimal), in the mapping's order. `errc::invalid_key` names
/// the column whose value does not fit, or the key that breaks
/// `validate_key`.
inline result<std::string> encode_key(const table_mapping& m, std::span<const std::string_view> parts) {
  if (parts.size() != m.key.size())
    return error{errc::invalid_key, std::to_string(parts.size()) + " key values for " +
                                        std::to_string(m.key.size()) + " key columns"};
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const bool last = i + 1 == parts.size();
    const key_column& k = m.key[i];
    if (detail::key_int_type(k.type)) {
      const auto v = detail::parse_key_int(parts[i], k.type);
      if (!v)
        return error{errc::invalid_key, "key column " + detail::quoted(k.column) + ": " +
                                            detail::quoted(parts[i]) + " is not a " +
                                            std::string(to_string(k.type)) + " in decimal"};
      const bool negative = *v < 0;
      const std::uint64_t magnitude =
          negative ? static_cast<std::uint64_t>(*v) + detail::key_int_bias : static_cast<std::uint64_t>(*v);
      char digits[detail::key_int_digits];
      std::uint64_t rest = magnitude;
      for (int d = detail::key_int_digits - 1; d >= 0; --d, rest /= 10)
        digits[d] = static_cast<char>('0' + rest % 10);
      if (negative) out += '-';
      out.append(digits, detail::key_int_digits);
    } else if (last) {
      out += parts[i];
    } else {
      for (const char c : parts[i]) {
        if (c == '!' || c == ' ') out += '!';
        out += c;
      }
    }
    if (!last) out += ' ';
  }
  BOOST_OUTCOME_TRY(validate_key(out));
  return out;
}

inline result<std::string> encode_key(const table_mapping& m, std::initializer_list<std::string_view> parts) {
  return encode_key(m, std::span<const std::string_view>(parts.begin(), parts.size()));
}

/// The key columns' values that `key` stands for (text as is, integers in
/// canonical decimal); `errc::invalid_key` when `key` is not the encoding of
/// any (for instance `abc` for a bigint column).
inline result<std::vector<std::string>> decode_key(const table_mapping& m, std::string_view key) {
  auto refuse = [&](const key_column& k, std::string_view what) {
    return error{errc::invalid_key, "key " + detail::quoted(key) + ": key column " +
                                        detail::quoted(k.column) + " " + std::string(what)};
  };
  std::vector<std::string> parts;
  parts.reserve(m.key.size());
  std::size_t at = 0;
  for (std::size_t i = 0; i < m.key.size(); ++i) {
    const bool last = i + 1 == m.key.size();
    const key_column& k = m.key[i];
    std::string part;
    if (detail::key_int_type(k.type)) {
      const bool negative = at < key.size() && key[at] == '-';
      const std::size_t from = at + (negative ? 1 : 0);
      if (key.size() < from + detail::key_int_digits)
        return refuse(k, "needs 19 digits, with a '-' before them when negative");
      std::uint64_t magnitude = 0;
      for (std::size_t d = from; d < from + detail::key_int_digits; ++d) {
        if (key[d] < '0' || key[d] > '9')
          return refuse(k, "needs 19 digits, with a '-' before them when negative");
        magnitude = magnitude * 10 + static_cast<std::uint64_t>(key[d] - '0');
      }
      // 19 digits reach 10^19 - 1, past 2^63 - 1: refuse what no int64 is.
      if (magnitude >= detail::key_int_bias) return refuse(k, "is out of range");
      const std::int64_t v = negative ? static_cast<std::int64_t>(magnitude - detail::key_int_bias)
                                      : static_cast<std::int64_t>(magnitude);
      if (k.type == column_type::integer && (v < INT32_MIN || v > INT32_MAX))
        return refuse(k, "is out of range for an integer");
      part = std::to_string(v);
      at = from + detail::key_int_digits;
    } else if (last) {
      part = std::string(key.substr(at));
      at = key.size();
    } else {
      while (at < key.size() && key[at] != ' ') {
        if (key[at] == '!') {
          if (at + 1 >= key.size() || (key[at + 1] != '!' && key[at + 1] != ' '))
            return refuse(k, "has a '!' that is not followed by '!' or ' '");
          ++at;
        }
        part += key[at++];
      }
    }
    if (!last) {
      if (at >= key.size() || key[at] != ' ') return refuse(k, "is not followed by a space");
      ++at;
    }
    parts.push_back(std::move(part));
  }
  if (at != key.size()) return error{errc::invalid_key, "key " + detail::quoted(key) + " has bytes past its last key column"};
  return parts;
}

/// Whether `e` is valid (`validate`) and its key and value convert under
/// `m` (see Keys and Values above): the check a typed table's store makes
/// before it writes, available before the store is open. The error names the
/// key, and the field and column that refused it.
result<void> check_entry(const table_mapping& m, const entry& e);

}  // namespace storesync

// The conversions, and `check_entry`'s definition.
#include "storesync/store/detail/typed_value.hpp"
