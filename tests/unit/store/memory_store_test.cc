#include "storesync/store/memory_store.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace storesync {
namespace {

/// Fixed-width keys, so every entry of a test has the same footprint.
std::string key_of(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "k%05d", i);
  return buf;
}

void put(memory_store& s, const std::string& key, version_type v, std::string value = "1") {
  const entry e = entry::put(key, std::move(value), v);
  ASSERT_TRUE(s.write(std::span(&e, 1)));
}

/// What one entry costs in `bytes()`, measured on a store holding only it.
std::size_t footprint(const entry& e) {
  memory_store s;
  EXPECT_TRUE(s.write(std::span(&e, 1)));
  return s.bytes();
}

std::size_t footprint_of_key(int i) { return footprint(entry::put(key_of(i), "1", 1)); }

bool holds(const memory_store& s, const std::string& key) { return s.read(key).value().has_value(); }

TEST(MemoryStoreCache, UnboundedNeverEvicts) {
  memory_store s;
  constexpr int n = 1000;
  for (int i = 0; i < n; ++i) {
    put(s, key_of(i), 1);
    s.release(key_of(i), 1);
  }
  for (int i = 0; i < n; ++i) put(s, key_of(i), 2, "22");
  EXPECT_EQ(s.evicted(), 0u);
  EXPECT_EQ(s.max_evicted_version(), 0);
  EXPECT_EQ(s.size(), static_cast<std::size_t>(n));
  EXPECT_EQ(s.bytes(), n * footprint(entry::put(key_of(0), "22", 2)));
  for (int i = 0; i < n; ++i) EXPECT_EQ(s.read(key_of(i)).value()->version, 2) << key_of(i);
}

TEST(MemoryStoreCache, NeverEvictsPinnedEntries) {
  memory_store s({.max_bytes = 1});
  constexpr int n = 500;
  for (int i = 0; i < n; ++i) put(s, key_of(i), i + 1);
  EXPECT_EQ(s.evicted(), 0u);
  EXPECT_EQ(s.size(), static_cast<std::size_t>(n));
  EXPECT_EQ(s.bytes(), n * footprint_of_key(0)) << "held over the cap, counted in full";
  for (int i = 0; i < n; ++i) EXPECT_TRUE(holds(s, key_of(i))) << key_of(i);
}

TEST(MemoryStoreCache, EvictsReleasedEntriesToGetUnderTheCap) {
  const std::size_t f = footprint_of_key(0);
  memory_store s({.max_bytes = 3 * f});
  for (int i = 0; i < 6; ++i) put(s, key_of(i), i + 1);
  EXPECT_EQ(s.size(), 6u) << "all pinned, so held over the cap";
  for (int i = 0; i < 6; ++i) s.release(key_of(i), i + 1);
  EXPECT_EQ(s.evicted(), 0u) << "release alone evicts nothing";

  put(s, key_of(6), 7);
  // 7 entries, room for 3: exactly 4 released entries go, no more.
  EXPECT_EQ(s.evicted(), 4u);
  EXPECT_EQ(s.size(), 3u);
  EXPECT_LE(s.bytes(), 3 * f);
  EXPECT_TRUE(holds(s, key_of(6))) << "the new, pinned entry was evicted";
  std::size_t held = 0;
  for (int i = 0; i < 7; ++i) held += holds(s, key_of(i)) ? 1 : 0;
  EXPECT_EQ(held, 3u);
}

TEST(MemoryStoreCache, ReleaseWithAStaleVersionDoesNotUnpin) {
  memory_store s({.max_bytes = 1});
  put(s, "a", 1);
  put(s, "a", 2);
  s.release("a", 1);  // version 2 is not safe yet
  s.release("a", 3);  // nor is a version never written
  put(s, "b", 1);
  EXPECT_EQ(s.evicted(), 0u);
  EXPECT_EQ(s.read("a").value()->version, 2);

  s.release("a", 2);
  put(s, "c", 1);
  EXPECT_EQ(s.evicted(), 1u);
  EXPECT_FALSE(holds(s, "a"));
  EXPECT_EQ(s.max_evicted_version(), 2);
}

