#include "storesync/policy/retry_budget.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "storesync/policy/config.hpp"
#include "storesync/policy/manual_clock.hpp"

namespace {

using namespace std::chrono_literals;
using storesync::errc;
using storesync::error;
using storesync::exponential_backoff;
using storesync::manual_clock;
using storesync::result;
using storesync::retry_budget;

// A policy that always allows a retry after 1 ms.
struct always {
  storesync::retry_decision decide(std::uint32_t, std::chrono::nanoseconds, const error&) noexcept {
    return storesync::retry_decision::after(1ms);
  }
  void on_success() noexcept {}
};

// retry_budget only decorates retry policies; the constraint names the concept.
template <class Inner>
concept budget_accepts = requires { typename retry_budget<Inner>; };
static_assert(budget_accepts<always>);
static_assert(!budget_accepts<int>);

TEST(RetryBudget, DefaultsAreTheAwsSdks) {
  retry_budget<always> b;
  EXPECT_EQ(b.configuration().max_tokens, 500u);
  EXPECT_EQ(b.configuration().retry_cost, 5u);
  EXPECT_EQ(b.configuration().timeout_retry_cost, 10u);
  EXPECT_EQ(b.configuration().success_refund, 1u);
  EXPECT_EQ(b.tokens(), 500);
}

TEST(RetryBudget, ChargesRetriesMoreAfterTimeoutAndRefundsSuccess) {
  retry_budget<always> b;
  EXPECT_TRUE(b.decide(0, 0ns, errc::busy).retry);
  EXPECT_EQ(b.tokens(), 495);
  EXPECT_TRUE(b.decide(0, 0ns, errc::timeout).retry);
  EXPECT_EQ(b.tokens(), 485);
  b.on_success();
  EXPECT_EQ(b.tokens(), 486);
  for (int i = 0; i < 50; ++i) b.on_success();
  EXPECT_EQ(b.tokens(), 500);  // never above capacity
}

TEST(RetryBudget, StopsWhileTheBucketCannotPay) {
  retry_budget<always> b(always{}, {.max_tokens = 12});
  EXPECT_TRUE(b.decide(0, 0ns, errc::busy).retry);   // 7 left
  EXPECT_FALSE(b.decide(0, 0ns, errc::timeout).retry);  // needs 10
  EXPECT_TRUE(b.decide(0, 0ns, errc::busy).retry);   // 2 left
  EXPECT_FALSE(b.decide(0, 0ns, errc::busy).retry);
  EXPECT_EQ(b.tokens(), 2);
  for (int i = 0; i < 3; ++i) b.on_success();
  EXPECT_TRUE(b.decide(0, 0ns, errc::busy).retry);  // paid again
}

TEST(RetryBudget, InnerStopAndFinalErrorsCostNothing) {
  retry_budget<storesync::no_retry> b;
  EXPECT_FALSE(b.decide(0, 0ns, errc::busy).retry);
  retry_budget<always> c;
  EXPECT_FALSE(c.decide(0, 0ns, errc::corrupt).retry);
  EXPECT_EQ(b.tokens(), 500);
  EXPECT_EQ(c.tokens(), 500);
}

TEST(RetryBudget, CopiesShareOneBucket) {
  retry_budget<always> a;
  auto b = a;
  EXPECT_TRUE(b.decide(0, 0ns, errc::busy).retry);
  EXPECT_EQ(a.tokens(), 495);
}

TEST(RetryBudget, ConcurrentWritersNeverOverspend) {
  retry_budget<always> shared;
  std::atomic<int> granted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([copy = shared, &granted]() mutable {
      for (int i = 0; i < 1000; ++i)
        if (copy.decide(0, 0ns, errc::busy).retry) ++granted;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(granted.load(), 100);  // 500 tokens / 5
  EXPECT_EQ(shared.tokens(), 0);
}

// Under a total outage, a budget keeps the load near the offered load:
// once the bucket is drained every operation is tried exactly once.
TEST(RetryBudget, TotalOutageLoadStaysNearOfferedOperations) {
  constexpr int operations = 10'000;
  manual_clock clock;
  auto outage = [&](auto policy) {
    std::uint64_t attempts = 0, attempts_after_drain = 0, ops_after_drain = 0;
    for (int i = 0; i < operations; ++i) {
      const bool drained = policy.tokens() < 5;
      auto r = storesync::retry(policy, clock, [&]() -> result<void> {
        ++attempts;
        if (drained) ++attempts_after_drain;
        return error{errc::connection_failed};
      });
      EXPECT_FALSE(r.outcome);
      if (drained) ++ops_after_drain;
    }
    return std::tuple{attempts, attempts_after_drain, ops_after_drain};
  };
  const exponential_backoff inner{{.base = 10ms, .cap = 1s, .max_attempts = 4, .seed = 1}};
  auto [attempts, after, ops_after] = outage(retry_budget<exponential_backoff>(inner));
  EXPECT_GT(ops_after, 9000u);
  EXPECT_LE(static_cast<double>(after), 1.1 * static_cast<double>(ops_after));
  EXPECT_LE(attempts, operations + 100u);  // at most 500 / 5 retries in all
  // Without the budget the same outage costs 4 attempts per operation.
  std::uint64_t unbudgeted = 0;
  exponential_backoff plain = inner;
  for (int i = 0; i < operations; ++i)
    unbudgeted += storesync::retry(plain, clock, [] { return result<void>(error{errc::connection_failed}); })
                      .attempts;
  EXPECT_EQ(unbudgeted, 4u * operations);
}

TEST(RetryBudget, RefundsLetRetriesResumeAfterRecovery) {
  retry_budget<always> b(always{}, {.max_tokens = 10});
  manual_clock clock;
  bool healthy = false;
  auto op = [&]() -> result<void> {
    if (healthy) return storesync::success();
    return error{errc::busy};
  };
  for (int i = 0; i < 10; ++i) (void)storesync::retry(b, clock, op);
  EXPECT_LT(b.tokens(), 5);
  healthy = true;
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(storesync::retry(b, clock, op).outcome);
  EXPECT_EQ(b.tokens(), 10);
}

TEST(RetryBudget, LoadsConfigFromJson) {
  auto c = storesync::load_config<storesync::retry_budget_config>(
      R"({"max_tokens": 100, "retry_cost": 2, "timeout_retry_cost": 4, "success_refund": 2})");
  ASSERT_TRUE(c);
  EXPECT_EQ(c.value().max_tokens, 100u);
  EXPECT_EQ(c.value().timeout_retry_cost, 4u);
  retry_budget<always> b(always{}, c.value());
  EXPECT_EQ(b.tokens(), 100);
  EXPECT_FALSE(storesync::load_config<storesync::retry_budget_config>(R"({"retry_cost": 0})"));
  EXPECT_FALSE(storesync::load_config<storesync::retry_budget_config>(R"({"tokens": 1})"));
}

}  // namespace
