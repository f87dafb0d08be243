#include "storesync/strategy/write_behind.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "storesync/policy/manual_clock.hpp"
#include "storesync/store/faulty_store.hpp"
#include "storesync/store/memory_store.hpp"

namespace storesync {
namespace {

using namespace std::chrono_literals;
using slow_store = faulty_store<memory_store>;

template <class Retry = no_retry, class Sizer = fixed_batch_sizer, class Backpressure = block_for>
using wb_type = write_behind<memory_store, slow_store, Retry, Sizer, Backpressure, manual_clock>;

std::string fresh_dir(const char* name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  auto dir = std::filesystem::path(tmp ? tmp : "/tmp") / name;
  std::filesystem::remove_all(dir);
  return dir.string();
}

write_behind_options options_in(const std::string& dir) {
  write_behind_options o;
  o.directory = dir;
  o.flush_interval = 50ms;
  o.outage_pause = 10ms;
  return o;
}

template <class WB>
std::unique_ptr<WB> open_wb(memory_store& fast, slow_store& slow, write_behind_options o,
                            manual_clock clock, typename WB::sizer_type sizer = {},
                            typename WB::backpressure_type bp = {}) {
  auto wb = WB::open(fast, slow, std::move(o), {}, std::move(sizer), std::move(bp), clock);
  EXPECT_TRUE(wb) << wb.error().message();
  return wb ? std::move(wb).value() : nullptr;
}

/// Lets manual time pass (which ends the flusher's pause after an outage)
/// until everything acknowledged is flushed; false if it never is.
bool drain(auto& wb, manual_clock& clock) {
  for (int i = 0; i < 5000; ++i) {
    clock.advance(20ms);
    if (wb.flush(0ms).value().complete) return true;
    std::this_thread::sleep_for(1ms);
  }
  return false;
}

/// What `on_event` heard, from whichever thread.
struct heard_events {
  std::mutex mutex;
  std::vector<write_behind_event> events;
  std::function<void(const write_behind_event&)> hook() {
    return [this](const write_behind_event& e) {
      std::lock_guard lock(mutex);
      events.push_back(e);
    };
  }
  std::vector<write_behind_event::kind> kinds() {
    std::lock_guard lock(mutex);
    std::vector<write_behind_event::kind> out;
    for (const auto& e : events) out.push_back(e.what);
    return out;
  }
};

std::optional<entry> read_ok(auto& s, std::string_view key) {
  auto r = s.read(key);
  EXPECT_TRUE(r) << r.error().message();
  return r ? r.value() : std::nullopt;
}

TEST(WriteBehind, AcknowledgedWritesAreReadableAtOnceAndLandAfterFlush) {
  memory_store fast;
  slow_store slow;
  manual_clock clock;
  auto wb = open_wb<wb_type<>>(fast, slow, options_in(fresh_dir("basic")), clock);
  ASSERT_TRUE(wb->put(entry::put("a", R"({"n":1})", 1)));
  ASSERT_TRUE(wb->erase("b", 2));
  EXPECT_EQ(read_ok(*wb, "a")->version, 1);
  EXPECT_TRUE(read_ok(*wb, "b")->tombstone);
  const flush_report f = wb->flush(1s).value();
  EXPECT_TRUE(f.complete);
  EXPECT_EQ(f.remaining, 0u);
  EXPECT_EQ(read_ok(slow.inner(), "a")->version, 1);
  EXPECT_TRUE(read_ok(slow.inner(), "b")->tombstone);
  const auto s = wb->status();
  EXPECT_EQ(s.acknowledged_total, 2u);
  EXPECT_EQ(s.flushed_total, 2u);
  EXPECT_EQ(s.pending, 0u);
}

TEST(WriteBehind, HundredUpdatesOfOneKeyBecomeOneSlowWriteOfTheLast) {
  memory_store fast;
  slow_store slow;
  manual_clock clock;  // never advanced: only flush() triggers the flusher
  auto wb = open_wb<wb_type<>>(fast, slow, options_in(fresh_dir("coalesce")), clock);
  const std::size_t at_open = slow.calls();  // the slow store's largest version
  for (int v = 1; v <= 100; ++v) ASSERT_TRUE(wb->put(entry::put("hot", std::to_string(v), v)));
  ASSERT_TRUE(wb->flush(1s).value().complete);
  EXPECT_EQ(slow.calls() - at_open, 1u);
  EXPECT_EQ(read_ok(slow.inner(), "hot")->version, 100);
  EXPECT_EQ(wb->status().coalesced_total, 99u);
}

TEST(WriteBehind, InvalidInputFailsAndChangesNothing) {
  memory_store fast;
  slow_store slow;
  manual_clock clock;
  auto wb = open_wb<wb_type<>>(fast, slow, options_in(fresh_dir("invalid")), clock);
  const std::vector<entry> batch = {entry::put("ok", "1", 1), entry::put("bad", "{nope", 1)};
  auto r = wb->write(batch);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error() == condition::invalid_input);
  EXPECT_NE(r.error().message().find("bad"), std::string::npos);
  EXPECT_FALSE(read_ok(*wb, "ok"));
  EXPECT_EQ(wb->status().acknowledged_total, 0u);
}

TEST(WriteBehind, AnInvalidPutIsRefusedBeforeTheJournalAndFreesItsRoom) {
  // A single put is validated by the fast store only; it must still fail
  // naming the key, journal nothing and give its backpressure room back.
  memory_store fast;
  slow_store slow;
  manual_clock clock;
  const std::string dir = fresh_dir("invalid-put");
  write_behind_options o = options_in(dir);
  o.max_pending_entries = 1;
  {
    auto wb = open_wb<wb_type<no_retry, fixed_batch_sizer, reject>>(fast, slow, o, clock);
    auto bad = wb->put(entry::put("bad-value", "{nope", 1));
    ASSERT_FALSE(bad);
    EXPECT_TRUE(bad.error() == condition::invalid_input);
    EXPECT_NE(bad.error().message().find("bad-value"), std::string::npos) << bad.error().message();
    auto bad_version = wb->erase("bad-version", 0);
    ASSERT_FALSE(bad_version);
    EXPECT_NE(bad_version.error().message().find("bad-version"), std::string::npos);
    EXPECT_FALSE(wb->put(entry::put(std::string("a\nb"), "1", 1)));
    const auto s = wb->status();
    EXPECT_EQ(s.journal_bytes, 0u);
    EXPECT_EQ(s.acknowledged_total, 0u);
    EXPECT_EQ(s.pending, 0u);
    EXPECT_EQ(fast.size(), 0u);
    ASSERT_TRUE(wb->put(entry::put("good", "1", 1))) << "the refused puts released their room";
    EXPECT_TRUE(wb->stop(1s).value().complete);
  }
  // Nothing of the refused puts is replayed.
  memory_store fresh_fast;
  auto again = open_wb<wb_type<>>(fresh_fast, slow, options_in(dir), clock);
  EXPECT_FALSE(read_ok(*again, "bad-value"));
  EXPECT_FALSE(read_ok(*again, "bad-version"));
  EXPECT_EQ(read_ok(*again, "good")->version, 1);
}

TEST(WriteBehind, TransientFailuresAreRetriedThenSucceed) {
  memory_store fast;
  slow_store slow;
  manual_clock clock;
  using wb_retry = wb_type<exponential_backoff>;
  auto wb = wb_retry::open(fast, slow, options_in(fresh_dir("retry")),
                           exponential_backoff({.base = 10ms, .cap = 100ms, .max_attempts = 5}),
                           fixed_batch_sizer(100), block_for(), clock);
  ASSERT_TRUE(wb) << wb.error().message();
  auto& w = *wb.value();
  slow.script({fault::transient, fault::unavailable});
  const std::size_t at_open = slow.calls();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(w.put(entry::put("k" + std::to_string(i), "1", 1)));
  ASSERT_TRUE(w.flush(1h).value().complete);
  EXPECT_EQ(slow.calls() - at_open, 3u);  // two injected failures, then the batch
  EXPECT_EQ(slow.inner().size(), 10u);
  EXPECT_EQ(w.status().dead_letters, 0u);
  EXPECT_GT(clock.sleeps(), 0u) << "backoff slept on the injected clock";
  const write_behind_status s = w.status();
  EXPECT_EQ(s.retries_total, 2u);
  EXPECT_EQ(s.failing_attempts, 0u) << "nothing is being retried after a complete flush";
  EXPECT_EQ(s.outages_total, 0u) << "the retries won within the attempts";
}

TEST(WriteBehind, OnePoisonEntryInAThousandIsDeadLetteredAndTheRestLand) {
  memory_store fast;
  slow_store slow;
  manual_clock clock;
  slow.poison("k0500");
  heard_events heard;
  auto o = options_in(fresh_dir("poison"));
  o.on_event = heard.hook();
  auto wb = open_wb<wb_type<>>(fast, slow, std::move(o), clock, fixed_batch_sizer(1000));
  for (int i = 0; i < 1000; ++i) {
    char key[8];
    std::snprintf(key, sizeof key, "k%04d", i);
    ASSERT_TRUE(wb->put(entry::put(key, std::to_string(i), 7)));
  }
  const flush_report f = wb->flush(1h).value();
  EXPECT_TRUE(f.complete) << "a poison entry must never block a flush";
  EXPECT_EQ(slow.inner().size(), 999u);
  EXPECT_FALSE(read_ok(slow.inner(), "k0500"));
  auto letters = wb->dead_letters();
  ASSERT_TRUE(letters);
  ASSERT_EQ(letters.value().size(), 1u);
  EXPECT_EQ(letters.value()[0].item.key, "k0500");
  EXPECT_EQ(letters.value()[0].item.version, 7);
  EXPECT_NE(letters.value()[0].error.find("poisoned"), std::string::npos);
  EXPECT_EQ(wb->status().dead_letters, 1u);
  // The one batch held the dead letter: the problem is still the latest.
  EXPECT_NE(wb->status().last_error.find("k0500"), std::string::npos);
  {
    std::lock_guard lock(heard.mutex);
    ASSERT_EQ(heard.events.size(), 1u);
    EXPECT_EQ(heard.events[0].what, write_behind_event::kind::dead_lettered);
    EXPECT_EQ(heard.events[0].key, "k0500");
    EXPECT_NE(heard.events[0].detail.find("poisoned"), std::string::npos) << heard.events[0].detail;
  }

  // Fixed downstream: re-drive lands it and empties the list.
  slow.clear_poison();
  auto again = wb->retry_dead_letters();
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again.value(), 1u);
  ASSERT_TRUE(wb->flush(1h).value().complete);
  EXPECT_EQ(slow.inner().size(), 1000u);
  EXPECT_TRUE(wb->dead_letters().value().empty());
  EXPECT_EQ(wb->status().dead_letters, 0u);
}

