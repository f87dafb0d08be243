#include "storesync/policy/clock.hpp"

#include <chrono>
#include <condition_variable>
#include <mutex>

#include <gtest/gtest.h>

namespace {

using namespace std::chrono_literals;

// "Does not model" checks, stdexec style.
struct no_now {
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::steady_clock::time_point;
  void sleep_for(duration) {}
};
struct throwing_now {
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::steady_clock::time_point;
  time_point now() const { return {}; }  // not noexcept
  void sleep_for(duration) {}
};
struct cannot_wait {
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::steady_clock::time_point;
  time_point now() const noexcept { return {}; }
  void sleep_for(duration) {}
};
static_assert(!storesync::clock<no_now>);
static_assert(!storesync::clock<throwing_now>);
static_assert(!storesync::clock<int>);
static_assert(storesync::clock<cannot_wait>);
static_assert(!storesync::waitable_clock<cannot_wait>);
static_assert(storesync::waitable_clock<storesync::system_clock>);

TEST(SystemClock, IsMonotonic) {
  storesync::system_clock c;
  auto a = c.now();
  auto b = c.now();
  EXPECT_LE(a, b);
}

TEST(SystemClock, WaitUntilReturnsAtOnceWhenPredicateHolds) {
  storesync::system_clock c;
  std::mutex m;
  std::condition_variable cv;
  std::unique_lock lock(m);
  // A deadline far in the future: only the predicate can end this wait.
  EXPECT_TRUE(c.wait_until(lock, cv, c.now() + 1h, [] { return true; }));
  EXPECT_TRUE(lock.owns_lock());
}

TEST(SystemClock, WaitUntilPastDeadlineReturnsPredicate) {
  storesync::system_clock c;
  std::mutex m;
  std::condition_variable cv;
  std::unique_lock lock(m);
  EXPECT_FALSE(c.wait_until(lock, cv, c.now() - 1s, [] { return false; }));
  EXPECT_TRUE(lock.owns_lock());
}

}  // namespace
