// dual_write on memory stores, with faults injected into the secondary
// (faulty_store): strict keeps the two equal after every write, best-effort
// records every divergence and one repair empties the log, primary-only
// records every key as pending; intents left open are repaired at start-up;
// bad input is refused before either store is written; health probes each
// side; projection mode sends projections to the secondary and repairs
// re-run the projection.
#include "storesync/strategy/dual_write.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>  // mkdtemp

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <span>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "storesync/policy/best_effort_consistency.hpp"
#include "storesync/policy/primary_only_consistency.hpp"
#include "storesync/store/faulty_store.hpp"
#include "storesync/store/memory_store.hpp"

namespace storesync {
namespace {

using faulty = faulty_store<memory_store>;

template <class Consistency>
using dual = dual_write<memory_store, faulty, memory_store, Consistency, no_retry>;

class DualWrite : public ::testing::Test {
 protected:
  DualWrite() {
    const char* tmp = std::getenv("TEST_TMPDIR");
    std::string pattern = std::string(tmp ? tmp : "/tmp") + "/dual_write_XXXXXX";
    dir_ = ::mkdtemp(pattern.data());
  }
  ~DualWrite() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  template <class Consistency>
  std::unique_ptr<dual<Consistency>> open() {
    auto dw = dual<Consistency>::open(primary, secondary, log, {.intents = {.directory = dir_ + "/intents"}});
    EXPECT_TRUE(dw) << dw.error().message();
    return std::move(dw).value();
  }