TEST(WriteBehind, AnOutageNeverDeadLettersAndBackpressureRejectsAtTheBound) {
  memory_store fast;
  slow_store slow;
  manual_clock clock;
  slow.set_faults({.unavailable_rate = 1.0});
  auto o = options_in(fresh_dir("outage"));
  o.max_pending_entries = 20;
  heard_events heard;
  o.on_event = heard.hook();
  auto wb = open_wb<wb_type<no_retry, fixed_batch_sizer, reject>>(fast, slow, o, clock, fixed_batch_sizer(5));
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(wb->put(entry::put("k" + std::to_string(i), "1", 1)));
  auto over = wb->put(entry::put("one-too-many", "1", 1));
  ASSERT_FALSE(over);
  EXPECT_TRUE(over.error() == condition::overloaded);
  const auto s = wb->status();
  EXPECT_LE(s.pending + s.in_flight, 20u);
  EXPECT_EQ(s.dead_letters, 0u);

  for (int i = 0; i < 5000 && wb->status().last_error.empty(); ++i) std::this_thread::sleep_for(1ms);
  const flush_report stuck = wb->flush(0ms).value();
  EXPECT_FALSE(stuck.complete);
  EXPECT_EQ(stuck.remaining, 20u);
  EXPECT_FALSE(stuck.last_error.empty());
  EXPECT_NE(wb->status().last_error_at, std::chrono::system_clock::time_point{});

  // The flusher pauses between attempts on the outage; let manual time pass.
  slow.heal();
  ASSERT_TRUE(drain(*wb, clock));
  EXPECT_EQ(slow.inner().size(), 20u);
  EXPECT_TRUE(wb->put(entry::put("one-too-many", "1", 1))) << "room again after the drain";
  // The outage is over: a flush and the status say nothing is wrong.
  const flush_report after = wb->flush(0ms).value();
  EXPECT_EQ(after.last_error, "");
  EXPECT_EQ(wb->status().last_error, "");
  EXPECT_EQ(wb->status().last_error_at, std::chrono::system_clock::time_point{});
  // Each change was told once, in order: down before up, on before off.
  using enum write_behind_event::kind;
  const auto kinds = heard.kinds();
  auto at = [&](write_behind_event::kind k) { return std::find(kinds.begin(), kinds.end(), k) - kinds.begin(); };
  for (const auto k : {slow_store_down, slow_store_up, backpressure_on, backpressure_off})
    EXPECT_EQ(std::count(kinds.begin(), kinds.end(), k), 1) << to_string(k);
  EXPECT_LT(at(slow_store_down), at(slow_store_up));
  EXPECT_LT(at(backpressure_on), at(backpressure_off));
}

