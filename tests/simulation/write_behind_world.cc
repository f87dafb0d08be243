#include "tests/simulation/write_behind_world.hpp"

#include <algorithm>
#include <cstdio>
#include <string_view>
#include <utility>

namespace storesync::sim {
namespace {

// The workload's key space: a few hot keys, many cold ones, and keys the
// durable store refuses for good (they must end up as dead letters).
constexpr std::uint64_t hot_keys = 8;
constexpr std::uint64_t cold_keys = 300;
constexpr std::uint64_t poison_keys = 3;

// The wall clock server-assigned versions come from: microseconds since the
// epoch, moving with simulated time, stepped back at some restarts.
constexpr version_type wall_base = 1'780'000'000'000'000;

std::string show(const std::optional<entry>& e) {
  if (!e) return "nothing";
  return (e->tombstone ? "tombstone v" : "value v") + std::to_string(e->version);
}

}  // namespace

write_behind_world::write_behind_world(std::uint64_t seed, std::filesystem::path directory, bool trace)
    : world_base(seed, trace, "write_behind_sim"),
      directory_(std::move(directory)),
      disk_random_(seed * 0x9E3779B97F4A7C15ull + 1) {
  disk_.attach(directory_.string(), seed + 17);
  disk_.set_trace([this](const std::string& line) { log(line); });
  options_.directory = directory_.string();
  // A journal that syncs each append may lose nothing to a power cut; one
  // that does not only survives the process. (`interval` would start a real
  // syncer thread.)
  synced_journal_ = disk_chance(0.5);
  options_.journal.durability = synced_journal_ ? durability::always : durability::process;
  if (disk_chance(0.3)) disk_.set_fsync_failure_rate(0.002);
  faulty_fast_ = disk_chance(0.5);
  options_.journal.segment_size_bytes = 16 * 1024;     // segments roll over and are retired
  options_.max_pending_entries = 64;                   // backpressure is reached
  options_.max_pending_bytes = 64 * 1024;
  options_.flush_interval = 5ms;
  options_.write_delay = std::chrono::milliseconds(draw(3));  // 0 to 2 ms of coalescing
  options_.checkpoint_interval = 20ms;
  options_.outage_pause = 10ms;
  options_.wall_clock = [this] {
    return wall_base + std::chrono::duration_cast<std::chrono::microseconds>(sim_.now().time_since_epoch()).count() -
           wall_offset_;
  };
  for (std::uint64_t i = 0; i < poison_keys; ++i) {
    poisoned_.insert("poison:" + std::to_string(i));
    durable_.poison("poison:" + std::to_string(i));
  }
  capped_fast_ = chance(0.3);
  set_durable_faults();
  open();
  if (disk_.intercepted() == 0)
    fail("the simulated disk saw none of the journal's calls: link the simulator statically (sim_file_system.hpp)");
}

write_behind_world::~write_behind_world() {
  if (wb_) (void)wb_->stop(0ms);
  wb_.reset();
  disk_.detach();
  std::filesystem::remove_all(directory_);
}

void write_behind_world::set_durable_faults() {
  fault_config f;
  f.seed = seed_ * 7919 + counts_["restarts"] + counts_["outage changes"];
  if (outage_) {
    f.unavailable_rate = 1.0;
  } else {
    f.transient_rate = 0.05;
    f.unavailable_rate = 0.02;
  }
  durable_.set_faults(f);
}

void write_behind_world::open() {
  // A restart's cache is cold; in some worlds it is small, and evicts.
  fast_ = capped_fast_ ? std::make_unique<fast_store>(memory_store_options{.max_bytes = 4096})
                       : std::make_unique<fast_store>();
  if (faulty_fast_) fast_->set_faults({.transient_rate = 0.01, .seed = seed_ * 31 + counts_["restarts"]});
  const auto wait = std::chrono::milliseconds(draw(3) * 10);
  const auto try_open = [&] {
    exponential_backoff retry({.base = 1ms, .cap = 20ms, .max_attempts = 4, .max_elapsed = 100ms, .seed = seed_ + 1});
    aimd_batch_sizer sizer({.min_size = 1, .max_size = 32, .initial_size = 8, .additive_step = 4});
    return wb_type::open(*fast_, durable_, options_, std::move(retry), std::move(sizer), block_for(wait), sim_.clock(),
                         nullptr, sim_.executor());
  };
  auto opened = try_open();
  for (int again = 0; !opened && again < 3 && disk_.injected() != disk_faults_at_open_; ++again) {
    // The disk failed the start-up: the operator frees space, and it goes again.
    log("start-up failed on the disk (" + opened.error().message() + "); space is freed");
    disk_.set_full(false);
    disk_faults_at_open_ = disk_.injected();
    opened = try_open();
  }
  if (!opened) {
    fail("open: " + opened.error().message());
    return;
  }
  wb_ = std::move(opened).value();
  disk_faults_at_open_ = disk_.injected();
  // The replay may start above the bounds (write_behind_options); no write
  // may add to what is owed past them.
  const write_behind_status s = wb_->status();
  owed_allowance_ = std::max(options_.max_pending_entries, s.pending + s.in_flight);
  bytes_allowance_ = std::max(options_.max_pending_bytes, s.pending_bytes);
}

std::string write_behind_world::pick_key() {
  const std::uint64_t r = draw(100);
  if (r < 2) return "poison:" + std::to_string(draw(poison_keys));
  if (r < 50) return "hot:" + std::to_string(draw(hot_keys));
  return "cold:" + std::to_string(draw(cold_keys));
}

entry write_behind_world::make(const std::string& key, version_type v, bool tombstone) {
  // Content follows from (key, version, kind), so a version written twice
  // with the same kind is the same entry.
  return tombstone ? entry::erase(key, v) : entry::put(key, R"({"k":")" + key + R"(","v":)" + std::to_string(v) + "}", v);
}

void write_behind_world::write(bool server_version, bool erase, bool never_wait) {
  const std::string key = pick_key();
  // A poisoned key's writes end as dead letters, in no store: a later
  // write's verdict cannot be held against them (check_end checks them).
  const bool checked = !poisoned_.contains(key);
  const auto known = model_.find(key);
  version_type v = 0;
  bool tombstone = erase;
  if (server_version || known == model_.end()) {
    // A new key's client version lands near the server's, above or below.
    v = server_version ? wb_->next_version() : options_.wall_clock() + 1'000'000 - draw(2'000'000);
  } else {
    // A client's own version: newer, the same (re-sent as it was), or older.
    const acked m = known->second;
    const std::uint64_t r = draw(3);
    if (r == 0) v = m.version + 1 + draw(1000);
    if (r == 1) v = m.version, tombstone = m.tombstone;
    if (r == 2) v = m.version > 1000 ? m.version - 1 - draw(1000) : m.version + 1;
  }
  // A version names one write of a key: an older version drawn that was
  // written already is sent as it was (a store answers "unchanged").
  if (written_.contains(std::make_tuple(key, v, !tombstone))) tombstone = !tombstone;
  const entry e = make(key, v, tombstone);
  const std::size_t fast_faults = fast_->injected();
  auto r = never_wait ? wb_->try_write(e) : wb_->write(std::span(&e, 1));
  log((never_wait ? "try_write " : "write ") + key + " " + show(e) + " -> " +
      (r ? "ok a" + std::to_string(r.value().applied) + " c" + std::to_string(r.value().accepted) + " u" +
               std::to_string(r.value().unchanged) + " s" + std::to_string(r.value().stale)
         : r.error().message()));
  if (!r) {
    if (r.error() == errc::queue_full) return;
    if (!disk_failed()) {
      // Refused by the fast store: it changed nothing (the reads check it).
      if (fast_failed(fast_faults)) ++counts_["writes the fast store failed"];
      else fail("write " + key + " v" + std::to_string(v) + ": " + r.error().message());
      return;
    }
    // The journal failed it: in doubt (a failed sync may still be replayed).
    doubtful_[key].insert({v, tombstone});
    written_.insert(std::make_tuple(key, v, tombstone));
    ++counts_["writes in doubt"];
    if (!disk_.full()) crash();  // a journal whose sync failed takes no more appends: restart
    return;
  }
  ++counts_["writes acknowledged"];
  const write_report& w = r.value();
  const bool had = known != model_.end();
  const version_type newest = had ? known->second.version : 0;
  const std::string what = key + " v" + std::to_string(v) + " (newest acknowledged: " +
                           (had ? "v" + std::to_string(newest) : "none") + ")";
  const auto written = std::make_tuple(key, v, tombstone);
  if (checked) {
    if (w.applied && had && v <= newest) fail("applied, but not newer than what was acknowledged: " + what);
    if (w.unchanged && !written_.contains(written)) fail("unchanged, but not an entry acknowledged: " + what);
    version_type above = had ? newest : 0;  // what the key may hold
    if (const auto d = doubtful_.find(key); d != doubtful_.end()) above = std::max(above, d->second.rbegin()->first);
    if (w.stale && v >= above) fail("stale, but not older than what was acknowledged or in doubt: " + what);
    // A later write that takes its version from write_behind must win.
    if (server_version && had && v <= newest) fail("next_version() was not above what was acknowledged: " + what);
  }
  written_.insert(written);
  if (w.accepted) accepted_.insert(written);
  if (!had || v > newest) model_[key] = acked{v, tombstone};
}

void write_behind_world::read() {
  const std::string key = pick_key();
  if (poisoned_.contains(key)) return;  // dead-lettered: in no store, see check_end
  const std::size_t faults_before = durable_.injected();
  auto r = wb_->read(key);
  log("read " + key + " -> " + (r ? show(r.value()) : r.error().message()));
  if (!r) return;  // the durable store may be down on a cold key
  // With the durable store unreachable, a read of an accepted write still
  // owed answers with that write, its verdict pending (write_behind.hpp).
  const bool durable_failed = durable_.injected() != faults_before;
  if (durable_failed && r.value() && accepted_.contains(std::make_tuple(key, r.value()->version, r.value()->tombstone)))
    return;
  const auto known = model_.find(key);
  if (known == model_.end()) {
    if (r.value() && !may_hold(key, *r.value(), 0)) fail("read " + key + ": " + show(r.value()) + ", but nothing was acknowledged");
    return;
  }
  const acked& m = known->second;
  if (r.value() && may_hold(key, *r.value(), m.version)) return;
  if (!r.value() || r.value()->version != m.version || r.value()->tombstone != m.tombstone ||
      *r.value() != make(key, m.version, m.tombstone))
    fail("read " + key + ": " + show(r.value()) + ", but the newest acknowledged is " +
         (m.tombstone ? "tombstone v" : "value v") + std::to_string(m.version));
}

void write_behind_world::flush() {
  const auto timeout = std::chrono::milliseconds(draw(4) * 50);
  auto r = wb_->flush(timeout);
  log("flush " + std::to_string(timeout.count()) + "ms -> " +
      (r ? (r.value().complete ? "complete" : std::to_string(r.value().remaining) + " remaining")
         : r.error().message()));
  if (!r) {
    if (!disk_failed()) fail("flush: " + r.error().message());
    return;
  }
  if (r.value().complete) {
    ++counts_["complete flushes"];
    check_durable("after a complete flush");
  }
}

void write_behind_world::crash(bool power_cut) {
  // The process dies here: from now on it reaches no store and no file, and
  // what it held in memory is gone. Its threads are wound down against a
  // durable store and a disk that refuse everything, so nothing they do
  // after this moment lands.
  log(power_cut ? "power cut" : "crash");
  ++counts_[power_cut ? "power cuts" : "crashes"];
  durable_.set_faults({.unavailable_rate = 1.0});
  disk_.freeze();
  (void)wb_->stop(0ms);
  wb_.reset();
  if (power_cut) disk_.power_loss();
  else disk_.thaw();
  if (chance(0.3)) wall_offset_ += static_cast<version_type>(draw(5'000'000));  // the clock steps back
  ++counts_["restarts"];
  set_durable_faults();
  open();
}

void write_behind_world::restart_cleanly() {
  const auto timeout = std::chrono::milliseconds(draw(3) * 100);
  auto r = wb_->stop(timeout);
  log("stop " + std::to_string(timeout.count()) + "ms -> " + (r ? "ok" : r.error().message()));
  if (!r && !disk_failed()) fail("stop: " + r.error().message());
  wb_.reset();
  ++counts_["restarts"];
  open();
}

void write_behind_world::check_bounds() {
  const write_behind_status s = wb_->status();
  // Owed = pending + in flight. The allowance starts at the replay's level
  // and shrinks back to the bounds as the replay drains.
  const std::size_t owed = s.pending + s.in_flight;
  if (owed > owed_allowance_ || s.pending_bytes > bytes_allowance_)
    fail("pending " + std::to_string(s.pending) + " entries, " + std::to_string(s.pending_bytes) +
         " bytes pending, " + std::to_string(s.in_flight) + " in flight: over the bounds");
  owed_allowance_ = std::max(options_.max_pending_entries, std::min(owed_allowance_, owed));
  bytes_allowance_ = std::max(options_.max_pending_bytes, std::min(bytes_allowance_, s.pending_bytes));
}

bool write_behind_world::may_hold(const std::string& key, const entry& e, version_type newest) const {
  const auto d = doubtful_.find(key);
  return d != doubtful_.end() && e.version > newest && d->second.contains({e.version, e.tombstone}) &&
         e == make(key, e.version, e.tombstone);
}

void write_behind_world::check_durable(const char* when) {
  for (const auto& [key, m] : model_) {
    if (poisoned_.contains(key)) continue;
    auto held = durable_.inner().read(key);
    if (held && held.value() && may_hold(key, *held.value(), m.version)) continue;
    if (!held || !held.value() || held.value()->version != m.version || held.value()->tombstone != m.tombstone ||
        *held.value() != make(key, m.version, m.tombstone)) {
      fail(std::string(when) + ": the durable store holds " + (held ? show(held.value()) : "an error") + " for " + key +
           ", but the newest acknowledged is " + (m.tombstone ? "tombstone v" : "value v") +
           std::to_string(m.version));
      return;
    }
  }
}

void write_behind_world::check_end() {
  // The disk heals; a journal it failed takes no more appends: restart.
  const bool disk_failed_once = disk_.injected() > 0;
  disk_.set_full(false);
  disk_.set_fsync_failure_rate(0);
  if (disk_failed_once) {
    crash();
    if (failed_ || !wb_) return;
  }
  outage_ = false;
  durable_.set_faults({});
  fast_->set_faults({});
  auto r = wb_->flush(std::chrono::hours(1));
  if (!r || !r.value().complete) {
    fail("the final flush, with the durable store healed, did not complete: " +
         (r ? r.value().last_error : r.error().message()));
    return;
  }
  check_durable("at the end");
  // The fast store agrees with the durable store on every key it holds.
  for (const auto& [key, m] : model_) {
    if (poisoned_.contains(key)) continue;
    auto cached = fast_->read(key);
    if (cached && cached.value() && durable_.inner().read(key).value() != cached.value())
      fail("at the end the fast store holds " + show(cached.value()) + " for " + key +
           ", the durable store " + show(durable_.inner().read(key).value()));
  }
  // Dead letters are exactly the poisoned keys' writes, the newest included.
  auto letters = wb_->dead_letters();
  if (!letters) {
    fail("dead letters: " + letters.error().message());
    return;
  }
  std::set<std::pair<std::string, version_type>> lettered;
  for (const dead_letter& d : letters.value()) {
    if (!poisoned_.contains(d.item.key)) fail("dead letter for " + d.item.key + ", which the durable store accepts");
    lettered.insert({d.item.key, d.item.version});
  }
  for (const std::string& key : poisoned_) {
    const auto known = model_.find(key);
    if (known != model_.end() && !lettered.contains({key, known->second.version}))
      fail("the newest write of " + key + " (v" + std::to_string(known->second.version) + ") is not a dead letter");
  }
}

std::optional<failure> write_behind_world::run(std::uint64_t steps) {
  for (step_ = 0; step_ < steps && !failed_ && wb_; ++step_) {
    // The disk fills and is freed on a stream of its own.
    if (disk_chance(disk_.full() ? 0.02 : 0.003)) {
      disk_.set_full(!disk_.full());
      ++counts_["disk full changes"];
      log(disk_.full() ? "the disk is full" : "space is freed");
    }
    const std::uint64_t r = draw(1000);
    if (r < 350) write(true, false, false);
    else if (r < 500) write(false, false, false);
    else if (r < 560) write(true, true, false);
    else if (r < 600) write(chance(0.5), false, true);
    else if (r < 780) read();
    else if (r < 900) sim_.yield();
    else if (r < 970) sim_.run_for(std::chrono::milliseconds(draw(20)));
    else if (r < 985) flush();
    else if (r < 991) {
      outage_ = !outage_;
      ++counts_["outage changes"];
      log(outage_ ? "outage begins" : "outage ends");
      set_durable_faults();
    } else if (r < 996) crash(synced_journal_ && disk_chance(0.5));
    else restart_cleanly();
    if (wb_) check_bounds();
  }
  counts_["steps"] = step_;
  if (!failed_ && wb_) check_end();
  counts_["thread hand-overs"] = sim_.switches();
  return failed_;
}

}  // namespace storesync::sim
