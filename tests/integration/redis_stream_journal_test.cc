// redis_stream_journal against a real Redis: appends owned by their writer
// from the moment they are acknowledged, replay and checkpoints (XACK and
// XDEL: the stream holds what is owed and nothing else), a reopen that finds
// its own records again, the take-over of a silent consumer's records by
// exactly one survivor even when two race for them (and only after a second
// silence: a lapsed liveness key alone, as after a Redis restart, is not
// enough), a record moved (to the dead letters) once even by an owner taken
// for dead, records of appends whose reply was lost found again, the
// stream's figures, and what the journal refuses.
#include "storesync/store/redis_stream_journal.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/redis_test_env.hpp"

namespace storesync {
namespace {

using namespace std::chrono_literals;

redis_stream_journal open_journal(const std::string& stream, const std::string& consumer,
                                  std::chrono::milliseconds dead_after = 60s) {
  auto j = redis_stream_journal::open({.url = testing::test_redis_url(),
                                       .stream = stream,
                                       .consumer = consumer,
                                       .dead_after = dead_after,
                                       .command_timeout = 30s});
  if (!j) throw std::runtime_error("open: " + j.error().message());
  return std::move(j).value();
}

std::vector<std::pair<lsn, std::string>> replay_all(redis_stream_journal& j, lsn after = 0) {
  std::vector<std::pair<lsn, std::string>> out;
  auto r = j.replay(after, [&](lsn at, std::span<const std::byte> rec) -> result<void> {
    out.emplace_back(at, std::string(reinterpret_cast<const char*>(rec.data()), rec.size()));
    return success();
  });
  if (!r) throw std::runtime_error("replay: " + r.error().message());
  EXPECT_EQ(r.value(), out.size());
  return out;
}

/// Calls take_over on `j` until it claimed `want` records in all, returning
/// them. Waits for the owner's liveness to lapse: a guard of 60 s only stops
/// a hang.
std::vector<std::string> take_until(redis_stream_journal& j, std::size_t want, std::size_t limit = 1000) {
  std::vector<std::string> got;
  const auto guard = std::chrono::steady_clock::now() + 60s;
  while (got.size() < want && std::chrono::steady_clock::now() < guard) {
    auto n = j.take_over(limit, [&](lsn, std::span<const std::byte> rec) -> result<void> {
      got.emplace_back(reinterpret_cast<const char*>(rec.data()), rec.size());
      return success();
    });
    if (!n) throw std::runtime_error("take_over: " + n.error().message());
    if (n.value() == 0) std::this_thread::sleep_for(20ms);
  }
  return got;
}

TEST(RedisStreamJournal, AppendsAreOwnedReplayedAndForgottenAtTheCheckpoint) {
  const std::string stream = testing::unique_redis_prefix("journal") + "s";
  auto j = open_journal(stream, "a");
  static_assert(journal<redis_stream_journal> && shared_journal<redis_stream_journal>);
  EXPECT_EQ(j.load_checkpoint().value(), 0u);
  const std::string binary("\0\xff\x01 record", 10);
  EXPECT_EQ(j.append(std::string_view("one")).value(), 1u);
  EXPECT_EQ(j.append(binary).value(), 2u);
  EXPECT_EQ(j.append(std::string_view("three")).value(), 3u);
  auto all = replay_all(j);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0], std::make_pair(lsn{1}, std::string("one")));
  EXPECT_EQ(all[1], std::make_pair(lsn{2}, binary));
  EXPECT_EQ(all[2], std::make_pair(lsn{3}, std::string("three")));
  EXPECT_EQ(replay_all(j, 2).size(), 1u);
  EXPECT_EQ(j.size_bytes(), 3u + binary.size() + 5u);

  auto stats = j.stream_stats().value();
  EXPECT_EQ(stats.length, 3u);
  EXPECT_EQ(stats.pending, 3u) << "owned from the moment they were acknowledged";
  EXPECT_EQ(stats.consumers, 1u);

  ASSERT_TRUE(j.commit_checkpoint(2));
  EXPECT_EQ(j.load_checkpoint().value(), 2u);
  all = replay_all(j);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].second, "three");
  stats = j.stream_stats().value();
  EXPECT_EQ(stats.length, 1u) << "acknowledged records leave the stream";
  EXPECT_EQ(stats.pending, 1u);
  EXPECT_EQ(j.size_bytes(), 5u);
  ASSERT_TRUE(j.commit_checkpoint(1)) << "a checkpoint never moves back";
  EXPECT_EQ(j.load_checkpoint().value(), 2u);

  auto beyond = j.commit_checkpoint(4);
  ASSERT_FALSE(beyond);
  EXPECT_EQ(beyond.error(), condition::invalid_input);
  ASSERT_TRUE(j.commit_checkpoint(3));
  EXPECT_EQ(j.stream_stats().value().length, 0u);
  EXPECT_EQ(j.stream_stats().value().oldest_age_ms, 0u);
}