// While one batch is written the flusher fills the next. When the first
// then meets an outage, its entries go back into the map behind the second,
// which holds a newer version of one of its keys: the older value is written
// last, and the slow store's version guard keeps the newer one.
TEST(WriteBehind, TheNextBatchIsFilledWhileOneIsWrittenAndTheNewerVersionWins) {
  memory_store fast;
  slow_store slow;
  manual_clock clock;  // only full batches leave the map
  slow.set_faults({.latency = 1s});  // room to fill the second batch meanwhile, even on a loaded machine
  slow.script({fault::unavailable});  // the first batch meets an outage
  auto wb = open_wb<wb_type<>>(fast, slow, options_in(fresh_dir("pipeline")), clock, fixed_batch_sizer(10));
  auto wait_for_in_flight = [&](std::size_t n) {
    for (int i = 0; i < 5000 && wb->status().in_flight != n; ++i) std::this_thread::sleep_for(1ms);
    return wb->status().in_flight == n;
  };
  auto put_batch = [&](int from, version_type hot) {
    ASSERT_TRUE(wb->put(entry::put("hot", std::to_string(hot), hot)));
    for (int i = from; i < from + 9; ++i) ASSERT_TRUE(wb->put(entry::put("k" + std::to_string(i), "1", 1)));
  };
  put_batch(0, 1);
  ASSERT_TRUE(wait_for_in_flight(10)) << "the first batch did not leave the map";
  put_batch(9, 2);
  EXPECT_TRUE(wait_for_in_flight(20)) << "no second batch was filled while the first was written";
  EXPECT_EQ(wb->status().pending, 0u);
  EXPECT_EQ(wb->status().pending_bytes, 0u);
  EXPECT_GT(wb->status().in_flight_bytes, 0u) << "the bytes bound holds what is in flight too";

  ASSERT_TRUE(drain(*wb, clock));
  EXPECT_EQ(read_ok(slow.inner(), "hot")->version, 2);
  EXPECT_EQ(slow.inner().size(), 19u);
  const auto s = wb->status();
  EXPECT_EQ(s.dead_letters, 0u);
  EXPECT_EQ(s.flushed_total, 20u) << "each batch written once (the failed attempt wrote nothing)";
  EXPECT_EQ(s.in_flight_bytes, 0u);
}

