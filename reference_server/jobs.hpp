#pragma once
// Long work as jobs: a reconcile check or a write-back run must not hold one
// HTTP request open, so a route starts a job on a thread of its own and
// returns; another route reads its live progress and, at the end, its
// report, and DELETE cancels it. One job runs at a time; the last 16 that
// finished are kept; an optional schedule starts one every interval while
// none runs.
//
// What a job does is its `job_work`; this file owns the lifecycle, the
// status JSON and the `<kind>_jobs_total{operation,state}` counter.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>

#include <nlohmann/json.hpp>

#include "storesync/core/result.hpp"
#include "storesync/metrics/registry.hpp"

namespace storesync::server {

/// A job request's body as JSON: at most `max_size` bytes and `max_depth`
/// levels, checked first by storesync's scanner (which never recurses and
/// refuses invalid UTF-8, and NUL unless `nul_allowed`), so nlohmann only
/// ever reads a small, shallow, valid text. `invalid_argument` saying what
/// is wrong (where, for JSON that does not parse) otherwise.
result<nlohmann::json> parse_job_body(std::string_view body, std::size_t max_size, std::size_t max_depth,
                                      bool nul_allowed);

/// What one job runs.
struct job_work {
  /// What the job does ("check", "run", ...), shown and counted.
  std::string operation;
  /// The request, echoed in the job's status.
  nlohmann::json request;
  /// The work: watches `stop` (a cancel); returns the report, or the error
  /// that ended it. A report with `"complete": true` is `done` even when a
  /// cancel came after the work was over.
  std::function<result<nlohmann::json>(std::stop_token stop)> run;
  /// The live progress, from any thread at any time.
  std::function<nlohmann::json()> progress;
};

/// What `job_runner::cancel` found.
enum class cancel_outcome { cancelling, finished, unknown };

class job_runner {
 public:
  /// `kind` names the jobs in messages and in the counter
  /// `<kind>_jobs_total{operation,state}` of `metrics`; `path` is where a
  /// job's status is served (`/v1/reconcile/`), for the message that says
  /// which job still runs. `on_report` is told each report of a job that
  /// finished well.
  job_runner(std::string kind, std::string path, metrics_registry& metrics,
             std::function<void(const nlohmann::json& report)> on_report = {});
  /// Cancels the running job and the schedule, and waits for both.
  ~job_runner();
  job_runner(const job_runner&) = delete;
  job_runner& operator=(const job_runner&) = delete;

  /// Starts `work`: its id, or `errc::version_conflict` (condition
  /// `conflict`) naming the job that still runs.
  result<std::string> start(job_work work);

  /// The job's status JSON while it runs or among the last 16; nothing for
  /// an id never given or forgotten.
  std::optional<nlohmann::json> describe(std::string_view id) const;

  /// The status JSON of the running job, then of the last 16 finished,
  /// newest first.
  nlohmann::json list() const;

  /// Asks a running job to stop; it ends in state "cancelled".
  cancel_outcome cancel(std::string_view id);

  /// Starts `make()` every `interval` unless a job runs then (a second call
  /// replaces the schedule; a zero interval ends it).
  void schedule(std::chrono::seconds interval, std::function<job_work()> make);

  /// For /v1/status: the running job's id, the last finished job, the
  /// schedule.
  nlohmann::json summary() const;

 private:
  struct job;
  result<std::string> start(job_work work, bool scheduled);
  void run(std::shared_ptr<job> j);
  static nlohmann::json describe(const job& j);

  std::string kind_;
  std::string path_;
  metrics_registry& metrics_;
  std::function<void(const nlohmann::json&)> on_report_;
  std::mutex start_mutex_;  // one `start` at a time: it replaces `worker_`
  mutable std::mutex mutex_;
  std::uint64_t next_id_ = 1;
  std::shared_ptr<job> running_;
  std::deque<std::shared_ptr<job>> finished_;  // newest last
  std::jthread worker_;

  std::chrono::seconds interval_{0};
  std::uint64_t scheduled_runs_ = 0;
  std::jthread scheduler_;
};

}  // namespace storesync::server
