#include "storesync/strategy/delivery.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "storesync/metrics/registry.hpp"
#include "storesync/policy/manual_clock.hpp"
#include "storesync/store/faulty_store.hpp"
#include "storesync/store/memory_store.hpp"

namespace storesync {
namespace {

using namespace std::chrono_literals;
using sink_store = faulty_store<memory_store>;

// A BatchSizer that keeps every outcome it is fed (in a vector its copies
// share) and proposes 100 plus the number of outcomes seen, so that each
// record changes `next_size()`.
struct recording_sizer {
  std::shared_ptr<std::vector<batch_outcome>> seen = std::make_shared<std::vector<batch_outcome>>();

  std::size_t next_size() const noexcept { return 100 + seen->size(); }
  void record(const batch_outcome& o) noexcept { seen->push_back(o); }
};
static_assert(batch_sizer<recording_sizer>);

template <class Sizer = fixed_batch_sizer>
using delivery_to = delivery<sink_store, exponential_backoff, Sizer, manual_clock>;

// Three attempts in all, with small, reproducible delays.
exponential_backoff three_attempts() {
  return exponential_backoff{{.base = 10ms, .cap = 100ms, .max_attempts = 3, .max_elapsed = 0ms, .seed = 7}};
}

std::string key_of(std::size_t i) { return "key:" + std::to_string(i); }

std::vector<entry> make_batch(std::size_t n, version_type version = 1) {
  std::vector<entry> batch;
  for (std::size_t i = 0; i < n; ++i)
    batch.push_back(entry::put(key_of(i), "{\"n\":" + std::to_string(i) + "}", version));
  return batch;
}

std::optional<entry> stored(sink_store& s, std::string_view key) {
  auto r = s.inner().read(key);
  EXPECT_TRUE(r) << r.error().message();
  return r ? r.value() : std::nullopt;
}

// What the callbacks saw.
struct calls {
  struct written_call {
    std::size_t first;
    std::vector<entry> part;
    write_report verdicts;
  };
  struct refused_call {
    std::size_t index;
    error why;
  };
  std::vector<written_call> written;
  std::vector<refused_call> refused;
};

// Delivers `batch`, recording both callbacks; `refused` accepts every letter.
template <class D>
delivery_report deliver_recorded(D& d, std::span<const entry> batch, calls& seen) {
  return d.deliver(
      batch,
      [&](std::size_t first, std::span<const entry> part, const write_report& verdicts) {
        seen.written.push_back({first, std::vector<entry>(part.begin(), part.end()), verdicts});
      },
      [&](std::size_t at, const error& why) -> result<void> {
        seen.refused.push_back({at, why});
        return success();
      });
}

// Each `written` call names batch[first, first + part.size()), the calls come
// in batch order, and together with `refused` they cover [0, settled) once.
void expect_consistent(const calls& seen, std::span<const entry> batch, std::size_t settled) {
  std::vector<int> covered(batch.size(), 0);
  std::size_t previous_end = 0;
  for (const auto& w : seen.written) {
    ASSERT_LE(w.first + w.part.size(), batch.size());
    EXPECT_GE(w.first, previous_end) << "written out of order";
    previous_end = w.first + w.part.size();
    for (std::size_t i = 0; i < w.part.size(); ++i) {
      EXPECT_EQ(w.part[i], batch[w.first + i]) << "part at " << w.first << " is not batch[" << w.first << ", ...)";
      ++covered[w.first + i];
    }
  }
  for (const auto& r : seen.refused) {
    ASSERT_LT(r.index, batch.size());
    ++covered[r.index];
  }
  for (std::size_t i = 0; i < batch.size(); ++i)
    EXPECT_EQ(covered[i], i < settled ? 1 : 0) << "entry " << i << " of " << batch.size();
}

TEST(Delivery, WritesACleanBatchWholeWithTheStoresVerdicts) {
  sink_store sink;
  // Already stored: key:1 at the same version (unchanged), key:2 at a newer one (stale).
  const entry before[] = {entry::put(key_of(1), "{\"n\":1}", 1), entry::put(key_of(2), "{\"old\":0}", 9)};
  ASSERT_TRUE(sink.inner().write(before));
  manual_clock clock;
  delivery_to<> d(sink, three_attempts(), fixed_batch_sizer{}, clock);

  const auto batch = make_batch(5);
  calls seen;
  const delivery_report done = deliver_recorded(d, batch, seen);

  EXPECT_EQ(done.settled, 5u);
  EXPECT_EQ(done.dead_lettered, 0u);
  EXPECT_FALSE(done.stopped_by.has_value());
  EXPECT_EQ(done.written, (write_report{.applied = 3, .unchanged = 1, .stale = 1}));
  ASSERT_EQ(seen.written.size(), 1u) << "a clean batch is written in one piece";
  EXPECT_EQ(seen.written[0].first, 0u);
  EXPECT_EQ(seen.written[0].part, batch);
  EXPECT_EQ(seen.written[0].verdicts, done.written);
  EXPECT_TRUE(seen.refused.empty());
  EXPECT_EQ(sink.calls(), 1u);
  for (std::size_t i : {0u, 3u, 4u}) EXPECT_EQ(stored(sink, key_of(i)), batch[i]) << i;
  EXPECT_EQ(stored(sink, key_of(1)), batch[1]);
  EXPECT_EQ(stored(sink, key_of(2)), before[1]) << "the version guard keeps the newer entry";
}

TEST(Delivery, AnEmptyBatchSettlesNothingAndStopsForNothing) {
  sink_store sink;
  manual_clock clock;
  delivery_to<> d(sink, three_attempts(), fixed_batch_sizer{}, clock);
  calls seen;
  const delivery_report done = deliver_recorded(d, std::span<const entry>{}, seen);
  EXPECT_EQ(done.settled, 0u);
  EXPECT_FALSE(done.stopped_by.has_value());
  EXPECT_EQ(done.dead_lettered, 0u);
  EXPECT_TRUE(seen.refused.empty());
}

TEST(Delivery, IsolatesOnePoisonEntryByHalving) {
  for (std::size_t n : {1u, 2u, 3u, 7u, 8u, 13u}) {
    for (std::size_t poison = 0; poison < n; ++poison) {
      SCOPED_TRACE("batch of " + std::to_string(n) + ", poison at " + std::to_string(poison));
      sink_store sink;
      sink.poison(key_of(poison));
      manual_clock clock;
      delivery_to<> d(sink, three_attempts(), fixed_batch_sizer{}, clock);
      const auto batch = make_batch(n);
      calls seen;
      const delivery_report done = deliver_recorded(d, batch, seen);

      EXPECT_EQ(done.settled, n);
      EXPECT_EQ(done.dead_lettered, 1u);
      EXPECT_FALSE(done.stopped_by.has_value()) << done.stopped_by->message();
      EXPECT_EQ(done.written.applied, n - 1);
      ASSERT_EQ(seen.refused.size(), 1u);
      EXPECT_EQ(seen.refused[0].index, poison);
      EXPECT_EQ(seen.refused[0].why, errc::injected_permanent);
      EXPECT_NE(seen.refused[0].why.context().find(key_of(poison)), std::string::npos)
          << seen.refused[0].why.message();
      expect_consistent(seen, batch, n);
      for (std::size_t i = 0; i < n; ++i) {
        if (i == poison) EXPECT_FALSE(stored(sink, key_of(i)).has_value()) << "the poison entry was written";
        else EXPECT_EQ(stored(sink, key_of(i)), batch[i]) << "entry " << i;
      }
      EXPECT_EQ(clock.sleeps(), 0u) << "a permanent refusal is never retried";
    }
  }
}

TEST(Delivery, IsolatesSeveralPoisonEntries) {
  sink_store sink;
  const std::set<std::size_t> poison = {0, 3, 4, 9, 10};
  for (std::size_t p : poison) sink.poison(key_of(p));
  manual_clock clock;
  delivery_to<> d(sink, three_attempts(), fixed_batch_sizer{}, clock);
  const auto batch = make_batch(11);
  calls seen;
  const delivery_report done = deliver_recorded(d, batch, seen);

  EXPECT_EQ(done.settled, 11u);
  EXPECT_EQ(done.dead_lettered, poison.size());
  EXPECT_FALSE(done.stopped_by.has_value());
  EXPECT_EQ(done.written.applied, 11u - poison.size());
  std::vector<std::size_t> refused_at;
  for (const auto& r : seen.refused) {
    refused_at.push_back(r.index);
    EXPECT_EQ(r.why, condition::permanent);
  }
  EXPECT_EQ(refused_at, std::vector<std::size_t>(poison.begin(), poison.end())) << "refused in batch order";
  expect_consistent(seen, batch, 11);
  for (std::size_t i = 0; i < batch.size(); ++i)
    EXPECT_EQ(stored(sink, key_of(i)).has_value(), !poison.contains(i)) << "entry " << i;
}

TEST(Delivery, DeadLettersAnEntryTheStoreItselfRejectsAsInvalid) {
  sink_store sink;
  manual_clock clock;
  delivery_to<> d(sink, three_attempts(), fixed_batch_sizer{}, clock);
  auto batch = make_batch(6);
  batch[4].value = "{not json";
  batch[4].hash = hash_content(batch[4].value);
  calls seen;
  const delivery_report done = deliver_recorded(d, batch, seen);

  EXPECT_EQ(done.settled, 6u);
  EXPECT_EQ(done.dead_lettered, 1u);
  ASSERT_EQ(seen.refused.size(), 1u);
  EXPECT_EQ(seen.refused[0].index, 4u);
  EXPECT_EQ(seen.refused[0].why, condition::invalid_input);
  EXPECT_FALSE(stored(sink, key_of(4)).has_value());
  for (std::size_t i : {0u, 1u, 2u, 3u, 5u}) EXPECT_EQ(stored(sink, key_of(i)), batch[i]) << i;
}

TEST(Delivery, RetriesATransientFaultThatClearsWithinTheAttempts) {
  sink_store sink;
  sink.script({fault::transient, fault::unavailable});  // two failures; the third attempt passes
  manual_clock clock;
  delivery_to<recording_sizer> d(sink, three_attempts(), recording_sizer{}, clock);
  const auto batch = make_batch(4);
  calls seen;
  const delivery_report done = deliver_recorded(d, batch, seen);

  EXPECT_EQ(done.settled, 4u);
  EXPECT_FALSE(done.stopped_by.has_value()) << done.stopped_by->message();
  EXPECT_EQ(done.dead_lettered, 0u);
  EXPECT_TRUE(seen.refused.empty()) << "a transient fault is never dead-lettered";
  EXPECT_EQ(sink.calls(), 3u);
  ASSERT_EQ(seen.written.size(), 1u);
  EXPECT_EQ(seen.written[0].first, 0u);
  EXPECT_EQ(seen.written[0].part.size(), 4u);
  for (std::size_t i = 0; i < batch.size(); ++i) EXPECT_EQ(stored(sink, key_of(i)), batch[i]) << i;

  // The retries count as one write attempt set, timed on the manual clock.
  const auto& outcomes = *d.sizer().seen;
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].size, 4u);
  EXPECT_EQ(outcomes[0].failed, 0u);
  EXPECT_EQ(outcomes[0].duration, clock.slept()) << "the backoff waits are part of the batch's time";
  EXPECT_EQ(d.retries(), 2u);
  EXPECT_EQ(d.failing_attempts(), 0u) << "nothing is being retried once the write is over";
}

