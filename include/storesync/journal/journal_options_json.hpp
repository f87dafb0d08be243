#pragma once
/// \file
/// `journal_options` and `durability` to and from JSON (nlohmann), kept apart
/// from journal.hpp so that only a program that reads or writes JSON
/// configuration pays for nlohmann_json.
///
/// \code
///   auto o = storesync::parse_journal_options(nlohmann::json::parse(R"({
///       "directory": "/var/lib/app/journal", "durability": "interval",
///       "fsync_interval_ms": 50})"));
///   if (!o) return o.error();   // errc::invalid_argument, with nlohmann's message
///   nlohmann::json back = o.value();   // all four fields, durability by name
/// \endcode

#include <string>

#include <nlohmann/json.hpp>

#include "storesync/core/result.hpp"
#include "storesync/journal/journal.hpp"

namespace storesync {

/// JSON form of `durability`: its name as a string.
inline void to_json(nlohmann::json& j, durability d) { j = std::string(to_string(d)); }

/// Reads a `durability` from its name. Follows nlohmann's convention and
/// throws `nlohmann::json::exception` on a bad value; storesync callers use
/// `parse_journal_options`, which returns the failure as an error instead.
inline void from_json(const nlohmann::json& j, durability& d) {
  if (!j.is_string())
    throw nlohmann::json::type_error::create(302, "durability must be a string", &j);
  auto parsed = parse_durability(j.get_ref<const std::string&>());
  if (!parsed) throw nlohmann::json::other_error::create(501, parsed.error().message(), &j);
  d = parsed.value();
}

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(journal_options, directory, durability,
                                                fsync_interval_ms, segment_size_bytes)

/// `journal_options` from JSON, without exceptions: a wrong type or an
/// unknown durability is `errc::invalid_argument` with nlohmann's message.
inline result<journal_options> parse_journal_options(const nlohmann::json& j) {
  try {
    journal_options o = j.get<journal_options>();
    BOOST_OUTCOME_TRY(validate(o));
    return o;
  } catch (const nlohmann::json::exception& e) {
    return error{errc::invalid_argument, std::string("journal options: ") + e.what()};
  }
}

}  // namespace storesync
