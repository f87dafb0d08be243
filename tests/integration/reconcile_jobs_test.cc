// Reconcile jobs, three ways:
// - parse_reconcile_request: every member of a valid body, and hostile
//   bodies refused with a context that names what is wrong;
// - reconcile_jobs with a runner the test drives (no stores): ids, one job
//   at a time, live progress, cancel, failures, the 16 kept jobs, summary,
//   metrics, the schedule and the destructor;
// - the router over a real dual-write service (two SQLite files), with
//   drift made behind its back through the sqlite3 C API: check, full (dry
//   and not), repair of the inconsistency log, rebuild (cancelled, resumed,
//   restarted), the inconsistency log's paging, and the HTTP errors; and the
//   modes without a second store answering those routes with 404.
// Every wait polls a state with a loop bounded only as a hang guard: no
// assertion depends on how long anything takes.
#include "reference_server/reconcile_jobs.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "reference_server/direct_service.hpp"
#include "reference_server/dual_write_service.hpp"
#include "reference_server/router.hpp"
#include "reference_server/write_behind_service.hpp"
#include "storesync/store/sqlite_store.hpp"
#include "tests/printable.hpp"
#include "tests/router_reply.hpp"

namespace storesync::server {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// How long any wait may last before the test calls it a hang. Only a guard:
/// nothing asserts on elapsed time.
constexpr auto hang_guard = std::chrono::minutes(10);

/// Polls `done` until it holds (true) or the hang guard runs out (false).
template <class Pred>
bool eventually(Pred&& done, std::chrono::microseconds pause = 1ms) {
  const auto give_up = std::chrono::steady_clock::now() + hang_guard;
  while (!done()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(pause);
  }
  return true;
}

std::string printable(std::string_view text) { return testing::printable(text, 200); }

/// A fresh directory under the test's scratch space.
std::string scratch(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const fs::path dir = fs::path(tmp ? tmp : "/tmp") / ("reconcile_jobs_test-" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

// ---------------------------------------------------------------------------
// 1. parse_reconcile_request
// ---------------------------------------------------------------------------

/// The request `body` parses to; a test failure when it is refused.
reconcile_request accepted(std::string_view body) {
  auto r = parse_reconcile_request(body);
  if (!r) {
    ADD_FAILURE() << "refused " << printable(body) << ": " << r.error().message();
    return {};
  }
  return r.value();
}

/// The context of the refusal of `body`; a test failure when it is accepted
/// or refused as anything but invalid input.
std::string refusal(std::string_view body) {
  auto r = parse_reconcile_request(body);
  if (r) {
    ADD_FAILURE() << "accepted " << printable(body);
    return "<accepted>";
  }
  EXPECT_TRUE(r.error() == condition::invalid_input) << r.error().message();
  EXPECT_TRUE(r.error() == errc::invalid_argument) << r.error().message();
  EXPECT_EQ(error_code_name(r.error()), "invalid_input");
  return r.error().context();
}

TEST(ParseReconcileRequest, DefaultsAndEveryOperation) {
  const reconcile_request d = accepted(R"({"operation":"check"})");
  EXPECT_EQ(d.operation, "check");
  EXPECT_FALSE(d.dry_run);
  EXPECT_EQ(d.range.first, "");
  EXPECT_FALSE(d.range.last.has_value());
  EXPECT_EQ(d.max_differences, 100'000u);
  EXPECT_EQ(d.max_time.count(), 0);
  EXPECT_EQ(d.truth, source_of_truth::left);
  EXPECT_FALSE(d.restart);

  for (const char* op : {"check", "repair", "full", "rebuild"}) {
    SCOPED_TRACE(op);
    EXPECT_EQ(accepted(std::string(R"({"operation":")") + op + R"("})").operation, op);
    // Whitespace anywhere JSON allows it.
    EXPECT_EQ(accepted(std::string(" \n\t{ \"operation\" :\r\n \"") + op + "\" } \n").operation, op);
  }
}

TEST(ParseReconcileRequest, EveryMemberIsParsed) {
  const reconcile_request r = accepted(R"({
      "operation": "full",
      "dry_run": true,
      "range": {"first": "user:", "last": "user;"},
      "max_differences": 7,
      "max_seconds": 2.5,
      "source_of_truth": "secondary",
      "restart": true})");
  EXPECT_EQ(r.operation, "full");
  EXPECT_TRUE(r.dry_run);
  EXPECT_EQ(r.range.first, "user:");
  ASSERT_TRUE(r.range.last.has_value());
  EXPECT_EQ(*r.range.last, "user;");
  EXPECT_EQ(r.max_differences, 7u);
  EXPECT_EQ(r.max_time, 2500ms);
  EXPECT_EQ(r.truth, source_of_truth::right);
  EXPECT_TRUE(r.restart);

  EXPECT_FALSE(accepted(R"({"operation":"full","dry_run":false})").dry_run);
  EXPECT_FALSE(accepted(R"({"operation":"rebuild","restart":false})").restart);
  EXPECT_TRUE(accepted(R"({"operation":"rebuild","restart":true})").restart);

  EXPECT_EQ(accepted(R"({"operation":"repair","source_of_truth":"primary"})").truth, source_of_truth::left);
  EXPECT_EQ(accepted(R"({"operation":"repair","source_of_truth":"secondary"})").truth, source_of_truth::right);
  EXPECT_EQ(accepted(R"({"operation":"repair","source_of_truth":"newest"})").truth, source_of_truth::newest);

  // Member order does not matter; operation may come last.
  const reconcile_request late = accepted(R"({"dry_run":true,"max_differences":3,"operation":"check"})");
  EXPECT_EQ(late.operation, "check");
  EXPECT_TRUE(late.dry_run);
  EXPECT_EQ(late.max_differences, 3u);
}

TEST(ParseReconcileRequest, RangeEnds) {
  {
    const reconcile_request r = accepted(R"({"operation":"check","range":{"first":"","last":""}})");
    EXPECT_EQ(r.range.first, "");
    EXPECT_FALSE(r.range.last.has_value()) << "\"\" is an open end";
  }
  {
    const reconcile_request r = accepted(R"({"operation":"check","range":{"first":"k5","last":""}})");
    EXPECT_EQ(r.range.first, "k5");
    EXPECT_FALSE(r.range.last.has_value());
  }
  {
    const reconcile_request r = accepted(R"({"operation":"check","range":{"first":"k5"}})");
    EXPECT_EQ(r.range.first, "k5");
    EXPECT_FALSE(r.range.last.has_value());
  }
  {
    const reconcile_request r = accepted(R"({"operation":"check","range":{"last":"k5"}})");
    EXPECT_EQ(r.range.first, "");
    ASSERT_TRUE(r.range.last.has_value());
    EXPECT_EQ(*r.range.last, "k5");
  }
  {
    const reconcile_request r = accepted(R"({"operation":"check","range":{"first":"","last":"k5"}})");
    EXPECT_EQ(r.range.first, "");
    ASSERT_TRUE(r.range.last.has_value());
    EXPECT_EQ(*r.range.last, "k5");
  }
  {
    const reconcile_request r = accepted(R"({"operation":"check","range":{}})");
    EXPECT_EQ(r.range, key_range{});
  }
  {
    // Escapes are decoded; non-ASCII keys are keys.
    const reconcile_request r = accepted(R"({"operation":"check","range":{"first":"caf\u00e9","last":"\u00ff"}})");
    EXPECT_EQ(r.range.first, "caf\xc3\xa9");
    ASSERT_TRUE(r.range.last.has_value());
    EXPECT_EQ(*r.range.last, "\xc3\xbf");
  }
  {
    // The smallest non-empty range: first < last by one byte.
    const reconcile_request r = accepted(R"({"operation":"check","range":{"first":"a","last":"a "}})");
    EXPECT_EQ(r.range.first, "a");
    EXPECT_EQ(r.range.last, std::optional<std::string>("a "));
  }
}

TEST(ParseReconcileRequest, NumbersAtTheirBounds) {
  EXPECT_EQ(accepted(R"({"operation":"check","max_differences":1})").max_differences, 1u);
  EXPECT_EQ(accepted(R"({"operation":"check","max_differences":18446744073709551615})").max_differences,
            std::size_t{18446744073709551615u});
  EXPECT_EQ(accepted(R"({"operation":"check","max_seconds":1})").max_time, 1000ms);
  EXPECT_EQ(accepted(R"({"operation":"check","max_seconds":604800})").max_time, 604'800'000ms);
  EXPECT_EQ(accepted(R"({"operation":"check","max_seconds":0.25})").max_time, 250ms);
  // Below a millisecond still bounds the job: at least 1 ms, never "no bound".
  EXPECT_EQ(accepted(R"({"operation":"check","max_seconds":1e-9})").max_time, 1ms);
}

TEST(ParseReconcileRequest, ToJsonEchoesTheRequest) {
  const json full = to_json(accepted(
      R"({"operation":"full","dry_run":true,"range":{"first":"a","last":"m"},"max_differences":9,)"
      R"("max_seconds":1.5,"source_of_truth":"newest","restart":true})"));
  EXPECT_EQ(full, json::parse(R"({"operation":"full","dry_run":true,"range":{"first":"a","last":"m"},)"
                              R"("max_differences":9,"max_seconds":1.5,"source_of_truth":"newest","restart":true})"))
      << full.dump();
  const json plain = to_json(accepted(R"({"operation":"check"})"));
  EXPECT_EQ(plain, json::parse(R"({"operation":"check","dry_run":false,"range":{"first":"","last":null},)"
                               R"("max_differences":100000,"max_seconds":null,"source_of_truth":"primary",)"
                               R"("restart":false})"))
      << plain.dump();
  EXPECT_EQ(to_json(accepted(R"({"operation":"check","source_of_truth":"secondary"})"))["source_of_truth"],
            "secondary");
  EXPECT_EQ(to_json(key_range{"x", std::nullopt}), json::parse(R"({"first":"x","last":null})"));
}

TEST(ParseReconcileRequest, HostileBodiesAreRefusedSayingWhy) {
  struct hostile {
    std::string body;
    std::string says;
  };
  const std::string deep = std::string(100, '[') + std::string(100, ']');
  const std::string deep_member =
      R"({"operation":"check","range":)" + std::string(100, '[') + std::string(100, ']') + "}";
  const hostile cases[] = {
      // Not JSON at all, or not an object.
      {"not json", "not valid JSON at byte 0"},
      {"", "not valid JSON"},
      {"   ", "not valid JSON"},
      {R"({"operation":"check")", "truncated"},
      {R"({"operation":"che)", "not valid JSON"},
      {R"({"operation":"check"} {})", "unexpected text after the value"},
      {R"({"operation":"check",})", "not valid JSON"},
      {R"(["check"])", "body must be an object"},
      {R"([])", "body must be an object"},
      {R"("check")", "body must be an object"},
      {"null", "body must be an object"},
      {"42", "body must be an object"},
      // Missing or unknown operation.
      {"{}", R"(missing "operation")"},
      {R"({"dry_run":true})", R"(missing "operation")"},
      {R"({"operation":"verify"})", R"(operation must be check, repair, full or rebuild, got "verify")"},
      {R"({"operation":"CHECK"})", R"(got "CHECK")"},
      {R"({"operation":""})", R"(got "")"},
      // Wrong types, member by member.
      {R"({"operation":1})", "operation must be a string"},
      {R"({"operation":null})", "operation must be a string"},
      {R"({"operation":["check"]})", "operation must be a string"},
      {R"({"operation":"check","dry_run":"true"})", "dry_run must be true or false"},
      {R"({"operation":"check","dry_run":1})", "dry_run must be true or false"},
      {R"({"operation":"check","dry_run":null})", "dry_run must be true or false"},
      {R"({"operation":"rebuild","restart":"yes"})", "restart must be true or false"},
      {R"({"operation":"rebuild","restart":0})", "restart must be true or false"},
      {R"({"operation":"check","range":"a-z"})", "range must be an object"},
      {R"({"operation":"check","range":["a","z"]})", "range must be an object"},
      {R"({"operation":"check","range":null})", "range must be an object"},
      {R"({"operation":"check","range":{"first":1}})", "range.first must be a string"},
      {R"({"operation":"check","range":{"last":null}})", "range.last must be a string"},
      {R"({"operation":"check","range":{"last":["z"]}})", "range.last must be a string"},
      {R"({"operation":"check","range":{"first":"a","middle":"m"}})", R"(range: unknown member "middle")"},
      {R"({"operation":"check","max_differences":"10"})", R"(max_differences must be a positive integer, got "10")"},
      {R"({"operation":"check","max_differences":true})", "max_differences must be a positive integer, got true"},
      {R"({"operation":"check","max_differences":null})", "max_differences must be a positive integer, got null"},
      {R"({"operation":"check","max_seconds":"1"})", R"(max_seconds must be a number of seconds above 0)"},
      {R"({"operation":"check","max_seconds":true})", "max_seconds must be a number"},
      {R"({"operation":"check","max_seconds":null})", "max_seconds must be a number"},
      {R"({"operation":"check","source_of_truth":1})", R"(source_of_truth must be primary, secondary or newest, got "1")"},
      {R"({"operation":"check","source_of_truth":"left"})", R"(got "left")"},
      {R"({"operation":"check","source_of_truth":null})", "source_of_truth must be primary, secondary or newest"},
      // Unknown members.
      {R"({"operation":"check","dryrun":true})", R"(unknown member "dryrun")"},
      {R"({"operation":"check","":1})", R"(unknown member "")"},
      // Ranges that hold no key.
      {R"({"operation":"check","range":{"first":"m","last":"a"}})", "first must sort before last"},
      {R"({"operation":"check","range":{"first":"m","last":"m"}})", "first must sort before last"},
      // Keys that are not keys.
      {R"({"operation":"check","range":{"first":"a\u0001b"}})", "range.first: "},
      {R"({"operation":"check","range":{"last":"a\u001fb"}})", "control character at byte 1"},
      {R"({"operation":"check","range":{"last":"z\u007f"}})", "range.last: "},
      {"{\"operation\":\"check\",\"range\":{\"first\":\"a\x01\"}}", "control character in a string"},
      {R"({"operation":"check","range":{"first":")" + std::string(513, 'k') + R"("}})", "the limit is 512"},
      // Nesting.
      {deep, "body nests deeper than 32"},
      {deep_member, "body nests deeper than 32"},
      // Too large (a valid request padded past the limit).
      {R"({"operation":"check","range":{"first":")" + std::string(70'000, 'k') + R"("}})",
       "body is larger than 65536 bytes"},
      // Invalid UTF-8, in a string and outside one.
      {"{\"operation\":\"check\xff\"}", "invalid UTF-8"},
      {"{\"operation\":\"check\",\"range\":{\"first\":\"\xc3\x28\"}}", "invalid UTF-8"},
      {"{\"operation\":\"check\",\"range\":{\"first\":\"\xed\xa0\x80\"}}", "invalid UTF-8"},  // a surrogate
      {"\xff{\"operation\":\"check\"}", "not valid JSON at byte 0"},
      {R"({"operation":"check","range":{"first":"\udc00"}})", "unpaired UTF-16 surrogate"},
      // Numbers out of range.
      {R"({"operation":"check","max_differences":0})", "max_differences must be a positive integer, got 0"},
      {R"({"operation":"check","max_differences":-1})", "max_differences must be a positive integer, got -1"},
      {R"({"operation":"check","max_differences":1.5})", "max_differences must be a positive integer, got 1.5"},
      {R"({"operation":"check","max_differences":1e400})", "1e400"},
      {R"({"operation":"check","max_differences":18446744073709551616})", "max_differences must be a positive integer"},
      {R"({"operation":"check","max_seconds":0})", "max_seconds must be a number of seconds above 0 and at most 604800, got 0"},
      {R"({"operation":"check","max_seconds":-1})", "got -1"},
      {R"({"operation":"check","max_seconds":604801})", "at most 604800, got 604801"},
      {R"({"operation":"check","max_seconds":1e400})", "1e400"},
      {R"({"operation":"check","max_seconds":-1e400})", "-1e400"},
      // A number beyond a double's range anywhere, even where it would be refused anyway.
      {R"({"operation":"check","unknown":1e400})", "number overflow"},
      {R"({"operation":"check","range":{"first":"a"},"x":[1,2,1e400]})", "number overflow"},
      {R"({"operation":"check","dry_run":1E+400})", "number overflow"},
  };
  for (const hostile& c : cases) {
    SCOPED_TRACE(printable(c.body));
    const std::string why = refusal(c.body);
    EXPECT_NE(why.find(c.says), std::string::npos) << "context: " << printable(why) << "\nexpected: " << c.says;
  }
}

TEST(ParseReconcileRequest, SizeLimitIsExactly64KiB) {
  // A valid body padded with whitespace inside the object to the exact limit.
  const std::string core = R"("operation":"check"})";
  std::string at_limit = "{" + std::string(max_reconcile_body - 1 - core.size(), ' ') + core;
  ASSERT_EQ(at_limit.size(), max_reconcile_body);
  EXPECT_EQ(accepted(at_limit).operation, "check");
  const std::string over = "{ " + at_limit.substr(1);
  ASSERT_EQ(over.size(), max_reconcile_body + 1);
  EXPECT_NE(refusal(over).find("body is larger than 65536 bytes"), std::string::npos);
}

// A \u0000 in a range key is refused as what it is (a control character in
// a key, named), not as too deep a body.
TEST(ParseReconcileRequest, ANulInARangeKeyIsNotReportedAsNesting) {
  const std::string why = refusal(R"({"operation":"check","range":{"first":"a\u0000"}})");
  EXPECT_NE(why.find("range.first"), std::string::npos) << why;
  EXPECT_NE(why.find("control character at byte 1"), std::string::npos) << why;
  EXPECT_EQ(why.find("nests deeper"), std::string::npos) << why;
}

// ---------------------------------------------------------------------------
// 2. reconcile_jobs with a runner the test drives
// ---------------------------------------------------------------------------

/// A runner for the lifecycle tests, by operation:
/// - "check": returns at once, `difference_count` = the request's max_differences;
/// - "full": sets every progress counter, then blocks until `release` or a
///   cancel, and returns `{"difference_count":2,"saw_stop":..}`;
/// - "repair": fails with a storage error;
/// - "rebuild": throws.
class driven_runner {
 public:
  reconcile_runner runner() {
    return [this](const reconcile_request& r, std::stop_token stop, reconcile_progress& p) -> result<json> {
      const int now = ++active_;
      int seen = max_active_.load();
      while (now > seen && !max_active_.compare_exchange_weak(seen, now)) {
      }
      struct leave {
        std::atomic<int>& active;
        ~leave() { --active; }
      } guard{active_};
      return run(r, stop, p);
    };
  }

  /// Lets every blocked (and future) "full" job return.
  void release() {
    {
      std::lock_guard lock(mutex_);
      released_ = true;
    }
    wake_.notify_all();
  }
  /// Makes "full" jobs block again.
  void rearm() {
    std::lock_guard lock(mutex_);
    released_ = false;
  }

  std::atomic<int> entered{0};    // "full" jobs that reached their wait
  std::atomic<int> saw_stop{0};   // "full" jobs that returned because of a cancel
  std::atomic<int> calls{0};      // every call
  int max_active() const { return max_active_.load(); }

 private:
  result<json> run(const reconcile_request& r, const std::stop_token& stop, reconcile_progress& p) {
    ++calls;
    if (r.operation == "check") return json{{"difference_count", r.max_differences}, {"operation", r.operation}};
    if (r.operation == "repair") return error{errc::storage_failure, "disk on fire"};
    if (r.operation == "rebuild") throw std::runtime_error("boom");
    p.ranges = 3;
    p.checksums = 6;
    p.rows_read = 42;
    p.differences = 2;
    p.repaired = 1;
    std::unique_lock lock(mutex_);
    ++entered;
    wake_.wait(lock, stop, [&] { return released_; });
    const bool stopped = stop.stop_requested();
    if (stopped) ++saw_stop;
    return json{{"difference_count", 2}, {"saw_stop", stopped}};
  }

  std::mutex mutex_;
  std::condition_variable_any wake_;
  bool released_ = false;
  std::atomic<int> active_{0};
  std::atomic<int> max_active_{0};
};

reconcile_request request_of(std::string operation, std::size_t max_differences = 100'000) {
  reconcile_request r;
  r.operation = std::move(operation);
  r.max_differences = max_differences;
  return r;
}

/// The final description of job `id`, once it no longer runs.
json finished(const reconcile_jobs& jobs, const std::string& id) {
  json last;
  const bool ended = eventually([&] {
    const auto d = jobs.describe(id);
    if (!d) return false;
    last = *d;
    return last["state"] != "running";
  });
  EXPECT_TRUE(ended) << "job " << id << " still runs after the hang guard: " << last.dump();
  return last;
}

std::uint64_t jobs_total(metrics_registry& m, const std::string& operation, const std::string& state) {
  return m.counter("reconcile_jobs_total", "", {{"operation", operation}, {"state", state}}).value();
}
double last_differences(metrics_registry& m) { return m.gauge("reconcile_last_differences", "").value(); }

TEST(ReconcileJobs, Lifecycle) {
  metrics_registry metrics;
  driven_runner driver;
  reconcile_jobs jobs(driver.runner(), metrics);

  // Nothing yet.
  json s = jobs.summary();
  EXPECT_TRUE(s["running"].is_null()) << s.dump();
  EXPECT_TRUE(s["last"].is_null()) << s.dump();
  EXPECT_EQ(s["interval_s"], 0);
  EXPECT_EQ(s["scheduled_runs"], 0);
  EXPECT_FALSE(jobs.describe("1"));
  EXPECT_EQ(jobs.cancel("1"), cancel_outcome::unknown);

  // Job 1 runs and blocks.
  reconcile_request blocking = request_of("full");
  blocking.dry_run = true;
  auto first = jobs.start(blocking);
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_EQ(first.value(), "1");
  ASSERT_TRUE(eventually([&] { return driver.entered.load() == 1; }));

  // One job at a time.
  auto second = jobs.start(request_of("check"));
  ASSERT_FALSE(second);
  EXPECT_TRUE(second.error() == condition::conflict) << second.error().message();
  EXPECT_EQ(error_code_name(second.error()), "conflict");
  EXPECT_NE(second.error().message().find("job 1 "), std::string::npos) << second.error().message();
  EXPECT_NE(second.error().message().find("/v1/reconcile/1"), std::string::npos) << second.error().message();
  EXPECT_FALSE(jobs.describe("2")) << "a refused start uses no id";

  // Its live status.
  {
    const auto d = jobs.describe("1");
    ASSERT_TRUE(d);
    const json& j = *d;
    EXPECT_EQ(j["id"], "1");
    EXPECT_EQ(j["state"], "running");
    EXPECT_EQ(j["operation"], "full");
    EXPECT_EQ(j["scheduled"], false);
    EXPECT_EQ(j["request"], to_json(blocking));
    EXPECT_EQ(j["request"]["dry_run"], true);
    EXPECT_TRUE(j["finished_at_ms"].is_null()) << j.dump();
    EXPECT_TRUE(j["started_at_ms"].is_number_integer()) << j.dump();
    EXPECT_FALSE(j.contains("report")) << j.dump();
    EXPECT_FALSE(j.contains("error")) << j.dump();
    EXPECT_EQ(j["progress"], json::parse(R"({"ranges":3,"checksums":6,"rows_read":42,"differences":2,"repaired":1})"))
        << j.dump();
  }
  EXPECT_EQ(jobs.summary()["running"], "1");
  EXPECT_TRUE(jobs.summary()["last"].is_null());
  {
    const json listed = jobs.list();
    ASSERT_EQ(listed.size(), 1u) << listed.dump();
    EXPECT_EQ(listed[0]["id"], "1");
    EXPECT_EQ(listed[0]["state"], "running");
  }

  // Cancel: the runner sees the stop, the job ends "cancelled" with its report.
  EXPECT_EQ(jobs.cancel("1"), cancel_outcome::cancelling);
  json one = finished(jobs, "1");
  EXPECT_EQ(one["state"], "cancelled") << one.dump();
  EXPECT_EQ(one["report"], json::parse(R"({"difference_count":2,"saw_stop":true})")) << one.dump();
  EXPECT_TRUE(one["finished_at_ms"].is_number_integer()) << one.dump();
  EXPECT_GE(one["finished_at_ms"].get<std::int64_t>(), one["started_at_ms"].get<std::int64_t>());
  EXPECT_EQ(driver.saw_stop.load(), 1);
  EXPECT_EQ(jobs.cancel("1"), cancel_outcome::finished);
  EXPECT_EQ(jobs_total(metrics, "full", "cancelled"), 1u);
  EXPECT_EQ(last_differences(metrics), 2.0);
  s = jobs.summary();
  EXPECT_TRUE(s["running"].is_null()) << s.dump();
  EXPECT_EQ(s["last"]["id"], "1");
  EXPECT_EQ(s["last"]["state"], "cancelled");
  EXPECT_EQ(s["last"]["operation"], "full");
  EXPECT_EQ(s["last"]["differences"], 2);
  EXPECT_EQ(s["last"]["scheduled"], false);

  // A job that ends on its own: "done", its report, the gauge.
  auto check = jobs.start(request_of("check", 7));
  ASSERT_TRUE(check) << check.error().message();
  EXPECT_EQ(check.value(), "2");
  json two = finished(jobs, "2");
  EXPECT_EQ(two["state"], "done") << two.dump();
  EXPECT_EQ(two["report"]["difference_count"], 7) << two.dump();
  EXPECT_EQ(jobs_total(metrics, "check", "done"), 1u);
  EXPECT_EQ(last_differences(metrics), 7.0);
  EXPECT_EQ(jobs.cancel("2"), cancel_outcome::finished);

  // A runner's error: "failed", with the error's code and message, no report.
  auto failing = jobs.start(request_of("repair"));
  ASSERT_TRUE(failing) << failing.error().message();
  EXPECT_EQ(failing.value(), "3");
  json three = finished(jobs, "3");
  EXPECT_EQ(three["state"], "failed") << three.dump();
  EXPECT_EQ(three["error"]["code"], "unavailable") << three.dump();
  EXPECT_NE(three["error"]["message"].get<std::string>().find("disk on fire"), std::string::npos) << three.dump();
  EXPECT_FALSE(three.contains("report")) << three.dump();
  EXPECT_EQ(jobs_total(metrics, "repair", "failed"), 1u);
  EXPECT_EQ(last_differences(metrics), 7.0) << "a failed job has no difference count";

  // A runner that throws: "failed" too, and the jobs go on.
  auto throwing = jobs.start(request_of("rebuild"));
  ASSERT_TRUE(throwing) << throwing.error().message();
  json four = finished(jobs, throwing.value());
  EXPECT_EQ(four["state"], "failed") << four.dump();
  EXPECT_NE(four["error"]["message"].get<std::string>().find("boom"), std::string::npos) << four.dump();
  EXPECT_EQ(jobs_total(metrics, "rebuild", "failed"), 1u);
  EXPECT_EQ(jobs.summary()["last"]["id"], "4");
  EXPECT_EQ(jobs.summary()["last"]["state"], "failed");

  // The last 16 finished jobs are kept: job 1 is forgotten when job 17 ends.
  for (int id = 5; id <= 16; ++id) {
    auto started = jobs.start(request_of("check", static_cast<std::size_t>(id)));
    ASSERT_TRUE(started) << started.error().message();
    ASSERT_EQ(started.value(), std::to_string(id));
    EXPECT_EQ(finished(jobs, started.value())["state"], "done");
  }
  EXPECT_TRUE(jobs.describe("1")) << "16 finished jobs: all kept";
  auto seventeenth = jobs.start(request_of("check", 17));
  ASSERT_TRUE(seventeenth);
  ASSERT_EQ(seventeenth.value(), "17");
  EXPECT_EQ(finished(jobs, "17")["state"], "done");
  EXPECT_FALSE(jobs.describe("1")) << "job 1 is the 17th newest: forgotten";
  {
    // The list: the 16 kept, newest first, each as `describe` has it.
    const json listed = jobs.list();
    ASSERT_EQ(listed.size(), 16u) << listed.dump();
    for (std::size_t i = 0; i < listed.size(); ++i) {
      const std::string id = std::to_string(17 - i);
      EXPECT_EQ(listed[i], jobs.describe(id).value()) << "position " << i;
    }
  }
  EXPECT_EQ(jobs.cancel("1"), cancel_outcome::unknown);
  for (int id = 2; id <= 17; ++id) EXPECT_TRUE(jobs.describe(std::to_string(id))) << "job " << id;
  EXPECT_FALSE(jobs.describe("18"));
  EXPECT_FALSE(jobs.describe(""));
  EXPECT_FALSE(jobs.describe("01"));
  EXPECT_EQ(jobs.cancel("01"), cancel_outcome::unknown);

  EXPECT_EQ(jobs_total(metrics, "check", "done"), 14u);  // jobs 2 and 5..17
  EXPECT_EQ(last_differences(metrics), 17.0);
  const std::string text = metrics.render_prometheus();
  EXPECT_NE(text.find("storesync_reconcile_jobs_total{operation=\"check\",state=\"done\"} 14\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("storesync_reconcile_jobs_total{operation=\"full\",state=\"cancelled\"} 1\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("storesync_reconcile_jobs_total{operation=\"repair\",state=\"failed\"} 1\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("storesync_reconcile_last_differences 17\n"), std::string::npos) << text;
  EXPECT_EQ(driver.max_active(), 1) << "two runners ran at once";
}

TEST(ReconcileJobs, ARunnerThatFinishesBeforeTheCancelStillReportsItsWork) {
  // A job released (not cancelled) ends "done"; its report says no stop was seen.
  metrics_registry metrics;
  driven_runner driver;
  reconcile_jobs jobs(driver.runner(), metrics);
  auto id = jobs.start(request_of("full"));
  ASSERT_TRUE(id);
  ASSERT_TRUE(eventually([&] { return driver.entered.load() == 1; }));
  driver.release();
  json j = finished(jobs, id.value());
  EXPECT_EQ(j["state"], "done") << j.dump();
  EXPECT_EQ(j["report"]["saw_stop"], false) << j.dump();
  EXPECT_EQ(jobs.cancel(id.value()), cancel_outcome::finished);
  EXPECT_EQ(jobs_total(metrics, "full", "done"), 1u);
  EXPECT_EQ(jobs_total(metrics, "full", "cancelled"), 0u);
}

TEST(ReconcileJobs, ScheduledJobsRun) {
  metrics_registry metrics;
  driven_runner driver;
  reconcile_jobs jobs(driver.runner(), metrics);
  jobs.schedule(1s, request_of("check", 3));
  EXPECT_EQ(jobs.summary()["interval_s"], 1);

  json s;
  ASSERT_TRUE(eventually(
      [&] {
        s = jobs.summary();
        return s["scheduled_runs"].get<std::uint64_t>() >= 1 && s["last"].is_object();
      },
      10ms))
      << s.dump();
  EXPECT_EQ(s["last"]["scheduled"], true) << s.dump();
  EXPECT_EQ(s["last"]["operation"], "check") << s.dump();
  const std::string id = s["last"]["id"];
  json j = finished(jobs, id);
  EXPECT_EQ(j["scheduled"], true) << j.dump();
  EXPECT_EQ(j["state"], "done") << j.dump();
  EXPECT_EQ(j["report"]["difference_count"], 3) << j.dump();
  EXPECT_EQ(j["request"]["max_differences"], 3) << j.dump();
  EXPECT_GE(jobs_total(metrics, "check", "done"), 1u);

  // A user's job runs beside the schedule, one at a time: while it blocks,
  // every scheduled round finds it running and starts nothing.
  auto mine = jobs.start(request_of("full"));
  if (!mine) {  // a scheduled check was running at that instant: wait for it, then start
    ASSERT_TRUE(eventually([&] {
      mine = jobs.start(request_of("full"));
      return static_cast<bool>(mine);
    }));
  }
  ASSERT_TRUE(eventually([&] { return driver.entered.load() == 1; }));
  const json during = jobs.describe(mine.value()).value_or(json());
  EXPECT_EQ(during["scheduled"], false) << during.dump();
  EXPECT_EQ(jobs.cancel(mine.value()), cancel_outcome::cancelling);
  EXPECT_EQ(finished(jobs, mine.value())["state"], "cancelled");
  EXPECT_EQ(driver.max_active(), 1) << "a scheduled job ran beside another job";
}

// `schedule` documents "a zero interval ends it"; the summary (what
// /v1/status shows) must then no longer report an interval.
TEST(ReconcileJobs, AZeroIntervalEndsTheScheduleInTheSummaryToo) {
  metrics_registry metrics;
  driven_runner driver;
  reconcile_jobs jobs(driver.runner(), metrics);
  jobs.schedule(3600s, request_of("check"));
  EXPECT_EQ(jobs.summary()["interval_s"], 3600);
  jobs.schedule(0s, request_of("check"));
  EXPECT_EQ(jobs.summary()["interval_s"], 0) << jobs.summary().dump();
}

TEST(ReconcileJobs, TheDestructorStopsABlockedJob) {
  metrics_registry metrics;
  driven_runner driver;
  {
    reconcile_jobs jobs(driver.runner(), metrics);
    jobs.schedule(1s, request_of("check"));
    auto id = jobs.start(request_of("full"));
    if (!id) {  // a scheduled check ran at that instant
      ASSERT_TRUE(eventually([&] {
        id = jobs.start(request_of("full"));
        return static_cast<bool>(id);
      }));
    }
    ASSERT_TRUE(eventually([&] { return driver.entered.load() == 1; }));
  }  // must return: it requests stop and joins
  EXPECT_EQ(driver.saw_stop.load(), 1);
  EXPECT_EQ(jobs_total(metrics, "full", "cancelled"), 1u);

  // And with nothing running, nor ever started.
  { reconcile_jobs idle(driver.runner(), metrics); }
  SUCCEED();
}

// ---------------------------------------------------------------------------
// 3. The router over a dual-write service
// ---------------------------------------------------------------------------

using test::reply;

class test_server {
 public:
  explicit test_server(std::shared_ptr<record_service> service, auth_options auth = {})
      : service_(std::move(service)), router_(service_, std::move(auth)) {}

  reply send(http::verb verb, std::string target, std::string body = {},
             std::string content_type = "application/json", std::string authorization = {}) {
    return test::send(router_, verb, std::move(target), std::move(body), content_type, authorization);
  }

  reply start(const json& body) { return send(http::verb::post, "/v1/reconcile", body.dump()); }
  reply job(const std::string& id) { return send(http::verb::get, "/v1/reconcile/" + id); }
  reply cancel(const std::string& id) { return send(http::verb::delete_, "/v1/reconcile/" + id); }

  /// Starts `body` as a job (202 + Location), waiting for a job that runs
  /// (a scheduled one) to end first; its id.
  std::string start_ok(const json& body) {
    reply r;
    const bool started = eventually(
        [&] {
          r = start(body);
          return r.status != 409;
        },
        10ms);
    EXPECT_TRUE(started) << r.body;
    EXPECT_EQ(r.status, 202u) << body.dump() << " -> " << r.body;
    const json j = r.parsed();
    const std::string id = j.value("id", std::string());
    EXPECT_FALSE(id.empty()) << r.body;
    EXPECT_EQ(j.value("state", std::string()), "running") << r.body;
    EXPECT_EQ(j.value("operation", std::string()), body.value("operation", std::string())) << r.body;
    EXPECT_EQ(r.location, "/v1/reconcile/" + id);
    return id;
  }

  /// GET /v1/reconcile/{id} until the job no longer runs: its description.
  json wait(const std::string& id) {
    json last;
    const bool ended = eventually([&] {
      const reply r = job(id);
      if (r.status != 200) {
        ADD_FAILURE() << "GET /v1/reconcile/" << id << ": " << r.status << " " << r.body;
        return true;
      }
      last = r.parsed();
      return last["state"] != "running";
    });
    EXPECT_TRUE(ended) << "job " << id << " still runs after the hang guard: " << last.dump();
    return last;
  }

  /// Runs `body` to its end: the job's final description.
  json run(const json& body) { return wait(start_ok(body)); }

  /// A check of everything that ended "done": its report.
  json check(json body = {{"operation", "check"}}) {
    const json j = run(body);
    EXPECT_EQ(j["state"], "done") << j.dump();
    return j.value("report", json());
  }

  json status() { return send(http::verb::get, "/v1/status").parsed(); }

 private:
  std::shared_ptr<record_service> service_;
  router router_;
};

std::string key_of(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "k%05d", i);
  return buf;
}
std::string value_of(int i) { return R"({"n":)" + std::to_string(i) + "}"; }
constexpr version_type written_version = 10;

/// Writes keys [from, to) through POST /v1/records:batch at version 10.
void write_records(test_server& s, int from, int to) {
  for (int at = from; at < to; at += 1000) {
    const int end = std::min(to, at + 1000);
    std::string body = R"({"records":[)";
    for (int i = at; i < end; ++i) {
      if (i > at) body += ',';
      body += R"({"key":")" + key_of(i) + R"(","version":)" + std::to_string(written_version) + R"(,"value":)" +
              value_of(i) + "}";
    }
    body += "]}";
    const reply r = s.send(http::verb::post, "/v1/records:batch", body);
    ASSERT_EQ(r.status, 200u) << printable(r.body);
    const json j = r.parsed();
    ASSERT_EQ(j["report"]["applied"], end - at) << printable(r.body);
  }
}

/// The test's own sqlite3 connection to a store's file.
class raw_db {
 public:
  explicit raw_db(const std::string& path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) throw std::runtime_error("cannot open " + path);
    sqlite3_busy_timeout(db_, 60'000);
  }
  ~raw_db() { sqlite3_close(db_); }
  raw_db(const raw_db&) = delete;
  raw_db& operator=(const raw_db&) = delete;

  /// Runs `sql`: the rows it changed, or -1 (and a test failure) on an error.
  int exec(const std::string& sql) {
    char* message = nullptr;
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message);
    const std::string why = message ? message : "";
    sqlite3_free(message);
    if (rc != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << why;
      return -1;
    }
    return sqlite3_changes(db_);
  }

  /// The first row of `sql`, each column as text; nothing without a row.
  std::optional<std::vector<std::string>> row(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db_);
      return std::nullopt;
    }
    std::optional<std::vector<std::string>> out;
    if (sqlite3_step(stmt) == SQLITE_ROW) {
      out.emplace();
      for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
        const auto* text = sqlite3_column_text(stmt, c);
        out->emplace_back(text ? reinterpret_cast<const char*>(text) : "");
      }
    }
    sqlite3_finalize(stmt);
    return out;
  }

  std::int64_t rows() {
    const auto r = row("SELECT count(*) FROM storesync_entries");
    return r ? std::stoll((*r)[0]) : -1;
  }

 private:
  sqlite3* db_ = nullptr;
};

/// Sets the version of `key` on the side `db` opens to `version`, keeping
/// the row's metadata consistent (row_hash is what the checksums sum): as a
/// write that bypassed storesync would leave it.
void set_version(raw_db& db, const std::string& key, version_type version) {
  const auto r = db.row("SELECT value, version, row_hash FROM storesync_entries WHERE key = '" + key + "'");
  ASSERT_TRUE(r) << key;
  const entry was = entry::put(key, (*r)[0], std::stoll((*r)[1]));
  // The layout is as sqlite_store documents it.
  ASSERT_EQ(static_cast<std::int64_t>(row_hash(was)), std::stoll((*r)[2])) << key;
  const entry now = entry::put(key, (*r)[0], version);
  ASSERT_EQ(db.exec("UPDATE storesync_entries SET version = " + std::to_string(version) +
                    ", row_hash = " + std::to_string(static_cast<std::int64_t>(row_hash(now))) + " WHERE key = '" +
                    key + "'"),
            1);
}

std::unique_ptr<sqlite_store> open_sqlite(const std::string& path) {
  sqlite_options o;
  o.path = path;
  auto s = sqlite_store::open(o);
  if (!s) throw std::runtime_error("cannot open " + path + ": " + s.error().message());
  return std::make_unique<sqlite_store>(std::move(s).value());
}

/// A dual-write service over dir/primary.db and dir/secondary.db.
std::shared_ptr<record_service> open_dual_write(const std::string& dir, named_consistency::kind kind,
                                                std::chrono::seconds interval = 0s, bool scheduled_repair = false) {
  dual_write_setup setup;
  setup.directory = dir + "/dual-write";
  setup.consistency = named_consistency(kind);
  setup.retry = exponential_backoff({.base = 10ms, .cap = 100ms, .max_attempts = 3});
  setup.reconcile_interval = interval;
  setup.scheduled_repair = scheduled_repair;
  auto s = dual_write_service<sqlite_store, sqlite_store>::open(open_sqlite(dir + "/primary.db"), "sqlite",
                                                                open_sqlite(dir + "/secondary.db"), "sqlite-2",
                                                                std::move(setup));
  if (!s) throw std::runtime_error("cannot open the dual-write service: " + s.error().message());
  return std::shared_ptr<record_service>(std::move(s).value());
}

/// The differences a report lists, as key -> kind.
std::map<std::string, std::string> kinds_of(const json& report) {
  std::map<std::string, std::string> out;
  for (const json& d : report.value("differences", json::array()))
    out[d["key"].get<std::string>()] = d["kind"].get<std::string>();
  return out;
}

TEST(RouterReconcile, CheckFullAndTheirErrorsOverDualWrite) {
  const std::string dir = scratch("check-full");
  test_server s(open_dual_write(dir, named_consistency::kind::best_effort));
  write_records(s, 0, 3000);
  raw_db secondary(dir + "/secondary.db");
  ASSERT_EQ(secondary.rows(), 3000);

  // Nothing differs yet.
  {
    const json r = s.check();
    EXPECT_EQ(r["difference_count"], 0) << r.dump();
    EXPECT_EQ(r["complete"], true) << r.dump();
    EXPECT_EQ(r["stopped"], "none") << r.dump();
  }

  // Drift behind the service's back: 5 rows gone, 3 at another version.
  const std::vector<std::string> gone = {key_of(7), key_of(500), key_of(1234), key_of(2000), key_of(2999)};
  for (const std::string& k : gone)
    ASSERT_EQ(secondary.exec("DELETE FROM storesync_entries WHERE key = '" + k + "'"), 1) << k;
  const std::map<std::string, version_type> moved = {{key_of(100), 5}, {key_of(1500), 5}, {key_of(2500), 50}};
  for (const auto& [k, v] : moved) set_version(secondary, k, v);
  ASSERT_EQ(secondary.rows(), 2995);
  std::map<std::string, std::string> expected;
  for (const std::string& k : gone) expected[k] = "only_primary";
  for (const auto& [k, v] : moved) expected[k] = "differ";

  // A check finds exactly those 8, with what each side holds.
  const std::string check_id = s.start_ok({{"operation", "check"}});
  const json done = s.wait(check_id);
  ASSERT_EQ(done["state"], "done") << done.dump();
  EXPECT_EQ(done["operation"], "check");
  EXPECT_EQ(done["scheduled"], false);
  const json& report = done["report"];
  EXPECT_EQ(report["difference_count"], 8) << report.dump();
  EXPECT_EQ(report["complete"], true);
  EXPECT_TRUE(report["remaining"].is_null()) << report.dump();
  EXPECT_EQ(kinds_of(report), expected) << report.dump();
  EXPECT_EQ(done["progress"]["differences"], 8) << done.dump();
  EXPECT_GT(done["progress"]["checksums"].get<std::uint64_t>(), 0u) << done.dump();
  for (const json& d : report["differences"]) {
    const std::string k = d["key"];
    EXPECT_EQ(d["primary"], json::parse(R"({"version":10,"deleted":false})")) << d.dump();
    if (expected[k] == "only_primary") EXPECT_TRUE(d["secondary"].is_null()) << d.dump();
    else EXPECT_EQ(d["secondary"], json({{"version", moved.at(k)}, {"deleted", false}})) << d.dump();
  }
  {
    // In key order.
    std::vector<std::string> keys;
    for (const json& d : report["differences"]) keys.push_back(d["key"].get<std::string>());
    EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end()));
  }

  // The list holds both checks, newest first, as GET /v1/reconcile/{id}
  // describes each.
  {
    const reply r = s.send(http::verb::get, "/v1/reconcile");
    ASSERT_EQ(r.status, 200u) << r.body;
    const json jobs = r.parsed()["jobs"];
    ASSERT_EQ(jobs.size(), 2u) << r.body;
    EXPECT_EQ(jobs[0], done) << r.body;
    EXPECT_EQ(jobs[1], s.job(jobs[1]["id"].get<std::string>()).parsed()) << r.body;
    EXPECT_NE(jobs[1]["id"], check_id) << r.body;
  }

  // A finished job: DELETE is a conflict, GET still describes it.
  {
    const reply r = s.cancel(check_id);
    EXPECT_EQ(r.status, 409u) << r.body;
    EXPECT_EQ(r.error_code(), "conflict");
    EXPECT_NE(r.error_message().find("already finished"), std::string::npos) << r.body;
    EXPECT_EQ(s.job(check_id).parsed()["state"], "done");
    EXPECT_EQ(s.send(http::verb::head, "/v1/reconcile/" + check_id).status, 200u);
  }

  // /v1/status and /metrics say so.
  {
    const json st = s.status();
    EXPECT_EQ(st["mode"], "dual-write") << st.dump();
    EXPECT_TRUE(st["reconcile"]["running"].is_null()) << st.dump();
    EXPECT_EQ(st["reconcile"]["last"]["id"], check_id) << st.dump();
    EXPECT_EQ(st["reconcile"]["last"]["differences"], 8) << st.dump();
    EXPECT_EQ(st["reconcile"]["repair"], false) << st.dump();
    EXPECT_EQ(st["reconcile"]["interval_s"], 0) << st.dump();
    const reply m = s.send(http::verb::get, "/metrics");
    EXPECT_EQ(m.status, 200u);
    EXPECT_NE(m.body.find("storesync_reconcile_jobs_total{operation=\"check\",state=\"done\"} 2\n"), std::string::npos)
        << m.body;
    EXPECT_NE(m.body.find("storesync_reconcile_last_differences 8\n"), std::string::npos) << m.body;
  }

  // max_differences stops the check early, saying where to go on.
  {
    const json r = s.check({{"operation", "check"}, {"max_differences", 3}});
    EXPECT_EQ(r["difference_count"], 3) << r.dump();
    EXPECT_EQ(r["complete"], false) << r.dump();
    EXPECT_EQ(r["stopped"], "max_differences") << r.dump();
    const std::string third = r["differences"][2]["key"];
    EXPECT_EQ(r["remaining"], json({{"first", third + " "}, {"last", nullptr}})) << r.dump();
    // Going on from there finds the other 5.
    ASSERT_TRUE(r["remaining"].is_object()) << r.dump();
    const json rest = s.check({{"operation", "check"}, {"range", {{"first", r["remaining"]["first"]}}}});
    EXPECT_EQ(rest["difference_count"], 5) << rest.dump();
  }
  // A range checks only its keys: [k00000, k00101) holds k00007 and k00100.
  {
    const json r = s.check({{"operation", "check"}, {"range", {{"first", key_of(0)}, {"last", key_of(101)}}}});
    EXPECT_EQ(kinds_of(r), (std::map<std::string, std::string>{{key_of(7), "only_primary"}, {key_of(100), "differ"}}))
        << r.dump();
  }

  // "full" dry: says what it would do, changes nothing.
  {
    const json j = s.run({{"operation", "full"}, {"dry_run", true}});
    ASSERT_EQ(j["state"], "done") << j.dump();
    EXPECT_EQ(j["request"]["dry_run"], true);
    EXPECT_EQ(j["report"]["dry_run"], true);
    EXPECT_EQ(j["report"]["difference_count"], 8) << j.dump();
    EXPECT_EQ(j["report"]["repair"]["copied_to_secondary"], 8) << j.dump();
    EXPECT_EQ(j["report"]["repair"]["copied_to_primary"], 0) << j.dump();
    EXPECT_EQ(j["report"]["repair"]["refused_count"], 0) << j.dump();
    EXPECT_EQ(secondary.rows(), 2995);
    EXPECT_EQ(s.check()["difference_count"], 8);
  }

  // "full": repairs them all (primary wins), and a check finds none.
  {
    const json j = s.run({{"operation", "full"}});
    ASSERT_EQ(j["state"], "done") << j.dump();
    EXPECT_EQ(j["report"]["difference_count"], 8) << j.dump();
    EXPECT_EQ(j["report"]["repair"]["copied_to_secondary"], 8) << j.dump();
    EXPECT_EQ(j["report"]["repair"]["refused_count"], 0) << j.dump();
    EXPECT_EQ(j["report"]["repair"]["raced"], 0) << j.dump();
    EXPECT_EQ(j["progress"]["repaired"], 8) << j.dump();
    EXPECT_EQ(secondary.rows(), 3000);
    for (const auto& [k, v] : moved) {
      const auto r = secondary.row("SELECT version FROM storesync_entries WHERE key = '" + k + "'");
      ASSERT_TRUE(r);
      EXPECT_EQ((*r)[0], std::to_string(written_version)) << k;
    }
    const json after = s.check();
    EXPECT_EQ(after["difference_count"], 0) << after.dump();
    EXPECT_EQ(after["complete"], true);
  }

  // "full" with the secondary as the source of truth copies it to the primary.
  {
    auto side = open_sqlite(dir + "/secondary.db");
    const entry newer = entry::put(key_of(1), R"({"n":"from the secondary"})", 20);
    ASSERT_TRUE(side->write(std::span(&newer, 1)));
    side.reset();
    const json j = s.run({{"operation", "full"}, {"source_of_truth", "secondary"}});
    ASSERT_EQ(j["state"], "done") << j.dump();
    EXPECT_EQ(j["report"]["difference_count"], 1) << j.dump();
    EXPECT_EQ(j["report"]["repair"]["copied_to_primary"], 1) << j.dump();
    EXPECT_EQ(j["report"]["repair"]["copied_to_secondary"], 0) << j.dump();
    const reply got = s.send(http::verb::get, "/v1/records/" + key_of(1));
    EXPECT_EQ(got.body, R"({"key":"k00001","version":20,"value":{"n":"from the secondary"}})" "\n");
    EXPECT_EQ(s.check()["difference_count"], 0);
  }

  // Nothing was ever recorded in the inconsistency log (the secondary never failed).
  {
    const reply r = s.send(http::verb::get, "/v1/inconsistencies");
    EXPECT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(r.parsed(), json::parse(R"({"inconsistencies":[],"count":0,"next_after":null})")) << r.body;
  }

  // HTTP errors.
  {
    const reply r = s.send(http::verb::post, "/v1/reconcile", R"({"operation":"check"})", "text/plain");
    EXPECT_EQ(r.status, 415u) << r.body;
    EXPECT_EQ(r.error_code(), "unsupported_media_type");
  }
  {
    // No Content-Type is taken as JSON; a charset parameter is fine.
    const reply bare = s.send(http::verb::post, "/v1/reconcile", R"({"operation":"check"})", "");
    EXPECT_EQ(bare.status, 202u) << bare.body;
    s.wait(bare.parsed()["id"]);
    const reply charset =
        s.send(http::verb::post, "/v1/reconcile", R"({"operation":"check"})", "application/json; charset=utf-8");
    EXPECT_EQ(charset.status, 202u) << charset.body;
    s.wait(charset.parsed()["id"]);
  }
  for (const char* body : {"not json", R"({"operation":"verify"})", R"({"operation":"check","max_seconds":0})", "{}"}) {
    const reply r = s.send(http::verb::post, "/v1/reconcile", body);
    EXPECT_EQ(r.status, 400u) << body << " -> " << r.body;
    EXPECT_EQ(r.error_code(), "invalid_input") << r.body;
    // The message is the parser's own account of the problem.
    const auto parsed = parse_reconcile_request(body);
    ASSERT_FALSE(parsed);
    EXPECT_EQ(r.error_message(), parsed.error().context()) << r.body;
  }
  {
    const reply r = s.send(http::verb::delete_, "/v1/reconcile");
    EXPECT_EQ(r.status, 405u);
    EXPECT_EQ(r.allow, "GET, HEAD, POST");
    EXPECT_EQ(r.error_code(), "method_not_allowed");
  }
  EXPECT_EQ(s.send(http::verb::put, "/v1/reconcile", R"({"operation":"check"})").status, 405u);
  for (const http::verb v : {http::verb::put, http::verb::post, http::verb::patch}) {
    const reply r = s.send(v, "/v1/reconcile/" + check_id, "{}");
    EXPECT_EQ(r.status, 405u) << r.body;
    EXPECT_EQ(r.allow, "GET, HEAD, DELETE");
  }
  for (const http::verb v : {http::verb::post, http::verb::delete_, http::verb::put}) {
    const reply r = s.send(v, "/v1/inconsistencies");
    EXPECT_EQ(r.status, 405u) << r.body;
    EXPECT_EQ(r.allow, "GET, HEAD");
  }
  for (const char* id : {"999", "0", "", "abc", "1%00"}) {
    SCOPED_TRACE(id);
    const reply g = s.job(id);
    EXPECT_EQ(g.status, 404u) << g.body;
    EXPECT_EQ(g.error_code(), "not_found");
    const reply d = s.cancel(id);
    EXPECT_EQ(d.status, 404u) << d.body;
    EXPECT_EQ(d.error_code(), "not_found");
  }
  EXPECT_EQ(s.send(http::verb::get, "/v1/reconcilex").status, 404u);

  // With an admin token, the reconcile routes need it.
  {
    test_server locked(open_dual_write(scratch("check-full-locked"), named_consistency::kind::best_effort),
                       auth_options{.admin_token = "sesame", .api_token = {}});
    EXPECT_EQ(locked.send(http::verb::post, "/v1/reconcile", R"({"operation":"check"})").status, 401u);
    EXPECT_EQ(locked.send(http::verb::get, "/v1/reconcile/1").status, 401u);
    EXPECT_EQ(locked.send(http::verb::delete_, "/v1/reconcile/1").status, 401u);
    EXPECT_EQ(locked.send(http::verb::get, "/v1/inconsistencies").status, 401u);
    EXPECT_EQ(locked.send(http::verb::get, "/v1/inconsistencies", {}, "application/json", "Bearer wrong").status,
              401u);
    const reply ok =
        locked.send(http::verb::post, "/v1/reconcile", R"({"operation":"check"})", "application/json", "Bearer sesame");
    EXPECT_EQ(ok.status, 202u) << ok.body;
  }
}

TEST(RouterReconcile, InconsistencyLogPagingAndRepairUnderPrimaryOnly) {
  const std::string dir = scratch("primary-only");
  test_server s(open_dual_write(dir, named_consistency::kind::primary_only));
  constexpr int n = 250;
  write_records(s, 0, n);
  raw_db secondary(dir + "/secondary.db");
  EXPECT_EQ(secondary.rows(), 0) << "primary_only never writes the secondary";

  // The default page is 100 records.
  {
    const reply r = s.send(http::verb::get, "/v1/inconsistencies");
    ASSERT_EQ(r.status, 200u) << r.body;
    const json j = r.parsed();
    EXPECT_EQ(j["count"], 100);
    EXPECT_EQ(j["inconsistencies"].size(), 100u);
    EXPECT_EQ(j["next_after"], key_of(99));
    const json& first = j["inconsistencies"][0];
    EXPECT_EQ(first["key"], key_of(0)) << first.dump();
    EXPECT_EQ(first["primary_version"], written_version) << first.dump();
    EXPECT_TRUE(first["secondary_version"].is_null()) << first.dump();
    EXPECT_EQ(first["failing"], "secondary") << first.dump();
    EXPECT_NE(first["error"].get<std::string>().find("primary_only"), std::string::npos) << first.dump();
    EXPECT_TRUE(first["at_ms"].is_number_integer()) << first.dump();
  }
  // Paging with limit and after visits every record once, in key order.
  for (const int limit : {1, 7, 70, 125, 250, 1000}) {
    SCOPED_TRACE(limit);
    std::vector<std::string> seen;
    std::string after;
    for (int page = 0; page <= n + 1; ++page) {
      std::string target = "/v1/inconsistencies?limit=" + std::to_string(limit);
      if (!after.empty()) target += "&after=" + after;
      const reply r = s.send(http::verb::get, target);
      ASSERT_EQ(r.status, 200u) << target << " -> " << r.body;
      const json j = r.parsed();
      ASSERT_LE(j["count"].get<int>(), limit);
      EXPECT_EQ(j["count"], j["inconsistencies"].size());
      for (const json& i : j["inconsistencies"]) seen.push_back(i["key"].get<std::string>());
      if (j["next_after"].is_null()) break;
      EXPECT_EQ(j["count"], limit) << "a short page is the last";
      after = j["next_after"].get<std::string>();
      EXPECT_EQ(after, seen.back());
    }
    std::vector<std::string> all;
    for (int i = 0; i < n; ++i) all.push_back(key_of(i));
    EXPECT_EQ(seen, all);
  }
  {
    // `after` is percent-decoded: k%300199 is k00199.
    const reply r = s.send(http::verb::get, "/v1/inconsistencies?after=k%300199&limit=1000");
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(r.parsed()["count"], n - 200);
    EXPECT_EQ(r.parsed()["inconsistencies"][0]["key"], key_of(200));
    // Up to 100,000 a page; more is refused, as the docs say.
    EXPECT_EQ(s.send(http::verb::get, "/v1/inconsistencies?limit=100000").parsed()["count"], n);
    EXPECT_EQ(s.send(http::verb::get, "/v1/inconsistencies?limit=100001").status, 400u);
    // After the last key: an empty page.
    EXPECT_EQ(s.send(http::verb::get, "/v1/inconsistencies?after=" + key_of(n)).parsed(),
              json::parse(R"({"inconsistencies":[],"count":0,"next_after":null})"));
  }
  for (const char* bad : {"limit=0", "limit=-1", "limit=abc", "limit=1.5", "limit=", "limit",
                                "limit=99999999999999999999", "limit=+5", "limit=5x", "after=%zz", "after=%4"}) {
    SCOPED_TRACE(bad);
    const reply r = s.send(http::verb::get, std::string("/v1/inconsistencies?") + bad);
    EXPECT_EQ(r.status, 400u) << r.body;
    EXPECT_EQ(r.error_code(), "invalid_input") << r.body;
  }
  EXPECT_EQ(s.status()["open_inconsistencies"], n);

  // A check sees every record missing from the secondary.
  {
    const json r = s.check();
    EXPECT_EQ(r["difference_count"], n) << r.dump();
    for (const auto& [k, kind] : kinds_of(r)) EXPECT_EQ(kind, "only_primary") << k;
  }
  // "repair" dry: counts, changes nothing, keeps the log.
  {
    const json j = s.run({{"operation", "repair"}, {"dry_run", true}});
    ASSERT_EQ(j["state"], "done") << j.dump();
    EXPECT_EQ(j["report"]["dry_run"], true);
    EXPECT_EQ(j["report"]["repair"]["copied_to_secondary"], n) << j.dump();
    EXPECT_EQ(secondary.rows(), 0);
    EXPECT_EQ(s.status()["open_inconsistencies"], n);
  }
  // "repair": settles every key of the log and empties it.
  {
    const json j = s.run({{"operation", "repair"}});
    ASSERT_EQ(j["state"], "done") << j.dump();
    EXPECT_EQ(j["report"]["repair"]["copied_to_secondary"], n) << j.dump();
    EXPECT_EQ(j["report"]["repair"]["refused_count"], 0) << j.dump();
    EXPECT_EQ(j["progress"]["repaired"], n) << j.dump();
    EXPECT_EQ(secondary.rows(), n);
    EXPECT_EQ(s.send(http::verb::get, "/v1/inconsistencies").parsed(),
              json::parse(R"({"inconsistencies":[],"count":0,"next_after":null})"));
    EXPECT_EQ(s.status()["open_inconsistencies"], 0);
    EXPECT_EQ(s.check()["difference_count"], 0);
  }
}

// A "full" job settles the inconsistency log's keys in its range, and
// removes their records, before it checks: after it, no record is left
// open for a key the two stores agree on, and the log outside the range is
// untouched.
TEST(RouterReconcile, AFullJobClosesTheRecordsOfTheKeysInItsRange) {
  const std::string dir = scratch("full-closes-records");
  test_server s(open_dual_write(dir, named_consistency::kind::primary_only));
  constexpr int n = 100;
  write_records(s, 0, n);
  raw_db secondary(dir + "/secondary.db");
  ASSERT_EQ(s.status()["open_inconsistencies"], n);

  const json j = s.run({{"operation", "full"}, {"range", {{"first", key_of(0)}, {"last", key_of(40)}}}});
  ASSERT_EQ(j["state"], "done") << j.dump();
  const json& report = j["report"];
  EXPECT_EQ(report["complete"], true) << report.dump();
  EXPECT_EQ(report["logged"]["copied_to_secondary"], 40) << report.dump();
  EXPECT_EQ(report["difference_count"], 0) << "the log's keys were settled before the check: " << report.dump();
  EXPECT_EQ(report["repair"]["copied_to_secondary"], 0) << report.dump();
  EXPECT_EQ(secondary.rows(), 40);
  EXPECT_EQ(s.status()["open_inconsistencies"], n - 40);
  const json left = s.send(http::verb::get, "/v1/inconsistencies?limit=1000").parsed();
  ASSERT_EQ(left["count"], n - 40) << left.dump();
  EXPECT_EQ(left["inconsistencies"][0]["key"], key_of(40)) << left.dump();

  // Drift no write recorded, in the range, is still found and repaired.
  ASSERT_EQ(secondary.exec("DELETE FROM storesync_entries WHERE key = '" + key_of(7) + "'"), 1);
  const json again = s.run({{"operation", "full"}, {"range", {{"first", key_of(0)}, {"last", key_of(40)}}}});
  ASSERT_EQ(again["state"], "done") << again.dump();
  EXPECT_EQ(again["report"]["logged"]["copied_to_secondary"], 0) << again.dump();
  EXPECT_EQ(again["report"]["difference_count"], 1) << again.dump();
  EXPECT_EQ(again["report"]["repair"]["copied_to_secondary"], 1) << again.dump();
  EXPECT_EQ(secondary.rows(), 40);
  EXPECT_EQ(s.status()["open_inconsistencies"], n - 40);
}

/// Where the dual-write service keeps its rebuild checkpoint.
std::string checkpoint_of(const std::string& dir) { return dir + "/dual-write/rebuild.checkpoint"; }

/// A key as the checkpoint holds it: hex, since a key need not be UTF-8.
std::string hex_of(std::string_view key) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (const char ch : key) {
    out += digits[static_cast<unsigned char>(ch) >> 4];
    out += digits[static_cast<unsigned char>(ch) & 15];
  }
  return out;
}

