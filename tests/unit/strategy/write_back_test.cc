#include "storesync/strategy/write_back.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "storesync/store/faulty_store.hpp"
#include "storesync/store/memory_store.hpp"

namespace {

using storesync::entry;
using storesync::fixed_batch_sizer;
using storesync::memory_store;
using storesync::no_retry;
using storesync::watermark;
using storesync::write_back_status;

// A change source over a list of rows, duplicates and all (a query's
// output may hold a key twice; a store never does).
struct rows_source {
  std::vector<entry> rows;  // kept sorted by (version, key)
  std::size_t reads = 0;

  void add(entry e) {
    rows.push_back(std::move(e));
    std::stable_sort(rows.begin(), rows.end(), [](const entry& a, const entry& b) {
      return std::tie(a.version, a.key) < std::tie(b.version, b.key);
    });
  }
  storesync::result<std::vector<entry>> changes_after(const watermark& mark, std::size_t limit) {
    ++reads;
    std::vector<entry> out;
    for (const entry& e : rows) {
      if (out.size() == limit) break;
      if (watermark{e.version, e.key} > mark) out.push_back(e);
    }
    return out;
  }
};
static_assert(storesync::change_source<rows_source>);

template <class Source = memory_store, class Sink = memory_store>
struct fixture {
  using strategy = storesync::write_back<Source, Sink, memory_store, no_retry, fixed_batch_sizer>;
  memory_store runs, letters;
  strategy wb;
  explicit fixture(std::size_t batch = 100, storesync::write_back_options o = {})
      : wb(runs, letters, std::move(o), {}, fixed_batch_sizer{batch}) {}

