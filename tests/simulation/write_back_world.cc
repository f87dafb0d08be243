#include "tests/simulation/write_back_world.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>
#include <span>
#include <string_view>
#include <utility>

namespace storesync::sim {
namespace {

using namespace std::chrono_literals;

// Each stage's key space (prefixed with the stage's name, so that stages
// sharing a sink never share a key): a few hot keys, cold ones, keys that
// mostly late rows write, and keys the sink refuses in some worlds.
constexpr std::uint64_t hot_keys = 6;
constexpr std::uint64_t cold_keys = 40;
constexpr std::uint64_t late_keys = 80;
constexpr std::uint64_t refused_keys = 2;

// The transform refuses values whose content number is a multiple of this.
constexpr std::uint64_t transform_refuses = 11;

std::string show(const watermark& w) { return encode_watermark(w); }

std::string show(const transfer_report& c) {
  return "read " + std::to_string(c.read) + ", applied " + std::to_string(c.applied) + ", unchanged " +
         std::to_string(c.unchanged) + ", same content " + std::to_string(c.same_content) + ", stale " +
         std::to_string(c.stale) + ", dead-lettered " + std::to_string(c.dead_lettered) + ", owed " +
         std::to_string(c.owed);
}

std::string show(const std::optional<entry>& e) {
  if (!e) return "nothing";
  return (e->tombstone ? "tombstone v" : "value v") + std::to_string(e->version) + (e->tombstone ? "" : " " + e->value);
}

// A check of the world's own: values marked bad must not reach the sink.
result<void> not_marked_bad(const entry& e) {
  if (!e.tombstone && e.value.find(R"("bad":true)") != std::string::npos)
    return error{errc::invalid_value, "key " + e.key + ": marked bad"};
  return success();
}

// The stage transform of some worlds: the sink gets each value with a field
// added, and values with some content numbers are refused.
result<entry> reshape(entry e) {
  if (e.tombstone) return e;
  const auto at = e.value.find(R"("n":)");
  if (at == std::string::npos) return error{errc::invalid_value, "key " + e.key + ": no content number"};
  const std::uint64_t n = std::stoull(e.value.substr(at + 4));
  if (n % transform_refuses == 0)
    return error{errc::invalid_value, "key " + e.key + ": the transform refuses n=" + std::to_string(n)};
  std::string value = e.value;
  value.insert(value.size() - 1, R"(,"via":"write_back")");
  return entry::put(std::move(e.key), std::move(value), e.version);
}

}  // namespace

write_back_world::write_back_world(std::uint64_t seed, std::filesystem::path, bool trace)
    : world_base(seed, trace, "write_back_sim") {
  const std::size_t stages = chance(0.5) ? 2 : 1;
  sinks_.push_back(std::make_unique<wb_store>());
  if (stages == 2 && chance(0.5)) sinks_.push_back(std::make_unique<wb_store>());
  runs_ = std::make_unique<wb_store>();
  letters_ = std::make_unique<wb_store>();
  fault_level_ = draw(3);
  faulty_logs_ = chance(0.5);
  transform_ = chance(0.3);
  attempts_ = chance(0.5) ? 3 : 4;
  const bool refusing = chance(0.5);
  stages_.resize(stages);
  write_back_stage_options options;
  options.checks = {not_marked_bad, checks::required_fields({"k"})};
  if (transform_) options.transform = reshape;
  for (std::size_t i = 0; i < stages; ++i) {
    stage_model& s = stages_[i];
    s.name = "s" + std::to_string(i);
    s.source = std::make_unique<wb_store>();
    s.sink = sinks_[std::min(i, sinks_.size() - 1)].get();
    s.lookback = chance(0.3) ? 0 : static_cast<version_type>(2 + draw(20));
    if (refusing)
      for (std::uint64_t k = 0; k < refused_keys; ++k) s.refused.insert(s.name + "/refused:" + std::to_string(k));
    options.lookback = s.lookback;
    wb_stages_.push_back({.name = s.name, .source = *s.source, .sink = *s.sink, .options = options});
    log("stage " + s.name + ": lookback " + std::to_string(s.lookback) + ", sink " +
        std::to_string(std::min(i, sinks_.size() - 1)) + (refusing ? ", refused keys" : ""));
  }
  log("faults " + std::to_string(fault_level_) + (faulty_logs_ ? " (logs too)" : "") +
      (transform_ ? ", transform" : "") + ", " + std::to_string(attempts_) + " attempts");
  set_faults();
  make_write_back();
}

write_back_world::~write_back_world() = default;

void write_back_world::make_write_back() {
  write_back_options o;
  o.stop = &stop_;
  o.on_batch = [this](const write_back_report&, const write_back_stage_report& sr) { on_batch(sr); };
  exponential_backoff retry(
      {.base = 1ms, .cap = 20ms, .max_attempts = attempts_, .max_elapsed = 100ms, .seed = seed_ + 1});
  // Small batches, so that a run takes several and they interleave with the
  // read-ahead.
  aimd_batch_sizer sizer({.min_size = 1, .max_size = 16, .initial_size = 4 + draw(13), .additive_step = 4});
  wb_ = std::make_unique<wb_type>(*runs_, *letters_, std::move(o), std::move(retry), std::move(sizer), sim_.clock(),
                                  sim_.executor());
}

void write_back_world::set_faults() {
  // Healing clears scripts left by a crash (and the poison, set again).
  const auto config = [&](bool down, bool faulty, std::uint64_t salt) {
    fault_config f;
    f.seed = seed_ * 7919 + salt * 104'729 + fault_changes_ * 31;
    if (down) f.unavailable_rate = 1.0;
    else if (faulty && fault_level_ == 1) f.transient_rate = 0.05;
    else if (faulty && fault_level_ == 2) {
      f.transient_rate = 0.15;
      f.unavailable_rate = 0.03;
    }
    return f;
  };
  ++fault_changes_;
  std::uint64_t salt = 0;
  for (stage_model& s : stages_) {
    s.source->heal();
    s.source->set_faults(config(source_outage_, true, ++salt));
  }
  for (auto& sink : sinks_) {
    sink->heal();
    sink->set_faults(config(sink_outage_, true, ++salt));
  }
  for (stage_model& s : stages_)
    for (const std::string& key : s.refused) s.sink->poison(key);
  runs_->heal();
  runs_->set_faults(config(log_outage_, faulty_logs_, ++salt));
  letters_->heal();
  letters_->set_faults(config(log_outage_, faulty_logs_, ++salt));
}

void write_back_world::outage(bool begin) {
  // One store kind at a time is down, for a few steps.
  sink_outage_ = source_outage_ = log_outage_ = false;
  if (begin) {
    const std::uint64_t r = draw(3);
    (r == 0 ? sink_outage_ : r == 1 ? source_outage_ : log_outage_) = true;
    outage_steps_ = 5 + draw(30);
    ++counts_["outages"];
    log(std::string(r == 0 ? "sink" : r == 1 ? "source" : "log") + " outage for " + std::to_string(outage_steps_) +
        " steps");
  } else {
    log("outage ends");
  }
  set_faults();
}

std::string write_back_world::pick_key(const stage_model& s, bool late) {
  const std::string prefix = s.name + "/";
  if (late && chance(0.6)) return prefix + "late:" + std::to_string(draw(late_keys));
  const std::uint64_t r = draw(100);
  if (r < 45) return prefix + "hot:" + std::to_string(draw(hot_keys));
  if (r < 90) return prefix + "cold:" + std::to_string(draw(cold_keys));
  if (r < 95) return prefix + "late:" + std::to_string(draw(late_keys));
  if (!s.refused.empty()) return prefix + "refused:" + std::to_string(draw(refused_keys));
  return prefix + "cold:" + std::to_string(draw(cold_keys));
}

entry write_back_world::make(const std::string& key, const row& r) {
  // Content follows from (key, kind, n): a re-write that keeps kind and n
  // keeps the content, whatever its version.
  const std::string n = std::to_string(r.n);
  switch (r.what) {
    case content::value: return entry::put(key, R"({"k":")" + key + R"(","n":)" + n + "}", r.version);
    case content::marked_bad: return entry::put(key, R"({"k":")" + key + R"(","n":)" + n + R"(,"bad":true})", r.version);
    case content::unnamed: return entry::put(key, R"({"n":)" + n + "}", r.version);
    case content::tombstone: break;
  }
  return entry::erase(key, r.version);
}

std::optional<entry> write_back_world::sink_form(const entry& e) const {
  if (!transform_) return e;
  auto t = reshape(e);
  if (!t) return std::nullopt;
  return std::move(t).value();
}

std::optional<std::string> write_back_world::refusal(const stage_model& s, const std::string& key,
                                                     const row& r) const {
  // In judging order: the checks, the transform, then the sink.
  if (r.what == content::marked_bad) return "marked bad";
  if (r.what == content::unnamed) return "required field";
  if (r.what == content::value && transform_ && r.n % transform_refuses == 0) return "the transform refuses";
  if (s.refused.contains(key)) return "poisoned";
  return std::nullopt;
}

watermark write_back_world::bound(const stage_model& s, const watermark& committed) {
  // Where a run starting at `committed` reads from: after the watermark,
  // or with lookback from `lookback` versions behind it (write_back.hpp).
  if (s.lookback == 0) return committed;
  return {std::max<version_type>(0, committed.version - s.lookback), {}};
}

std::optional<watermark> write_back_world::checkpoint_of(stage_model& s) {
  auto saved = s.sink->inner().load_checkpoint(wb_type::checkpoint_name(s.name));
  if (!saved) {
    fail("stage " + s.name + ": loading the checkpoint from the healthy store: " + saved.error().message());
    return std::nullopt;
  }
  if (!saved.value()) return watermark{};
  auto mark = decode_watermark(*saved.value());
  if (!mark) {
    fail("stage " + s.name + ": the checkpoint does not decode: " + mark.error().message());
    return std::nullopt;
  }
  return std::move(mark).value();
}

std::string write_back_world::running_run() {
  auto runs = read_write_back_runs(runs_->inner(), 1);
  if (!runs) {
    fail("reading the run log: " + runs.error().message());
    return {};
  }
  if (runs.value().empty() || runs.value().front().status != "running") return {};
  return runs.value().front().run_id;
}

std::vector<std::string> write_back_world::store_state() {
  const auto rows = [](wb_store& store) {
    const range_checksum sum = store.inner().checksum({}).value();
    return std::to_string(sum.count) + " rows, digest " + std::to_string(sum.digest);
  };
  std::vector<std::string> state;
  for (auto& sink : sinks_) state.push_back(rows(*sink));
  for (stage_model& s : stages_) state.push_back(show(checkpoint_of(s).value_or(watermark{})));
  state.push_back(rows(*runs_));
  state.push_back(rows(*letters_));
  return state;
}

void write_back_world::commit(bool late) {
  stage_model& s = stages_[draw(stages_.size())];
  version_type v = 0;
  if (late) {
    // Behind what a run committed: within the lookback or beyond it.
    if (s.committed.version < 2) return;
    v = std::max<version_type>(1, s.committed.version - static_cast<version_type>(draw(2 * s.lookback + 10)));
  } else {
    s.clock += 1 + (chance(0.2) ? static_cast<version_type>(draw(4)) : 0);
    v = s.clock;
  }
  // One source transaction: its keys share the version.
  const std::uint64_t n = late ? 1 + draw(2) : chance(0.3) ? 2 + draw(4) : 1;
  std::vector<entry> batch;
  std::vector<std::pair<std::string, row>> rows;
  std::set<std::string> keys;
  for (std::uint64_t i = 0; i < n; ++i) {
    std::string key;
    for (int tries = 0; tries < 6 && key.empty(); ++tries) {
      std::string candidate = pick_key(s, late);
      const auto known = s.rows.find(candidate);
      // A late row lands only where the source holds an older version.
      if (!keys.contains(candidate) && (known == s.rows.end() || known->second.version < v))
        key = std::move(candidate);
    }
    if (key.empty()) continue;
    keys.insert(key);
    row r;
    r.version = v;
    const auto known = s.rows.find(key);
    if (known != s.rows.end() && chance(0.12)) {
      r.what = known->second.what;  // a re-write: the version moves, the content stays
      r.n = known->second.n;
      ++counts_["re-writes"];
    } else {
      const std::uint64_t k = draw(100);
      r.what = k < 72 ? content::value : k < 86 ? content::tombstone : k < 93 ? content::marked_bad : content::unnamed;
      r.n = ++s.contents;
    }
    r.source = make(key, r);
    r.sink = sink_form(r.source);
    batch.push_back(r.source);
    rows.emplace_back(key, std::move(r));
  }
  if (batch.empty()) return;
  auto w = s.source->inner().write(batch);
  if (!w || w.value().applied != batch.size()) {
    fail("stage " + s.name + ": the source did not apply a commit at v" + std::to_string(v) + ": " +
         (w ? std::to_string(w.value().applied) + " of " + std::to_string(batch.size()) : w.error().message()));
    return;
  }
  for (auto& [key, r] : rows) {
    held_[key][v] = r.sink;
    s.rows[key] = std::move(r);
  }
  quiet_ = false;
  ++counts_["source commits"];
  counts_["source entries"] += batch.size();
  if (late) counts_["late rows"] += batch.size();
  if (trace_) {
    std::string line = std::string(late ? "late commit " : "commit ") + s.name + " v" + std::to_string(v) + ":";
    for (const entry& e : batch) line += " " + e.key + (e.tombstone ? " (tombstone)" : " " + e.value);
    line += " (committed " + show(s.committed) + ")";
    log(line);
  }
}

void write_back_world::begin_stage(stage_model& s, bool dry) {
  const auto now = checkpoint_of(s);
  if (!now) return;
  if (*now != s.committed) fail("stage " + s.name + ": the checkpoint moved between runs, to " + show(*now));
  const watermark from = bound(s, s.committed);
  s.window.clear();
  s.landed = 0;
  s.expect_rejected = s.expect_refused = s.expect_applied = s.expect_skipped = 0;
  for (auto& [key, r] : s.rows) {
    const watermark at{r.version, key};
    // The first run after a commit decides whether any run reads it: the
    // read bound only moves forward (see check_stage_store).
    if (!r.judged) {
      r.judged = true;
      r.excused = !(at > from);
      if (r.excused) ++counts_["late rows no lookback reaches"];
    }
    if (at > from) s.window.push_back(at);
  }
  std::sort(s.window.begin(), s.window.end());
  // What a complete run does with each entry, given what the sink holds now.
  std::vector<std::string_view> keys;
  for (const watermark& at : s.window) keys.push_back(at.key);
  const auto held = s.sink->inner().lookup(keys).value();
  for (std::size_t i = 0; i < s.window.size(); ++i) {
    const std::string& key = s.window[i].key;
    const row& r = s.rows.at(key);
    if (const auto why = refusal(s, key, r)) {
      (*why == "poisoned" ? s.expect_refused : s.expect_rejected)++;
      if (letter_id id{s.name, key, r.version}; !dry && !letters_found_.contains(id)) {
        may_letter_.emplace(id, *why);
        letter_candidates_.push_back(std::move(id));
      }
      continue;
    }
    if (held[i] && held[i]->hash == r.sink->hash && held[i]->tombstone == r.sink->tombstone) ++s.expect_skipped;
    else ++s.expect_applied;
  }
}

void write_back_world::on_batch(const write_back_stage_report& sr) {
  ++batches_;
  if (stop_after_ != 0 && batches_ >= stop_after_) stop_ = true;
  if (dry_) return;
  const auto s = std::find_if(stages_.begin(), stages_.end(), [&](const stage_model& m) { return m.name == sr.stage; });
  if (s == stages_.end()) {
    fail("a batch of unknown stage " + sr.stage);
    return;
  }
  if (sr.counts.read > s->window.size()) {
    fail("stage " + s->name + ": read " + std::to_string(sr.counts.read) + " entries, but only " +
         std::to_string(s->window.size()) + " are after " + show(bound(*s, s->committed)));
    return;
  }
  if (sr.failure) return;  // this batch did not commit
  // The source does not change during a run, so the entries read so far
  // are the first ones of the window.
  for (std::size_t i = s->landed; i < sr.counts.read; ++i) {
    const watermark& at = s->window[i];
    row& r = s->rows.at(at.key);
    r.landed = true;
    if (refusal(*s, at.key, r)) must_letter_.push_back({s->name, at.key, r.version});
  }
  s->landed = sr.counts.read;
}

std::optional<write_back_status> write_back_world::run_once(run_mode mode) {
  const bool dry = mode == run_mode::dry;
  const bool quiet = quiet_;
  const std::string resumes = running_run();
  for (stage_model& s : stages_) begin_stage(s, dry);
  if (failed_) return std::nullopt;
  std::vector<std::string> before;
  if (dry) before = store_state();
  stop_ = false;
  batches_ = 0;
  dry_ = dry;
  stop_after_ = mode == run_mode::interrupted ? 1 + draw(4) : 0;
  if (mode == run_mode::crash) {
    // The process dies during the run: each store takes a few more calls,
    // then none. The run log takes the run's start, not its end.
    const std::uint64_t sink_calls = draw(10), letter_calls = draw(4);
    for (auto& sink : sinks_) {
      sink->set_faults({.unavailable_rate = 1.0});
      for (std::uint64_t i = 0; i < sink_calls; ++i) sink->script({fault::none});
    }
    letters_->set_faults({.unavailable_rate = 1.0});
    for (std::uint64_t i = 0; i < letter_calls; ++i) letters_->script({fault::none});
    runs_->set_faults({.unavailable_rate = 1.0});
    runs_->script({fault::none, fault::none});
    log("crash after " + std::to_string(sink_calls) + " sink calls, " + std::to_string(letter_calls) +
        " dead-letter calls");
  }
  wb_->options().dry_run = dry;
  const std::size_t log_faults = runs_->injected();
  auto r = wb_->run(std::span(wb_stages_));
  wb_->options().dry_run = false;
  ++counts_["runs"];
  const auto after_crash = [&] {
    if (mode != run_mode::crash) return;
    // Only the stores remain.
    ++counts_["crashes"];
    wb_.reset();
    set_faults();
    make_write_back();
  };
  if (!r) {
    log("run -> " + r.error().message());
    if (runs_->injected() == log_faults) fail("run: " + r.error().message());
    ++counts_["runs that could not read the run log"];
    for (stage_model& s : stages_)
      if (const auto now = checkpoint_of(s); now && *now != s.committed)
        fail("stage " + s.name + ": a run that did not start moved the checkpoint to " + show(*now));
    after_crash();
    return std::nullopt;
  }
  const write_back_report& report = r.value();
  const write_back_status status = report.status();
  if (trace_) {
    static constexpr const char* modes[] = {"run", "interrupted run", "crashing run", "dry run"};
    std::string line = std::string(modes[static_cast<int>(mode)]) + " " + report.run_id + " -> " +
                       std::string(to_string(status)) +
                       (report.resumes.empty() ? "" : ", resumes " + report.resumes) +
                       (report.log_failure ? ", log: " + report.log_failure->message() : "");
    for (const write_back_stage_report& sr : report.stages)
      line += "\n    " + sr.stage + " " + show(sr.from) + " -> " + show(sr.to) + ": " + show(sr.counts) + ", " +
              std::to_string(sr.batches) + " batches" + (sr.interrupted ? ", interrupted" : "") +
              (sr.failure ? ", " + sr.failure->message() : "");
    log(line);
  }
  check_report(report, mode, quiet, resumes);
  if (dry && store_state() != before) fail("a dry run changed a store");
  if (!dry) {
    for (std::size_t i = 0; i < report.stages.size() && i < stages_.size(); ++i) check_stage_store(stages_[i]);
    check_sink_sizes();
  }
  check_letters();
  ++counts_[std::string("runs ") + std::string(to_string(status))];
  if (!report.resumes.empty()) ++counts_["runs resuming one"];
  if (!dry && (status == write_back_status::succeeded || status == write_back_status::partial)) quiet_ = true;
  after_crash();
  return status;
}

void write_back_world::check_report(const write_back_report& report, run_mode mode, bool quiet,
                                    const std::string& resumes) {
  const bool dry = mode == run_mode::dry;
  if (report.resumes != resumes)
    fail("the run says it resumes \"" + report.resumes + "\", but the run log's latest unfinished run is \"" +
         resumes + "\"");
  if (report.dry_run != dry) fail("dry_run is " + std::string(report.dry_run ? "true" : "false"));
  // Stages run in order, up to the first that failed or was interrupted.
  const std::size_t ran = report.stages.size();
  if (ran == 0 || ran > stages_.size()) {
    fail(std::to_string(ran) + " stages in the report");
    return;
  }
  for (std::size_t i = 0; i < ran; ++i) {
    const write_back_stage_report& sr = report.stages[i];
    if (sr.stage != stages_[i].name) fail("stage " + std::to_string(i) + " is named " + sr.stage);
    const bool stopped = sr.failure || sr.interrupted;
    if (i + 1 < ran && stopped) fail("stage " + sr.stage + " stopped, and a later stage ran");
    if (i + 1 == ran && ran < stages_.size() && !stopped) fail("stage " + sr.stage + " completed, and the next did not run");
    if (sr.interrupted && !stop_) fail("stage " + sr.stage + " says interrupted, but no stop was asked");
    check_stage_report(stages_[i], sr, dry, quiet);
  }
  for (std::size_t i = ran; i < stages_.size(); ++i)
    if (const auto now = checkpoint_of(stages_[i]); now && *now != stages_[i].committed)
      fail("stage " + stages_[i].name + " did not run, but its checkpoint moved to " + show(*now));
  if (dry) return;
  // The run log: a crashed run stays `running`; a run that could log its
  // end is the latest record, with its status.
  auto latest = read_write_back_runs(runs_->inner(), 1);
  if (!latest || latest.value().empty()) {
    fail("the run log is empty after a run" + (latest ? "" : ": " + latest.error().message()));
    return;
  }
  const write_back_run& last = latest.value().front();
  if (mode == run_mode::crash) {
    if (last.run_id != report.run_id || last.status != "running")
      fail("after a crashed run the run log's latest is " + last.run_id + " " + last.status + ", not " +
           report.run_id + " running");
  } else if (!report.log_failure) {
    if (last.run_id != report.run_id || last.status != to_string(report.status()))
      fail("the run log's latest is " + last.run_id + " " + last.status + ", not " + report.run_id + " " +
           std::string(to_string(report.status())));
  }
}

void write_back_world::check_stage_report(stage_model& s, const write_back_stage_report& sr, bool dry, bool quiet) {
  const std::string where = "stage " + s.name + ": ";
  const auto now = checkpoint_of(s);
  if (!now) return;
  if (*now < s.committed) fail(where + "the checkpoint moved back from " + show(s.committed) + " to " + show(*now));
  const transfer_report& c = sr.counts;
  if (c.read != c.settled() + c.owed) fail(where + "the counts do not add up: " + show(c));
  if (c.stale != 0) fail(where + "stale entries, but the sink never holds a version newer than the source: " + show(c));
  if (sr.rejected > c.dead_lettered)
    fail(where + std::to_string(sr.rejected) + " rejected, more than dead-lettered: " + show(c));
  if (c.read > s.window.size())
    fail(where + "read " + std::to_string(c.read) + " entries, but only " + std::to_string(s.window.size()) +
         " are after " + show(bound(s, s.committed)));
  // A failed checkpoint load leaves the report's watermarks empty.
  const bool loaded = !sr.health.sink_error;
  if (loaded && sr.from != s.committed)
    fail(where + "began from " + show(sr.from) + ", but the committed checkpoint was " + show(s.committed));
  if (sr.health.newest_version) {
    version_type newest = 0;
    for (const auto& [key, r] : s.rows) newest = std::max(newest, r.version);
    if (*sr.health.newest_version != newest)
      fail(where + "the source's newest version is " + std::to_string(newest) + ", the health probe says " +
           std::to_string(*sr.health.newest_version));
  }
  const bool complete = !sr.failure && !sr.interrupted;
  const watermark last = s.window.empty() ? s.committed : std::max(s.committed, s.window.back());
  const std::string expected = "expected " + std::to_string(s.expect_applied) + " applied, " +
                               std::to_string(s.expect_skipped) + " unchanged, " +
                               std::to_string(s.expect_rejected) + " rejected, " +
                               std::to_string(s.expect_refused) + " refused by the sink";
  if (complete && c.read != s.window.size())
    fail(where + "completed after reading " + std::to_string(c.read) + " of the " + std::to_string(s.window.size()) +
         " entries after " + show(bound(s, s.committed)));
  if (complete && sr.to != last)
    fail(where + "completed at " + show(sr.to) + ", but the last entry read is " + show(last));
  if (dry) {
    if (*now != s.committed) fail(where + "a dry run moved the checkpoint to " + show(*now));
    // Nothing is sent: entries the sink would refuse count as written.
    if (complete && (sr.rejected != s.expect_rejected || c.dead_lettered != s.expect_rejected ||
                     c.applied != s.expect_applied + s.expect_refused))
      fail(where + "a dry run counted " + show(c) + ", " + std::to_string(sr.rejected) + " rejected; " + expected);
    return;
  }
  if (loaded ? sr.to != *now : *now != s.committed)
    fail(where + "ended at " + show(sr.to) + ", but the committed checkpoint is " + show(*now));
  // A failed batch may have committed the parts written before it stopped.
  while (*now > s.committed && s.landed < s.window.size() && s.window[s.landed] <= *now) {
    const watermark& at = s.window[s.landed++];
    row& r = s.rows.at(at.key);
    r.landed = true;
    if (refusal(s, at.key, r)) must_letter_.push_back({s.name, at.key, r.version});
  }
  // The checkpoint is where the committed batches end.
  const watermark reached = s.landed == 0 ? s.committed : std::max(s.committed, s.window[s.landed - 1]);
  if (*now != reached)
    fail(where + "the checkpoint is " + show(*now) + ", but the committed batches end at " + show(reached));
  if (complete) {
    if (c.owed != 0) fail(where + "completed owing entries: " + show(c));
    if (sr.rejected != s.expect_rejected || c.dead_lettered != s.expect_rejected + s.expect_refused ||
        c.applied != s.expect_applied || c.unchanged + c.same_content != s.expect_skipped)
      fail(where + "counted " + show(c) + ", " + std::to_string(sr.rejected) + " rejected; " + expected);
    // No duplicate writes: what a complete run landed is not written again.
    if (quiet && c.applied != 0)
      fail(where + "wrote " + std::to_string(c.applied) +
           " entries in a run right after a complete one, with no source change since");
  }
  counts_["entries written"] += c.applied;
  s.committed = *now;
}

void write_back_world::check_stage_store(stage_model& s) {
  const watermark from = bound(s, s.committed);
  std::vector<std::string_view> keys;
  keys.reserve(s.rows.size());
  for (const auto& [key, r] : s.rows) keys.push_back(key);
  const auto metas = s.sink->inner().lookup(keys).value();
  s.sink_keys = 0;
  std::size_t i = 0;
  for (const auto& [key, r] : s.rows) {
    const std::optional<entry_meta>& held = metas[i++];
    const auto broken = [&](const std::string& what) {
      fail("stage " + s.name + ": " + what + ": " + key + " (the source holds " + show(r.source) + ", the sink " +
           show(s.sink->inner().read(key).value()) + ", the checkpoint is " + show(s.committed) + ")");
    };
    // No gaps: the sink holds only what the source held, never newer than
    // the source's entry.
    if (held) {
      ++s.sink_keys;
      bool was_held = false;
      if (const auto versions = held_.find(key); versions != held_.end())
        if (const auto was = versions->second.find(held->version); was != versions->second.end())
          was_held = was->second && meta_of(*was->second) == *held;
      if (!was_held) return broken("the sink holds an entry the source never held");
      if (held->version > r.version) return broken("the sink holds a newer version than the source");
    }
    const watermark at{r.version, key};
    if (r.landed) {
      if (r.excused) return broken("a row behind every lookback window was read");
      if (at > s.committed) return broken("a committed batch holds an entry after the checkpoint");
      if (!refusal(s, key, r) && (!held || held->tombstone != r.sink->tombstone || held->hash != r.sink->hash))
        return broken("a committed batch held the entry, but the sink does not");
    } else if (!r.excused && !(at > from) && at <= s.committed) {
      // Late rows: a row committed with (version, key) at or before the
      // read bound of the first run after it (the watermark, or with
      // lookback the watermark's version minus the lookback) is never
      // read, and is missed for good; every other row at or before the
      // watermark is read by a run before the bound passes it.
      return broken("the read bound " + show(from) + " passed an entry no run read");
    }
  }
}

void write_back_world::check_sink_sizes() {
  // A sink holds nothing but its stages' keys (each stage has its own).
  for (const auto& sink : sinks_) {
    std::size_t keys = 0;
    for (const stage_model& s : stages_)
      if (s.sink == sink.get()) keys += s.sink_keys;
    if (sink->inner().size() != keys)
      fail("a sink holds " + std::to_string(sink->inner().size()) + " keys, of which its stages' only " +
           std::to_string(keys));
  }
}

void write_back_world::check_letters() {
  // Dead letters are keyed "<stage> <key> <version in 19 digits>" and never
  // removed, so a new one is among the entries this run may have
  // dead-lettered; anything else makes the log larger than what was found.
  for (const letter_id& id : letter_candidates_) {
    char version[24];
    std::snprintf(version, sizeof version, " %019lld", static_cast<long long>(std::get<2>(id)));
    const auto record = letters_->inner().read(std::get<0>(id) + " " + std::get<1>(id) + version).value();
    if (!record) continue;
    if (record->value.find(may_letter_.at(id)) == std::string::npos)
      return fail("a dead letter without its reason (" + may_letter_.at(id) + "): " + record->value);
    letters_found_.insert(id);
  }
  letter_candidates_.clear();
  if (letters_->inner().size() != letters_found_.size()) {
    auto records = letters_->inner().scan({}, {}, std::numeric_limits<std::size_t>::max());
    if (!records) return fail("reading the dead letters: " + records.error().message());
    for (const entry& e : records.value()) {
      const auto first = e.key.find(' '), last = e.key.rfind(' ');
      if (first == std::string::npos || last <= first) return fail("a dead letter keyed \"" + e.key + "\"");
      const letter_id id{e.key.substr(0, first), e.key.substr(first + 1, last - first - 1),
                         std::stoll(e.key.substr(last + 1))};
      if (letters_found_.contains(id)) continue;
      const std::string wrong = may_letter_.contains(id)
                                    ? "a dead letter of an earlier run that no check found then: "
                                    : "a dead letter for an entry that passes every check and the sink takes: ";
      log(wrong + e.value);  // a first failure found elsewhere may hide it
      return fail(wrong + e.value);
    }
  }
  for (const letter_id& id : must_letter_)
    if (!letters_found_.contains(id))
      return fail("stage " + std::get<0>(id) + ": " + std::get<1>(id) + " v" + std::to_string(std::get<2>(id)) +
                  " was in a committed batch and fails, but is not a dead letter");
  must_letter_.clear();
}

void write_back_world::check_end() {
  sink_outage_ = source_outage_ = log_outage_ = false;
  outage_steps_ = 0;
  fault_level_ = 0;
  set_faults();
  log("every store healed");
  bool complete = false;
  for (int i = 0; i < 5 && !failed_ && !complete; ++i) {
    const auto status = run_once(run_mode::full);
    complete = status == write_back_status::succeeded || status == write_back_status::partial;
  }
  if (failed_) return;
  if (!complete) return fail("with every store healed, no run completed");
  // A run with nothing new: it writes nothing (checked in check_stage_report).
  const auto status = run_once(run_mode::full);
  if (failed_) return;
  if (status != write_back_status::succeeded && status != write_back_status::partial)
    return fail("a run after a complete one, every store healed, did not complete");
  for (const stage_model& s : stages_)
    for (const auto& [key, r] : s.rows)
      if (!r.landed && !r.excused)
        return fail("stage " + s.name + ": at the end " + key + " v" + std::to_string(r.version) +
                    " was never committed, and is not a late row the lookback misses");
  // What write_back lists agrees with the log.
  check_letters();
  auto letters = wb_->dead_letters(std::numeric_limits<std::size_t>::max());
  if (!letters) return fail("dead_letters: " + letters.error().message());
  std::set<letter_id> listed;
  for (const write_back_dead_letter& d : letters.value()) listed.insert({d.stage, d.key, d.version});
  if (listed != letters_found_ || letters.value().size() != letters_found_.size())
    return fail("dead_letters lists " + std::to_string(letters.value().size()) + " dead letters, the log holds " +
                std::to_string(letters_found_.size()));
  counts_["dead letters"] += letters_found_.size();
  auto runs = wb_->runs(1);
  if (!runs || runs.value().empty() || runs.value().front().status != to_string(*status))
    fail("runs(1) does not list the last run as " + std::string(to_string(*status)));
}

std::optional<failure> write_back_world::run(std::uint64_t steps) {
  for (step_ = 0; step_ < steps && !failed_; ++step_) {
    const std::uint64_t r = draw(1000);
    if (r < 520) commit(false);
    else if (r < 600) commit(true);
    else if (r < 680) sim_.run_for(std::chrono::milliseconds(draw(50)));
    else if (r < 770) run_once(run_mode::full);
    else if (r < 800) run_once(run_mode::interrupted);
    else if (r < 815) run_once(run_mode::crash);
    else if (r < 820) run_once(run_mode::dry);
    else if (r < 830 && outage_steps_ == 0) outage(true);
    else commit(false);
    if (outage_steps_ > 0 && --outage_steps_ == 0) outage(false);
  }
  counts_["steps"] = step_;
  if (!failed_) check_end();
  counts_["thread hand-overs"] = sim_.switches();
  return failed_;
}

}  // namespace storesync::sim
