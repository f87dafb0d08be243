// reconciler on memory stores: exact differences by checksum bisection,
// streaming when most ranges differ, the bounds (differences, time) and
// resuming from `remaining`, cancelling and watching progress, the scan
// fallback for a store without checksums, repair under every source of
// truth, dry and for real, and rebuild resumed from its checkpoints.
#include "storesync/strategy/reconciler.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <span>
#include <stop_token>
#include <string>
#include <vector>

#include "storesync/store/memory_store.hpp"

namespace storesync {
namespace {

std::string key_of(int i) {
  char k[32];
  std::snprintf(k, sizeof k, "user:%06d", i);
  return k;
}

/// `n` rows, the same in both stores.
void fill(memory_store& a, memory_store& b, int n) {
  std::vector<entry> rows;
  for (int i = 0; i < n; ++i) rows.push_back(entry::put(key_of(i), R"({"n":)" + std::to_string(i) + "}", 10));
  ASSERT_TRUE(a.write(rows));
  ASSERT_TRUE(b.write(rows));
}

void put(memory_store& s, const entry& e) { ASSERT_TRUE(s.write(std::span(&e, 1))); }

/// A store with every tier a reconciler reads but no checksum of its own.
class scan_only {
 public:
  explicit scan_only(memory_store& inner) : inner_(inner) {}
  result<std::optional<entry>> read(std::string_view key) { return inner_.read(key); }
  result<write_report> write(std::span<const entry> batch) { return inner_.write(batch); }
  result<std::vector<entry>> scan(const key_range& range, std::string_view after, std::size_t limit) {
    return inner_.scan(range, after, limit);
  }

