#pragma once
// The `dual-write` mode: each write goes to the primary and then the
// secondary (SQLite or PostgreSQL, either side) under the consistency policy
// `--consistency` names, with the intent log and the inconsistency log in
// the data directory. Reads come from the primary. Reconcile operations
// (check, repair, full, rebuild) run as jobs (reconcile_jobs.hpp).
//
// Files under <data-dir>/dual-write/: `intents/` (the intent log, a
// file_journal), `inconsistencies.db` (the inconsistency log, SQLite) and
// `rebuild.checkpoint` (where an unfinished rebuild resumes).

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "reference_server/reconcile_jobs.hpp"
#include "reference_server/record_service.hpp"
#include "storesync/core/version_clock.hpp"
#include "storesync/policy/best_effort_consistency.hpp"
#include "storesync/policy/consistency_policy.hpp"
#include "storesync/policy/primary_only_consistency.hpp"
#include "storesync/store/sqlite_store.hpp"
#include "storesync/strategy/dual_write.hpp"
#include "storesync/strategy/reconciler.hpp"

namespace storesync::server {

/// The consistency policy `--consistency` names, chosen at run time: it
/// decides as the model of that name does.
class named_consistency {
 public:
  enum class kind { strict, best_effort, primary_only };

  explicit named_consistency(kind k = kind::strict) noexcept : kind_(k) {}

  /// "strict", "best-effort" or "primary-only" (the flag's spelling); nothing otherwise.
  static std::optional<named_consistency> parse(std::string_view name) {
    if (name == "strict") return named_consistency(kind::strict);
    if (name == "best-effort") return named_consistency(kind::best_effort);
    if (name == "primary-only") return named_consistency(kind::primary_only);
    return std::nullopt;
  }

  std::string_view name() const noexcept {
    return kind_ == kind::strict ? "strict" : kind_ == kind::best_effort ? "best-effort" : "primary-only";
  }
  kind which() const noexcept { return kind_; }

  bool write_secondary() const noexcept { return kind_ != kind::primary_only; }
  partial_failure_decision on_secondary_failure(const error& e) const noexcept {
    switch (kind_) {
      case kind::best_effort: return best_effort_consistency{}.on_secondary_failure(e);
      case kind::primary_only: return primary_only_consistency{}.on_secondary_failure(e);
      case kind::strict: break;
    }
    return strict_consistency{}.on_secondary_failure(e);
  }

 private:
  kind kind_;
};
static_assert(consistency_policy<named_consistency>);

/// What `dual_write_service::open` needs besides the two stores.
struct dual_write_setup {
  /// <data-dir>/dual-write.
  std::string directory;
  /// The intent log's durability (its directory is set here).
  journal_options intents;
  named_consistency consistency;
  /// The server's own limits on values.
  value_rules door;
  /// Retries of the secondary's writes.
  exponential_backoff retry;
  /// A scheduled check (or full, with `scheduled_repair`) every interval; zero: none.
  std::chrono::seconds reconcile_interval{0};
  bool scheduled_repair = false;
};

template <class Primary, class Secondary>
class dual_write_service final : public record_service {
 public:
  using engine_type = dual_write<Primary, Secondary, sqlite_store, named_consistency, exponential_backoff>;

  /// Opens the inconsistency log and the intent log, and repairs the keys of
  /// the intents left open: both stores must answer.
  static result<std::unique_ptr<dual_write_service>> open(std::unique_ptr<Primary> primary,
                                                          std::string primary_name,
                                                          std::unique_ptr<Secondary> secondary,
                                                          std::string secondary_name, dual_write_setup setup) {
    std::error_code ec;
    std::filesystem::create_directories(setup.directory, ec);
    if (ec) return error{ec, "cannot create " + detail::quoted(setup.directory)};
    BOOST_OUTCOME_TRY(auto primary_max, primary->max_version());
    BOOST_OUTCOME_TRY(auto secondary_max, secondary->max_version());
    sqlite_options log_options;
    log_options.path = (std::filesystem::path(setup.directory) / "inconsistencies.db").string();
    BOOST_OUTCOME_TRY(auto log, sqlite_store::open(log_options));
    std::unique_ptr<dual_write_service> s(new dual_write_service(
        std::move(primary), std::move(primary_name), std::move(secondary), std::move(secondary_name),
        std::move(log), setup, std::max(primary_max, secondary_max)));
    journal_options intents = setup.intents;
    intents.directory = (std::filesystem::path(setup.directory) / "intents").string();
    BOOST_OUTCOME_TRY(s->engine_, engine_type::open(*s->primary_, *s->secondary_, s->log_,
                                                    {.intents = intents, .metrics = s->metrics_.get()},
                                                    setup.consistency, setup.retry));
    if (setup.reconcile_interval.count() > 0) {
      reconcile_request scheduled;
      scheduled.operation = setup.scheduled_repair ? "full" : "check";
      s->jobs_.schedule(setup.reconcile_interval, scheduled);
    }
    return s;
  }