TEST(MemoryStoreCache, ANewerWriteRepins) {
  memory_store s({.max_bytes = 1});
  put(s, "a", 1);
  s.release("a", 1);
  put(s, "a", 2);  // pins again, and is itself the write that finds the store over its cap
  put(s, "b", 1);
  EXPECT_EQ(s.evicted(), 0u);
  ASSERT_TRUE(holds(s, "a"));
  EXPECT_EQ(s.read("a").value()->version, 2);

  s.release("a", 1);  // the old version no longer names the entry
  put(s, "c", 1);
  EXPECT_EQ(s.evicted(), 0u);
  EXPECT_TRUE(holds(s, "a"));
}

TEST(MemoryStoreCache, AWriteTheGuardRejectsDoesNotRepin) {
  memory_store s({.max_bytes = 1});
  put(s, "a", 5);
  put(s, "b", 7);
  s.release("a", 5);
  s.release("b", 7);
  ASSERT_EQ(s.evicted(), 0u);
  const std::vector<entry> rejected = {entry::put("a", "1", 5), entry::put("b", "1", 3)};
  const auto report = s.write(rejected).value();
  EXPECT_EQ(report.unchanged, 1u);
  EXPECT_EQ(report.stale, 1u);
  EXPECT_EQ(s.evicted(), 2u) << "a replayed or stale write pinned the entry again";
  EXPECT_EQ(s.size(), 0u);
}

TEST(MemoryStoreCache, MaxEvictedVersionIsTheLargestEvicted) {
  memory_store s({.max_bytes = 1});
  EXPECT_EQ(s.max_evicted_version(), 0);
  put(s, "a", 5);
  put(s, "b", 9);  // stays pinned: never evicted, so never counted
  put(s, "c", 3);
  put(s, "d", 4);
  s.release("a", 5);
  s.release("c", 3);
  s.release("d", 4);
  put(s, "e", 1);
  EXPECT_EQ(s.evicted(), 3u);
  EXPECT_EQ(s.max_evicted_version(), 5);

  // A smaller version evicted later does not lower it.
  s.release("e", 1);
  put(s, "f", 2);
  EXPECT_EQ(s.evicted(), 4u);
  EXPECT_EQ(s.max_evicted_version(), 5);
}

TEST(MemoryStoreCache, RecentlyReadEntriesSurviveASweepOverUnreadOnes) {
  const std::size_t f = footprint_of_key(0);
  memory_store s({.max_bytes = 4 * f});
  for (int i = 0; i < 4; ++i) {
    put(s, key_of(i), 1);
    s.release(key_of(i), 1);
  }
  ASSERT_EQ(s.evicted(), 0u);
  // Read the first and third: the hand meets each of them before an unread one.
  EXPECT_TRUE(holds(s, key_of(0)));
  EXPECT_TRUE(holds(s, key_of(2)));

  put(s, key_of(4), 1);
  put(s, key_of(5), 1);
  EXPECT_EQ(s.evicted(), 2u);
  EXPECT_TRUE(holds(s, key_of(0)));
  EXPECT_FALSE(holds(s, key_of(1)));
  EXPECT_TRUE(holds(s, key_of(2)));
  EXPECT_FALSE(holds(s, key_of(3)));
}

TEST(MemoryStoreCache, ASecondChanceIsSpentOnce) {
  const std::size_t f = footprint_of_key(0);
  memory_store s({.max_bytes = 2 * f});
  for (int i = 0; i < 2; ++i) {
    put(s, key_of(i), 1);
    s.release(key_of(i), 1);
  }
  EXPECT_TRUE(holds(s, key_of(0)));
  EXPECT_TRUE(holds(s, key_of(1)));
  // Both read: the hand clears both marks, wraps and evicts the first it meets.
  put(s, key_of(2), 1);
  EXPECT_EQ(s.evicted(), 1u);
  EXPECT_FALSE(holds(s, key_of(0)));
  EXPECT_TRUE(holds(s, key_of(1)));
}