TEST(WriteBehind, BlockForWaitsForRoomOnTheClockButTryWriteNeverWaits) {
  memory_store fast;
  slow_store slow;
  manual_clock clock;
  slow.set_faults({.unavailable_rate = 1.0});
  auto o = options_in(fresh_dir("block"));
  o.max_pending_entries = 3;
  auto wb = open_wb<wb_type<>>(fast, slow, o, clock, fixed_batch_sizer(10), block_for(100ms));
  for (int i = 0; i < 3; ++i) {
    auto r = wb->try_write(entry::put("k" + std::to_string(i), "1", 1));
    ASSERT_TRUE(r) << r.error().message();
    // Down since open: the slow store's largest version is unknown, so
    // whether it holds something newer is settled at flush.
    EXPECT_EQ(r.value().accepted, 1u);
  }

  // Full. The manual clock stands still, so any wait would never end.
  auto refused = std::async(std::launch::async, [&] { return wb->try_write(entry::put("waits", "1", 1)); });
  ASSERT_EQ(refused.wait_for(10s), std::future_status::ready) << "try_write waited for room";
  auto t = refused.get();
  ASSERT_FALSE(t);
  EXPECT_TRUE(t.error() == errc::queue_full);
  EXPECT_FALSE(read_ok(fast, "waits")) << "a refused try_write left a value behind";
  const auto s = wb->status();  // one snapshot: the flusher moves entries from pending to in flight
  EXPECT_EQ(s.pending + s.in_flight, 3u);
  auto bad = wb->try_write(entry::put("bad", "{not json", 1));
  ASSERT_FALSE(bad);
  EXPECT_TRUE(bad.error() == condition::invalid_input);

  auto blocked = std::async(std::launch::async, [&] { return wb->put(entry::put("waits", "1", 1)); });
  EXPECT_EQ(blocked.wait_for(30ms), std::future_status::timeout) << "put did not block";
  clock.advance(150ms);
  auto r = blocked.get();
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error() == condition::overloaded);
}

TEST(WriteBehind, StopDuringAnOutageWithABacklogReturnsAndKeepsItInTheJournal) {
  const std::string dir = fresh_dir("stop-outage");
  slow_store slow;
  manual_clock clock;
  // Each failed write takes a moment, so a batch is nearly always on its way.
  slow.set_faults({.unavailable_rate = 1.0, .latency = 50ms});
  {
    memory_store fast;
    auto wb = open_wb<wb_type<>>(fast, slow, options_in(dir), clock, fixed_batch_sizer(10));
    for (int i = 0; i < 1000; ++i) ASSERT_TRUE(wb->put(entry::put("k" + std::to_string(i), "1", 1)));
    // With a batch always on its way, the flusher used to fill the next one
    // for ever, and stop never returned. The limit only guards the suite
    // against that hang.
    auto stopped = std::async(std::launch::async, [&] { return wb->stop(0ms); });
    ASSERT_EQ(stopped.wait_for(120s), std::future_status::ready) << "stop hangs during an outage";
    auto report = stopped.get();
    ASSERT_TRUE(report) << report.error().message();
    EXPECT_FALSE(report.value().complete);
  }
  slow.heal();
  memory_store fast;
  auto wb = open_wb<wb_type<>>(fast, slow, options_in(dir), clock, fixed_batch_sizer(10));
  ASSERT_TRUE(drain(*wb, clock));
  EXPECT_EQ(slow.inner().size(), 1000u) << "the backlog was not kept in the journal";
}

TEST(WriteBehind, RestartReplaysTheJournalSoNothingAcknowledgedIsLost) {
  const std::string dir = fresh_dir("restart");
  slow_store slow;
  manual_clock clock;
  slow.set_faults({.unavailable_rate = 1.0});
  {
    memory_store fast;
    auto wb = open_wb<wb_type<>>(fast, slow, options_in(dir), clock);
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(wb->put(entry::put("k" + std::to_string(i), std::to_string(i), 3)));
    ASSERT_TRUE(wb->put(entry::put("k7", "\"newest\"", 9)));
    EXPECT_FALSE(wb->stop(0ms).value().complete);
  }
  slow.heal();
  memory_store empty_fast;  // the cache did not survive
  auto wb = open_wb<wb_type<>>(empty_fast, slow, options_in(dir), clock);
  EXPECT_EQ(read_ok(*wb, "k7")->version, 9) << "acknowledged value not readable after restart";
  EXPECT_EQ(read_ok(*wb, "k49")->version, 3);
  ASSERT_TRUE(wb->flush(1h).value().complete);
  EXPECT_EQ(slow.inner().size(), 50u);
  EXPECT_EQ(read_ok(slow.inner(), "k7")->version, 9);

  // Everything is checkpointed: a third start has nothing to replay.
  wb.reset();
  memory_store third_fast;
  auto third = open_wb<wb_type<>>(third_fast, slow, options_in(dir), clock);
  EXPECT_EQ(third->status().pending, 0u);
  EXPECT_EQ(third_fast.size(), 0u);
}

