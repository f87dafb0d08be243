// write_behind on a shared Redis: a redis_store as the fast store and
// redis_stream_journals as the journals, two processes' worth of
// write_behinds on one stream. What one left owed when it went away (its
// slow store down, so nothing of it was flushed) is taken over by the other
// once the first one's liveness lapses, and flushed: every key reaches the
// survivor's slow store at its last acknowledged version, and the stream
// ends empty.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <thread>

#include "storesync/store/faulty_store.hpp"
#include "storesync/store/memory_store.hpp"
#include "storesync/store/redis_store.hpp"
#include "storesync/store/redis_stream_journal.hpp"
#include "storesync/strategy/write_behind.hpp"
#include "tests/redis_test_env.hpp"

namespace storesync {
namespace {

using namespace std::chrono_literals;

using slow_store = faulty_store<memory_store>;
using shared_write_behind = write_behind<redis_store, slow_store, exponential_backoff, aimd_batch_sizer, block_for,
                                         system_clock, redis_stream_journal>;

struct process_journals {
  redis_stream_journal log;
  redis_stream_journal letters;
};

process_journals journals_of(const std::string& prefix, const std::string& consumer) {
  auto open = [&](const std::string& stream) {
    auto j = redis_stream_journal::open({.url = testing::test_redis_url(),
                                         .stream = prefix + stream,
                                         .consumer = consumer,
                                         .dead_after = 300ms,
                                         .command_timeout = 30s});
    if (!j) throw std::runtime_error("open " + stream + ": " + j.error().message());
    return std::move(j).value();
  };
  return {open("journal"), open("dead-letters")};
}

std::unique_ptr<shared_write_behind> open_write_behind(redis_store& fast, slow_store& slow, process_journals j) {
  write_behind_options o;
  o.take_over_interval = 50ms;
  o.outage_pause = 20ms;
  auto wb = shared_write_behind::open(fast, slow, std::move(j.log), std::move(j.letters), o,
                                      exponential_backoff({.base = 5ms, .cap = 20ms, .max_attempts = 2}));
  if (!wb) throw std::runtime_error("open write_behind: " + wb.error().message());
  return std::move(wb).value();
}

TEST(WriteBehindOnRedis, WhatADeadProcessOwedIsTakenOverAndFlushed) {
  const std::string prefix = testing::unique_redis_prefix("wb");
  auto fast = redis_store::open({.url = testing::test_redis_url(), .prefix = prefix + "fast:"}).value();
  constexpr int keys = 50, rounds = 4;
  std::map<std::string, version_type> last;
  std::size_t acknowledged = 0;
  {
    slow_store down;
    down.set_faults({.unavailable_rate = 1});
    auto first = open_write_behind(fast, down, journals_of(prefix, "first"));
    for (int r = 0; r < rounds; ++r)
      for (int k = 0; k < keys; ++k) {
        const std::string key = "k" + std::to_string(k);
        const version_type v = first->next_version();
        ASSERT_TRUE(first->put(entry::put(key, std::to_string(r), v)));
        last[key] = v;
        ++acknowledged;
      }
    EXPECT_EQ(down.inner().size(), 0u);
  }  // "first" goes away owing everything, and stops marking itself alive

  slow_store slow;
  auto survivor = open_write_behind(fast, slow, journals_of(prefix, "survivor"));
  const auto guard = std::chrono::steady_clock::now() + 60s;  // only against a hang
  while (survivor->status().taken_over_total < acknowledged && std::chrono::steady_clock::now() < guard)
    std::this_thread::sleep_for(20ms);
  EXPECT_EQ(survivor->status().taken_over_total, acknowledged);
  auto flushed = survivor->flush(30s);
  ASSERT_TRUE(flushed) << flushed.error().message();
  EXPECT_TRUE(flushed.value().complete);
  for (const auto& [key, v] : last) {
    auto got = slow.inner().read(key);
    ASSERT_TRUE(got && got.value()) << key << " never reached the slow store";
    EXPECT_EQ(got.value()->version, v) << key;
  }
  EXPECT_EQ(slow.inner().size(), last.size());

  // Everything delivered was acknowledged in the stream and left it: what
  // stays is the survivor's version mark (write_behind journals one at each
  // checkpoint, and the next checkpoint takes it away).
  auto a = detail::parse_redis_url(testing::test_redis_url()).value();
  auto conn = detail::redis_connection::open(a, 10s, 10s).value();
  const std::string stream = prefix + "journal";
  const std::string_view range[] = {"XRANGE", stream, "-", "+"};
  auto rest = conn->command(range, "test XRANGE");
  // The checkpoint follows the flush (at most checkpoint_interval later).
  while (rest && rest.value()->elements > 1 && std::chrono::steady_clock::now() < guard) {
    std::this_thread::sleep_for(20ms);
    rest = conn->command(range, "test XRANGE");
  }
  ASSERT_TRUE(rest) << rest.error().message();
  EXPECT_LE(rest.value()->elements, 1u);
  for (std::size_t i = 0; i < rest.value()->elements; ++i) {
    const redisReply& rec = *rest.value()->element[i]->element[1]->element[1];
    EXPECT_TRUE(is_version_mark(std::as_bytes(std::span(rec.str, rec.len)))) << "an entry was left in the stream";
  }
}

}  // namespace
}  // namespace storesync
