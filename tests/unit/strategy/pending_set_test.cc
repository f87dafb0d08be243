#include "storesync/strategy/detail/pending_set.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

namespace storesync::detail {
namespace {

using time_point = std::chrono::steady_clock::time_point;
using set = pending_set<time_point>;

time_point at(int ms) { return time_point(std::chrono::milliseconds(ms)); }

TEST(PendingSet, NewestVersionWinsAndTheOldestObligationStays) {
  set s;
  EXPECT_FALSE(s.upsert(entry::put("k", "1", 1), 10, at(0)));
  EXPECT_TRUE(s.upsert(entry::put("k", "3", 3), 11, at(5)));
  EXPECT_TRUE(s.upsert(entry::put("k", "2", 2), 12, at(6)));  // older: ignored
  ASSERT_NE(s.find("k"), nullptr);
  EXPECT_EQ(s.find("k")->e.version, 3);
  EXPECT_EQ(s.find("k")->first, 10u) << "the journal must replay from the first write";
  EXPECT_EQ(s.min_first_lsn(), 10u);
  EXPECT_EQ(s.oldest_since(), at(0));
  EXPECT_EQ(s.size(), 1u);
  EXPECT_EQ(s.bytes(), set::footprint(entry::put("k", "3", 3)));
}

TEST(PendingSet, MovesOldestFirstUpToTheCutoffAndSkipsHeldKeys) {
  set pending, flight;
  pending.upsert(entry::put("a", "1", 1), 1, at(0));
  pending.upsert(entry::put("b", "1", 1), 2, at(10));
  pending.upsert(entry::put("c", "1", 1), 3, at(20));
  EXPECT_EQ(pending.move_to(flight, 10, at(10)), 2u);
  EXPECT_EQ(flight.size(), 2u);
  EXPECT_EQ(pending.size(), 1u);
  EXPECT_EQ(flight.count_through(2), 2u);
  EXPECT_EQ(pending.min_first_lsn(), 3u);

  // "a" is written again while it is in flight: it waits for the next batch.
  pending.upsert(entry::put("a", "2", 2), 4, at(30));
  EXPECT_EQ(pending.move_to(flight, 10), 1u) << "c moves, then a stops the batch";
  EXPECT_NE(pending.find("a"), nullptr);
  EXPECT_EQ(flight.find("a")->e.version, 1);
  std::vector<const pending_item<time_point>*> items;
  flight.items_into(items);
  std::vector<std::string> keys;
  for (const auto* i : items) keys.push_back(i->e.key);
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (std::vector<std::string>{"a", "b", "c"}));
}

TEST(PendingSet, RestoreKeepsTheOlderObligationAndTheNewerValue) {
  set s;
  s.upsert(entry::put("k", "5", 5), 20, at(50));
  s.restore(pending_item<time_point>{entry::put("k", "4", 4), 7, 9, at(1)});
  EXPECT_EQ(s.find("k")->e.version, 5);
  EXPECT_EQ(s.find("k")->first, 7u);
  EXPECT_EQ(s.min_first_lsn(), 7u);
  EXPECT_EQ(s.oldest_since(), at(1));
  s.restore(pending_item<time_point>{entry::put("n", "1", 1), 3, 3, at(0)});
  EXPECT_EQ(s.size(), 2u);
  EXPECT_EQ(s.min_first_lsn(), 3u);
}

TEST(PendingSet, DeliveredNodesAreReusedWithTheirValuesReplaced) {
  set pending, flight;
  for (int i = 0; i < 4; ++i) pending.upsert(entry::put("k" + std::to_string(i), "1", 1), i + 1, at(0));
  EXPECT_EQ(pending.move_to(flight, 10), 4u);
  set::node_pool pool;
  flight.clear_into(pool, 3);  // keeps at most 3
  EXPECT_TRUE(flight.empty());
  EXPECT_EQ(flight.bytes(), 0u);
  EXPECT_EQ(pool.items.size(), 3u);
  pending.adopt(pool, 8, 64);
  EXPECT_EQ(pending.pooled(), 3u);
  EXPECT_TRUE(pool.items.empty());

  // Reused nodes carry nothing over: key, value, version, lsns, time.
  EXPECT_FALSE(pending.upsert(entry::put("new", R"({"v":2})", 2), 9, at(40)));
  EXPECT_EQ(pending.pooled(), 2u);
  ASSERT_NE(pending.find("new"), nullptr);
  EXPECT_EQ(pending.find("new")->e, entry::put("new", R"({"v":2})", 2));
  EXPECT_EQ(pending.find("new")->first, 9u);
  EXPECT_EQ(pending.find("new")->last, 9u);
  EXPECT_EQ(pending.find("k0"), nullptr);
  EXPECT_EQ(pending.min_first_lsn(), 9u);
  EXPECT_EQ(pending.oldest_since(), at(40));
  pending.restore(pending_item<time_point>{entry::put("back", "3", 3), 5, 6, at(7)});
  EXPECT_EQ(pending.pooled(), 1u);
  EXPECT_EQ(pending.min_first_lsn(), 5u);
  EXPECT_EQ(pending.size(), 2u);
  EXPECT_EQ(pending.bytes(), set::footprint(entry::put("new", R"({"v":2})", 2)) +
                                 set::footprint(entry::put("back", "3", 3)));

  // Oversized values are freed, not pooled.
  pending.upsert(entry::put("big", "\"" + std::string(set::max_pooled_value, 'x') + "\"", 1), 10, at(50));
  ASSERT_EQ(pending.move_to(flight, 10), 3u);
  flight.clear_into(pool, 100);
  EXPECT_EQ(pool.items.size(), 2u);
}

}  // namespace
}  // namespace storesync::detail
