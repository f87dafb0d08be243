// redis_store beyond the conformance suite, against real Redis servers: the
// version guard under writers on separate connections and in two processes
// (the test binary started again as a child), exact comparison of
// versions above 2^53, scripts reloaded after SCRIPT FLUSH, Redis's errors
// mapped onto storesync's (a server that goes away and comes back, OOM,
// another type under a store's key), and the URL.
#include "storesync/store/redis_store.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "tests/child_process.hpp"
#include "tests/integration/moved_from_check.hpp"
#include "tests/redis_test_env.hpp"

namespace storesync {
namespace {

redis_store open_store(const std::string& url, const std::string& prefix) {
  auto s = redis_store::open({.url = url, .prefix = prefix, .pool_size = 2, .command_timeout = std::chrono::seconds(30)});
  if (!s) throw std::runtime_error("open: " + s.error().message());
  return std::move(s).value();
}

/// One raw command on `url`'s server (to set the scene behind the store).
void raw(const std::string& url, std::initializer_list<std::string_view> args) {
  auto a = detail::parse_redis_url(url).value();
  auto conn = detail::redis_connection::open(a, std::chrono::seconds(10), std::chrono::seconds(10)).value();
  std::vector<std::string_view> argv(args);
  auto r = conn->command(argv, "test setup");
  ASSERT_TRUE(r) << r.error().message();
}

TEST(RedisStore, WritersOnSeparateConnectionsConvergeOnTheNewestVersion) {
  const std::string url = testing::test_redis_url();
  const std::string prefix = testing::unique_redis_prefix("converge");
  constexpr int writers = 4, keys = 20, writes = 300;
  std::vector<std::map<std::string, version_type>> newest(writers);
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      redis_store s = open_store(url, prefix);  // its own connections
      std::mt19937_64 rng(static_cast<std::uint64_t>(w) + 1);
      for (int i = 0; i < writes; ++i) {
        const std::string key = "k" + std::to_string(rng() % keys);
        const auto v = static_cast<version_type>(1 + rng() % 1'000'000);
        const entry e = entry::put(key, std::to_string(v), v);
        auto r = s.write(std::span(&e, 1));
        ASSERT_TRUE(r) << r.error().message();
        auto& n = newest[static_cast<std::size_t>(w)][key];
        n = std::max(n, v);
      }
    });
  }
  for (auto& t : threads) t.join();
  redis_store s = open_store(url, prefix);
  for (int k = 0; k < keys; ++k) {
    const std::string key = "k" + std::to_string(k);
    version_type want = 0;
    for (const auto& n : newest)
      if (auto it = n.find(key); it != n.end()) want = std::max(want, it->second);
    auto got = s.read(key);
    ASSERT_TRUE(got) << got.error().message();
    if (want == 0) {
      EXPECT_FALSE(got.value());
      continue;
    }
    ASSERT_TRUE(got.value()) << key;
    EXPECT_EQ(got.value()->version, want) << key;
    EXPECT_EQ(got.value()->value, std::to_string(want)) << key;
  }
}

// The two-process writers' plans: 200 keys, which the test (process 0)
// writes with even versions and its child (process 1) with odd ones, 5 to 15
// of each per key (so either may hold a key's newest), every write of a
// process in one shuffled order. Both processes build both plans from the
// same seeds, so the test knows what the child writes.
std::vector<entry> two_process_plan(int process) {
  std::mt19937_64 counts(2026);
  std::vector<entry> plan;
  for (int k = 0; k < 200; ++k) {
    const int n[2] = {static_cast<int>(5 + counts() % 11), static_cast<int>(5 + counts() % 11)};
    for (int j = 0; j < n[process]; ++j) {
      const version_type v = 2 * j + 2 - process;
      plan.push_back(entry::put("k" + std::to_string(k), std::to_string(v), v));
    }
  }
  std::shuffle(plan.begin(), plan.end(), std::mt19937_64(static_cast<std::uint64_t>(process) + 1));
  return plan;
}

// How many writes of `plan` come after a newer write of their key in the same
// plan: the guard must call each of them stale, whatever the other process does.
std::size_t stale_by_own_order(const std::vector<entry>& plan) {
  std::map<std::string, version_type> newest;
  std::size_t stale = 0;
  for (const entry& e : plan) {
    auto& n = newest[e.key];
    if (e.version < n) ++stale;
    n = std::max(n, e.version);
  }
  return stale;
}

