#pragma once
// The write-behind's coalescing map: at most one entry per key (the newest
// version wins), drained oldest-obligation first.
//
// Each item remembers the *first* journal lsn it stands for. When a newer put
// replaces an older one, the item keeps the older lsn: until the newest value
// reaches the slow store, the journal must still be able to replay from
// there. So the journal may be checkpointed up to `min_first_lsn() - 1`, and
// a flush that must cover lsn L is done once no item has `first <= L`.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "storesync/core/entry.hpp"
#include "storesync/journal/journal.hpp"

namespace storesync::detail {

/// Lets unordered maps keyed by std::string be searched with a string_view.
struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

template <class TimePoint>
struct pending_item {
  entry e;
  /// The oldest journal record this item stands for, and the newest.
  lsn first = 0;
  lsn last = 0;
  /// When the oldest of those records was acknowledged (for lag).
  TimePoint since{};
};

template <class TimePoint>
class pending_set {
 public:
  using item = pending_item<TimePoint>;

  /// Adds `e` (journalled at `at`). Returns true when it coalesced with an
  /// item already held for the key, whichever version won.
  bool upsert(entry e, lsn at, TimePoint now) {
    bytes_ += footprint(e);
    auto [it, inserted] = by_key_.try_emplace(e.key);
    item& slot = it->second;
    if (inserted) {
      slot = item{std::move(e), at, at, now};
      by_first_.emplace(at, it->first);
      return false;
    }
    if (e.version > slot.e.version) {
      bytes_ -= footprint(slot.e);
      slot.e = std::move(e);
      slot.last = at;
    } else {
      bytes_ -= footprint(e);  // older or equal: the held value already wins
    }
    return true;
  }

  /// Puts an item back (a batch the slow store could not take). A newer
  /// item for the key that arrived meanwhile absorbs it, keeping the older
  /// obligation.
  void restore(item back) {
    auto it = by_key_.find(back.e.key);
    if (it == by_key_.end()) {
      bytes_ += footprint(back.e);
      const lsn first = back.first;
      auto placed = by_key_.emplace(back.e.key, std::move(back)).first;
      by_first_.emplace(first, placed->first);
      return;
    }
    item& held = it->second;
    if (back.first < held.first) {
      by_first_.erase(held.first);
      held.first = back.first;
      held.since = back.since;
      by_first_.emplace(held.first, it->first);
    }
    if (back.e.version > held.e.version) {
      bytes_ += footprint(back.e) - footprint(held.e);
      held.e = std::move(back.e);
    }
  }

  /// Moves up to `n` items into `to`, oldest obligation first, stopping at
  /// the first one acknowledged after `cutoff` or whose key `to` already
  /// holds (it waits for the next batch). Moves map nodes: no entry is
  /// copied, so a caller can do this under a lock in small steps. Returns
  /// how many moved.
  std::size_t move_to(pending_set& to, std::size_t n, TimePoint cutoff = TimePoint::max()) {
    std::size_t moved = 0;
    while (moved < n && !by_first_.empty()) {
      auto oldest = by_first_.begin();
      auto found = by_key_.find(oldest->second);
      if (found->second.since > cutoff || to.by_key_.contains(oldest->second)) break;
      const lsn first = oldest->first;
      by_first_.erase(oldest);
      auto node = by_key_.extract(found);
      const std::size_t cost = footprint(node.mapped().e);
      bytes_ -= cost;
      auto placed = to.by_key_.insert(std::move(node)).position;
      to.by_first_.emplace(first, placed->first);
      to.bytes_ += cost;
      ++moved;
    }
    return moved;
  }

  /// Every item, oldest obligation first; valid until the set changes.
  std::vector<const item*> ordered() const {
    std::vector<const item*> out;
    out.reserve(by_key_.size());
    for (const auto& [first, key] : by_first_) out.push_back(&by_key_.find(key)->second);
    return out;
  }

  const item* find(std::string_view key) const {
    auto it = by_key_.find(key);
    return it == by_key_.end() ? nullptr : &it->second;
  }

  /// The smallest `first` lsn held, if any.
  std::optional<lsn> min_first_lsn() const {
    if (by_first_.empty()) return std::nullopt;
    return by_first_.begin()->first;
  }
  /// When the oldest obligation was acknowledged, if any.
  std::optional<TimePoint> oldest_since() const {
    if (by_first_.empty()) return std::nullopt;
    return by_key_.find(by_first_.begin()->second)->second.since;
  }
  /// Items whose oldest obligation is at or before `at`.
  std::size_t count_through(lsn at) const {
    std::size_t n = 0;
    for (auto it = by_first_.begin(); it != by_first_.end() && it->first <= at; ++it) ++n;
    return n;
  }

  std::size_t size() const noexcept { return by_key_.size(); }
  bool empty() const noexcept { return by_key_.empty(); }
  std::size_t bytes() const noexcept { return bytes_; }

  /// What an entry costs while pending (key, value and bookkeeping).
  static std::size_t footprint(const entry& e) noexcept { return e.key.size() + e.value.size() + 96; }

 private:
  std::unordered_map<std::string, item, string_hash, std::equal_to<>> by_key_;
  // first lsn -> key (a view into by_key_, whose nodes never move).
  std::map<lsn, std::string_view> by_first_;
  std::size_t bytes_ = 0;
};

}  // namespace storesync::detail
