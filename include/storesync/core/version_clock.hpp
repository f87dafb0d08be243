#pragma once
/// \file
/// `version_clock`: versions for writes whose caller gives none. A version is
/// the wall clock in microseconds since the epoch, but never less than one
/// more than every version handed out or observed, so a clock stepped back (an
/// NTP correction, a restored VM) or a restart never gives a newer write a
/// lower version than an older one.
///
/// \code
///   storesync::version_clock versions(pg.max_version().value());  // the floor: what is stored
///   auto e = storesync::entry::put("user:1", R"({"n":1})", versions.next());
///   versions.observe(client_version);   // a caller-supplied version raises the floor too
/// \endcode
///
/// Thread safety: every member may be called from many threads (lock-free).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <limits>

#include "storesync/core/entry.hpp"

namespace storesync {

class version_clock {
 public:
  /// Versions handed out will all be greater than `floor`.
  explicit version_clock(version_type floor = 0) noexcept : last_(floor) {}

  /// A version greater than every one handed out or observed so far.
  version_type next() noexcept { return reserve(1); }

  /// As `next()`, with `now` read from another wall clock (microseconds since
  /// the epoch): a test's or a simulation's, which may step back.
  version_type next(version_type now) noexcept { return reserve(1, now); }

  /// The first of `count` consecutive versions (`count` at least 1), all
  /// greater than every one handed out or observed so far: versions for a
  /// batch of writes in one step.
  version_type reserve(std::size_t count) noexcept {
    return reserve(count, std::chrono::duration_cast<std::chrono::microseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count());
  }

  /// As `reserve(count)`, with `now` read from another wall clock.
  version_type reserve(std::size_t count, version_type now) noexcept {
    constexpr version_type top = std::numeric_limits<version_type>::max();
    const version_type more = static_cast<version_type>(count > 0 ? count - 1 : 0);
    version_type last = last_.load(std::memory_order_relaxed);
    version_type first;
    do {
      // Entries carry at most max_entry_version, far below the type's limit;
      // a store written otherwise cannot make this overflow (an entry at the
      // limit then fails validation instead).
      first = last < top ? std::max(now, last + 1) : last;
      if (first > top - more) first = top - more;
    } while (!last_.compare_exchange_weak(last, std::max(last, first + more), std::memory_order_relaxed));
    return first;
  }

  /// Raises the floor to `v` (a version stored or supplied elsewhere).
  void observe(version_type v) noexcept {
    version_type last = last_.load(std::memory_order_relaxed);
    while (v > last && !last_.compare_exchange_weak(last, v, std::memory_order_relaxed)) {
    }
  }

  /// The largest version handed out or observed.
  version_type last() const noexcept { return last_.load(std::memory_order_relaxed); }

 private:
  std::atomic<version_type> last_;
};

}  // namespace storesync
