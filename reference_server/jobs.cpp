#include "reference_server/jobs.hpp"

#include <condition_variable>
#include <system_error>
#include <utility>

#include "reference_server/record_service.hpp"
#include "storesync/core/detail/json_scan.hpp"

namespace storesync::server {
namespace {

using json = nlohmann::json;

/// Jobs kept after they finish.
constexpr std::size_t kept_jobs = 16;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

result<json> parse_job_body(std::string_view body, std::size_t max_size, std::size_t max_depth, bool nul_allowed) {
  if (body.size() > max_size)
    return error{errc::invalid_argument, "body is larger than " + std::to_string(max_size) + " bytes"};
  if (const auto fault = detail::scan_json(body, {max_depth, nul_allowed, false})) {
    const std::string at = " at byte " + std::to_string(fault.at) + ": " + std::string(fault.what);
    if (!fault.rule) return error{errc::invalid_argument, "body is not valid JSON" + at};
    if (std::string_view(fault.what).starts_with("nesting"))
      return error{errc::invalid_argument, "body nests deeper than " + std::to_string(max_depth) + at};
    return error{errc::invalid_argument, "body holds U+0000" + at};
  }
  try {
    return json::parse(body);
  } catch (const json::exception& e) {  // a number beyond a double's range
    return error{errc::invalid_argument, std::string("body: ") + e.what()};
  }
}

struct job_runner::job {
  std::string id;
  job_work work;
  bool scheduled = false;
  std::stop_source stop;
  std::int64_t started_ms = now_ms();
  // Guarded by the runner's mutex:
  std::int64_t finished_ms = 0;
  std::string state = "running";
  json report;  // null until the job ends
  json failure;
};

job_runner::job_runner(std::string kind, std::string path, metrics_registry& metrics,
                       std::function<void(const json&)> on_report)
    : kind_(std::move(kind)), path_(std::move(path)), metrics_(metrics), on_report_(std::move(on_report)) {}

job_runner::~job_runner() {
  scheduler_ = {};  // requests stop and joins: no job starts after this
  {
    std::lock_guard lock(mutex_);
    if (running_) running_->stop.request_stop();
  }
  worker_ = {};
}

result<std::string> job_runner::start(job_work work) { return start(std::move(work), false); }

result<std::string> job_runner::start(job_work work, bool scheduled) {
  std::lock_guard starting(start_mutex_);
  auto j = std::make_shared<job>();
  {
    std::lock_guard lock(mutex_);
    if (running_)
      return error{errc::version_conflict, kind_ + " job " + running_->id + " (" + running_->work.operation +
                                               ") is running; wait for it or DELETE " + path_ + running_->id};
    j->id = std::to_string(next_id_++);
    j->work = std::move(work);
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

void job_runner::run(std::shared_ptr<job> j) {
  result<json> r = error{errc::invalid_argument, "not run"};
  try {
    r = j->work.run(j->stop.get_token());
  } catch (const std::exception& ex) {
    r = error{errc::invalid_argument, std::string("the job threw: ") + ex.what()};
  }
  if (r && on_report_) on_report_(r.value());
  std::lock_guard lock(mutex_);
  j->finished_ms = now_ms();
  if (r) {
    j->report = std::move(r).value();
    // A cancel that came after the work was done changes nothing.
    const auto complete = j->report.find("complete");
    const bool finished = complete != j->report.end() && complete->is_boolean() && complete->get<bool>();
    j->state = j->stop.stop_requested() && !finished ? "cancelled" : "done";
  } else {
    j->state = "failed";
    j->failure = {{"code", error_code_name(r.error())}, {"message", r.error().message()}};
  }
  metrics_.counter(kind_ + "_jobs_total", "Jobs finished, by operation and final state.",
                   {{"operation", j->work.operation}, {"state", j->state}})
      .inc();
  finished_.push_back(j);
  if (finished_.size() > kept_jobs) finished_.pop_front();
  running_.reset();
}

json job_runner::describe(const job& j) {
  json out = {{"id", j.id},
              {"operation", j.work.operation},
              {"request", j.work.request},
              {"scheduled", j.scheduled},
              {"state", j.state},
              {"started_at_ms", j.started_ms},
              {"finished_at_ms", j.finished_ms ? json(j.finished_ms) : json()},
              {"progress", j.work.progress ? j.work.progress() : json::object()}};
  if (!j.report.is_null()) out["report"] = j.report;
  if (!j.failure.is_null()) out["error"] = j.failure;
  return out;
}

std::optional<json> job_runner::describe(std::string_view id) const {
  std::lock_guard lock(mutex_);
  if (running_ && running_->id == id) return describe(*running_);
  for (const auto& j : finished_)
    if (j->id == id) return describe(*j);
  return std::nullopt;
}

json job_runner::list() const {
  std::lock_guard lock(mutex_);
  json out = json::array();
  if (running_) out.push_back(describe(*running_));
  for (auto j = finished_.rbegin(); j != finished_.rend(); ++j) out.push_back(describe(**j));
  return out;
}

cancel_outcome job_runner::cancel(std::string_view id) {
  std::lock_guard lock(mutex_);
  if (running_ && running_->id == id) {
    running_->stop.request_stop();
    return cancel_outcome::cancelling;
  }
  for (const auto& j : finished_)
    if (j->id == id) return cancel_outcome::finished;
  return cancel_outcome::unknown;
}

void job_runner::schedule(std::chrono::seconds interval, std::function<job_work()> make) {
  scheduler_ = {};
  {
    std::lock_guard lock(mutex_);
    interval_ = std::max(interval, std::chrono::seconds{0});
  }
  if (interval.count() <= 0) return;
  scheduler_ = std::jthread([this, interval, make = std::move(make)](std::stop_token stop) {
    std::mutex m;
    std::condition_variable_any wake;  // woken by nothing but `stop`
    for (;;) {
      {
        std::unique_lock lock(m);
        wake.wait_for(lock, stop, interval, [] { return false; });
      }
      if (stop.stop_requested()) return;
      // A job already running (one a user started) makes this round a no-op.
      const bool started = static_cast<bool>(start(make(), true));
      std::lock_guard jobs(mutex_);
      if (started) ++scheduled_runs_;
    }
  });
}

json job_runner::summary() const {
  std::lock_guard lock(mutex_);
  json last;
  if (!finished_.empty()) {
    const job& j = *finished_.back();
    last = {{"id", j.id},
            {"operation", j.work.operation},
            {"scheduled", j.scheduled},
            {"state", j.state},
            {"finished_at_ms", j.finished_ms}};
  }
  return {{"running", running_ ? json(running_->id) : json()},
          {"last", last},
          {"interval_s", interval_.count()},
          {"scheduled_runs", scheduled_runs_}};
}

}  // namespace storesync::server