TEST(RedisStreamJournal, AReopenFindsTheRecordsItStillOwns) {
  const std::string stream = testing::unique_redis_prefix("journal") + "s";
  {
    auto j = open_journal(stream, "a");
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(j.append(std::string_view("r" + std::to_string(i))));
    ASSERT_TRUE(j.commit_checkpoint(2));
    ASSERT_TRUE(j.close());
    EXPECT_EQ(j.append(std::string_view("late")).error(), errc::stopped);
  }
  auto again = open_journal(stream, "a");
  EXPECT_EQ(again.load_checkpoint().value(), 0u);
  const auto all = replay_all(again);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0], std::make_pair(lsn{1}, std::string("r2")));
  EXPECT_EQ(all[2], std::make_pair(lsn{3}, std::string("r4")));
  EXPECT_EQ(again.append(std::string_view("r5")).value(), 4u);

  // Another consumer owns none of them.
  auto other = open_journal(stream, "b");
  EXPECT_TRUE(replay_all(other).empty());
}

TEST(RedisStreamJournal, ASilentConsumersRecordsGoToASurvivor) {
  const std::string stream = testing::unique_redis_prefix("journal") + "s";
  auto dead = open_journal(stream, "dead", 200ms);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(dead.append(std::string_view("d" + std::to_string(i))));
  auto survivor = open_journal(stream, "survivor", 200ms);
  ASSERT_TRUE(survivor.append(std::string_view("own")));
  // "dead" never calls take_over again, so its liveness lapses.
  const auto got = take_until(survivor, 10);
  ASSERT_EQ(got.size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(got[static_cast<std::size_t>(i)], "d" + std::to_string(i));
  const auto owned = replay_all(survivor);
  ASSERT_EQ(owned.size(), 11u) << "taken records are the survivor's now";
  EXPECT_EQ(owned.front().second, "own");
  EXPECT_EQ(owned.back().first, 11u);
  ASSERT_TRUE(survivor.commit_checkpoint(11));
  const auto stats = survivor.stream_stats().value();
  EXPECT_EQ(stats.length, 0u);
  EXPECT_EQ(stats.pending, 0u);
  // The next take-over removes the consumer that owns nothing any more.
  ASSERT_TRUE(survivor.take_over(10, [](lsn, std::span<const std::byte>) -> result<void> { return success(); }));
  EXPECT_EQ(survivor.stream_stats().value().consumers, 1u);
}

TEST(RedisStreamJournal, ALiveConsumerKeepsItsRecords) {
  const std::string stream = testing::unique_redis_prefix("journal") + "s";
  auto owner = open_journal(stream, "owner");  // alive for a minute after open
  ASSERT_TRUE(owner.append(std::string_view("mine")));
  auto other = open_journal(stream, "other");
  auto n = other.take_over(100, [](lsn, std::span<const std::byte>) -> result<void> { return success(); });
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(n.value(), 0u);
  EXPECT_EQ(replay_all(owner).size(), 1u);
}

TEST(RedisStreamJournal, TwoSurvivorsRacingNeverGetTheSameRecord) {
  const std::string stream = testing::unique_redis_prefix("journal") + "s";
  constexpr std::size_t records = 600;
  {
    auto dead = open_journal(stream, "dead", 200ms);
    for (std::size_t i = 0; i < records; ++i) ASSERT_TRUE(dead.append(std::string_view("r" + std::to_string(i))));
  }
  auto b = open_journal(stream, "b", 200ms);
  auto c = open_journal(stream, "c", 200ms);
  std::vector<std::string> got_b, got_c;
  std::atomic<std::size_t> total{0};
  auto race = [&](redis_stream_journal& j, std::vector<std::string>& got) {
    const auto guard = std::chrono::steady_clock::now() + 60s;
    while (total.load() < records && std::chrono::steady_clock::now() < guard) {
      auto n = j.take_over(25, [&](lsn, std::span<const std::byte> rec) -> result<void> {
        got.emplace_back(reinterpret_cast<const char*>(rec.data()), rec.size());
        return success();
      });
      ASSERT_TRUE(n) << n.error().message();
      total += n.value();
      if (n.value() == 0) std::this_thread::sleep_for(5ms);
    }
  };
  std::thread tb([&] { race(b, got_b); });
  std::thread tc([&] { race(c, got_c); });
  tb.join();
  tc.join();
  std::multiset<std::string> all(got_b.begin(), got_b.end());
  all.insert(got_c.begin(), got_c.end());
  EXPECT_EQ(all.size(), records);
  EXPECT_EQ(std::set<std::string>(all.begin(), all.end()).size(), records) << "a record was taken twice";
  EXPECT_EQ(replay_all(b).size() + replay_all(c).size(), records);
}

TEST(RedisStreamJournal, ARecordMovesOnceAlsoWhenItsOwnerWasTakenForDeadAndCameBack) {
  const std::string stream = testing::unique_redis_prefix("journal") + "s";
  auto slow = open_journal(stream, "slow", 200ms);
  auto slow_letters = open_journal(stream + ":letters", "slow", 200ms);
  ASSERT_EQ(slow.append(std::string_view("poison")).value(), 1u);
  ASSERT_EQ(slow.append(std::string_view("kept")).value(), 2u);
  auto survivor = open_journal(stream, "survivor", 200ms);
  auto survivor_letters = open_journal(stream + ":letters", "survivor", 200ms);
  // "slow" stays silent past dead_after (a long pause): its records go.
  ASSERT_EQ(take_until(survivor, 2), (std::vector<std::string>{"poison", "kept"}));

  // Back from its pause, "slow" still believes it holds lsn 1: it moves nothing.
  auto late = slow.move_to(1, slow_letters, std::string_view("letter from slow"));
  ASSERT_TRUE(late) << late.error().message();
  EXPECT_FALSE(late.value().has_value());
  EXPECT_TRUE(replay_all(slow_letters).empty());
  auto unknown = slow.move_to(1, slow_letters, std::string_view("again"));
  ASSERT_FALSE(unknown) << "lsn 1 is no longer this journal's";
  EXPECT_EQ(unknown.error(), condition::invalid_input);

  // The owner moves it: one letter, and the record leaves the stream.
  const lsn poison = replay_all(survivor).front().first;
  auto moved = survivor.move_to(poison, survivor_letters, std::string_view("letter"));
  ASSERT_TRUE(moved) << moved.error().message();
  ASSERT_TRUE(moved.value().has_value());
  const auto letters = replay_all(survivor_letters);
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(letters[0], std::make_pair(*moved.value(), std::string("letter")));
  const auto owned = replay_all(survivor);
  ASSERT_EQ(owned.size(), 1u);
  EXPECT_EQ(owned[0].second, "kept");
  EXPECT_EQ(survivor.stream_stats().value().length, 1u);
  EXPECT_EQ(survivor_letters.stream_stats().value().length, 1u);

  // A process that dies holding letters leaves them to a survivor too.
  auto doomed_letters = open_journal(stream + ":letters", "doomed", 200ms);
  ASSERT_TRUE(doomed_letters.append(std::string_view("doomed letter")));
  ASSERT_EQ(take_until(survivor_letters, 1), std::vector<std::string>{"doomed letter"});
  EXPECT_EQ(replay_all(survivor_letters).size(), 2u);
}

TEST(RedisStreamJournal, ALapsedLivenessKeyIsOnlySuspicionUntilASecondSilence) {
  // As after a Redis restart from its AOF, which finds every liveness key
  // expired: the owner's key is gone while the owner is alive.
  const std::string stream = testing::unique_redis_prefix("journal") + "s";
  auto owner = open_journal(stream, "owner");
  ASSERT_TRUE(owner.append(std::string_view("mine")));
  auto other = open_journal(stream, "other");
  auto a = detail::parse_redis_url(testing::test_redis_url()).value();
  auto conn = detail::redis_connection::open(a, 10s, 10s).value();
  const std::string key = stream + ":alive:owner";
  const std::string_view lapse[] = {"DEL", key};
  ASSERT_TRUE(conn->command(lapse, "test setup"));
  const auto none = [](lsn, std::span<const std::byte>) -> result<void> { return success(); };
  auto n = other.take_over(100, none);
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(n.value(), 0u) << "a lapsed key makes the owner suspected, not dead";
  const std::string suspicion = stream + ":suspect:owner";
  const std::string_view exists[] = {"EXISTS", suspicion};
  EXPECT_EQ(conn->command(exists, "test check").value()->integer, 1);
  // The owner shows itself within dead_after: suspicion is cleared, it keeps its record.
  ASSERT_TRUE(owner.take_over(0, none));
  EXPECT_EQ(conn->command(exists, "test check").value()->integer, 0);
  n = other.take_over(100, none);
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(n.value(), 0u);
  EXPECT_EQ(replay_all(owner).size(), 1u);
}

TEST(RedisStreamJournal, ARecordWhoseAppendReplyWasLostIsFoundAtTheNextTakeOver) {
  testing::private_redis redis;
  ASSERT_FALSE(redis.url().empty()) << "could not start a private Redis";
  auto opened = redis_stream_journal::open({.url = redis.url() + "/0", .stream = "s", .consumer = "a",
                                            .command_timeout = 30s});
  ASSERT_TRUE(opened) << opened.error().message();
  redis_stream_journal j = std::move(opened).value();
  ASSERT_EQ(j.append(std::string_view("known")).value(), 1u);
  // What Redis holds after an append whose reply never arrived: the record,
  // pending for "a", which "a" does not know of.
  auto a = detail::parse_redis_url(redis.url()).value();
  {
    auto conn = detail::redis_connection::open(a, 10s, 10s).value();
    const std::string_view add[] = {"XADD", "s", "*", "r", "lost"};
    ASSERT_TRUE(conn->command(add, "test setup"));
    const std::string_view read[] = {"XREADGROUP", "GROUP", "storesync", "a", "COUNT", "1", "STREAMS", "s", ">"};
    ASSERT_TRUE(conn->command(read, "test setup"));
  }
  const auto none = [](lsn, std::span<const std::byte>) -> result<void> { return success(); };
  ASSERT_EQ(j.take_over(100, none).value(), 0u) << "no reply was lost yet: nothing to look for";
  ASSERT_TRUE(redis.run("pause"));
  auto failed = j.append(std::string_view("unanswered"));
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error(), condition::unavailable) << failed.error().message();
  ASSERT_TRUE(redis.run("resume"));

  std::vector<std::string> found;
  auto n = j.take_over(100, [&](lsn, std::span<const std::byte> rec) -> result<void> {
    found.emplace_back(reinterpret_cast<const char*>(rec.data()), rec.size());
    return success();
  });
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(found, std::vector<std::string>{"lost"});
  const auto owned = replay_all(j);
  ASSERT_EQ(owned.size(), 2u);
  EXPECT_EQ(owned[1].second, "lost");
  ASSERT_TRUE(j.commit_checkpoint(owned[1].first));
  EXPECT_EQ(j.stream_stats().value().length, 0u) << "delivered and acknowledged, not left behind";
}

