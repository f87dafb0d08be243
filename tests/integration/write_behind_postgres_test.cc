// write_behind with PostgreSQL as the slow store: nothing acknowledged is
// lost when the process is killed (SIGKILL at several points, a torn journal
// tail) or when PostgreSQL goes away for ten seconds under load.
#include "storesync/strategy/write_behind.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "storesync/store/memory_store.hpp"
#include "storesync/store/postgres_store.hpp"
#include "tests/child_process.hpp"
#include "tests/pg_test_env.hpp"

namespace storesync {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using pg_write_behind = memory_write_behind<postgres_store>;


std::string scratch(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  auto dir = fs::path(tmp ? tmp : "/tmp") / name;
  fs::remove_all(dir);
  return dir.string();
}

result<postgres_store> open_table(const std::string& table) {
  postgres_config c;
  c.url = testing::test_pg_url();
  c.table = table;
  c.pool_size = 2;
  return postgres_store::open(c);
}

std::string key_of(std::uint32_t i) { return "k" + std::to_string(i % 5000); }
version_type version_of(std::uint32_t i) { return static_cast<version_type>(i) + 1; }
std::string value_of(std::uint32_t i) {
  return R"({"seq":)" + std::to_string(i) + R"(,"pad":")" + std::string(160, 'x') + "\"}";
}

/// The child: acknowledges puts and reports each one (its sequence number).
/// Arguments: the write-behind directory and the PostgreSQL table.
STORESYNC_TEST_CHILD(put_until_killed) {
  if (args.size() != 2) return 1;
  auto slow = open_table(args[1]);
  if (!slow) return 10;
  memory_store fast;
  write_behind_options o;
  o.directory = args[0];
  auto wb = pg_write_behind::open(fast, slow.value(), o, exponential_backoff({.base = 10ms, .cap = 200ms, .max_attempts = 20}),
                                  aimd_batch_sizer{}, block_for(std::chrono::seconds(30)));
  if (!wb) return 11;
  for (std::uint32_t i = 0; i < 50'000; ++i) {
    if (!wb.value()->put(entry::put(key_of(i), value_of(i), version_of(i)))) return 12;
    if (::write(testing::report_fd, &i, sizeof i) != sizeof i) return 13;
  }
  return 0;
}

/// Recovers the journal in `dir` into `table`, then checks that every
/// acknowledged key holds (at least) its last acknowledged version.
void recover_and_check(const std::string& dir, const std::string& table,
                       const std::vector<std::uint32_t>& acks, std::uint32_t truncations_expected) {
  auto slow = open_table(table);
  ASSERT_TRUE(slow) << slow.error().message();
  memory_store fast;
  write_behind_options o;
  o.directory = dir;
  auto metrics = std::make_shared<metrics_registry>();
  auto wb = pg_write_behind::open(fast, slow.value(), o, {}, {}, {}, {}, metrics);
  ASSERT_TRUE(wb) << wb.error().message();
  const flush_report f = wb.value()->flush(120s).value();
  ASSERT_TRUE(f.complete) << f.remaining << " entries still owed: " << f.last_error;

  std::map<std::string, version_type> last_acked;
  for (std::uint32_t i : acks) last_acked[key_of(i)] = version_of(i);
  std::size_t checked = 0;
  for (const auto& [key, version] : last_acked) {
    auto got = slow.value().read(key);
    ASSERT_TRUE(got) << got.error().message();
    ASSERT_TRUE(got.value()) << "acknowledged key " << key << " missing from PostgreSQL";
    // A put in flight at the kill may have reached the journal unacknowledged:
    // then a newer version is there, never an older one.
    EXPECT_GE(got.value()->version, version) << "key " << key << " lost its acknowledged version";
    ++checked;
  }
  EXPECT_EQ(checked, last_acked.size());
  const std::string text = metrics->render_prometheus();
  const std::string line = "storesync_journal_truncated_tails_total{journal=\"main\"} " +
                           std::to_string(truncations_expected);
  EXPECT_NE(text.find(line), std::string::npos) << "expected '" << line << "' in\n" << text;
}

TEST(WriteBehindPostgres, EveryAcknowledgedPutSurvivesSigkill) {
  std::mt19937 rng(std::random_device{}());
  const std::uint32_t kill_points[] = {500, 5000 + static_cast<std::uint32_t>(rng() % 10000),
                                       20000 + static_cast<std::uint32_t>(rng() % 25000)};
  int round = 0;
  for (std::uint32_t kill_after : kill_points) {
    SCOPED_TRACE("kill after " + std::to_string(kill_after) + " acknowledgements");
    const std::string dir = scratch("crash-" + std::to_string(round++));
    const std::string table = testing::unique_pg_name("wb_crash");
    testing::child_process child("put_until_killed", {dir, table});
    ASSERT_TRUE(child.started());
    std::vector<std::uint32_t> acks;
    std::uint32_t i;
    while (acks.size() < kill_after && ::read(child.reports(), &i, sizeof i) == sizeof i) acks.push_back(i);
    child.kill();
    // Acknowledgements already in the pipe were made before the kill.
    while (::read(child.reports(), &i, sizeof i) == sizeof i) acks.push_back(i);
    ASSERT_TRUE(child.killed_by_sigkill()) << "the child finished or failed before the kill (status "
                                           << child.wait() << ", " << acks.size() << " acks)";
    ASSERT_GE(acks.size(), kill_after);

    // The last round also tears the journal's tail, as a crash mid-write would.
    std::uint32_t truncations = 0;
    if (round == 3) {
      fs::path last;
      for (const auto& f : fs::directory_iterator(fs::path(dir) / "journal"))
        if (f.path().extension() == ".seg" && f.path() > last) last = f.path();
      ASSERT_FALSE(last.empty()) << "no journal segment in " << dir;
      std::ofstream(last, std::ios::app | std::ios::binary) << std::string("\x40\x00\x00\x00torn", 8);
      truncations = 1;
    }
    recover_and_check(dir, table, acks, truncations);
  }
}

