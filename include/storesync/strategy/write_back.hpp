#pragma once
/// \file
/// `write_back<Source, Sink, Log, RetryPolicy, BatchSizer, Clock, Executor>`: lands
/// what changed in a source (a DuckDB query, a table, any `change_source`)
/// in a sink (PostgreSQL, any `checkpoint_store`) incrementally, exactly
/// once in effect, in constant memory, resuming after a crash where the
/// last committed batch ended.
///
/// \code
///   storesync::sqlite_store runs = ..., letters = ...;   // the run log and dead letters
///   storesync::write_back<storesync::duckdb_query_source, storesync::postgres_store,
///                         storesync::sqlite_store> wb(runs, letters);
///   std::vector<decltype(wb)::stage> stages{{.name = "memories", .source = src, .sink = pg,
///                                            .options = {.lookback = 600'000'000}}};
///   BOOST_OUTCOME_TRY(auto report, wb.run(stages));
///   for (const auto& s : report.stages) std::printf("%s: %zu written\n", s.stage.c_str(), s.counts.applied);
/// \endcode
///
/// **A run** processes its stages in the order given. Each stage:
/// 1. loads its watermark, the last committed (version, key), from the
///    sink's checkpoint `write_back/<stage>`, and probes the source and the
///    sink (latency, and the source's newest version where it has
///    `max_version`), the stage's health;
/// 2. reads what changed after it in batches of the BatchSizer's size, in
///    (version, key) order, so rows that share one version are never split
///    or skipped: the watermark holds the key too;
/// 3. judges each entry before the sink sees it: the key is valid and not
///    seen before in the run, the value is JSON, the stage's checks pass,
///    the transform (if any) succeeds, and the result is what the sink can
///    hold (`validate` against its rules, `store_admits`). A rejected entry
///    is dead-lettered with its reason;
/// 4. asks the sink for what it holds of the batch's keys in one call
///    (`lookup_meta`): an entry whose content hash and deleted flag the
///    sink holds already is not sent (`same_content`, or `unchanged` at the
///    same version), nor one the sink holds at a newer version (`stale`);
/// 5. writes the rest and the advanced watermark in one sink transaction
///    (`delivery` with a checkpoint), under the RetryPolicy. A batch the
///    sink refuses is split until the refused entries stand alone; they are
///    dead-lettered and the rest goes on, each part committing the
///    watermark of its last entry. While the sink stays unreachable the
///    stage stops, and nothing after its last committed part counts as done
///    (`owed`).
///
/// **Exactly once in effect.** A batch (or each part of a split one) and
/// its watermark commit together, and every write is under the version
/// guard, so a crash anywhere repeats at most the batch in flight, and
/// repeating it changes nothing; the sink never holds an entry past the
/// committed watermark.
///
/// **Late rows.** A row committed in the source with a (version, key)
/// behind the watermark is not after it, so a run without lookback never
/// sees it. With `lookback` (in version units: microseconds for timestamp
/// versions) a stage re-reads everything from `watermark.version -
/// lookback` on every run; what the sink already holds is skipped by its
/// content hash, so the re-read writes only the late rows. A row later
/// than that window still goes unseen: choose the window longer than the
/// longest a source transaction stays open.
///
/// **Unique keys.** A key that comes twice in a run is dead-lettered the
/// second time (`duplicate key`): twice in a batch, twice at one version,
/// or held by the sink at a version this run wrote (above the stage's
/// watermark, below the entry's). Rows a lookback reads again (at or before
/// the watermark) count for none of these. The last needs the stage to be
/// its sink's only writer, and misses a duplicate whose first row the sink
/// held already (it was skipped, not written). Turn `unique_keys` off for a
/// source that is a log of changes, where a key comes once per change.
///
/// **The run log and dead letters** live in two stores of type `Log` (a
/// `scannable_store`: a table beside the sink, say), one JSON record per
/// run and per dead letter. A run is recorded as `running` when it starts
/// and replaced by its report at the end, so a run that was killed stays
/// `running`, and the next run says it resumes it (`resumes`). Dead
/// letters are keyed `<stage> <key> <version>` (the version in 19 digits);
/// re-dead-lettering the same entry changes nothing.
///
/// **Threads and memory.** The next batch is read and judged (checks,
/// transform, `store_admits` on the sink) on a task of the Executor (a
/// thread of its own by default; a simulation's `sim_executor` runs it in
/// a seeded order) while one is looked up and written, so two batches are
/// in memory at most, whatever the source's size. A check or transform
/// that throws stops the stage with what it said.
///
/// **Health hooks.** A source with `max_version()` reports its newest
/// version (and freshness); one with `unreadable_rows()` (rows no read
/// returns, such as rows without a version) gets a warning in each run's
/// report while there are any.
///
/// Thread safety: one `run` at a time per object; `stop` and `on_batch`
/// let another thread cancel and watch it.

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "storesync/core/detail/json_scan.hpp"
#include "storesync/core/detail/text.hpp"
#include "storesync/core/entry.hpp"
#include "storesync/core/error.hpp"
#include "storesync/core/lookup.hpp"
#include "storesync/core/result.hpp"
#include "storesync/core/store.hpp"
#include "storesync/core/transfer_report.hpp"
#include "storesync/core/value_rules.hpp"
#include "storesync/core/watermark_codec.hpp"
#include "storesync/policy/aimd_batch_sizer.hpp"
#include "storesync/policy/batch_sizer.hpp"
#include "storesync/policy/clock.hpp"
#include "storesync/policy/executor.hpp"
#include "storesync/policy/exponential_backoff.hpp"
#include "storesync/policy/retry_policy.hpp"
#include "storesync/store/detail/typed_value.hpp"
#include "storesync/strategy/delivery.hpp"
#include "storesync/strategy/write_back_checks.hpp"

