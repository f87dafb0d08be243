#pragma once
/// \file
/// `dual_write<Primary, Secondary, Log, ConsistencyPolicy, RetryPolicy>`:
/// each write reaches two stores, a crash between the two leaves an intent
/// that start-up repairs, and every divergence the ConsistencyPolicy lets
/// stand is recorded durably, one record per key, until it is repaired.
///
/// \code
///   storesync::memory_store log_store;                    // or a sqlite_store
///   BOOST_OUTCOME_TRY(auto dw, storesync::dual_write<storesync::postgres_store, storesync::sqlite_store,
///                                                     storesync::memory_store,
///                                                     storesync::best_effort_consistency>::open(
///                                   pg, lite, log_store, {.intents = {.directory = "/var/lib/app/intents"}}));
///   BOOST_OUTCOME_TRY(dw->put(storesync::entry::put("user:1", R"({"name":"Ada"})", 7)));
///   BOOST_OUTCOME_TRY(auto open, dw->inconsistencies(100));  // what the secondary missed
///   BOOST_OUTCOME_TRY(auto fixed, dw->repair_inconsistencies());
/// \endcode
///
/// **A write** (`write`, `put`): validates every entry against both stores'
/// rules and what each admits (`store_admits`), so neither side can refuse
/// an entry the other took for being malformed; appends the batch's keys to
/// the intent log (a `journal`, group commit per its durability); reads the
/// primary's previous entries when the policy compensates any kind of
/// failure (what a compensation puts back, the price of
/// `strict_consistency`: one `lookup` of the batch, then one read per key
/// the primary already holds); writes the primary; then the secondary under the
/// RetryPolicy. A failed primary write is the write's error and the
/// secondary is not written. When the secondary still fails, the
/// ConsistencyPolicy decides (see consistency_policy.hpp):
/// - `strict_consistency`: the primary's entries are restored with
///   compare-and-restore (a newer write that came in between is kept), and
///   the write fails with the secondary's error;
/// - `best_effort_consistency`: the write succeeds, and each key is recorded
///   in the inconsistency log;
/// - `primary_only_consistency`: the secondary is never written; each key is
///   recorded as pending.
/// A compensation that fails is recorded and the write fails, whatever the
/// policy. Deletes are tombstones on both sides. Once both sides are
/// settled the intent is cleared (the journal's checkpoint moves past it).
///
/// **Projection mode** (`dual_write_options::project`): the secondary gets
/// the projection of each entry (an embedding for a vector store, the
/// extracted entities for a graph store's adapter), at the entry's key and
/// version; repairs re-run the projection, and the secondary is compared by
/// key, version and deleted flag (see reconciler.hpp).
///
/// **Start-up** (`open`) replays the intents left open (a crash between the
/// two writes, or before the intent was cleared) and makes the secondary
/// equal to the primary for each of their keys (`reconciler::repair`, the
/// primary as the source of truth); what it cannot repair is recorded.
///
/// **The inconsistency log** is a store of its own (`Log`: a
/// `scannable_store` and `restorable_store`, e.g. `sqlite_store`), one entry
/// per key, whose value is a JSON object:
/// `{"primary_version":7,"secondary_version":null,"failing":"secondary","error":"...","at_ms":1767...}`.
/// `inconsistencies` lists it in key order, `repair_inconsistencies` repairs
/// each key (primary wins) and removes the records it settled.
///
/// Thread safety: every member may be called from many threads at once; the
/// stores must allow it. Concurrent writes of one key converge on its
/// newest version on both sides (the version guard).

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "storesync/core/detail/json_scan.hpp"
#include "storesync/core/detail/text.hpp"
#include "storesync/core/entry.hpp"
#include "storesync/core/result.hpp"
#include "storesync/core/store.hpp"
#include "storesync/core/value_rules.hpp"
#include "storesync/journal/file_journal.hpp"
#include "storesync/journal/journal.hpp"
#include "storesync/metrics/registry.hpp"
#include "storesync/policy/best_effort_consistency.hpp"
#include "storesync/policy/clock.hpp"
#include "storesync/policy/consistency_policy.hpp"
#include "storesync/policy/exponential_backoff.hpp"
#include "storesync/policy/primary_only_consistency.hpp"
#include "storesync/policy/retry_policy.hpp"
#include "storesync/strategy/reconciler.hpp"

