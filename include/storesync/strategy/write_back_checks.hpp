#pragma once
/// \file
/// Ready checks for write-back's stages: each is a `write_back_check`, a
/// callable that passes an entry or says why it must not reach the sink.
/// A stage lists the ones it wants (`write_back_stage_options::checks`);
/// an entry that fails one is dead-lettered with the reason and the rest
/// of its batch goes on.
///
/// \code
///   storesync::write_back_stage_options opts;
///   opts.checks = {storesync::checks::required_fields({"category", "content"}),
///                  storesync::checks::not_before("updated_at", "created_at")};
/// \endcode
///
/// What every stage checks without being asked (see write_back.hpp): the key
/// is present and valid, unique within the run, and the value is JSON the
/// sink can hold (no NaN, no invalid UTF-8, within the sink's rules and
/// typed columns).
///
/// Checks see a value only after it passed the JSON check, so they read
/// valid JSON; they look at top-level members of an object, and an entry
/// whose value is not an object fails every check that names a field.
/// Tombstones carry no value and pass every field check.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storesync/core/detail/json_scan.hpp"
#include "storesync/core/detail/text.hpp"
#include "storesync/core/entry.hpp"
#include "storesync/core/error.hpp"
#include "storesync/core/result.hpp"
#include "storesync/store/detail/typed_value.hpp"

namespace storesync {

/// Passes `e`, or fails with `errc::invalid_value` and a message naming
/// the key and what is wrong (the dead letter's reason).
using write_back_check = std::function<result<void>(const entry& e)>;

namespace detail {

/// The JSON text of member `name` of the object `value`, or nothing (also
/// when `value` is not an object). The last member of a name wins, as in
/// most JSON readers.
inline std::optional<std::string_view> json_member(std::string_view value, std::string_view name) {
  const std::size_t open = json_skip_space(value, 0);
  if (open >= value.size() || value[open] != '{') return std::nullopt;
  std::optional<std::string_view> found;
  json_members(value.substr(open), [&](std::string_view literal, std::string_view v) {
    if (json_unescape(literal) == name) found = v;
  });
  return found;
}

inline error check_failed(const entry& e, std::string what) {
  return error{errc::invalid_value, "key " + detail::quoted(e.key) + ": " + std::move(what)};
}

/// A timestamp field as microseconds since the epoch: an RFC 3339 string
/// with an offset, or a number (already microseconds). Nothing, with `why`
/// set, otherwise.
inline std::optional<std::int64_t> timestamp_field(std::string_view json, std::string& why) {
  if (json.starts_with('"')) return parse_timestamp(json_unescape(json), true, why);
  if (const auto n = parse_json_number(json)) {
    if (const auto i = integer_of(*n, false, INT64_MIN, INT64_MAX, why)) return i;
  }
  why = "is neither an RFC 3339 timestamp nor an integer";
  return std::nullopt;
}

}  // namespace detail

namespace checks {

/// Each of `fields` is present and not empty: not `null`, `""`, `[]` or
/// `{}`.
inline write_back_check required_fields(std::vector<std::string> fields) {
  return [fields = std::move(fields)](const entry& e) -> result<void> {
    if (e.tombstone) return success();
    for (const std::string& f : fields) {
      const auto v = detail::json_member(e.value, f);
      if (!v) return detail::check_failed(e, "required field " + detail::quoted(f) + " is missing");
      if (*v == "null" || *v == "\"\"" || *v == "[]" || *v == "{}" ||
          ((v->starts_with('[') || v->starts_with('{')) &&
           detail::json_skip_space(*v, 1) == v->size() - 1))
        return detail::check_failed(e, "required field " + detail::quoted(f) + " is empty (" +
                                           std::string(*v) + ")");
    }
    return success();
  };
}

/// Field `later` holds a time at or after field `earlier`'s (for example
/// `not_before("updated_at", "created_at")`). Both must be present, as RFC
/// 3339 strings with an offset or as integers of microseconds.
inline write_back_check not_before(std::string later, std::string earlier) {
  return [later = std::move(later), earlier = std::move(earlier)](const entry& e) -> result<void> {
    if (e.tombstone) return success();
    std::int64_t at[2] = {0, 0};
    const std::string* names[2] = {&later, &earlier};
    for (int i = 0; i < 2; ++i) {
      const auto v = detail::json_member(e.value, *names[i]);
      if (!v) return detail::check_failed(e, "field " + detail::quoted(*names[i]) + " is missing");
      std::string why;
      const auto t = detail::timestamp_field(*v, why);
      if (!t) return detail::check_failed(e, "field " + detail::quoted(*names[i]) + " " + why);
      at[i] = *t;
    }
    if (at[0] < at[1])
      return detail::check_failed(e, detail::quoted(later) + " (" + detail::format_timestamp(at[0], true) +
                                         ") is earlier than " + detail::quoted(earlier) + " (" +
                                         detail::format_timestamp(at[1], true) + ")");
    return success();
  };
}

/// The entry's version, a timestamp in microseconds (named `version_name`
/// in messages: the column it came from), is at or after field `earlier`:
/// `not_before` for a stage whose version column is the later time.
inline write_back_check version_not_before(std::string version_name, std::string earlier) {
  return [version_name = std::move(version_name), earlier = std::move(earlier)](const entry& e) -> result<void> {
    if (e.tombstone) return success();
    const auto v = detail::json_member(e.value, earlier);
    if (!v) return detail::check_failed(e, "field " + detail::quoted(earlier) + " is missing");
    std::string why;
    const auto t = detail::timestamp_field(*v, why);
    if (!t) return detail::check_failed(e, "field " + detail::quoted(earlier) + " " + why);
    if (e.version < *t)
      return detail::check_failed(e, detail::quoted(version_name) + " (" + detail::format_timestamp(e.version, true) +
                                         ") is earlier than " + detail::quoted(earlier) + " (" +
                                         detail::format_timestamp(*t, true) + ")");
    return success();
  };
}

}  // namespace checks
}  // namespace storesync