namespace storesync {

/// Makes the entry the sink gets from a source entry (another key
/// encoding, a reshaped value); an error dead-letters the entry with it.
using write_back_transform = std::function<result<entry>(entry)>;

/// How one stage reads, judges and writes.
struct write_back_stage_options {
  /// Re-read this far behind the watermark on every run, in version units
  /// (microseconds for timestamp versions); 0: no lookback. See "Late rows".
  version_type lookback = 0;
  /// Checks each entry must pass (write_back_checks.hpp has ready ones).
  std::vector<write_back_check> checks = {};
  /// Applied after the checks; empty: the sink gets the source's entries.
  write_back_transform transform = {};
  /// Dead-letter a key's second entry in a run (see "Unique keys").
  bool unique_keys = true;
};

/// A stage's health, probed before it runs.
struct write_back_health {
  /// The sink answered (its checkpoint load), and how long it took.
  std::optional<error> sink_error = {};
  std::chrono::nanoseconds sink_latency{0};
  /// The source answered (`max_version`, or the first read), and how long
  /// it took.
  std::optional<error> source_error = {};
  std::chrono::nanoseconds source_latency{0};
  /// The source's newest version, when it has `max_version`.
  std::optional<version_type> newest_version = {};
  /// How old that version is, when versions are timestamps
  /// (`write_back_options::timestamp_versions`).
  std::optional<std::chrono::microseconds> freshness = {};

  bool ok() const noexcept { return !sink_error && !source_error; }
};

/// What one stage did in a run.
struct write_back_stage_report {
  std::string stage;
  /// The committed watermark when the stage began, and when it ended.
  watermark from;
  watermark to;
  /// Every entry read, by outcome; `counts.applied` were written,
  /// `same_content + unchanged` were unchanged.
  transfer_report counts;
  /// Of `counts.dead_lettered`, those rejected before the sink saw them
  /// (checks, transform, the sink's rules, duplicates).
  std::size_t rejected = 0;
  std::size_t batches = 0;
  std::chrono::nanoseconds duration{0};
  write_back_health health;
  /// Notes for the operator: a volume far from the previous run's.
  std::vector<std::string> warnings = {};
  /// Why the stage stopped before the end of its source.
  std::optional<error> failure = {};
  /// `stop` was asked before the end; the batches committed stay.
  bool interrupted = false;

  double rows_per_second() const noexcept {
    const double s = std::chrono::duration<double>(duration).count();
    return s > 0 ? static_cast<double>(counts.read) / s : 0.0;
  }
};

/// How a run ended, worst first.
enum class write_back_status {
  /// A stage failed (its source or sink stayed unreachable, a checkpoint
  /// was unreadable); later stages did not run.
  failed,
  /// `stop` was asked; what committed stays, a re-run resumes.
  interrupted,
  /// Everything was read, and some entries went to dead letters.
  partial,
  /// Everything was read and written or found unchanged.
  succeeded,
};

inline std::string_view to_string(write_back_status s) noexcept {
  switch (s) {
    case write_back_status::failed: return "failed";
    case write_back_status::interrupted: return "interrupted";
    case write_back_status::partial: return "partial";
    case write_back_status::succeeded: return "succeeded";
  }
  return "failed";
}

/// What a run did, stage by stage; also its record in the run log.
struct write_back_report {
  /// When the run started, as an RFC 3339 UTC timestamp in microseconds
  /// (`2026-12-03T11:27:02.123456Z`); unique in its run log.
  std::string run_id;
  /// The run this one resumes: the previous run, when it never finished.
  std::string resumes = {};
  bool dry_run = false;
  std::chrono::system_clock::time_point started;
  std::chrono::system_clock::time_point finished;
  std::vector<write_back_stage_report> stages = {};
  /// The run log could not be written (the report is still complete).
  std::optional<error> log_failure = {};

  write_back_status status() const noexcept {
    bool partial = false;
    for (const auto& s : stages) {
      if (s.failure) return write_back_status::failed;
      if (s.interrupted) return write_back_status::interrupted;
      partial = partial || s.counts.dead_lettered > 0;
    }
    return partial ? write_back_status::partial : write_back_status::succeeded;
  }
};

/// How `write_back` runs.
struct write_back_options {
  /// Read, judge and look up as usual, but write nothing (no sink, no
  /// checkpoint, no run log, no dead letters); the report says what would
  /// have been written.
  bool dry_run = false;
  /// Set from another thread to stop after the batch in flight.
  const std::atomic<bool>* stop = nullptr;
  /// Versions are timestamps in microseconds: report the source's
  /// freshness.
  bool timestamp_versions = false;
  /// Warn when a stage reads more than this many times, or less than one
  /// this-th, of what it read in the previous run; 0: never.
  double volume_warning_factor = 10.0;
  /// Called after each batch, on the running thread, with the stage's
  /// report so far (its duration and rate up to now).
  std::function<void(const write_back_report&, const write_back_stage_report&)> on_batch = {};
};

/// Whether `name` can name a stage (its checkpoint and dead letters): 1 to
/// 64 of `A-Z a-z 0-9 _ - .`, and not `run` (the run log's records are
/// keyed `run ...`, and the two logs may be one store); `invalid_argument`
/// saying so otherwise.
inline result<void> check_stage_name(std::string_view name) {
  if (name == "run")
    return error{errc::invalid_argument, "stage name \"run\" is reserved: the run log's records are keyed \"run ...\""};
  const bool good = !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.';
  });
  if (!good)
    return error{errc::invalid_argument, "stage name " + detail::quoted(name) + ": 1 to 64 of A-Z a-z 0-9 _ - . expected"};
  return success();
}

