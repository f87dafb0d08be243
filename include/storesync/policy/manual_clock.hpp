#pragma once
/// \file
/// `manual_clock`: a test clock whose time moves only when told to.
///
/// \code
///   storesync::manual_clock clock;                 // starts at time_point{} (zero)
///   clock.advance(std::chrono::seconds(5));        // time moves; waiters wake up
///   clock.sleep_for(std::chrono::milliseconds(20)); // never blocks: moves time by 20 ms
///   EXPECT_EQ(clock.sleeps(), 1u);
///
///   // A thread blocked in a timed wait (here a put under backpressure, into
///   // a full write_behind that was given a copy of this clock):
///   std::thread writer([&] { result = behind->put(e); });
///   clock.await_waiters(1);                        // the writer is waiting
///   clock.advance(std::chrono::milliseconds(100)); // its deadline passes: it times out
/// \endcode
///
/// Copies share one time line (the state is held by a `shared_ptr`), so a
/// test keeps a copy and hands another to the component under test.
/// Thread-safe.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "storesync/policy/clock.hpp"

namespace storesync {

/// A `waitable_clock` driven by hand. See the file comment.
class manual_clock {
 public:
  using duration = std::chrono::steady_clock::duration;
  using time_point = std::chrono::steady_clock::time_point;

  /// A clock at `start` (default: the zero time point).
  explicit manual_clock(time_point start = time_point{})
      : state_(std::make_shared<state>(start.time_since_epoch().count())) {}

  time_point now() const noexcept { return time_point(duration(state_->now.load())); }

  /// Moves time forward by `d` (negative values are ignored: time never goes
  /// back) and wakes every thread waiting in `wait_until`.
  void advance(duration d) {
    if (d <= duration::zero()) return;
    std::lock_guard guard(state_->mutex);
    state_->now.fetch_add(d.count());
    for (std::condition_variable* cv : state_->waiters) cv->notify_all();
  }

  /// Does not block: moves time forward by `d` and counts the sleep.
  void sleep_for(duration d) {
    state_->sleeps.fetch_add(1);
    state_->slept.fetch_add(std::max(d, duration::zero()).count());
    advance(d);
  }

  /// Waits on `cv` until `pred()` or until this clock reaches `deadline`.
  /// `advance` wakes the waiter; a notification that races with the
  /// waiter's own check is caught by a short real-time re-check (1 ms), so the
  /// outcome depends on manual time only, never on real time.
  template <class Predicate>
  bool wait_until(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                  time_point deadline, Predicate pred) {
    if (pred()) return true;
    registration reg(*state_, cv);
    while (!pred()) {
      if (now() >= deadline) return pred();
      cv.wait_for(lock, std::chrono::milliseconds(1));
    }
    return true;
  }

  /// Threads currently inside `wait_until`.
  std::size_t waiters() const {
    std::lock_guard guard(state_->mutex);
    return state_->waiters.size();
  }

  /// Spins (yielding, not sleeping) until at least `n` threads wait in
  /// `wait_until`; tests call it before `advance` so the deadline is set.
  void await_waiters(std::size_t n) const {
    while (waiters() < n) std::this_thread::yield();
  }

  /// Calls to `sleep_for`, and their total duration.
  std::uint64_t sleeps() const noexcept { return state_->sleeps.load(); }
  duration slept() const noexcept { return duration(state_->slept.load()); }

 private:
  struct state {
    explicit state(duration::rep start) : now(start) {}
    std::atomic<duration::rep> now;
    std::atomic<std::uint64_t> sleeps{0};
    std::atomic<duration::rep> slept{0};
    mutable std::mutex mutex;  // guards waiters; advance notifies under it
    std::vector<std::condition_variable*> waiters;
  };

  // Lock order: the caller's mutex, then state::mutex (advance never takes the caller's).
  struct registration {
    registration(state& s, std::condition_variable& cv) : s_(s), cv_(&cv) {
      std::lock_guard guard(s_.mutex);
      s_.waiters.push_back(cv_);
    }
    ~registration() {
      std::lock_guard guard(s_.mutex);
      auto it = std::find(s_.waiters.begin(), s_.waiters.end(), cv_);
      if (it != s_.waiters.end()) s_.waiters.erase(it);
    }
    registration(const registration&) = delete;
    registration& operator=(const registration&) = delete;
    state& s_;
    std::condition_variable* cv_;
  };

  std::shared_ptr<state> state_;
};
static_assert(clock<manual_clock>);
static_assert(waitable_clock<manual_clock>);

}  // namespace storesync
