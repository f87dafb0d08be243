#pragma once
// The reference server's configuration: every flag has an environment
// equivalent (STORESYNC_ + the flag in upper case, dashes as underscores;
// a flag on the command line wins). `--help` prints them all.

#include <chrono>
#include <iosfwd>
#include <optional>
#include <string>

#include "reference_server/http_server.hpp"
#include "reference_server/write_back_config.hpp"
#include "storesync/policy/aimd_batch_sizer.hpp"
#include "storesync/policy/exponential_backoff.hpp"
#include "storesync/store/redis_stream_journal.hpp"
#include "storesync/store/table_mapping_json.hpp"
#include "storesync/strategy/write_behind.hpp"

namespace storesync::server {

struct server_config {
  http_options http;
  auth_options auth;
  std::string data_dir = "./storesync-data";
  /// "write-behind", "direct" or "dual-write".
  std::string mode = "write-behind";
  /// "sqlite:PATH" or a postgresql:// URL; empty: sqlite:<data_dir>/storesync.db.
  std::string durable;
  /// Dual-write mode: the two stores ("sqlite:PATH" or postgresql:// URLs).
  std::string primary;
  std::string secondary;
  /// Dual-write mode: "strict", "best-effort" or "primary-only".
  std::string consistency = "strict";
  /// Dual-write mode: a scheduled check every interval (zero: none), which
  /// also repairs when `reconcile_repair`.
  std::chrono::seconds reconcile_interval{0};
  bool reconcile_repair = false;
  /// Write-back runs as jobs (`--write-back-config`), in any mode, and how
  /// often one starts on its own (`--write-back-interval-s`; zero: never).
  std::optional<write_back_config> write_back;
  std::chrono::seconds write_back_interval{0};
  /// The typed table of the durable store (`--durable-mapping`).
  std::optional<typed_table> durable_mapping;
  /// `write_behind.rules` also holds the value rules of direct mode.
  write_behind_options write_behind;
  /// The fast store of write-behind: "memory" (this process's), or a
  /// redis:// URL (redis_store, shared by every server pointed at it).
  std::string fast = "memory";
  /// With a Redis fast store: the prefix of every key the server keeps there.
  std::string fast_prefix = "storesync:";
  /// Write-behind's journal: none for the file journal in the data
  /// directory, or a Redis stream several servers share (`--journal
  /// redis://...`, `--server-id`), its dead letters in the stream named
  /// with ":dead-letters" after it.
  std::optional<redis_stream_journal_options> journal_stream;
  /// Bytes the memory fast store keeps of values already durable; 0: no bound.
  std::size_t fast_max_bytes = 256ull << 20;
  exponential_backoff::config retry;
  aimd_batch_sizer::config batch;
  /// How long a write waits for room when the pending bound is reached; 0 rejects at once.
  std::chrono::milliseconds backpressure_timeout{100};
  /// On SIGTERM, how long to keep flushing write-behind before exiting.
  std::chrono::milliseconds shutdown_timeout{30'000};
};

/// What `parse_config` decided: run with a config, or exit with a status
/// after it printed help or an error.
struct parsed_config {
  std::optional<server_config> config;
  int exit_code = 0;
};

parsed_config parse_config(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

/// The durable store named by `--durable`, without credentials (for logs).
std::string redact_url(const std::string& url);

}  // namespace storesync::server