TEST(MemoryStoreCache, BytesStayWithinOneEntryOfTheCap) {
  const std::size_t f = footprint_of_key(0);
  const std::size_t cap = 50 * f + f / 2;
  memory_store s({.max_bytes = cap});
  const int n = static_cast<int>(10 * cap / f) + 1;
  std::size_t worst = 0;
  for (int i = 0; i < n; ++i) {
    put(s, key_of(i), i + 1);
    worst = std::max(worst, s.bytes());
    s.release(key_of(i), i + 1);
    if (i % 7 == 0) {
      EXPECT_TRUE(holds(s, key_of(i)));  // a few second chances on the way
    }
  }
  EXPECT_LE(worst, cap + f);
  EXPECT_LE(s.bytes(), cap);
  EXPECT_EQ(s.size(), 50u);
  EXPECT_EQ(s.evicted(), static_cast<std::uint64_t>(n) - 50);
  EXPECT_TRUE(holds(s, key_of(n - 1)));
}

TEST(MemoryStoreCache, BytesFollowOverwritesAndEvictions) {
  memory_store s({.max_bytes = 1});
  put(s, "a", 1, "1");
  const std::size_t one = s.bytes();
  EXPECT_EQ(one, footprint(entry::put("a", "1", 1)));
  put(s, "a", 2, "12345");
  EXPECT_EQ(s.bytes(), one + 4);
  const entry gone = entry::erase("a", 3);
  ASSERT_TRUE(s.write(std::span(&gone, 1)));
  EXPECT_EQ(s.bytes(), one - 1);

  put(s, "b", 1, "1");
  EXPECT_EQ(s.bytes(), 2 * one - 1);
  s.release("a", 3);
  s.release("b", 1);
  put(s, "c", 1, "1");
  EXPECT_EQ(s.evicted(), 2u);
  EXPECT_EQ(s.bytes(), one) << "only the pinned entry remains";
}

TEST(MemoryStoreCache, TombstonesAreEvictedOnceReleased) {
  memory_store s({.max_bytes = 1});
  const entry gone = entry::erase("t", 3);
  ASSERT_TRUE(s.write(std::span(&gone, 1)));
  put(s, "u", 1);
  EXPECT_TRUE(s.read("t").value()->tombstone) << "a pinned tombstone is held";
  s.release("t", 3);
  put(s, "v", 1);
  EXPECT_EQ(s.evicted(), 1u);
  EXPECT_FALSE(holds(s, "t"));
  EXPECT_EQ(s.max_evicted_version(), 3);
}

TEST(MemoryStoreCache, EvictionKeepsScanAndChangesAfterConsistent) {
  memory_store s({.max_bytes = 1});
  memory_store reference;  // what the cache should still hold
  for (int i = 0; i < 20; ++i) {
    const entry e = entry::put(key_of(i), std::to_string(i), i + 1);
    ASSERT_TRUE(s.write(std::span(&e, 1)));
    if (i % 2 == 0) {
      s.release(e.key, e.version);
    } else {
      ASSERT_TRUE(reference.write(std::span(&e, 1)));
    }
  }
  const entry trigger = entry::put("z", "0", 21);
  ASSERT_TRUE(s.write(std::span(&trigger, 1)));
  ASSERT_TRUE(reference.write(std::span(&trigger, 1)));
  ASSERT_EQ(s.evicted(), 10u);

  const auto expected = reference.changes_after({}, 100).value();
  ASSERT_EQ(expected.size(), 11u);
  EXPECT_EQ(s.changes_after({}, 100).value(), expected);
  // Resuming from the mark of an evicted entry still starts right after it.
  const auto resumed = s.changes_after({3, key_of(2)}, 100).value();
  ASSERT_FALSE(resumed.empty());
  EXPECT_EQ(resumed.front().key, key_of(3));
  EXPECT_EQ(resumed.size(), 10u);
  // Paging through changes_after sees each held entry once.
  std::vector<entry> paged;
  watermark mark;
  for (;;) {
    const auto page = s.changes_after(mark, 3).value();
    paged.insert(paged.end(), page.begin(), page.end());
    if (page.size() < 3) break;
    mark = {page.back().version, page.back().key};
  }
  EXPECT_EQ(paged, expected);

  EXPECT_EQ(s.scan({}, "", 100).value(), reference.scan({}, "", 100).value());
  EXPECT_EQ(s.scan({}, key_of(4), 100).value(), reference.scan({}, key_of(4), 100).value());
  EXPECT_EQ(s.checksum({}).value(), reference.checksum({}).value());
  EXPECT_EQ(s.size(), reference.size());
}

