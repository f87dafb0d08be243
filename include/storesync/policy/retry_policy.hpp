#pragma once
/// \file
/// The RetryPolicy: after a failed attempt, retry or stop, and how long to
/// wait first. Also the vocabulary (`retry_decision`, `is_retryable`,
/// `is_timeout`), the default model `no_retry`, and `retry()`, which runs an
/// operation under a policy and a clock.
///
/// \code
///   storesync::exponential_backoff backoff{{.base = 50ms, .cap = 2s, .max_attempts = 5}};
///   storesync::system_clock clock;
///   auto r = storesync::retry(backoff, clock, [&] { return store.write(batch); });
///   if (!r.outcome) log("gave up after {} attempts: {}", r.attempts, r.outcome.error().message());
/// \endcode
///
/// Only errors whose condition is `transient`, `unavailable` or `overloaded`
/// are ever retried. `permanent`, `invalid_input` and `conflict` stop at once:
/// every ready model checks it, and `retry()` enforces it whatever the policy
/// says, so a custom policy cannot turn a bad request into a retry storm.

#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <system_error>
#include <type_traits>
#include <utility>

#include "storesync/core/result.hpp"
#include "storesync/policy/clock.hpp"

namespace storesync {

/// What a retry policy decided after a failure: stop, or retry after `delay`.
struct retry_decision {
  /// `true`: call again after `delay`; `false`: give up and report the error.
  bool retry = false;
  /// How long to wait before the next attempt (zero when stopping).
  std::chrono::nanoseconds delay{0};

  static constexpr retry_decision stop() noexcept { return {}; }
  static constexpr retry_decision after(std::chrono::nanoseconds d) noexcept { return {true, d}; }

  friend constexpr bool operator==(const retry_decision&, const retry_decision&) = default;
};

/// True when a retry may help: the condition is `transient`, `unavailable`
/// or `overloaded`. `permanent`, `invalid_input` and `conflict` are final.
inline bool is_retryable(const error& e) noexcept {
  return e == condition::transient || e == condition::unavailable || e == condition::overloaded;
}

/// True when the attempt timed out (`errc::timeout`, or a system ETIMEDOUT).
/// A timed-out call may still be running on the server, so budgets charge
/// more for retrying it.
inline bool is_timeout(const error& e) noexcept {
  return e == errc::timeout || e.code() == std::errc::timed_out;
}

/// Decides whether a failed operation is tried again, and after what delay.
///
/// **Requirements** (`p` a `P&`, `attempt` a `std::uint32_t`, `elapsed` a
/// `std::chrono::nanoseconds`, `e` a `const error&`)
/// | expression                      | returns                      | meaning |
/// |---------------------------------|------------------------------|---------|
/// | `p.decide(attempt, elapsed, e)` | `retry_decision`, `noexcept` | retry after a delay, or stop. `attempt` is the zero-based index of the attempt that just failed (0: the first call); `elapsed` is the time since the first call started; `e` is its error |
/// | `p.on_success()`                | any (discarded), `noexcept`  | told when an attempt succeeded (budgets refund tokens) |
///
/// **Guarantees**:
/// - A model returns `stop()` for errors that are not `is_retryable`, and
///   `retry()` enforces it whatever the model says.
/// - A decision does not allocate or block: it is on every write's failure
///   path. The delay is waited by the caller, on its clock.
/// - `P` is copyable.
///
/// **Errors**: none; the decision is the only output.
/// **Thread safety**: a model may keep state (a random source); give each
/// thread its own copy. State meant to be shared (a retry budget's bucket) is
/// shared by the copies and is thread-safe.
/// **Models**: `no_retry`, `exponential_backoff`, `retry_budget<Inner>`.
///
/// A type models `retry_policy` if it is copyable and `decide` answers, without
/// throwing, allocating or blocking, whether and after what delay a failed
/// attempt is tried again, stopping for every error that is not retryable.
template <class P>
concept retry_policy = std::copy_constructible<P> &&
                       requires(P& p, std::uint32_t attempt, std::chrono::nanoseconds elapsed,
                                const error& e) {
                         { p.decide(attempt, elapsed, e) } noexcept -> std::same_as<retry_decision>;
                         { p.on_success() } noexcept;
                       };

/// The default policy: every failure is final.
struct no_retry {
  /// No knobs; exists so every model loads from JSON the same way.
  struct config {};

  no_retry() = default;
  explicit no_retry(const config&) noexcept {}

  retry_decision decide(std::uint32_t, std::chrono::nanoseconds, const error&) noexcept {
    return retry_decision::stop();
  }
  void on_success() noexcept {}
};
static_assert(retry_policy<no_retry>);

/// What `retry()` returns: the last outcome and how many attempts were made.
template <class T>
struct retry_result {
  /// The value of the successful attempt, or the error of the last one.
  result<T> outcome;
  /// Attempts made, the first call included (at least 1).
  std::uint32_t attempts = 0;
};

namespace detail {
template <class R>
inline constexpr bool is_storesync_result_v = false;
template <class T>
inline constexpr bool is_storesync_result_v<result<T>> = true;
}  // namespace detail

/// Runs `op` (a callable returning `result<T>`) until it succeeds, the error
/// is not retryable, or `policy` says stop; sleeps each decided delay on
/// `clock`. Calls `policy.on_success()` after a successful attempt. Returns
/// the last outcome with the number of attempts. Exceptions thrown by `op`
/// propagate (storesync's own operations throw none).
template <class Policy, class Clock, class Op>
  requires retry_policy<std::remove_cvref_t<Policy>> && clock<std::remove_cvref_t<Clock>> &&
           std::invocable<Op&> && detail::is_storesync_result_v<std::invoke_result_t<Op&>>
auto retry(Policy&& policy, Clock&& clock, Op&& op)
    -> retry_result<typename std::invoke_result_t<Op&>::value_type> {
  using clock_duration = typename std::remove_cvref_t<Clock>::duration;
  const auto start = clock.now();
  for (std::uint32_t attempt = 0;; ++attempt) {
    auto r = std::invoke(op);
    if (r) {
      policy.on_success();
      return {std::move(r), attempt + 1};
    }
    const error& e = r.error();
    if (!is_retryable(e) || attempt == UINT32_MAX - 1) return {std::move(r), attempt + 1};
    const auto elapsed = std::chrono::duration_cast<std::chrono::nanoseconds>(clock.now() - start);
    const retry_decision d = policy.decide(attempt, elapsed, e);
    if (!d.retry) return {std::move(r), attempt + 1};
    if (d.delay > std::chrono::nanoseconds::zero())
      clock.sleep_for(std::chrono::duration_cast<clock_duration>(d.delay));
  }
}

}  // namespace storesync
