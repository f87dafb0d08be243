#include "tests/simulation/dual_write_world.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

namespace storesync::sim {
namespace {

using namespace std::chrono_literals;

// The workload's key space: a few hot keys (batches repeat them), many cold.
constexpr std::uint64_t hot_keys = 8;
constexpr std::uint64_t cold_keys = 200;

// The secondary's value in projection mode; a value that says "refuse" is
// one the projection cannot make, which refuses the whole batch.
result<std::string> project(const entry& e) {
  if (e.value.find("refuse") != std::string::npos)
    return error{errc::invalid_argument, "the projection refuses " + e.value};
  return R"({"of":)" + e.value + "}";
}

std::set<std::string> keys_of(const memory_store& s) {
  std::set<std::string> out;
  const auto rows = s.scan(key_range{}, {}, SIZE_MAX).value();
  for (const entry& e : rows) out.insert(e.key);
  return out;
}

}  // namespace

dual_write_world::dual_write_world(std::uint64_t seed, std::filesystem::path directory, bool trace)
    : world_base(seed, trace, "dual_write_sim"), directory_(std::move(directory)) {
  disk_.attach(directory_.string(), seed + 17);
  disk_.set_trace([this](const std::string& line) { log(line); });
  consistency_ = seeded_consistency(static_cast<seeded_consistency::mode>(draw(3)));
  synced_intents_ = chance(0.5);
  if (chance(0.3)) disk_.set_fsync_failure_rate(0.005);
  if (chance(0.25)) project_ = project;
  checkpoint_every_ = 1 + draw(8);
  log(std::string("consistency ") +
      (consistency_.which() == seeded_consistency::mode::strict        ? "strict"
       : consistency_.which() == seeded_consistency::mode::best_effort ? "best_effort"
                                                                      : "primary_only") +
      (project_ ? ", projection mode" : "") + ", checkpoint every " + std::to_string(checkpoint_every_));
  for (side s : {primary_side, secondary_side, log_side}) set_faults(s);
  if (!open()) fail("the first start-up failed");
  if (disk_.intercepted() == 0)
    fail("the simulated disk saw none of the journal's calls: link the simulator statically (sim_file_system.hpp)");
}

dual_write_world::~dual_write_world() {
  dw_.reset();
  disk_.detach();
  std::filesystem::remove_all(directory_);
}

void dual_write_world::set_faults(side s) {
  fault_config f;
  f.seed = seed_ * 7919 + 3 * ++counts_["fault changes"] + s;
  if (outage_[s]) {
    f.unavailable_rate = 1.0;
  } else {
    f.transient_rate = 0.03;
    f.unavailable_rate = 0.01;
    f.permanent_rate = 0.005;
  }
  store(s).set_faults(f);
}

bool dual_write_world::open() {
  dual_write_options options{
      .intents = {.directory = directory_.string(),
                  .durability = synced_intents_ ? durability::always : durability::process,
                  .segment_size_bytes = 4096},
      .checkpoint_every = checkpoint_every_,
      .project = project_};
  exponential_backoff retry({.base = 1ms, .cap = 8ms, .max_attempts = 3, .max_elapsed = 40ms, .seed = seed_ + 1});
  auto opened = dw_type::open(primary_, secondary_, log_, std::move(options), consistency_, std::move(retry),
                              sim_.clock());
  log("open -> " + (opened ? std::string("ok") : opened.error().message()));
  if (!opened) {
    ++counts_["start-ups failed"];
    disk_.set_full(false);  // a start-up the disk failed: the operator frees space
    return false;
  }
  dw_ = std::move(opened).value();
  ++counts_["start-ups"];
  // Start-up repaired every key an open intent named, or recorded it.
  suspect_.clear();
  check_all("after start-up");
  return true;
}

void dual_write_world::close(bool power_cut) {
  log(power_cut ? "power cut" : "the process ends");
  disk_.freeze();
  dw_.reset();
  if (power_cut) {
    ++counts_["power cuts"];
    disk_.power_loss();
  } else {
    disk_.thaw();
  }
}

std::string dual_write_world::pick_key() {
  if (draw(100) < 40) return "hot:" + std::to_string(draw(hot_keys));
  return "cold:" + std::to_string(draw(cold_keys));
}

entry dual_write_world::make(const std::string& key, version_type v) {
  // Content and kind follow from (key, version): a version written twice is
  // the same entry, and one in six is a delete.
  return v % 6 == 0 ? entry::erase(key, v) : entry::put(key, R"({"k":")" + key + R"(","v":)" + std::to_string(v) + "}", v);
}

std::string dual_write_world::show(const std::optional<entry>& e) const {
  if (!e) return "nothing";
  return (e->tombstone ? "tombstone v" : "value v") + std::to_string(e->version);
}

std::vector<entry> dual_write_world::draw_batch() {
  std::vector<entry> batch;
  const std::uint64_t n = chance(0.7) ? 1 : 2 + draw(3);
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::string key = pick_key();
    const auto tried = attempted_.find(key);
    const version_type newest = tried == attempted_.end() ? 0 : *tried->second.rbegin();
    const auto known = acked_.find(key);
    version_type v = newest + 1 + draw(50);  // newer than any write of the key
    const std::uint64_t r = draw(4);
    if (r == 2 && known != acked_.end()) v = known->second;                             // re-sent as it was
    if (r == 3 && known != acked_.end() && known->second > 50) v = known->second - 1 - draw(50);  // older
    batch.push_back(make(key, v));
  }
  return batch;
}