 private:
  memory_store& inner_;
};
static_assert(scannable_store<scan_only> && !checksum_store<scan_only> && !restorable_store<scan_only>);

TEST(ReconcilerCheck, EqualStoresCostTwoChecksumsAndNoRows) {
  memory_store a, b;
  fill(a, b, 20'000);
  reconciler rec(a, b);
  const auto r = rec.check({});
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r.value().differences.empty());
  EXPECT_TRUE(r.value().complete());
  EXPECT_EQ(r.value().checksums, 2u);
  EXPECT_EQ(r.value().rows_read, 0u);
}

TEST(ReconcilerCheck, FindsEveryKindOfScatteredDifferenceExactlyReadingFewRows) {
  memory_store a, b;
  put(b, entry::put(key_of(9'999), R"({"edited":true})", 10));                 // content, same version
  fill(a, b, 20'000);
  ASSERT_TRUE(b.restore(key_of(17), 10, std::nullopt));                       // only left
  put(b, entry::put("user:zz-extra", "{}", 1));                                // only right
  put(a, entry::put(key_of(5'000), R"({"n":"newer"})", 11));                   // version differs
  put(a, entry::erase(key_of(15'000), 12));                                    // deleted on one side
  reconciler rec(a, b);
  const auto r = rec.check({});
  ASSERT_TRUE(r) << r.error().message();
  const std::vector<difference>& d = r.value().differences;
  ASSERT_EQ(d.size(), 5u);
  EXPECT_EQ(d[0].key, key_of(17));
  EXPECT_EQ(d[0].kind, difference_kind::only_left);
  EXPECT_FALSE(d[0].right);
  EXPECT_EQ(d[1].key, key_of(5'000));
  EXPECT_EQ(d[1].kind, difference_kind::differ);
  EXPECT_EQ(d[1].left->version, 11);
  EXPECT_EQ(d[1].right->version, 10);
  EXPECT_EQ(d[2].key, key_of(9'999));
  EXPECT_EQ(d[2].left->version, d[2].right->version);
  EXPECT_NE(d[2].left->hash, d[2].right->hash);
  EXPECT_EQ(d[3].key, key_of(15'000));
  EXPECT_TRUE(d[3].left->tombstone);
  EXPECT_EQ(d[4].key, "user:zz-extra");
  EXPECT_EQ(d[4].kind, difference_kind::only_right);
  EXPECT_TRUE(r.value().complete());
  // Bisection read a few leaf ranges, not the tables.
  EXPECT_LT(r.value().rows_read, 2u * 5u * 1000u + 100u);
  EXPECT_EQ(r.value().streamed_ranges, 0u);
}

TEST(ReconcilerCheck, TheSameEditOnManyRowsIsReportedRowByRow) {
  memory_store a, b;
  fill(a, b, 10'000);
  // 2,000 rows given one identical edit on one side: the digest sums row
  // hashes that include the key, so no two edits cancel.
  std::vector<entry> edited;
  for (int i = 0; i < 10'000; i += 5) edited.push_back(entry::put(key_of(i), R"({"same":"edit"})", 11));
  ASSERT_TRUE(b.write(edited));
  reconciler rec(a, b);
  const auto r = rec.check({});
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r.value().differences.size(), 2'000u);
  EXPECT_GT(r.value().streamed_ranges, 0u) << "most ranges differ: streamed rather than bisected";
}

TEST(ReconcilerCheck, MaxDifferencesStopsAndRemainingResumesToTheSameAnswer) {
  memory_store a, b;
  fill(a, b, 5'000);
  std::vector<entry> changed;
  for (int i = 3; i < 5'000; i += 97) changed.push_back(entry::put(key_of(i), R"({"x":1})", 11));
  ASSERT_TRUE(b.write(changed));
  reconciler rec(a, b);
  const auto whole = rec.check({}).value();
  ASSERT_EQ(whole.differences.size(), changed.size());

  std::vector<difference> pieces;
  key_range range{};
  int calls = 0;
  for (;;) {
    const auto part = rec.check(range, {.max_differences = 7}).value();
    EXPECT_LE(part.differences.size(), 7u);
    pieces.insert(pieces.end(), part.differences.begin(), part.differences.end());
    ++calls;
    if (part.complete()) break;
    EXPECT_EQ(part.stopped, check_stop::max_differences);
    range = *part.remaining;
  }
  EXPECT_EQ(pieces, whole.differences);
  EXPECT_GE(calls, static_cast<int>(changed.size() / 7));
}

TEST(ReconcilerCheck, MaxTimeStopsPromptlyAndSaysWhatIsLeft) {
  memory_store a, b;
  fill(a, b, 3'000);
  put(b, entry::put(key_of(2'000), "{}", 11));
  // A manual clock that jumps forward on every reading: the first check of
  // the deadline already finds it passed.
  struct jumping_clock {
    using duration = std::chrono::steady_clock::duration;
    using time_point = std::chrono::steady_clock::time_point;
    mutable time_point t{};
    time_point now() const noexcept { return t += std::chrono::seconds(1); }
    void sleep_for(duration d) { t += d; }
  };
  reconciler<memory_store, memory_store, exponential_backoff, aimd_batch_sizer, jumping_clock> rec(a, b);
  const auto r = rec.check({}, {.max_time = std::chrono::milliseconds(1)});
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r.value().stopped, check_stop::max_time);
  ASSERT_TRUE(r.value().remaining);
  EXPECT_EQ(*r.value().remaining, key_range{});
  EXPECT_TRUE(r.value().differences.empty());
  // With no bound the same stores give the difference.
  EXPECT_EQ(rec.check({}).value().differences.size(), 1u);
}

TEST(ReconcilerCheck, AStoreWithoutChecksumsIsComparedByScanning) {
  memory_store a, b;
  fill(a, b, 4'000);
  put(b, entry::put(key_of(1'234), "{}", 11));
  scan_only plain(b);
  reconciler rec(a, plain);
  const auto r = rec.check({key_of(1'000), key_of(3'000)});
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r.value().differences.size(), 1u);
  EXPECT_EQ(r.value().differences[0].key, key_of(1'234));
}

TEST(ReconcilerRepair, NewestWinsInBothDirectionsAndTheStoresEndEqual) {
  memory_store a, b;
  fill(a, b, 2'000);
  put(a, entry::put(key_of(10), R"({"a":"newer"})", 20));
  put(b, entry::put(key_of(20), R"({"b":"newer"})", 20));
  put(b, entry::put("user:only-b", "{}", 3));
  ASSERT_TRUE(a.restore(key_of(30), 10, std::nullopt));  // only in b
  reconciler rec(a, b);
  const auto found = rec.check({}).value();
  ASSERT_EQ(found.differences.size(), 4u);

  const auto dry = rec.repair(found, {.dry_run = true});
  ASSERT_TRUE(dry) << dry.error().message();
  EXPECT_EQ(dry.value().copied_to_right, 1u);
  EXPECT_EQ(dry.value().copied_to_left, 3u);
  EXPECT_EQ(rec.check({}).value().differences.size(), 4u) << "a dry run wrote something";

  const auto fixed = rec.repair(found);
  ASSERT_TRUE(fixed) << fixed.error().message();
  EXPECT_EQ(fixed.value().copied_to_right, 1u);
  EXPECT_EQ(fixed.value().copied_to_left, 3u);
  EXPECT_TRUE(fixed.value().refused.empty());
  EXPECT_EQ(a.checksum({}).value(), b.checksum({}).value());
  EXPECT_EQ(a.read(key_of(20)).value()->value, R"({"b":"newer"})");
  EXPECT_TRUE(rec.check({}).value().differences.empty());
}

TEST(ReconcilerRepair, ANamedTruthOverridesNewerVersionsAndRemovesExtraKeysWithoutClobberingRaces) {
  memory_store a, b;
  put(b, entry::put(key_of(2), R"({"drift":1})", 10));   // same version, other content
  fill(a, b, 1'000);
  put(b, entry::put(key_of(1), R"({"b":"newer"})", 30));  // b newer: left truth restores it back
  put(b, entry::put("user:extra", "{}", 3));             // not in a: removed from b
  reconciler rec(a, b);
  const auto found = rec.check({}).value();
  ASSERT_EQ(found.differences.size(), 3u);
  const auto fixed = rec.repair(found, {.truth = source_of_truth::left});
  ASSERT_TRUE(fixed) << fixed.error().message();
  EXPECT_EQ(fixed.value().copied_to_right, 2u);
  EXPECT_EQ(fixed.value().copied_to_left, 1u);
  EXPECT_EQ(fixed.value().restamped, 1u);
  EXPECT_EQ(fixed.value().removed_from_right, 1u);
  EXPECT_EQ(a.checksum({}).value(), b.checksum({}).value());
  EXPECT_FALSE(b.read("user:extra").value());
  EXPECT_EQ(b.read(key_of(1)).value()->version, 10);
  EXPECT_EQ(b.read(key_of(2)).value()->version, 11);
  EXPECT_EQ(b.read(key_of(2)).value()->value, a.read(key_of(2)).value()->value);

  // A key written again between check and repair is judged as it is now.
  put(b, entry::put(key_of(3), R"({"b":1})", 40));
  const auto again = rec.check({}).value();
  put(a, entry::put(key_of(3), R"({"b":1})", 40));  // equal again before the repair
  const auto raced = rec.repair(again, {.truth = source_of_truth::left});
  ASSERT_TRUE(raced);
  EXPECT_EQ(raced.value().already_equal, 1u);
  EXPECT_EQ(b.read(key_of(3)).value()->version, 40);
}

TEST(ReconcilerRepair, AStoppedRepairWritesWhatItPlannedAndCountsTheKeysLeft) {
  memory_store a, b;
  fill(a, b, 100);
  for (int i : {1, 2, 3}) ASSERT_TRUE(b.restore(key_of(i), 10, std::nullopt));
  reconciler rec(a, b);
  const auto found = rec.check({}).value();
  ASSERT_EQ(found.differences.size(), 3u);
  std::stop_source cancel;
  cancel.request_stop();
  const auto none = rec.repair(found, {.truth = source_of_truth::left, .stop = cancel.get_token()});
  ASSERT_TRUE(none);
  EXPECT_EQ(none.value().unvisited, 3u);
  EXPECT_EQ(none.value().copied_to_right, 0u);
  EXPECT_FALSE(b.read(key_of(1)).value());
  const auto all = rec.repair(found, {.truth = source_of_truth::left});
  ASSERT_TRUE(all);
  EXPECT_EQ(all.value().unvisited, 0u);
  EXPECT_EQ(all.value().copied_to_right, 3u);
}

TEST(ReconcilerRepair, AStoreThatCannotRestoreIsRefusedNotForced) {
  memory_store a, b;
  fill(a, b, 100);
  put(b, entry::put(key_of(1), R"({"b":"newer"})", 30));
  scan_only plain(b);
  reconciler rec(a, plain);
  const auto found = rec.check({}).value();
  ASSERT_EQ(found.differences.size(), 1u);
  const auto fixed = rec.repair(found, {.truth = source_of_truth::left});
  ASSERT_TRUE(fixed) << fixed.error().message();
  ASSERT_EQ(fixed.value().refused.size(), 1u);
  EXPECT_EQ(fixed.value().refused[0].key, key_of(1));
  EXPECT_NE(fixed.value().refused[0].why.message().find("not a restorable_store"), std::string::npos);
  EXPECT_EQ(b.read(key_of(1)).value()->version, 30) << "a refused repair changed the store";
}

TEST(ReconcilerCheck, ACancelledCheckStopsAtOnceAndSaysWhatIsLeft) {
  memory_store a, b;
  fill(a, b, 5'000);
  put(b, entry::put(key_of(42), R"({"b":1})", 11));
  std::stop_source cancel;
  cancel.request_stop();
  reconciler rec(a, b);
  const auto r = rec.check({}, {.stop = cancel.get_token()});
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r.value().stopped, check_stop::cancelled);
  ASSERT_TRUE(r.value().remaining);
  EXPECT_EQ(*r.value().remaining, key_range{});
  EXPECT_EQ(r.value().checksums, 0u);
  const auto rest = rec.check(*r.value().remaining);
  ASSERT_TRUE(rest);
  EXPECT_EQ(rest.value().differences.size(), 1u);
}

TEST(ReconcilerCheck, ProgressCountsWhatTheReportCounts) {
  memory_store a, b;
  fill(a, b, 20'000);
  for (int i : {3, 7'000, 19'999}) put(b, entry::put(key_of(i), R"({"b":1})", 11));
  reconcile_progress progress;
  reconciler rec(a, b);
  const auto r = rec.check({}, {.progress = &progress});
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(progress.differences.load(), 3u);
  EXPECT_EQ(progress.checksums.load(), r.value().checksums);
  EXPECT_EQ(progress.rows_read.load(), r.value().rows_read);
  EXPECT_GT(progress.ranges.load(), 1u);
  const auto fixed = rec.repair(r.value(), {.progress = &progress});
  ASSERT_TRUE(fixed);
  EXPECT_EQ(progress.repaired.load(), 3u);
}

TEST(ReconcilerRebuild, MakesTheRightSideEqualInBatchesCheckpointingEachOne) {
  memory_store a, b;
  fill(a, b, 2'500);
  ASSERT_TRUE(b.restore(key_of(10), 10, std::nullopt));                 // missing on the right
  put(b, entry::put(key_of(20), R"({"b":"newer"})", 30));               // newer on the right
  put(b, entry::put("user:zz-extra", "{}", 1));                         // only on the right
  put(a, entry::put(key_of(2'000), R"({"a":"newer"})", 11));            // newer on the left
  std::vector<std::string> checkpoints;
  reconciler rec(a, b);
  const auto r = rec.rebuild({}, {.batch_size = 1000, .on_batch = [&](std::string_view last) -> result<void> {
                                    checkpoints.emplace_back(last);
                                    return success();
                                  }});
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r.value().complete);
  EXPECT_EQ(r.value().repaired.copied_to_right, 3u);
  EXPECT_EQ(r.value().repaired.removed_from_right, 1u);
  EXPECT_TRUE(r.value().repaired.refused.empty());
  ASSERT_EQ(checkpoints.size(), 3u);  // 2,501 keys: 1000, 2000, then the rest
  EXPECT_EQ(checkpoints[0], key_of(999));
  EXPECT_EQ(checkpoints.back(), "user:zz-extra");
  EXPECT_TRUE(rec.check({}).value().differences.empty());
}

TEST(ReconcilerRebuild, ResumesAfterItsCheckpointAndStopsWhenCancelled) {
  memory_store a, b;
  fill(a, b, 3'000);
  for (int i : {100, 1'500, 2'900}) ASSERT_TRUE(b.restore(key_of(i), 10, std::nullopt));
  std::stop_source cancel;
  std::string saved;
  reconciler rec(a, b);
  // Cancelled after its first batch: that batch is settled and saved.
  const auto first = rec.rebuild({}, {.batch_size = 1000, .on_batch = [&](std::string_view last) -> result<void> {
                                        saved = last;
                                        cancel.request_stop();
                                        return success();
                                      },
                                      .stop = cancel.get_token()});
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_FALSE(first.value().complete);
  EXPECT_EQ(first.value().repaired.copied_to_right, 1u);
  EXPECT_EQ(saved, key_of(999));
  EXPECT_FALSE(b.read(key_of(1'500)).value()) << "the rebuild went on after it was cancelled";
  // A rebuild from the checkpoint covers the rest, and only the rest.
  const auto rest = rec.rebuild({}, {.batch_size = 1000, .resume_after = saved});
  ASSERT_TRUE(rest) << rest.error().message();
  EXPECT_TRUE(rest.value().complete);
  EXPECT_EQ(rest.value().repaired.copied_to_right, 2u);
  EXPECT_EQ(rest.value().rows_read, 2u * 2'000 - 2);
  EXPECT_TRUE(rec.check({}).value().differences.empty());
}

TEST(ReconcilerRebuild, DryRunCountsAndWritesNothing) {
  memory_store a, b;
  fill(a, b, 50);
  memory_store empty;
  reconciler rec(a, empty);
  const auto r = rec.rebuild({}, {.dry_run = true});
  ASSERT_TRUE(r);
  EXPECT_EQ(r.value().repaired.copied_to_right, 50u);
  EXPECT_FALSE(empty.read(key_of(0)).value());
}

}  // namespace
}  // namespace storesync
