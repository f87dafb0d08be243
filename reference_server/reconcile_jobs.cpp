#include "reference_server/reconcile_jobs.hpp"

#include <cmath>
#include <system_error>
#include <utility>

#include "reference_server/record_service.hpp"
#include "storesync/core/detail/json_scan.hpp"
#include "storesync/core/detail/text.hpp"
#include "storesync/core/entry.hpp"

namespace storesync::server {
namespace {

using json = nlohmann::json;

/// Nesting a request body may have (it needs two levels).
constexpr std::size_t max_request_depth = 32;

error invalid(std::string message) { return error{errc::invalid_argument, std::move(message)}; }

std::string_view truth_name(source_of_truth t) {
  switch (t) {
    case source_of_truth::left: return "primary";
    case source_of_truth::right: return "secondary";
    case source_of_truth::newest: return "newest";
  }
  return "primary";
}

/// A member that must be a boolean.
result<bool> boolean(const json& v, std::string_view name) {
  if (!v.is_boolean()) return invalid(std::string(name) + " must be true or false");
  return v.get<bool>();
}

result<key_range> range_of(const json& v) {
  if (!v.is_object()) return invalid(R"(range must be an object {"first":..,"last":..})");
  key_range r;
  for (const auto& [name, bound] : v.items()) {
    if (name != "first" && name != "last")
      return invalid("range: unknown member " + detail::quoted(name) + " (first, last)");
    if (!bound.is_string()) return invalid("range." + name + " must be a string (a key; \"\" for an open end)");
    std::string key = bound.get<std::string>();
    if (!key.empty()) {
      if (auto ok = validate_key(key); !ok) return invalid("range." + name + ": " + ok.error().message());
    }
    if (name == "first") r.first = std::move(key);
    else if (!key.empty()) r.last = std::move(key);
  }
  if (r.empty())
    return invalid("range: first must sort before last (the range is first <= key < last)");
  return r;
}

}  // namespace

result<reconcile_request> parse_reconcile_request(std::string_view body) {
  // A NUL in a string passes here: a key holding one is refused by name below.
  BOOST_OUTCOME_TRY(const json j, parse_job_body(body, max_reconcile_body, max_request_depth, true));
  if (!j.is_object())
    return invalid(R"(body must be an object {"operation":"check"|"repair"|"full"|"rebuild", ...})");
  reconcile_request r;
  for (const auto& [name, v] : j.items()) {
    if (name == "operation") {
      if (!v.is_string()) return invalid("operation must be a string");
      r.operation = v.get<std::string>();
      if (r.operation != "check" && r.operation != "repair" && r.operation != "full" && r.operation != "rebuild")
        return invalid("operation must be check, repair, full or rebuild, got " + detail::quoted(r.operation));
    } else if (name == "dry_run") {
      BOOST_OUTCOME_TRY(r.dry_run, boolean(v, name));
    } else if (name == "restart") {
      BOOST_OUTCOME_TRY(r.restart, boolean(v, name));
    } else if (name == "range") {
      BOOST_OUTCOME_TRY(r.range, range_of(v));
    } else if (name == "max_differences") {
      if (!v.is_number_unsigned() || v.get<std::uint64_t>() == 0)
        return invalid("max_differences must be a positive integer, got " + v.dump());
      r.max_differences = static_cast<std::size_t>(v.get<std::uint64_t>());
    } else if (name == "max_seconds") {
      const double s = v.is_number() ? v.get<double>() : 0;
      if (!(s > 0) || !std::isfinite(s) || s > 7 * 24 * 3600.0)
        return invalid("max_seconds must be a number of seconds above 0 and at most 604800, got " + v.dump());
      r.max_time = std::chrono::milliseconds(std::max<std::int64_t>(1, static_cast<std::int64_t>(s * 1000)));
    } else if (name == "source_of_truth") {
      const std::string t = v.is_string() ? v.get<std::string>() : v.dump();
      if (t == "primary") r.truth = source_of_truth::left;
      else if (t == "secondary") r.truth = source_of_truth::right;
      else if (t == "newest") r.truth = source_of_truth::newest;
      else return invalid("source_of_truth must be primary, secondary or newest, got " + detail::quoted(t));
    } else {
      return invalid("unknown member " + detail::quoted(name) +
                     " (operation, dry_run, range, max_differences, max_seconds, source_of_truth, restart)");
    }
  }
  if (r.operation.empty()) return invalid(R"(missing "operation" (check, repair, full or rebuild))");
  return r;
}

json to_json(const key_range& r) { return {{"first", r.first}, {"last", r.last ? json(*r.last) : json()}}; }

json to_json(const reconcile_request& r) {
  json out = {{"operation", r.operation},
              {"dry_run", r.dry_run},
              {"range", to_json(r.range)},
              {"max_differences", r.max_differences},
              {"max_seconds", r.max_time.count() ? json(static_cast<double>(r.max_time.count()) / 1000) : json()},
              {"source_of_truth", truth_name(r.truth)},
              {"restart", r.restart}};
  return out;
}

reconcile_jobs::reconcile_jobs(reconcile_runner run, metrics_registry& metrics)
    : run_(std::move(run)),
      last_differences_(metrics.gauge("reconcile_last_differences",
                                      "Differences the last finished check found (its report's difference_count).")),
      jobs_("reconcile", "/v1/reconcile/", metrics, [this](const json& report) {
        if (const auto n = report.find("difference_count"); n != report.end() && n->is_number())
          last_differences_.set(n->get<double>());
      }) {}

job_work reconcile_jobs::work_for(const reconcile_request& request) {
  auto progress = std::make_shared<reconcile_progress>();
  return {.operation = request.operation,
          .request = to_json(request),
          .run = [this, request, progress](std::stop_token stop) { return run_(request, stop, *progress); },
          .progress = [progress] {
            return json{{"ranges", progress->ranges.load()},
                        {"checksums", progress->checksums.load()},
                        {"rows_read", progress->rows_read.load()},
                        {"differences", progress->differences.load()},
                        {"repaired", progress->repaired.load()}};
          }};
}

void reconcile_jobs::schedule(std::chrono::seconds interval, reconcile_request request) {
  jobs_.schedule(interval, [this, request = std::move(request)] { return work_for(request); });
}

json reconcile_jobs::summary() const {
  json out = jobs_.summary();
  if (out["last"].is_object()) {
    if (const auto last = jobs_.describe(out["last"]["id"].get<std::string>()))
      out["last"]["differences"] = (*last)["progress"]["differences"];
  }
  return out;
}

}  // namespace storesync::server