// A sink that reports, at each write, how many attempts its delivery counts
// as failed so far.
struct attempt_watching_sink : sink_store {
  std::function<std::uint32_t()> failing;
  std::vector<std::uint32_t> seen;
  result<write_report> write(std::span<const entry> batch) {
    seen.push_back(failing());
    return sink_store::write(batch);
  }
};

TEST(Delivery, CountsRetriesAndTheFailedAttemptsOfTheWriteInProgress) {
  attempt_watching_sink sink;
  manual_clock clock;
  metrics_registry metrics;
  delivery<attempt_watching_sink, exponential_backoff, fixed_batch_sizer, manual_clock> d(
      sink, three_attempts(), fixed_batch_sizer{}, clock, delivery_metrics{metrics, "test"});
  sink.failing = [&] { return d.failing_attempts(); };
  const auto batch = make_batch(3);

  sink.script({fault::unavailable, fault::unavailable, fault::unavailable});
  calls seen;
  EXPECT_EQ(deliver_recorded(d, batch, seen).settled, 0u);
  EXPECT_EQ(sink.seen, (std::vector<std::uint32_t>{0, 1, 2})) << "each attempt sees the failures before it";
  EXPECT_EQ(d.failing_attempts(), 0u) << "a retry sequence that gave up is over";
  EXPECT_EQ(d.retries(), 2u);

  sink.seen.clear();
  sink.script({fault::transient});
  calls again;
  EXPECT_EQ(deliver_recorded(d, batch, again).settled, 3u);
  EXPECT_EQ(sink.seen, (std::vector<std::uint32_t>{0, 1})) << "a new write starts from none";
  EXPECT_EQ(d.retries(), 3u);
  EXPECT_EQ(d.failing_attempts(), 0u);
  EXPECT_NE(metrics.render_prometheus().find("storesync_test_retries_total 3\n"), std::string::npos)
      << metrics.render_prometheus();
}

