#pragma once
// The write-behind's coalescing map: at most one entry per key (the newest
// version wins), drained oldest-obligation first.
//
// Each item remembers the *first* journal lsn it stands for. When a newer put
// replaces an older one, the item keeps the older lsn: until the newest value
// reaches the slow store, the journal must still be able to replay from
// there. So the journal may be checkpointed up to `min_first_lsn() - 1`, and
// a flush that must cover lsn L is done once no item has `first <= L`.

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "storesync/core/entry.hpp"
#include "storesync/journal/journal.hpp"

namespace storesync::detail {

/// Lets unordered maps keyed by std::string be searched with a string_view.
/// Deliberately not `noexcept`: libstdc++ then stores each node's hash, so a
/// lookup in a map of a million keys skips other keys' nodes by their hash
/// instead of rehashing their strings, and a rehash never rereads a key.
struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

template <class TimePoint>
struct pending_item {
  entry e;
  /// The oldest journal record this item stands for, and the newest.
  lsn first = 0;
  lsn last = 0;
  /// When the oldest of those records was acknowledged (for lag).
  TimePoint since{};
  /// The slow store may hold a newer version than `e` (write_behind's
  /// `accepted`): `e` is not in the fast store, and its verdict is read back
  /// from the slow store after delivery.
  bool unconfirmed = false;
};

template <class TimePoint>
class pending_set {
  using key_map = std::unordered_map<std::string, pending_item<TimePoint>, string_hash, std::equal_to<>>;
  // first lsn -> key (a view into by_key_, whose nodes never move).
  using first_map = std::map<lsn, std::string_view>;

 public:
  using item = pending_item<TimePoint>;

  /// Map nodes of delivered items, kept for reuse: an upsert that finds one
  /// assigns into its strings instead of allocating, so a steady stream of
  /// puts allocates (and the flusher frees) next to nothing. The nodes are
  /// freed by whichever thread allocated them last; without reuse the
  /// flusher freed every put's allocations and fought the writers for the
  /// allocator's locks.
  struct node_pool {
    std::vector<typename key_map::node_type> items;
    std::vector<typename first_map::node_type> firsts;
  };

  /// Largest value whose node is kept for reuse (bigger ones are freed).
  static constexpr std::size_t max_pooled_value = 4096;

  /// Adds `e` (journalled at `at`). Returns true when it coalesced with an
  /// item already held for the key, whichever version won.
  template <class E>
    requires std::same_as<std::remove_cvref_t<E>, entry>
  bool upsert(E&& e, lsn at, TimePoint now, bool unconfirmed = false) {
    bytes_ += footprint(e);
    auto it = by_key_.find(std::string_view(e.key));
    if (it == by_key_.end()) {
      it = insert_node(e.key);
      item& slot = it->second;
      slot.e = std::forward<E>(e);
      slot.first = slot.last = at;
      slot.since = now;
      slot.unconfirmed = unconfirmed;
      insert_first(at, it->first);
      return false;
    }
    item& slot = it->second;
    if (e.version > slot.e.version) {
      bytes_ -= footprint(slot.e);
      slot.e = std::forward<E>(e);
      slot.last = at;
      slot.unconfirmed = unconfirmed;
    } else {
      bytes_ -= footprint(e);  // older or equal: the held value already wins
    }
    return true;
  }

  /// Puts an item back (a batch the slow store could not take). A newer
  /// item for the key that arrived meanwhile absorbs it, keeping the older
  /// obligation.
  void restore(item back) {
    auto it = by_key_.find(std::string_view(back.e.key));
    if (it == by_key_.end()) {
      bytes_ += footprint(back.e);
      const lsn first = back.first;
      auto placed = insert_node(back.e.key);
      placed->second = std::move(back);
      insert_first(first, placed->first);
      return;
    }
    item& held = it->second;
    if (back.first < held.first) {
      auto node = by_first_.extract(held.first);
      node.key() = back.first;
      by_first_.insert(std::move(node));
      held.first = back.first;
      held.since = back.since;
    }
    if (back.e.version > held.e.version) {
      bytes_ += footprint(back.e) - footprint(held.e);
      held.e = std::move(back.e);
      held.unconfirmed = back.unconfirmed;
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
      // Both nodes move as they are; the lsn index keeps viewing the key
      // inside the moved map node.
      auto first = by_first_.extract(oldest);
      auto node = by_key_.extract(found);
      const std::size_t cost = footprint(node.mapped().e);
      bytes_ -= cost;
      to.by_key_.insert(std::move(node));
      to.by_first_.insert(to.by_first_.end(), std::move(first));
      to.bytes_ += cost;
      ++moved;
    }
    return moved;
  }