  storesync::write_back_report run(Source& src, Sink& sink, storesync::write_back_stage_options opts = {}) {
    std::vector<typename strategy::stage> stages{{.name = "items", .source = src, .sink = sink, .options = opts}};
    auto r = wb.run(stages);
    EXPECT_TRUE(r) << r.error().message();
    return std::move(r).value();
  }
};

std::string doc(int i, int rev = 0) {
  return R"({"n":)" + std::to_string(i) + R"(,"rev":)" + std::to_string(rev) + "}";
}

void fill(memory_store& s, int n, storesync::version_type version = 0) {
  std::vector<entry> batch;
  for (int i = 0; i < n; ++i)
    batch.push_back(entry::put("k" + std::to_string(100000 + i), doc(i), version ? version : 1000 + i));
  ASSERT_TRUE(s.write(batch));
}

std::size_t count_rows(memory_store& s) {
  auto all = s.scan({}, {}, 1'000'000);
  return all ? all.value().size() : 0;
}

TEST(WriteBack, FirstRunWritesAllThenNothingThenOnlyRealChanges) {
  memory_store src, sink;
  fill(src, 1000);
  fixture<> f(64);
  const auto first = f.run(src, sink);
  ASSERT_EQ(first.stages.size(), 1u);
  EXPECT_EQ(first.stages[0].counts.read, 1000u);
  EXPECT_EQ(first.stages[0].counts.applied, 1000u);
  EXPECT_TRUE(first.stages[0].counts.complete());
  EXPECT_EQ(first.status(), write_back_status::succeeded);
  EXPECT_EQ(count_rows(sink), 1000u);

  const auto second = f.run(src, sink);
  EXPECT_EQ(second.stages[0].counts.read, 0u);
  EXPECT_EQ(second.stages[0].counts.applied, 0u);
  EXPECT_EQ(second.stages[0].from, first.stages[0].to);

  // 10 real updates, 10 rows whose version moved but whose content did not.
  std::vector<entry> changes;
  for (int i = 0; i < 10; ++i) changes.push_back(entry::put("k" + std::to_string(100000 + i), doc(i, 1), 5000 + i));
  for (int i = 10; i < 20; ++i) changes.push_back(entry::put("k" + std::to_string(100000 + i), doc(i), 5000 + i));
  ASSERT_TRUE(src.write(changes));
  const auto third = f.run(src, sink);
  EXPECT_EQ(third.stages[0].counts.read, 20u);
  EXPECT_EQ(third.stages[0].counts.applied, 10u);
  EXPECT_EQ(third.stages[0].counts.same_content, 10u);
  EXPECT_EQ(sink.read("k100000").value()->value, doc(0, 1));
  // The touched row keeps the sink's version: nothing was sent for it.
  EXPECT_EQ(sink.read("k100015").value()->version, 1015);
}

TEST(WriteBack, RowsSharingOneVersionAreWrittenExactlyOnceAcrossBatchesAndAStop) {
  memory_store src;
  storesync::faulty_store<memory_store> sink;
  fill(src, 5000, 777);  // 5,000 rows, one version
  std::atomic<bool> stop{false};
  std::size_t batches = 0;
  std::vector<std::chrono::nanoseconds> durations;  // as each batch saw its stage's
  fixture<memory_store, storesync::faulty_store<memory_store>> f(
      1000, {.stop = &stop, .on_batch = [&](const auto&, const storesync::write_back_stage_report& s) {
               durations.push_back(s.duration);
               EXPECT_GT(s.rows_per_second(), 0.0) << "the rate is live, not 0 until the stage ends";
               if (++batches == 2) stop = true;
             }});
  const auto cut = f.run(src, sink);
  ASSERT_EQ(durations.size(), 2u);
  EXPECT_GT(durations[0].count(), 0);
  EXPECT_LE(durations[0], durations[1]);
  EXPECT_LE(durations[1], cut.stages[0].duration);
  EXPECT_EQ(cut.status(), write_back_status::interrupted);
  EXPECT_EQ(cut.stages[0].counts.applied, 2000u);
  EXPECT_EQ(count_rows(sink.inner()), 2000u);
  EXPECT_EQ(cut.stages[0].to.version, 777);

  stop = false;
  const auto rest = f.run(src, sink);
  EXPECT_EQ(rest.status(), write_back_status::succeeded);
  EXPECT_EQ(rest.stages[0].counts.read, 3000u);
  EXPECT_EQ(rest.stages[0].counts.applied, 3000u);
  EXPECT_EQ(count_rows(sink.inner()), 5000u);
}

TEST(WriteBack, LookbackPicksUpLateRowsAndWithoutItTheyAreMissed) {
  for (const storesync::version_type lookback : {0, 500}) {
    memory_store src, sink;
    fill(src, 100);  // versions 1000..1099
    fixture<> f(30);
    f.run(src, sink, {.lookback = lookback});
    // Two rows committed late, behind the watermark (1099), inside the window.
    ASSERT_TRUE(src.write(std::vector<entry>{entry::put("late-a", doc(1), 900), entry::put("late-b", doc(2), 1050)}));
    const auto next = f.run(src, sink, {.lookback = lookback});
    if (lookback == 0) {
      EXPECT_EQ(next.stages[0].counts.read, 0u);
      EXPECT_FALSE(sink.read("late-b").value());
    } else {
      // The window re-reads 1099 - 500 = 599 onwards: both late rows and
      // the 100 old ones, which the content hash skips.
      EXPECT_EQ(next.stages[0].counts.read, 102u);
      EXPECT_EQ(next.stages[0].counts.applied, 2u);
      EXPECT_EQ(next.stages[0].counts.unchanged, 100u);
      EXPECT_TRUE(sink.read("late-a").value());
      EXPECT_TRUE(sink.read("late-b").value());
      // The watermark never moves back.
      EXPECT_EQ(next.stages[0].to, next.stages[0].from);
    }
  }
}

TEST(WriteBack, BadRowsGoToDeadLettersWithTheirReasonAndTheRestIsWritten) {
  rows_source src;
  for (int i = 0; i < 50; ++i)
    src.add(entry::put("ok" + std::to_string(i),
                       R"({"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-02T00:00:00Z","c":"x"})", 10 + i));
  entry nan = entry::put("bad-nan", R"({"c":NaN})", 100);
  entry utf = entry::put("bad-utf8", std::string("{\"c\":\"\xff\xfe\"}"), 101);
  entry order = entry::put("bad-order",
                           R"({"created_at":"2026-01-02T00:00:00Z","updated_at":"2026-01-01T00:00:00Z","c":"x"})", 102);
  entry empty = entry::put("bad-empty", R"({"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z","c":""})", 103);
  for (entry* e : {&nan, &utf, &order, &empty}) src.add(*e);
  // The same key twice: once at version 20 (written), again later.
  src.add(entry::put("ok5", R"({"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-03T00:00:00Z","c":"y"})", 200));

  memory_store sink;
  memory_store runs, letters;
  storesync::write_back<rows_source, memory_store, memory_store, no_retry, fixed_batch_sizer> w(
      runs, letters, {}, {}, fixed_batch_sizer{16});
  std::vector<decltype(w)::stage> stages{
      {.name = "items",
       .source = src,
       .sink = sink,
       .options = {.checks = {storesync::checks::required_fields({"c"}),
                              storesync::checks::not_before("updated_at", "created_at")}}}};
  auto report = w.run(stages);
  ASSERT_TRUE(report) << report.error().message();
  const auto& s = report.value().stages[0];
  EXPECT_EQ(report.value().status(), write_back_status::partial);
  EXPECT_EQ(s.counts.read, 55u);
  EXPECT_EQ(s.counts.applied, 50u);
  EXPECT_EQ(s.counts.dead_lettered, 5u);
  EXPECT_EQ(s.rejected, 5u);
  EXPECT_TRUE(s.counts.complete());
  EXPECT_EQ(sink.read("ok5").value()->version, 15);

  auto dead = w.dead_letters(100);
  ASSERT_TRUE(dead);
  ASSERT_EQ(dead.value().size(), 5u);
  std::map<std::string, std::string> why;
  for (const auto& d : dead.value()) {
    EXPECT_EQ(d.stage, "items");
    EXPECT_EQ(d.run, report.value().run_id);
    why[d.key] = d.error;
  }
  EXPECT_NE(why["bad-nan"].find("bad-nan"), std::string::npos) << why["bad-nan"];
  EXPECT_NE(why["bad-utf8"].find("UTF-8"), std::string::npos) << why["bad-utf8"];
  EXPECT_NE(why["bad-order"].find("earlier than"), std::string::npos) << why["bad-order"];
  EXPECT_NE(why["bad-empty"].find("is empty"), std::string::npos) << why["bad-empty"];
  EXPECT_NE(why["ok5"].find("duplicate key"), std::string::npos) << why["ok5"];
  for (const char* k : {"bad-nan", "bad-utf8", "bad-order", "bad-empty"}) EXPECT_FALSE(sink.read(k).value()) << k;

  // A re-run from scratch dead-letters the same records again: nothing new.
  ASSERT_TRUE(sink.write_with_checkpoint({}, {"write_back/items", "v1:0:0:"}));
  ASSERT_TRUE(w.run(stages));
  EXPECT_EQ(w.dead_letters(100).value().size(), 5u);
}

TEST(WriteBack, DuplicatesWithinOneBatchAndAtOneVersionAreCaught) {
  rows_source src;
  src.add(entry::put("a", R"({"v":1})", 5));
  src.add(entry::put("b", R"({"v":1})", 5));
  src.add(entry::put("a", R"({"v":2})", 6));   // same batch, another version
  src.add(entry::put("c", R"({"v":1})", 7));
  src.add(entry::put("c", R"({"v":2})", 7));   // same (version, key) twice
  memory_store sink, runs, letters;
  storesync::write_back<rows_source, memory_store, memory_store, no_retry, fixed_batch_sizer> w(
      runs, letters, {}, {}, fixed_batch_sizer{8});
  std::vector<decltype(w)::stage> stages{{.name = "s", .source = src, .sink = sink}};
  auto r = w.run(stages);
  ASSERT_TRUE(r);
  EXPECT_EQ(r.value().stages[0].counts.dead_lettered, 2u);
  EXPECT_EQ(sink.read("a").value()->version, 5);
  EXPECT_EQ(sink.read("c").value()->value, R"({"v":1})");
}

TEST(WriteBack, ARefusedEntryIsIsolatedAndTheCheckpointStillMoves) {
  memory_store src;
  storesync::faulty_store<memory_store> sink;
  fill(src, 100);
  sink.poison("k100042");
  fixture<memory_store, storesync::faulty_store<memory_store>> f(50);
  const auto r = f.run(src, sink);
  EXPECT_EQ(r.status(), write_back_status::partial);
  EXPECT_EQ(r.stages[0].counts.applied, 99u);
  EXPECT_EQ(r.stages[0].counts.dead_lettered, 1u);
  EXPECT_EQ(r.stages[0].rejected, 0u);
  EXPECT_EQ(r.stages[0].to.key, "k100099");
  auto dead = f.wb.dead_letters(10).value();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].key, "k100042");
  EXPECT_NE(dead[0].json.find(R"("value":{"n":42,"rev":0})"), std::string::npos) << dead[0].json;
}