  ~dual_write_service() override = default;

  result<std::optional<entry>> get(std::string_view key) override { return primary_->read(key); }

  result<write_report> write(std::span<const entry> batch) override {
    BOOST_OUTCOME_TRY(validate_batch(batch, rules_));
    BOOST_OUTCOME_TRY(auto report, engine_->write(batch));
    for (const entry& e : batch) versions_.observe(e.version);
    return report;
  }

  value_rules rules() const override { return rules_; }
  result<version_type> next_versions(std::size_t count) override { return versions_.reserve(count); }
  std::string mode() const override { return "dual-write"; }

  readiness ready() override {
    const dual_write_health h = engine_->health();
    readiness out;
    out.stores["primary"] = side_json(h.primary, primary_name_);
    out.stores["secondary"] = side_json(h.secondary, secondary_name_);
    out.stores["intents"] = {{"state", "up"}};
    // A secondary that is down stops writes only under strict consistency.
    out.ready = h.primary.up && (h.secondary.up || consistency_.which() != named_consistency::kind::strict);
    return out;
  }

  nlohmann::json status() override {
    const dual_write_stats s = engine_->stats();
    const auto open = engine_->count_inconsistencies();
    return {{"mode", mode()},
            {"primary", primary_name_},
            {"secondary", secondary_name_},
            {"consistency", consistency_.name()},
            {"writes", s.writes},
            {"partial_failures", s.partial_failures},
            {"compensations", s.compensations},
            {"inconsistencies_recorded", s.recorded},
            {"open_inconsistencies", open ? nlohmann::json(open.value()) : nlohmann::json()},
            {"open_intents", s.open_intents},
            {"recovered_intents", s.recovered_intents},
            {"pending", 0},
            {"dead_letters", 0},
            {"reconcile", reconcile_summary()}};
  }

  std::string metrics() override {
    (void)engine_->health();  // the side gauges say how things are now
    return metrics_->render_prometheus();
  }

  /// Every write is synchronous: nothing is ever pending.
  flush_outcome flush(std::chrono::milliseconds) override { return {true, {{"pending", 0}}}; }
  /// Dual-write keeps no dead letters: what the secondary missed is in the
  /// inconsistency log.
  result<std::string> dead_letters(std::size_t) override { return std::string("[]"); }
  result<nlohmann::json> retry_dead_letters() override { return nlohmann::json{{"retried", 0}}; }

  std::optional<result<nlohmann::json>> inconsistencies(std::size_t limit, std::string_view after) override {
    auto page = engine_->inconsistencies(limit, after);
    if (!page) return result<nlohmann::json>(page.error());
    nlohmann::json items = nlohmann::json::array();
    for (const inconsistency& i : page.value())
      items.push_back({{"key", i.key},
                       {"primary_version", i.primary_version},
                       {"secondary_version", i.secondary_version ? nlohmann::json(*i.secondary_version) : nlohmann::json()},
                       {"failing", i.failing},
                       {"error", i.error},
                       {"at_ms", i.at_ms}});
    const bool more = page.value().size() == limit;
    return result<nlohmann::json>(nlohmann::json{{"inconsistencies", items},
                                                 {"count", page.value().size()},
                                                 {"next_after", more ? nlohmann::json(page.value().back().key)
                                                                     : nlohmann::json()}});
  }

  reconcile_jobs* jobs() override { return &jobs_; }

 private:
  using json = nlohmann::json;

  dual_write_service(std::unique_ptr<Primary> primary, std::string primary_name, std::unique_ptr<Secondary> secondary,
                     std::string secondary_name, sqlite_store log, const dual_write_setup& setup, version_type floor)
      : primary_(std::move(primary)),
        secondary_(std::move(secondary)),
        log_(std::move(log)),
        primary_name_(std::move(primary_name)),
        secondary_name_(std::move(secondary_name)),
        consistency_(setup.consistency),
        checkpoint_path_((std::filesystem::path(setup.directory) / "rebuild.checkpoint").string()),
        rules_(stricter(setup.door, stricter(rules_of(*primary_), rules_of(*secondary_)))),
        versions_(floor),
        scheduled_repair_(setup.scheduled_repair),
        jobs_([this](const reconcile_request& r, std::stop_token stop,
                     reconcile_progress& progress) { return run(r, std::move(stop), progress); },
              *metrics_) {}

