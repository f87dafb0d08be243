#pragma once
// A durable store that may be down when the server starts: `deferred_store`
// opens it on first use and, until that succeeds, fails every call with the
// opener's error as `unavailable`. Write-behind then starts anyway: it
// replays its journal, serves what it holds, takes writes up to its bound
// and connects when the store is back (readyz says not ready until then).

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "storesync/core/store.hpp"

namespace storesync::server {

template <versioned_store S>
class deferred_store {
 public:
  using opener = std::function<result<S>()>;
  /// What the store admits beyond its rules (a typed table's conversions,
  /// `check_entry`), known without opening it; empty: everything.
  using admission = std::function<result<void>(const entry&)>;

  explicit deferred_store(opener open, admission admits = {})
      : open_(std::move(open)), admits_(std::move(admits)) {}
  deferred_store(const deferred_store&) = delete;
  deferred_store& operator=(const deferred_store&) = delete;

  /// What the store can hold (known without opening it).
  static constexpr value_rules rules() noexcept {
    if constexpr (requires { S::rules(); }) return S::rules();
    else return any_json;
  }

  /// Whether the store could hold `e` (see `store_admits`), open or not.
  result<void> admits(const entry& e) const { return admits_ ? admits_(e) : success(); }

  result<std::optional<entry>> read(std::string_view key) {
    BOOST_OUTCOME_TRY(auto* s, get());
    return s->read(key);
  }
  result<write_report> write(std::span<const entry> batch) {
    BOOST_OUTCOME_TRY(auto* s, get());
    return s->write(batch);
  }
  result<version_type> max_version() {
    BOOST_OUTCOME_TRY(auto* s, get());
    return s->max_version();
  }

 private:
  /// The opened store, opening it now if it is not yet.
  result<S*> get() {
    if (S* s = opened_.load(std::memory_order_acquire)) return s;
    std::lock_guard lock(mutex_);
    if (!store_) {
      auto s = open_();
      if (!s) return error{errc::connection_failed, "durable store not reachable yet: " + s.error().message()};
      store_.emplace(std::move(s).value());
      opened_.store(&*store_, std::memory_order_release);
    }
    return &*store_;
  }

  opener open_;
  admission admits_;
  std::mutex mutex_;
  std::optional<S> store_;
  std::atomic<S*> opened_{nullptr};
};

}  // namespace storesync::server
