#include "storesync/policy/exponential_backoff.hpp"

#include <chrono>
#include <cstdint>
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

exponential_backoff make(std::uint32_t max_attempts = 10, std::chrono::milliseconds max_elapsed = 0ms,
                         std::uint64_t seed = 7) {
  return exponential_backoff{{.base = 100ms, .cap = 1s, .max_attempts = max_attempts,
                              .max_elapsed = max_elapsed, .seed = seed}};
}

TEST(ExponentialBackoff, CeilingDoublesUpToCap) {
  auto p = make();
  EXPECT_EQ(p.ceiling(0), 100ms);
  EXPECT_EQ(p.ceiling(1), 200ms);
  EXPECT_EQ(p.ceiling(2), 400ms);
  EXPECT_EQ(p.ceiling(3), 800ms);
  EXPECT_EQ(p.ceiling(4), 1s);
  EXPECT_EQ(p.ceiling(100), 1s);  // no overflow
}

TEST(ExponentialBackoff, FullJitterStaysWithinCeilingAndSpreads) {
  auto p = make(1000);
  for (std::uint32_t attempt : {0u, 1u, 2u, 3u, 6u}) {
    double sum = 0;
    std::chrono::nanoseconds lo = p.ceiling(attempt), hi = 0ns;
    constexpr int n = 4000;
    for (int i = 0; i < n; ++i) {
      auto d = p.decide(attempt, 0ns, errc::busy);
      ASSERT_TRUE(d.retry);
      ASSERT_GE(d.delay, 0ns);
      ASSERT_LE(d.delay, p.ceiling(attempt));
      lo = std::min(lo, d.delay);
      hi = std::max(hi, d.delay);
      sum += static_cast<double>(d.delay.count());
    }
    const double ceiling = static_cast<double>(p.ceiling(attempt).count());
    // Uniform on [0, ceiling]: mean near ceiling / 2, draws near both ends.
    EXPECT_NEAR(sum / n / ceiling, 0.5, 0.03) << "attempt " << attempt;
    EXPECT_LT(static_cast<double>(lo.count()), 0.02 * ceiling);
    EXPECT_GT(static_cast<double>(hi.count()), 0.98 * ceiling);
  }
}

TEST(ExponentialBackoff, SameSeedSameDelays) {
  auto a = make(10, 0ms, 99);
  auto b = make(10, 0ms, 99);
  auto c = make(10, 0ms, 100);
  bool differs = false;
  for (std::uint32_t i = 0; i < 8; ++i) {
    auto da = a.decide(i, 0ns, errc::busy);
    EXPECT_EQ(da, b.decide(i, 0ns, errc::busy));
    differs = differs || da != c.decide(i, 0ns, errc::busy);
  }
  EXPECT_TRUE(differs);
}

TEST(ExponentialBackoff, StopsAfterMaxAttempts) {
  auto p = make(4);
  manual_clock clock;
  int calls = 0;
  auto r = storesync::retry(p, clock, [&]() -> result<void> {
    ++calls;
    return error{errc::injected_unavailable};
  });
  EXPECT_EQ(r.attempts, 4u);
  EXPECT_EQ(calls, 4);
  EXPECT_EQ(clock.sleeps(), 3u);
  EXPECT_LE(clock.slept(), 100ms + 200ms + 400ms);
}

TEST(ExponentialBackoff, StopsAtMaxElapsedAndNeverSleepsPastIt) {
  auto p = make(1000, 2s);
  manual_clock clock;
  auto r = storesync::retry(p, clock, [&]() -> result<void> {
    clock.advance(10ms);
    return error{errc::busy};
  });
  // Each call takes 10 ms and the last retry starts at 2 s at the latest.
  EXPECT_FALSE(r.outcome);
  EXPECT_GT(r.attempts, 3u);
  EXPECT_GE(clock.now().time_since_epoch(), 2s);
  EXPECT_LE(clock.now().time_since_epoch(), 2s + 10ms);
  // A decision made at the limit stops; one made just before is clamped.
  EXPECT_FALSE(p.decide(1, 2s, errc::busy).retry);
  auto d = p.decide(9, 2s - 1ms, errc::busy);
  ASSERT_TRUE(d.retry);
  EXPECT_LE(d.delay, 1ms);
}

TEST(ExponentialBackoff, FinalConditionsStopAtOnce) {
  auto p = make();
  EXPECT_FALSE(p.decide(0, 0ns, errc::backend_failure).retry);
  EXPECT_FALSE(p.decide(0, 0ns, errc::constraint_violation).retry);
  EXPECT_FALSE(p.decide(0, 0ns, errc::version_conflict).retry);
  EXPECT_TRUE(p.decide(0, 0ns, errc::resource_exhausted).retry);
  EXPECT_TRUE(p.decide(0, 0ns, errc::connection_failed).retry);
  EXPECT_TRUE(p.decide(0, 0ns, errc::timeout).retry);
}

TEST(ExponentialBackoff, LoadsConfigFromJson) {
  auto c = storesync::load_config<exponential_backoff::config>(
      R"({"base_ms": 50, "cap_ms": 2000, "max_attempts": 4, "max_elapsed_ms": 0, "seed": 3})");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c.value().base, 50ms);
  EXPECT_EQ(c.value().cap, 2s);
  EXPECT_EQ(c.value().max_attempts, 4u);
  EXPECT_EQ(c.value().max_elapsed, 0ms);
  EXPECT_EQ(c.value().seed, 3u);
  // Round trip, and defaults for absent fields.
  EXPECT_EQ(nlohmann::json(c.value()).get<exponential_backoff::config>().cap, 2s);
  auto d = storesync::load_config<exponential_backoff::config>("{}").value();
  EXPECT_EQ(d.base, 100ms);
  EXPECT_EQ(d.cap, 20s);
  EXPECT_EQ(d.max_attempts, 3u);
  EXPECT_EQ(d.max_elapsed, 30s);
  // Errors become invalid_argument, never exceptions.
  EXPECT_FALSE(storesync::load_config<exponential_backoff::config>(R"({"base_ms": 500, "cap_ms": 100})"));
  EXPECT_FALSE(storesync::load_config<exponential_backoff::config>(R"({"max_attempts": 0})"));
  EXPECT_FALSE(storesync::load_config<exponential_backoff::config>(R"({"base_ms": "fast"})"));
  EXPECT_FALSE(storesync::load_config<exponential_backoff::config>(R"({"bsae_ms": 5})"));
  auto bad = storesync::load_config<exponential_backoff::config>("{not json");
  ASSERT_FALSE(bad);
  EXPECT_TRUE(bad.error() == storesync::condition::invalid_input);
}

}  // namespace