TEST(Delivery, StopsWhenAnOutageOutlastsTheRetries) {
  sink_store sink;
  sink.script({fault::unavailable, fault::unavailable, fault::unavailable});
  manual_clock clock;
  delivery_to<> d(sink, three_attempts(), fixed_batch_sizer{}, clock);
  const auto batch = make_batch(5);
  calls seen;
  const delivery_report done = deliver_recorded(d, batch, seen);

  EXPECT_EQ(done.settled, 0u);
  ASSERT_TRUE(done.stopped_by.has_value());
  EXPECT_EQ(*done.stopped_by, errc::injected_unavailable);
  EXPECT_EQ(done.dead_lettered, 0u);
  EXPECT_EQ(done.written, write_report{});
  EXPECT_TRUE(seen.written.empty());
  EXPECT_TRUE(seen.refused.empty()) << "an outage never creates dead letters";
  EXPECT_EQ(sink.calls(), 3u) << "three attempts, and no split of a batch the store did not refuse";
  for (std::size_t i = 0; i < batch.size(); ++i) EXPECT_FALSE(stored(sink, key_of(i)).has_value()) << i;

  // Once the store is back, the same delivery writes the batch.
  calls again;
  const delivery_report later = deliver_recorded(d, batch, again);
  EXPECT_EQ(later.settled, 5u);
  EXPECT_FALSE(later.stopped_by.has_value());
  for (std::size_t i = 0; i < batch.size(); ++i) EXPECT_EQ(stored(sink, key_of(i)), batch[i]) << i;
}

