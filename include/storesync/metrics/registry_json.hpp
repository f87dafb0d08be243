#pragma once
/// \file
/// A `metrics_registry` as JSON (nlohmann), kept apart from registry.hpp so
/// that only a program that serves its metrics as JSON pays for nlohmann_json.
///
/// \code
///   storesync::metrics_registry metrics;
///   metrics.counter("puts_total", "Puts.").inc();
///   nlohmann::json j = metrics;                       // or:
///   std::string body = storesync::render_json(metrics);
///   // {"storesync_puts_total":{"help":"Puts.","series":[{"labels":{},"value":1}],"type":"counter"}}
/// \endcode
///
/// Reads the registry through `metrics_registry::visit`, so the `on_render`
/// hooks run first, as for `render_prometheus`.

#include <cstddef>
#include <string>
#include <type_traits>
#include <utility>

#include <nlohmann/json.hpp>

#include "storesync/metrics/detail/cells.hpp"
#include "storesync/metrics/registry.hpp"

namespace storesync {

/// Everything in `r`:
/// `{"<name>": {"type": "counter", "help": "...", "series": [{"labels": {...}, "value": 3}]}}`;
/// a histogram series has `count`, `sum` (seconds) and cumulative
/// `buckets` `[{"le": 1e-06, "count": 0}, ..., {"le": "+Inf", "count": n}]`.
inline void to_json(nlohmann::json& out, const metrics_registry& r) {
  out = nlohmann::json::object();
  r.visit([&out](const std::string& name, const std::string& help, const metric_labels& labels,
                 const auto& metric) {
    using handle = std::decay_t<decltype(metric)>;
    nlohmann::json& family = out[name];
    if (family.is_null()) {
      const char* type = std::is_same_v<handle, counter> ? "counter"
                         : std::is_same_v<handle, gauge> ? "gauge"
                                                         : "histogram";
      family = {{"type", type}, {"help", help}, {"series", nlohmann::json::array()}};
    }
    nlohmann::json label_object = nlohmann::json::object();
    for (const auto& [k, v] : labels) label_object[k] = v;
    nlohmann::json one = {{"labels", std::move(label_object)}};
    if constexpr (std::is_same_v<handle, histogram>) {
      const auto cumulative = metric.cumulative_counts();
      nlohmann::json buckets = nlohmann::json::array();
      for (std::size_t i = 0; i < cumulative.size(); ++i) {
        nlohmann::json le = i < detail::latency_bounds_ns.size()
                                ? nlohmann::json(static_cast<double>(detail::latency_bounds_ns[i]) / 1e9)
                                : nlohmann::json("+Inf");
        buckets.push_back({{"le", std::move(le)}, {"count", cumulative[i]}});
      }
      one["count"] = cumulative.back();
      one["sum"] = static_cast<double>(metric.sum().count()) / 1e9;
      one["buckets"] = std::move(buckets);
    } else {
      one["value"] = metric.value();
    }
    family["series"].push_back(std::move(one));
  });
}

/// `to_json` as text.
inline std::string render_json(const metrics_registry& r) {
  nlohmann::json j;
  to_json(j, r);
  return j.dump();
}

}  // namespace storesync
