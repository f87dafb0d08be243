#pragma once
/// \file
/// `dead_letter`: an entry a store refused for good, with the error it
/// refused it with and when. Every strategy keeps what it could not deliver
/// as dead letters, to be listed and re-driven, never dropped.
///
/// \code
///   auto written = slow.write(batch);
///   if (!written && written.error() == storesync::condition::permanent)
///     letters.push_back(storesync::make_dead_letter(batch.front(), written.error()));
///   // later
///   if (letters.front().code == storesync::condition::invalid_input) fix_and_retry(letters.front().item);
/// \endcode

#include <chrono>
#include <string>
#include <system_error>
#include <utility>

#include "storesync/core/entry.hpp"
#include "storesync/core/error.hpp"

namespace storesync {

/// An entry a store refused permanently, kept for listing and re-drive.
struct dead_letter {
  entry item;
  /// The refusal's code: compare it with a `condition` or an `errc`.
  std::error_code code;
  /// The refusal's message ("<code message>: <context>").
  std::string error;
  /// When it was dead-lettered.
  std::chrono::system_clock::time_point time;

  friend bool operator==(const dead_letter&, const dead_letter&) = default;
};

/// A dead letter for `e` refused with `why`, stamped `now`.
inline dead_letter make_dead_letter(entry e, const error& why,
                                    std::chrono::system_clock::time_point now =
                                        std::chrono::system_clock::now()) {
  return dead_letter{std::move(e), why.code(), why.message(), now};
}

}  // namespace storesync