/// A record of the dead-letter log.
struct write_back_dead_letter {
  std::string stage;
  /// The source key (hex-escaped by `key_hex` when it is not valid text).
  std::string key;
  version_type version = 0;
  std::string error;
  std::string run;
  /// The whole record, as JSON.
  std::string json;
};

/// A record of the run log.
struct write_back_run {
  std::string run_id;
  /// `running` or a `write_back_status`.
  std::string status;
  /// The whole report, as JSON.
  std::string json;
};

namespace detail {

// `text` with each NUL and each byte that breaks UTF-8 replaced by U+FFFD
// (messages may quote a backend's error, which may quote a value).
inline std::string readable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  while (!text.empty()) {
    const std::size_t bad = std::min(invalid_utf8_at(text), text.find('\0'));
    out += text.substr(0, bad);
    if (bad == std::string_view::npos) break;
    out += "\xEF\xBF\xBD";
    text.remove_prefix(bad + 1);
  }
  return out;
}

inline void append_count(std::string& j, std::string_view name, std::size_t value) {
  j += ",\"";
  j += name;
  j += "\":" + std::to_string(value);
}

inline std::string json_ms(std::chrono::system_clock::time_point t) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count());
}

}  // namespace detail

/// `r` as one JSON object, its record in the run log: the run's id,
/// `status` (`running` until `finished`), `resumes`, `dry_run`,
/// `started_ms`, `finished_ms` and per stage its watermarks (`from`, `to`,
/// in the watermark codec's text), counts, timing, health, warnings and
/// error.
inline std::string report_json(const write_back_report& r, bool finished = true) {
  std::string j = "{\"run\":";
  detail::append_json_string(j, r.run_id);
  j += ",\"status\":";
  detail::append_json_string(j, finished ? to_string(r.status()) : "running");
  j += ",\"resumes\":";
  if (r.resumes.empty()) j += "null";
  else detail::append_json_string(j, r.resumes);
  j += std::string(",\"dry_run\":") + (r.dry_run ? "true" : "false");
  j += ",\"started_ms\":" + detail::json_ms(r.started);
  j += ",\"finished_ms\":" + (finished ? detail::json_ms(r.finished) : std::string("null"));
  j += ",\"stages\":[";
  for (std::size_t i = 0; i < r.stages.size(); ++i) {
    const write_back_stage_report& s = r.stages[i];
    if (i > 0) j += ',';
    j += "{\"stage\":";
    detail::append_json_string(j, s.stage);
    j += ",\"from\":";
    detail::append_json_string(j, detail::readable(encode_watermark(s.from)));
    j += ",\"to\":";
    detail::append_json_string(j, detail::readable(encode_watermark(s.to)));
    detail::append_count(j, "read", s.counts.read);
    detail::append_count(j, "written", s.counts.applied);
    detail::append_count(j, "unchanged", s.counts.unchanged + s.counts.same_content);
    detail::append_count(j, "same_content", s.counts.same_content);
    detail::append_count(j, "stale", s.counts.stale);
    detail::append_count(j, "dead_lettered", s.counts.dead_lettered);
    detail::append_count(j, "rejected", s.rejected);
    detail::append_count(j, "owed", s.counts.owed);
    detail::append_count(j, "batches", s.batches);
    detail::append_count(j, "duration_ms",
                         static_cast<std::size_t>(std::chrono::duration_cast<std::chrono::milliseconds>(s.duration).count()));
    detail::append_count(j, "rows_per_s", static_cast<std::size_t>(s.rows_per_second()));
    const auto us = [](std::chrono::nanoseconds d) {
      return std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
    };
    j += ",\"health\":{\"sink_us\":" + us(s.health.sink_latency) + ",\"source_us\":" + us(s.health.source_latency);
    j += ",\"newest_version\":" + (s.health.newest_version ? std::to_string(*s.health.newest_version) : "null");
    j += ",\"freshness_s\":" +
         (s.health.freshness ? std::to_string(std::chrono::duration_cast<std::chrono::seconds>(*s.health.freshness).count())
                             : "null");
    j += "}";
    j += std::string(",\"interrupted\":") + (s.interrupted ? "true" : "false");
    j += ",\"error\":";
    if (s.failure) detail::append_json_string(j, detail::readable(s.failure->message()));
    else j += "null";
    j += ",\"warnings\":[";
    for (std::size_t w = 0; w < s.warnings.size(); ++w) {
      if (w > 0) j += ',';
      detail::append_json_string(j, detail::readable(s.warnings[w]));
    }
    j += "]}";
  }
  j += "]}";
  return j;
}
namespace detail {

// The run log's records are keyed "run " and 19 digits that count down as
// time goes on, so a scan in key order lists the newest first.
inline key_range write_back_run_range() { return {"run ", std::string("run!")}; }

inline std::string write_back_run_key(std::int64_t micros) {
  std::string key = "run ";
  append_padded(key, INT64_MAX - micros, 19);
  return key;
}

inline write_back_run decode_write_back_run(const std::string& json) {
  write_back_run r;
  r.json = json;
  json_members(json, [&](std::string_view name, std::string_view v) {
    const std::string field = json_unescape(name);
    if (field == "run" && v.starts_with('"')) r.run_id = json_unescape(v);
    else if (field == "status" && v.starts_with('"')) r.status = json_unescape(v);
  });
  return r;
}

}  // namespace detail

