#include "storesync/metrics/registry.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace storesync {
namespace {

using namespace std::chrono_literals;

bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

TEST(MetricsRegistry, RendersCountersAndGaugesAsPrometheusText) {
  metrics_registry r;
  auto get = r.counter("requests_total", "Requests served.", {{"route", "get"}});
  auto put = r.counter("requests_total", "Requests served.", {{"route", "put"}});
  auto pending = r.gauge("pending", "Entries waiting.\nSecond line \\ here.");
  get.inc(3);
  put.inc();
  pending.set(2.5);
  EXPECT_EQ(r.render_prometheus(),
            "# HELP storesync_pending Entries waiting.\\nSecond line \\\\ here.\n"
            "# TYPE storesync_pending gauge\n"
            "storesync_pending 2.5\n"
            "# HELP storesync_requests_total Requests served.\n"
            "# TYPE storesync_requests_total counter\n"
            "storesync_requests_total{route=\"get\"} 3\n"
            "storesync_requests_total{route=\"put\"} 1\n");
}

TEST(MetricsRegistry, RendersHistogramsInSeconds) {
  metrics_registry r;
  auto h = r.histogram("put_seconds", "Put latency.", {{"store", "fast"}});
  h.observe(3us);
  h.observe(2ms);
  h.observe(20s);
  const auto text = r.render_prometheus();
  EXPECT_TRUE(has_line(text, "# TYPE storesync_put_seconds histogram")) << text;
  EXPECT_TRUE(has_line(text, "storesync_put_seconds_bucket{store=\"fast\",le=\"1e-06\"} 0")) << text;
  EXPECT_TRUE(has_line(text, "storesync_put_seconds_bucket{store=\"fast\",le=\"2.5e-06\"} 0")) << text;
  EXPECT_TRUE(has_line(text, "storesync_put_seconds_bucket{store=\"fast\",le=\"5e-06\"} 1")) << text;
  EXPECT_TRUE(has_line(text, "storesync_put_seconds_bucket{store=\"fast\",le=\"0.0025\"} 2")) << text;
  EXPECT_TRUE(has_line(text, "storesync_put_seconds_bucket{store=\"fast\",le=\"10\"} 2")) << text;
  EXPECT_TRUE(has_line(text, "storesync_put_seconds_bucket{store=\"fast\",le=\"+Inf\"} 3")) << text;
  EXPECT_TRUE(has_line(text, "storesync_put_seconds_sum{store=\"fast\"} 20.002003")) << text;
  EXPECT_TRUE(has_line(text, "storesync_put_seconds_count{store=\"fast\"} 3")) << text;
  EXPECT_EQ(h.count(), 3u);
  EXPECT_EQ(h.sum(), 20s + 2ms + 3us);
}

TEST(MetricsRegistry, BoundaryValuesFallInTheirBucket) {
  metrics_registry r;
  auto h = r.histogram("x_seconds", "x");
  h.observe(1us);  // le="1e-06" is inclusive
  const auto text = r.render_prometheus();
  EXPECT_TRUE(has_line(text, "storesync_x_seconds_bucket{le=\"1e-06\"} 1")) << text;
}

TEST(MetricsRegistry, RendersJson) {
  metrics_registry r;
  r.counter("puts_total", "Puts.", {{"journal", "main"}}).inc(4);
  r.gauge("lag_seconds", "Lag.").set(-1.5);
  r.histogram("flush_seconds", "Flush.").observe(30ms);
  const auto j = nlohmann::json::parse(r.render_json());
  EXPECT_EQ(j["storesync_puts_total"]["type"], "counter");
  EXPECT_EQ(j["storesync_puts_total"]["help"], "Puts.");
  EXPECT_EQ(j["storesync_puts_total"]["series"][0]["labels"]["journal"], "main");
  EXPECT_EQ(j["storesync_puts_total"]["series"][0]["value"], 4);
  EXPECT_EQ(j["storesync_lag_seconds"]["series"][0]["value"], -1.5);
  const auto& h = j["storesync_flush_seconds"]["series"][0];
  EXPECT_EQ(h["count"], 1);
  EXPECT_DOUBLE_EQ(h["sum"].get<double>(), 0.03);
  EXPECT_EQ(h["buckets"].size(), 23u);
  EXPECT_EQ(h["buckets"][0]["le"], 1e-06);
  EXPECT_EQ(h["buckets"][22]["le"], "+Inf");
  EXPECT_EQ(h["buckets"][22]["count"], 1);
  EXPECT_EQ(h["buckets"][13]["le"], 0.025);
  EXPECT_EQ(h["buckets"][13]["count"], 0);
  EXPECT_EQ(h["buckets"][14]["count"], 1);
}

TEST(MetricsRegistry, SameNameAndLabelsShareACell) {
  metrics_registry r;
  auto a = r.counter("x_total", "x", {{"b", "2"}, {"a", "1"}});
  auto b = r.counter("x_total", "ignored", {{"a", "1"}, {"b", "2"}});
  a.inc();
  b.inc();
  EXPECT_EQ(a.value(), 2u);
  EXPECT_TRUE(has_line(r.render_prometheus(), "storesync_x_total{a=\"1\",b=\"2\"} 2"));
}

TEST(MetricsRegistry, RejectedRegistrationsGiveNoOpHandles) {
  metrics_registry r;
  ASSERT_TRUE(r.counter("ok_total", "ok"));
  EXPECT_FALSE(r.gauge("ok_total", "same name, other type"));
  EXPECT_FALSE(r.counter("bad name", "space"));
  EXPECT_FALSE(r.counter("x_total", "bad label", {{"0abc", "v"}}));
  EXPECT_FALSE(r.counter("x_total", "reserved label", {{"__name", "v"}}));
  EXPECT_FALSE(r.histogram("h_seconds", "le is reserved", {{"le", "1"}}));
  EXPECT_FALSE(r.counter("x_total", "duplicate label", {{"a", "1"}, {"a", "2"}}));
  counter none;
  none.inc();  // harmless
  EXPECT_EQ(none.value(), 0u);
}

TEST(MetricsRegistry, EscapesLabelValues) {
  metrics_registry r;
  r.counter("x_total", "x", {{"path", "a\"b\\c\nd"}}).inc();
  EXPECT_TRUE(has_line(r.render_prometheus(), R"(storesync_x_total{path="a\"b\\c\nd"} 1)"))
      << r.render_prometheus();
}

TEST(MetricsRegistry, ConcurrentUpdatesSumCorrectly) {
  metrics_registry r;
  constexpr int threads = 8;
  constexpr int per_thread = 100000;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      // Each thread looks its handles up itself, as separate components would.
      auto c = r.counter("ops_total", "Ops.");
      auto g = r.gauge("level", "Level.");
      auto h = r.histogram("op_seconds", "Op latency.");
      for (int i = 0; i < per_thread; ++i) {
        c.inc();
        g.add(1);
        if (i % 10 == 0) h.observe(std::chrono::microseconds(i % 1000));
      }
    });
  for (auto& th : pool) th.join();
  EXPECT_EQ(r.counter("ops_total", "").value(), std::uint64_t{threads} * per_thread);
  EXPECT_EQ(r.gauge("level", "").value(), double{threads} * per_thread);
  EXPECT_EQ(r.histogram("op_seconds", "").count(), std::uint64_t{threads} * per_thread / 10);
}

TEST(MetricsRegistry, PrefixIsConfigurable) {
  metrics_registry r("app_");
  r.counter("x_total", "x").inc();
  EXPECT_TRUE(has_line(r.render_prometheus(), "app_x_total 1"));
}

}  // namespace
}  // namespace storesync