TEST(WriteBehind, AFastStoreThatMissedAReplayedWriteNeitherAnswersNorJudgesTheKey) {
  // The fast store outlives the process (an external cache) and holds an
  // old value; replaying a newer acknowledged write into it fails once.
  const std::string dir = fresh_dir("fast_behind");
  slow_store slow;
  manual_clock clock;
  slow.set_faults({.unavailable_rate = 1.0});
  {
    memory_store fast;
    auto wb = open_wb<wb_type<>>(fast, slow, options_in(dir), clock);
    ASSERT_TRUE(wb->put(entry::put("k", "\"newest\"", 9)));
    EXPECT_FALSE(wb->stop(0ms).value().complete);
  }
  slow.heal();
  faulty_store<memory_store> cache;
  const entry old = entry::put("k", "\"old\"", 3);
  ASSERT_TRUE(cache.write(std::span(&old, 1)));
  cache.script({fault::transient});
  using wb_cached = write_behind<faulty_store<memory_store>, slow_store, no_retry, fixed_batch_sizer, block_for,
                                 manual_clock>;
  auto opened = wb_cached::open(cache, slow, options_in(dir), {}, {}, {}, clock);
  ASSERT_TRUE(opened) << opened.error().message();
  auto& wb = *opened.value();
  ASSERT_EQ(cache.injected(), 1u) << "the replay's write did not meet the fault";
  EXPECT_EQ(read_ok(wb, "k")->version, 9);
  const entry older = entry::put("k", "\"older\"", 5);
  auto verdict = wb.write(std::span(&older, 1));
  ASSERT_TRUE(verdict) << verdict.error().message();
  EXPECT_EQ(verdict.value().applied, 0u) << "v5 judged by the fast store's v3, below the acknowledged v9";
  ASSERT_TRUE(wb.flush(1h).value().complete);
  EXPECT_EQ(read_ok(wb, "k")->version, 9) << "the fast store's old value answered after the flush";
  EXPECT_EQ(read_ok(cache, "k")->version, 9) << "the slow store's entry is back in the fast store";
  EXPECT_EQ(read_ok(slow.inner(), "k")->version, 9);
}

TEST(WriteBehind, ReadsFallThroughToTheSlowStoreAndWarmTheFastOne) {
  memory_store fast;
  slow_store slow;
  manual_clock clock;
  const entry old = entry::put("cold", "\"from slow\"", 4);
  ASSERT_TRUE(slow.inner().write(std::span(&old, 1)));
  auto wb = open_wb<wb_type<>>(fast, slow, options_in(fresh_dir("readthrough")), clock);
  EXPECT_EQ(read_ok(*wb, "cold")->version, 4);
  EXPECT_EQ(read_ok(fast, "cold")->version, 4);
  EXPECT_FALSE(read_ok(*wb, "nowhere"));
}

TEST(WriteBehind, StaleWritesAreAcknowledgedWithoutJournalling) {
  memory_store fast;
  slow_store slow;
  manual_clock clock;
  auto wb = open_wb<wb_type<>>(fast, slow, options_in(fresh_dir("stale")), clock);
  ASSERT_TRUE(wb->put(entry::put("k", "2", 2)));
  ASSERT_TRUE(wb->put(entry::put("k", "1", 1)));
  EXPECT_EQ(read_ok(*wb, "k")->version, 2);
  ASSERT_TRUE(wb->flush(1s).value().complete);
  EXPECT_EQ(read_ok(slow.inner(), "k")->version, 2);
}

TEST(WriteBehind, StopDrainsAndThenRefusesWrites) {
  memory_store fast;
  slow_store slow;
  manual_clock clock;
  auto wb = open_wb<wb_type<>>(fast, slow, options_in(fresh_dir("stop")), clock);
  ASSERT_TRUE(wb->put(entry::put("k", "1", 1)));
  EXPECT_TRUE(wb->stop(1s).value().complete);
  EXPECT_EQ(read_ok(slow.inner(), "k")->version, 1);
  auto r = wb->put(entry::put("k", "2", 2));
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error() == errc::stopped);
  auto flushed = wb->flush(1s);
  ASSERT_FALSE(flushed) << "flush after stop";
  EXPECT_TRUE(flushed.error() == errc::stopped);
  auto again = wb->stop(1s);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_TRUE(again.value().complete) << "a second stop reports what the first left";
}

TEST(WriteBehind, PartialBatchesFlushWhenTheIntervalPasses) {
  memory_store fast;
  slow_store slow;
  manual_clock clock;
  auto wb = open_wb<wb_type<>>(fast, slow, options_in(fresh_dir("interval")), clock, fixed_batch_sizer(1000));
  ASSERT_TRUE(wb->put(entry::put("k", "1", 1)));
  clock.advance(10ms);
  EXPECT_EQ(slow.inner().size(), 0u) << "flushed before the interval";
  clock.advance(60ms);
  for (int i = 0; i < 2000 && slow.inner().size() == 0; ++i) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(slow.inner().size(), 1u);
}

TEST(WriteBehind, TheWriteDelayCoalescesAHotKeyIntoOneWrite) {
  memory_store fast;
  slow_store slow;
  manual_clock clock;
  auto o = options_in(fresh_dir("delay"));
  o.write_delay = 1s;
  auto wb = open_wb<wb_type<>>(fast, slow, o, clock, fixed_batch_sizer(2));
  const std::size_t at_open = slow.calls();
  // A full batch is waiting, but nothing is a second old yet.
  for (int v = 1; v <= 5; ++v) {
    ASSERT_TRUE(wb->put(entry::put("hot", std::to_string(v), v)));
    ASSERT_TRUE(wb->put(entry::put("warm", std::to_string(v), v)));
    clock.advance(100ms);
  }
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(slow.calls() - at_open, 0u) << "flushed inside the coalescing window";
  clock.advance(600ms);
  for (int i = 0; i < 2000 && slow.inner().size() < 2; ++i) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(slow.inner().size(), 2u);
  EXPECT_EQ(slow.calls() - at_open, 1u) << "ten puts of two keys should be one batch";
  EXPECT_EQ(read_ok(slow.inner(), "hot")->version, 5);
}