TEST(Delivery, AnOutageDuringASplitKeepsTheWrittenPrefixOnly) {
  sink_store sink;
  sink.poison(key_of(6));
  // [0, 8) is refused (poison), [0, 4) is written, then [4, 8) meets an outage
  // that outlasts its three attempts.
  sink.script({fault::none, fault::none, fault::unavailable, fault::unavailable, fault::unavailable});
  manual_clock clock;
  delivery_to<> d(sink, three_attempts(), fixed_batch_sizer{}, clock);
  const auto batch = make_batch(8);
  calls seen;
  const delivery_report done = deliver_recorded(d, batch, seen);

  EXPECT_EQ(done.settled, 4u);
  ASSERT_TRUE(done.stopped_by.has_value());
  EXPECT_EQ(*done.stopped_by, condition::unavailable);
  EXPECT_EQ(done.dead_lettered, 0u);
  EXPECT_EQ(done.written.applied, 4u);
  EXPECT_TRUE(seen.refused.empty()) << "the poison entry is still owed, not dead-lettered";
  expect_consistent(seen, batch, 4);
  for (std::size_t i = 0; i < batch.size(); ++i)
    EXPECT_EQ(stored(sink, key_of(i)).has_value(), i < 4) << "entry " << i;
}

TEST(Delivery, AFailingRefusedCallbackStopsAtThatIndex) {
  sink_store sink;
  sink.poison(key_of(2));
  sink.poison(key_of(5));
  manual_clock clock;
  delivery_to<> d(sink, three_attempts(), fixed_batch_sizer{}, clock);
  const auto batch = make_batch(8);
  std::vector<std::size_t> asked;
  std::vector<std::size_t> written_upto;
  const delivery_report done = d.deliver(
      batch,
      [&](std::size_t first, std::span<const entry> part, const write_report&) {
        written_upto.push_back(first + part.size());
      },
      [&](std::size_t at, const error&) -> result<void> {
        asked.push_back(at);
        return error{errc::storage_failure, "dead-letter log is full"};
      });

  EXPECT_EQ(done.settled, 2u);
  ASSERT_TRUE(done.stopped_by.has_value());
  EXPECT_EQ(*done.stopped_by, errc::storage_failure);
  EXPECT_EQ(done.stopped_by->context(), "dead-letter log is full");
  EXPECT_EQ(done.dead_lettered, 0u);
  EXPECT_EQ(asked, std::vector<std::size_t>{2});
  for (std::size_t end : written_upto) EXPECT_LE(end, 2u) << "something after the stop was written";
  for (std::size_t i = 0; i < batch.size(); ++i)
    EXPECT_EQ(stored(sink, key_of(i)).has_value(), i < 2) << "entry " << i;
}