/// Up to `limit` records of the run log `runs` (what `write_back` records
/// there), newest first, older than run `before` when given;
/// `invalid_argument` for a `before` that is not a run id.
template <scannable_store Log>
result<std::vector<write_back_run>> read_write_back_runs(Log& runs, std::size_t limit, std::string_view before = {}) {
  std::string after;
  if (!before.empty()) {
    std::string why;
    const auto micros = detail::parse_timestamp(before, false, why);
    if (!micros) return error{errc::invalid_argument, "run id " + detail::quoted(before) + " " + why};
    after = detail::write_back_run_key(*micros);
  }
  BOOST_OUTCOME_TRY(auto rows, runs.scan(detail::write_back_run_range(), after, limit));
  std::vector<write_back_run> out;
  out.reserve(rows.size());
  for (const entry& row : rows)
    if (!row.tombstone) out.push_back(detail::decode_write_back_run(row.value));
  return out;
}

template <change_source Source, checkpoint_store Sink, scannable_store Log,
          retry_policy Retry = exponential_backoff, batch_sizer Sizer = aimd_batch_sizer,
          clock Clock = system_clock, executor Executor = thread_executor>
class write_back {
 public:
  /// A source, the sink it lands in, and how.
  struct stage {
    /// Names the checkpoint (`write_back/<name>`) and the dead letters:
    /// 1 to 64 of `A-Z a-z 0-9 _ - .`.
    std::string name;
    Source& source;
    Sink& sink;
    write_back_stage_options options = {};
  };

  /// Records runs in `runs` and dead letters in `dead_letters`, which must
  /// outlive this object (and may be one store).
  write_back(Log& runs, Log& dead_letters, write_back_options options = {}, Retry retry = {},
             Sizer sizer = {}, Clock clock = {}, Executor executor = {})
      : runs_(runs),
        letters_(dead_letters),
        options_(std::move(options)),
        retry_(std::move(retry)),
        sizer_(std::move(sizer)),
        clock_(std::move(clock)),
        executor_(std::move(executor)) {}

  write_back_options& options() noexcept { return options_; }
  Retry& retry_policy() noexcept { return retry_; }
  Sizer& sizer() noexcept { return sizer_; }

  /// The checkpoint name of stage `name`.
  static std::string checkpoint_name(std::string_view name) { return "write_back/" + std::string(name); }

  /// Runs `stages` in order, as the file comment says. Fails only when the
  /// stages are malformed (`invalid_argument`: a bad or repeated name) or
  /// the run log cannot be read; everything else is in the report.
  result<write_back_report> run(std::span<stage> stages) {
    BOOST_OUTCOME_TRY(check_names(stages));
    BOOST_OUTCOME_TRY(auto previous, latest_run());
    write_back_report report;
    report.dry_run = options_.dry_run;
    report.started = std::chrono::system_clock::now();
    std::int64_t micros = std::chrono::duration_cast<std::chrono::microseconds>(
                              report.started.time_since_epoch()).count();
    if (previous) {
      micros = std::max(micros, previous->micros + 1);
      if (previous->run.status == "running") report.resumes = previous->run.run_id;
    }
    report.run_id = detail::format_timestamp(micros, false);
    if (!options_.dry_run) {
      if (auto logged = log_run(report, micros, false); !logged) report.log_failure = logged.error();
    }
    for (stage& s : stages) {
      report.stages.push_back({.stage = s.name});
      run_stage(s, report, previous ? &previous->run.json : nullptr);
      const auto& done = report.stages.back();
      if (done.failure || done.interrupted) break;
    }
    report.finished = std::chrono::system_clock::now();
    if (!options_.dry_run) {
      if (auto logged = log_run(report, micros, true); !logged)
        report.log_failure = logged.error();
    }
    return report;
  }

  /// Up to `limit` runs of the run log, newest first, older than run
  /// `before` when given (`read_write_back_runs`).
  result<std::vector<write_back_run>> runs(std::size_t limit, std::string_view before = {}) {
    return read_write_back_runs(runs_, limit, before);
  }

  /// Up to `limit` dead letters, in key order after `after` (a record's
  /// key, `<stage> <key> <version>`), of every stage.
  result<std::vector<write_back_dead_letter>> dead_letters(std::size_t limit, std::string_view after = {}) {
    // Read past the run log's records when the two logs are one store.
    const key_range runs = detail::write_back_run_range();
    std::vector<entry> rows;
    BOOST_OUTCOME_TRY(rows, letters_.scan(key_range{{}, runs.first}, after, limit));
    if (rows.size() < limit) {
      const std::string_view past = after > runs.first ? after : std::string_view{};
      BOOST_OUTCOME_TRY(auto rest, letters_.scan(key_range{*runs.last, std::nullopt}, past, limit - rows.size()));
      rows.insert(rows.end(), std::make_move_iterator(rest.begin()), std::make_move_iterator(rest.end()));
    }
    std::vector<write_back_dead_letter> out;
    out.reserve(rows.size());
    for (const entry& row : rows) {
      if (row.tombstone) continue;
      write_back_dead_letter d;
      d.json = row.value;
      detail::json_members(row.value, [&](std::string_view name, std::string_view v) {
        const std::string field = detail::json_unescape(name);
        const auto text = [&] { return v.starts_with('"') ? detail::json_unescape(v) : std::string(v); };
        if (field == "stage") d.stage = text();
        else if (field == "key" || (field == "key_hex" && d.key.empty())) d.key = text();
        else if (field == "version") std::from_chars(v.data(), v.data() + v.size(), d.version);
        else if (field == "error") d.error = text();
        else if (field == "run") d.run = text();
      });
      out.push_back(std::move(d));
    }
    return out;
  }