  /// Replaces `out` with every item, in no particular order (a batch needs
  /// none: it is written all or nothing), without a lookup per item; valid
  /// until the set changes.
  void items_into(std::vector<const item*>& out) const {
    out.clear();
    out.reserve(by_key_.size());
    for (const auto& [key, held] : by_key_) out.push_back(&held);
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

  /// Room for `n` keys without a rehash (a rehash of a large map, under
  /// the write-behind lock, is a latency spike for every writer).
  void reserve(std::size_t n) { by_key_.reserve(n); }

  /// Empties the set into `pool` (up to `keep` nodes of each kind; the rest
  /// are freed), keeping the hash buckets for the next use.
  void clear_into(node_pool& pool, std::size_t keep) {
    while (!by_first_.empty()) {
      auto first = by_first_.extract(by_first_.begin());
      auto node = by_key_.extract(by_key_.find(first.mapped()));
      if (pool.items.size() < keep && node.mapped().e.value.capacity() <= max_pooled_value) {
        pool.items.push_back(std::move(node));
        pool.firsts.push_back(std::move(first));
      }
    }
    by_key_.clear();
    bytes_ = 0;
  }

  /// Takes nodes of `more` for upserts to reuse: all of them when the pool
  /// is empty (a swap), else up to `step` of each kind while the pool holds
  /// fewer than `keep`, so the caller's lock is held briefly.
  void adopt(node_pool& more, std::size_t keep, std::size_t step) {
    if (pool_.items.empty() && pool_.firsts.empty()) {
      std::swap(pool_, more);
      return;
    }
    for (std::size_t n = 0; n < step && !more.items.empty() && pool_.items.size() < keep; ++n) {
      pool_.items.push_back(std::move(more.items.back()));
      more.items.pop_back();
    }
    for (std::size_t n = 0; n < step && !more.firsts.empty() && pool_.firsts.size() < keep; ++n) {
      pool_.firsts.push_back(std::move(more.firsts.back()));
      more.firsts.pop_back();
    }
  }

  /// Spare nodes held for reuse.
  std::size_t pooled() const noexcept { return pool_.items.size(); }

  std::size_t size() const noexcept { return by_key_.size(); }
  bool empty() const noexcept { return by_key_.empty(); }
  std::size_t bytes() const noexcept { return bytes_; }

  /// The memory an entry holds while pending, so that the pending bound is a
  /// memory bound: its value twice (here and the fast store's pinned copy),
  /// its key as often as the two stores' maps and indexes keep it (with
  /// allocator headers), and about 500 bytes of nodes, buckets and the lsn
  /// index, as measured (RSS) over a backlog of small values.
  static std::size_t footprint(const entry& e) noexcept { return 6 * e.key.size() + 2 * e.value.size() + 512; }

 private:
  // A node for `key`, reused from the pool when there is one.
  typename key_map::iterator insert_node(const std::string& key) {
    if (pool_.items.empty()) return by_key_.try_emplace(key).first;
    auto node = std::move(pool_.items.back());
    pool_.items.pop_back();
    node.key() = key;  // assigns into the pooled string
    return by_key_.insert(std::move(node)).position;
  }

  // Lsns arrive (nearly) in order, so the end is the hint: O(1) instead of
  // a descent through a tree of a million nodes, a cache miss per level.
  void insert_first(lsn at, std::string_view key) {
    if (pool_.firsts.empty()) {
      by_first_.emplace_hint(by_first_.end(), at, key);
      return;
    }
    auto node = std::move(pool_.firsts.back());
    pool_.firsts.pop_back();
    node.key() = at;
    node.mapped() = key;
    by_first_.insert(by_first_.end(), std::move(node));
  }

  key_map by_key_;
  first_map by_first_;
  std::size_t bytes_ = 0;
  node_pool pool_;
};

}  // namespace storesync::detail
