#pragma once
/// \file
/// `memory_store`: every store tier in process memory. The fast store of
/// write-behind, the reference for the conformance suite, and a stand-in for a
/// real backend in unit tests.
///
/// Unbounded by default: it keeps every key ever written. Given a byte cap it
/// becomes a cache: entries it may drop are evicted, least recently read
/// first (CLOCK), to stay under the cap. An entry is pinned (never evicted)
/// from the moment it is written until `release` names its current version,
/// which the owner calls once the entry is safe elsewhere; a newer write pins
/// it again.
///
/// \code
///   storesync::memory_store fast;
///   auto e = storesync::entry::put("k", "1", 1);
///   fast.write(std::span(&e, 1));
///   auto got = fast.read("k");      // result<optional<entry>>
/// \endcode
///
/// The capped form, as a cache in front of a slower store:
///
/// \code
///   storesync::memory_store cache({.max_bytes = 64 << 20});
///   auto e = storesync::entry::put("k", "1", 7);
///   cache.write(std::span(&e, 1));  // "k" is pinned
///   // ... once version 7 of "k" is durable in the slow store:
///   cache.release("k", 7);          // now evictable
///   // A miss means "not held"; it means "never written" only while
///   // cache.max_evicted_version() == 0.
/// \endcode
///
/// A capped store holds a subset of what was written, so `read`, `scan`,
/// `changes_after`, `checksum`, `lookup`, `split_points` and `size` see only
/// the entries it still holds, and `restore` finds an evicted key absent (a
/// version conflict). Checkpoints are never evicted.
///
/// Thread safety: every member is safe to call from many threads (a
/// reader-writer lock; writes are serialised). Batches are atomic: validated
/// first, then applied under one lock, so readers see all of a batch or none.
/// Nothing survives the process.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storesync/core/lookup.hpp"
#include "storesync/core/restore.hpp"
#include "storesync/core/store.hpp"

namespace storesync {

/// How a `memory_store` bounds its memory.
struct memory_store_options {
  /// Cap on the bytes held (keys + values + a per-entry overhead estimate); 0: unbounded.
  ///
  /// The estimate counts what an entry really occupies: its key twice (the
  /// index key and the entry's own copy), its value, and a fixed overhead for
  /// its two tree nodes. String capacity beyond the length and allocator
  /// rounding are not seen, so actual memory runs somewhat above the cap.
  /// Pinned entries are held whatever the cap, so it bounds the store only as
  /// far as entries are released.
  std::size_t max_bytes = 0;
};

class memory_store {
 public:
  /// Unbounded: keeps every key ever written.
  memory_store() = default;
  /// Capped at `options.max_bytes` (0: unbounded).
  explicit memory_store(memory_store_options options) : max_bytes_(options.max_bytes) {}
  memory_store(const memory_store&) = delete;
  memory_store& operator=(const memory_store&) = delete;

  result<std::optional<entry>> read(std::string_view key) const {
    std::shared_lock lock(mutex_);
    const auto it = rows_.find(key);
    if (it == rows_.end()) return std::optional<entry>{};
    // Load first: a store only when the bit changes keeps concurrent readers
    // of a hot key from bouncing its cache line.
    if (max_bytes_ != 0 && !it->second.referenced.load(std::memory_order_relaxed))
      it->second.referenced.store(true, std::memory_order_relaxed);
    return std::optional<entry>{it->second.value};
  }

  result<write_report> write(std::span<const entry> batch) {
    BOOST_OUTCOME_TRY(validate_batch(batch, any_json));
    std::unique_lock lock(mutex_);
    const write_report report = apply_locked(batch);
    evict_locked(report.applied);
    return report;
  }

  result<write_report> write_with_checkpoint(std::span<const entry> batch, const checkpoint& cp) {
    BOOST_OUTCOME_TRY(validate_batch(batch, any_json));
    std::unique_lock lock(mutex_);
    const write_report report = apply_locked(batch);
    checkpoints_.insert_or_assign(cp.name, cp.value);
    evict_locked(report.applied);
    return report;
  }

  result<std::optional<std::string>> load_checkpoint(std::string_view name) const {
    std::shared_lock lock(mutex_);
    const auto it = checkpoints_.find(name);
    if (it == checkpoints_.end()) return std::optional<std::string>{};
    return std::optional<std::string>{it->second};
  }

  result<std::vector<entry>> scan(const key_range& range, std::string_view after,
                                  std::size_t limit) const {
    std::vector<entry> page;
    std::shared_lock lock(mutex_);
    auto it = after.empty() ? rows_.lower_bound(range.first) : rows_.upper_bound(after);
    if (it != rows_.end() && it->first < range.first) it = rows_.lower_bound(range.first);
    for (; it != rows_.end() && page.size() < limit && range.contains(it->first); ++it)
      page.push_back(it->second.value);
    return page;
  }

