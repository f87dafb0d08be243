#pragma once
// Which journal lsns have been handed out and registered, for a checkpoint
// that must never pass a record that is journalled but not yet tracked.

#include <algorithm>
#include <set>

#include "storesync/journal/journal.hpp"

namespace storesync::detail {

/// Appends finish out of order: lsn 7 may be registered before lsn 6. This
/// keeps the highest lsn up to which every record is registered (the
/// contiguous prefix) and the highest registered at all. Not thread-safe:
/// the owner's lock guards it.
class registered_lsns {
 public:
  /// Starts after `at` (everything up to it counts as registered).
  void start_after(lsn at) {
    prefix_ = highest_ = at;
    ahead_.clear();
  }

  void add(lsn at) {
    highest_ = std::max(highest_, at);
    if (at != prefix_ + 1) {
      ahead_.insert(at);
      return;
    }
    prefix_ = at;
    for (auto it = ahead_.begin(); it != ahead_.end() && *it == prefix_ + 1;) {
      prefix_ = *it;
      it = ahead_.erase(it);
    }
  }

  /// Every lsn up to this one is registered.
  lsn contiguous() const noexcept { return prefix_; }
  /// The highest lsn registered.
  lsn highest() const noexcept { return highest_; }

 private:
  lsn prefix_ = 0;
  lsn highest_ = 0;
  std::set<lsn> ahead_;
};

}  // namespace storesync::detail
