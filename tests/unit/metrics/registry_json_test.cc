#include "storesync/metrics/registry_json.hpp"

#include <gtest/gtest.h>

#include <chrono>

#include <nlohmann/json.hpp>

namespace storesync {
namespace {

using namespace std::chrono_literals;

TEST(MetricsRegistryJson, RendersEveryKind) {
  metrics_registry r;
  r.counter("puts_total", "Puts.", {{"journal", "main"}}).inc(4);
  r.gauge("lag_seconds", "Lag.").set(-1.5);
  r.histogram("flush_seconds", "Flush.").observe(30ms);
  const auto j = nlohmann::json::parse(render_json(r));
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

TEST(MetricsRegistryJson, ConvertsLikeAnyNlohmannType) {
  metrics_registry r;
  r.counter("puts_total", "Puts.").inc();
  const nlohmann::json j = r;
  EXPECT_EQ(j.dump(), render_json(r));
  EXPECT_EQ(j.dump(),
            R"({"storesync_puts_total":{"help":"Puts.","series":[{"labels":{},"value":1}],"type":"counter"}})");
}

}  // namespace
}  // namespace storesync
