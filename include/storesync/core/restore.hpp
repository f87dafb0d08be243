#pragma once
/// \file
/// `validate_restore`: the checks a `restorable_store::restore` makes before
/// it touches anything, shared by every adapter so they refuse the same
/// requests with the same errors. A caller may run it first to tell a bad
/// request from a lost race.
///
/// \code
///   // Undo a write of `written` whose key held `before` (nothing if it was new).
///   if (auto ok = storesync::validate_restore(written.key, written.version, before); !ok)
///     return ok.error();                          // invalid_input: a bug in the caller
///   auto undone = store.restore(written.key, written.version, before);
///   if (!undone && undone.error() == storesync::condition::conflict) {
///     // a newer write came in between: keep it, nothing to undo
///   }
/// \endcode

#include <optional>
#include <string>
#include <string_view>

#include "storesync/core/detail/text.hpp"
#include "storesync/core/entry.hpp"
#include "storesync/core/result.hpp"
#include "storesync/core/value_rules.hpp"

namespace storesync {

/// Checks a restore request: `key` is a valid key, `expected` a version a
/// store can hold, and `previous`, when given, an entry of `key` with a
/// version below `expected` that is valid under `rules`. Every failure is
/// `condition::invalid_input` and names the key.
inline result<void> validate_restore(std::string_view key, version_type expected,
                                     const std::optional<entry>& previous,
                                     const value_rules& rules = {}) {
  BOOST_OUTCOME_TRY(validate_key(key));
  if (expected <= 0 || expected > max_entry_version)
    return error{errc::invalid_version, "restore of key " + detail::quoted(key) +
                                            ": expected version " + std::to_string(expected) +
                                            " is not a version any store holds"};
  if (!previous) return success();
  if (previous->key != key)
    return error{errc::invalid_argument, "restore of key " + detail::quoted(key) +
                                             ": the previous entry is of key " +
                                             detail::quoted(previous->key)};
  if (previous->version >= expected)
    return error{errc::invalid_version,
                 "restore of key " + detail::quoted(key) + ": previous version " +
                     std::to_string(previous->version) + " is not below the expected version " +
                     std::to_string(expected)};
  return validate(*previous, rules);
}

namespace detail {

// The error of a restore that found `key` at another version (`stored`:
// nothing when the key is not stored).
inline error restore_conflict(std::string_view key, version_type expected,
                              std::optional<version_type> stored) {
  return error{errc::version_conflict,
               "restore of key " + quoted(key) + ": expected version " + std::to_string(expected) +
                   ", stored " + (stored ? "version " + std::to_string(*stored) : "nothing")};
}

}  // namespace detail
}  // namespace storesync
