#include "storesync/metrics/registry.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "storesync/metrics/registry_json.hpp"

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

TEST(RenderHook, RunsAtTheStartOfEveryRenderAndItsGaugeShows) {
  metrics_registry r;
  auto g = r.gauge("renders", "Renders so far.");
  int calls = 0;
  render_hook hook = r.on_render([&] { g.set(++calls); });
  EXPECT_EQ(calls, 0) << "registering does not call";

  EXPECT_TRUE(has_line(r.render_prometheus(), "storesync_renders 1")) << "the same render shows the new value";
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(nlohmann::json(r)["storesync_renders"]["series"][0]["value"], 2);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(nlohmann::json::parse(render_json(r))["storesync_renders"]["series"][0]["value"], 3);
  EXPECT_EQ(calls, 3);
}

TEST(RenderHook, EveryLiveHookRuns) {
  metrics_registry r;
  int a = 0, b = 0;
  render_hook ha = r.on_render([&] { ++a; });
  render_hook hb = r.on_render([&] { ++b; });
  r.render_prometheus();
  render_json(r);
  EXPECT_EQ(a, 2);
  EXPECT_EQ(b, 2);
}

TEST(RenderHook, DestroyingOrResettingTheHookStopsTheCalls) {
  metrics_registry r;
  int scoped = 0, reset = 0, kept = 0;
  render_hook keep = r.on_render([&] { ++kept; });
  render_hook to_reset = r.on_render([&] { ++reset; });
  {
    render_hook hook = r.on_render([&] { ++scoped; });
    r.render_prometheus();
  }
  EXPECT_EQ(scoped, 1);
  to_reset.reset();
  to_reset.reset();  // idempotent
  r.render_prometheus();
  render_json(r);
  EXPECT_EQ(scoped, 1) << "a destroyed hook was called";
  EXPECT_EQ(reset, 1) << "a reset hook was called";
  EXPECT_EQ(kept, 3) << "the other hook must keep running";
}

TEST(RenderHook, AMovedHookKeepsWorking) {
  metrics_registry r;
  int calls = 0;
  render_hook moved_to;
  {
    render_hook original = r.on_render([&] { ++calls; });
    render_hook middle(std::move(original));
    moved_to = std::move(middle);
  }  // the moved-from hooks are gone: they must not have unregistered it
  r.render_prometheus();
  EXPECT_EQ(calls, 1);

  std::vector<render_hook> hooks;
  hooks.push_back(std::move(moved_to));
  for (int i = 0; i < 20; ++i) hooks.push_back(render_hook{});  // reallocations move it again
  r.render_prometheus();
  EXPECT_EQ(calls, 2);
  hooks.clear();
  r.render_prometheus();
  EXPECT_EQ(calls, 2) << "destroying the final owner unregisters it";
}

TEST(RenderHook, AssigningOverAHookUnregistersTheOldFunction) {
  metrics_registry r;
  int first = 0, second = 0;
  render_hook hook = r.on_render([&] { ++first; });
  hook = r.on_render([&] { ++second; });
  r.render_prometheus();
  EXPECT_EQ(first, 0);
  EXPECT_EQ(second, 1);
  auto& self = hook;
  hook = std::move(self);  // self-move keeps it
  r.render_prometheus();
  EXPECT_EQ(second, 2);
}

TEST(RenderHook, DestroyingAHookWhileAnotherThreadRendersIsSafe) {
  metrics_registry r;
  auto g = r.gauge("state", "A value a hook refreshes.");
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> renders{0};
  std::thread renderer([&] {
    while (!stop.load()) {
      r.render_prometheus();
      render_json(r);
      renders.fetch_add(1);
    }
  });

  std::atomic<int> ran_after_reset{0};
  for (int i = 0; i < 300; ++i) {
    // The state the hook reads lives exactly as long as the hook.
    auto state = std::make_unique<std::atomic<int>>(0);
    render_hook hook = r.on_render([&g, &ran_after_reset, p = state.get()] {
      if (p->load() < 0) ran_after_reset.fetch_add(1);
      g.set(p->fetch_add(1));
    });
    if (i % 10 == 0) {
      // Sometimes wait for the hook to have run at least once, so the
      // reset below overlaps calls in progress, not only idle registrations.
      while (state->load() == 0) std::this_thread::yield();
    }
    hook.reset();
    state->store(-1'000'000);  // a call after reset would see this
    state.reset();
  }
  const auto before = renders.load();
  while (renders.load() < before + 2) std::this_thread::yield();  // a few more renders with no hooks
  stop = true;
  renderer.join();
  EXPECT_EQ(ran_after_reset.load(), 0) << "a hook ran after its reset returned";
  EXPECT_GT(renders.load(), 0u);
}

}  // namespace
}  // namespace storesync