TEST(WriteBack, AnUnreachableSinkStopsTheStageAndTheNextRunFinishesExactlyOnce) {
  memory_store src;
  storesync::faulty_store<memory_store> sink;
  fill(src, 300);
  fixture<memory_store, storesync::faulty_store<memory_store>> f(100);
  // load checkpoint, lookup, write (batch 1), lookup, then the sink goes away.
  sink.script({storesync::fault::none, storesync::fault::none, storesync::fault::none, storesync::fault::none,
               storesync::fault::unavailable});
  const auto cut = f.run(src, sink);
  EXPECT_EQ(cut.status(), write_back_status::failed);
  ASSERT_TRUE(cut.stages[0].failure);
  EXPECT_EQ(cut.stages[0].counts.applied, 100u);
  EXPECT_EQ(cut.stages[0].counts.owed, 100u);
  EXPECT_EQ(cut.stages[0].counts.read, 200u);
  EXPECT_EQ(cut.stages[0].to.key, "k100099");
  EXPECT_EQ(sink.inner().load_checkpoint("write_back/items").value(), storesync::encode_watermark(cut.stages[0].to));

  const auto rest = f.run(src, sink);
  EXPECT_EQ(rest.status(), write_back_status::succeeded);
  EXPECT_EQ(rest.stages[0].counts.applied, 200u);
  EXPECT_EQ(count_rows(sink.inner()), 300u);
}

