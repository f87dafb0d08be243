#include "storesync/policy/retry_policy.hpp"

#include <chrono>
#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

#include "storesync/policy/manual_clock.hpp"

namespace {

using namespace std::chrono_literals;
using storesync::errc;
using storesync::error;
using storesync::manual_clock;
using storesync::result;
using storesync::retry_decision;

// --- does not model ------------------------------------------------------
struct no_on_success {
  retry_decision decide(std::uint32_t, std::chrono::nanoseconds, const error&) noexcept { return {}; }
};
struct decide_may_throw {
  retry_decision decide(std::uint32_t, std::chrono::nanoseconds, const error&) { return {}; }
  void on_success() noexcept {}
};
struct decide_returns_bool {
  bool decide(std::uint32_t, std::chrono::nanoseconds, const error&) noexcept { return false; }
  void on_success() noexcept {}
};
static_assert(!storesync::retry_policy<no_on_success>);
static_assert(!storesync::retry_policy<decide_may_throw>);
static_assert(!storesync::retry_policy<decide_returns_bool>);
static_assert(!storesync::retry_policy<int>);
static_assert(storesync::retry_policy<storesync::no_retry>);

// The entry point is constrained: it does not accept a non-policy at all.
using op_type = result<int> (*)();
template <class P, class C>
concept retry_callable =
    requires(P& p, C& c, op_type op) { storesync::retry(p, c, op); };
static_assert(retry_callable<storesync::no_retry, manual_clock>);
static_assert(!retry_callable<decide_returns_bool, manual_clock>);
static_assert(!retry_callable<storesync::no_retry, int>);

// A policy that always says "retry after 10 ms" and counts its hooks.
struct always_retry {
  int* successes;
  retry_decision decide(std::uint32_t, std::chrono::nanoseconds, const error&) noexcept {
    return retry_decision::after(10ms);
  }
  void on_success() noexcept { ++*successes; }
};
static_assert(storesync::retry_policy<always_retry>);

TEST(IsRetryable, OnlyTransientUnavailableAndOverloaded) {
  EXPECT_TRUE(storesync::is_retryable(errc::serialization_failure));
  EXPECT_TRUE(storesync::is_retryable(errc::timeout));
  EXPECT_TRUE(storesync::is_retryable(errc::connection_lost));
  EXPECT_TRUE(storesync::is_retryable(errc::queue_full));
  EXPECT_FALSE(storesync::is_retryable(errc::corrupt));
  EXPECT_FALSE(storesync::is_retryable(errc::invalid_key));
  EXPECT_FALSE(storesync::is_retryable(errc::version_conflict));
  EXPECT_TRUE(storesync::is_timeout(errc::timeout));
  EXPECT_TRUE(storesync::is_timeout(error{std::make_error_code(std::errc::timed_out)}));
  EXPECT_FALSE(storesync::is_timeout(errc::busy));
}

TEST(NoRetry, AlwaysStops) {
  storesync::no_retry p;
  EXPECT_EQ(p.decide(0, 0ns, errc::busy), retry_decision::stop());
  manual_clock clock;
  int calls = 0;
  auto r = storesync::retry(p, clock, [&]() -> result<int> {
    ++calls;
    return error{errc::busy};
  });
  EXPECT_FALSE(r.outcome);
  EXPECT_EQ(r.attempts, 1u);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(clock.sleeps(), 0u);
}

TEST(Retry, ReturnsValueAndCallsSuccessHook) {
  int successes = 0;
  always_retry p{&successes};
  manual_clock clock;
  int calls = 0;
  auto r = storesync::retry(p, clock, [&]() -> result<int> {
    if (++calls < 3) return error{errc::deadlock};
    return 42;
  });
  ASSERT_TRUE(r.outcome);
  EXPECT_EQ(r.outcome.value(), 42);
  EXPECT_EQ(r.attempts, 3u);
  EXPECT_EQ(successes, 1);
  // Two retries, each waited on the clock, none in real time.
  EXPECT_EQ(clock.sleeps(), 2u);
  EXPECT_EQ(clock.slept(), 20ms);
}

TEST(Retry, StopsAtOnceOnFinalConditionsWhateverThePolicySays) {
  for (errc code : {errc::corrupt, errc::invalid_value, errc::version_conflict}) {
    int successes = 0;
    always_retry p{&successes};
    manual_clock clock;
    int calls = 0;
    auto r = storesync::retry(p, clock, [&]() -> result<void> {
      ++calls;
      return error{code, "ctx"};
    });
    ASSERT_FALSE(r.outcome);
    EXPECT_TRUE(r.outcome.error() == code);
    EXPECT_EQ(r.outcome.error().context(), "ctx");
    EXPECT_EQ(r.attempts, 1u);
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(clock.sleeps(), 0u);
  }
}

TEST(Retry, ReturnsLastErrorWithAttemptCount) {
  // Stops after the third failure.
  struct three_tries {
    retry_decision decide(std::uint32_t attempt, std::chrono::nanoseconds, const error&) noexcept {
      return attempt < 2 ? retry_decision::after(1ms) : retry_decision::stop();
    }
    void on_success() noexcept {}
  };
  manual_clock clock;
  int calls = 0;
  auto r = storesync::retry(three_tries{}, clock, [&]() -> result<void> {
    ++calls;
    return error{calls == 3 ? errc::connection_lost : errc::busy, "call " + std::to_string(calls)};
  });
  ASSERT_FALSE(r.outcome);
  EXPECT_EQ(r.attempts, 3u);
  EXPECT_TRUE(r.outcome.error() == errc::connection_lost);
  EXPECT_EQ(r.outcome.error().context(), "call 3");
}

TEST(Retry, PassesAttemptIndexAndElapsedTime) {
  struct recorder {
    std::vector<std::uint32_t>* attempts;
    std::vector<std::chrono::nanoseconds>* elapsed;
    retry_decision decide(std::uint32_t a, std::chrono::nanoseconds e, const error&) noexcept {
      attempts->push_back(a);
      elapsed->push_back(e);
      return a < 2 ? retry_decision::after(100ms) : retry_decision::stop();
    }
    void on_success() noexcept {}
  };
  std::vector<std::uint32_t> attempts;
  std::vector<std::chrono::nanoseconds> elapsed;
  manual_clock clock;
  auto r = storesync::retry(recorder{&attempts, &elapsed}, clock, [&]() -> result<void> {
    clock.advance(5ms);  // each call takes 5 ms of manual time
    return error{errc::busy};
  });
  EXPECT_EQ(r.attempts, 3u);
  EXPECT_EQ(attempts, (std::vector<std::uint32_t>{0, 1, 2}));
  EXPECT_EQ(elapsed, (std::vector<std::chrono::nanoseconds>{5ms, 110ms, 215ms}));
}

}  // namespace