  static entry nth(int i) {
    return entry::put("user:" + std::to_string(i % 2'000), R"({"n":)" + std::to_string(i) + "}", i + 1);
  }
  bool equal() { return primary.checksum({}).value() == secondary.inner().checksum({}).value(); }
  std::size_t logged() { return log.checksum({}).value().count; }

  memory_store primary;
  faulty secondary;
  memory_store log;
  std::string dir_;
};

TEST_F(DualWrite, StrictLeavesBothStoresEqualAfterEveryWrite) {
  auto dw = open<strict_consistency>();
  secondary.set_faults({.transient_rate = 0.05, .seed = 11});
  int failed = 0;
  for (int i = 0; i < 10'000; ++i) {
    const auto w = dw->put(i % 10 == 9 ? entry::erase(nth(i).key, i + 1) : nth(i));
    if (!w) {
      ++failed;
      EXPECT_EQ(w.error(), condition::transient) << w.error().message();
    }
    ASSERT_TRUE(equal()) << "after write " << i;
  }
  EXPECT_GT(failed, 300);
  EXPECT_LT(failed, 700);
  EXPECT_EQ(dw->stats().partial_failures, static_cast<std::uint64_t>(failed));
  EXPECT_EQ(dw->stats().compensations, static_cast<std::uint64_t>(failed));
  EXPECT_EQ(logged(), 0u) << "strict compensates; it records nothing";
}

TEST_F(DualWrite, BestEffortRecordsEveryDivergenceAndOneRepairEmptiesTheLog) {
  auto dw = open<best_effort_consistency>();
  secondary.set_faults({.transient_rate = 0.05, .seed = 12});
  std::set<std::string> diverged;
  for (int i = 0; i < 10'000; ++i) {
    const entry e = nth(i);
    ASSERT_TRUE(dw->put(e)) << "best effort reports success";
    if (!secondary.inner().read(e.key).value() || secondary.inner().read(e.key).value()->version != e.version)
      diverged.insert(e.key);
  }
  ASSERT_FALSE(diverged.empty());
  EXPECT_FALSE(equal());
  // Every key that diverged is in the log, with the primary's version.
  std::set<std::string> recorded;
  std::string after;
  for (;;) {
    const auto page = dw->inconsistencies(300, after).value();
    if (page.empty()) break;
    for (const inconsistency& r : page) {
      recorded.insert(r.key);
      EXPECT_EQ(r.failing, "secondary");
      EXPECT_NE(r.error.find("injected"), std::string::npos) << r.error;
      EXPECT_GT(r.primary_version, 0);
      EXPECT_GT(r.at_ms, 0);
    }
    after = page.back().key;
  }
  for (const std::string& k : diverged) EXPECT_TRUE(recorded.contains(k)) << k;
  secondary.set_faults({});
  const auto fixed = dw->repair_inconsistencies();
  ASSERT_TRUE(fixed) << fixed.error().message();
  EXPECT_TRUE(fixed.value().refused.empty());
  EXPECT_TRUE(equal());
  EXPECT_EQ(logged(), 0u);
}

TEST_F(DualWrite, CountsIntoTheGivenMetricsRegistry) {
  metrics_registry registry;
  auto dw = dual<best_effort_consistency>::open(primary, secondary, log,
                                                {.intents = {.directory = dir_ + "/intents"}, .metrics = &registry})
                .value();
  secondary.script({fault::permanent});
  ASSERT_TRUE(dw->put(nth(1)));
  ASSERT_TRUE(dw->put(nth(2)));
  EXPECT_EQ(dw->stats().writes, 2u);
  EXPECT_EQ(dw->stats().partial_failures, 1u);
  EXPECT_EQ(dw->stats().recorded, 1u);
  EXPECT_EQ(registry.counter("dual_write_writes_total", "").value(), 2u);
  EXPECT_EQ(registry.counter("dual_write_partial_failures_total", "").value(), 1u);
  EXPECT_EQ(registry.counter("dual_write_inconsistencies_recorded_total", "").value(), 1u);
  EXPECT_NE(registry.render_prometheus().find("storesync_dual_write_open_inconsistencies 1\n"), std::string::npos);
  ASSERT_TRUE(dw->repair_inconsistencies());
  EXPECT_NE(registry.render_prometheus().find("storesync_dual_write_open_inconsistencies 0\n"), std::string::npos);
}

TEST_F(DualWrite, ARecordChangedByOtherHandsIsReportedNotMisread) {
  auto dw = open<primary_only_consistency>();
  const std::vector<entry> odd = {entry::put("a", R"([{"primary_version":1}])", 1), entry::put("b", R"("text")", 1),
                                  entry::put("c", R"({"primary_version":"x","error":7,"extra":{"deep":[1]}})", 1),
                                  entry::erase("d", 1)};
  ASSERT_TRUE(log.write(odd));
  const auto listed = dw->inconsistencies(10);
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed.value().size(), 3u) << "the tombstone is no record";
  EXPECT_NE(listed.value()[0].error.find("unreadable record"), std::string::npos);
  EXPECT_NE(listed.value()[1].error.find("unreadable record"), std::string::npos);
  EXPECT_EQ(listed.value()[2].primary_version, 0);
  EXPECT_EQ(listed.value()[2].error, "7");
}

TEST_F(DualWrite, PrimaryOnlyNeverWritesTheSecondaryAndRecordsEveryKeyAsPending) {
  auto dw = open<primary_only_consistency>();
  for (int i = 0; i < 500; ++i) ASSERT_TRUE(dw->put(nth(i)));
  EXPECT_EQ(secondary.inner().checksum({}).value().count, 0u);
  EXPECT_EQ(logged(), 500u);
  const auto pending = dw->inconsistencies(1).value();
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_NE(pending[0].error.find("pending repair"), std::string::npos);
  EXPECT_EQ(dw->count_inconsistencies().value(), 500u);
  const auto dry = dw->repair_inconsistencies({.truth = source_of_truth::left, .dry_run = true});
  ASSERT_TRUE(dry);
  EXPECT_EQ(dry.value().copied_to_right, 500u);
  EXPECT_EQ(secondary.inner().checksum({}).value().count, 0u) << "a dry run wrote";
  EXPECT_EQ(logged(), 500u) << "a dry run cleared records";
  std::stop_source cancel;
  cancel.request_stop();
  const auto stopped = dw->repair_inconsistencies({.truth = source_of_truth::left, .stop = cancel.get_token()});
  ASSERT_TRUE(stopped);
  EXPECT_EQ(stopped.value().copied_to_right, 0u);
  EXPECT_EQ(logged(), 500u) << "a stopped repair cleared records it did not settle";
  ASSERT_TRUE(dw->repair_inconsistencies());
  EXPECT_TRUE(equal());
  EXPECT_EQ(logged(), 0u);
  EXPECT_EQ(dw->count_inconsistencies().value(), 0u);
  EXPECT_EQ(dw->stats().open_intents, 0u);
}

/// The projection of the tests: the entry's "n", as the secondary's value.
result<std::string> project_n(const entry& e) {
  const auto at = e.value.find("\"n\":");
  if (at == std::string::npos) return error{errc::invalid_argument, "no \"n\" in " + e.value};
  return R"({"projected_n":)" + e.value.substr(at + 4, e.value.find('}', at) - at - 4) + "}";
}

TEST_F(DualWrite, AProjectionReachesTheSecondaryAndRepairsRerunIt) {
  auto dw = dual<best_effort_consistency>::open(primary, secondary, log,
                                                {.intents = {.directory = dir_ + "/intents"}, .project = project_n})
                .value();
  secondary.set_faults({.transient_rate = 0.05, .seed = 3});
  for (int i = 0; i < 3'000; ++i) ASSERT_TRUE(dw->put(nth(i)));
  ASSERT_TRUE(dw->put(entry::erase("user:7", 10'000)));
  secondary.set_faults({});
  ASSERT_GT(logged(), 0u) << "no write of the secondary failed: the test proves nothing";
  reconciler<memory_store, faulty> rec(primary, secondary);
  rec.project_right(project_n);
  EXPECT_FALSE(rec.check({}).value().differences.empty());
  const auto fixed = dw->repair_inconsistencies();
  ASSERT_TRUE(fixed) << fixed.error().message();
  EXPECT_TRUE(fixed.value().refused.empty());
  EXPECT_EQ(logged(), 0u);
  const auto found = rec.check({});
  ASSERT_TRUE(found);
  EXPECT_TRUE(found.value().differences.empty()) << found.value().differences.front().key;
  // Every key holds its projection, at the primary's version; the delete is a tombstone.
  for (int i = 1'000; i < 3'000; ++i) {
    const entry want = nth(i);
    if (want.key == "user:7") continue;
    const auto got = secondary.inner().read(want.key).value();
    ASSERT_TRUE(got) << want.key;
    EXPECT_EQ(got->version, want.version);
    EXPECT_EQ(got->value, project_n(want).value());
  }
  EXPECT_TRUE(secondary.inner().read("user:7").value()->tombstone);
  // A plain check (contents) sees every projected key as different.
  reconciler<memory_store, faulty> plain(primary, secondary);
  EXPECT_EQ(plain.check({}).value().differences.size(), 1'999u);
}

TEST_F(DualWrite, AFailedProjectionRefusesTheBatchBeforeEitherStoreIsWritten) {
  auto dw = dual<strict_consistency>::open(primary, secondary, log,
                                           {.intents = {.directory = dir_ + "/intents"}, .project = project_n})
                .value();
  const std::vector<entry> batch = {nth(1), entry::put("user:x", R"({"other":1})", 5)};
  const auto r = dw->write(batch);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("user:x"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("projection"), std::string::npos) << r.error().message();
  EXPECT_FALSE(primary.read(nth(1).key).value());
  EXPECT_FALSE(secondary.inner().read(nth(1).key).value());
}

TEST_F(DualWrite, RebuildAndAProjectedRightSideWinningAreHandledAsProjections) {
  auto dw = dual<primary_only_consistency>::open(primary, secondary, log,
                                                 {.intents = {.directory = dir_ + "/intents"}, .project = project_n})
                .value();
  for (int i = 0; i < 500; ++i) ASSERT_TRUE(dw->put(nth(i)));
  reconciler<memory_store, faulty> rec(primary, secondary);
  rec.project_right(project_n);
  const auto rebuilt = rec.rebuild({});
  ASSERT_TRUE(rebuilt) << rebuilt.error().message();
  EXPECT_EQ(rebuilt.value().repaired.copied_to_right, 500u);
  EXPECT_EQ(secondary.inner().read(nth(3).key).value()->value, project_n(nth(3)).value());
  EXPECT_TRUE(rec.check({}).value().differences.empty());
  // A newer projection on the right cannot be copied back to the left.
  ASSERT_TRUE(secondary.inner().write(std::vector<entry>{entry::put(nth(3).key, "{}", 9'999)}));
  const auto found = rec.check({}).value();
  ASSERT_EQ(found.differences.size(), 1u);
  const auto newest = rec.repair(found, {.truth = source_of_truth::newest});
  ASSERT_TRUE(newest);
  ASSERT_EQ(newest.value().refused.size(), 1u);
  EXPECT_NE(newest.value().refused[0].why.message().find("projection"), std::string::npos);
  // The left as the truth puts the projection back over the newer one.
  const auto left = rec.repair(found, {.truth = source_of_truth::left});
  ASSERT_TRUE(left) << left.error().message();
  EXPECT_EQ(secondary.inner().read(nth(3).key).value()->value, project_n(nth(3)).value());
}

TEST_F(DualWrite, WhileARepairKeepsWritersOutNoWriteIsBetweenItsTwoSides) {
  auto dw = open<best_effort_consistency>();
  ASSERT_TRUE(dw->put(nth(1)));
  std::atomic<bool> calling{false}, written{false};
  std::thread writer;
  {
    const auto held = dw->keep_writers_out()();
    writer = std::thread([&] {
      calling = true;
      EXPECT_TRUE(dw->put(entry::put(nth(1).key, R"({"n":"later"})", 50)));
      written = true;
    });
    while (!calling) std::this_thread::yield();
    // Time for the write to get in if the gate let it (no wait could make
    // a working gate fail).
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_FALSE(written.load());
    EXPECT_EQ(primary.read(nth(1).key).value()->version, nth(1).version) << "a write went past the gate";
  }
  writer.join();
  EXPECT_TRUE(written.load());
  EXPECT_EQ(primary.read(nth(1).key).value()->version, 50);
  EXPECT_TRUE(equal());
}

TEST_F(DualWrite, HealthProbesEachSideAndSetsItsGauges) {
  metrics_registry registry;
  auto dw = dual<best_effort_consistency>::open(primary, secondary, log,
                                                {.intents = {.directory = dir_ + "/intents"}, .metrics = &registry})
                .value();
  auto up = [&](const char* side) { return registry.gauge("dual_write_side_up", "", {{"side", side}}).value(); };
  const dual_write_health both = dw->health();
  EXPECT_TRUE(both.primary.up);
  EXPECT_TRUE(both.secondary.up);
  EXPECT_EQ(up("secondary"), 1);
  secondary.script({fault::unavailable});
  const dual_write_health down = dw->health();
  EXPECT_TRUE(down.primary.up);
  EXPECT_FALSE(down.secondary.up);
  EXPECT_FALSE(down.secondary.error.empty());
  EXPECT_EQ(up("primary"), 1);
  EXPECT_EQ(up("secondary"), 0);
}

TEST_F(DualWrite, IntentsLeftOpenAreRepairedAtStartUp) {
  // What a process killed between the two writes leaves: the intent, and
  // the primary ahead of the secondary for its keys.
  const std::vector<entry> batch = {entry::put("user:1", R"({"a":1})", 5), entry::erase("user:2", 6)};
  const entry old2 = entry::put("user:2", "{}", 1);
  ASSERT_TRUE(primary.write(std::span(&old2, 1)));
  ASSERT_TRUE(secondary.inner().write(std::span(&old2, 1)));
  {
    auto j = file_journal::open({.directory = dir_ + "/intents"}).value();
    ASSERT_TRUE(j.append(std::string_view("user:1\nuser:2")));
    ASSERT_TRUE(j.close());
  }
  ASSERT_TRUE(primary.write(batch));
  EXPECT_FALSE(equal());
  {
    auto dw = open<strict_consistency>();
    EXPECT_EQ(dw->stats().recovered_intents, 1u);
    EXPECT_TRUE(equal());
    EXPECT_TRUE(secondary.inner().read("user:2").value()->tombstone);
  }
  // The intent was cleared: the next start finds none.
  auto again = open<strict_consistency>();
  EXPECT_EQ(again->stats().recovered_intents, 0u);
}

TEST_F(DualWrite, IntentsLeftOpenInProjectionModeAreRepairedWithTheProjection) {
  const entry e = entry::put("user:1", R"({"n":41})", 5);
  {
    auto j = file_journal::open({.directory = dir_ + "/intents"}).value();
    ASSERT_TRUE(j.append(std::string_view("user:1")));
    ASSERT_TRUE(j.close());
  }
  ASSERT_TRUE(primary.write(std::span(&e, 1)));
  auto dw = dual<strict_consistency>::open(primary, secondary, log,
                                           {.intents = {.directory = dir_ + "/intents"}, .project = project_n})
                .value();
  EXPECT_EQ(dw->stats().recovered_intents, 1u);
  const auto got = secondary.inner().read("user:1").value();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->version, 5);
  EXPECT_EQ(got->value, R"({"projected_n":41})");
}

TEST_F(DualWrite, ConcurrentWritersOfOverlappingKeysConverge) {
  auto dw = open<best_effort_consistency>();
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t)
    writers.emplace_back([&, t] {
      for (int i = 0; i < 2'500; ++i) {
        const std::string k = "user:" + std::to_string((i * 7 + t) % 200);
        EXPECT_TRUE(dw->put(entry::put(k, R"({"t":)" + std::to_string(t) + "}", i * 4 + t + 1)));
      }
    });
  for (std::thread& w : writers) w.join();
  EXPECT_TRUE(equal());
  EXPECT_EQ(primary.checksum({}).value().count, 200u);
  EXPECT_EQ(logged(), 0u);
}

TEST_F(DualWrite, AFailedCompensationIsRecordedAndTheWriteFails) {
  faulty flaky_primary;
  auto dw = dual_write<faulty, faulty, memory_store, strict_consistency, no_retry>::open(
                flaky_primary, secondary, log, {.intents = {.directory = dir_ + "/intents"}})
                .value();
  // The primary answers the lookup of previous entries and the write, then
  // fails the compensating restore; the secondary fails the write.
  flaky_primary.script({fault::none, fault::none, fault::permanent});
  secondary.script({fault::permanent});
  const auto w = dw->put(nth(1));
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error(), condition::permanent);
  EXPECT_EQ(dw->stats().compensations, 0u);
  const auto open = dw->inconsistencies(10).value();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].key, nth(1).key);
  EXPECT_EQ(open[0].failing, "compensation");
  EXPECT_EQ(open[0].primary_version, nth(1).version);
  // The log says what to repair, and repair settles it (the primary wins).
  ASSERT_TRUE(dw->repair_inconsistencies());
  EXPECT_EQ(flaky_primary.inner().checksum({}).value(), secondary.inner().checksum({}).value());
  EXPECT_EQ(logged(), 0u);
}

TEST_F(DualWrite, BadInputIsRefusedBeforeEitherStoreIsWritten) {
  auto dw = open<strict_consistency>();
  const std::vector<entry> batch = {entry::put("user:1", "{}", 1), entry::put("user:2", "{not json", 1)};
  const auto w = dw->write(batch);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error(), condition::invalid_input);
  EXPECT_NE(w.error().message().find("user:2"), std::string::npos) << w.error().message();
  EXPECT_EQ(primary.checksum({}).value().count, 0u);
  EXPECT_EQ(secondary.inner().checksum({}).value().count, 0u);
}

}  // namespace
}  // namespace storesync
