#pragma once
/// \file
/// `faulty_store<S>`: a decorator that injects failures and latency into any
/// store, for tests. It models exactly the tiers `S` models.
///
/// \code
///   storesync::faulty_store<storesync::memory_store> slow;
///   slow.script({storesync::fault::transient, storesync::fault::none});  // fail once, then pass
///   slow.set_faults({.transient_rate = 0.1, .seed = 7});                 // then 10% at random
///   slow.poison("bad-key");        // any batch holding "bad-key" fails permanently
///   slow.inner();                  // the decorated store, to check what landed
/// \endcode
///
/// Faults apply to every call (reads, writes, scans, checksums,
/// checkpoints, lookups, restores, split points). A scripted fault is consumed first, one per call; then the
/// random rates apply. An injected failure happens *before* the inner call, so
/// a failed write changed nothing. Thread-safe when `S` is.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <initializer_list>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "storesync/core/detail/text.hpp"
#include "storesync/core/store.hpp"

namespace storesync {

/// One injected outcome.
enum class fault {
  none,         ///< call passes through
  transient,    ///< fails with errc::injected_transient (condition transient)
  unavailable,  ///< fails with errc::injected_unavailable (condition unavailable)
  permanent,    ///< fails with errc::injected_permanent (condition permanent)
};

/// Random faults and latency. Rates are probabilities per call in [0, 1].
struct fault_config {
  double transient_rate = 0;
  double unavailable_rate = 0;
  double permanent_rate = 0;
  std::uint64_t seed = 1;
  /// Added to every call before it runs.
  std::chrono::microseconds latency{0};
};

template <class S>
  requires store<S>
class faulty_store {
 public:
  /// Constructs the decorated store in place from `args`.
  template <class... Args>
  explicit faulty_store(Args&&... args) : inner_(std::forward<Args>(args)...) {}

  faulty_store(const faulty_store&) = delete;
  faulty_store& operator=(const faulty_store&) = delete;

  /// Replaces the random faults and latency (and reseeds).
  void set_faults(const fault_config& config) {
    std::lock_guard lock(mutex_);
    config_ = config;
    rng_.seed(config.seed);
  }
  /// Queues faults consumed one per call, ahead of the random ones.
  void script(std::initializer_list<fault> faults) {
    std::lock_guard lock(mutex_);
    script_.insert(script_.end(), faults);
  }
  /// Every write holding `key` fails with errc::injected_permanent naming it.
  void poison(std::string key) {
    std::lock_guard lock(mutex_);
    poisoned_.insert(std::move(key));
  }
  void clear_poison() {
    std::lock_guard lock(mutex_);
    poisoned_.clear();
  }
  /// Removes scripted and random faults, latency and poison.
  void heal() {
    std::lock_guard lock(mutex_);
    config_ = {};
    script_.clear();
    poisoned_.clear();
  }

  /// Calls seen, and calls failed by injection.
  std::size_t calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
  }
  std::size_t injected() const {
    std::lock_guard lock(mutex_);
    return injected_;
  }

  S& inner() noexcept { return inner_; }
  const S& inner() const noexcept { return inner_; }

  result<std::optional<entry>> read(std::string_view key) {
    BOOST_OUTCOME_TRY(before_call({}));
    return inner_.read(key);
  }

  result<write_report> write(std::span<const entry> batch) {
    BOOST_OUTCOME_TRY(before_call(batch));
    return inner_.write(batch);
  }

  result<std::vector<entry>> scan(const key_range& range, std::string_view after,
                                  std::size_t limit)
    requires scannable_store<S>
  {
    BOOST_OUTCOME_TRY(before_call({}));
    return inner_.scan(range, after, limit);
  }

  result<std::vector<entry>> changes_after(const watermark& mark, std::size_t limit)
    requires change_source<S>
  {
    BOOST_OUTCOME_TRY(before_call({}));
    return inner_.changes_after(mark, limit);
  }

  result<version_type> max_version()
    requires versioned_store<S>
  {
    BOOST_OUTCOME_TRY(before_call({}));
    return inner_.max_version();
  }

