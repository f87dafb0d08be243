#pragma once
// What the HTTP layer needs from a deployment mode. The server speaks to this
// interface only, so each mode (direct, write-behind, dual-write, later
// write-back) is one implementation, and routes and sessions never change
// shape. Calls may block: the server runs them on its worker pool, never on
// an I/O thread, except `try_write`, which promises not to wait and is what
// lets a mode acknowledge on the I/O thread without two thread hand-offs.
// Implementations are thread-safe.
//
// Dual-write mode adds the inconsistency log and reconcile jobs; the other
// modes answer those routes with 404 through the defaults.

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

class reconcile_jobs;

/// The machine-readable code of an error, as responses carry it
/// ("invalid_input", "conflict", ...): its condition.
std::string_view error_code_name(const error& e);

/// /readyz: whether every store the mode needs answers, and each one's state.
struct readiness {
  bool ready = false;
  nlohmann::json stores = nlohmann::json::object();
};

/// A store's /readyz entry from a probe: `read()` (a read of a key that
/// cannot exist, which proves the store answers), timed.
struct store_probe {
  bool up = false;
  nlohmann::json entry;
};

template <class Read>
store_probe probe_store(Read&& read) {
  const auto start = std::chrono::steady_clock::now();
  const auto r = read();
  const auto took = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
  store_probe out{static_cast<bool>(r),
                  {{"state", r ? "up" : "down"}, {"latency_ms", static_cast<double>(took.count()) / 1000}}};
  if (!r) out.entry["error"] = r.error().message();
  return out;
}

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

  /// The first of `count` consecutive versions for writes that bring none:
  /// newer than anything the mode has stored or acknowledged, whatever the
  /// wall clock says. Where several servers share the fast store (Redis),
  /// newer than anything any of them stored or was given, so a write
  /// acknowledged after another always carries the higher version, however
  /// skewed the servers' clocks.
  virtual result<version_type> next_versions(std::size_t count) = 0;
  /// Whether `next_versions` asks another process (and so may wait): then
  /// the router calls it on a worker. The default: it answers at once.
  virtual bool versions_wait() const { return false; }

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

  /// Up to `limit` records of the mode's inconsistency log after key
  /// `after`, as `{"inconsistencies":[...],"count":N,"next_after":..}`;
  /// nothing when the mode keeps none (the default).
  virtual std::optional<result<nlohmann::json>> inconsistencies(std::size_t /*limit*/, std::string_view /*after*/) {
    return std::nullopt;
  }
  /// The mode's reconcile jobs; nothing when it has no second store to
  /// reconcile with (the default).
  virtual reconcile_jobs* jobs() { return nullptr; }
};

}  // namespace storesync::server