  static json side_json(const side_health& h, const std::string& store) {
    json out = {{"state", h.up ? "up" : "down"},
                {"store", store},
                {"latency_ms", static_cast<double>(h.latency.count()) / 1000}};
    if (!h.up) out["error"] = h.error;
    return out;
  }

  json reconcile_summary() const {
    json out = jobs_.summary();
    out["repair"] = scheduled_repair_;
    return out;
  }

  /// Runs one reconcile job (see reconcile_jobs.hpp).
  result<json> run(const reconcile_request& r, std::stop_token stop, reconcile_progress& progress) {
    reconciler<Primary, Secondary> rec(*primary_, *secondary_);
    if (r.operation == "repair") {
      BOOST_OUTCOME_TRY(auto fixed, engine_->repair_inconsistencies(
                                        {.truth = r.truth, .dry_run = r.dry_run, .progress = &progress, .stop = stop}));
      return json{{"complete", !stop.stop_requested()}, {"dry_run", r.dry_run}, {"repair", repair_json(fixed)}};
    }
    if (r.operation == "rebuild") return rebuild(rec, r, std::move(stop), progress);
    // A full job settles the inconsistency log's keys in its range first, and
    // removes their records: what the check then finds is drift the log did
    // not hold (or a write recorded since), and the log's keys leave no
    // record open.
    std::optional<repair_report> logged;
    if (r.operation == "full") {
      BOOST_OUTCOME_TRY(logged, engine_->repair_inconsistencies(
                                    {.truth = r.truth, .dry_run = r.dry_run, .progress = &progress, .stop = stop},
                                    r.range));
    }
    BOOST_OUTCOME_TRY(auto found, rec.check(r.range, {.max_differences = r.max_differences,
                                                      .max_time = r.max_time,
                                                      .stop = stop,
                                                      .progress = &progress}));
    json out = check_json(found);
    out["dry_run"] = r.dry_run;
    if (logged) {
      out["logged"] = repair_json(*logged);
      if (stop.stop_requested()) {
        out["complete"] = false;  // cancelled before its repair
        return out;
      }
      BOOST_OUTCOME_TRY(auto fixed, rec.repair(found, {.truth = r.truth,
                                                       .dry_run = r.dry_run,
                                                       .progress = &progress,
                                                       .hold = engine_->keep_writers_out(),
                                                       .stop = stop}));
      out["repair"] = repair_json(fixed);
      if (fixed.unvisited > 0) out["complete"] = false;
    }
    return out;
  }

  /// A rebuild of the secondary, resuming from the checkpoint file when it
  /// was saved for the same range (and `restart` is not asked for).
  result<json> rebuild(reconciler<Primary, Secondary>& rec, const reconcile_request& r, std::stop_token stop,
                       reconcile_progress& progress) {
    std::string resume;
    if (!r.restart) resume = saved_checkpoint(r.range);
    rebuild_options o{.resume_after = resume,
                      .dry_run = r.dry_run,
                      .stop = std::move(stop),
                      .progress = &progress,
                      .hold = engine_->keep_writers_out()};
    if (!r.dry_run)
      o.on_batch = [this, range = r.range](std::string_view last) { return save_checkpoint(range, last); };
    BOOST_OUTCOME_TRY(auto done, rec.rebuild(r.range, std::move(o)));
    if (done.complete && !r.dry_run) {
      std::error_code ignored;
      std::filesystem::remove(checkpoint_path_, ignored);
    }
    json out = {{"complete", done.complete},
                {"dry_run", r.dry_run},
                {"rows_read", done.rows_read},
                {"copied", done.repaired.copied_to_right},
                {"removed", done.repaired.removed_from_right},
                {"already_equal", done.repaired.already_equal},
                {"raced", done.repaired.raced},
                {"refused", refused_json(done.repaired.refused)},
                {"resumed_after", resume.empty() ? json() : json(resume)},
                {"last_key", done.last_key}};
    return out;
  }

  /// The key a rebuild of `range` resumes after: empty when no checkpoint
  /// was saved for that range (or it cannot be read).
  std::string saved_checkpoint(const key_range& range) const {
    std::ifstream in(checkpoint_path_);
    if (!in) return {};
    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    const json j = json::parse(text, nullptr, false);
    if (!j.is_object() || !j.contains("range") || j["range"] != to_json(range) || !j.contains("after_hex") ||
        !j["after_hex"].is_string())
      return {};
    return from_hex(j["after_hex"].get<std::string>());
  }

