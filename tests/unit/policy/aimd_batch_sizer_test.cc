#include "storesync/policy/aimd_batch_sizer.hpp"

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include <gtest/gtest.h>

#include "storesync/policy/config.hpp"

namespace {

using namespace std::chrono_literals;
using storesync::aimd_batch_sizer;
using storesync::batch_outcome;

// A sink whose batch duration is linear in the batch size: fixed + per_item * n.
struct linear_sink {
  std::chrono::nanoseconds fixed;
  std::chrono::nanoseconds per_item;
  std::chrono::nanoseconds duration(std::size_t n) const {
    return fixed + per_item * static_cast<std::int64_t>(n);
  }
  // The largest batch that finishes within `target`.
  std::size_t best(std::chrono::nanoseconds target) const {
    return static_cast<std::size_t>((target - fixed) / per_item);
  }
};

// Feeds `batches` clean batches; returns the index of the first batch from
// which every later size stays within 10% of the sink's best size (or -1).
int settles_at(aimd_batch_sizer& s, const linear_sink& sink, int batches) {
  const double best = static_cast<double>(sink.best(s.configuration().target_duration));
  int settled = -1;
  for (int i = 0; i < batches; ++i) {
    const std::size_t n = s.next_size();
    const bool within = std::abs(static_cast<double>(n) - best) <= 0.1 * best;
    if (!within) settled = -1;
    else if (settled < 0) settled = i;
    s.record({.size = n, .duration = sink.duration(n), .failed = 0});
  }
  return settled;
}

struct scenario {
  linear_sink sink;
  aimd_batch_sizer::config config;
};

TEST(AimdBatchSizer, SettlesNearLargestSizeMeetingTargetWithin30Batches) {
  const scenario scenarios[] = {
      {{0ms, 50us}, {.max_size = 100'000, .initial_size = 100, .target_duration = 500ms}},
      {{20ms, 10us}, {.max_size = 1'000'000, .initial_size = 10, .target_duration = 200ms}},
      {{100ms, 1ms}, {.max_size = 100'000, .initial_size = 1000, .target_duration = 250ms}},
      {{1ms, 2us}, {.max_size = 1'000'000, .initial_size = 1, .target_duration = 1s}},
      {{300ms, 100us}, {.min_size = 50, .max_size = 50'000, .initial_size = 50, .target_duration = 500ms}},
      {{0ms, 1ms}, {.max_size = 10'000, .initial_size = 9'000, .target_duration = 500ms}},
  };
  for (const auto& [sink, config] : scenarios) {
    aimd_batch_sizer s(config);
    const int settled = settles_at(s, sink, 200);
    EXPECT_GE(settled, 0) << "never settled; best " << sink.best(config.target_duration)
                          << ", ended at " << s.next_size();
    EXPECT_LE(settled, 30) << "best " << sink.best(config.target_duration);
  }
}

TEST(AimdBatchSizer, GrowsByAdditiveStepWhenDurationSaysNothing) {
  aimd_batch_sizer s({.initial_size = 100, .additive_step = 25});
  s.record({.size = 100, .duration = 0ns, .failed = 0});
  EXPECT_EQ(s.next_size(), 125u);
  s.record({.size = 125, .duration = 0ns, .failed = 0});
  EXPECT_EQ(s.next_size(), 150u);
}

TEST(AimdBatchSizer, NeverExceedsMaxSize) {
  aimd_batch_sizer s({.max_size = 300, .initial_size = 200, .additive_step = 1000});
  for (int i = 0; i < 5; ++i) s.record({.size = s.next_size(), .duration = 0ns, .failed = 0});
  EXPECT_EQ(s.next_size(), 300u);
}

TEST(AimdBatchSizer, HalvesWithinOneBatchWhenFailureRatePassesThreshold) {
  aimd_batch_sizer s({.max_size = 10'000, .initial_size = 1000});
  s.record({.size = 1000, .duration = 1ms, .failed = 100});  // exactly 10%: not past it
  EXPECT_GE(s.next_size(), 1000u);
  const std::size_t before = s.next_size();
  s.record({.size = before, .duration = 1ms, .failed = before * 15 / 100});
  EXPECT_EQ(s.next_size(), before / 2);
}

TEST(AimdBatchSizer, ShrinksWhenBatchesAreSlowerThanTarget) {
  aimd_batch_sizer s({.min_size = 10, .max_size = 10'000, .initial_size = 8000, .target_duration = 100ms});
  s.record({.size = 8000, .duration = 160ms, .failed = 0});
  EXPECT_EQ(s.next_size(), 5000u);  // the size predicted to take 100 ms
  s.record({.size = 5000, .duration = 10s, .failed = 0});
  EXPECT_EQ(s.next_size(), 2500u);  // at most the multiplicative decrease at once
  for (int i = 0; i < 20; ++i) s.record({.size = s.next_size(), .duration = 10s, .failed = 0});
  EXPECT_EQ(s.next_size(), 10u);  // slowness stops at min_size
}

TEST(AimdBatchSizer, ReachesOneWithinLog2MaxFailedBatches) {
  for (std::size_t max : {std::size_t{1024}, std::size_t{10'000}, std::size_t{65'537}}) {
    aimd_batch_sizer s({.min_size = 100, .max_size = max, .initial_size = max});
    int failed_batches = 0;
    while (s.next_size() > 1 && failed_batches < 100) {
      s.record({.size = s.next_size(), .duration = 1ms, .failed = s.next_size()});
      ++failed_batches;
    }
    EXPECT_EQ(s.next_size(), 1u);  // below min_size: isolation needs a batch of one
    EXPECT_LE(failed_batches, static_cast<int>(std::log2(static_cast<double>(max)))) << "max " << max;
  }
}

// A write-back-like loop over items [0, n) with one poison record: a batch
// holding it fails as a whole; a batch of just the poison record is
// dead-lettered and the loop moves on.
TEST(AimdBatchSizer, IsolatesPoisonRecordThenReturnsToGrowth) {
  const linear_sink sink{0ms, 50us};
  aimd_batch_sizer s({.max_size = 100'000, .initial_size = 100, .target_duration = 500ms});
  const std::size_t items = 200'000, poison = 123'457;
  std::size_t pos = 0;
  int failed_batches = 0, batches = 0;
  std::size_t size_at_first_failure = 0;
  bool isolated = false;
  while (!isolated && batches < 1000) {
    const std::size_t n = std::min(s.next_size(), items - pos);
    ++batches;
    if (poison >= pos && poison < pos + n) {
      if (failed_batches++ == 0) size_at_first_failure = n;
      s.record({.size = n, .duration = sink.duration(n), .failed = n});
      if (n == 1) {
        isolated = true;  // dead-lettered
        ++pos;
      }
    } else {
      s.record({.size = n, .duration = sink.duration(n), .failed = 0});
      pos += n;
    }
  }
  ASSERT_TRUE(isolated);
  EXPECT_EQ(pos, poison + 1);
  // A binary search: one failed batch per halving, plus the batch of one.
  EXPECT_LE(failed_batches,
            static_cast<int>(std::ceil(std::log2(static_cast<double>(size_at_first_failure)))) + 1);
  // Clean batches afterwards: back to the best size.
  EXPECT_EQ(s.next_size(), 1u);
  const int settled = settles_at(s, sink, 100);
  EXPECT_GE(settled, 0);
  EXPECT_LE(settled, 30);
}

TEST(AimdBatchSizer, WaitsForTwoCleanBatchesBeforeGrowingAfterFailure) {
  aimd_batch_sizer s({.initial_size = 400});
  s.record({.size = 400, .duration = 1ms, .failed = 400});
  EXPECT_EQ(s.next_size(), 200u);
  s.record({.size = 200, .duration = 1ms, .failed = 0});
  EXPECT_EQ(s.next_size(), 200u);  // holding: the rest of the failed batch comes next
  s.record({.size = 200, .duration = 1ms, .failed = 0});
  EXPECT_GT(s.next_size(), 200u);
}

TEST(AimdBatchSizer, PartialBatchFailureHalvesFromWhatWasWritten) {
  aimd_batch_sizer s({.initial_size = 1000});
  s.record({.size = 40, .duration = 1ms, .failed = 40});
  EXPECT_EQ(s.next_size(), 20u);
}

TEST(AimdBatchSizer, LoadsConfigFromJson) {
  auto c = storesync::load_config<aimd_batch_sizer::config>(R"({
      "min_size": 5, "max_size": 5000, "initial_size": 50, "target_duration_ms": 250,
      "failure_rate_threshold": 0.2, "additive_step": 10, "multiplicative_decrease": 0.7})");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c.value().target_duration, 250ms);
  EXPECT_DOUBLE_EQ(c.value().failure_rate_threshold, 0.2);
  EXPECT_EQ(aimd_batch_sizer(c.value()).next_size(), 50u);
  auto d = storesync::load_config<aimd_batch_sizer::config>("{}").value();
  EXPECT_EQ(d.min_size, 1u);
  EXPECT_EQ(d.max_size, 10'000u);
  EXPECT_DOUBLE_EQ(d.failure_rate_threshold, 0.1);
  EXPECT_DOUBLE_EQ(d.multiplicative_decrease, 0.5);
  EXPECT_EQ(nlohmann::json(d), nlohmann::json(aimd_batch_sizer::config{}));
  EXPECT_FALSE(storesync::load_config<aimd_batch_sizer::config>(R"({"multiplicative_decrease": 1.5})"));
  EXPECT_FALSE(storesync::load_config<aimd_batch_sizer::config>(R"({"min_size": 10, "max_size": 5})"));
  EXPECT_FALSE(storesync::load_config<aimd_batch_sizer::config>(R"({"target_ms": 5})"));
}

}  // namespace