TEST(Delivery, ARefusedCallbackFailingLaterKeepsTheLettersBeforeIt) {
  sink_store sink;
  sink.poison(key_of(2));
  sink.poison(key_of(5));
  manual_clock clock;
  delivery_to<> d(sink, three_attempts(), fixed_batch_sizer{}, clock);
  const auto batch = make_batch(8);
  std::vector<std::size_t> asked;
  const delivery_report done = d.deliver(
      batch, [](std::size_t, std::span<const entry>, const write_report&) {},
      [&](std::size_t at, const error&) -> result<void> {
        asked.push_back(at);
        if (at == 5) return error{errc::storage_failure, "dead-letter log is full"};
        return success();
      });

  EXPECT_EQ(done.settled, 5u);
  EXPECT_EQ(done.dead_lettered, 1u);
  ASSERT_TRUE(done.stopped_by.has_value());
  EXPECT_EQ(*done.stopped_by, errc::storage_failure);
  EXPECT_EQ(asked, (std::vector<std::size_t>{2, 5}));
  EXPECT_EQ(done.written.applied, 4u);  // entries 0, 1, 3 and 4
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const bool expected = i < 5 && i != 2;
    EXPECT_EQ(stored(sink, key_of(i)).has_value(), expected) << "entry " << i;
  }
}

// The checkpoint a checkpointed delivery commits once batch[0, end) is settled.
checkpoint settled_up_to(std::size_t end) { return checkpoint{"test", std::to_string(end)}; }

std::optional<std::string> committed(sink_store& s) {
  auto r = s.inner().load_checkpoint("test");
  EXPECT_TRUE(r) << r.error().message();
  return r ? r.value() : std::nullopt;
}