// Writes `plan` through `s` in batches of 8; empty, or what went wrong: a
// failed call, a report that does not account for its batch (every write is
// applied or stale: versions are never repeated), or fewer stale writes than
// the plan's own order guarantees.
std::string write_two_process_plan(redis_store& s, const std::vector<entry>& plan) {
  write_report total;
  for (std::size_t at = 0; at < plan.size(); at += 8) {
    const auto batch = std::span(plan).subspan(at, std::min<std::size_t>(8, plan.size() - at));
    auto r = s.write(batch);
    if (!r) return "batch at " + std::to_string(at) + ": " + r.error().message();
    const write_report& got = r.value();
    if (got.applied + got.stale != batch.size() || got.total() != batch.size())
      return "batch at " + std::to_string(at) + ": applied " + std::to_string(got.applied) + ", unchanged " +
             std::to_string(got.unchanged) + ", stale " + std::to_string(got.stale) + ", accepted " +
             std::to_string(got.accepted) + " of " + std::to_string(batch.size());
    total += got;
  }
  if (total.stale < stale_by_own_order(plan))
    return std::to_string(total.stale) + " stale, below the " + std::to_string(stale_by_own_order(plan)) +
           " the plan's own order makes stale";
  return {};
}

// The child: opens its own store (URL and prefix in args[0] and args[1]),
// reports "ready", waits for the test's byte on descriptor args[2], writes
// process 1's plan, and exits 0 only if every batch was accounted for.
STORESYNC_TEST_CHILD(write_odd_versions) {
  if (args.size() != 3) return 2;
  auto s = redis_store::open(
      {.url = args[0], .prefix = args[1], .pool_size = 2, .command_timeout = std::chrono::seconds(30)});
  if (!s) {
    std::fprintf(stderr, "child: open: %s\n", s.error().message().c_str());
    return 3;
  }
  char go = 0;
  if (::write(testing::report_fd, "r", 1) != 1 || ::read(std::stoi(args[2]), &go, 1) != 1) return 4;
  const std::string failure = write_two_process_plan(s.value(), two_process_plan(1));
  if (!failure.empty()) {
    std::fprintf(stderr, "child: %s\n", failure.c_str());
    return 5;
  }
  return 0;
}