TEST(WriteBehind, PressureAndFlushSkipTheWriteDelay) {
  memory_store fast;
  slow_store slow;
  manual_clock clock;
  auto o = options_in(fresh_dir("delay-pressure"));
  o.write_delay = 1h;
  o.max_pending_entries = 10;
  auto wb = open_wb<wb_type<>>(fast, slow, o, clock, fixed_batch_sizer(100));
  ASSERT_TRUE(wb->put(entry::put("a", "1", 1)));
  EXPECT_TRUE(wb->flush(1s).value().complete) << "a flush waits for nobody's window";
  EXPECT_EQ(slow.inner().size(), 1u);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(wb->put(entry::put("p" + std::to_string(i), "1", 1)));
  for (int i = 0; i < 2000 && slow.inner().size() < 6; ++i) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(slow.inner().size(), 6u) << "half the bound pending must flush without waiting an hour";
}

TEST(WriteBehind, MetricsRenderWithThePrefix) {
  memory_store fast;
  slow_store slow;
  manual_clock clock;
  auto wb = open_wb<wb_type<>>(fast, slow, options_in(fresh_dir("metrics")), clock);
  ASSERT_TRUE(wb->put(entry::put("k", "1", 1)));
  ASSERT_TRUE(wb->flush(1s).value().complete);
  (void)wb->status();
  const std::string text = wb->metrics()->render_prometheus();
  EXPECT_NE(text.find("storesync_write_behind_acknowledged_total 1"), std::string::npos) << text;
  EXPECT_NE(text.find("storesync_write_behind_flushed_total 1"), std::string::npos);
  EXPECT_NE(text.find("storesync_write_behind_pending 0"), std::string::npos);
  // The entry's record, and the version mark journalled before the
  // checkpoint if the flusher has written it by now.
  const bool one = text.find("storesync_journal_records_total{journal=\"main\"} 1\n") != std::string::npos;
  const bool two = text.find("storesync_journal_records_total{journal=\"main\"} 2\n") != std::string::npos;
  EXPECT_TRUE(one || two) << text;
}

// --- Outcomes: never `applied` for a write the slow store then refuses -----

void put_slow(slow_store& slow, entry e) { ASSERT_TRUE(slow.inner().write(std::span(&e, 1))); }

write_report put_report(wb_type<>& wb, const entry& e) {
  auto r = wb.write(std::span(&e, 1));
  EXPECT_TRUE(r) << r.error().message();
  return r ? r.value() : write_report{};
}

// The restart case: the slow store holds version 5, the fast store is empty.
TEST(WriteBehind, AnOlderVersionOnAKeyTheFastStoreNeverSawIsAcceptedThenCorrected) {
  memory_store fast;
  slow_store slow;
  manual_clock clock;
  put_slow(slow, entry::put("k", "5", 5));
  auto wb = open_wb<wb_type<>>(fast, slow, options_in(fresh_dir("floor-stale")), clock);
  const write_report r = put_report(*wb, entry::put("k", "3", 3));
  EXPECT_EQ(r.applied, 0u) << "told applied for a write the slow store will refuse";
  EXPECT_EQ(r.accepted, 1u);
  EXPECT_FALSE(read_ok(fast, "k")) << "a write with a pending verdict went into the fast store";
  EXPECT_EQ(read_ok(*wb, "k")->version, 5) << "a read answered with the accepted write, older than the slow store's";
  ASSERT_TRUE(wb->flush(10s).value().complete);
  EXPECT_EQ(read_ok(slow.inner(), "k")->version, 5);
  EXPECT_EQ(read_ok(*wb, "k")->version, 5) << "the stale write stayed visible after the flush";
  EXPECT_EQ(read_ok(fast, "k")->value, "5");
  EXPECT_EQ(wb->status().stale_at_flush_total, 1u);
  EXPECT_EQ(wb->status().dead_letters, 0u);
}

TEST(WriteBehind, TheSameVersionWithOtherContentIsCorrectedToTheSlowStores) {
  memory_store fast;
  slow_store slow;
  manual_clock clock;
  put_slow(slow, entry::put("k", R"("stored")", 5));
  auto wb = open_wb<wb_type<>>(fast, slow, options_in(fresh_dir("floor-same")), clock);
  EXPECT_EQ(put_report(*wb, entry::put("k", R"("other")", 5)).accepted, 1u);
  ASSERT_TRUE(wb->flush(10s).value().complete);
  EXPECT_EQ(read_ok(*wb, "k")->value, R"("stored")");
  EXPECT_EQ(wb->status().stale_at_flush_total, 1u);
}

TEST(WriteBehind, AnAcceptedWriteTheSlowStoreTakesIsApplied) {
  memory_store fast;
  slow_store slow;
  manual_clock clock;
  put_slow(slow, entry::put("other", "9", 9));
  auto wb = open_wb<wb_type<>>(fast, slow, options_in(fresh_dir("floor-new")), clock);
  EXPECT_EQ(put_report(*wb, entry::put("k", "4", 4)).accepted, 1u);  // below the floor (9): not known
  EXPECT_EQ(put_report(*wb, entry::put("k", "10", 10)).applied, 1u);  // above it: certainly newest
  EXPECT_EQ(put_report(*wb, entry::put("k", "8", 8)).stale, 1u) << "the fast store holds 10";
  EXPECT_EQ(put_report(*wb, entry::put("j", "2", 2)).accepted, 1u);
  ASSERT_TRUE(wb->flush(10s).value().complete);
  EXPECT_EQ(read_ok(fast, "j")->version, 2) << "once the slow store took it, the fast store holds it";
  EXPECT_EQ(read_ok(slow.inner(), "k")->version, 10);
  EXPECT_EQ(wb->status().stale_at_flush_total, 0u);
}

