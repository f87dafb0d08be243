#pragma once
// Reconcile operations as jobs (jobs.hpp): `POST /v1/reconcile` starts one,
// `GET /v1/reconcile/{id}` reads its live progress and, at the end, its
// report, `DELETE` cancels it; an optional schedule starts one every
// interval while none runs.
//
// What a job does is the mode's business (a `reconcile_runner`); this file
// owns the request's JSON form, the job's progress and its metrics.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "storesync/core/key_split.hpp"
#include "storesync/core/result.hpp"
#include "storesync/metrics/registry.hpp"
#include "reference_server/jobs.hpp"
#include "storesync/strategy/reconciler.hpp"

namespace storesync::server {

/// The body of `POST /v1/reconcile`, checked.
struct reconcile_request {
  /// "check", "repair", "full" or "rebuild".
  std::string operation;
  bool dry_run = false;
  key_range range = {};
  std::size_t max_differences = 100'000;
  /// No bound when zero.
  std::chrono::milliseconds max_time{0};
  /// Repair's winner: left is the primary.
  source_of_truth truth = source_of_truth::left;
  /// Rebuild: ignore the saved checkpoint.
  bool restart = false;
};

/// Largest body `parse_reconcile_request` reads.
inline constexpr std::size_t max_reconcile_body = 64 * 1024;

/// `body` as a request, or `invalid_input` saying what is wrong (a body
/// that is not a JSON object, too large or too deep, an unknown member or
/// operation, a value of the wrong type or out of range).
result<reconcile_request> parse_reconcile_request(std::string_view body);

/// `{"first":..,"last":..}`, `last` null for an open end.
nlohmann::json to_json(const key_range& r);

/// The JSON of a request (what a job echoes back).
nlohmann::json to_json(const reconcile_request& r);

/// What runs a request: returns the job's report, or the error that ended
/// it. It watches `stop` (a cancel) and updates `progress`.
using reconcile_runner =
    std::function<result<nlohmann::json>(const reconcile_request&, std::stop_token stop, reconcile_progress& progress)>;

/// Reconcile requests as jobs (jobs.hpp): one at a time, the last 16 kept,
/// progress from `reconcile_progress`, and the gauge
/// `reconcile_last_differences`.
class reconcile_jobs {
 public:
  /// Jobs run through `run`; their counts go into `metrics`
  /// (`reconcile_jobs_total{operation,state}`, `reconcile_last_differences`).
  reconcile_jobs(reconcile_runner run, metrics_registry& metrics);

  /// Starts a job for `request`: its id, or `errc::version_conflict`
  /// (condition `conflict`) naming the job that still runs.
  result<std::string> start(const reconcile_request& request) { return jobs_.start(work_for(request)); }

  /// The job's status JSON, while it runs or among the last 16; nothing for
  /// an id never given or forgotten.
  std::optional<nlohmann::json> describe(std::string_view id) const { return jobs_.describe(id); }

  /// The running job and the last 16 finished, newest first.
  nlohmann::json list() const { return jobs_.list(); }

  /// Asks a running job to stop; it ends in state "cancelled".
  cancel_outcome cancel(std::string_view id) { return jobs_.cancel(id); }

  /// Starts `request` every `interval` unless a job runs then (a second
  /// call replaces the schedule; a zero interval ends it).
  void schedule(std::chrono::seconds interval, reconcile_request request);

  /// For /v1/status: the running job's id, the last finished job (with the
  /// differences it found), the schedule.
  nlohmann::json summary() const;

 private:
  job_work work_for(const reconcile_request& request);

  reconcile_runner run_;
  gauge last_differences_;
  job_runner jobs_;  // last: its threads stop before what they use goes
};

}  // namespace storesync::server