namespace storesync {

/// How `dual_write::open` sets up.
struct dual_write_options {
  /// Where the intent log lives (a `file_journal`).
  journal_options intents;
  /// Intents cleared between two checkpoints of the intent log. A
  /// checkpoint costs an fsync; intents cleared but not yet checkpointed are
  /// only replayed again at start-up, which finds their keys equal.
  std::size_t checkpoint_every = 1024;
  /// Projection mode: the secondary gets, for each entry, an entry of the
  /// same key and version whose value this makes from the entry (deletes
  /// stay tombstones); repairs re-run it, and a reconciler of the two
  /// compares keys and versions (`reconciler::project_right`). An error
  /// refuses the batch before either store is written. Empty: the
  /// secondary gets the entries themselves.
  projection project = {};
  /// Where to count (see `dual_write_stats`), as `dual_write_<counter>_total`
  /// (`dual_write_writes_total`, ...) in the registry's prefix; nothing: a
  /// registry of its own, which only `stats()` reads.
  metrics_registry* metrics = nullptr;
};

/// One key the two stores disagree on, as recorded in the inconsistency log.
struct inconsistency {
  std::string key;
  /// The version the primary took (0: none).
  version_type primary_version = 0;
  /// The secondary's version when known.
  std::optional<version_type> secondary_version = {};
  /// `secondary` (its write failed or was skipped), `compensation` (undoing
  /// the primary failed) or `recovery` (start-up could not repair the key).
  std::string failing = {};
  /// The error, as its message says it.
  std::string error = {};
  /// When it was recorded, in ms since 1970-01-01 UTC.
  std::int64_t at_ms = 0;
};

/// Counters of a `dual_write` since open (also in its metrics registry).
struct dual_write_stats {
  std::uint64_t writes = 0;
  std::uint64_t partial_failures = 0;
  std::uint64_t compensations = 0;
  std::uint64_t recorded = 0;
  std::uint64_t recovered_intents = 0;
  /// Writes between their intent and its clearing, now.
  std::uint64_t open_intents = 0;
};

/// Whether one side answered a probe, and how fast.
struct side_health {
  bool up = false;
  /// How long the probe took (its error included).
  std::chrono::microseconds latency{0};
  /// The probe's error when the side is down.
  std::string error = {};
};

/// Both sides' health, from one probe each (`dual_write::health`).
struct dual_write_health {
  side_health primary = {};
  side_health secondary = {};
};

template <restorable_store Primary, store Secondary, restorable_store Log,
          consistency_policy Consistency = strict_consistency, retry_policy Retry = exponential_backoff,
          clock Clock = system_clock>
  requires scannable_store<Primary> && scannable_store<Secondary> && scannable_store<Log>
class dual_write {
 public:
  /// Opens the intent log and repairs the keys of the intents it finds open.
  static result<std::unique_ptr<dual_write>> open(Primary& primary, Secondary& secondary, Log& log,
                                                  dual_write_options options, Consistency consistency = {},
                                                  Retry retry = {}, Clock clock = {}) {
    BOOST_OUTCOME_TRY(auto intents, file_journal::open(options.intents));
    std::unique_ptr<dual_write> dw(new dual_write(primary, secondary, log, std::move(intents),
                                                  std::max<std::size_t>(options.checkpoint_every, 1), options.metrics,
                                                  std::move(options.project), std::move(consistency), std::move(retry),
                                                  std::move(clock)));
    BOOST_OUTCOME_TRY(dw->recover());
    return dw;
  }