// A descriptor closed when the test returns, however it returns.
struct owned_fd {
  int fd = -1;
  ~owned_fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Two OS processes, each with its own store and connections, write the same
// 200 keys at once (started together: the child waits for the test's byte),
// newer versions often before older ones. Every key ends at the newest
// version either process wrote, with that version's value.
TEST(RedisStore, WritersInTwoProcessesConvergeOnTheNewestVersion) {
  const std::string url = testing::test_redis_url();
  const std::string prefix = testing::unique_redis_prefix("converge2");
  const std::vector<entry> mine = two_process_plan(0), childs = two_process_plan(1);
  ASSERT_GT(stale_by_own_order(mine), 0u) << "no key's newest comes before an older version";
  ASSERT_GT(stale_by_own_order(childs), 0u) << "no key's newest comes before an older version";

  int go[2];
  ASSERT_EQ(::pipe2(go, O_CLOEXEC), 0);
  owned_fd go_read{go[0]}, go_write{go[1]};
  owned_fd inherited{::fcntl(go[0], F_DUPFD, 10)};  // no close-on-exec: the child's copy
  ASSERT_GE(inherited.fd, 0);
  testing::child_process child("write_odd_versions", {url, prefix, std::to_string(inherited.fd)});
  ASSERT_TRUE(child.started());
  redis_store s = open_store(url, prefix);
  char ready = 0;
  ASSERT_EQ(::read(child.reports(), &ready, 1), 1) << "the child ended before it was ready (see its stderr)";
  ASSERT_EQ(::write(go_write.fd, "g", 1), 1);
  EXPECT_EQ(write_two_process_plan(s, mine), "");
  const int status = child.wait();
  ASSERT_TRUE(WIFEXITED(status)) << "the child did not exit; wait status " << status;
  ASSERT_EQ(WEXITSTATUS(status), 0) << "the child's stderr (above) says what failed";

  std::map<std::string, version_type> newest;
  for (const auto* plan : {&mine, &childs})
    for (const entry& e : *plan) newest[e.key] = std::max(newest[e.key], e.version);
  ASSERT_EQ(newest.size(), 200u);
  for (const auto& [key, want] : newest) {
    auto got = s.read(key);
    ASSERT_TRUE(got) << got.error().message();
    ASSERT_TRUE(got.value()) << key;
    EXPECT_EQ(got.value()->version, want) << key;
    EXPECT_EQ(got.value()->value, std::to_string(want)) << key;
  }
}

TEST(RedisStore, VersionsAbove2To53CompareExactly) {
  redis_store s = open_store(testing::test_redis_url(), testing::unique_redis_prefix("big"));
  const version_type two53 = version_type{1} << 53;
  for (const auto& [older, newer] : {std::pair{two53, two53 + 1}, std::pair{max_entry_version - 1, max_entry_version}}) {
    const std::string key = "k" + std::to_string(older);
    const entry a = entry::put(key, "1", older), b = entry::put(key, "2", newer);
    EXPECT_EQ(s.write(std::span(&a, 1)).value().applied, 1u);
    EXPECT_EQ(s.write(std::span(&b, 1)).value().applied, 1u) << newer << " after " << older;
    EXPECT_EQ(s.write(std::span(&a, 1)).value().stale, 1u) << older << " after " << newer;
    EXPECT_EQ(s.read(key).value()->version, newer);
  }
  EXPECT_EQ(s.max_version().value(), max_entry_version);
}

// Versions issued by Redis order writes from processes with skewed clocks:
// each block starts above every block issued before (from any connection),
// every stored version and the caller's floor, exactly, also above 2^53.
TEST(RedisStore, IssuedVersionsAreAboveEverythingIssuedOrStored) {
  const std::string url = testing::test_redis_url();
  const std::string prefix = testing::unique_redis_prefix("issue");
  redis_store s = open_store(url, prefix);
  const auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const version_type first = s.issue_versions(3).value();
  EXPECT_GE(first, now_us - 60'000'000) << "Redis's clock, in microseconds since the epoch";
  EXPECT_GE(s.issue_versions(1).value(), first + 3) << "the next block starts past the first";

  const version_type ahead = first + 3'600'000'000;  // a writer an hour ahead
  const entry e = entry::put("k", "1", ahead);
  ASSERT_EQ(s.write(std::span(&e, 1)).value().applied, 1u);
  EXPECT_EQ(s.issue_versions(1).value(), ahead + 1);
  EXPECT_EQ(s.issue_versions(2, ahead + 100).value(), ahead + 100);
  EXPECT_EQ(s.issue_versions(1).value(), ahead + 102);

  const version_type big = (version_type{1} << 53) + 1;  // a double would round it
  EXPECT_EQ(s.issue_versions(1, big).value(), big);
  EXPECT_EQ(s.issue_versions(1).value(), big + 1);

  // Four connections at once: no version handed out twice.
  std::vector<std::vector<version_type>> got(4);
  std::vector<std::thread> threads;
  for (auto& mine : got)
    threads.emplace_back([&, &mine = mine] {
      redis_store own = open_store(url, prefix);
      for (int i = 0; i < 200; ++i) {
        auto v = own.issue_versions(5);
        ASSERT_TRUE(v) << v.error().message();
        for (version_type j = 0; j < 5; ++j) mine.push_back(v.value() + j);
      }
    });
  for (auto& t : threads) t.join();
  std::vector<version_type> all;
  for (const auto& mine : got) {
    EXPECT_TRUE(std::is_sorted(mine.begin(), mine.end()));
    all.insert(all.end(), mine.begin(), mine.end());
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end()) << "a version was issued twice";
  EXPECT_GT(all.front(), big + 1);

  EXPECT_EQ(s.issue_versions(0).error(), errc::invalid_argument);
  EXPECT_EQ(s.issue_versions(redis_store::max_issued_versions + 1).error(), errc::invalid_argument);
  EXPECT_EQ(s.issue_versions(2, max_entry_version).error(), errc::invalid_version);
  EXPECT_GT(s.issue_versions(1).value(), all.back()) << "a refused call issues nothing, and the clock goes on";
}

TEST(RedisStore, ScriptsAreLoadedAgainAfterTheServerForgetsThem) {
  const std::string url = testing::test_redis_url();
  redis_store s = open_store(url, testing::unique_redis_prefix("noscript"));
  raw(url, {"SCRIPT", "FLUSH"});
  const entry e = entry::put("k", "1", 1);
  auto r = s.write(std::span(&e, 1));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r.value().applied, 1u);
}

TEST(RedisStore, AnotherTypeUnderTheStoresKeyIsASchemaMismatch) {
  const std::string url = testing::test_redis_url();
  const std::string prefix = testing::unique_redis_prefix("wrongtype");
  redis_store s = open_store(url, prefix);
  raw(url, {"SET", prefix + "e:k", "not a hash"});
  auto r = s.read("k");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), errc::schema_mismatch) << r.error().message();
  EXPECT_EQ(r.error(), condition::permanent);
}

