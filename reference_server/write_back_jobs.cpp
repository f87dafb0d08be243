#include "reference_server/write_back_jobs.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <optional>
#include <utility>

#include "reference_server/write_back_runner.hpp"
#include "storesync/core/detail/json_scan.hpp"
#include "storesync/core/detail/text.hpp"

namespace storesync::server {
namespace {

using json = nlohmann::json;

/// Nesting a request body may have (it needs two levels).
constexpr std::size_t max_request_depth = 8;

error invalid(std::string message) { return error{errc::invalid_argument, std::move(message)}; }

/// How far a stage report's committed watermark is behind the source's
/// newest version (microseconds for timestamp versions), when both are known.
std::optional<std::int64_t> watermark_lag(const json& stage) {
  const json health = stage.value("health", json::object());
  const auto newest = health.find("newest_version");
  auto committed = decode_watermark(stage.value("to", ""));
  if (newest == health.end() || !newest->is_number_integer() || !committed) return std::nullopt;
  return std::max<std::int64_t>(0, newest->get<std::int64_t>() - committed.value().version);
}

}  // namespace

result<write_back_run_request> parse_write_back_run_request(std::string_view body, const write_back_config& config) {
  write_back_run_request r;
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return r;  // no body: every stage
  BOOST_OUTCOME_TRY(const json j, parse_job_body(body, max_write_back_run_body, max_request_depth, false));
  if (!j.is_object()) return invalid(R"(body must be an object {"dry_run": bool, "stages": ["name", ...]})");
  for (const auto& [name, v] : j.items()) {
    if (name == "dry_run") {
      if (!v.is_boolean()) return invalid("dry_run must be true or false");
      r.dry_run = v.get<bool>();
    } else if (name == "stages") {
      if (!v.is_array()) return invalid("stages must be an array of stage names");
      for (const json& s : v) {
        if (!s.is_string()) return invalid("stages must be an array of stage names, got " + s.dump());
        const std::string stage = s.get<std::string>();
        const bool known = std::any_of(config.stages.begin(), config.stages.end(),
                                       [&](const write_back_stage_config& c) { return c.name == stage; });
        if (!known) return invalid("no stage " + detail::quoted(stage) + " in the write-back config");
        if (std::find(r.stages.begin(), r.stages.end(), stage) != r.stages.end())
          return invalid("stage " + detail::quoted(stage) + " is named twice");
        r.stages.push_back(stage);
      }
    } else {
      return invalid("unknown member " + detail::quoted(name) + " (dry_run, stages)");
    }
  }
  return r;
}

write_back_jobs::write_back_jobs(write_back_config config)
    : config_(std::move(config)),
      jobs_("write_back", "/v1/write-back/runs/", registry_, [this](const json& report) { record(report); }) {}

job_work write_back_jobs::work_for(const write_back_run_request& request) {
  // The live progress: the last batch's counts, written by the run's
  // thread, read by whoever asks.
  struct live {
    std::mutex mutex;
    json batch = json::object();
  };
  auto progress = std::make_shared<live>();
  json echoed = {{"dry_run", request.dry_run}, {"stages", request.stages}};
  return {.operation = request.dry_run ? "dry_run" : "run",
          .request = std::move(echoed),
          .run = [this, request, progress](std::stop_token stop) -> result<json> {
            std::atomic<bool> stopping{false};
            std::stop_callback on_cancel(stop, [&] { stopping = true; });
            write_back_request r{.dry_run = request.dry_run, .only = request.stages, .stop = &stopping};
            r.on_batch = [&](const write_back_report& run, const write_back_stage_report& s,
                             std::optional<std::uint64_t> total) {
              std::lock_guard lock(progress->mutex);
              progress->batch = json(batch_progress_json(run, s, total));
            };
            BOOST_OUTCOME_TRY(auto outcome, run_write_back(config_, r));
            json report = outcome.report.run_id.empty() ? json{{"run", nullptr}, {"stages", json::array()}}
                                                        : json::parse(report_json(outcome.report));
            report["complete"] = outcome.report.status() != write_back_status::interrupted;
            json skipped = json::array();
            for (const auto& [stage, why] : outcome.skipped) skipped.push_back({{"stage", stage}, {"why", why}});
            report["skipped"] = std::move(skipped);
            return report;
          },
          .progress = [progress] {
            std::lock_guard lock(progress->mutex);
            return progress->batch;
          }};
}

void write_back_jobs::schedule(std::chrono::seconds interval) {
  jobs_.schedule(interval, [this] { return work_for({}); });
}

void write_back_jobs::record(const json& report) {
  if (report.value("dry_run", false)) return;  // what would have been, not what is
  const auto stages = report.find("stages");
  if (stages == report.end() || !stages->is_array()) return;
  for (const json& s : *stages) {
    const std::string stage = s.value("stage", "");
    for (const char* outcome : {"read", "written", "unchanged", "stale", "dead_lettered"})
      registry_.gauge("write_back_last_rows", "Rows of each outcome in a stage's last run.",
                      {{"stage", stage}, {"outcome", outcome}})
          .set(s.value(outcome, 0.0));
    if (const auto lag = watermark_lag(s))
      registry_.gauge("write_back_watermark_lag", "Source versions a stage's watermark is behind its newest.",
                      {{"stage", stage}})
          .set(static_cast<double>(*lag));
  }
  std::lock_guard lock(mutex_);
  last_ = report;
}

result<json> write_back_jobs::runs(std::size_t limit, std::string_view before) {
  if (config_.sink.type == write_back_endpoint::kind::duckdb && !jobs_.summary()["running"].is_null())
    return error{errc::busy, "the run log is in the DuckDB file the running job holds open; list it when the run ends"};
  BOOST_OUTCOME_TRY(auto rows, list_write_back_runs(config_, limit, before));
  json out = json::array();
  for (const write_back_run& r : rows) {
    try {
      out.push_back(json::parse(r.json));
    } catch (const json::exception&) {  // a record changed by other hands
      out.push_back({{"run", r.run_id}, {"unreadable", r.json}});
    }
  }
  return json{{"runs", std::move(out)}};
}

json write_back_jobs::summary() const {
  json out = jobs_.summary();
  std::lock_guard lock(mutex_);
  if (last_.is_null()) {
    out["last_run"] = nullptr;
    return out;
  }
  json stages = json::array();
  for (const json& s : last_.value("stages", json::array())) {
    const auto lag = watermark_lag(s);
    stages.push_back({{"stage", s.value("stage", "")}, {"watermark", s.value("to", "")}, {"lag", lag ? json(*lag) : json()}});
  }
  out["last_run"] = {{"run", last_.value("run", json())}, {"status", last_.value("status", json())}, {"stages", stages}};
  return out;
}

std::string write_back_jobs::metrics() const { return registry_.render_prometheus(); }

}  // namespace storesync::server