void write_checkpoint(const std::string& dir, const json& range, const std::string& after) {
  std::ofstream out(checkpoint_of(dir), std::ios::trunc);
  out << json{{"range", range}, {"after_hex", hex_of(after)}}.dump();
  ASSERT_TRUE(out.flush());
}

TEST(RouterReconcile, RebuildCancelResumeAndRestart) {
  const std::string dir = scratch("rebuild");
  test_server s(open_dual_write(dir, named_consistency::kind::best_effort));
  constexpr int n = 20'000;
  write_records(s, 0, n);
  raw_db secondary(dir + "/secondary.db");
  ASSERT_EQ(secondary.rows(), n);
  const json whole = json::parse(R"({"first":"","last":null})");

  // The secondary loses everything; a rebuild, cancelled once it has copied some.
  ASSERT_EQ(secondary.exec("DELETE FROM storesync_entries"), n);
  {
    const json r = s.check({{"operation", "check"}, {"max_differences", 5}});
    EXPECT_EQ(r["difference_count"], 5) << r.dump();
    EXPECT_EQ(r["stopped"], "max_differences") << r.dump();
  }
  const std::string first_id = s.start_ok({{"operation", "rebuild"}});
  json seen;
  ASSERT_TRUE(eventually(
      [&] {
        seen = s.job(first_id).parsed();
        return seen["state"] != "running" || seen["progress"]["repaired"].get<std::uint64_t>() > 0;
      },
      100us))
      << seen.dump();
  const reply cancelled = s.cancel(first_id);
  if (seen["state"] == "running") {
    EXPECT_TRUE(cancelled.status == 202u || cancelled.status == 409u) << cancelled.body;
    if (cancelled.status == 202u) {
      EXPECT_EQ(cancelled.parsed(), json({{"id", first_id}, {"state", "cancelling"}})) << cancelled.body;
    }
  } else {
    EXPECT_EQ(cancelled.status, 409u) << cancelled.body;
  }
  const json first = s.wait(first_id);
  ASSERT_TRUE(first["state"] == "cancelled" || first["state"] == "done") << first.dump();
  const json& one = first["report"];
  EXPECT_TRUE(one["resumed_after"].is_null()) << one.dump();
  EXPECT_EQ(one["dry_run"], false);
  if (!one["complete"].get<bool>()) {
    // Cancelled midway: the checkpoint says where it stopped; a second
    // rebuild goes on from there and copies the rest.
    std::cout << "[ info ] the rebuild was cancelled after " << one["copied"] << " rows\n";
    EXPECT_EQ(first["state"], "cancelled");
    const std::int64_t copied = one["copied"];
    EXPECT_GT(copied, 0);
    EXPECT_LT(copied, n);
    EXPECT_EQ(secondary.rows(), copied);
    ASSERT_TRUE(fs::exists(checkpoint_of(dir)));
    {
      std::ifstream in(checkpoint_of(dir));
      const json saved = json::parse(in, nullptr, false);
      EXPECT_EQ(saved, json({{"range", whole}, {"after_hex", hex_of(one["last_key"].get<std::string>())}}))
          << saved.dump();
    }
    const json second = s.run({{"operation", "rebuild"}});
    ASSERT_EQ(second["state"], "done") << second.dump();
    const json& two = second["report"];
    EXPECT_EQ(two["resumed_after"], one["last_key"]) << two.dump();
    EXPECT_EQ(two["complete"], true) << two.dump();
    EXPECT_EQ(copied + two["copied"].get<std::int64_t>(), n) << two.dump();
    EXPECT_EQ(two["last_key"], key_of(n - 1)) << two.dump();
  } else {
    std::cout << "[ info ] the rebuild finished before the cancel landed\n";
    EXPECT_EQ(one["copied"], n) << one.dump();
  }
  EXPECT_FALSE(fs::exists(checkpoint_of(dir))) << "a complete rebuild removes its checkpoint";
  EXPECT_EQ(secondary.rows(), n);
  EXPECT_EQ(s.check()["difference_count"], 0);

  // A checkpoint resumes a rebuild exactly after its key (written here, so
  // that resuming is tested whatever the cancel above did).
  ASSERT_EQ(secondary.exec("DELETE FROM storesync_entries"), n);
  write_checkpoint(dir, whole, key_of(9'999));
  {
    const json j = s.run({{"operation", "rebuild"}});
    ASSERT_EQ(j["state"], "done") << j.dump();
    EXPECT_EQ(j["report"]["resumed_after"], key_of(9'999)) << j.dump();
    EXPECT_EQ(j["report"]["complete"], true) << j.dump();
    EXPECT_EQ(j["report"]["copied"], n - 10'000) << j.dump();
    EXPECT_FALSE(fs::exists(checkpoint_of(dir)));
    const json r = s.check({{"operation", "check"}, {"max_differences", 1'000'000}});
    EXPECT_EQ(r["difference_count"], 10'000) << "the keys before the checkpoint were skipped";
    EXPECT_EQ(r["differences"][0]["key"], key_of(0));
  }
  // Without a checkpoint, a rebuild starts from the beginning.
  {
    const json j = s.run({{"operation", "rebuild"}});
    ASSERT_EQ(j["state"], "done") << j.dump();
    EXPECT_TRUE(j["report"]["resumed_after"].is_null()) << j.dump();
    EXPECT_EQ(j["report"]["copied"], 10'000) << j.dump();
    EXPECT_EQ(s.check()["difference_count"], 0);
  }

  // "restart": true ignores the checkpoint.
  ASSERT_EQ(secondary.exec("DELETE FROM storesync_entries"), n);
  write_checkpoint(dir, whole, key_of(9'999));
  {
    const json j = s.run({{"operation", "rebuild"}, {"restart", true}});
    ASSERT_EQ(j["state"], "done") << j.dump();
    EXPECT_EQ(j["request"]["restart"], true);
    EXPECT_TRUE(j["report"]["resumed_after"].is_null()) << j.dump();
    EXPECT_EQ(j["report"]["complete"], true) << j.dump();
    EXPECT_EQ(j["report"]["copied"], n) << j.dump();
    EXPECT_FALSE(fs::exists(checkpoint_of(dir)));
    EXPECT_EQ(secondary.rows(), n);
    EXPECT_EQ(s.check()["difference_count"], 0);
  }

  // A checkpoint of another range is not used; one of the same range is.
  ASSERT_EQ(secondary.exec("DELETE FROM storesync_entries WHERE key >= 'k1'"), n - 10'000);
  write_checkpoint(dir, json::parse(R"({"first":"k1","last":null})"), key_of(15'000));
  {
    const json j = s.run({{"operation", "rebuild"}, {"range", {{"first", "k"}, {"last", ""}}}});
    ASSERT_EQ(j["state"], "done") << j.dump();
    EXPECT_TRUE(j["report"]["resumed_after"].is_null()) << j.dump();
    EXPECT_EQ(j["report"]["copied"], n - 10'000) << j.dump();
  }
  ASSERT_EQ(secondary.exec("DELETE FROM storesync_entries WHERE key >= 'k1'"), n - 10'000);
  write_checkpoint(dir, json::parse(R"({"first":"k1","last":null})"), key_of(15'000));
  {
    const json j = s.run({{"operation", "rebuild"}, {"range", {{"first", "k1"}}}});
    ASSERT_EQ(j["state"], "done") << j.dump();
    EXPECT_EQ(j["report"]["resumed_after"], key_of(15'000)) << j.dump();
    EXPECT_EQ(j["report"]["copied"], n - 15'001) << j.dump();
    EXPECT_EQ(s.check()["difference_count"], 5'001);
    EXPECT_EQ(s.run({{"operation", "rebuild"}, {"range", {{"first", "k1"}}}})["report"]["copied"], 5'001);
    EXPECT_EQ(s.check()["difference_count"], 0);
  }

  // A dry rebuild counts, writes nothing and saves no checkpoint.
  ASSERT_EQ(secondary.exec("DELETE FROM storesync_entries WHERE key < 'k01000'"), 1'000);
  {
    const json j = s.run({{"operation", "rebuild"}, {"dry_run", true}});
    ASSERT_EQ(j["state"], "done") << j.dump();
    EXPECT_EQ(j["report"]["dry_run"], true);
    EXPECT_EQ(j["report"]["copied"], 1'000) << j.dump();
    EXPECT_EQ(secondary.rows(), n - 1'000);
    EXPECT_FALSE(fs::exists(checkpoint_of(dir)));
    EXPECT_EQ(s.check()["difference_count"], 1'000);
  }
}

TEST(RouterReconcile, ScheduledFullRepairsDrift) {
  const std::string dir = scratch("scheduled");
  test_server s(open_dual_write(dir, named_consistency::kind::best_effort, 1s, /*scheduled_repair=*/true));
  write_records(s, 0, 500);
  raw_db secondary(dir + "/secondary.db");
  ASSERT_EQ(secondary.exec("DELETE FROM storesync_entries WHERE key IN ('k00003', 'k00400')"), 2);
  EXPECT_EQ(s.status()["reconcile"]["repair"], true);
  EXPECT_EQ(s.status()["reconcile"]["interval_s"], 1);
  // A scheduled "full" puts the two rows back.
  ASSERT_TRUE(eventually([&] { return secondary.rows() == 500; }, 10ms));
  json st;
  ASSERT_TRUE(eventually(
      [&] {
        st = s.status();
        return st["reconcile"]["scheduled_runs"].get<std::uint64_t>() >= 1 && st["reconcile"]["last"].is_object();
      },
      10ms))
      << st.dump();
  const json last = s.wait(st["reconcile"]["last"]["id"]);
  EXPECT_EQ(last["scheduled"], true) << last.dump();
  EXPECT_EQ(last["operation"], "full") << last.dump();
}

// reconciler.hpp: a row changed in place by other SQL shows only when its
// row hash column changes with it. Both halves of that sentence hold (here
// the only drift, so no range is streamed by chance).
TEST(RouterReconcile, AnEditShowsExactlyWhenItsRowHashChangesWithIt) {
  const std::string dir = scratch("version-only");
  test_server s(open_dual_write(dir, named_consistency::kind::best_effort));
  write_records(s, 0, 3000);
  raw_db secondary(dir + "/secondary.db");
  ASSERT_EQ(secondary.exec("UPDATE storesync_entries SET version = 5 WHERE key = 'k01500'"), 1);
  EXPECT_TRUE(kinds_of(s.check()).empty()) << "the documented blind spot moved: update reconciler.hpp";
  ASSERT_EQ(secondary.exec("UPDATE storesync_entries SET row_hash = row_hash + 1 WHERE key = 'k01500'"), 1);
  const json r = s.check();
  EXPECT_EQ(kinds_of(r), (std::map<std::string, std::string>{{key_of(1500), "differ"}})) << r.dump();
}

// ---------------------------------------------------------------------------
// 4. Modes without a second store
// ---------------------------------------------------------------------------

void expect_no_reconcile_routes(test_server& s, const std::string& mode) {
  SCOPED_TRACE(mode);
  const std::vector<std::pair<http::verb, std::string>> routes = {
      {http::verb::get, "/v1/inconsistencies"},
      {http::verb::get, "/v1/inconsistencies?after=a"},
      {http::verb::post, "/v1/reconcile"},
      {http::verb::get, "/v1/reconcile"},
      {http::verb::get, "/v1/reconcile/1"},
      {http::verb::delete_, "/v1/reconcile/1"},
  };
  for (const auto& [verb, target] : routes) {
    SCOPED_TRACE(target);
    const reply r = s.send(verb, target, R"({"operation":"check"})");
    EXPECT_EQ(r.status, 404u) << r.body;
    EXPECT_EQ(r.error_code(), "not_found") << r.body;
    EXPECT_NE(r.error_message().find("mode \"" + mode + "\""), std::string::npos) << r.body;
    EXPECT_NE(r.error_message().find("dual-write"), std::string::npos) << r.body;
  }
  // Even a body the parser would refuse, or another content type: the route is not there.
  EXPECT_EQ(s.send(http::verb::post, "/v1/reconcile", "not json").status, 404u);
  EXPECT_EQ(s.send(http::verb::post, "/v1/reconcile", R"({"operation":"check"})", "text/plain").status, 404u);
  EXPECT_FALSE(s.status().contains("reconcile"));
}

TEST(RouterReconcile, DirectModeHasNoReconcileRoutes) {
  const std::string dir = scratch("direct");
  sqlite_options o;
  o.path = dir + "/storesync.db";
  auto store = sqlite_store::open(o);
  ASSERT_TRUE(store) << store.error().message();
  auto direct = direct_service<sqlite_store>::open(std::make_shared<sqlite_store>(std::move(store).value()), "sqlite",
                                                   value_rules{});
  ASSERT_TRUE(direct) << direct.error().message();
  test_server s(std::shared_ptr<record_service>(std::move(direct).value()));
  EXPECT_EQ(s.send(http::verb::put, "/v1/records/a", R"({"x":1})").status, 200u);
  expect_no_reconcile_routes(s, "direct");
}

TEST(RouterReconcile, WriteBehindModeHasNoReconcileRoutes) {
  const std::string dir = scratch("write-behind");
  sqlite_options o;
  o.path = dir + "/storesync.db";
  write_behind_options wb;
  wb.directory = dir;
  auto service = write_behind_service<sqlite_store>::open(
      [o] { return sqlite_store::open(o); }, {}, "sqlite", std::make_unique<memory_store>(), "memory", std::move(wb),
      exponential_backoff({.base = 10ms, .cap = 100ms, .max_attempts = 3}), aimd_batch_sizer{}, block_for(10s),
      std::make_shared<metrics_registry>());
  ASSERT_TRUE(service) << service.error().message();
  test_server s(std::shared_ptr<record_service>(std::move(service).value()));
  EXPECT_EQ(s.send(http::verb::put, "/v1/records/a", R"({"x":1})").status, 200u);
  expect_no_reconcile_routes(s, "write-behind");
}

}  // namespace
}  // namespace storesync::server