TEST(MemoryStoreCache, WriteWithCheckpointEvictsAndKeepsTheCheckpoint) {
  memory_store s({.max_bytes = 1});
  put(s, "a", 1);
  s.release("a", 1);
  const entry e = entry::put("b", "1", 2);
  ASSERT_TRUE(s.write_with_checkpoint(std::span(&e, 1), {"cp", "2"}));
  EXPECT_EQ(s.evicted(), 1u);
  EXPECT_FALSE(holds(s, "a"));
  EXPECT_EQ(s.load_checkpoint("cp").value(), std::optional<std::string>{"2"});
}

TEST(MemoryStoreCache, SweepIsBoundedPerWriteAndResumesWhereItStopped) {
  memory_store s({.max_bytes = 1});
  constexpr int n = 10000;
  for (int i = 0; i < n; ++i) put(s, key_of(i), 1);
  s.release(key_of(n - 1), 1);  // the only evictable entry, last in key order

  put(s, "a00000", 1);
  EXPECT_EQ(s.evicted(), 0u) << "one write swept the whole store of pinned entries";
  int writes = 1;
  while (s.evicted() == 0 && writes < n) put(s, "a" + key_of(writes++), 1);
  EXPECT_EQ(s.evicted(), 1u);
  EXPECT_FALSE(holds(s, key_of(n - 1)));
  EXPECT_LT(writes, n / 4) << "the hand did not resume where the last sweep stopped";
}

TEST(MemoryStoreCache, ConcurrentReadersSeeOnlyWholeEntries) {
  const std::size_t f = footprint(entry::put(key_of(0), std::to_string(0), 1));
  const std::size_t cap = 64 * f;
  memory_store s({.max_bytes = cap});
  constexpr int n = 5000;
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  auto reader = [&](std::uint32_t seed) {
    std::uint32_t x = seed;
    while (!done.load()) {
      x = x * 1103515245u + 12345u;
      const int i = static_cast<int>(x >> 8) % n;
      const auto got = s.read(key_of(i)).value();
      if (got && got->value != std::to_string(i)) bad.fetch_add(1);
      const auto page = s.changes_after({}, 16).value();
      for (const entry& e : page) {
        if (e.key != key_of(std::stoi(e.value))) bad.fetch_add(1);
      }
    }
  };
  std::thread r1(reader, 1u), r2(reader, 2u);
  for (int i = 0; i < n; ++i) {
    const entry e = entry::put(key_of(i), std::to_string(i), i + 1);
    ASSERT_TRUE(s.write(std::span(&e, 1)));
    s.release(e.key, e.version);
  }
  done = true;
  r1.join();
  r2.join();
  EXPECT_EQ(bad.load(), 0);
  // No bound on bytes here: readers mark entries as fast as a write's
  // bounded sweep clears them, as often as the scheduler lets them (the
  // bound is checked without readers above). Eviction still happened.
  EXPECT_GT(s.evicted(), static_cast<std::uint64_t>(n / 2));
  EXPECT_EQ(s.evicted() + s.size(), static_cast<std::uint64_t>(n));
}

