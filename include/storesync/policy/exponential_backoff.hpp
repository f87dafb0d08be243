#pragma once
/// \file
/// `exponential_backoff`: retry with exponential backoff and full jitter,
/// bounded by a number of attempts and by the time since the first call.
///
/// \code
///   using namespace std::chrono_literals;
///   storesync::exponential_backoff backoff{{.base = 50ms, .cap = 5s, .max_attempts = 6,
///                                           .max_elapsed = 30s, .seed = 42}};
///   auto r = storesync::retry(backoff, clock, [&] { return store.write(batch); });
/// \endcode
///
/// The delay before retry number `attempt + 1` is drawn uniformly from
/// `[0, min(cap, base * 2^attempt)]` ("full jitter", the AWS Architecture
/// Blog's recommendation: it spreads competing clients apart better than
/// equal or decorrelated jitter for the same mean delay). `attempt` is the
/// zero-based index of the attempt that failed, so the first retry waits up
/// to `base`.
///
/// JSON (policy/config.hpp; all fields optional):
/// `{"base_ms": 100, "cap_ms": 20000, "max_attempts": 3, "max_elapsed_ms": 30000, "seed": 0}`

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>

#include "storesync/core/result.hpp"
#include "storesync/policy/detail/random.hpp"
#include "storesync/policy/retry_policy.hpp"

namespace storesync {

/// Exponential backoff with full jitter. A plain value: copies continue the
/// same random sequence, so give concurrent writers policies built with
/// different seeds (or seed 0) if their retries must not line up.
class exponential_backoff {
 public:
  struct config {
    /// Upper bound of the first retry's delay.
    std::chrono::milliseconds base{100};
    /// No delay exceeds this.
    std::chrono::milliseconds cap{20'000};
    /// Attempts in total, the first call included (1: never retry).
    std::uint32_t max_attempts = 3;
    /// No retry starts later than this after the first call; 0: no limit.
    std::chrono::milliseconds max_elapsed{30'000};
    /// Seed of the jitter's random source; 0: a fresh random seed.
    std::uint64_t seed = 0;

    result<void> validate() const {
      if (base.count() <= 0) return error{errc::invalid_argument, "exponential_backoff: base_ms must be > 0"};
      if (cap < base) return error{errc::invalid_argument, "exponential_backoff: cap_ms must be >= base_ms"};
      if (max_attempts < 1)
        return error{errc::invalid_argument, "exponential_backoff: max_attempts must be >= 1"};
      if (max_elapsed.count() < 0)
        return error{errc::invalid_argument, "exponential_backoff: max_elapsed_ms must be >= 0"};
      return success();
    }
  };

  exponential_backoff() : exponential_backoff(config{}) {}
  /// Out-of-range numbers are clamped (base >= 1 ms, cap >= base,
  /// max_attempts >= 1); use `config::validate` or `load_config` to reject them.
  explicit exponential_backoff(const config& c)
      : config_(c), rng_(c.seed != 0 ? c.seed : detail::fresh_seed()) {
    config_.base = std::max(config_.base, std::chrono::milliseconds(1));
    config_.cap = std::max(config_.cap, config_.base);
    config_.max_attempts = std::max<std::uint32_t>(config_.max_attempts, 1);
    config_.max_elapsed = std::max(config_.max_elapsed, std::chrono::milliseconds(0));
  }

  retry_decision decide(std::uint32_t attempt, std::chrono::nanoseconds elapsed,
                        const error& e) noexcept {
    if (!is_retryable(e) || std::uint64_t{attempt} + 1 >= config_.max_attempts)
      return retry_decision::stop();
    const std::int64_t max_elapsed = std::chrono::nanoseconds(config_.max_elapsed).count();
    if (max_elapsed > 0 && elapsed.count() >= max_elapsed) return retry_decision::stop();
    const std::uint64_t delay = rng_.uniform_to(ceiling(attempt).count());
    std::chrono::nanoseconds d(static_cast<std::int64_t>(delay));
    // Never sleep past the elapsed-time limit: the last retry starts at it.
    if (max_elapsed > 0) d = std::min(d, std::chrono::nanoseconds(max_elapsed) - elapsed);
    return retry_decision::after(d);
  }

  void on_success() noexcept {}

  /// The largest delay the retry after attempt `attempt` may get:
  /// `min(cap, base * 2^attempt)`.
  std::chrono::nanoseconds ceiling(std::uint32_t attempt) const noexcept {
    const std::int64_t base = std::chrono::nanoseconds(config_.base).count();
    const std::int64_t cap = std::chrono::nanoseconds(config_.cap).count();
    if (attempt >= 62 || base > (cap >> attempt)) return std::chrono::nanoseconds(cap);
    return std::chrono::nanoseconds(base << attempt);
  }

  /// The numbers in use; may be changed between decisions (except `seed`,
  /// read at construction: use `reseed`).
  config& configuration() noexcept { return config_; }
  const config& configuration() const noexcept { return config_; }

  /// Restarts the jitter sequence from `seed` (0: a fresh random seed).
  void reseed(std::uint64_t seed) noexcept {
    rng_ = detail::splitmix64(seed != 0 ? seed : detail::fresh_seed());
  }

 private:
  config config_;
  detail::splitmix64 rng_;
};
static_assert(retry_policy<exponential_backoff>);

}  // namespace storesync