  dual_write(const dual_write&) = delete;
  dual_write& operator=(const dual_write&) = delete;
  /// Checkpoints the intents cleared since the last checkpoint.
  ~dual_write() {
    std::lock_guard lock(intent_mutex_);
    if (cleared_ > 0) (void)intents_.commit_checkpoint(safe_checkpoint());
  }

  /// Writes `batch` to both stores (see the file comment); the primary's
  /// report.
  result<write_report> write(std::span<const entry> batch) {
    BOOST_OUTCOME_TRY(validate_batch(batch, project_ ? rules_of(primary_) : rules_));
    BOOST_OUTCOME_TRY(auto projected, project_batch(batch));
    const std::span<const entry> to_secondary = project_ ? std::span<const entry>(projected) : batch;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      BOOST_OUTCOME_TRY(store_admits(primary_, batch[i]));
      BOOST_OUTCOME_TRY(store_admits(secondary_, to_secondary[i]));
    }
    if (batch.empty()) return write_report{};
    // Shared with other writes; a repair holding `keep_writers_out` waits
    // until no write is between its two sides.
    std::shared_lock writing(gate_);
    BOOST_OUTCOME_TRY(const lsn intent, open_intent(batch));
    bool settled = false;
    auto outcome = write_both(batch, to_secondary, settled);
    // Unsettled (a divergence that could not be recorded): the intent stays
    // open, and start-up repairs its keys.
    if (settled) close_intent(intent);
    return outcome;
  }

  result<write_report> put(const entry& e) { return write(std::span(&e, 1)); }

  /// Up to `limit` records of the inconsistency log, in key order, after
  /// key `after`.
  result<std::vector<inconsistency>> inconsistencies(std::size_t limit, std::string_view after = {}) {
    BOOST_OUTCOME_TRY(auto rows, log_.scan({}, after, limit));
    std::vector<inconsistency> out;
    out.reserve(rows.size());
    for (const entry& row : rows)
      if (!row.tombstone) out.push_back(decode(row));
    return out;
  }

  /// A `repair_options::hold` for repairs of the two stores made elsewhere
  /// (a reconciler's repair or rebuild): while what it returns is kept, no
  /// write of this dual_write is between its two sides, and none starts. A
  /// repair that judged a key while its write was half done would undo
  /// that write.
  std::function<std::shared_ptr<void>()> keep_writers_out() {
    return [this] { return std::shared_ptr<void>(std::make_shared<std::unique_lock<std::shared_mutex>>(gate_)); };
  }

  /// The number of records in the inconsistency log (reads it whole).
  result<std::size_t> count_inconsistencies() {
    std::size_t n = 0;
    std::string after;
    for (;;) {
      BOOST_OUTCOME_TRY(auto rows, log_.scan({}, after, 1000));
      for (const entry& row : rows) n += row.tombstone ? 0 : 1;
      if (rows.size() < 1000) return n;
      after = rows.back().key;
    }
  }

  /// Makes the two stores equal for every key of the inconsistency log in
  /// `range` (all of them by default; the primary wins by default, see
  /// `repair_options`) and removes the records of the keys it settled (none
  /// when `dry_run`). A stop (the options' token) ends it between two keys;
  /// the records not reached stay.
  result<repair_report> repair_inconsistencies(repair_options options = {.truth = source_of_truth::left},
                                               const key_range& range = {}) {
    repair_report total;
    std::string after;
    for (;;) {
      if (options.stop.stop_requested()) return total;
      BOOST_OUTCOME_TRY(auto rows, log_.scan(range, after, 1000));
      if (rows.empty()) return total;
      after = rows.back().key;
      check_report found;
      for (const entry& row : rows) found.differences.push_back({row.key});
      if (!options.hold) options.hold = keep_writers_out();
      BOOST_OUTCOME_TRY(auto fixed, repairer().repair(found, options));
      total += fixed;
      if (options.dry_run) continue;
      std::set<std::string> unsettled;
      for (const repair_refusal& r : fixed.refused) unsettled.insert(r.key);
      // The repair visited the page's first keys, all of them unless stopped.
      for (std::size_t i = 0; i + fixed.unvisited < rows.size(); ++i) {
        if (unsettled.contains(rows[i].key)) continue;
        auto removed = log_.restore(rows[i].key, rows[i].version, std::nullopt);
        if (!removed && removed.error() != errc::version_conflict) return removed.error();
      }
      if (fixed.unvisited > 0) return total;
    }
  }

