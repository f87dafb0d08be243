#pragma once
// What the HTTP layer needs from a deployment mode. The server speaks to this
// interface only, so each mode (direct, write-behind, later dual-write and
// write-back) is one implementation, and routes and sessions never change
// shape. Calls may block: the server runs them on its worker pool, never on
// an I/O thread, except `try_write`, which promises not to wait and is what
// lets a mode acknowledge on the I/O thread without two thread hand-offs.
// Implementations are thread-safe.

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "storesync/core/store.hpp"

namespace storesync::server {

/// /readyz: whether every store the mode needs answers, and each one's state.
struct readiness {
  bool ready = false;
  nlohmann::json stores = nlohmann::json::object();
};

/// /v1/flush: whether everything acknowledged before the call is durable.
struct flush_outcome {
  bool complete = false;
  nlohmann::json detail = nlohmann::json::object();
};

class record_service {
 public:
  virtual ~record_service() = default;

  /// The stored entry (tombstones included), or nothing.
  virtual result<std::optional<entry>> get(std::string_view key) = 0;
  /// Writes a batch under the version guard; acknowledged once durable as
  /// the mode defines it. Values are checked against `rules()` first.
  virtual result<write_report> write(std::span<const entry> batch) = 0;

  /// What every value must meet: the server's own limits and what each of
  /// the mode's stores can hold.
  virtual value_rules rules() const = 0;

  /// A version for a write that brings none: newer than anything the mode
  /// has stored or acknowledged, whatever the wall clock says.
  virtual version_type next_version() = 0;

  /// Writes one entry as `write` does if that needs no waiting (no lock held
  /// across I/O, no network round trip, no fsync, no backpressure wait);
  /// otherwise nothing, having changed nothing, and the caller uses `write`
  /// on a worker. The default never answers.
  virtual std::optional<result<write_report>> try_write(const entry&) { return std::nullopt; }

  /// "direct", "write-behind", ...
  virtual std::string mode() const = 0;
  virtual readiness ready() = 0;
  /// Mode-specific counters for /v1/status.
  virtual nlohmann::json status() = 0;
  /// Prometheus text exposition for /metrics.
  virtual std::string metrics() = 0;
  /// Makes every earlier acknowledged write durable, or says what remains.
  virtual flush_outcome flush(std::chrono::milliseconds timeout) = 0;
  /// Dead letters, oldest first, at most `limit`: the text of a JSON array
  /// (values spliced in as they were written, never re-serialised).
  virtual result<std::string> dead_letters(std::size_t limit) = 0;
  /// Sends every dead letter through the write path again.
  virtual result<nlohmann::json> retry_dead_letters() = 0;
};

}  // namespace storesync::server