  /// Saves where a rebuild of `range` got to: written aside, then renamed
  /// over the old checkpoint, so a crash leaves one or the other.
  result<void> save_checkpoint(const key_range& range, std::string_view last) const {
    const std::string temp = checkpoint_path_ + ".tmp";
    {
      std::ofstream out(temp, std::ios::trunc);
      // The key as hex: a key written by other means need not be UTF-8.
      out << json{{"range", to_json(range)}, {"after_hex", to_hex(last)}}.dump(
          -1, ' ', false, json::error_handler_t::replace);
      if (!out.flush())
        return error{std::make_error_code(std::errc::io_error), "cannot write " + detail::quoted(temp)};
    }
    std::error_code ec;
    std::filesystem::rename(temp, checkpoint_path_, ec);
    if (ec) return error{ec, "cannot replace " + detail::quoted(checkpoint_path_)};
    return success();
  }

  static std::string to_hex(std::string_view bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (const char ch : bytes) {
      out += digits[static_cast<unsigned char>(ch) >> 4];
      out += digits[static_cast<unsigned char>(ch) & 15];
    }
    return out;
  }
  /// The bytes of `hex`; empty when it is not hex (a checkpoint edited by hand: start over).
  static std::string from_hex(std::string_view hex) {
    auto digit = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; };
    std::string out;
    if (hex.size() % 2 != 0) return {};
    for (std::size_t i = 0; i < hex.size(); i += 2) {
      const int hi = digit(hex[i]), lo = digit(hex[i + 1]);
      if (hi < 0 || lo < 0) return {};
      out += static_cast<char>(hi * 16 + lo);
    }
    return out;
  }

  static json meta_json(const std::optional<entry_meta>& m) {
    if (!m) return json();
    return {{"version", m->version}, {"deleted", m->tombstone}};
  }

  /// Differences listed in a report, at most; `difference_count` has them all.
  static constexpr std::size_t listed = 1000;

  static json check_json(const check_report& c) {
    static constexpr const char* kinds[] = {"only_primary", "only_secondary", "differ"};
    static constexpr const char* stops[] = {"none", "max_differences", "max_time", "cancelled"};
    json diffs = json::array();
    for (std::size_t i = 0; i < c.differences.size() && i < listed; ++i) {
      const difference& d = c.differences[i];
      diffs.push_back({{"key", d.key},
                       {"kind", kinds[static_cast<int>(d.kind)]},
                       {"primary", meta_json(d.left)},
                       {"secondary", meta_json(d.right)}});
    }
    return {{"complete", c.complete()},
            {"stopped", stops[static_cast<int>(c.stopped)]},
            {"differences", diffs},
            {"difference_count", c.differences.size()},
            {"checksums", c.checksums},
            {"rows_read", c.rows_read},
            {"streamed_ranges", c.streamed_ranges},
            {"remaining", c.remaining ? to_json(*c.remaining) : json()}};
  }

  static json refused_json(const std::vector<repair_refusal>& refused) {
    json out = json::array();
    for (std::size_t i = 0; i < refused.size() && i < listed; ++i)
      out.push_back({{"key", refused[i].key}, {"error", refused[i].why.message()}});
    return out;
  }

  static json repair_json(const repair_report& r) {
    return {{"copied_to_primary", r.copied_to_left},
            {"copied_to_secondary", r.copied_to_right},
            {"removed_from_primary", r.removed_from_left},
            {"removed_from_secondary", r.removed_from_right},
            {"restamped", r.restamped},
            {"already_equal", r.already_equal},
            {"raced", r.raced},
            {"refused", refused_json(r.refused)},
            {"refused_count", r.refused.size()},
            {"unvisited", r.unvisited}};
  }

  std::shared_ptr<metrics_registry> metrics_ = std::make_shared<metrics_registry>();
  std::unique_ptr<Primary> primary_;
  std::unique_ptr<Secondary> secondary_;
  sqlite_store log_;
  std::string primary_name_;
  std::string secondary_name_;
  named_consistency consistency_;
  std::string checkpoint_path_;
  const value_rules rules_;
  version_clock versions_;
  bool scheduled_repair_;
  std::unique_ptr<engine_type> engine_;
  // Last: its destructor cancels and joins a running job, which uses all of the above.
  reconcile_jobs jobs_;
};

}  // namespace storesync::server