TEST(RedisStreamJournal, ARecordNoJournalAddedIsCorruptNotSilentlyOwned) {
  const std::string stream = testing::unique_redis_prefix("journal") + "s";
  auto j = open_journal(stream, "a");
  auto a = detail::parse_redis_url(testing::test_redis_url()).value();
  auto conn = detail::redis_connection::open(a, 10s, 10s).value();
  const std::string_view foreign[] = {"XADD", stream, "*", "x", "y"};
  ASSERT_TRUE(conn->command(foreign, "test setup"));
  auto r = j.append(std::string_view("mine"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), condition::permanent);
  EXPECT_NE(r.error().message().find("no journal added"), std::string::npos) << r.error().message();
}

TEST(RedisStreamJournal, BadOptionsAreRefusedNamingTheProblem) {
  redis_stream_journal_options o{.url = "redis://127.0.0.1:1/0", .stream = "s", .consumer = "a"};
  EXPECT_TRUE(redis_stream_journal::check(o));
  auto with = [&](auto change) {
    auto copy = o;
    change(copy);
    auto r = redis_stream_journal::check(copy);
    return r ? std::string() : r.error().message();
  };
  EXPECT_NE(with([](auto& c) { c.consumer = ""; }).find("consumer"), std::string::npos);
  EXPECT_NE(with([](auto& c) { c.consumer = "a b"; }).find("consumer"), std::string::npos);
  EXPECT_NE(with([](auto& c) { c.stream = ""; }).find("stream"), std::string::npos);
  EXPECT_NE(with([](auto& c) { c.dead_after = 5ms; }).find("dead_after"), std::string::npos);
  EXPECT_NE(with([](auto& c) { c.url = "http://x"; }).find("redis://"), std::string::npos);
  auto unreachable = redis_stream_journal::open(o);
  ASSERT_FALSE(unreachable);
  EXPECT_EQ(unreachable.error(), condition::unavailable);
}

}  // namespace
}  // namespace storesync