TEST(MemoryStoreCache, RestoreCountsTheRestoredBytesAndKeepsThemPinned) {
  memory_store s({.max_bytes = 1});
  put(s, "a", 1, "1");
  const std::size_t one = s.bytes();
  s.release("a", 1);
  put(s, "a", 2, "12345");  // the write to undo pins "a" again
  ASSERT_EQ(s.bytes(), one + 4);
  ASSERT_TRUE(s.restore("a", 2, entry::put("a", "1", 1)));
  EXPECT_EQ(s.bytes(), one) << "the undone value is still counted";
  EXPECT_EQ(s.max_version().value(), 1);
  const auto changes = s.changes_after({}, 10).value();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].version, 1) << "the (version, key) index still names the undone version";

  put(s, "b", 1);  // over the cap, but the restored entry is not durable yet
  EXPECT_EQ(s.evicted(), 0u);
  EXPECT_TRUE(holds(s, "a"));
  s.release("a", 1);  // its version now names the restored entry
  put(s, "c", 1);
  EXPECT_EQ(s.evicted(), 1u);
  EXPECT_FALSE(holds(s, "a"));
  EXPECT_EQ(s.max_evicted_version(), 1);
}

TEST(MemoryStoreCache, RestoringAReleasedEntryPinsItAgain) {
  memory_store s({.max_bytes = 1});
  put(s, "a", 1);
  put(s, "a", 2);
  s.release("a", 2);  // version 2 reached the slow store, then its undo began
  ASSERT_TRUE(s.restore("a", 2, entry::put("a", "1", 1)));
  put(s, "b", 1);
  EXPECT_EQ(s.evicted(), 0u) << "the restored entry was evicted before it was released";
  s.release("a", 2);  // names a version the store no longer holds
  put(s, "c", 1);
  EXPECT_EQ(s.evicted(), 0u);
  s.release("a", 1);
  put(s, "d", 1);
  EXPECT_EQ(s.evicted(), 1u);
}

TEST(MemoryStoreCache, RemovingAKeyFreesItsBytesAndIsNoEviction) {
  memory_store s({.max_bytes = 1});
  put(s, "keep", 1);
  const std::size_t one = s.bytes();
  put(s, "gone", 4);
  s.release("gone", 4);
  ASSERT_TRUE(s.restore("gone", 4, std::nullopt));
  EXPECT_EQ(s.bytes(), one);
  EXPECT_EQ(s.size(), 1u);
  EXPECT_EQ(s.evicted(), 0u);
  EXPECT_EQ(s.max_evicted_version(), 0) << "a miss must stay authoritative";
  EXPECT_FALSE(holds(s, "gone"));
  put(s, "more", 1);  // nothing released is left to evict
  EXPECT_EQ(s.evicted(), 0u);
}

TEST(MemoryStoreCache, SweepGoesOnAfterTheRowUnderTheHandIsRemoved) {
  memory_store s({.max_bytes = 1});
  for (const char* key : {"a", "b", "c"}) put(s, key, 1);
  for (const char* key : {"a", "b", "c"}) s.release(key, 1);
  put(s, "d", 1);  // evicts a, b and c; the hand stops at "d"
  ASSERT_EQ(s.evicted(), 3u);
  ASSERT_TRUE(s.restore("d", 1, std::nullopt));
  put(s, "e", 1);
  s.release("e", 1);
  put(s, "f", 1);
  EXPECT_EQ(s.evicted(), 4u);
  EXPECT_FALSE(holds(s, "e"));
  EXPECT_TRUE(holds(s, "f"));
  EXPECT_EQ(s.size(), 1u);
}

TEST(MemoryStoreCache, AnEvictedKeyCannotBeRestored) {
  memory_store s({.max_bytes = 1});
  put(s, "a", 2);
  s.release("a", 2);
  put(s, "b", 1);
  ASSERT_FALSE(holds(s, "a"));
  auto r = s.restore("a", 2, entry::put("a", "1", 1));
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error() == errc::version_conflict) << r.error().message();
  EXPECT_FALSE(holds(s, "a"));
}

}  // namespace
}  // namespace storesync