 private:
  using stage_delivery = delivery<Sink, Retry, Sizer, Clock>;

  struct previous_run {
    write_back_run run;
    std::int64_t micros = 0;
  };

  static result<void> check_names(std::span<const stage> stages) {
    for (std::size_t i = 0; i < stages.size(); ++i) {
      BOOST_OUTCOME_TRY(check_stage_name(stages[i].name));
      for (std::size_t j = 0; j < i; ++j)
        if (stages[j].name == stages[i].name)
          return error{errc::invalid_argument, "stage " + detail::quoted(stages[i].name) + " is named twice"};
    }
    return success();
  }

  result<std::optional<previous_run>> latest_run() {
    BOOST_OUTCOME_TRY(auto rows, runs_.scan(detail::write_back_run_range(), {}, 1));
    if (rows.empty() || rows.front().tombstone) return std::optional<previous_run>{};
    previous_run p{detail::decode_write_back_run(rows.front().value)};
    std::int64_t inverted = 0;
    const std::string& key = rows.front().key;
    std::from_chars(key.data() + 4, key.data() + key.size(), inverted);
    p.micros = INT64_MAX - inverted;
    return std::optional<previous_run>{std::move(p)};
  }

  // What `stage` read in the run whose report is `json`, if it ran.
  static std::optional<std::size_t> previous_read(const std::string& json, std::string_view stage) {
    std::optional<std::size_t> out;
    detail::json_members(json, [&](std::string_view name, std::string_view stages) {
      if (detail::json_unescape(name) != "stages" || !stages.starts_with('[')) return;
      detail::json_elements(stages, [&](std::string_view s) {
        if (!s.starts_with('{')) return;
        bool mine = false;
        std::optional<std::size_t> read;
        detail::json_members(s, [&](std::string_view n, std::string_view v) {
          const std::string field = detail::json_unescape(n);
          if (field == "stage") mine = v.starts_with('"') && detail::json_unescape(v) == stage;
          else if (field == "read") {
            std::size_t r = 0;
            if (std::from_chars(v.data(), v.data() + v.size(), r).ec == std::errc{}) read = r;
          }
        });
        if (mine) out = read;
      });
    });
    return out;
  }

  template <class Op>
  auto with_retry(Op&& op) {
    Retry policy = retry_;
    return storesync::retry(policy, clock_, std::forward<Op>(op));
  }

  template <class Op>
  auto timed(std::chrono::nanoseconds& took, Op&& op) {
    const auto start = clock_.now();
    auto r = with_retry(std::forward<Op>(op)).outcome;
    took = std::chrono::duration_cast<std::chrono::nanoseconds>(clock_.now() - start);
    return r;
  }

  void run_stage(stage& s, write_back_report& run, const std::string* previous_json) {
    write_back_stage_report& sr = run.stages.back();
    const auto started = clock_.now();
    // Also before each `on_batch`, so the stage's rate is live.
    const auto finish = [&] {
      sr.duration = std::chrono::duration_cast<std::chrono::nanoseconds>(clock_.now() - started);
    };
    const std::string cp_name = checkpoint_name(s.name);

    // Health: the sink's checkpoint, the source's newest version.
    auto saved = timed(sr.health.sink_latency, [&] { return s.sink.load_checkpoint(cp_name); });
    if (!saved) {
      sr.health.sink_error = saved.error();
      sr.failure = saved.error();
      return finish();
    }
    if (saved.value()) {
      auto mark = decode_watermark(*saved.value());
      if (!mark) {
        sr.failure = error{mark.error().code(), "checkpoint " + detail::quoted(cp_name) + ": " + mark.error().context()};
        return finish();
      }
      sr.from = std::move(mark).value();
    }
    sr.to = sr.from;
    if constexpr (requires { { s.source.max_version() } -> std::same_as<result<version_type>>; }) {
      auto newest = timed(sr.health.source_latency, [&] { return s.source.max_version(); });
      if (!newest) {
        sr.health.source_error = newest.error();
        sr.failure = newest.error();
        return finish();
      }
      sr.health.newest_version = newest.value();
      if (options_.timestamp_versions && newest.value() > 0) {
        const auto now = std::chrono::duration_cast<std::chrono::microseconds>(
            std::chrono::system_clock::now().time_since_epoch());
        sr.health.freshness = now - std::chrono::microseconds(newest.value());
      }
    }

    if constexpr (requires { { s.source.unreadable_rows() } -> std::same_as<result<std::uint64_t>>; }) {
      // Rows no read ever returns (no key, no version): say so, every run.
      if (auto n = s.source.unreadable_rows(); n && n.value() > 0)
        sr.warnings.push_back(std::to_string(n.value()) + " source rows have no key or no version and are never read");
    }
    stage_delivery to_sink(s.sink, retry_, sizer_, clock_);
    watermark pos = sr.from;
    if (s.options.lookback > 0) pos = {std::max<version_type>(0, sr.from.version - s.options.lookback), {}};
    // The next batch is read and judged on another thread while this one is
    // looked up and written (see `prepared`); one batch goes to the sink at
    // a time.
    judge_state judging;
    const value_rules sink_rules = rules_of(s.sink);
    auto fetch = [&, run_id = run.run_id, committed = sr.from](watermark from, std::size_t n) {
      return prepare(s, from, n, judging, sink_rules, committed, run_id);
    };
    read_ahead next(executor_, fetch, pos, to_sink.batch_size());
    bool first_read = true;
    for (;;) {
      prepared p = next.get();
      if (first_read && !sr.health.newest_version) {
        sr.health.source_latency = p.read_took;
        if (p.failure) sr.health.source_error = p.failure;
      }
      first_read = false;
      if (p.failure) {
        sr.failure = std::move(p.failure);
        break;
      }
      if (p.read == 0) break;
      if (options_.stop && options_.stop->load(std::memory_order_relaxed)) {
        sr.interrupted = true;  // the batch read ahead is dropped; the next run reads it again
        break;
      }
      pos = p.end;
      next.start(executor_, fetch, pos, to_sink.batch_size());
      ++sr.batches;
      transfer_report b;
      b.read = p.read;
      const bool ok = land(s, p, sr, b, run.run_id, to_sink);
      b.owed = b.read - std::min(b.read, b.settled());
      sr.counts += b;
      if (options_.on_batch) {
        finish();
        options_.on_batch(run, sr);
      }
      if (!ok) break;  // the batch being read is dropped when `next` joins it
    }

    if (previous_json != nullptr && options_.volume_warning_factor > 0 && !sr.failure && !sr.interrupted) {
      if (const auto before = previous_read(*previous_json, s.name)) {
        const double f = options_.volume_warning_factor;
        const auto now = static_cast<double>(sr.counts.read), then = static_cast<double>(*before);
        if (now > then * f || now * f < then)
          sr.warnings.push_back("read " + std::to_string(sr.counts.read) + " entries; the previous run read " +
                                std::to_string(*before));
      }
    }
    finish();
  }

