#pragma once
// Internals of typed tables (see store/table_mapping.hpp): an entry's JSON
// object converted, exactly or not at all, into one text cell per column,
// and cells rebuilt into the canonical JSON value. Database-neutral: each
// adapter binds the cells in its dialect and selects columns back in the
// read form `json_of_cells` expects.

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "storesync/core/detail/json_scan.hpp"
#include "storesync/core/detail/text.hpp"
#include "storesync/core/entry.hpp"
#include "storesync/core/result.hpp"
#include "storesync/store/table_mapping.hpp"

namespace storesync::detail {

/// A column's value as text, or NULL. Written forms, by column type:
/// text as is; integers in decimal; numeric as the JSON number was written;
/// double_precision in its shortest exact decimal; boolean `true`/`false`;
/// timestamptz `YYYY-MM-DDTHH:MM:SS.ffffffZ`; date `YYYY-MM-DD`; jsonb as
/// JSON text.
using cell = std::optional<std::string>;

/// An entry's row of a typed table: the key columns' values (see
/// `decode_key`), then one cell per mapped field, then the rest column's
/// when the mapping has one. Empty cells for a deleted key.
struct typed_row {
  std::vector<std::string> key;
  std::vector<cell> values;
};

/// A JSON number split into sign, significant digits (no leading zeros;
/// "0" for zero) and a power of ten: value = digits * 10^exponent.
struct decimal_number {
  bool negative = false;
  std::string digits;
  std::int64_t exponent = 0;
  /// Digits after the point as written, trailing zeros included, less the
  /// written exponent; at least 0 (`1.50` 2, `1.0e-3` 4, `1e3` 0). The
  /// scale numeric keeps for a number kept as written.
  std::int64_t scale = 0;
};

/// Parses a JSON number (RFC 8259 grammar, nothing around it).
inline std::optional<decimal_number> parse_json_number(std::string_view s) {
  decimal_number n;
  std::size_t at = 0;
  auto digit = [&](std::size_t i) { return i < s.size() && s[i] >= '0' && s[i] <= '9'; };
  if (at < s.size() && s[at] == '-') {
    n.negative = true;
    ++at;
  }
  if (!digit(at)) return std::nullopt;
  if (s[at] == '0' && digit(at + 1)) return std::nullopt;
  std::int64_t fraction_digits = 0;
  while (digit(at)) n.digits += s[at++];
  if (at < s.size() && s[at] == '.') {
    ++at;
    if (!digit(at)) return std::nullopt;
    while (digit(at)) {
      n.digits += s[at++];
      ++fraction_digits;
    }
  }
  std::int64_t exponent = 0;
  if (at < s.size() && (s[at] == 'e' || s[at] == 'E')) {
    ++at;
    bool minus = false;
    if (at < s.size() && (s[at] == '+' || s[at] == '-')) minus = s[at++] == '-';
    if (!digit(at)) return std::nullopt;
    // Past 10^15 the exponent's size alone decides; saturating keeps it finite.
    constexpr std::int64_t cap = std::int64_t{1} << 50;
    while (digit(at)) exponent = std::min(cap, exponent * 10 + (s[at++] - '0'));
    if (minus) exponent = -exponent;
  }
  if (at != s.size()) return std::nullopt;
  n.scale = std::max<std::int64_t>(0, fraction_digits - exponent);
  const std::size_t first = n.digits.find_first_not_of('0');
  if (first == std::string::npos) {
    n.digits = "0";
    n.exponent = 0;
    return n;
  }
  n.digits.erase(0, first);
  // Trailing zeros move into the exponent, so `digits` is significant only.
  const std::size_t last = n.digits.find_last_not_of('0');
  n.exponent = exponent - fraction_digits + static_cast<std::int64_t>(n.digits.size() - 1 - last);
  n.digits.erase(last + 1);
  return n;
}

/// Whether a number kept as written fits PostgreSQL's numeric (the rule
/// every SQL store of a typed table keeps, so a value moves between them):
/// at most 131072 digits before the point, and a scale (digits after it as
/// written, trailing zeros included, as numeric keeps them) of at most 16383.
inline bool fits_numeric(const decimal_number& n) noexcept {
  const std::int64_t len = static_cast<std::int64_t>(n.digits.size());
  const std::int64_t before = std::max<std::int64_t>(0, len + n.exponent);
  return before <= 131072 && n.scale <= 16383;
}

/// `n` as an integer within [lo, hi]; a fraction is rounded half away from
/// zero with `round`, refused otherwise. The reason when it is not.
inline std::optional<std::int64_t> integer_of(const decimal_number& n, bool round, std::int64_t lo,
                                              std::int64_t hi, std::string& why) {
  std::string whole = n.digits;
  bool up = false;
  if (n.exponent < 0) {
    const std::int64_t cut = -n.exponent;
    if (!round) {
      why = "has a fraction (set \"round\" to round it)";
      return std::nullopt;
    }
    if (cut > static_cast<std::int64_t>(whole.size())) {
      whole = "0";  // below 0.1 in magnitude: rounds to zero
    } else {
      const std::size_t keep = whole.size() - static_cast<std::size_t>(cut);
      up = whole[keep] >= '5';
      whole.erase(keep);
      if (whole.empty()) whole = "0";
    }
  } else if (n.digits != "0") {
    if (n.exponent > 19) {
      why = "is out of range";
      return std::nullopt;
    }
    whole.append(static_cast<std::size_t>(n.exponent), '0');
  }
  std::uint64_t magnitude = 0;
  const auto [end, ec] = std::from_chars(whole.data(), whole.data() + whole.size(), magnitude);
  if (ec != std::errc{} || end != whole.data() + whole.size() ||
      (up && magnitude == std::numeric_limits<std::uint64_t>::max())) {
    why = "is out of range";
    return std::nullopt;
  }
  if (up) ++magnitude;
  const std::uint64_t limit = n.negative ? static_cast<std::uint64_t>(-(lo + 1)) + 1
                                         : static_cast<std::uint64_t>(hi);
  if (magnitude > limit) {
    why = "is out of range";
    return std::nullopt;
  }
  return n.negative ? static_cast<std::int64_t>(0 - magnitude) : static_cast<std::int64_t>(magnitude);
}

inline constexpr std::int64_t micros_per_second = 1'000'000;
inline constexpr std::int64_t seconds_per_day = 86'400;

inline std::int64_t days_of(std::chrono::year_month_day ymd) noexcept {
  return std::chrono::sys_days(ymd).time_since_epoch().count();
}
/// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z in microseconds.
inline std::int64_t earliest_micros() noexcept {
  using namespace std::chrono;
  return days_of(year{1} / January / 1) * seconds_per_day * micros_per_second;
}
inline std::int64_t latest_micros() noexcept {
  using namespace std::chrono;
  return (days_of(year{9999} / December / 31) + 1) * seconds_per_day * micros_per_second - 1;
}

// Exactly `n` decimal digits at `s[at]`, or -1.
inline int fixed_digits(std::string_view s, std::size_t at, std::size_t n) noexcept {
  if (at + n > s.size()) return -1;
  int v = 0;
  for (std::size_t i = at; i < at + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date in years 1-9999.
inline std::optional<std::int64_t> parse_date(std::string_view s) noexcept {
  using namespace std::chrono;
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  const int y = fixed_digits(s, 0, 4), m = fixed_digits(s, 5, 2), d = fixed_digits(s, 8, 2);
  if (y < 1 || m < 1 || d < 1) return std::nullopt;
  const year_month_day ymd{year{y}, month{static_cast<unsigned>(m)}, day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;
  return days_of(ymd);
}

/// Microseconds since 1970-01-01T00:00:00Z of an RFC 3339 timestamp with
/// an offset; more than six fraction digits only with `round` (half up).
inline std::optional<std::int64_t> parse_timestamp(std::string_view s, bool round, std::string& why) {
  why = "is not an RFC 3339 timestamp with an offset (2026-01-02T03:04:05Z)";
  const auto days = parse_date(s.substr(0, std::min<std::size_t>(s.size(), 10)));
  if (!days || s.size() < 20 || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
    return std::nullopt;
  const int h = fixed_digits(s, 11, 2), mi = fixed_digits(s, 14, 2), sec = fixed_digits(s, 17, 2);
  if (h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59) return std::nullopt;
  std::size_t at = 19;
  std::int64_t fraction = 0;
  if (s[at] == '.') {
    ++at;
    const std::size_t from = at;
    while (at < s.size() && s[at] >= '0' && s[at] <= '9') ++at;
    const std::size_t n = at - from;
    if (n == 0) return std::nullopt;
    for (std::size_t i = 0; i < 6; ++i) fraction = fraction * 10 + (i < n ? s[from + i] - '0' : 0);
    if (n > 6) {
      if (!round) {
        why = "has digits past microseconds (set \"round\" to round them)";
        return std::nullopt;
      }
      if (s[from + 6] >= '5') ++fraction;
    }
  }
  std::int64_t offset = 0;
  if (at < s.size() && (s[at] == 'Z' || s[at] == 'z')) {
    ++at;
  } else if (at + 6 == s.size() && (s[at] == '+' || s[at] == '-') && s[at + 3] == ':') {
    const int oh = fixed_digits(s, at + 1, 2), om = fixed_digits(s, at + 4, 2);
    if (oh < 0 || oh > 23 || om < 0 || om > 59) return std::nullopt;
    offset = (oh * 3600 + om * 60) * (s[at] == '-' ? -1 : 1);
    at += 6;
  } else {
    return std::nullopt;
  }
  if (at != s.size()) return std::nullopt;
  const std::int64_t micros =
      ((*days * seconds_per_day + h * 3600 + mi * 60 + sec) - offset) * micros_per_second + fraction;
  if (micros < earliest_micros() || micros > latest_micros()) {
    why = "is outside years 1-9999 in UTC";
    return std::nullopt;
  }
  return micros;
}

/// Appends `v` (not negative) in decimal, zero-padded to `width` digits.
inline void append_padded(std::string& out, std::int64_t v, int width) {
  char digits[20];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, v);
  const auto n = static_cast<int>(end - digits);
  if (n < width) out.append(static_cast<std::size_t>(width - n), '0');
  out.append(digits, end);
}

inline void append_date(std::string& out, std::int64_t days) {
  using namespace std::chrono;
  const year_month_day ymd{sys_days{std::chrono::days{days}}};
  append_padded(out, static_cast<int>(ymd.year()), 4);
  out += '-';
  append_padded(out, static_cast<unsigned>(ymd.month()), 2);
  out += '-';
  append_padded(out, static_cast<unsigned>(ymd.day()), 2);
}

inline std::string format_date(std::int64_t days) {
  std::string out;
  append_date(out, days);
  return out;
}

/// Appends `micros` as `YYYY-MM-DDTHH:MM:SS.ffffffZ`; with `trim`, the
/// fraction's trailing zeros (and the point, when all are) are cut.
inline void append_timestamp(std::string& out, std::int64_t micros, bool trim) {
  const std::int64_t per_day = seconds_per_day * micros_per_second;
  std::int64_t days = micros / per_day, in_day = micros % per_day;
  if (in_day < 0) {
    in_day += per_day;
    --days;
  }
  append_date(out, days);
  out += 'T';
  const std::int64_t secs = in_day / micros_per_second;
  append_padded(out, secs / 3600, 2);
  out += ':';
  append_padded(out, secs / 60 % 60, 2);
  out += ':';
  append_padded(out, secs % 60, 2);
  std::int64_t fraction = in_day % micros_per_second;
  int width = 6;
  if (trim)
    for (; width > 0 && fraction % 10 == 0; --width) fraction /= 10;
  if (width > 0) {
    out += '.';
    append_padded(out, fraction, width);
  }
  out += 'Z';
}

inline std::string format_timestamp(std::int64_t micros, bool trim) {
  std::string out;
  out.reserve(27);
  append_timestamp(out, micros, trim);
  return out;
}

/// The shortest decimal that reads back as `d` (JSON syntax: `-0`, `1e+100`).
inline std::string json_double(double d) {
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, ec == std::errc{} ? end : buf);
}

/// Converts one member's JSON text (or a default's, which may have JSON
/// whitespace around it) for `f`'s column, or says why not.
inline std::optional<cell> cell_of(const field_column& f, std::string_view json, std::string& why) {
  json.remove_prefix(std::min(json.size(), json_skip_space(json, 0)));
  while (!json.empty() && (json.back() == ' ' || json.back() == '\n' || json.back() == '\r' || json.back() == '\t'))
    json.remove_suffix(1);
  if (json.empty()) {
    why = "is not JSON";
    return std::nullopt;
  }
  if (json == "null") {
    if (f.required) {
      why = "is null; the field is required";
      return std::nullopt;
    }
    return cell{};
  }
  const bool is_string = json.front() == '"';
  std::string unquoted;
  if (is_string) unquoted = json_unescape(json);
  // What a number or boolean column reads: the JSON text, or a string's
  // content with `from_string`.
  std::string_view literal = json;
  if (is_string && f.from_string) literal = unquoted;
  auto number = [&]() -> std::optional<decimal_number> {
    if (is_string && !f.from_string) {
      why = "is a string, not a number (set \"from_string\" to accept one)";
      return std::nullopt;
    }
    auto n = parse_json_number(literal);
    if (!n) why = is_string ? "is a string that does not hold a number" : "is not a number";
    return n;
  };
  switch (f.type) {
    case column_type::text:
      if (!is_string) break;
      return cell{std::move(unquoted)};
    case column_type::integer:
    case column_type::bigint: {
      const auto n = number();
      if (!n) return std::nullopt;
      const bool wide = f.type == column_type::bigint;
      const auto v = integer_of(*n, f.round, wide ? std::numeric_limits<std::int64_t>::min() : INT32_MIN,
                                wide ? std::numeric_limits<std::int64_t>::max() : INT32_MAX, why);
      if (!v) {
        if (why == "is out of range") why += " for " + std::string(to_string(f.type));
        return std::nullopt;
      }
      return cell{std::to_string(*v)};
    }
    case column_type::numeric: {
      const auto n = number();
      if (!n) return std::nullopt;
      if (!fits_numeric(*n)) {
        why = "does not fit numeric (131072 digits before the point, 16383 after)";
        return std::nullopt;
      }
      return cell{std::string(literal)};
    }
    case column_type::double_precision: {
      const auto n = number();
      if (!n) return std::nullopt;
      double d = 0;
      const auto [end, ec] = std::from_chars(literal.data(), literal.data() + literal.size(), d);
      if (ec != std::errc{} || end != literal.data() + literal.size() || (d == 0 && n->digits != "0")) {
        why = "is out of double precision's range";
        return std::nullopt;
      }
      return cell{json_double(d)};
    }
    case column_type::boolean:
      if (is_string && !f.from_string) {
        why = "is a string, not true or false (set \"from_string\" to accept one)";
        return std::nullopt;
      }
      if (literal == "true" || literal == "false") return cell{std::string(literal)};
      why = "is not true or false";
      return std::nullopt;
    case column_type::timestamptz: {
      if (!is_string) break;
      const auto micros = parse_timestamp(unquoted, f.round, why);
      if (!micros) return std::nullopt;
      return cell{format_timestamp(*micros, false)};
    }
    case column_type::date:
      if (!is_string) break;
      if (!parse_date(unquoted)) {
        why = "is not a date YYYY-MM-DD in years 1-9999";
        return std::nullopt;
      }
      return cell{std::move(unquoted)};
    case column_type::jsonb: return cell{std::string(json)};
  }
  why = "is not a string";
  return std::nullopt;
}

inline error field_error(std::string_view key, const field_column& f, std::string_view json,
                         std::string_view why) {
  return error{errc::invalid_value, "key " + detail::quoted(key) + ": field " + detail::quoted(f.field) + " (column " +
                                        detail::quoted(f.column_name()) + ", " + std::string(to_string(f.type)) +
                                        ") " + (json.empty() ? "" : detail::quoted(json) + " ") + std::string(why)};
}

/// Checks a mapping and that every default converts for its column.
inline result<void> check_typed_mapping(const table_mapping& m) {
  BOOST_OUTCOME_TRY(check_mapping(m));
  for (const field_column& f : m.fields) {
    if (!f.default_value) continue;
    std::string why;
    if (scan_json(*f.default_value, {max_supported_depth, true, false}) || !cell_of(f, *f.default_value, why))
      return error{errc::invalid_argument, "table mapping: field " + detail::quoted(f.field) + ": default " +
                                               detail::quoted(*f.default_value) + " " +
                                               (why.empty() ? "is not JSON" : why)};
  }
  return success();
}

/// The row `e` (a validated entry) becomes under `m`, or the error naming
/// the key, and the field and column that refused it.
inline result<typed_row> row_of(const table_mapping& m, const entry& e) {
  typed_row row;
  BOOST_OUTCOME_TRY(row.key, decode_key(m, e.key));
  if (m.version_type == version_column_type::timestamptz && e.version > latest_micros())
    return error{errc::invalid_version, "key " + detail::quoted(e.key) + ": version " + std::to_string(e.version) +
                                            " is past " + format_timestamp(latest_micros(), true) +
                                            ", the last a timestamptz version column holds"};
  const std::size_t width = m.fields.size() + (m.rest_column.empty() ? 0 : 1);
  if (e.tombstone) {
    row.values.resize(width);
    return row;
  }
  const std::string_view value = e.value;
  const std::size_t open = json_skip_space(value, 0);
  if (value[open] != '{')
    return error{errc::invalid_value, "key " + detail::quoted(e.key) +
                                          ": a typed table holds JSON objects; the value is not one"};
  std::vector<std::optional<std::string_view>> given(m.fields.size());
  std::string rest;
  std::optional<error> fault;
  // Unmapped names seen so far (mapped ones are in `given`): a set, so a
  // value of many members costs n log n.
  std::set<std::string, std::less<>> unmapped;
  std::string unescaped;
  json_members(value.substr(open), [&](std::string_view name_literal, std::string_view member) {
    if (fault) return;
    std::string_view name = name_literal.substr(1, name_literal.size() - 2);
    if (name.find('\\') != std::string_view::npos) name = unescaped = json_unescape(name_literal);
    auto duplicate = [&] {
      fault = error{errc::invalid_value,
                    "key " + detail::quoted(e.key) + ": field " + detail::quoted(name) + " appears twice"};
    };
    const auto it = std::find_if(m.fields.begin(), m.fields.end(),
                                 [&](const field_column& f) { return f.field == name; });
    if (it != m.fields.end()) {
      auto& slot = given[static_cast<std::size_t>(it - m.fields.begin())];
      if (slot) return duplicate();
      slot = member;
      return;
    }
    if (m.rest_column.empty()) {
      fault = error{errc::invalid_value, "key " + detail::quoted(e.key) + ": field " + detail::quoted(name) +
                                             " has no column (map it, or name a rest column)"};
      return;
    }
    if (!unmapped.emplace(name).second) return duplicate();
    rest += rest.empty() ? "{" : ",";
    rest.append(name_literal).append(":").append(member);
  });
  if (fault) return *fault;
  row.values.reserve(width);
  for (std::size_t i = 0; i < m.fields.size(); ++i) {
    const field_column& f = m.fields[i];
    std::string_view json;
    if (given[i]) json = *given[i];
    else if (f.default_value) json = *f.default_value;
    else if (f.required) return field_error(e.key, f, {}, "is missing; the field is required");
    else {
      row.values.emplace_back();
      continue;
    }
    std::string why;
    auto c = cell_of(f, json, why);
    if (!c) return field_error(e.key, f, json, why);
    row.values.push_back(std::move(*c));
  }
  if (!m.rest_column.empty()) row.values.push_back(rest.empty() ? cell{} : cell{rest + "}"});
  return row;
}

/// The canonical JSON value of a row, from its cells in read form: as
/// written, except integers and numeric in decimal, double_precision in any
/// decimal, timestamptz as microseconds since the epoch, date as days since
/// 1970-01-01. `cells` has one per field, then the rest column's.
inline std::string json_of_cells(const table_mapping& m, std::span<const std::optional<std::string_view>> cells) {
  std::string out = "{";
  for (std::size_t i = 0; i < m.fields.size(); ++i) {
    const field_column& f = m.fields[i];
    if (i > 0) out += ',';
    append_json_string(out, f.field);
    out += ':';
    if (!cells[i]) {
      out += "null";
      continue;
    }
    const std::string_view c = *cells[i];
    std::int64_t n = 0;
    switch (f.type) {
      case column_type::text: append_json_string(out, c); break;
      case column_type::double_precision: {
        double d = 0;
        std::from_chars(c.data(), c.data() + c.size(), d);
        out += json_double(d);
        break;
      }
      case column_type::timestamptz:
        std::from_chars(c.data(), c.data() + c.size(), n);
        out += '"' + format_timestamp(n, true) + '"';
        break;
      case column_type::date:
        std::from_chars(c.data(), c.data() + c.size(), n);
        out += '"' + format_date(n) + '"';
        break;
      default: out += c; break;
    }
  }
  if (!m.rest_column.empty() && cells.size() > m.fields.size() && cells.back()) {
    std::size_t members = m.fields.size();
    json_members(*cells.back(), [&](std::string_view name, std::string_view member) {
      if (members++ > 0) out += ',';
      out.append(name).append(":").append(member);
    });
  }
  out += '}';
  return out;
}

}  // namespace storesync::detail

namespace storesync {
inline result<void> check_entry(const table_mapping& m, const entry& e) {
  BOOST_OUTCOME_TRY(validate(e, any_json));
  BOOST_OUTCOME_TRY(detail::row_of(m, e));
  return success();
}
}  // namespace storesync