TEST(WriteBack, TheRunLogRecordsEachRunAndAnUnfinishedOneIsResumed) {
  memory_store src, sink;
  fill(src, 10);
  storesync::faulty_store<memory_store> runs, letters;
  storesync::write_back<memory_store, memory_store, storesync::faulty_store<memory_store>, no_retry,
                        fixed_batch_sizer>
      w(runs, letters, {}, {}, fixed_batch_sizer{4});
  std::vector<decltype(w)::stage> stages{{.name = "items", .source = src, .sink = sink}};
  // The run's final record is lost (as when the process is killed).
  runs.script({storesync::fault::none, storesync::fault::none, storesync::fault::permanent});
  auto killed = w.run(stages);
  ASSERT_TRUE(killed);
  EXPECT_TRUE(killed.value().log_failure);
  auto listed = w.runs(10);
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed.value().size(), 1u);
  EXPECT_EQ(listed.value()[0].status, "running");
  EXPECT_EQ(listed.value()[0].run_id, killed.value().run_id);

  auto next = w.run(stages);
  ASSERT_TRUE(next);
  EXPECT_EQ(next.value().resumes, killed.value().run_id);
  listed = w.runs(10);
  ASSERT_EQ(listed.value().size(), 2u);
  EXPECT_EQ(listed.value()[0].run_id, next.value().run_id);  // newest first
  EXPECT_EQ(listed.value()[0].status, "succeeded");
  EXPECT_NE(listed.value()[0].json.find(R"("resumes":")" + killed.value().run_id), std::string::npos);
  EXPECT_GT(next.value().run_id, killed.value().run_id);
  EXPECT_EQ(w.runs(10, next.value().run_id).value().size(), 1u);
}

TEST(WriteBack, DryRunWritesNothingAndSaysWhatItWould) {
  memory_store src, sink;
  fill(src, 40);
  fixture<> f(16, {.dry_run = true});
  const auto r = f.run(src, sink);
  EXPECT_EQ(r.stages[0].counts.applied, 40u);
  EXPECT_EQ(count_rows(sink), 0u);
  EXPECT_FALSE(sink.load_checkpoint("write_back/items").value());
  EXPECT_EQ(count_rows(f.runs), 0u);
}