  // What a stage carries from one batch's judging to the next.
  struct judge_state {
    // The (version, key) of the last entry read: a repeat of it is a duplicate.
    std::optional<watermark> last_read;
  };

  // A batch read and judged, waiting for its lookup and write.
  struct prepared {
    // Entries read, and the (version, key) of the last: where the next read
    // starts.
    std::size_t read = 0;
    watermark end;
    // The last entry whose key a watermark can hold (`validate_key`): what
    // the batch commits. A row after it is read again by the next run, and
    // dead-lettered again, which changes nothing.
    std::optional<watermark> commit_end;
    std::chrono::nanoseconds read_took{0};
    std::optional<error> failure;
    // What the sink gets, in order, with the source entry of each (itself
    // when there is no transform; then `sources` is empty).
    std::vector<entry> judged;
    std::vector<entry> sources;
    // Dead letters of the entries rejected.
    std::vector<entry> rejects;
    const entry& source_of(std::size_t i) const { return sources.empty() ? judged[i] : sources[i]; }
  };

  // The batch being read and judged on a task of the Executor; joined
  // (and dropped, if not taken) when replaced or destroyed.
  class read_ahead {
   public:
    template <class Fetch>
    read_ahead(Executor& e, Fetch& fetch, const watermark& from, std::size_t n) {
      start(e, fetch, from, n);
    }
    read_ahead(const read_ahead&) = delete;
    read_ahead& operator=(const read_ahead&) = delete;
    ~read_ahead() { join(); }

    template <class Fetch>
    void start(Executor& e, Fetch& fetch, watermark from, std::size_t n) {
      join();
      task_ = e.start([this, &fetch, from = std::move(from), n] { batch_ = fetch(from, n); });
    }
    prepared get() {
      join();
      return std::move(batch_);
    }

   private:
    void join() {
      if (task_.joinable()) task_.join();
    }
    typename Executor::task task_;
    prepared batch_;
  };

  // Reads the batch after `from` and judges it (no store is written). Runs
  // on the prefetching thread, one batch at a time, in order.
  prepared prepare(stage& s, const watermark& from, std::size_t n, judge_state& js, const value_rules& sink_rules,
                   const watermark& committed, const std::string& run_id) {
    // A check or transform of the user's may throw: the stage stops with
    // what it said, like any other failure.
    try {
      return prepare_batch(s, from, n, js, sink_rules, committed, run_id);
    } catch (const std::exception& e) {
      prepared p;
      p.failure = error{errc::invalid_argument, "stage " + detail::quoted(s.name) +
                                                    ": a check or transform threw: " + detail::readable(e.what())};
      return p;
    }
  }

