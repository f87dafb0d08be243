#include "storesync/strategy/detail/room_counter.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <deque>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

namespace storesync::detail {
namespace {

TEST(RoomCounter, AdmitsUpToTheEntryBound) {
  room_counter room(3, 1000);
  EXPECT_EQ(room.max_entries(), 3u);
  EXPECT_TRUE(room.try_reserve(10));
  EXPECT_TRUE(room.try_reserve(10));
  EXPECT_TRUE(room.try_reserve(10));
  EXPECT_FALSE(room.try_reserve(10));
  EXPECT_FALSE(room.try_reserve(0));
  room.release(10);
  EXPECT_TRUE(room.try_reserve(10));
}

TEST(RoomCounter, AdmitsUpToTheByteBound) {
  room_counter room(100, 50);
  EXPECT_TRUE(room.try_reserve(30));
  EXPECT_FALSE(room.try_reserve(21));
  EXPECT_TRUE(room.try_reserve(20)) << "exactly at the bound fits";
  EXPECT_FALSE(room.try_reserve(1));
  room.release(30);
  EXPECT_TRUE(room.try_reserve(30));
}

TEST(RoomCounter, HeldEntriesAndBytesCountAgainstTheBounds) {
  room_counter room(4, 100);
  room.hold(3, 60);
  EXPECT_FALSE(room.try_reserve(41)) << "bytes: 60 held + 41";
  EXPECT_TRUE(room.try_reserve(40));
  EXPECT_FALSE(room.try_reserve(0)) << "entries: 3 held + 1 reserved";
  room.release(40);
  room.hold(0, 0);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(room.try_reserve(25)) << i;
  EXPECT_FALSE(room.try_reserve(0));
}

TEST(RoomCounter, AReservationThatDoesNotFitLeavesTheCountersUnchanged) {
  room_counter room(2, 100);
  // Refused for bytes, many times: nothing of them may stay reserved.
  for (int i = 0; i < 1000; ++i) ASSERT_FALSE(room.try_reserve(101)) << i;
  EXPECT_TRUE(room.try_reserve(100)) << "a refused reservation left bytes behind";
  // Refused for bytes now that they are all taken.
  for (int i = 0; i < 1000; ++i) ASSERT_FALSE(room.try_reserve(1)) << i;
  room.release(100);
  EXPECT_TRUE(room.try_reserve(50));
  // Refused for entries.
  EXPECT_TRUE(room.try_reserve(50));
  for (int i = 0; i < 1000; ++i) ASSERT_FALSE(room.try_reserve(0)) << i;
  room.release(50);
  room.release(50);
  EXPECT_TRUE(room.try_reserve(60));
  EXPECT_TRUE(room.try_reserve(40)) << "a refused reservation left an entry or bytes behind";
  EXPECT_FALSE(room.try_reserve(0));
}

// Four threads reserve without ever releasing: at most the bound succeeds,
// and the refusals leave nothing behind, so a single thread can then take
// exactly the rest.
TEST(RoomCounter, ConcurrentReservationsNeverPassTheEntryBound) {
  constexpr std::size_t bound = 1000;
  room_counter room(bound, SIZE_MAX / 2);
  std::atomic<std::size_t> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i)
        if (room.try_reserve(1)) admitted.fetch_add(1);
    });
  for (auto& th : threads) th.join();
  ASSERT_LE(admitted.load(), bound);
  std::size_t rest = 0;
  while (room.try_reserve(1)) ++rest;
  EXPECT_EQ(admitted.load() + rest, bound);
}

TEST(RoomCounter, ConcurrentReservationsNeverPassTheByteBound) {
  constexpr std::size_t bound = 10'000;
  room_counter room(SIZE_MAX / 2, bound);
  std::atomic<std::size_t> bytes{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t) + 1);
      for (int i = 0; i < 2000; ++i) {
        const std::size_t cost = 1 + rng() % 16;
        if (room.try_reserve(cost)) bytes.fetch_add(cost);
      }
    });
  for (auto& th : threads) th.join();
  ASSERT_LE(bytes.load(), bound);
  std::size_t rest = 0;
  while (room.try_reserve(1)) ++rest;
  EXPECT_EQ(bytes.load() + rest, bound);
}

// The use it is made for: writers reserve, add to a structure under its
// lock, publish what it holds, then release; a consumer takes entries out.
// The structure never holds more than either bound.
TEST(RoomCounter, BoundsHoldWithHoldUpdatesFromFourThreads) {
  constexpr std::size_t max_entries = 64;
  constexpr std::size_t max_bytes = 600;
  room_counter room(max_entries, max_bytes);
  std::mutex mu;
  std::deque<std::size_t> held;  // the cost of each entry held
  std::size_t held_bytes = 0;
  std::size_t worst_entries = 0, worst_bytes = 0;
  std::atomic<std::size_t> admitted{0}, refused{0};
  std::atomic<bool> stop_consumer{false};

  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t)
    writers.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t) + 11);
      for (int i = 0; i < 20'000; ++i) {
        const std::size_t cost = 1 + rng() % 20;
        if (!room.try_reserve(cost)) {
          refused.fetch_add(1);
          std::this_thread::yield();
          continue;
        }
        admitted.fetch_add(1);
        {
          std::lock_guard lock(mu);
          held.push_back(cost);
          held_bytes += cost;
          worst_entries = std::max(worst_entries, held.size());
          worst_bytes = std::max(worst_bytes, held_bytes);
          room.hold(held.size(), held_bytes);
        }
        room.release(cost);
      }
    });
  std::thread consumer([&] {
    std::mt19937 rng(99);
    while (!stop_consumer.load()) {
      {
        std::lock_guard lock(mu);
        for (std::size_t n = rng() % 8; n > 0 && !held.empty(); --n) {
          held_bytes -= held.front();
          held.pop_front();
        }
        room.hold(held.size(), held_bytes);
      }
      std::this_thread::yield();
    }
  });
  for (auto& w : writers) w.join();
  stop_consumer = true;
  consumer.join();

  EXPECT_LE(worst_entries, max_entries);
  EXPECT_LE(worst_bytes, max_bytes);
  EXPECT_EQ(admitted.load() + refused.load(), 4u * 20'000u);
  EXPECT_GT(admitted.load(), 0u);
  EXPECT_GT(refused.load(), 0u) << "the bounds were never reached, so they were not tested";

  // Everything reserved was released: what remains is what is held.
  std::lock_guard lock(mu);
  std::size_t rest = 0;
  while (room.try_reserve(0)) ++rest;
  EXPECT_EQ(held.size() + rest, max_entries);
}

}  // namespace
}  // namespace storesync::detail
