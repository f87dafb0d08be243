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

/// Jobs kept after they finish.
constexpr std::size_t kept_jobs = 16;

/// Nesting a request body may have (it needs two levels).
constexpr std::size_t max_request_depth = 32;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

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
  if (body.size() > max_reconcile_body)
    return invalid("body is larger than " + std::to_string(max_reconcile_body) + " bytes");
  // storesync's scanner first: it never recurses, and it refuses invalid
  // UTF-8, so nlohmann only ever sees a small, shallow, valid text. A NUL
  // in a string passes here: a key holding one is refused by name below.
  if (const auto fault = detail::scan_json(body, {max_request_depth, true, false}))
    return invalid((fault.rule ? "body nests deeper than " + std::to_string(max_request_depth) + " at byte "
                               : "body is not valid JSON at byte ") +
                   std::to_string(fault.at) + ": " + std::string(fault.what));
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception& e) {  // a number beyond a double's range
    return invalid(std::string("body: ") + e.what());
  }
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

struct reconcile_jobs::job {
  std::string id;
  reconcile_request request;
  bool scheduled = false;
  std::stop_source stop;
  reconcile_progress progress;
  std::int64_t started_ms = now_ms();
  // Guarded by the jobs' mutex:
  std::int64_t finished_ms = 0;
  std::string state = "running";
  json report;  // null until the job ends
  json failure;
};

reconcile_jobs::reconcile_jobs(reconcile_runner run, metrics_registry& metrics)
    : run_(std::move(run)),
      metrics_(metrics),
      last_differences_(metrics.gauge("reconcile_last_differences",
                                      "Differences the last finished check found (its report's difference_count).")) {}

reconcile_jobs::~reconcile_jobs() {
  scheduler_ = {};  // requests stop and joins: no job starts after this
  {
    std::lock_guard lock(mutex_);
    if (running_) running_->stop.request_stop();
  }
  worker_ = {};
}

result<std::string> reconcile_jobs::start(const reconcile_request& request) { return start(request, false); }

result<std::string> reconcile_jobs::start(const reconcile_request& request, bool scheduled) {
  std::lock_guard starting(start_mutex_);
  auto j = std::make_shared<job>();
  {
    std::lock_guard lock(mutex_);
    if (running_)
      return error{errc::version_conflict, "job " + running_->id + " (" + running_->request.operation +
                                               ") is running; wait for it or DELETE /v1/reconcile/" + running_->id};
    j->id = std::to_string(next_id_++);
    j->request = request;
    j->scheduled = scheduled;
    running_ = j;
  }
  // The previous job's thread has finished its work (it cleared `running_`).
  try {
    worker_ = std::jthread([this, j] { run(j); });
  } catch (const std::system_error& e) {
    std::lock_guard lock(mutex_);
    running_.reset();
    return error{errc::resource_exhausted, "cannot start a thread for the job: " + std::string(e.what())};
  }
  return j->id;
}

void reconcile_jobs::run(std::shared_ptr<job> j) {
  result<json> r = error{errc::invalid_argument, "not run"};
  try {
    r = run_(j->request, j->stop.get_token(), j->progress);
  } catch (const std::exception& ex) {
    r = error{errc::invalid_argument, std::string("the job threw: ") + ex.what()};
  }
  std::lock_guard lock(mutex_);
  j->finished_ms = now_ms();
  if (r) {
    j->report = std::move(r).value();
    // A cancel that came after the work was done changes nothing.
    const auto complete = j->report.find("complete");
    const bool finished = complete != j->report.end() && complete->is_boolean() && complete->get<bool>();
    j->state = j->stop.stop_requested() && !finished ? "cancelled" : "done";
    if (const auto n = j->report.find("difference_count"); n != j->report.end() && n->is_number())
      last_differences_.set(n->get<double>());
  } else {
    j->state = "failed";
    j->failure = {{"code", error_code_name(r.error())}, {"message", r.error().message()}};
  }
  metrics_.counter("reconcile_jobs_total", "Reconcile jobs finished, by operation and final state.",
                   {{"operation", j->request.operation}, {"state", j->state}})
      .inc();
  finished_.push_back(j);
  if (finished_.size() > kept_jobs) finished_.pop_front();
  running_.reset();
}

json reconcile_jobs::describe(const job& j) {
  json out = {{"id", j.id},
              {"operation", j.request.operation},
              {"request", to_json(j.request)},
              {"scheduled", j.scheduled},
              {"state", j.state},
              {"started_at_ms", j.started_ms},
              {"finished_at_ms", j.finished_ms ? json(j.finished_ms) : json()},
              {"progress",
               {{"ranges", j.progress.ranges.load()},
                {"checksums", j.progress.checksums.load()},
                {"rows_read", j.progress.rows_read.load()},
                {"differences", j.progress.differences.load()},
                {"repaired", j.progress.repaired.load()}}}};
  if (!j.report.is_null()) out["report"] = j.report;
  if (!j.failure.is_null()) out["error"] = j.failure;
  return out;
}

std::optional<json> reconcile_jobs::describe(std::string_view id) const {
  std::lock_guard lock(mutex_);
  if (running_ && running_->id == id) return describe(*running_);
  for (const auto& j : finished_)
    if (j->id == id) return describe(*j);
  return std::nullopt;
}

cancel_outcome reconcile_jobs::cancel(std::string_view id) {
  std::lock_guard lock(mutex_);
  if (running_ && running_->id == id) {
    running_->stop.request_stop();
    return cancel_outcome::cancelling;
  }
  for (const auto& j : finished_)
    if (j->id == id) return cancel_outcome::finished;
  return cancel_outcome::unknown;
}

void reconcile_jobs::schedule(std::chrono::seconds interval, reconcile_request request) {
  scheduler_ = {};
  {
    std::lock_guard lock(mutex_);
    interval_ = std::max(interval, std::chrono::seconds{0});
  }
  if (interval.count() <= 0) return;
  scheduler_ = std::jthread([this, interval, request = std::move(request)](std::stop_token stop) {
    std::mutex m;
    std::condition_variable_any wake;  // woken by nothing but `stop`
    for (;;) {
      {
        std::unique_lock lock(m);
        wake.wait_for(lock, stop, interval, [] { return false; });
      }
      if (stop.stop_requested()) return;
      // A job already running (one a user started) makes this round a no-op.
      const bool started = static_cast<bool>(start(request, true));
      std::lock_guard jobs(mutex_);
      if (started) ++scheduled_runs_;
    }
  });
}

json reconcile_jobs::summary() const {
  std::lock_guard lock(mutex_);
  json last;
  if (!finished_.empty()) {
    const job& j = *finished_.back();
    last = {{"id", j.id},
            {"operation", j.request.operation},
            {"scheduled", j.scheduled},
            {"state", j.state},
            {"finished_at_ms", j.finished_ms},
            {"differences", j.progress.differences.load()}};
  }
  return {{"running", running_ ? json(running_->id) : json()},
          {"last", last},
          {"interval_s", interval_.count()},
          {"scheduled_runs", scheduled_runs_}};
}

}  // namespace storesync::server