TEST(WriteBack, AVolumeFarFromThePreviousRunsIsAWarning) {
  memory_store src, sink;
  fill(src, 200);
  fixture<> f(50);
  EXPECT_TRUE(f.run(src, sink).stages[0].warnings.empty());  // nothing to compare with
  ASSERT_TRUE(src.write(std::vector<entry>{entry::put("new", doc(1), 9999)}));
  const auto r = f.run(src, sink);
  ASSERT_EQ(r.stages[0].warnings.size(), 1u);
  EXPECT_NE(r.stages[0].warnings[0].find("the previous run read 200"), std::string::npos);
}

TEST(WriteBack, HealthReportsLatencyAndFreshness) {
  memory_store src, sink;
  const auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  ASSERT_TRUE(src.write(std::vector<entry>{entry::put("a", doc(1), now_us - 60'000'000)}));
  fixture<> f(10, {.timestamp_versions = true});
  const auto r = f.run(src, sink);
  const auto& h = r.stages[0].health;
  EXPECT_TRUE(h.ok());
  EXPECT_EQ(h.newest_version, now_us - 60'000'000);
  ASSERT_TRUE(h.freshness);
  EXPECT_GE(h.freshness->count(), 60'000'000);
}

TEST(WriteBack, ATransformFailureIsADeadLetterAndItsResultIsWhatTheSinkGets) {
  memory_store src, sink;
  fill(src, 5);
  fixture<> f(10);
  const auto r = f.run(src, sink, {.transform = [](entry e) -> storesync::result<entry> {
                                     if (e.key == "k100003") return storesync::error{storesync::errc::invalid_value, "no"};
                                     e.key = "sink/" + e.key;
                                     return e;
                                   }});
  EXPECT_EQ(r.stages[0].counts.applied, 4u);
  EXPECT_EQ(r.stages[0].counts.dead_lettered, 1u);
  EXPECT_TRUE(sink.read("sink/k100000").value());
  // The watermark holds the source's key.
  EXPECT_EQ(r.stages[0].to.key, "k100004");
}

TEST(WriteBack, MalformedStagesAndACorruptCheckpointAreRefused) {
  memory_store src, sink, runs, letters;
  storesync::write_back<memory_store, memory_store, memory_store> w(runs, letters);
  for (const char* bad : {"", "has space", "a/b"}) {
    std::vector<decltype(w)::stage> stages{{.name = bad, .source = src, .sink = sink}};
    EXPECT_EQ(w.run(stages).error(), storesync::errc::invalid_argument) << bad;
  }
  std::vector<decltype(w)::stage> twice{{.name = "x", .source = src, .sink = sink},
                                        {.name = "x", .source = src, .sink = sink}};
  EXPECT_EQ(w.run(twice).error(), storesync::errc::invalid_argument);

  ASSERT_TRUE(sink.write_with_checkpoint({}, {"write_back/x", "garbage"}));
  std::vector<decltype(w)::stage> one{{.name = "x", .source = src, .sink = sink}};
  const auto r = w.run(one);
  ASSERT_TRUE(r);
  ASSERT_TRUE(r.value().stages[0].failure);
  EXPECT_NE(r.value().stages[0].failure->message().find("write_back/x"), std::string::npos);
  EXPECT_EQ(r.value().status(), write_back_status::failed);
}