  dual_write_stats stats() const {
    std::lock_guard lock(intent_mutex_);
    return {counters_.writes.value(),      counters_.partial_failures.value(),
            counters_.compensations.value(), counters_.recorded.value(),
            counters_.recovered_intents.value(), open_.size()};
  }

  /// Probes each side with a read of a key no one writes, timed; also sets
  /// the gauges `dual_write_side_up{side}` and `dual_write_probe_seconds{side}`.
  dual_write_health health() {
    dual_write_health out{probe(primary_), probe(secondary_)};
    for (const auto& [side, h] : {std::pair{0, &out.primary}, std::pair{1, &out.secondary}}) {
      counters_.up[side].set(h->up ? 1 : 0);
      counters_.probe_seconds[side].set(static_cast<double>(h->latency.count()) / 1e6);
    }
    return out;
  }

 private:
  dual_write(Primary& primary, Secondary& secondary, Log& log, file_journal intents, std::size_t checkpoint_every,
             metrics_registry* metrics, projection project, Consistency consistency, Retry retry, Clock clock)
      : own_metrics_(metrics ? nullptr : std::make_unique<metrics_registry>()),
        counters_(metrics ? *metrics : *own_metrics_),
        primary_(primary),
        secondary_(secondary),
        log_(log),
        intents_(std::move(intents)),
        checkpoint_every_(checkpoint_every),
        project_(std::move(project)),
        consistency_(std::move(consistency)),
        retry_(std::move(retry)),
        clock_(std::move(clock)),
        rules_(stricter(rules_of(primary), rules_of(secondary))),
        compensates_(compensates_any(consistency_)) {
    // The log is counted when the registry renders, not on every write: a
    // record may replace one of the same key.
    count_on_render_ = (metrics ? *metrics : *own_metrics_).on_render([this] {
      if (auto n = count_inconsistencies()) counters_.open_inconsistencies.set(static_cast<double>(n.value()));
    });
  }

  /// Whether `c` compensates a failure of any kind. A decision is a pure
  /// function of the policy and the error, so one error of each condition
  /// tells.
  static bool compensates_any(const Consistency& c) {
    for (const errc e : {errc::injected_transient, errc::injected_unavailable, errc::injected_permanent,
                         errc::queue_full, errc::constraint_violation, errc::version_conflict})
      if (c.on_secondary_failure(error{e}).compensate_primary) return true;
    return false;
  }

  template <class S>
  static side_health probe(S& s) {
    const auto start = std::chrono::steady_clock::now();
    auto r = s.read("storesync:health-probe");
    side_health h;
    h.latency = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
    h.up = static_cast<bool>(r);
    if (!r) h.error = r.error().message();
    return h;
  }

  reconciler<Primary, Secondary, Retry, aimd_batch_sizer, Clock> repairer() {
    reconciler<Primary, Secondary, Retry, aimd_batch_sizer, Clock> r(primary_, secondary_, retry_, {}, clock_);
    r.project_right(project_);
    return r;
  }

