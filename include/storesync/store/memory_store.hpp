#pragma once
/// \file
/// `memory_store`: every store tier in process memory. The fast store of
/// write-behind, the reference for the conformance suite, and a stand-in for a
/// real backend in unit tests.
///
/// \code
///   storesync::memory_store fast;
///   auto e = storesync::entry::put("k", "1", 1);
///   fast.write(std::span(&e, 1));
///   auto got = fast.read("k");      // result<optional<entry>>
/// \endcode
///
/// Thread safety: every member is safe to call from many threads (a
/// reader-writer lock; writes are serialised). Batches are atomic: validated
/// first, then applied under one lock, so readers see all of a batch or none.
/// Nothing survives the process.

#include <algorithm>
#include <cstddef>
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

#include "storesync/core/store.hpp"

namespace storesync {

class memory_store {
 public:
  memory_store() = default;
  memory_store(const memory_store&) = delete;
  memory_store& operator=(const memory_store&) = delete;

  result<std::optional<entry>> read(std::string_view key) const {
    std::shared_lock lock(mutex_);
    const auto it = rows_.find(key);
    if (it == rows_.end()) return std::optional<entry>{};
    return std::optional<entry>{it->second};
  }

  result<write_report> write(std::span<const entry> batch) {
    BOOST_OUTCOME_TRY(validate_batch(batch));
    std::unique_lock lock(mutex_);
    return apply_locked(batch);
  }

  result<write_report> write_with_checkpoint(std::span<const entry> batch, const checkpoint& cp) {
    BOOST_OUTCOME_TRY(validate_batch(batch));
    std::unique_lock lock(mutex_);
    const write_report report = apply_locked(batch);
    checkpoints_.insert_or_assign(cp.name, cp.value);
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
      page.push_back(it->second);
    return page;
  }

  result<std::vector<entry>> changes_after(const watermark& mark, std::size_t limit) const {
    std::vector<entry> page;
    std::shared_lock lock(mutex_);
    // Keys in `by_version_` are views into `rows_`, which owns the strings.
    auto it = by_version_.upper_bound(version_key{mark.version, mark.key});
    for (; it != by_version_.end() && page.size() < limit; ++it)
      page.push_back(rows_.find(it->second)->second);
    return page;
  }

  result<range_checksum> checksum(const key_range& range) const {
    range_checksum sum;
    std::shared_lock lock(mutex_);
    for (auto it = rows_.lower_bound(range.first); it != rows_.end() && range.contains(it->first);
         ++it)
      sum.add(row_hash(it->second));
    return sum;
  }

  /// Number of keys held, tombstones included.
  std::size_t size() const {
    std::shared_lock lock(mutex_);
    return rows_.size();
  }

 private:
  using version_key = std::pair<version_type, std::string_view>;

  write_report apply_locked(std::span<const entry> batch) {
    write_report report;
    for (const entry& e : batch) {
      // One descent finds the key or where it goes.
      auto it = rows_.lower_bound(e.key);
      const bool held = it != rows_.end() && it->first == e.key;
      const auto outcome = version_guard(e.version, held ? std::optional{it->second.version} : std::nullopt);
      report.count(outcome);
      if (outcome != guard_outcome::applied) continue;
      if (!held) {
        it = rows_.emplace_hint(it, e.key, e);
      } else {
        by_version_.erase(version_key{it->second.version, it->first});
        it->second = e;
      }
      // Versions mostly grow: the end is then the right place, found without
      // a descent (a wrong hint only costs the usual one).
      by_version_.emplace_hint(by_version_.end(), e.version, it->first);
    }
    return report;
  }

  mutable std::shared_mutex mutex_;
  std::map<std::string, entry, std::less<>> rows_;
  std::set<version_key> by_version_;
  std::map<std::string, std::string, std::less<>> checkpoints_;
};

static_assert(store<memory_store>);
static_assert(scannable_store<memory_store>);
static_assert(change_source<memory_store>);
static_assert(checksum_store<memory_store>);
static_assert(checkpoint_store<memory_store>);

}  // namespace storesync