TEST(Delivery, ABatchTakenWholeCommitsItsCheckpointWithIt) {
  sink_store sink;
  manual_clock clock;
  delivery_to<> d(sink, three_attempts(), fixed_batch_sizer{}, clock);
  const auto batch = make_batch(4);
  std::vector<std::size_t> asked;
  const delivery_report done = d.deliver(
      batch,
      [&](std::size_t end) {
        asked.push_back(end);
        return settled_up_to(end);
      },
      [](std::size_t, std::span<const entry>, const write_report&) {},
      [](std::size_t, const error&) -> result<void> { return success(); });
  EXPECT_TRUE(done.checkpointed);
  EXPECT_EQ(committed(sink), "4");
  EXPECT_EQ(asked, std::vector<std::size_t>{4});
  EXPECT_EQ(sink.calls(), 1u) << "the batch and its checkpoint go in one write";
}

TEST(Delivery, EachPartOfASplitBatchCommitsTheCheckpointOfItsEnd) {
  sink_store sink;
  sink.poison(key_of(5));
  manual_clock clock;
  delivery_to<> d(sink, three_attempts(), fixed_batch_sizer{}, clock);
  const auto batch = make_batch(8);
  std::vector<std::size_t> checkpoint_after_part;
  const delivery_report done = d.deliver(
      batch, settled_up_to,
      [&](std::size_t first, std::span<const entry> part, const write_report&) {
        // Committed with the part, in its transaction.
        EXPECT_EQ(committed(sink), std::to_string(first + part.size()));
        checkpoint_after_part.push_back(first + part.size());
      },
      [](std::size_t, const error&) -> result<void> { return success(); });
  EXPECT_EQ(done.settled, 8u);
  EXPECT_TRUE(done.checkpointed);
  EXPECT_EQ(committed(sink), "8");
  EXPECT_EQ(checkpoint_after_part, (std::vector<std::size_t>{4, 5, 8}));
}

TEST(Delivery, AStopDuringASplitLeavesNothingPastTheCommittedCheckpoint) {
  sink_store sink;
  sink.poison(key_of(5));
  manual_clock clock;
  delivery_to<> d(sink, three_attempts(), fixed_batch_sizer{}, clock);
  const auto batch = make_batch(8);
  const delivery_report done = d.deliver(
      batch, settled_up_to, [](std::size_t, std::span<const entry>, const write_report&) {},
      [](std::size_t, const error&) -> result<void> { return error{errc::storage_failure, "dead-letter log is full"}; });
  EXPECT_EQ(done.settled, 5u);
  EXPECT_FALSE(done.checkpointed);
  // Entries 0-4 were written in two parts, each with its checkpoint: the
  // store holds nothing after the checkpoint it committed.
  EXPECT_EQ(committed(sink), "5");
  for (std::size_t i = 0; i < batch.size(); ++i)
    EXPECT_EQ(stored(sink, key_of(i)).has_value(), i < 5) << "entry " << i;
}

TEST(Delivery, ABatchEndingInARefusedEntryCommitsItsCheckpointAlone) {
  sink_store sink;
  sink.poison(key_of(3));
  manual_clock clock;
  delivery_to<> d(sink, three_attempts(), fixed_batch_sizer{}, clock);
  const auto batch = make_batch(4);
  const delivery_report done = d.deliver(
      batch, settled_up_to, [](std::size_t, std::span<const entry>, const write_report&) {},
      [](std::size_t, const error&) -> result<void> { return success(); });
  EXPECT_EQ(done.settled, 4u);
  EXPECT_EQ(done.dead_lettered, 1u);
  EXPECT_TRUE(done.checkpointed);
  EXPECT_EQ(committed(sink), "4");
}