  /// The secondary's entries for `batch` in projection mode (checked against
  /// the secondary's rules); nothing otherwise.
  result<std::vector<entry>> project_batch(std::span<const entry> batch) const {
    std::vector<entry> out;
    if (!project_) return out;
    out.reserve(batch.size());
    for (const entry& e : batch) {
      if (e.tombstone) {
        out.push_back(e);
        continue;
      }
      auto value = project_(e);
      if (!value)
        return error{value.error().code(),
                     "key " + detail::quoted(e.key) + ": the projection failed: " + value.error().message()};
      out.push_back(entry::put(e.key, std::move(value).value(), e.version));
      BOOST_OUTCOME_TRY(validate(out.back(), rules_of(secondary_)));
    }
    return out;
  }

  /// Writes `batch` to the primary and `to_secondary` (the batch or its
  /// projection) to the secondary; `settled` when they agree for the
  /// batch's keys or each divergence is recorded.
  result<write_report> write_both(std::span<const entry> batch, std::span<const entry> to_secondary, bool& settled) {
    // The newest entry of each key, and what the primary held before it.
    std::vector<const entry*> winners;
    {
      std::unordered_map<std::string_view, std::size_t> at;
      for (const entry& e : batch) {
        auto [it, fresh] = at.try_emplace(e.key, winners.size());
        if (fresh) winners.push_back(&e);
        else if (e.version > winners[it->second]->version) winners[it->second] = &e;
      }
    }
    const bool both = consistency_.write_secondary();
    std::vector<std::optional<entry>> previous(winners.size());
    if (both && compensates_) {
      BOOST_OUTCOME_TRY(read_previous(winners, previous));
    }
    auto written = primary_.write(batch);
    if (!written) {
      settled = true;  // a failed batch writes nothing
      return written.error();
    }
    const write_report report = written.value();
    counters_.writes.inc();
    if (!both) {
      for (const entry* e : winners) {
        BOOST_OUTCOME_TRY(record(e->key, e->version, "secondary", "not written (primary_only): pending repair"));
      }
      settled = true;
      return report;
    }
    Retry policy = retry_;  // a copy per call: a policy need not be thread-safe
    Clock clock = clock_;
    auto sent = retry(policy, clock, [&] { return secondary_.write(to_secondary); });
    if (sent.outcome) {
      settled = true;
      return report;
    }
    const error failure = sent.outcome.error();
    counters_.partial_failures.inc();
    const partial_failure_decision d = consistency_.on_secondary_failure(failure);
    bool undo_failed = false;
    if (d.compensate_primary) {
      for (std::size_t i = 0; i < winners.size(); ++i) {
        const entry& e = *winners[i];
        if (previous[i] && previous[i]->version >= e.version) continue;  // the primary did not take it
        auto undone = primary_.restore(e.key, e.version, previous[i]);
        if (undone) {
          counters_.compensations.inc();
        } else if (undone.error() != errc::version_conflict) {  // a conflict: a newer write is kept
          undo_failed = true;
          BOOST_OUTCOME_TRY(record(e.key, e.version, "compensation", undone.error().message()));
        }
      }
    }
    if (d.record_inconsistency) {
      for (const entry* e : winners) {
        BOOST_OUTCOME_TRY(record(e->key, e->version, "secondary", failure.message()));
      }
    }
    settled = true;
    if (d.report_success && !undo_failed) return report;
    return failure;
  }

  /// What the primary holds for each of `winners`: one `lookup` finds the
  /// keys it holds at all (a `metadata_store`), then one read per such key.
  result<void> read_previous(const std::vector<const entry*>& winners, std::vector<std::optional<entry>>& previous) {
    std::vector<bool> held(winners.size(), true);
    if constexpr (metadata_store<Primary>) {
      std::vector<std::string_view> keys;
      keys.reserve(winners.size());
      for (const entry* e : winners) keys.push_back(e->key);
      BOOST_OUTCOME_TRY(auto metas, primary_.lookup(keys));
      for (std::size_t i = 0; i < winners.size(); ++i) held[i] = metas[i].has_value();
    }
    for (std::size_t i = 0; i < winners.size(); ++i) {
      if (!held[i]) continue;
      BOOST_OUTCOME_TRY(previous[i], primary_.read(winners[i]->key));
    }
    return success();
  }

