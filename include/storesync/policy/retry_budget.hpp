#pragma once
/// \file
/// `retry_budget<Inner>`: a token bucket in front of another retry policy, so
/// a dead backend does not multiply the load sent to it.
///
/// \code
///   storesync::retry_budget<storesync::exponential_backoff> budget{
///       storesync::exponential_backoff{{.max_attempts = 4}},
///       {.max_tokens = 500, .retry_cost = 5, .timeout_retry_cost = 10, .success_refund = 1}};
///   auto mine = budget;                        // a copy per writer thread: same bucket
///   auto r = storesync::retry(mine, clock, [&] { return store.write(batch); });
/// \endcode
///
/// Every retry the inner policy allows must be paid from the bucket: `retry_cost`
/// tokens, or `timeout_retry_cost` after a timeout (the timed-out call may still
/// be running on the server). A success refunds `success_refund`, up to
/// `max_tokens`. While the bucket cannot pay, failures are final. Defaults are
/// the AWS SDKs' (500 / 5 / 10 / 1): under a total outage at most
/// 500 / 5 = 100 retries are sent before every operation is tried exactly once,
/// and afterwards one retry per five successes at most.
///
/// JSON (policy/config.hpp; all optional): `{"max_tokens": 500, "retry_cost": 5,
/// "timeout_retry_cost": 10, "success_refund": 1}`; the inner policy has its own configuration.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <utility>

#include "storesync/core/result.hpp"
#include "storesync/policy/exponential_backoff.hpp"
#include "storesync/policy/retry_policy.hpp"

namespace storesync {

/// The knobs of `retry_budget` (one struct for every `Inner`).
struct retry_budget_config {
  /// Bucket capacity; the bucket starts full.
  std::uint32_t max_tokens = 500;
  /// Tokens a retry costs.
  std::uint32_t retry_cost = 5;
  /// Tokens a retry after a timeout (`is_timeout`) costs.
  std::uint32_t timeout_retry_cost = 10;
  /// Tokens a successful attempt returns.
  std::uint32_t success_refund = 1;

  result<void> validate() const {
    if (retry_cost < 1 || timeout_retry_cost < 1)
      return error{errc::invalid_argument, "retry_budget: retry costs must be >= 1"};
    return success();
  }
};

namespace detail {
/// A lock-free token bucket without time-based refill.
class token_bucket {
 public:
  explicit token_bucket(std::int64_t capacity) noexcept : capacity_(capacity), tokens_(capacity) {}

  bool try_withdraw(std::int64_t n) noexcept {
    std::int64_t have = tokens_.load(std::memory_order_relaxed);
    while (have >= n) {
      if (tokens_.compare_exchange_weak(have, have - n, std::memory_order_relaxed)) return true;
    }
    return false;
  }

  void deposit(std::int64_t n) noexcept {
    std::int64_t have = tokens_.load(std::memory_order_relaxed);
    while (have < capacity_) {
      if (tokens_.compare_exchange_weak(have, std::min(capacity_, have + n),
                                        std::memory_order_relaxed))
        return;
    }
  }

  std::int64_t tokens() const noexcept { return tokens_.load(std::memory_order_relaxed); }

 private:
  const std::int64_t capacity_;
  std::atomic<std::int64_t> tokens_;
};
}  // namespace detail

/// A retry policy that lets `Inner` decide and pays each retry from a token
/// bucket. **Shared state**: copies share one bucket (that is the point: all
/// writers of one backend draw from it); the bucket is lock-free and
/// thread-safe. `Inner` is copied per object, so give each thread its own copy.
template <class Inner = exponential_backoff>
  requires retry_policy<Inner>
class retry_budget {
 public:
  using config = retry_budget_config;
  using inner_type = Inner;

  retry_budget() : retry_budget(Inner{}, config{}) {}
  explicit retry_budget(Inner inner, const config& c = {})
      : inner_(std::move(inner)),
        config_(c),
        bucket_(std::make_shared<detail::token_bucket>(c.max_tokens)) {}

  retry_decision decide(std::uint32_t attempt, std::chrono::nanoseconds elapsed,
                        const error& e) noexcept {
    if (!is_retryable(e)) return retry_decision::stop();
    const retry_decision d = inner_.decide(attempt, elapsed, e);
    if (!d.retry) return d;
    const std::int64_t cost = is_timeout(e) ? config_.timeout_retry_cost : config_.retry_cost;
    return bucket_->try_withdraw(cost) ? d : retry_decision::stop();
  }

  void on_success() noexcept {
    bucket_->deposit(config_.success_refund);
    inner_.on_success();
  }

  /// Tokens now in the (shared) bucket.
  std::int64_t tokens() const noexcept { return bucket_->tokens(); }

  /// The decorated policy (this copy's).
  Inner& inner() noexcept { return inner_; }
  const Inner& inner() const noexcept { return inner_; }

  /// The costs in use (fixed at construction; the capacity lives in the bucket).
  const config& configuration() const noexcept { return config_; }

 private:
  Inner inner_;
  config config_;
  std::shared_ptr<detail::token_bucket> bucket_;
};
static_assert(retry_policy<retry_budget<>>);
static_assert(retry_policy<retry_budget<no_retry>>);

}  // namespace storesync