std::set<std::string> dual_write_world::all_keys() const {
  std::set<std::string> keys = keys_of(primary_.inner());
  keys.merge(keys_of(secondary_.inner()));
  for (const auto& [key, v] : attempted_) keys.insert(key);
  return keys;
}

bool dual_write_world::agree(const std::string& key) {
  const auto p = primary_.inner().read(key).value();
  const auto s = secondary_.inner().read(key).value();
  if (!p || !s) return !p && !s;
  if (p->version != s->version || p->tombstone != s->tombstone) return false;
  if (p->tombstone || !project_) return *p == *s;
  auto projected = project_(*p);
  return projected && s->value == projected.value();
}

std::set<std::string> dual_write_world::disagreeing(const std::set<std::string>& keys) {
  std::set<std::string> out;
  for (const std::string& key : keys)
    if (!agree(key)) out.insert(key);
  return out;
}

std::set<std::string> dual_write_world::logged() {
  std::set<std::string> out;
  const auto rows = log_.inner().scan(key_range{}, {}, SIZE_MAX).value();
  for (const entry& e : rows)
    if (!e.tombstone) out.insert(e.key);
  return out;
}

void dual_write_world::check_recorded(const std::set<std::string>& keys, const char* when) {
  const std::set<std::string> apart = disagreeing(keys);
  if (apart.empty()) return;
  const std::set<std::string> records = logged();
  for (const std::string& key : apart) {
    if (records.contains(key) || suspect_.contains(key)) continue;
    fail(std::string(when) + ": the primary holds " + show(primary_.inner().read(key).value()) + " for " + key +
         ", the secondary " + show(secondary_.inner().read(key).value()) +
         ", and the inconsistency log has no record of it");
    return;
  }
}

void dual_write_world::check_primary(const std::set<std::string>& keys, const char* when) {
  for (const std::string& key : keys) {
    const auto known = acked_.find(key);
    const auto p = primary_.inner().read(key).value();
    if (known != acked_.end() && (!p || p->version < known->second)) {
      fail(std::string(when) + ": the primary holds " + show(p) + " for " + key +
           ", below the acknowledged v" + std::to_string(known->second));
      return;
    }
    // Each side holds only what a write carried (or its projection).
    const auto tried = attempted_.find(key);
    for (const auto& [name, held] : {std::pair{"primary", p}, std::pair{"secondary", secondary_.inner().read(key).value()}}) {
      if (!held) continue;
      std::optional<entry> expected = make(key, held->version);
      if (std::string_view(name) == "secondary" && project_ && !expected->tombstone)
        expected = entry::put(key, project_(*expected).value(), held->version);
      if (tried == attempted_.end() || !tried->second.contains(held->version) || *held != *expected) {
        fail(std::string(when) + ": the " + name + " holds " + show(held) + " for " + key +
             ", which no write carried");
        return;
      }
    }
  }
}