  /// The inner store's value rules: injected faults never widen them.
  constexpr value_rules rules() const noexcept { return rules_of(inner_); }
  /// What the inner store admits (see `store_admits`).
  result<void> admits(const entry& e) const { return store_admits(inner_, e); }

  result<range_checksum> checksum(const key_range& range)
    requires checksum_store<S>
  {
    BOOST_OUTCOME_TRY(before_call({}));
    return inner_.checksum(range);
  }

  result<write_report> write_with_checkpoint(std::span<const entry> batch, const checkpoint& cp)
    requires checkpoint_store<S>
  {
    BOOST_OUTCOME_TRY(before_call(batch));
    return inner_.write_with_checkpoint(batch, cp);
  }

  result<std::optional<std::string>> load_checkpoint(std::string_view name)
    requires checkpoint_store<S>
  {
    BOOST_OUTCOME_TRY(before_call({}));
    return inner_.load_checkpoint(name);
  }

  result<std::vector<std::optional<entry_meta>>> lookup(std::span<const std::string_view> keys)
    requires metadata_store<S>
  {
    BOOST_OUTCOME_TRY(before_call({}));
    return inner_.lookup(keys);
  }

  /// A restore writes `key`, so a poisoned key fails it too.
  result<void> restore(std::string_view key, version_type expected,
                       const std::optional<entry>& previous)
    requires restorable_store<S>
  {
    entry target;
    target.key = key;
    BOOST_OUTCOME_TRY(before_call(std::span<const entry>(&target, 1)));
    return inner_.restore(key, expected, previous);
  }

  result<std::vector<std::string>> split_points(const key_range& range, std::size_t parts)
    requires partitionable_store<S>
  {
    BOOST_OUTCOME_TRY(before_call({}));
    return inner_.split_points(range, parts);
  }

  result<std::vector<std::string>> sample_points(const key_range& range, std::size_t parts)
    requires sampling_store<S>
  {
    BOOST_OUTCOME_TRY(before_call({}));
    return inner_.sample_points(range, parts);
  }

  result<std::vector<range_checksum>> checksums(const key_range& range, std::span<const std::string> points)
    requires part_checksum_store<S>
  {
    BOOST_OUTCOME_TRY(before_call({}));
    return inner_.checksums(range, points);
  }

 private:
  result<void> before_call(std::span<const entry> batch) {
    std::chrono::microseconds latency;
    fault f = fault::none;
    std::string poisoned_key;
    {
      std::lock_guard lock(mutex_);
      ++calls_;
      latency = config_.latency;
      if (!script_.empty()) {
        f = script_.front();
        script_.pop_front();
      } else {
        f = draw_locked();
      }
      if (f == fault::none && !poisoned_.empty()) {
        for (const entry& e : batch) {
          if (poisoned_.contains(e.key)) {
            poisoned_key = e.key;
            break;
          }
        }
      }
      if (f != fault::none || !poisoned_key.empty()) ++injected_;
    }
    if (latency.count() > 0) std::this_thread::sleep_for(latency);
    if (!poisoned_key.empty())
      return error{errc::injected_permanent, "key " + detail::quoted(poisoned_key) + " is poisoned"};
    switch (f) {
      case fault::none: return success();
      case fault::transient: return error{errc::injected_transient};
      case fault::unavailable: return error{errc::injected_unavailable};
      case fault::permanent: return error{errc::injected_permanent};
    }
    return success();
  }

  fault draw_locked() {
    const double total = config_.transient_rate + config_.unavailable_rate + config_.permanent_rate;
    if (total <= 0) return fault::none;
    const double x = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
    if (x < config_.transient_rate) return fault::transient;
    if (x < config_.transient_rate + config_.unavailable_rate) return fault::unavailable;
    if (x < total) return fault::permanent;
    return fault::none;
  }

  S inner_;
  mutable std::mutex mutex_;
  fault_config config_;
  std::mt19937_64 rng_{config_.seed};
  std::deque<fault> script_;
  std::set<std::string, std::less<>> poisoned_;
  std::size_t calls_ = 0;
  std::size_t injected_ = 0;
};

}  // namespace storesync
