#include "storesync/policy/batch_sizer.hpp"

#include <chrono>
#include <cstddef>
#include <vector>

#include <gtest/gtest.h>

#include "storesync/policy/config.hpp"
#include "storesync/policy/manual_clock.hpp"

namespace {

using namespace std::chrono_literals;
using storesync::batch_outcome;
using storesync::manual_clock;

// --- does not model ------------------------------------------------------
struct no_record {
  std::size_t next_size() const noexcept { return 1; }
};
struct next_size_not_const {
  std::size_t next_size() noexcept { return 1; }
  void record(const batch_outcome&) noexcept {}
};
struct record_may_throw {
  std::size_t next_size() const noexcept { return 1; }
  void record(const batch_outcome&) {}
};
struct returns_int {
  int next_size() const noexcept { return 1; }
  void record(const batch_outcome&) noexcept {}
};
static_assert(!storesync::batch_sizer<no_record>);
static_assert(!storesync::batch_sizer<next_size_not_const>);
static_assert(!storesync::batch_sizer<record_may_throw>);
static_assert(!storesync::batch_sizer<returns_int>);
static_assert(storesync::batch_sizer<storesync::fixed_batch_sizer>);

// run_batch is constrained on the concept.
using write_fn = std::size_t (*)(std::size_t);
template <class S>
concept run_batch_accepts =
    requires(S& s, manual_clock& c, write_fn w) { storesync::run_batch(s, c, std::size_t{1}, w); };
static_assert(run_batch_accepts<storesync::fixed_batch_sizer>);
static_assert(!run_batch_accepts<record_may_throw>);

// Remembers what it was fed.
struct spy_sizer {
  std::size_t size = 10;
  std::vector<batch_outcome>* seen;
  std::size_t next_size() const noexcept { return size; }
  void record(const batch_outcome& o) noexcept { seen->push_back(o); }
};
static_assert(storesync::batch_sizer<spy_sizer>);

TEST(BatchOutcome, FailureRate) {
  EXPECT_EQ((batch_outcome{.size = 0}).failure_rate(), 0.0);
  EXPECT_DOUBLE_EQ((batch_outcome{.size = 8, .failed = 2}).failure_rate(), 0.25);
}

TEST(FixedBatchSizer, AlwaysSameSizeWhateverHappens) {
  storesync::fixed_batch_sizer s(250);
  EXPECT_EQ(s.next_size(), 250u);
  s.record({.size = 250, .duration = 10s, .failed = 250});
  EXPECT_EQ(s.next_size(), 250u);
  EXPECT_EQ(storesync::fixed_batch_sizer{}.next_size(), 1000u);
  EXPECT_EQ(storesync::fixed_batch_sizer(0).next_size(), 1u);
}

TEST(FixedBatchSizer, LoadsConfigFromJson) {
  auto c = storesync::load_config<storesync::fixed_batch_sizer::config>(R"({"size": 64})");
  ASSERT_TRUE(c);
  EXPECT_EQ(storesync::fixed_batch_sizer(c.value()).next_size(), 64u);
  EXPECT_FALSE(storesync::load_config<storesync::fixed_batch_sizer::config>(R"({"size": 0})"));
  EXPECT_FALSE(storesync::load_config<storesync::fixed_batch_sizer::config>(R"({"size": -3})"));
}

TEST(RunBatch, SizesTimesAndFeedsBack) {
  std::vector<batch_outcome> seen;
  spy_sizer s{10, &seen};
  manual_clock clock;
  std::size_t asked = 0;
  auto o = storesync::run_batch(s, clock, 7, [&](std::size_t n) {
    asked = n;
    clock.advance(3ms);
    return std::size_t{2};
  });
  EXPECT_EQ(asked, 7u);  // only 7 available
  EXPECT_EQ(o, (batch_outcome{.size = 7, .duration = 3ms, .failed = 2}));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], o);

  o = storesync::run_batch(s, clock, 100, [&](std::size_t n) { return n + 5; });  // clamped
  EXPECT_EQ(o.size, 10u);
  EXPECT_EQ(o.failed, 10u);

  bool called = false;
  o = storesync::run_batch(s, clock, 0, [&](std::size_t) {
    called = true;
    return std::size_t{0};
  });
  EXPECT_FALSE(called);
  EXPECT_EQ(o.size, 0u);
  EXPECT_EQ(seen.size(), 2u);
}

}  // namespace