TEST(RedisStore, AServerThatGoesAwayIsUnavailableAndComesBack) {
  testing::private_redis redis;
  ASSERT_FALSE(redis.url().empty()) << "could not start a private Redis";
  redis_store s = open_store(redis.url(), "p:");
  const entry a = entry::put("k", "1", 1), b = entry::put("k", "2", 2);
  ASSERT_TRUE(s.write(std::span(&a, 1)));
  ASSERT_TRUE(redis.run("pause"));
  for (int i = 0; i < 3; ++i) {  // the pooled connection breaks, then new ones cannot connect
    auto down = s.write(std::span(&b, 1));
    ASSERT_FALSE(down);
    EXPECT_EQ(down.error(), condition::unavailable) << down.error().message();
  }
  auto never = redis_store::open({.url = redis.url()});
  ASSERT_FALSE(never);
  EXPECT_EQ(never.error(), errc::connection_failed) << never.error().message();
  ASSERT_TRUE(redis.run("resume"));
  auto up = s.write(std::span(&b, 1));
  ASSERT_TRUE(up) << up.error().message();
  EXPECT_EQ(up.value().applied, 1u);
  EXPECT_EQ(s.read("k").value()->version, 2) << "the append-only file kept version 1, and 2 went on";
}

TEST(RedisStore, OutOfMemoryIsOverloadedAndWritesNothing) {
  testing::private_redis redis;
  ASSERT_FALSE(redis.url().empty()) << "could not start a private Redis";
  redis_store s = open_store(redis.url(), "p:");
  raw(redis.url(), {"CONFIG", "SET", "maxmemory-policy", "noeviction"});
  raw(redis.url(), {"CONFIG", "SET", "maxmemory", "1"});
  const entry e = entry::put("k", "1", 1);
  auto r = s.write(std::span(&e, 1));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), errc::resource_exhausted) << r.error().message();
  EXPECT_EQ(r.error(), condition::overloaded);
  raw(redis.url(), {"CONFIG", "SET", "maxmemory", "0"});
  EXPECT_FALSE(s.read("k").value()) << "a refused batch wrote something";
}

TEST(RedisStore, AMovedFromStoreFailsEveryCallWithStopped) {
  redis_store s = open_store(testing::test_redis_url(), testing::unique_redis_prefix("moved"));
  testing::check_moved_from(s, "redis_store");
}

TEST(RedisStore, ReplyErrorsMapOntoConditions) {
  const std::pair<const char*, errc> cases[] = {
      {"OOM command not allowed when used memory > 'maxmemory'.", errc::resource_exhausted},
      {"BUSY Redis is busy running a script.", errc::busy},
      {"TRYAGAIN Multiple keys request during rehashing of slot", errc::busy},
      {"LOADING Redis is loading the dataset in memory", errc::connection_failed},
      {"MASTERDOWN Link with MASTER is down", errc::connection_failed},
      {"READONLY You can't write against a read only replica.", errc::connection_failed},
      {"MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist", errc::storage_failure},
      {"WRONGTYPE Operation against a key holding the wrong kind of value", errc::schema_mismatch},
      {"NOAUTH Authentication required.", errc::backend_failure},
      {"ERR unknown command", errc::backend_failure},
  };
  for (const auto& [message, want] : cases) {
    const error e = detail::redis_reply_error("write", message);
    EXPECT_EQ(e, want) << message;
    EXPECT_NE(e.message().find(message), std::string::npos) << e.message();
  }
}

TEST(RedisStore, UrlsAreParsedOrRefusedNamingTheProblem) {
  auto full = detail::parse_redis_url("redis://user:secret@cache.local:6380/3");
  ASSERT_TRUE(full) << full.error().message();
  EXPECT_EQ(full.value().host, "cache.local");
  EXPECT_EQ(full.value().port, 6380);
  EXPECT_EQ(full.value().db, 3);
  EXPECT_EQ(full.value().user, "user");
  EXPECT_EQ(full.value().password, "secret");
  auto bare = detail::parse_redis_url("redis://localhost");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare.value().port, 6379);
  EXPECT_EQ(bare.value().db, 0);
  for (const char* bad : {"http://x:1", "redis://", "redis://h:0", "redis://h:70000", "redis://h:12x", "redis://h/-1",
                          "redis://h/db", "redis://secret@h"}) {
    auto r = detail::parse_redis_url(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error(), errc::invalid_argument) << bad;
    EXPECT_NE(r.error().message().find("redis://[[user]:password@]host"), std::string::npos) << r.error().message();
  }
  auto no_prefix = redis_store::open({.url = "redis://127.0.0.1:1", .prefix = ""});
  ASSERT_FALSE(no_prefix);
  EXPECT_EQ(no_prefix.error(), errc::invalid_argument);
}

}  // namespace
}  // namespace storesync
