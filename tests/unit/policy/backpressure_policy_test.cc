#include "storesync/policy/backpressure_policy.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include <gtest/gtest.h>

#include "storesync/policy/config.hpp"
#include "storesync/policy/manual_clock.hpp"

namespace {

using namespace std::chrono_literals;
using storesync::manual_clock;

// Does not model: no wait_for_room, or the wrong return type.
struct no_wait {};
struct returns_bool {
  template <class Clock, class Pred>
  bool wait_for_room(Clock&, std::unique_lock<std::mutex>&, std::condition_variable&, Pred) const {
    return true;
  }
};
static_assert(!storesync::backpressure_policy<no_wait>);
static_assert(!storesync::backpressure_policy<returns_bool>);
static_assert(storesync::backpressure_policy<storesync::block_for, manual_clock>);
static_assert(storesync::backpressure_policy<storesync::reject, manual_clock>);

// The shape write-behind will have: a bounded queue guarded by a mutex, a
// condition variable notified when room is freed, a clock and a policy.
template <class Policy>
class bounded_queue {
 public:
  bounded_queue(std::size_t capacity, Policy policy, manual_clock clock)
      : capacity_(capacity), policy_(policy), clock_(clock) {}

  storesync::result<void> put(int v) {
    std::unique_lock lock(mutex_);
    BOOST_OUTCOME_TRY(
        policy_.wait_for_room(clock_, lock, room_, [&] { return items_.size() < capacity_; }));
    items_.push_back(v);
    return storesync::success();
  }
  std::optional<int> pop() {
    std::lock_guard guard(mutex_);
    if (items_.empty()) return std::nullopt;
    int v = items_.front();
    items_.pop_front();
    room_.notify_all();
    return v;
  }
  std::size_t size() {
    std::lock_guard guard(mutex_);
    return items_.size();
  }

 private:
  std::size_t capacity_;
  Policy policy_;
  manual_clock clock_;
  std::mutex mutex_;
  std::condition_variable room_;
  std::deque<int> items_;
};

TEST(Reject, AcceptsWhileRoomThenFailsOverloaded) {
  bounded_queue<storesync::reject> q(2, {}, manual_clock{});
  EXPECT_TRUE(q.put(1));
  EXPECT_TRUE(q.put(2));
  auto r = q.put(3);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error() == storesync::condition::overloaded);
  EXPECT_TRUE(r.error() == storesync::errc::queue_full);
  EXPECT_EQ(q.size(), 2u);
}

TEST(BlockFor, DoesNotWaitWhenThereIsRoom) {
  manual_clock clock;
  bounded_queue<storesync::block_for> q(1, storesync::block_for{50ms}, clock);
  EXPECT_TRUE(q.put(1));
  EXPECT_EQ(clock.waiters(), 0u);
  EXPECT_EQ(clock.now(), manual_clock::time_point{});
}

TEST(BlockFor, TimesOutWithOverloadedWhenClockPassesTimeout) {
  manual_clock clock;
  bounded_queue<storesync::block_for> q(1, storesync::block_for{100ms}, clock);
  ASSERT_TRUE(q.put(1));
  std::atomic<int> done{0};  // 0 waiting, 1 ok, 2 overloaded, 3 other
  std::thread writer([&] {
    auto r = q.put(2);
    done = r ? 1 : (r.error() == storesync::condition::overloaded ? 2 : 3);
  });
  clock.await_waiters(1);
  clock.advance(60ms);
  EXPECT_EQ(done.load(), 0) << "gave up before the timeout";
  clock.advance(40ms);
  writer.join();
  EXPECT_EQ(done.load(), 2);
  EXPECT_EQ(q.size(), 1u);
}

TEST(BlockFor, SucceedsWhenRoomIsFreedBeforeTimeout) {
  manual_clock clock;
  bounded_queue<storesync::block_for> q(1, storesync::block_for{100ms}, clock);
  ASSERT_TRUE(q.put(1));
  std::atomic<int> done{0};
  std::thread writer([&] { done = q.put(2) ? 1 : 2; });
  clock.await_waiters(1);
  clock.advance(99ms);
  EXPECT_EQ(q.pop(), 1);
  writer.join();
  EXPECT_EQ(done.load(), 1);
  EXPECT_EQ(q.pop(), 2);
}

TEST(BlockFor, ZeroTimeoutBehavesLikeReject) {
  manual_clock clock;
  bounded_queue<storesync::block_for> q(1, storesync::block_for{0ms}, clock);
  ASSERT_TRUE(q.put(1));
  auto r = q.put(2);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error() == storesync::errc::queue_full);
}

TEST(BlockFor, LoadsConfigFromJson) {
  auto c = storesync::load_config<storesync::block_for::config>(R"({"timeout_ms": 250})");
  ASSERT_TRUE(c);
  EXPECT_EQ(c.value().timeout, 250ms);
  EXPECT_EQ(nlohmann::json(c.value()), nlohmann::json::parse(R"({"timeout_ms": 250})"));
  EXPECT_EQ(storesync::load_config<storesync::block_for::config>("{}").value().timeout, 100ms);
  auto bad = storesync::load_config<storesync::block_for::config>(R"({"timeout": 250})");
  ASSERT_FALSE(bad);
  EXPECT_TRUE(bad.error() == storesync::errc::invalid_argument);
  EXPECT_NE(bad.error().context().find("timeout"), std::string::npos);
  EXPECT_FALSE(storesync::load_config<storesync::block_for::config>(R"({"timeout_ms": -1})"));
  EXPECT_TRUE(storesync::load_config<storesync::reject::config>("{}"));
}

}  // namespace