TEST(Delivery, FeedsTheBatchSizerOnceForEachWriteAttemptSet) {
  sink_store sink;
  sink.poison(key_of(5));
  manual_clock clock;
  recording_sizer sizer;
  delivery_to<recording_sizer> d(sink, three_attempts(), sizer, clock);
  EXPECT_EQ(d.batch_size(), 100u) << "the sizer's first proposal";

  const auto batch = make_batch(8);
  calls seen;
  deliver_recorded(d, batch, seen);

  // [0,8) refused, [0,4) written, [4,8) refused, [4,6) refused, [4,5)
  // written, [5,6) refused alone, [6,8) written.
  const std::vector<std::pair<std::size_t, std::size_t>> expected = {
      {8, 8}, {4, 0}, {4, 4}, {2, 2}, {1, 0}, {1, 1}, {2, 0}};
  std::vector<std::pair<std::size_t, std::size_t>> got;
  for (const batch_outcome& o : *sizer.seen) got.emplace_back(o.size, o.failed);
  EXPECT_EQ(got, expected) << "one (size, failed) per write attempt set";
  EXPECT_EQ(sink.calls(), expected.size());
  EXPECT_EQ(d.batch_size(), 100u + expected.size()) << "batch_size() follows next_size()";
  EXPECT_EQ(d.batch_size(), d.sizer().next_size());

  // With retries, still one outcome per attempt set.
  sink.clear_poison();
  sink.script({fault::transient});
  const auto more = make_batch(3, 2);
  deliver_recorded(d, more, seen);
  ASSERT_EQ(sizer.seen->size(), expected.size() + 1);
  EXPECT_EQ(sizer.seen->back().size, 3u);
  EXPECT_EQ(sizer.seen->back().failed, 0u);
  EXPECT_EQ(d.batch_size(), 100u + expected.size() + 1);
}

TEST(Delivery, AStopFeedsTheSizerAFailedOutcome) {
  sink_store sink;
  sink.script({fault::unavailable, fault::unavailable, fault::unavailable});
  manual_clock clock;
  recording_sizer sizer;
  delivery_to<recording_sizer> d(sink, three_attempts(), sizer, clock);
  const auto batch = make_batch(6);
  calls seen;
  deliver_recorded(d, batch, seen);
  ASSERT_EQ(sizer.seen->size(), 1u);
  EXPECT_EQ(sizer.seen->front().size, 6u);
  EXPECT_EQ(sizer.seen->front().failed, 6u);
  EXPECT_EQ(sizer.seen->front().duration, clock.slept());
}

TEST(Delivery, CountsFlushedEntriesAndDeadLettersInTheRegistry) {
  sink_store sink;
  sink.poison(key_of(1));
  sink.poison(key_of(6));
  manual_clock clock;
  metrics_registry registry;
  delivery_to<> d(sink, three_attempts(), fixed_batch_sizer{}, clock, delivery_metrics{registry, "slow"});
  const auto batch = make_batch(8);
  calls seen;
  const delivery_report done = deliver_recorded(d, batch, seen);
  ASSERT_EQ(done.settled, 8u);

  const auto flushed = registry.counter("slow_flushed_total", "");
  const auto dead = registry.counter("slow_dead_lettered_total", "");
  const auto seconds = registry.histogram("slow_batch_seconds", "");
  ASSERT_TRUE(flushed);
  ASSERT_TRUE(dead);
  ASSERT_TRUE(seconds);
  EXPECT_EQ(flushed.value(), 6u);
  EXPECT_EQ(dead.value(), 2u);
  EXPECT_EQ(seconds.count(), sink.calls()) << "one observation per write attempt set";
  const std::string text = registry.render_prometheus();
  EXPECT_NE(text.find("\nstoresync_slow_flushed_total 6\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nstoresync_slow_dead_lettered_total 2\n"), std::string::npos) << text;

  // A dead letter the callback did not take is not counted.
  sink_store other;
  other.poison(key_of(0));
  delivery_to<> d2(other, three_attempts(), fixed_batch_sizer{}, clock, delivery_metrics{registry, "other"});
  const auto stop = d2.deliver(
      std::span<const entry>(batch).first(1), [](std::size_t, std::span<const entry>, const write_report&) {},
      [](std::size_t, const error&) -> result<void> { return error{errc::storage_failure}; });
  EXPECT_EQ(stop.settled, 0u);
  EXPECT_EQ(registry.counter("other_dead_lettered_total", "").value(), 0u);
  EXPECT_EQ(registry.counter("other_flushed_total", "").value(), 0u);
  EXPECT_EQ(dead.value(), 2u) << "another prefix counts apart";
}

}  // namespace
}  // namespace storesync