  /// Appends the batch's keys to the intent log; its lsn.
  result<lsn> open_intent(std::span<const entry> batch) {
    std::string keys;
    for (const entry& e : batch) {
      if (!keys.empty()) keys += '\n';  // keys hold no control characters
      keys += e.key;
    }
    std::lock_guard lock(intent_mutex_);
    BOOST_OUTCOME_TRY(const lsn at, intents_.append(std::string_view(keys)));
    open_.insert(at);
    counters_.open_intents.set(static_cast<double>(open_.size()));
    last_ = std::max(last_, at);
    return at;
  }

  /// Clears intent `at`; every `checkpoint_every` clears the checkpoint
  /// moves to one below the oldest intent still open. A checkpoint that
  /// fails (the disk) is counted and tried again at the next clear: the
  /// write has settled either way, and an intent left behind the
  /// checkpoint only costs start-up a check of keys that agree.
  void close_intent(lsn at) {
    std::lock_guard lock(intent_mutex_);
    open_.erase(at);
    counters_.open_intents.set(static_cast<double>(open_.size()));
    if (++cleared_ < checkpoint_every_) return;
    if (intents_.commit_checkpoint(safe_checkpoint())) cleared_ = 0;
    else counters_.checkpoint_failures.inc();
  }
  lsn safe_checkpoint() const { return open_.empty() ? last_ : *open_.begin() - 1; }

  result<void> recover() {
    BOOST_OUTCOME_TRY(const lsn from, intents_.load_checkpoint());
    check_report found;
    lsn last = from;
    BOOST_OUTCOME_TRY(intents_.replay(from, [&](lsn at, std::span<const std::byte> rec) -> result<void> {
      const std::string_view keys(reinterpret_cast<const char*>(rec.data()), rec.size());
      std::size_t start = 0;
      while (start <= keys.size()) {
        const std::size_t end = std::min(keys.find('\n', start), keys.size());
        found.differences.push_back({std::string(keys.substr(start, end - start))});
        start = end + 1;
      }
      last = at;
      counters_.recovered_intents.inc();
      return success();
    }));
    if (found.differences.empty()) return success();
    std::sort(found.differences.begin(), found.differences.end(),
              [](const difference& a, const difference& b) { return a.key < b.key; });
    found.differences.erase(std::unique(found.differences.begin(), found.differences.end(),
                                        [](const difference& a, const difference& b) { return a.key == b.key; }),
                            found.differences.end());
    BOOST_OUTCOME_TRY(auto fixed, repairer().repair(found, {.truth = source_of_truth::left}));
    for (const repair_refusal& r : fixed.refused) {
      BOOST_OUTCOME_TRY(auto p, primary_.read(r.key));
      BOOST_OUTCOME_TRY(record(r.key, p ? p->version : 0, "recovery", r.why.message()));
    }
    last_ = last;
    return intents_.commit_checkpoint(last);
  }

  /// Records that `key`, at `primary_version` in the primary, is not the
  /// same on the secondary.
  result<void> record(std::string_view key, version_type primary_version, std::string_view failing,
                      std::string_view why) {
    const std::int64_t now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    // The secondary's version when it answers (it may be what failed).
    const auto secondary = secondary_.read(key);
    const bool known = secondary && secondary.value();
    std::string value = "{\"primary_version\":" + std::to_string(primary_version) + ",\"secondary_version\":" +
                        (known ? std::to_string(secondary.value()->version) : "null") + ",\"failing\":";
    detail::append_json_string(value, failing);
    value += ",\"error\":";
    detail::append_json_string(value, why);
    value += ",\"at_ms\":" + std::to_string(now_ms) + "}";
    // A later record of a key replaces an earlier one: versions grow.
    version_type v = 0;
    {
      std::lock_guard lock(mutex_);
      v = next_record_ = std::max(next_record_ + 1, now_ms * 1000);
    }
    counters_.recorded.inc();
    const entry rec = entry::put(std::string(key), std::move(value), v);
    BOOST_OUTCOME_TRY(log_.write(std::span(&rec, 1)));
    return success();
  }