void dual_write_world::check_all(const char* when) {
  const std::set<std::string> keys = all_keys();
  check_recorded(keys, when);
  check_primary(keys, when);
}

void dual_write_world::write_batch() {
  const std::vector<entry> batch = draw_batch();
  // The primary's verdicts, foreseen from what it holds (the version guard,
  // entry by entry in batch order), and what it held before.
  std::map<std::string, std::optional<entry>> before;
  std::map<std::string, std::optional<version_type>> held;
  write_report expected;
  for (const entry& e : batch) {
    if (!before.contains(e.key)) {
      before[e.key] = primary_.inner().read(e.key).value();
      held[e.key] = before[e.key] ? std::optional(before[e.key]->version) : std::nullopt;
    }
    auto& h = held[e.key];
    if (!h || e.version > *h) ++expected.applied, h = e.version;
    else if (e.version == *h) ++expected.unchanged;
    else ++expected.stale;
    attempted_[e.key].insert(e.version);
  }
  std::set<std::string> keys;
  std::string shown;
  for (const entry& e : batch) {
    keys.insert(e.key);
    shown += " " + e.key + " " + show(e);
  }
  const std::uint64_t open_before = dw_->stats().open_intents;
  const std::uint64_t disk_faults = disk_.injected();
  auto r = dw_->write(batch);
  log("write" + shown + " -> " +
      (r ? "ok a" + std::to_string(r.value().applied) + " u" + std::to_string(r.value().unchanged) + " s" +
               std::to_string(r.value().stale)
         : r.error().message()));
  if (r) {
    ++counts_["writes acknowledged"];
    if (r.value() != expected)
      fail("write" + shown + ": the report says " + std::to_string(r.value().applied) + " applied, " +
           std::to_string(r.value().unchanged) + " unchanged, " + std::to_string(r.value().stale) +
           " stale; the primary held what makes " + std::to_string(expected.applied) + ", " +
           std::to_string(expected.unchanged) + ", " + std::to_string(expected.stale));
    for (const entry& e : batch) acked_[e.key] = std::max(acked_[e.key], e.version);
    // Strict: an acknowledged write reached both stores (or an older
    // failure's record or open intent still stands for the key).
    if (consistency_.which() == seeded_consistency::mode::strict) {
      if (const std::set<std::string> apart = disagreeing(keys); !apart.empty()) {
        const std::set<std::string> records = logged();
        for (const std::string& key : apart)
          if (!records.contains(key) && !suspect_.contains(key))
            fail("strict write" + shown + " acknowledged, but the stores disagree on " + key);
      }
    }
  } else {
    ++counts_["writes failed"];
    if (dw_->stats().open_intents > open_before) {
      // Unsettled: the intent stays open until start-up repairs its keys.
      suspect_.insert(keys.begin(), keys.end());
    } else {
      // Settled and failed: the primary was not written, or was undone,
      // or the key is recorded.
      for (const auto& [key, was] : before)
        if (primary_.inner().read(key).value() != was && !logged().contains(key))
          fail("write" + shown + " failed (" + r.error().message() + "), but the primary changed " + key + " from " +
               show(was) + " to " + show(primary_.inner().read(key).value()));
    }
  }
  check_recorded(keys, "after a write");
  check_primary(keys, "after a write");
  if (!r && disk_.injected() != disk_faults && !disk_.full()) {
    // An intent log whose sync failed takes no more appends: restart.
    close();
    open();
  }
}

