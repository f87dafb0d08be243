#pragma once
/// \file
/// dbt's `run_results.json` artifact (schemas v4, v5 and v6), read for the
/// write-back CLI: it runs as a dbt post-hook and must run only the stages
/// mapped to dbt models that dbt reports as `success`.
///
/// \code
///   BOOST_OUTCOME_TRY(auto run, storesync::server::load_dbt_run_results("target/run_results.json"));
///   const auto* node = run.model("customers");
///   if (node == nullptr || node->status != "success") return;  // not run, ambiguous or failed
///   // ... run the stages mapped to "customers"
/// \endcode
///
/// Only what the gate needs is read: `metadata.dbt_schema_version` and each
/// result's `unique_id`, `status` and `message`. Every other member (timing,
/// adapter_response, thread_id, execution_time, compiled_code, relation_name,
/// elapsed_time, args, ...) is skipped without being converted, so a number
/// beyond a double's range there cannot fail the file. The whole text is
/// still checked first (RFC 8259, UTF-8, nesting at most 64), without
/// recursion, so no input can exhaust the stack. A read member that is
/// missing, of the wrong type or repeated is refused with
/// `errc::invalid_argument` naming it, e.g.
/// `run_results.json: results[3].status is not a string (it is a number)`.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "storesync/core/error.hpp"
#include "storesync/core/result.hpp"

namespace storesync::server {

/// Largest `run_results.json` read (16 MiB).
inline constexpr std::size_t max_dbt_run_results_size = std::size_t{16} * 1024 * 1024;
/// Deepest nesting accepted (dbt writes about five levels).
inline constexpr std::size_t max_dbt_run_results_depth = 64;

/// One entry of `results`.
struct dbt_node_result {
  /// e.g. "model.jaffle.customers": `<resource_type>.<package>.<name>`.
  std::string unique_id;
  /// "model", "seed", "test", "snapshot", ...: the unique_id's first part.
  std::string resource_type;
  /// What follows `<resource_type>.<package>.`: "customers" for a model;
  /// for a test the whole rest ("not_null_customers_id.5c9bf9911d"); for a
  /// versioned model "dim_customers.v2".
  std::string name;
  /// As dbt wrote it: "success", "error", "skipped", "pass", "fail", "warn",
  /// "runtime error", ... (never checked against a list: dbt adds values).
  std::string status;
  /// The node's message, or empty when null or absent.
  std::string message;
};

/// A parsed `run_results.json`.
struct dbt_run_results {
  /// 4, 5 or 6, from `metadata.dbt_schema_version`
  /// ("https://schemas.getdbt.com/dbt/run-results/v4.json").
  int schema_version = 0;
  /// In the file's order.
  std::vector<dbt_node_result> results;

  /// The result of the model `name_or_unique_id`: a full unique_id
  /// ("model.jaffle.customers") or a name ("customers"); only nodes whose
  /// resource_type is "model" match. nullptr when none matches, and also
  /// when more than one does (two packages with a model of that name): a
  /// gate must not guess which one ran, so pass the unique_id then.
  const dbt_node_result* model(std::string_view name_or_unique_id) const;
};

/// `text` as run results, or `errc::invalid_argument` naming what is wrong:
/// not JSON, larger than `max_dbt_run_results_size`, deeper than
/// `max_dbt_run_results_depth`, a schema other than run-results v4..v6 (the
/// version found is named), or a read member missing or of the wrong type.
/// Messages start with "run_results.json". Throws nothing.
result<dbt_run_results> parse_dbt_run_results(std::string_view text);

/// The file at `path`, parsed as by `parse_dbt_run_results`, with messages
/// that start with `path`. A file that cannot be opened or read is the
/// system error (ENOENT, EACCES, EISDIR, ...) with "open PATH" or "read
/// PATH" as context. Throws nothing.
result<dbt_run_results> load_dbt_run_results(const std::string& path);

}  // namespace storesync::server