TEST(WriteBehind, AWriterOutsideIsNeverSilentlyOverruled) {
  memory_store fast;
  slow_store slow;
  manual_clock clock;
  auto wb = open_wb<wb_type<>>(fast, slow, options_in(fresh_dir("outside")), clock);
  EXPECT_EQ(put_report(*wb, entry::put("k", "7", 7)).applied, 1u);
  put_slow(slow, entry::put("k", "9", 9));  // another writer, straight to the slow store
  ASSERT_TRUE(wb->flush(10s).value().complete);
  EXPECT_EQ(read_ok(*wb, "k")->version, 9);
  EXPECT_EQ(wb->status().stale_at_flush_total, 1u);
  const std::string metrics = wb->metrics()->render_prometheus();
  EXPECT_NE(metrics.find("storesync_write_behind_stale_at_flush_total 1"), std::string::npos) << metrics;
}

TEST(WriteBehind, NextVersionIsAboveTheSlowStoreWhateverTheClockSays) {
  memory_store fast;
  slow_store slow;
  manual_clock clock;
  // Stored by a clock an hour ahead of this one (or before it was stepped back).
  const version_type ahead = std::chrono::duration_cast<std::chrono::microseconds>(
                                 (std::chrono::system_clock::now() + 1h).time_since_epoch())
                                 .count();
  put_slow(slow, entry::put("k", "1", ahead));
  auto wb = open_wb<wb_type<>>(fast, slow, options_in(fresh_dir("next-version")), clock);
  const version_type v = wb->next_version();
  EXPECT_GT(v, ahead);
  EXPECT_EQ(put_report(*wb, entry::put("k", "2", v)).applied, 1u);
  EXPECT_GT(wb->next_version(), v);
  ASSERT_TRUE(wb->flush(10s).value().complete);
  EXPECT_EQ(read_ok(slow.inner(), "k")->value, "2");
}

TEST(WriteBehind, ASlowStoreDownAtOpenLeavesEveryVerdictToTheFlush) {
  memory_store fast;
  slow_store slow;
  manual_clock clock;
  put_slow(slow, entry::put("k", "5", 5));
  slow.set_faults({.unavailable_rate = 1.0});
  auto wb = open_wb<wb_type<>>(fast, slow, options_in(fresh_dir("down-at-open")), clock);
  EXPECT_FALSE(wb->status().floor_known);
  EXPECT_EQ(put_report(*wb, entry::put("k", "6", 6)).accepted, 1u);
  EXPECT_EQ(put_report(*wb, entry::put("k", "4", 4)).accepted, 1u);  // coalesced under 6
  EXPECT_EQ(put_report(*wb, entry::put("n", "1", 1)).accepted, 1u);
  EXPECT_EQ(read_ok(*wb, "k")->version, 6) << "reads see what is acknowledged";
  slow.heal();
  ASSERT_TRUE(drain(*wb, clock));
  EXPECT_TRUE(wb->status().floor_known);
  EXPECT_EQ(read_ok(slow.inner(), "k")->version, 6);
  EXPECT_EQ(read_ok(slow.inner(), "n")->version, 1);
  EXPECT_EQ(read_ok(fast, "k")->version, 6);
  EXPECT_GT(wb->next_version(), 6);
}