void dual_write_world::write_refused() {
  // A batch with one entry no store may hold: refused whole, at the door.
  std::vector<entry> batch = draw_batch();
  const std::string key = pick_key();
  const version_type v = 1 + draw(1'000'000);
  const entry bad = project_ && chance(0.5) ? entry::put(key, R"({"refuse":true})", v) : entry::put(key, "{not json", v);
  batch.insert(batch.begin() + static_cast<std::ptrdiff_t>(draw(batch.size() + 1)), bad);
  std::map<std::string, std::pair<std::optional<entry>, std::optional<entry>>> before;
  for (const entry& e : batch) before[e.key] = {primary_.inner().read(e.key).value(), secondary_.inner().read(e.key).value()};
  const std::size_t calls = primary_.calls() + secondary_.calls() + log_.calls();
  const std::uint64_t intents = dw_->stats().open_intents;
  auto r = dw_->write(batch);
  log("write with " + key + " " + bad.value + " -> " + (r ? std::string("ok") : r.error().message()));
  ++counts_["batches refused at the door"];
  if (r) {
    fail("a batch holding " + key + " = " + bad.value + " was acknowledged");
    return;
  }
  if (r.error() != condition::invalid_input || r.error().message().find(key) == std::string::npos)
    fail("the refusal of " + key + " = " + bad.value + " is not an invalid-input error naming the key: " +
         r.error().message());
  if (primary_.calls() + secondary_.calls() + log_.calls() != calls || dw_->stats().open_intents != intents)
    fail("the refused batch holding " + key + " reached a store or the intent log");
  for (const auto& [k, sides] : before)
    if (primary_.inner().read(k).value() != sides.first || secondary_.inner().read(k).value() != sides.second)
      fail("the refused batch holding " + key + " changed " + k);
}

void dual_write_world::crash_mid_write() {
  // The process dies during a write: each store takes its first few calls,
  // then refuses everything (what a dead process no longer sends), and the
  // process's memory is lost. A crash keeps the intent log's file.
  for (side s : {primary_side, secondary_side, log_side}) {
    store(s).set_faults({.unavailable_rate = 1.0});
    for (std::uint64_t i = draw(5); i > 0; --i) store(s).script({fault::none});
  }
  ++counts_["crashes in a write"];
  log("crash during the next write");
  write_batch();
  if (!dw_) return;  // the disk failed the write, and the process restarted
  close(synced_intents_ && chance(0.5));
  for (side s : {primary_side, secondary_side, log_side}) {
    store(s).heal();
    set_faults(s);
  }
  open();
}

void dual_write_world::repair_log() {
  const std::set<std::string> records = logged();
  auto r = dw_->repair_inconsistencies();
  log("repair the inconsistency log (" + std::to_string(records.size()) + " records) -> " +
      (r ? std::to_string(r.value().refused.size()) + " refused" : r.error().message()));
  if (!r) return;  // a store failed: the records not settled stay
  ++counts_["log repairs"];
  std::set<std::string> refused;
  for (const repair_refusal& x : r.value().refused) refused.insert(x.key);
  const std::set<std::string> after = logged();
  for (const std::string& key : records) {
    if (refused.contains(key)) {
      if (!after.contains(key)) fail("the repair refused " + key + " and removed its record");
    } else if (after.contains(key)) {
      fail("the repair settled " + key + " and kept its record");
    } else if (!agree(key)) {
      fail("the repair settled " + key + ", but the primary holds " + show(primary_.inner().read(key).value()) +
           " and the secondary " + show(secondary_.inner().read(key).value()));
    }
  }
}