  result<std::vector<entry>> changes_after(const watermark& mark, std::size_t limit) const {
    std::vector<entry> page;
    std::shared_lock lock(mutex_);
    // Keys in `by_version_` are views into `rows_`, which owns the strings.
    auto it = by_version_.upper_bound(version_key{mark.version, mark.key});
    for (; it != by_version_.end() && page.size() < limit; ++it)
      page.push_back(rows_.find(it->second)->second.value);
    return page;
  }

  /// The largest version held (a capped store: of what it still holds).
  result<version_type> max_version() const {
    std::shared_lock lock(mutex_);
    return by_version_.empty() ? version_type{0} : by_version_.rbegin()->first;
  }

  result<range_checksum> checksum(const key_range& range) const {
    range_checksum sum;
    std::shared_lock lock(mutex_);
    for (auto it = rows_.lower_bound(range.first); it != rows_.end() && range.contains(it->first);
         ++it)
      sum.add(row_hash(it->second.value));
    return sum;
  }

  /// The metadata of each of `keys`, in order, under one shared lock. Not a
  /// read for eviction: a lookup does not keep an entry cached.
  result<std::vector<std::optional<entry_meta>>> lookup(
      std::span<const std::string_view> keys) const {
    BOOST_OUTCOME_TRY(detail::check_lookup_keys(keys));
    std::vector<std::optional<entry_meta>> out;
    out.reserve(keys.size());
    std::shared_lock lock(mutex_);
    for (const std::string_view key : keys) {
      const auto it = rows_.find(key);
      out.push_back(it == rows_.end() ? std::nullopt
                                      : std::optional<entry_meta>{meta_of(it->second.value)});
    }
    return out;
  }

  /// Puts `previous` back (or removes the key) if `key` is held at
  /// `expected`, under the write lock. A restored entry is pinned like any
  /// written one, until `release` names its version. Removing a key is not an
  /// eviction: `max_evicted_version` stays, since the key is then as never
  /// written.
  result<void> restore(std::string_view key, version_type expected,
                       const std::optional<entry>& previous) {
    BOOST_OUTCOME_TRY(validate_restore(key, expected, previous, any_json));
    std::unique_lock lock(mutex_);
    const auto it = rows_.find(key);
    if (it == rows_.end()) return detail::restore_conflict(key, expected, std::nullopt);
    slot& s = it->second;
    if (s.value.version != expected) return detail::restore_conflict(key, expected, s.value.version);
    by_version_.erase(version_key{s.value.version, it->first});
    bytes_ -= footprint(s.value);
    if (!previous) {
      if (!s.pinned) --released_;
      if (hand_ == it) ++hand_;
      rows_.erase(it);
      return success();
    }
    if (!s.pinned) {
      s.pinned = true;
      --released_;
    }
    s.value = *previous;
    bytes_ += footprint(s.value);
    by_version_.emplace(s.value.version, it->first);
    evict_locked(1);
    return success();
  }

  /// The keys that deal the rows of `range` into `parts` runs, as `ntile`
  /// does: two walks of the ordered map under one shared lock.
  result<std::vector<std::string>> split_points(const key_range& range, std::size_t parts) const {
    std::vector<std::string> points;
    if (parts <= 1 || range.empty()) return points;
    std::shared_lock lock(mutex_);
    auto it = rows_.lower_bound(range.first);
    const auto end = range.last ? rows_.lower_bound(*range.last) : rows_.end();
    const auto n = static_cast<std::size_t>(std::distance(it, end));
    const std::size_t runs = std::min(parts, n);
    if (runs <= 1) return points;
    points.reserve(runs - 1);
    const std::size_t size = n / runs, longer = n % runs;
    std::size_t at = 0;
    for (std::size_t i = 1; i < runs; ++i) {
      const std::size_t rank = i * size + std::min(i, longer);
      std::advance(it, static_cast<std::ptrdiff_t>(rank - at));
      at = rank;
      points.push_back(it->first);
    }
    return points;
  }

  /// Number of keys held, tombstones included.
  std::size_t size() const {
    std::shared_lock lock(mutex_);
    return rows_.size();
  }

  /// Marks the entry of `key` clean (it may now be evicted) if it is still at `version`; otherwise nothing.
  ///
  /// Evicts nothing itself: released entries go when a later write finds the
  /// store over its cap. Unbounded, this returns at once.
  void release(std::string_view key, version_type version) {
    if (max_bytes_ == 0) return;
    std::unique_lock lock(mutex_);
    const auto it = rows_.find(key);
    if (it == rows_.end() || it->second.value.version != version || !it->second.pinned) return;
    it->second.pinned = false;
    ++released_;
  }

  /// The largest version of any entry evicted so far (0 if none).
  ///
  /// Loaded after a miss, 0 makes the miss authoritative: nothing has been
  /// evicted, so the key was never written.
  version_type max_evicted_version() const noexcept {
    return max_evicted_version_.load(std::memory_order_acquire);
  }