// Found by the simulator (tests/simulation, seed 3): entries replayed while
// the floor was unknown stayed out of the fast store, so once the floor was
// learnt, below them, the fast store's guard called older writes applied.
TEST(WriteBehind, EntriesReplayedBeforeTheFloorWasKnownJudgeLaterWrites) {
  memory_store fast;
  slow_store slow;
  manual_clock clock;
  const std::string dir = fresh_dir("floor-learnt-late");
  put_slow(slow, entry::put("k", "2", 2));
  slow.set_faults({.unavailable_rate = 1.0});
  {
    auto wb = open_wb<wb_type<>>(fast, slow, options_in(dir), clock);
    EXPECT_EQ(put_report(*wb, entry::put("k", "6", 6)).accepted, 1u);
    ASSERT_TRUE(wb->stop(0ms));  // k v6 stays in the journal
  }
  memory_store cold;  // a restart: an empty fast store
  auto wb = open_wb<wb_type<>>(cold, slow, options_in(dir), clock);
  ASSERT_FALSE(wb->status().floor_known) << "k v6 must be replayed with the floor unknown";
  slow.heal();
  // The writer learns the floor (2), then every delivery fails: k v6 stays owed.
  slow.script({fault::none, fault::unavailable, fault::unavailable, fault::unavailable, fault::unavailable});
  for (int i = 0; i < 5000 && !wb->status().floor_known; ++i) {
    clock.advance(10ms);
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_TRUE(wb->status().floor_known);
  EXPECT_EQ(put_report(*wb, entry::put("k", "6", 6)).unchanged, 1u) << "k v6 again was not called unchanged";
  EXPECT_EQ(put_report(*wb, entry::put("k", "5", 5)).stale, 1u) << "an older version was not called stale";
}

// Found by the simulator: after a restart with the slow store down and the
// wall clock stepped back, next_version() fell below a version acknowledged
// before the last checkpoint (the replay no longer held it).
TEST(WriteBehind, NextVersionStaysAboveWhatWasAcknowledgedAfterARestartWithTheClockBack) {
  memory_store fast;
  slow_store slow;
  manual_clock clock;
  const std::string dir = fresh_dir("versions-after-restart");
  version_type wall = 5'000'000;
  auto o = options_in(dir);
  o.wall_clock = [&wall] { return wall; };
  version_type acknowledged = 0;
  {
    auto wb = open_wb<wb_type<>>(fast, slow, o, clock);
    acknowledged = wb->next_version();
    ASSERT_TRUE(wb->put(entry::put("k", "1", acknowledged)));
    ASSERT_TRUE(wb->flush(10s).value().complete);  // delivered and checkpointed: not replayed
    ASSERT_TRUE(wb->stop(10s));
  }
  wall = 1'000;  // stepped back
  slow.set_faults({.unavailable_rate = 1.0});
  memory_store cold;
  auto wb = open_wb<wb_type<>>(cold, slow, o, clock);
  ASSERT_FALSE(wb->status().floor_known);
  EXPECT_GT(wb->next_version(), acknowledged);
}

TEST(WriteBehind, EvictedKeysAreColdKeys) {
  constexpr std::size_t cap = 64 * 1024;
  memory_store fast(memory_store_options{.max_bytes = cap});
  slow_store slow;
  manual_clock clock;
  auto wb = open_wb<wb_type<>>(fast, slow, options_in(fresh_dir("evicted")), clock, fixed_batch_sizer(100));
  const std::string value = "\"" + std::string(200, 'x') + "\"";
  for (int i = 1; i <= 2000; ++i) ASSERT_TRUE(wb->put(entry::put("k" + std::to_string(i), value, i)));
  ASSERT_TRUE(wb->flush(10s).value().complete);
  // Each write sweeps a bounded number of entries: a few more writes bring
  // the store back under its cap, evicting what the flushes released.
  for (int i = 0; i < 1000 && fast.bytes() > cap + 1024; ++i)
    ASSERT_TRUE(wb->put(entry::put("filler" + std::to_string(i), "1", 3000 + i)));
  EXPECT_LE(fast.bytes(), cap + 1024);
  EXPECT_GT(fast.evicted(), 0u);
  for (int i = 1; i <= 2000; i += 97) EXPECT_EQ(read_ok(*wb, "k" + std::to_string(i))->version, i);

  // An older version of an evicted key must not be called applied: the
  // slow store holds the newer one.
  int cold = 0;
  for (int i = 2000; i > 1 && cold == 0; --i)
    if (!read_ok(fast, "k" + std::to_string(i))) cold = i;
  ASSERT_GT(cold, 1) << "nothing was evicted";
  const std::string key = "k" + std::to_string(cold);
  const write_report r = put_report(*wb, entry::put(key, "\"older\"", cold - 1));
  EXPECT_EQ(r.applied, 0u);
  EXPECT_EQ(r.accepted, 1u);
  ASSERT_TRUE(wb->flush(10s).value().complete);
  EXPECT_EQ(read_ok(*wb, key)->version, cold);
  EXPECT_EQ(read_ok(*wb, key)->value, value);
  EXPECT_EQ(wb->status().stale_at_flush_total, 1u);
}

/// A slow store with PostgreSQL's value rules, to show they apply at the door.
struct jsonb_like_store : memory_store {
  static constexpr value_rules rules() noexcept { return {max_supported_depth, false, true}; }
};

TEST(WriteBehind, ValuesTheSlowStoreCannotHoldAreRefusedBeforeTheJournal) {
  memory_store fast;
  jsonb_like_store slow;
  manual_clock clock;
  auto o = options_in(fresh_dir("door-rules"));
  o.rules.max_depth = 4;
  using wb_jsonb = write_behind<memory_store, jsonb_like_store, no_retry, fixed_batch_sizer, block_for, manual_clock>;
  auto opened = wb_jsonb::open(fast, slow, o, {}, {}, {}, clock);
  ASSERT_TRUE(opened) << opened.error().message();
  auto& wb = *opened.value();
  EXPECT_EQ(wb.rules(), (value_rules{4, false, true}));
  for (const char* bad : {R"({"a":"\u0000"})", "1e999999", "\xEF\xBB\xBF{}", "[[[[[1]]]]]"}) {
    auto r = wb.put(entry::put("bad", bad, 1));
    ASSERT_FALSE(r) << bad;
    EXPECT_TRUE(r.error() == condition::invalid_input) << bad;
    EXPECT_NE(r.error().message().find("\"bad\""), std::string::npos) << r.error().message();
  }
  EXPECT_EQ(wb.status().acknowledged_total, 0u);
  EXPECT_EQ(wb.status().journal_bytes, 0u) << "a refused value reached the journal";
  EXPECT_TRUE(wb.put(entry::put("good", R"({"a":"\u0001","n":[[[1e300]]]})", 1)));
  ASSERT_TRUE(wb.flush(10s).value().complete);
  EXPECT_EQ(wb.status().dead_letters, 0u);
}

}  // namespace
}  // namespace storesync