/// A PostgreSQL of this test's own (scripts/pg.sh), so stopping it cannot
/// disturb tests that share the main one.
class private_postgres {
 public:
  private_postgres() {
    const char* script = std::getenv("STORESYNC_TEST_PG_SCRIPT");
    if (script == nullptr) return;
    script_ = script;
    if (FILE* out = ::popen(("bash '" + script_ + "' start").c_str(), "r")) {
      char line[4096] = {};
      if (std::fgets(line, sizeof line, out)) dir_ = std::string(line, std::strcspn(line, "\n"));
      ::pclose(out);
    }
    std::ifstream(dir_ + "/url") >> url_;
  }
  ~private_postgres() {
    if (!dir_.empty()) run("stop");
  }
  bool run(const char* verb) { return std::system(("bash '" + script_ + "' " + verb + " '" + dir_ + "'").c_str()) == 0; }
  const std::string& url() const { return url_; }

 private:
  std::string script_, dir_, url_;
};

TEST(WriteBehindPostgres, PostgresDownForTenSecondsLosesNothing) {
  ASSERT_NE(std::getenv("STORESYNC_TEST_PG_SCRIPT"), nullptr) << "STORESYNC_TEST_PG_SCRIPT is not set: run scripts/test.sh";
  private_postgres pg;
  ASSERT_FALSE(pg.url().empty()) << "could not start a private PostgreSQL";
  postgres_config config;
  config.url = pg.url();
  config.table = "wb_outage";
  config.pool_size = 2;
  auto slow = postgres_store::open(config);
  ASSERT_TRUE(slow) << slow.error().message();
  memory_store fast;
  write_behind_options o;
  o.directory = scratch("outage");
  o.max_pending_entries = 20'000;
  auto opened = pg_write_behind::open(fast, slow.value(), o,
                                      exponential_backoff({.base = 20ms, .cap = 500ms, .max_attempts = 4}),
                                      aimd_batch_sizer{}, block_for(50ms));
  ASSERT_TRUE(opened) << opened.error().message();
  auto& wb = *opened.value();

  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> acked{0}, overloaded{0}, other{0};
  std::map<std::string, version_type> last_acked;
  std::thread producer([&] {
    for (std::uint32_t i = 0; !done; ++i) {
      const entry e = entry::put("o" + std::to_string(i % 30'000), value_of(i), version_of(i));
      auto r = wb.put(e);
      if (r) {
        last_acked[e.key] = e.version;
        ++acked;
      } else if (r.error() == condition::overloaded) {
        ++overloaded;
      } else {
        ++other;
      }
      std::this_thread::sleep_for(100us);
    }
  });
  // Every wait below follows progress (acknowledgements, refusals), never
  // the clock: a loaded machine only makes the test slower. The deadline
  // only guards against a hang.
  const auto hang_guard = std::chrono::steady_clock::now() + 600s;
  auto wait_for = [&](auto done_waiting) {
    while (!done_waiting() && std::chrono::steady_clock::now() < hang_guard) std::this_thread::sleep_for(1ms);
    return done_waiting();
  };
  ASSERT_TRUE(wait_for([&] { return acked.load() >= 1000; })) << "no progress before the outage";
  ASSERT_TRUE(pg.run("pause"));
  const auto acked_before = acked.load();
  const auto overloaded_before = overloaded.load();
  // Down: puts go on until the pending bound, then backpressure refuses them.
  ASSERT_TRUE(wait_for([&] { return overloaded.load() > overloaded_before + 100; }))
      << "the pending bound was never reached while PostgreSQL was down";
  const auto acked_during = acked.load() - acked_before;
  const auto status_down = wb.status();
  ASSERT_TRUE(pg.run("resume"));
  const auto acked_resumed = acked.load();
  ASSERT_TRUE(wait_for([&] { return acked.load() >= acked_resumed + 1000; })) << "no progress after the outage";
  done = true;
  producer.join();

  EXPECT_GT(acked_during, 0u) << "puts stopped succeeding while PostgreSQL was down";
  EXPECT_GT(overloaded.load(), 0u) << "the pending bound was never reached";
  EXPECT_EQ(other.load(), 0u) << "puts failed for another reason than backpressure";
  EXPECT_LE(status_down.pending + status_down.in_flight, o.max_pending_entries);
  EXPECT_FALSE(status_down.last_error.empty());
  EXPECT_EQ(status_down.dead_letters, 0u) << "an outage must not create dead letters";

  const flush_report f = wb.flush(120s).value();
  ASSERT_TRUE(f.complete) << f.remaining << " still owed: " << f.last_error;
  // The outage is over, and neither the flush nor the status still says
  // otherwise.
  EXPECT_EQ(f.last_error, "");
  EXPECT_EQ(wb.status().last_error, "");
  for (const auto& [key, version] : last_acked) {
    auto got = slow.value().read(key);
    ASSERT_TRUE(got) << got.error().message();
    ASSERT_TRUE(got.value()) << "acknowledged key " << key << " missing";
    ASSERT_EQ(got.value()->version, version) << "key " << key;
  }
}

}  // namespace
}  // namespace storesync