  /// A record as `record` wrote it; one changed by other hands (not an
  /// object) says so in `error` rather than being misread.
  static inconsistency decode(const entry& row) {
    inconsistency out;
    out.key = row.key;
    const std::size_t open = detail::json_skip_space(row.value, 0);
    if (open >= row.value.size() || row.value[open] != '{') {
      out.error = "unreadable record: " + detail::quoted(row.value);
      return out;
    }
    detail::json_members(std::string_view(row.value).substr(open), [&](std::string_view name, std::string_view v) {
      const std::string field = detail::json_unescape(name);
      auto number = [&] {
        std::int64_t n = 0;
        std::from_chars(v.data(), v.data() + v.size(), n);
        return n;
      };
      // A member of another kind than `record` writes is shown as its JSON text.
      auto text = [&] { return v.starts_with('"') ? detail::json_unescape(v) : std::string(v); };
      if (field == "primary_version") out.primary_version = number();
      else if (field == "secondary_version" && v != "null") out.secondary_version = number();
      else if (field == "failing") out.failing = text();
      else if (field == "error") out.error = text();
      else if (field == "at_ms") out.at_ms = number();
    });
    return out;
  }

  /// The counters behind `stats()`, in a registry.
  struct counters {
    explicit counters(metrics_registry& r)
        : writes(r.counter("dual_write_writes_total", "Batches the primary took.")),
          partial_failures(r.counter("dual_write_partial_failures_total",
                                     "Batches the primary took and the secondary failed, retries spent.")),
          compensations(r.counter("dual_write_compensations_total", "Primary writes undone (strict).")),
          recorded(r.counter("dual_write_inconsistencies_recorded_total", "Records added to the inconsistency log.")),
          recovered_intents(r.counter("dual_write_recovered_intents_total", "Open intents replayed at start-up.")),
          checkpoint_failures(r.counter("dual_write_intent_checkpoint_failures_total",
                                        "Intent-log checkpoints that failed (tried again at the next clear).")),
          open_intents(r.gauge("dual_write_open_intents", "Writes between their intent and its clearing.")),
          open_inconsistencies(r.gauge("dual_write_open_inconsistencies",
                                       "Records in the inconsistency log (counted when the registry renders).")),
          up{r.gauge("dual_write_side_up", "Whether the side answered the last health probe.", {{"side", "primary"}}),
             r.gauge("dual_write_side_up", "Whether the side answered the last health probe.", {{"side", "secondary"}})},
          probe_seconds{r.gauge("dual_write_probe_seconds", "How long the last health probe took.",
                                {{"side", "primary"}}),
                        r.gauge("dual_write_probe_seconds", "How long the last health probe took.",
                                {{"side", "secondary"}})} {}
    counter writes, partial_failures, compensations, recorded, recovered_intents, checkpoint_failures;
    gauge open_intents;
    gauge open_inconsistencies;
    gauge up[2];
    gauge probe_seconds[2];
  };

  std::unique_ptr<metrics_registry> own_metrics_;
  counters counters_;
  Primary& primary_;
  Secondary& secondary_;
  Log& log_;
  file_journal intents_;
  std::size_t checkpoint_every_;
  projection project_;
  Consistency consistency_;
  Retry retry_;
  Clock clock_;
  value_rules rules_;
  bool compensates_;
  mutable std::mutex intent_mutex_;
  std::set<lsn> open_;
  lsn last_ = 0;
  std::size_t cleared_ = 0;
  std::mutex mutex_;
  version_type next_record_ = 0;
  std::shared_mutex gate_;
  // Last: unregistered (waiting for a render in progress) before the rest goes.
  render_hook count_on_render_;
};

}  // namespace storesync