  prepared prepare_batch(stage& s, const watermark& from, std::size_t n, judge_state& js,
                         const value_rules& sink_rules, const watermark& committed, const std::string& run_id) {
    prepared p;
    auto got = timed(p.read_took, [&] { return s.source.changes_after(from, n); });
    if (!got) {
      p.failure = std::move(got).error();
      return p;
    }
    std::vector<entry> batch = std::move(got).value();
    p.read = batch.size();
    if (batch.empty()) return p;
    p.end = {batch.back().version, batch.back().key};
    for (auto it = batch.rbegin(); it != batch.rend() && !p.commit_end; ++it)
      if (validate_key(it->key)) p.commit_end = watermark{it->version, it->key};
    p.judged.reserve(batch.size());
    if (s.options.transform) p.sources.reserve(batch.size());
    // First judge every entry (the key set views the batch's keys), then
    // move the ones that pass.
    std::unordered_set<std::string_view> keys;
    keys.reserve(batch.size());
    std::vector<std::optional<entry>> transformed(s.options.transform ? batch.size() : 0);
    std::vector<bool> passed(batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const entry& e = batch[i];
      const bool repeat = i > 0 ? batch[i - 1].version == e.version && batch[i - 1].key == e.key
                                : js.last_read && js.last_read->version == e.version && js.last_read->key == e.key;
      // Rows the lookback reads again (at or before the committed
      // watermark) landed in an earlier run: they count for no uniqueness.
      const bool new_in_run = e.version > committed.version || (e.version == committed.version && e.key > committed.key);
      auto verdict = judge(s, e, repeat && new_in_run, new_in_run ? &keys : nullptr, sink_rules,
                           s.options.transform ? &transformed[i] : nullptr);
      if (verdict) passed[i] = true;
      else p.rejects.push_back(letter(s.name, e, verdict.error(), run_id));
    }
    js.last_read = p.end;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (!passed[i]) continue;
      if (s.options.transform) {
        p.judged.push_back(std::move(*transformed[i]));
        p.sources.push_back(std::move(batch[i]));
      } else {
        p.judged.push_back(std::move(batch[i]));
      }
    }
    return p;
  }

  // Dead-letters a batch's rejects, skips what the sink holds, writes the
  // rest with the watermark; false stops the stage.
  bool land(stage& s, prepared& p, write_back_stage_report& sr, transfer_report& b, const std::string& run_id,
            stage_delivery& to_sink) {
    if (!p.rejects.empty()) {
      if (!options_.dry_run) {
        auto kept = with_retry([&] { return letters_.write(p.rejects); }).outcome;
        if (!kept) {
          sr.failure = error{kept.error().code(), "dead-letter log: " + kept.error().context()};
          return false;
        }
      }
      b.dead_lettered += p.rejects.size();
      sr.rejected += p.rejects.size();
    }

    // Skip what the sink holds already, in one lookup.
    std::vector<std::string_view> keys_in_order;
    keys_in_order.reserve(p.judged.size());
    for (const entry& e : p.judged) keys_in_order.push_back(e.key);
    auto held = with_retry([&] { return lookup_meta(s.sink, std::span<const std::string_view>(keys_in_order)); }).outcome;
    if (!held) {
      sr.failure = held.error();
      return false;
    }
    std::vector<entry> send;
    std::vector<std::size_t> send_index;  // into p.judged
    send.reserve(p.judged.size());
    send_index.reserve(p.judged.size());
    std::vector<entry> duplicates;
    for (std::size_t i = 0; i < p.judged.size(); ++i) {
      const entry& e = p.judged[i];
      const auto& h = held.value()[i];
      if (h && s.options.unique_keys && h->version > sr.from.version && h->version < e.version) {
        const entry& src = p.source_of(i);
        duplicates.push_back(letter(s.name, src,
                                    error{errc::invalid_value, "key " + detail::quoted(src.key) +
                                                                   ": duplicate key: this run wrote it at version " +
                                                                   std::to_string(h->version)},
                                    run_id));
      } else if (h && h->hash == e.hash && h->tombstone == e.tombstone) {
        ++(h->version == e.version ? b.unchanged : b.same_content);
      } else if (h && h->version > e.version) {
        ++b.stale;
      } else {
        send_index.push_back(i);
      }
    }
    keys_in_order.clear();  // views into p.judged, about to be moved from
    for (const std::size_t i : send_index) send.push_back(p.sources.empty() ? std::move(p.judged[i]) : p.judged[i]);
    if (!duplicates.empty()) {
      if (!options_.dry_run) {
        auto kept = with_retry([&] { return letters_.write(duplicates); }).outcome;
        if (!kept) {
          sr.failure = error{kept.error().code(), "dead-letter log: " + kept.error().context()};
          return false;
        }
      }
      b.dead_lettered += duplicates.size();
      sr.rejected += duplicates.size();
    }

    // Write the rest with the watermark.
    const watermark next = p.commit_end ? std::max(sr.to, *p.commit_end) : sr.to;
    if (options_.dry_run) {
      b.applied += send.size();
      sr.to = next;
      return true;
    }
    // Without a transform the source entry was moved into `send`.
    const auto source_at = [&](std::size_t i) -> const entry& {
      return p.sources.empty() ? send[i] : p.sources[send_index[i]];
    };
    // Each part of a split batch commits the watermark of its last entry,
    // so the sink never holds an entry past the checkpoint: what it holds
    // above the watermark when a run starts, no run wrote (see "Unique keys").
    const auto mark_at = [&](std::size_t end) {
      return end == send.size() ? next : std::max(sr.to, watermark{source_at(end - 1).version, source_at(end - 1).key});
    };
    watermark reached = sr.to;
    const delivery_report done = to_sink.deliver(
        send, [&](std::size_t end) { return checkpoint{checkpoint_name(s.name), encode_watermark(mark_at(end))}; },
        [&](std::size_t first, std::span<const entry> part, const write_report& verdicts) {
          b.count(verdicts);
          reached = std::max(reached, mark_at(first + part.size()));
        },
        [&](std::size_t at, const error& why) -> result<void> {
          const entry& src = source_at(at);
          const entry rec = letter(s.name, src, why, run_id);
          auto kept = with_retry([&] { return letters_.write(std::span(&rec, 1)); }).outcome;
          if (!kept) return error{kept.error().code(), "dead-letter log: " + kept.error().context()};
          ++b.dead_lettered;
          return success();
        });
    if (!done.checkpointed) {
      sr.to = reached;  // where the parts written committed it
      sr.failure = done.stopped_by.value_or(error{errc::backend_failure, "checkpoint not committed"});
      return false;
    }
    sr.to = next;
    return true;
  }

  // Why `e` must not reach the sink, if it must not. `repeat`: the entry
  // before it had the same (version, key); `keys`: the keys seen in the
  // batch, when `e` counts for uniqueness. With a transform, `out` gets
  // what the sink is to get instead.
  result<void> judge(stage& s, const entry& e, bool repeat, std::unordered_set<std::string_view>* keys,
                     const value_rules& sink_rules, std::optional<entry>* out) {
    BOOST_OUTCOME_TRY(validate_key(e.key));
    if (s.options.unique_keys && (repeat || (keys && !keys->insert(e.key).second)))
      return error{errc::invalid_value, "key " + detail::quoted(e.key) + ": duplicate key in this run"};
    // Checks read valid JSON; without a transform, the sink's rules are
    // checked at once.
    BOOST_OUTCOME_TRY(validate(e, out ? any_json : sink_rules));
    for (const write_back_check& check : s.options.checks) {
      BOOST_OUTCOME_TRY(check(e));
    }
    if (!out) return store_admits(s.sink, e);
    BOOST_OUTCOME_TRY(auto t, s.options.transform(e));
    BOOST_OUTCOME_TRY(validate(t, sink_rules));
    BOOST_OUTCOME_TRY(store_admits(s.sink, t));
    *out = std::move(t);
    return success();
  }

  static void append_hex(std::string& out, std::string_view bytes) {
    static constexpr char hex[] = "0123456789abcdef";
    for (const char c : bytes) {
      out += hex[static_cast<unsigned char>(c) >> 4];
      out += hex[static_cast<unsigned char>(c) & 15];
    }
  }

  // Member `field` of a JSON record holding `text`: as a string when it is
  // valid UTF-8 without NUL, else as `<field>_hex`.
  static void append_text(std::string& out, std::string_view field, std::string_view text) {
    const bool plain = detail::invalid_utf8_at(text) == std::string_view::npos &&
                       text.find('\0') == std::string_view::npos;
    out += '"';
    out += field;
    out += plain ? "\":" : "_hex\":\"";
    if (plain) {
      detail::append_json_string(out, text);
    } else {
      append_hex(out, text);
      out += '"';
    }
  }

  // The dead-letter record of source entry `e` refused with `why`, keyed
  // `<stage> <key> <version>` (the version in 19 digits), so each refused
  // entry keeps a record of its own and refusing it again changes nothing.
  // The value is kept as JSON when the dead-letter store can hold it one
  // level down, else as hex; the key as hex when it is not valid text.
  entry letter(std::string_view stage_name, const entry& e, const error& why, const std::string& run_id) const {
    std::string key(stage_name);
    key += ' ';
    if (validate_key(e.key)) {
      key += e.key;
    } else {
      key += "hex:";
      append_hex(key, e.key.substr(0, max_key_size / 2));
    }
    constexpr std::size_t version_part = 20;  // " " and 19 digits
    if (key.size() + version_part > max_key_size) {
      // Cut on a character boundary, then tell cut keys apart by their hash.
      const content_hash h = hash_content(e.key);
      std::size_t cut = max_key_size - version_part - 20;
      while (cut > 0 && (static_cast<unsigned char>(key[cut]) & 0xC0) == 0x80) --cut;
      key.resize(cut);
      key += '#';
      detail::append_padded(key, static_cast<std::int64_t>(h.lo >> 1), 19);
    }
    key += ' ';
    detail::append_padded(key, std::max<version_type>(0, e.version), 19);

    std::string value = "{\"stage\":";
    detail::append_json_string(value, stage_name);
    value += ',';
    append_text(value, "key", e.key);
    value += ",\"version\":" + std::to_string(e.version) + ",\"tombstone\":" + (e.tombstone ? "true" : "false");
    value += ",\"error\":";
    detail::append_json_string(value, detail::readable(why.message()));
    value += ",\"run\":";
    detail::append_json_string(value, run_id);
    value += ',';
    value_rules nested = rules_of(letters_);
    if (nested.max_depth > 1) nested.max_depth -= 1;
    if (!e.tombstone && validate_value(e.key, e.value, nested)) {
      value += "\"value\":";
      value += e.value;
    } else {
      value += "\"value_hex\":\"";
      append_hex(value, e.value);
      value += '"';
    }
    value += '}';
    return entry::put(std::move(key), std::move(value), 1);
  }

  result<void> log_run(const write_back_report& r, std::int64_t micros, bool finished) {
    const entry rec = entry::put(detail::write_back_run_key(micros), report_json(r, finished), finished ? 2 : 1);
    BOOST_OUTCOME_TRY(with_retry([&] { return runs_.write(std::span(&rec, 1)); }).outcome);
    return success();
  }

  Log& runs_;
  Log& letters_;
  write_back_options options_;
  [[no_unique_address]] Retry retry_;
  [[no_unique_address]] Sizer sizer_;
  [[no_unique_address]] Clock clock_;
  [[no_unique_address]] Executor executor_;
};

}  // namespace storesync
