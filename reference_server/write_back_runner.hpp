#pragma once
// Runs a write-back configuration (write_back_config.hpp): opens the source,
// the sink, the run log and the dead-letter table it names, builds each
// stage (DuckDB table sources become a query, typed sinks get their key
// encoding and checks), and runs `write_back` over them. Shared by
// `storesync-writeback` and the reference server.

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "dbt_run_results.hpp"
#include "storesync/core/result.hpp"
#include "storesync/strategy/write_back.hpp"
#include "write_back_config.hpp"

namespace storesync::server {

struct write_back_request {
  /// Read and judge, write nothing.
  bool dry_run = false;
  /// Run only these stages (by name); empty: all.
  std::vector<std::string> only = {};
  /// Run only the stages whose dbt model succeeded in this dbt run.
  const dbt_run_results* dbt = nullptr;
  const std::atomic<bool>* stop = nullptr;
  /// After each batch; `total` is what the stage has to read, when the
  /// source can count it.
  std::function<void(const write_back_report&, const write_back_stage_report&, std::optional<std::uint64_t> total)>
      on_batch = {};
};

struct write_back_outcome {
  write_back_report report;
  /// Stages not run, and why (`--stage`, a dbt model that did not succeed).
  std::vector<std::pair<std::string, std::string>> skipped;
};

/// Runs `config` as `request` says. Fails when something cannot be opened
/// (naming it) or the run log cannot be read; a run's own failures are in
/// the report.
result<write_back_outcome> run_write_back(const write_back_config& config, const write_back_request& request);

/// A stage's progress after a batch, as the CLI's JSON lines and the
/// server's job status show it: `run`, `stage`, `batches`, `read`,
/// `written`, `unchanged`, `stale`, `dead_lettered`, `rows_per_s`,
/// `watermark`, and `total` when known (else null).
nlohmann::ordered_json batch_progress_json(const write_back_report& run, const write_back_stage_report& stage,
                                           std::optional<std::uint64_t> total);

/// Up to `limit` records of `config`'s run log, newest first, older than
/// run `before` when given.
result<std::vector<write_back_run>> list_write_back_runs(const write_back_config& config, std::size_t limit,
                                                         std::string_view before = {});

}  // namespace storesync::server