// The run log and the dead letters may be one store: each lists only its
// own records, and no stage may be named so that its letters fall among
// the runs.
TEST(WriteBack, OneStoreCanHoldTheRunLogAndTheDeadLetters) {
  rows_source src;
  src.add(entry::put("a", R"({"c":"x"})", 10));
  src.add(entry::put("b", R"({"c":""})", 11));
  src.add(entry::put("z", R"({"c":""})", 12));
  memory_store sink, logs;
  storesync::write_back<rows_source, memory_store, memory_store> w(logs, logs);
  std::vector<decltype(w)::stage> stages{
      {.name = "items", .source = src, .sink = sink, .options = {.checks = {storesync::checks::required_fields({"c"})}}},
      {.name = "zz", .source = src, .sink = sink, .options = {.checks = {storesync::checks::required_fields({"c"})}}}};
  ASSERT_TRUE(w.run(stages));
  ASSERT_TRUE(w.run(stages));
  auto dead = w.dead_letters(100);
  ASSERT_TRUE(dead) << dead.error().message();
  ASSERT_EQ(dead.value().size(), 4u) << "two bad rows in each of two stages, and no run records";
  for (const auto& d : dead.value()) EXPECT_TRUE(d.key == "b" || d.key == "z") << d.json;
  // Paged one at a time, around the run records.
  std::vector<std::string> paged;
  for (std::string after;;) {
    auto page = w.dead_letters(1, after);
    ASSERT_TRUE(page);
    if (page.value().empty()) break;
    paged.push_back(page.value()[0].stage + "/" + page.value()[0].key);
    auto all = logs.scan({}, {}, 1000).value();
    for (const entry& e : all)
      if (e.value == page.value()[0].json) after = e.key;
  }
  EXPECT_EQ(paged, (std::vector<std::string>{"items/b", "items/z", "zz/b", "zz/z"}));
  auto runs = w.runs(10);
  ASSERT_TRUE(runs);
  EXPECT_EQ(runs.value().size(), 2u);

  std::vector<decltype(w)::stage> reserved{{.name = "run", .source = src, .sink = sink}};
  const auto refused = w.run(reserved);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), storesync::errc::invalid_argument);
  EXPECT_NE(refused.error().message().find("reserved"), std::string::npos) << refused.error().message();
}

// A key a watermark cannot hold (a control character) that ends a batch is
// dead-lettered, and the batch commits up to the last key it can hold; the
// next run reads that row again, and its dead letter stays one record.
TEST(WriteBack, AnInvalidKeyEndingABatchNeverReachesTheWatermark) {
  rows_source src;
  src.add(entry::put("a", "1", 5));
  src.add(entry::put("b", "2", 6));
  src.add(entry::put("c\tbad", "3", 7));
  memory_store sink, runs, letters;
  storesync::write_back<rows_source, memory_store, memory_store, no_retry, fixed_batch_sizer> w(
      runs, letters, {}, {}, fixed_batch_sizer{10});
  std::vector<decltype(w)::stage> stages{{.name = "s", .source = src, .sink = sink}};
  auto first = w.run(stages);
  ASSERT_TRUE(first);
  EXPECT_EQ(first.value().status(), write_back_status::partial);
  EXPECT_EQ(first.value().stages[0].to, (watermark{6, "b"}));
  EXPECT_EQ(sink.load_checkpoint("write_back/s").value(), storesync::encode_watermark({6, "b"}));
  auto second = w.run(stages);
  ASSERT_TRUE(second);
  EXPECT_EQ(second.value().stages[0].counts.read, 1u);
  const auto dead = w.dead_letters(10).value();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].key, "c\tbad");
  EXPECT_NE(dead[0].json.find(R"("key":"c\u0009bad")"), std::string::npos) << dead[0].json;
}

// Rows the lookback reads again landed in an earlier run: a newer version
// of the same key in the same batch is an update, not a duplicate.
TEST(WriteBack, ALookbackReReadIsNotADuplicateOfANewerVersion) {
  memory_store src, sink;
  fill(src, 3);  // versions 1000..1002
  fixture<> f(100);
  f.run(src, sink, {.lookback = 50});
  ASSERT_TRUE(src.write(std::vector<entry>{entry::put("k100001", doc(1, 5), 1010)}));
  const auto next = f.run(src, sink, {.lookback = 50});
  EXPECT_EQ(next.stages[0].counts.dead_lettered, 0u);
  EXPECT_EQ(next.stages[0].counts.applied, 1u);
  EXPECT_EQ(sink.read("k100001").value()->version, 1010);
}

TEST(WriteBack, ACheckThatThrowsStopsTheStageWithWhatItSaid) {
  memory_store src, sink;
  fill(src, 10);
  fixture<> f(4);
  const auto r = f.run(src, sink, {.checks = {[](const entry& e) -> storesync::result<void> {
                                     if (e.key == "k100006") throw std::runtime_error("boom");
                                     return storesync::success();
                                   }}});
  EXPECT_EQ(r.status(), write_back_status::failed);
  ASSERT_TRUE(r.stages[0].failure);
  EXPECT_NE(r.stages[0].failure->message().find("boom"), std::string::npos);
  EXPECT_EQ(r.stages[0].to.key, "k100003");  // the batches before it committed
}

}  // namespace