  /// Approximate bytes held (what max_bytes bounds).
  std::size_t bytes() const {
    std::shared_lock lock(mutex_);
    return bytes_;
  }

  /// Entries evicted so far.
  std::uint64_t evicted() const noexcept { return evicted_.load(std::memory_order_relaxed); }

 private:
  using version_key = std::pair<version_type, std::string_view>;

  struct slot {
    explicit slot(const entry& e) : value(e) {}

    entry value;
    /// Written and not yet released at its current version.
    bool pinned = true;
    /// Read since the hand last passed: spared once (set under a shared lock).
    mutable std::atomic<bool> referenced{false};
  };

  using row_map = std::map<std::string, slot, std::less<>>;

  /// Per tree node: colour and three links, plus the allocator's header and
  /// rounding (about two words).
  static constexpr std::size_t tree_node_overhead = 6 * sizeof(void*);
  static constexpr std::size_t entry_overhead =
      sizeof(row_map::value_type) + sizeof(version_key) + 2 * tree_node_overhead;

  /// A sweep visits at most this many entries per entry applied (plus one
  /// round for the call), so a store full of pinned or recently read entries
  /// costs a bounded amount per write, while a sweep can still evict more
  /// than a batch adds.
  static constexpr std::size_t sweep_steps_per_entry = 16;

  static std::size_t footprint(const entry& e) noexcept {
    return 2 * e.key.size() + e.value.size() + entry_overhead;
  }

  write_report apply_locked(std::span<const entry> batch) {
    write_report report;
    for (const entry& e : batch) {
      // One descent finds the key or where it goes.
      auto it = rows_.lower_bound(e.key);
      const bool held = it != rows_.end() && it->first == e.key;
      const auto outcome =
          version_guard(e.version, held ? std::optional{it->second.value.version} : std::nullopt);
      report.count(outcome);
      if (outcome != guard_outcome::applied) continue;
      if (!held) {
        it = rows_.emplace_hint(it, e.key, e);
      } else {
        slot& s = it->second;
        by_version_.erase(version_key{s.value.version, it->first});
        bytes_ -= footprint(s.value);
        if (!s.pinned) {
          s.pinned = true;
          --released_;
        }
        s.value = e;
      }
      bytes_ += footprint(e);
      // Versions mostly grow: the end is then the right place, found without
      // a descent (a wrong hint only costs the usual one).
      by_version_.emplace_hint(by_version_.end(), e.version, it->first);
    }
    return report;
  }

  /// CLOCK: the hand sweeps the key order and wraps; a released entry read
  /// since the last pass loses its mark and is spared, one not read is evicted.
  void evict_locked(std::size_t applied) {
    if (max_bytes_ == 0 || bytes_ <= max_bytes_ || released_ == 0) return;
    const std::size_t budget = sweep_steps_per_entry * (applied + 1);
    for (std::size_t step = 0; step < budget && bytes_ > max_bytes_ && released_ != 0; ++step) {
      if (hand_ == rows_.end()) hand_ = rows_.begin();
      slot& s = hand_->second;
      if (s.pinned) {
        ++hand_;
      } else if (s.referenced.load(std::memory_order_relaxed)) {
        s.referenced.store(false, std::memory_order_relaxed);
        ++hand_;
      } else {
        hand_ = evict(hand_);
      }
    }
  }

  row_map::iterator evict(row_map::iterator it) {
    const entry& e = it->second.value;
    by_version_.erase(version_key{e.version, it->first});
    bytes_ -= footprint(e);
    --released_;
    if (e.version > max_evicted_version_.load(std::memory_order_relaxed))
      max_evicted_version_.store(e.version, std::memory_order_release);
    evicted_.fetch_add(1, std::memory_order_relaxed);
    return rows_.erase(it);
  }

  const std::size_t max_bytes_ = 0;
  mutable std::shared_mutex mutex_;
  row_map rows_;
  std::set<version_key> by_version_;
  std::map<std::string, std::string, std::less<>> checkpoints_;
  // Eviction state, guarded by `mutex_`; the atomics are also read without it.
  std::size_t bytes_ = 0;
  std::size_t released_ = 0;
  /// Where the next sweep starts; `rows_.end()` wraps to the first key. Only
  /// eviction and `restore` erase rows, and both move the hand past the
  /// erased one.
  row_map::iterator hand_ = rows_.end();
  std::atomic<version_type> max_evicted_version_{0};
  std::atomic<std::uint64_t> evicted_{0};
};

static_assert(store<memory_store>);
static_assert(scannable_store<memory_store>);
static_assert(change_source<memory_store>);
static_assert(checksum_store<memory_store>);
static_assert(checkpoint_store<memory_store>);
static_assert(versioned_store<memory_store>);
static_assert(metadata_store<memory_store>);
static_assert(restorable_store<memory_store>);
static_assert(partitionable_store<memory_store>);

}  // namespace storesync
