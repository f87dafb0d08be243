#pragma once
/// \file
/// The BackpressurePolicy: what a bounded queue (write-behind's pending map)
/// does with a write that finds it full. Models: `block_for` (wait up to a
/// timeout for room, the default) and `reject` (fail at once). Either way a
/// write that gets no room fails with `errc::queue_full`, whose condition is
/// `overloaded`.
///
/// \code
///   // Room bounded as write-behind bounds its pending map: a writer claims
///   // room without a lock when there is some, and asks the policy only when
///   // there is none.
///   template <storesync::backpressure_policy Policy = storesync::block_for>
///   class bounded_room {
///    public:
///     bounded_room(std::size_t capacity, Policy policy) : capacity_(capacity), policy_(policy) {}
///
///     storesync::result<void> reserve(std::size_t n) {
///       if (stopping_) return storesync::error{storesync::errc::stopped, "stopped"};
///       if (try_claim(n)) return storesync::success();  // the common case: no lock
///       std::unique_lock lock(mutex_);
///       bool claimed = false;
///       // Claims the room itself, so the waiter that sees room also takes it;
///       // true once stopping too, so that stop() wakes every waiter.
///       auto has_room = [&] { return claimed || stopping_ || (claimed = try_claim(n)); };
///       auto waited = policy_.wait_for_room(clock_, lock, room_, has_room);
///       if (waited && !stopping_) return storesync::success();  // room claimed
///       if (claimed) used_ -= n;                                // stopped meanwhile: give it back
///       if (!waited) return waited.error();                     // errc::queue_full
///       return storesync::error{storesync::errc::stopped, "stopped"};
///     }
///
///     // Whoever frees room changes the count under the lock, so that no
///     // waiter checks between the change and the wake-up, then wakes them.
///     void release(std::size_t n) {
///       { std::lock_guard lock(mutex_); used_ -= n; }
///       room_.notify_all();
///     }
///     void stop() {
///       { std::lock_guard lock(mutex_); stopping_ = true; }
///       room_.notify_all();
///     }
///
///    private:
///     bool try_claim(std::size_t n) noexcept {
///       if (used_.fetch_add(n) + n <= capacity_) return true;
///       used_ -= n;
///       return false;
///     }
///
///     const std::size_t capacity_;
///     Policy policy_;
///     storesync::system_clock clock_;
///     std::mutex mutex_;
///     std::condition_variable room_;  // notified whenever room is freed
///     std::atomic<std::size_t> used_{0};
///     std::atomic<bool> stopping_{false};
///   };
/// \endcode
///
/// The wait goes through the clock policy (`waitable_clock`), so with a
/// `manual_clock` a test blocks a writer, advances the clock past the timeout
/// and sees the write fail, deterministically and without real sleeps.
/// JSON (policy/config.hpp): `block_for` `{"timeout_ms": 100}`; `reject` `{}`.

#include <chrono>
#include <concepts>
#include <condition_variable>
#include <mutex>
#include <string_view>
#include <type_traits>

#include "storesync/core/result.hpp"
#include "storesync/policy/clock.hpp"

namespace storesync {

/// Waits for room in a bounded queue, or refuses.
///
/// **Requirements** (`p` a `const P&`, `c` a `Clock&`, `lock` a held
/// `std::unique_lock<std::mutex>&` on the queue's state, `cv` the
/// `std::condition_variable&` notified when room is freed, `has_room` a `bool()`
/// callable read under `lock`)
/// | expression                               | returns        | meaning |
/// |------------------------------------------|----------------|---------|
/// | `p.wait_for_room(c, lock, cv, has_room)` | `result<void>` | `success()` once `has_room()` is true; an `overloaded` error (`errc::queue_full`) when the policy gives up |
///
/// **Guarantees**:
/// - Returns with `lock` held.
/// - On success `has_room()` returned true under the lock just now, so the
///   caller goes on without re-checking; a predicate that claims the room
///   itself (as in the example above) has then claimed it.
/// - Calls `has_room()` first and never waits when it is true.
/// - Waits only through `c` (`c.wait_until` on `cv`), never by sleeping.
///
/// **Errors**: `errc::queue_full` (condition `overloaded`) on reject or timeout.
/// **Thread safety**: `const`; any number of writers may wait at once.
/// **Models**: `block_for`, `reject`.
///
/// A type models `backpressure_policy` if it is copyable and `wait_for_room`,
/// called with the lock held, returns success as soon as `has_room()` is true,
/// or `errc::queue_full` once the policy gives up, waiting only on `c`.
template <class P, class Clock = system_clock>
concept backpressure_policy =
    waitable_clock<Clock> && std::copy_constructible<P> &&
    requires(const P& p, Clock& c, std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
             detail::predicate_archetype has_room) {
      { p.wait_for_room(c, lock, cv, has_room) } -> std::same_as<result<void>>;
    };

/// Wait up to `timeout` for room, then fail with `errc::queue_full`.
class block_for {
 public:
  struct config {
    /// Longest a write waits for room; 0 behaves like `reject`.
    std::chrono::milliseconds timeout{100};

    result<void> validate() const {
      if (timeout.count() < 0) return error{errc::invalid_argument, "block_for: timeout_ms must be >= 0"};
      return success();
    }
  };

  block_for() = default;
  explicit block_for(const config& c) noexcept : config_(c) {}
  template <class Rep, class Period>
  explicit block_for(std::chrono::duration<Rep, Period> timeout) noexcept
      : config_{std::chrono::duration_cast<std::chrono::milliseconds>(timeout)} {}

  template <class Clock, class Predicate>
    requires waitable_clock<Clock> && std::predicate<Predicate&>
  result<void> wait_for_room(Clock& clock, std::unique_lock<std::mutex>& lock,
                             std::condition_variable& cv, Predicate has_room) const {
    if (has_room()) return success();
    if (config_.timeout.count() > 0) {
      const auto deadline =
          clock.now() + std::chrono::duration_cast<typename Clock::duration>(config_.timeout);
      if (clock.wait_until(lock, cv, deadline, has_room)) return success();
    }
    return error{errc::queue_full, "no room within timeout"};
  }

  config& configuration() noexcept { return config_; }
  const config& configuration() const noexcept { return config_; }

 private:
  config config_;
};
static_assert(backpressure_policy<block_for>);

/// Fail at once with `errc::queue_full` when there is no room.
struct reject {
  /// No knobs; exists so every model loads from JSON the same way.
  struct config {};

  reject() = default;
  explicit reject(const config&) noexcept {}

  template <class Clock, class Predicate>
    requires waitable_clock<Clock> && std::predicate<Predicate&>
  result<void> wait_for_room(Clock&, std::unique_lock<std::mutex>&, std::condition_variable&,
                             Predicate has_room) const {
    if (has_room()) return success();
    return error{errc::queue_full, "rejected"};
  }
};
static_assert(backpressure_policy<reject>);

}  // namespace storesync
