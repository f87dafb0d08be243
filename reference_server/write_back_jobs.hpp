#pragma once
// Write-back runs as jobs of the reference server (jobs.hpp), on the
// configuration `--write-back-config` names (write_back_config.hpp):
// `POST /v1/write-back/runs` starts one, `GET /v1/write-back/runs/{id}`
// reads its progress and report, `DELETE` cancels it (the batch in flight
// finishes), `GET /v1/write-back/runs` lists the run log. An optional
// schedule (`--write-back-interval`) starts a run every interval while none
// runs. Status and metrics show the last run and each stage's watermark lag.

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "reference_server/jobs.hpp"
#include "reference_server/write_back_config.hpp"
#include "storesync/core/result.hpp"
#include "storesync/metrics/registry.hpp"

namespace storesync::server {

/// The body of `POST /v1/write-back/runs`, checked: `{"dry_run": bool,
/// "stages": ["name", ...]}`, both optional.
struct write_back_run_request {
  bool dry_run = false;
  /// Empty: every stage.
  std::vector<std::string> stages;
};

/// Largest body `parse_write_back_run_request` reads.
inline constexpr std::size_t max_write_back_run_body = 64 * 1024;

/// `body` as a request, or `invalid_input` saying what is wrong (not a JSON
/// object, too large or deep, an unknown member, a stage `config` does not
/// have, a value of the wrong type).
result<write_back_run_request> parse_write_back_run_request(std::string_view body, const write_back_config& config);

class write_back_jobs {
 public:
  /// Runs `config`; counts into a registry of its own (`metrics()`).
  explicit write_back_jobs(write_back_config config);

  const write_back_config& config() const noexcept { return config_; }

  /// Starts a run: its job id, or `errc::version_conflict` naming the run
  /// that still runs.
  result<std::string> start(const write_back_run_request& request) { return jobs_.start(work_for(request)); }
  std::optional<nlohmann::json> describe(std::string_view id) const { return jobs_.describe(id); }
  cancel_outcome cancel(std::string_view id) { return jobs_.cancel(id); }
  /// Runs every stage every `interval` (zero: never).
  void schedule(std::chrono::seconds interval);

  /// `{"runs":[<report>...]}` from the run log, newest first, older than run
  /// `before` when given. While a run holds a DuckDB sink open, its run log
  /// cannot be opened a second time: `errc::busy`.
  result<nlohmann::json> runs(std::size_t limit, std::string_view before);

  /// For /v1/status: the jobs, the last run's status and each stage's
  /// watermark and lag.
  nlohmann::json summary() const;

  /// Prometheus text: `storesync_write_back_jobs_total{operation,state}`,
  /// `storesync_write_back_last_rows{stage,outcome}`,
  /// `storesync_write_back_watermark_lag{stage}`.
  std::string metrics() const;

 private:
  job_work work_for(const write_back_run_request& request);
  void record(const nlohmann::json& report);

  write_back_config config_;
  metrics_registry registry_;
  mutable std::mutex mutex_;
  nlohmann::json last_;  // the last report, null before the first
  job_runner jobs_;      // last: its threads stop before what they use goes
};

}  // namespace storesync::server
