#include "storesync/core/version_clock.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <limits>
#include <thread>
#include <vector>

namespace storesync {
namespace {

version_type now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TEST(VersionClock, FollowsTheWallClockAndNeverRepeats) {
  version_clock clock;
  const version_type before = now_us();
  version_type last = clock.next();
  EXPECT_GE(last, before);
  for (int i = 0; i < 10'000; ++i) {
    const version_type v = clock.next();
    ASSERT_GT(v, last);
    last = v;
  }
  EXPECT_EQ(clock.last(), last);
}

TEST(VersionClock, StaysAboveAFloorFromTheFuture) {
  const version_type hour_ahead = now_us() + 3'600'000'000;
  version_clock clock(hour_ahead);
  EXPECT_EQ(clock.next(), hour_ahead + 1);
  EXPECT_EQ(clock.next(), hour_ahead + 2);
}

TEST(VersionClock, ObservedVersionsRaiseTheFloorButNeverLowerIt) {
  version_clock clock;
  const version_type far = now_us() + 1'000'000'000;
  clock.observe(far);
  clock.observe(5);
  EXPECT_EQ(clock.last(), far);
  EXPECT_EQ(clock.next(), far + 1);
}

TEST(VersionClock, ConcurrentCallersGetDistinctVersions) {
  version_clock clock;
  std::vector<std::vector<version_type>> got(4);
  std::vector<std::thread> threads;
  for (auto& mine : got)
    threads.emplace_back([&clock, &mine] {
      for (int i = 0; i < 20'000; ++i) mine.push_back(clock.next());
    });
  for (auto& t : threads) t.join();
  std::vector<version_type> all;
  for (const auto& mine : got) {
    for (std::size_t i = 1; i < mine.size(); ++i) ASSERT_GT(mine[i], mine[i - 1]);
    all.insert(all.end(), mine.begin(), mine.end());
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end()) << "a version was handed out twice";
}

TEST(VersionClock, ABlockIsConsecutiveAndAboveEverythingBefore) {
  version_clock clock(1'000);
  EXPECT_EQ(clock.reserve(5, 10), 1'001);  // a clock behind the floor
  EXPECT_EQ(clock.last(), 1'005);
  EXPECT_EQ(clock.next(10), 1'006);
  EXPECT_EQ(clock.reserve(3, 5'000), 5'000);  // a clock ahead of it
  EXPECT_EQ(clock.last(), 5'002);
  EXPECT_EQ(clock.reserve(1, 0), 5'003);
}

TEST(VersionClock, ConcurrentBlocksNeverOverlap) {
  version_clock clock;
  std::vector<std::vector<version_type>> got(4);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < got.size(); ++t)
    threads.emplace_back([&clock, &mine = got[t], size = t + 1] {
      for (int i = 0; i < 5'000; ++i) {
        const version_type first = clock.reserve(size);
        for (std::size_t j = 0; j < size; ++j) mine.push_back(first + static_cast<version_type>(j));
      }
    });
  for (auto& t : threads) t.join();
  std::vector<version_type> all;
  for (const auto& mine : got) all.insert(all.end(), mine.begin(), mine.end());
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end()) << "a version was handed out twice";
  EXPECT_EQ(clock.last(), all.back());
}

TEST(VersionClock, AFloorAtTheTypesLimitDoesNotOverflow) {
  version_clock clock(std::numeric_limits<version_type>::max());
  EXPECT_EQ(clock.next(), std::numeric_limits<version_type>::max());
  // Such a version is refused by validation rather than wrapping around.
  EXPECT_FALSE(validate(entry::put("k", "1", clock.next())));
}

}  // namespace
}  // namespace storesync
