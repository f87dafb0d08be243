#pragma once
/// \file
/// `value_rules`: what a value must be for a store to hold it. Every value is
/// JSON text (RFC 8259, UTF-8, no byte-order mark, no unpaired surrogate
/// escape) nested at most `max_depth` deep; a store may add rules of its own
/// (PostgreSQL's jsonb holds no U+0000 and only numbers that fit `numeric`).
/// A write path checks the stricter rules of every store an entry must reach
/// before it acknowledges the entry, so what no store could ever hold is
/// refused at the door and never becomes a dead letter.
///
/// \code
///   storesync::value_rules door{.max_depth = 64};
///   const auto rules = storesync::stricter(door, storesync::rules_of(pg));   // pg: a postgres_store
///   if (auto ok = storesync::validate_value("user:1", body, rules); !ok)
///     std::puts(ok.error().message().c_str());  // names the key, the byte and the rule
/// \endcode
///
/// The check is one pass over the text with no recursion and no allocation:
/// neither the depth nor the size of a hostile value can exhaust the stack.

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "storesync/core/detail/json_scan.hpp"
#include "storesync/core/detail/text.hpp"
#include "storesync/core/result.hpp"

namespace storesync {

/// Nesting depth accepted by default, as common JSON parsers default to a
/// few hundred.
inline constexpr std::size_t default_max_depth = 256;
/// The deepest nesting any `value_rules` may allow.
inline constexpr std::size_t max_supported_depth = 4096;

/// Rules a JSON value must follow for a store to hold it.
struct value_rules {
  /// Deepest nesting of arrays and objects (1 for `[1]`); at most
  /// `max_supported_depth`.
  std::size_t max_depth = default_max_depth;
  /// Whether a string may hold U+0000 (written `\u0000`).
  bool nul_in_strings = true;
  /// Whether every number must fit PostgreSQL's `numeric`: at most 131072
  /// digits before the decimal point and 16383 after it.
  bool numbers_fit_numeric = false;

  friend constexpr bool operator==(const value_rules&, const value_rules&) = default;
};

/// Any JSON value up to the deepest supported nesting: what a store that
/// keeps JSON as text (SQLite, DuckDB, memory) can hold.
inline constexpr value_rules any_json{max_supported_depth, true, false};

/// Rules that a value meets only if it meets both `a` and `b`.
constexpr value_rules stricter(const value_rules& a, const value_rules& b) noexcept {
  return {std::min(a.max_depth, b.max_depth), a.nul_in_strings && b.nul_in_strings,
          a.numbers_fit_numeric || b.numbers_fit_numeric};
}

/// The rules a store states (its `rules()` member); `any_json` for a store
/// that states none.
template <class S>
constexpr value_rules rules_of(const S& s) noexcept {
  if constexpr (requires { { s.rules() } -> std::convertible_to<value_rules>; }) return s.rules();
  else return any_json;
}

/// Checks `value` (the JSON text of `key`'s entry) against `rules`. The
/// error (`errc::invalid_value`) names the key, the byte offset and the rule.
inline result<void> validate_value(std::string_view key, std::string_view value, const value_rules& rules) {
  const std::size_t depth = std::min(rules.max_depth, max_supported_depth);
  const auto fault = detail::scan_json(value, {depth, rules.nul_in_strings, rules.numbers_fit_numeric});
  if (!fault) return success();
  std::string message = "key " + detail::quoted(key) + ": value " +
                        (fault.rule ? "breaks a rule" : "is not valid JSON") + " at byte " +
                        std::to_string(fault.at) + ": " + std::string(fault.what);
  if (fault.what == "nesting deeper than the limit") message += " (" + std::to_string(depth) + ")";
  return error{errc::invalid_value, std::move(message)};
}

}  // namespace storesync
