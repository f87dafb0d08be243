// The reference server's event log: one JSON object per line, with the
// time, the event and the durable store; each stream of lines (store state,
// backpressure, dead letters) at most one line per interval, the next saying
// how many were left out, and a held state change written when the interval
// is over; bytes that are not UTF-8 replaced, never thrown.
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <streambuf>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "reference_server/event_log.hpp"

namespace storesync::server {
namespace {

using kind = write_behind_event::kind;

std::vector<nlohmann::json> lines_of(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

// A stream buffer the test can read while the log's timer thread writes.
class shared_text : public std::streambuf {
 public:
  std::string str() {
    std::lock_guard lock(mutex_);
    return text_;
  }

 protected:
  int_type overflow(int_type c) override {
    std::lock_guard lock(mutex_);
    if (!traits_type::eq_int_type(c, traits_type::eof())) text_.push_back(traits_type::to_char_type(c));
    return traits_type::not_eof(c);
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    std::lock_guard lock(mutex_);
    text_.append(s, static_cast<std::size_t>(n));
    return n;
  }

 private:
  std::mutex mutex_;
  std::string text_;
};

TEST(EventLog, EachStateChangeIsOneJsonLine) {
  std::ostringstream out;
  event_log log(out, "postgresql", std::chrono::milliseconds(0));
  log({kind::slow_store_down, {}, "connection refused"});
  log({kind::backpressure_on});
  log({kind::backpressure_off});
  log({kind::slow_store_up});
  const auto lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 4u) << out.str();
  EXPECT_EQ(lines[0]["event"], "slow_store_down");
  EXPECT_EQ(lines[0]["store"], "postgresql");
  EXPECT_EQ(lines[0]["error"], "connection refused");
  EXPECT_EQ(lines[1]["event"], "backpressure_on");
  EXPECT_EQ(lines[2]["event"], "backpressure_off");
  EXPECT_EQ(lines[3]["event"], "slow_store_up");
  for (const auto& l : lines) {
    const std::string ts = l["ts"];
    EXPECT_EQ(ts.size(), 27u) << ts;  // 2026-12-03T14:30:00.123456Z
    EXPECT_EQ(ts.back(), 'Z');
  }
}

TEST(EventLog, AFlappingStoreGetsOneLinePerIntervalAndItsLastStateIsWritten) {
  std::ostringstream out;
  {
    event_log log(out, "postgresql", std::chrono::hours(1));
    log({kind::slow_store_down, {}, "connection refused"});
    log({kind::slow_store_up});
    log({kind::slow_store_down, {}, "timeout"});
    log({kind::backpressure_on});  // another stream, its own limit
    log({kind::slow_store_up});
    const auto now = lines_of(out.str());
    ASSERT_EQ(now.size(), 2u) << out.str();
    EXPECT_EQ(now[0]["event"], "slow_store_down");
    EXPECT_EQ(now[1]["event"], "backpressure_on");
  }
  // The held change is written when the log goes (here: long before the
  // hour is over): the last line tells the current state.
  const auto lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 3u) << out.str();
  EXPECT_EQ(lines[2]["event"], "slow_store_up");
  EXPECT_EQ(lines[2]["not_logged"], 2) << "the up and down between were left out";
}

TEST(EventLog, AHeldStateChangeIsWrittenOnceTheIntervalIsOverWithoutAnotherEvent) {
  shared_text text;
  std::ostream out(&text);
  event_log log(out, "postgresql", std::chrono::milliseconds(50));
  log({kind::slow_store_down, {}, "connection refused"});
  log({kind::slow_store_up});
  // Progress, not speed: wait (up to a minute) for the timer's line.
  std::vector<nlohmann::json> lines;
  for (int i = 0; i < 6000 && lines.size() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    lines = lines_of(text.str());
  }
  ASSERT_EQ(lines.size(), 2u) << text.str();
  EXPECT_EQ(lines[1]["event"], "slow_store_up");
  EXPECT_EQ(lines[1]["not_logged"], 0);
  EXPECT_FALSE(lines[1].contains("error"));
}

TEST(EventLog, DeadLettersAreRateLimitedAndTheLeftOutCounted) {
  std::ostringstream out;
  event_log slow(out, "sqlite", std::chrono::hours(1));
  for (int i = 0; i < 5; ++i) slow({kind::dead_lettered, "k" + std::to_string(i), "refused"});
  auto lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 1u) << "one line per interval";
  EXPECT_EQ(lines[0]["key"], "k0");
  EXPECT_EQ(lines[0]["not_logged"], 0);

  // However fast they come, each dead letter is logged or counted by a
  // later line: once the interval has passed, the next one is logged.
  std::ostringstream counted;
  event_log tenth(counted, "sqlite", std::chrono::milliseconds(100));
  for (int i = 0; i < 50; ++i) tenth({kind::dead_lettered, "k" + std::to_string(i), "refused"});
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  tenth({kind::dead_lettered, "last", "refused"});
  lines = lines_of(counted.str());
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back()["key"], "last");
  std::size_t accounted = 0;
  for (const auto& l : lines) accounted += 1 + l["not_logged"].get<std::size_t>();
  EXPECT_EQ(accounted, 51u);
}

TEST(EventLog, BytesThatAreNotUtf8AreReplacedNotThrown) {
  std::ostringstream out;
  event_log log(out, "sqlite", std::chrono::milliseconds(0));
  log({kind::dead_lettered, std::string("k\xff\xfe"), std::string("bad \xc3")});
  const auto lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["key"], "k\xef\xbf\xbd\xef\xbf\xbd");
}

}  // namespace
}  // namespace storesync::server
