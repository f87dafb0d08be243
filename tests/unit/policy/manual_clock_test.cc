#include "storesync/policy/manual_clock.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

namespace {

using namespace std::chrono_literals;
using storesync::manual_clock;

TEST(ManualClock, StartsAtGivenTimeAndMovesOnlyByHand) {
  manual_clock c;
  EXPECT_EQ(c.now(), manual_clock::time_point{});
  manual_clock later(manual_clock::time_point{} + 5s);
  EXPECT_EQ(later.now().time_since_epoch(), 5s);
  c.advance(250ms);
  EXPECT_EQ(c.now().time_since_epoch(), 250ms);
  c.advance(-1s);  // time never goes back
  EXPECT_EQ(c.now().time_since_epoch(), 250ms);
}

TEST(ManualClock, SleepForAdvancesAndCounts) {
  manual_clock c;
  c.sleep_for(20ms);
  c.sleep_for(30ms);
  EXPECT_EQ(c.now().time_since_epoch(), 50ms);
  EXPECT_EQ(c.sleeps(), 2u);
  EXPECT_EQ(c.slept(), 50ms);
}

TEST(ManualClock, CopiesShareOneTimeLine) {
  manual_clock a;
  manual_clock b = a;
  b.advance(7s);
  EXPECT_EQ(a.now().time_since_epoch(), 7s);
}

TEST(ManualClock, WaitTimesOutOnlyWhenAdvancedPastDeadline) {
  manual_clock c;
  std::mutex m;
  std::condition_variable cv;
  std::atomic<int> state{0};  // 0 waiting, 1 returned true, 2 returned false
  std::thread waiter([&] {
    std::unique_lock lock(m);
    const bool ok = c.wait_until(lock, cv, c.now() + 100ms, [] { return false; });
    state = ok ? 1 : 2;
  });
  c.await_waiters(1);
  c.advance(99ms);
  // Still before the deadline: the waiter must still be registered.
  EXPECT_EQ(state.load(), 0);
  EXPECT_EQ(c.waiters(), 1u);
  c.advance(1ms);
  waiter.join();
  EXPECT_EQ(state.load(), 2);
  EXPECT_EQ(c.waiters(), 0u);
}

TEST(ManualClock, WaitEndsWhenPredicateBecomesTrue) {
  manual_clock c;
  std::mutex m;
  std::condition_variable cv;
  bool ready = false;
  bool result = false;
  std::thread waiter([&] {
    std::unique_lock lock(m);
    result = c.wait_until(lock, cv, c.now() + 1h, [&] { return ready; });
  });
  c.await_waiters(1);
  {
    std::lock_guard guard(m);
    ready = true;
  }
  cv.notify_all();
  waiter.join();
  EXPECT_TRUE(result);
  EXPECT_EQ(c.now(), manual_clock::time_point{});  // no manual time passed
}

}  // namespace
