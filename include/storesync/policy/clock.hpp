#pragma once
/// \file
/// The Clock policy: where every time-based part of storesync reads the time,
/// sleeps and waits, so each timing behaviour can be tested without sleeping.
///
/// \code
///   storesync::system_clock real;                       // production: monotonic time
///   storesync::manual_clock fake;                       // tests: time moves by hand
///   auto r = storesync::retry(backoff, fake, [&] { return store.write(batch); });
///   auto waited = fake.slept();   // the backoff's delays, summed: no real sleep happened
/// \endcode
///
/// `clock` is what retrying and batch timing need (`now`, `sleep_for`);
/// `waitable_clock` adds a condition-variable wait with a deadline, which the
/// backpressure policies use to block a writer until there is room.
/// `manual_clock` lives in storesync/policy/manual_clock.hpp.

#include <chrono>
#include <concepts>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace storesync {
namespace detail {
/// A predicate type for concept checks ("is there room?").
struct predicate_archetype {
  bool operator()() const;
};
}  // namespace detail

/// A source of time that can also sleep.
///
/// **Requirements** (`c` a `C&`, `cc` a `const C&`, `d` a `C::duration`)
/// | expression            | returns                      | meaning |
/// |-----------------------|------------------------------|---------|
/// | `C::duration`         | (a type)                     | a `std::chrono::duration` |
/// | `C::time_point`       | (a type)                     | a point in time on this clock |
/// | `cc.now()`            | `C::time_point`, `noexcept`  | the current time; never goes backwards |
/// | `cc.now() - cc.now()` | convertible to `C::duration` | the time between two readings |
/// | `c.sleep_for(d)`      | `void`                       | returns once `d` has passed *on this clock* |
///
/// **Guarantees**:
/// - `now()` is monotonic: a wall clock that jumps would break backoff and
///   batch timing.
/// - `sleep_for` on a test clock may return at once after moving its own
///   time forward.
/// - `C` is copyable.
///
/// **Errors**: none; `now()` cannot fail.
/// **Thread safety**: `now()` and `sleep_for` may be called concurrently.
/// **Models**: `system_clock`, `manual_clock`.
///
/// A type models `clock` if it is copyable, `now()` reads a monotonic time
/// without throwing, and `sleep_for` returns once the given time has passed on
/// that same clock.
template <class C>
concept clock = std::copy_constructible<C> && requires(C& c, const C& cc, typename C::duration d) {
  typename C::duration;
  typename C::time_point;
  { cc.now() } noexcept -> std::same_as<typename C::time_point>;
  { cc.now() - cc.now() } -> std::convertible_to<typename C::duration>;
  { c.sleep_for(d) } -> std::same_as<void>;
};

/// A `clock` that can also wait on a condition variable until a deadline.
///
/// **Requirements** (in addition to `clock`; `lock` a
/// `std::unique_lock<std::mutex>&` that is held, `cv` a
/// `std::condition_variable&`, `t` a `C::time_point`, `pred` a `bool()` callable)
/// | expression                        | returns | meaning |
/// |-----------------------------------|---------|---------|
/// | `c.wait_until(lock, cv, t, pred)` | `bool`  | like `cv.wait_until(lock, t, pred)` on this clock: waits until `pred()` is true or `now() >= t`, and returns `pred()` |
///
/// **Guarantees**:
/// - Returns with `lock` held; `pred` is evaluated with `lock` held.
/// - Returns `true` iff `pred()` was true at the end.
/// - A notification of `cv` re-evaluates `pred`.
///
/// **Errors**: none of its own (`std::condition_variable` may throw
/// `std::system_error` on a broken platform).
/// **Thread safety**: as `std::condition_variable::wait_until`.
/// **Models**: `system_clock`, `manual_clock` (which wakes its waiters when it
/// is advanced).
///
/// A type models `waitable_clock` if it models `clock` and `wait_until` waits
/// on a condition variable until a predicate holds or this clock reaches a
/// deadline, as `std::condition_variable::wait_until` does on real time.
template <class C>
concept waitable_clock =
    clock<C> && requires(C& c, std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                         typename C::time_point t, detail::predicate_archetype pred) {
      { c.wait_until(lock, cv, t, pred) } -> std::same_as<bool>;
    };

/// The production clock: `std::chrono::steady_clock` (monotonic, not wall
/// time, despite the name: "the system's clock" as opposed to a test clock).
/// Empty, so it costs nothing where it is stored.
struct system_clock {
  using duration = std::chrono::steady_clock::duration;
  using time_point = std::chrono::steady_clock::time_point;

  time_point now() const noexcept { return std::chrono::steady_clock::now(); }

  void sleep_for(duration d) { std::this_thread::sleep_for(d); }

  template <class Predicate>
  bool wait_until(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                  time_point deadline, Predicate pred) {
    return cv.wait_until(lock, deadline, pred);
  }
};
static_assert(clock<system_clock>);
static_assert(waitable_clock<system_clock>);

}  // namespace storesync