void dual_write_world::reconcile() {
  reconciler<sim_store, sim_store, exponential_backoff, aimd_batch_sizer, sim_clock> rec(
      primary_, secondary_, exponential_backoff({.base = 1ms, .cap = 8ms, .max_attempts = 3, .seed = seed_ + 2}), {},
      sim_.clock());
  rec.project_right(project_);
  const check_options options{
      .split_factor = 2 + draw(4), .row_threshold = 1 + draw(16), .page_size = 1 + draw(8)};
  auto found = rec.check(key_range{}, options);
  log("reconciler check -> " + (found ? std::to_string(found.value().differences.size()) + " differences"
                                      : found.error().message()));
  if (!found || found.value().remaining) return;
  ++counts_["reconciler checks"];
  std::set<std::string> reported;
  for (const difference& d : found.value().differences) reported.insert(d.key);
  const std::set<std::string> truth = disagreeing(all_keys());
  if (reported != truth) {
    std::string missed, extra;
    for (const std::string& k : truth)
      if (!reported.contains(k)) missed += " " + k;
    for (const std::string& k : reported)
      if (!truth.contains(k)) extra += " " + k;
    fail("the reconciler's check missed [" + missed + " ] and reported equal keys [" + extra + " ]");
    return;
  }
  auto fixed = rec.repair(found.value(), {.truth = source_of_truth::left, .hold = dw_->keep_writers_out()});
  log("reconciler repair -> " + (fixed ? std::to_string(fixed.value().refused.size()) + " refused"
                                       : fixed.error().message()));
  if (!fixed) return;
  std::set<std::string> refused;
  for (const repair_refusal& x : fixed.value().refused) refused.insert(x.key);
  for (const std::string& key : reported)
    if (!refused.contains(key) && !agree(key)) fail("the reconciler repaired " + key + ", and the stores still disagree");
}

void dual_write_world::toggle_outage() {
  const side s = static_cast<side>(draw(3));
  outage_[s] = !outage_[s];
  log(std::string(s == primary_side ? "primary" : s == secondary_side ? "secondary" : "inconsistency log") +
      (outage_[s] ? " outage begins" : " outage ends"));
  set_faults(s);
}

void dual_write_world::check_end() {
  disk_.set_full(false);
  disk_.set_fsync_failure_rate(0);
  for (side s : {primary_side, secondary_side, log_side}) {
    outage_[s] = false;
    store(s).heal();
  }
  close();
  if (!open()) {
    fail("start-up with every store healed failed");
    return;
  }
  auto r = dw_->repair_inconsistencies();
  if (!r || !r.value().refused.empty()) {
    fail("the last repair, every store healed, failed: " +
         (r ? r.value().refused.front().key + ": " + r.value().refused.front().why.message() : r.error().message()));
    return;
  }
  if (const std::set<std::string> left = logged(); !left.empty())
    fail("the inconsistency log still holds " + std::to_string(left.size()) + " records after the last repair, " +
         *left.begin() + " first");
  if (const std::set<std::string> apart = disagreeing(all_keys()); !apart.empty())
    fail("at the end the stores disagree on " + std::to_string(apart.size()) + " keys, " + *apart.begin() + " first");
  check_primary(all_keys(), "at the end");
}

std::optional<failure> dual_write_world::run(std::uint64_t steps) {
  for (step_ = 0; step_ < steps && !failed_; ++step_) {
    if (!dw_) {
      // Down: start-up failed during an outage. Try again; outages end.
      if (!open() && chance(0.5)) {
        for (side s : {primary_side, secondary_side, log_side})
          if (outage_[s]) {
            outage_[s] = false;
            set_faults(s);
            break;
          }
      }
      continue;
    }
    const std::uint64_t r = draw(1000);
    if (r < 5) {
      disk_.set_full(!disk_.full());
      log(disk_.full() ? "the disk is full" : "space is freed");
    } else if (r < 790) write_batch();
    else if (r < 820) write_refused();
    else if (r < 850) toggle_outage();
    else if (r < 910) crash_mid_write();
    else if (r < 930) {
      ++counts_["crashes between writes"];
      close(synced_intents_ && chance(0.5));
      open();
    } else if (r < 980) repair_log();
    else reconcile();
    if (dw_ && step_ % 64 == 0) check_all("at a periodic check");
  }
  counts_["steps"] = step_;
  if (!failed_) check_end();
  return failed_;
}

}  // namespace storesync::sim
