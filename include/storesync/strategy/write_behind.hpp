#pragma once
/// \file
/// `write_behind<Fast, Slow, ...>`: acknowledge a write once it is in a fast
/// store and a crash-safe journal; a flusher thread moves coalesced batches
/// to the slow store (PostgreSQL, say) with retry, and nothing is ever lost:
/// entries the slow store refuses go to a dead-letter journal that can be
/// listed and re-driven.
///
/// \code
///   storesync::memory_store fast;
///   auto slow = storesync::postgres_store::open(pg_config).value();
///   auto wb = storesync::write_behind<storesync::memory_store, storesync::postgres_store>::open(
///       fast, *slow, {.directory = "/var/lib/app/wb"});
///   if (!wb) return wb.error();
///   (*wb)->put(storesync::entry::put("user:1", R"({"name":"Ada"})", 7));   // microseconds
///   auto flushed = (*wb)->flush(std::chrono::seconds(5));  // complete: everything acknowledged is in PostgreSQL
/// \endcode
///
/// **The write path** (`put`, `erase`, `write`): validate every entry against
/// the stricter of `options.rules` and what both stores state (`rules_of`),
/// so nothing the slow store could never hold is acknowledged; reserve room under the bounds on pending
/// entries and bytes (lock-free while there is room, else through the
/// BackpressurePolicy); write the fast store (version guard: an entry the fast
/// store finds stale or unchanged is acknowledged at once, as a newer or equal
/// value is already durable); append to the journal; upsert into the per-key
/// coalescing map (newest version wins), the one lock the put takes;
/// acknowledge. An invalid or refused write changes nothing and journals
/// nothing.
///
/// **Outcomes**: `applied` means the entry is newer than anything the slow
/// store can hold for its key: its version is above the *floor*, the largest
/// version the slow store held at open (`max_version`, a `versioned_store`)
/// or that the fast store has evicted since. A caller-supplied version at or
/// below the floor, on a key the fast store no longer remembers, may be older
/// than what the slow store holds: it is `accepted` (journalled, readable,
/// flushed), and the slow store's version guard gives the verdict at flush.
/// When the slow store finds a flushed entry stale, the fast store is
/// corrected from it and the event counted (`stale_at_flush_total`): a stale
/// write never stays visible and is never silent. `next_version()` hands out
/// versions above the floor and everything acknowledged, whatever the wall
/// clock says, so writes that take their version from it are always
/// `applied`. Until the floor is known (the slow store was down at open),
/// every newly applied write is `accepted`. `try_write` is the same path for one entry except that it never
/// waits for room (it fails with `errc::queue_full` instead), for an event
/// loop that hands the entry to a thread that may wait when it fails.
///
/// **The flusher**: drains the map oldest-first in batches sized by the
/// BatchSizer when a batch is full, the flush interval has passed, or a flush
/// is waiting. A writer thread writes each batch to the slow store under the
/// RetryPolicy while the flusher fills the next one (two batches in flight:
/// the slow store's version guard keeps the newer value of a key that is in
/// both). When the slow store is down (the error stays transient, unavailable
/// or overloaded after the policy gives up), the unwritten rest of the batch
/// goes back into the map and waits: an outage never creates dead letters.
/// When the slow store refuses a batch (permanent, invalid input, conflict),
/// the batch is split in halves until the refused entries stand alone; each
/// goes to the dead-letter journal with its error. After a batch the journal
/// checkpoint advances to the oldest entry still owed to the slow store (at
/// most every `checkpoint_interval` while batches keep coming).
///
/// **Reads** see the newest acknowledged value: the fast store and the
/// coalescing map (the newer of the two), then the slow store, whose answer
/// warms the fast store. After a restart the journal is replayed into the
/// map (and the fast store) before the first write is accepted.
///
/// Thread safety: every member may be called from many threads. The stores
/// must outlive the object and be thread-safe themselves.

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "storesync/core/store.hpp"
#include "storesync/core/version_clock.hpp"
#include "storesync/journal/entry_codec.hpp"
#include "storesync/journal/file_journal.hpp"
#include "storesync/journal/journal.hpp"
#include "storesync/metrics/registry.hpp"
#include "storesync/policy/aimd_batch_sizer.hpp"
#include "storesync/policy/backpressure_policy.hpp"
#include "storesync/policy/batch_sizer.hpp"
#include "storesync/policy/clock.hpp"
#include "storesync/policy/exponential_backoff.hpp"
#include "storesync/policy/retry_policy.hpp"
#include "storesync/strategy/detail/pending_set.hpp"

namespace storesync {

/// Run-time settings of a `write_behind` (policies carry their own).
struct write_behind_options {
  /// What every value must meet, on top of what the two stores state (the
  /// stricter of all three applies): the nesting depth accepted at the door.
  value_rules rules{};
  /// Holds `journal/` and `dead-letters/`; created if missing.
  std::string directory;
  /// Durability of acknowledgements and segment size; `directory` is set
  /// from the field above.
  storesync::durability durability = storesync::durability::process;
  std::uint32_t fsync_interval_ms = 100;
  std::uint64_t segment_size_bytes = 64ull << 20;
  /// Bounds on what is acknowledged but not yet in the slow store.
  std::size_t max_pending_entries = 100'000;
  std::size_t max_pending_bytes = 256ull << 20;
  /// A partial batch is flushed once its oldest entry has waited this long.
  std::chrono::milliseconds flush_interval{50};
  /// The coalescing window: an entry waits at least this long before it is
  /// flushed, so repeated writes of a hot key reach the slow store once.
  /// Skipped when a flush is waiting, when stopping, and when pending entries
  /// pass half of `max_pending_entries` (pressure wins over coalescing).
  /// 0 (the default) adds no delay.
  std::chrono::milliseconds write_delay{0};
  /// While batches keep coming, the journal checkpoint (two fsyncs) is
  /// written at most this often; when idle, at once. Replay after a crash
  /// is idempotent, so this only bounds how much is replayed.
  std::chrono::milliseconds checkpoint_interval{200};
  /// After the slow store stayed down through a whole retry sequence, wait
  /// this long before the next batch.
  std::chrono::milliseconds outage_pause{200};
};

/// A snapshot of a `write_behind`'s state (also exported as metrics).
struct write_behind_status {
  std::size_t pending = 0;
  std::size_t pending_bytes = 0;
  /// Entries in the (up to two) batches on their way to the slow store.
  std::size_t in_flight = 0;
  std::uint64_t journal_bytes = 0;
  std::uint64_t acknowledged_total = 0;
  std::uint64_t flushed_total = 0;
  std::uint64_t coalesced_total = 0;
  std::uint64_t dead_letters = 0;
  std::uint64_t dead_lettered_total = 0;
  /// Flushed entries the slow store held a newer version of; the fast store
  /// was corrected from it.
  std::uint64_t stale_at_flush_total = 0;
  /// Whether the slow store's largest version is known (see Outcomes).
  bool floor_known = false;
  std::size_t batch_size = 0;
  /// Age of the oldest acknowledged entry not yet in the slow store.
  std::chrono::milliseconds lag{0};
  std::string last_error;
  bool accepting = false;
};

/// What a `flush` achieved by its deadline.
struct flush_report {
  /// Everything acknowledged before the call is in the slow store or
  /// dead-lettered.
  bool complete = false;
  /// Entries acknowledged before the call and still owed to the slow store.
  std::size_t remaining = 0;
  std::string last_error;
};

template <store Fast, store Slow, retry_policy Retry = exponential_backoff,
          batch_sizer Sizer = aimd_batch_sizer, class Backpressure = block_for,
          waitable_clock Clock = system_clock>
  requires backpressure_policy<Backpressure, Clock>
class write_behind {
  using time_point = typename Clock::time_point;
  using item = detail::pending_item<time_point>;
  using item_set = detail::pending_set<time_point>;

 public:
  using fast_type = Fast;
  using slow_type = Slow;
  using retry_type = Retry;
  using sizer_type = Sizer;
  using backpressure_type = Backpressure;
  using clock_type = Clock;

  write_behind(const write_behind&) = delete;
  write_behind& operator=(const write_behind&) = delete;
  ~write_behind() { (void)stop(std::chrono::seconds(0)); }

  /// Opens (or recovers) the journals under `options.directory`, replays
  /// every entry not yet in the slow store into the coalescing map and the
  /// fast store, and starts the flusher.
  static result<std::unique_ptr<write_behind>> open(Fast& fast, Slow& slow, write_behind_options options,
                                                    Retry retry = {}, Sizer sizer = {},
                                                    Backpressure backpressure = {}, Clock clock = {},
                                                    std::shared_ptr<metrics_registry> metrics = nullptr) {
    if (options.directory.empty())
      return error{errc::invalid_argument, "write_behind: options.directory is empty"};
    if (options.max_pending_entries == 0 || options.max_pending_bytes == 0)
      return error{errc::invalid_argument, "write_behind: pending bounds must be positive"};
    std::unique_ptr<write_behind> wb(new write_behind(fast, slow, std::move(options), std::move(retry),
                                                      std::move(sizer), std::move(backpressure),
                                                      std::move(clock), std::move(metrics)));
    (void)wb->learn_floor();  // the slow store may be down: then learnt when it is back
    BOOST_OUTCOME_TRY(wb->recover());
    wb->flusher_ = std::thread([self = wb.get()] { self->flush_loop(); });
    return wb;
  }

  /// Acknowledges `e` once it is in the fast store and the journal.
  result<void> put(const entry& e) {
    BOOST_OUTCOME_TRY(write(std::span(&e, 1)));
    return success();
  }

  /// Deletes `key` as of `version` (a tombstone, flushed like any write).
  result<void> erase(std::string key, version_type version) {
    return put(entry::erase(std::move(key), version));
  }

  /// Acknowledges every entry of `batch`, in order. Validation covers the
  /// whole batch first: an invalid entry fails the call and changes nothing.
  /// The report is the version guard's verdict against what was already
  /// acknowledged: `stale` and `unchanged` entries need no flush; `accepted`
  /// ones get their verdict at flush (see Outcomes above).
  result<write_report> write(std::span<const entry> batch) {
    return write_all(batch, full_queue::wait);
  }

  /// As `write` for one entry, but never waits for room, whatever the
  /// BackpressurePolicy says: when the pending bound is reached it fails at
  /// once with `errc::queue_full` and changes nothing. For callers that must
  /// not block, such as an event loop, which then hand the entry to a thread
  /// that may wait and call `write`. (It still appends to the journal: with
  /// `durability::always` that append waits for an fsync.)
  result<write_report> try_write(const entry& e) {
    return write_all(std::span(&e, 1), full_queue::fail);
  }

  /// A version for a write whose caller gives none: above everything
  /// acknowledged and the slow store's floor, even with the wall clock
  /// stepped back (see version_clock).
  version_type next_version() noexcept { return versions_.next(); }

  /// The rules every written value must meet (see `write`).
  const value_rules& rules() const noexcept { return rules_; }

  /// The newest acknowledged entry for `key` (tombstones included), or nothing.
  result<std::optional<entry>> read(std::string_view key) {
    BOOST_OUTCOME_TRY(auto fast, fast_.read(key));
    std::optional<entry> held;
    {
      std::lock_guard lock(mutex_);
      const item* newest = pending_.find(key);
      for_each_owed_batch([&](const item_set& set) {
        const item* i = set.find(key);
        if (i && (!newest || i->e.version > newest->e.version)) newest = i;
      });
      if (newest) held = newest->e;
    }
    if (held && (!fast || held->version > fast->version)) return held;
    if (fast) return fast;
    BOOST_OUTCOME_TRY(auto slow, slow_.read(key));
    // Warm the fast store; the version guard keeps a newer value safe.
    if (slow) warm(*slow);
    return slow;
  }

  /// Returns once every entry acknowledged before the call is in the slow
  /// store or dead-lettered, or at `timeout`, saying what remains: an outage
  /// is a report with entries still owed, not an error. Never waits on a
  /// poison entry: it is dead-lettered. Fails with `errc::stopped` after
  /// `stop`, when nothing can be flushed any more.
  result<flush_report> flush(typename Clock::duration timeout) {
    std::unique_lock lock(mutex_);
    if (closed_) return error{errc::stopped, "write_behind is stopped: nothing can be flushed"};
    const lsn target = registered_max_;
    ++flush_waiters_;
    work_.notify_all();
    const bool done = clock_.wait_until(lock, drained_, clock_.now() + timeout,
                                        [&] { return owed_through(target) == 0; });
    --flush_waiters_;
    return {done, owed_through(target), last_error_};
  }

  /// Stops accepting writes (they fail with `errc::stopped`), flushes until
  /// `timeout`, stops the flusher and closes the journals. What could not be
  /// flushed stays in the journal and is replayed by the next `open`. Fails
  /// when a journal cannot be closed cleanly (its last records may not be on
  /// disk: with `durability::interval`, the final fsync failed).
  result<flush_report> stop(typename Clock::duration timeout) {
    {
      std::lock_guard lock(mutex_);
      if (!accepting_ && !flusher_.joinable())
        return flush_report{owed_through(registered_max_) == 0, 0, last_error_};
      accepting_ = false;
      room_.notify_all();
    }
    BOOST_OUTCOME_TRY(auto report, flush(timeout));
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      work_.notify_all();
      filled_.notify_all();  // ends the writer's outage pause
    }
    if (flusher_.joinable()) flusher_.join();
    auto closed = journal_ ? journal_->close() : success();
    auto letters_closed = dead_letters_ ? dead_letters_->close() : success();
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    BOOST_OUTCOME_TRY(std::move(closed));
    BOOST_OUTCOME_TRY(std::move(letters_closed));
    return report;
  }

  /// Dead letters, oldest first, at most `limit`.
  result<std::vector<dead_letter>> dead_letters(std::size_t limit = SIZE_MAX) {
    std::vector<dead_letter> out;
    std::lock_guard dl(dead_letter_mutex_);
    BOOST_OUTCOME_TRY(auto from, dead_letters_->load_checkpoint());
    BOOST_OUTCOME_TRY(dead_letters_->replay(from, [&](lsn, std::span<const std::byte> rec) -> result<void> {
      if (out.size() >= limit) return success();
      BOOST_OUTCOME_TRY(auto d, decode_dead_letter(rec));
      out.push_back(std::move(d));
      return success();
    }));
    return out;
  }

  /// Sends every dead letter through the write path again (the version
  /// guard drops any that a newer write superseded) and clears the list.
  /// Returns how many were re-driven.
  result<std::size_t> retry_dead_letters() {
    std::vector<entry> again;
    lsn from = 0, last = 0;
    {
      std::lock_guard dl(dead_letter_mutex_);
      BOOST_OUTCOME_TRY(from, dead_letters_->load_checkpoint());
      last = from;
      BOOST_OUTCOME_TRY(dead_letters_->replay(from, [&](lsn at, std::span<const std::byte> rec) -> result<void> {
        BOOST_OUTCOME_TRY(auto d, decode_dead_letter(rec));
        again.push_back(std::move(d.item));
        last = at;
        return success();
      }));
    }
    // Re-journal first, then forget: a crash in between re-drives twice,
    // which the version guard makes harmless. No lock is held while writing,
    // so backpressure can wait for the flusher, which may dead-letter again.
    write_report ignored;
    for (const entry& e : again) {
      BOOST_OUTCOME_TRY(write_one(e, ignored, origin::redrive));
    }
    std::lock_guard dl(dead_letter_mutex_);
    if (last > from) {
      BOOST_OUTCOME_TRY(dead_letters_->commit_checkpoint(last));
    }
    dead_letter_count_.fetch_sub(again.size(), std::memory_order_relaxed);
    return again.size();
  }

  write_behind_status status() const {
    write_behind_status s;
    std::lock_guard lock(mutex_);
    s.pending = pending_.size();
    s.pending_bytes = pending_.bytes();
    s.in_flight = in_flight_entries_locked();
    s.journal_bytes = journal_->size_bytes();
    s.acknowledged_total = acknowledged_total_;
    s.flushed_total = flushed_total_;
    s.coalesced_total = coalesced_total_;
    s.dead_letters = dead_letter_count_.load(std::memory_order_relaxed);
    s.dead_lettered_total = dead_lettered_total_;
    s.stale_at_flush_total = stale_at_flush_total_;
    s.floor_known = floor_.load(std::memory_order_relaxed) != unknown_floor;
    s.batch_size = sizer_.next_size();
    s.lag = lag_locked();
    s.last_error = last_error_;
    s.accepting = accepting_;
    publish_locked();
    return s;
  }

  /// The policies, to inspect or retune while running (not thread-safe
  /// against the flusher for Sizer and Retry: tune before heavy load).
  Retry& retry() noexcept { return retry_; }
  Sizer& sizer() noexcept { return sizer_; }
  Backpressure& backpressure() noexcept { return backpressure_; }
  Clock& clock() noexcept { return clock_; }
  const write_behind_options& options() const noexcept { return options_; }
  const std::shared_ptr<metrics_registry>& metrics() const noexcept { return metrics_; }

 private:
  write_behind(Fast& fast, Slow& slow, write_behind_options options, Retry retry, Sizer sizer,
               Backpressure backpressure, Clock clock, std::shared_ptr<metrics_registry> metrics)
      : fast_(fast),
        slow_(slow),
        options_(std::move(options)),
        retry_(std::move(retry)),
        sizer_(std::move(sizer)),
        backpressure_(std::move(backpressure)),
        clock_(std::move(clock)),
        metrics_(metrics ? std::move(metrics) : std::make_shared<metrics_registry>()),
        rules_(stricter(options_.rules, stricter(rules_of(fast), rules_of(slow)))) {
    metrics_registry& r = *metrics_;
    instruments_.acknowledged = r.counter("write_behind_acknowledged_total", "Writes acknowledged to callers.");
    instruments_.flushed = r.counter("write_behind_flushed_total", "Entries written to the slow store.");
    instruments_.coalesced = r.counter("write_behind_coalesced_total", "Writes merged into a pending write of the same key.");
    instruments_.dead_lettered = r.counter("write_behind_dead_lettered_total", "Entries the slow store refused, sent to dead letters.");
    instruments_.outages = r.counter("write_behind_outages_total", "Batches put back because the slow store stayed unreachable.");
    instruments_.stale_at_flush = r.counter("write_behind_stale_at_flush_total", "Flushed entries the slow store held a newer version of; the fast store was corrected.");
    instruments_.pending = r.gauge("write_behind_pending", "Entries acknowledged, not yet taken by the flusher.");
    instruments_.pending_bytes = r.gauge("write_behind_pending_bytes", "Approximate bytes held by pending entries.");
    instruments_.in_flight = r.gauge("write_behind_in_flight", "Entries in batches on their way to the slow store.");
    instruments_.dead_letters = r.gauge("write_behind_dead_letters", "Dead letters waiting to be re-driven.");
    instruments_.batch_size = r.gauge("write_behind_batch_size", "The batch sizer's next batch size.");
    instruments_.lag = r.gauge("write_behind_lag_seconds", "Age of the oldest entry not yet in the slow store.");
    instruments_.put_seconds = r.histogram("write_behind_put_seconds", "Time to acknowledge a write.");
    instruments_.batch_seconds = r.histogram("write_behind_batch_seconds", "Time to write one batch to the slow store, retries included.");
  }

  /// Entries moved into a batch per lock hold (keeps put latency flat).
  static constexpr std::size_t move_step = 64;
  /// Most keys the pending map reserves buckets for at open (8 MiB of buckets).
  static constexpr std::size_t max_reserved_buckets = 1u << 20;

  /// A batch on its way to the slow store. The flusher fills it from the
  /// map and copies its entries into `entries`; the writer thread writes it;
  /// the flusher then recycles it. From `filling` to `writing` its items are
  /// still owed: readable, counted in flight, holding the journal
  /// checkpoint back. Two batches let one be filled while the other is
  /// written; a key may then be in both, and the slow store's version guard
  /// keeps the newer one whichever lands last.
  struct batch_slot {
    enum class stage { idle, filling, filled, writing, written };
    item_set items;
    std::vector<const item*> order;  // its items, in the order `entries` holds them
    std::vector<entry> entries;      // copies of their entries, same order
    std::size_t capacity = 0;        // keys `items` holds buckets for
    std::uint64_t ticket = 0;        // filled batches are written in this order
    stage at = stage::idle;
    bool owed() const noexcept { return at != stage::idle && at != stage::written; }
  };

  batch_slot* batch_at(typename batch_slot::stage at) {
    for (batch_slot& b : batches_)
      if (b.at == at) return &b;
    return nullptr;
  }

  template <class F>
  void for_each_owed_batch(F&& f) const {
    for (const batch_slot& b : batches_)
      if (b.owed()) f(b.items);
  }

  std::size_t in_flight_entries_locked() const {
    std::size_t n = 0;
    for_each_owed_batch([&](const item_set& set) { n += set.size(); });
    return n;
  }

  struct instruments {
    counter acknowledged, flushed, coalesced, dead_lettered, outages, stale_at_flush;
    gauge pending, pending_bytes, in_flight, dead_letters, batch_size, lag;
    histogram put_seconds, batch_seconds;
  };

  /// Brings the gauges up to date (the counters move as events happen).
  void publish_locked() const {
    instruments_.pending.set(static_cast<double>(pending_.size()));
    instruments_.pending_bytes.set(static_cast<double>(pending_.bytes()));
    instruments_.in_flight.set(static_cast<double>(in_flight_entries_locked()));
    instruments_.dead_letters.set(static_cast<double>(dead_letter_count_.load(std::memory_order_relaxed)));
    instruments_.batch_size.set(static_cast<double>(sizer_.next_size()));
    instruments_.lag.set(std::chrono::duration<double>(lag_locked()).count());
  }

  journal_options journal_options_for(const char* sub) const {
    journal_options o;
    o.directory = (std::filesystem::path(options_.directory) / sub).string();
    o.durability = options_.durability;
    o.fsync_interval_ms = options_.fsync_interval_ms;
    o.segment_size_bytes = options_.segment_size_bytes;
    return o;
  }

  result<void> recover() {
    BOOST_OUTCOME_TRY(auto main, file_journal::open(journal_options_for("journal"), {metrics_.get(), "main", {}}));
    journal_.emplace(std::move(main));
    BOOST_OUTCOME_TRY(auto letters, file_journal::open(journal_options_for("dead-letters"),
                                                       {metrics_.get(), "dead_letters", {}}));
    dead_letters_.emplace(std::move(letters));
    BOOST_OUTCOME_TRY(auto from, journal_->load_checkpoint());
    std::lock_guard lock(mutex_);
    // Buckets for the whole bound up front (capped), so no put pays for a
    // rehash; the batches reuse theirs from one batch to the next.
    pending_.reserve(std::min<std::size_t>(options_.max_pending_entries, max_reserved_buckets));
    registered_prefix_ = registered_max_ = checkpointed_ = from;
    const auto now = clock_.now();
    BOOST_OUTCOME_TRY(journal_->replay(from, [&](lsn at, std::span<const std::byte> rec) -> result<void> {
      BOOST_OUTCOME_TRY(auto e, decode_entry(rec));
      versions_.observe(e.version);
      // As a write: an entry the slow store may have superseded stays out
      // of the fast store until its verdict is known.
      const bool unconfirmed = e.version <= floor();
      if (!unconfirmed) (void)fast_.write(std::span(&e, 1));  // a failure only costs a slower read
      if (pending_.upsert(std::move(e), at, now, unconfirmed)) ++coalesced_total_;
      register_locked(at);
      return success();
    }));
    BOOST_OUTCOME_TRY(auto dl_from, dead_letters_->load_checkpoint());
    BOOST_OUTCOME_TRY(auto buried, dead_letters_->replay(dl_from, [](lsn, std::span<const std::byte>) {}));
    dead_letter_count_.store(buried, std::memory_order_relaxed);
    publish_held_locked();
    accepting_ = true;
    return success();
  }

  /// What a write that finds no room does: wait as the BackpressurePolicy
  /// says, or fail at once with `errc::queue_full`.
  enum class full_queue { wait, fail };

  result<write_report> write_all(std::span<const entry> batch, full_queue on_full) {
    BOOST_OUTCOME_TRY(validate_batch(batch, rules_));
    write_report report;
    for (const entry& e : batch) {
      BOOST_OUTCOME_TRY(write_one(e, report, origin::caller, on_full));
    }
    return report;
  }

  /// Where a write comes from: a caller, or `retry_dead_letters` (whose
  /// entries the fast store already holds, so they always go on).
  enum class origin { caller, redrive };

  /// Writes one validated entry and counts its outcome into `report`.
  result<void> write_one(const entry& e, write_report& report, origin from = origin::caller,
                         full_queue on_full = full_queue::wait) {
    const auto started = std::chrono::steady_clock::now();
    auto observe = [&] { instruments_.put_seconds.observe(std::chrono::steady_clock::now() - started); };
    const std::size_t cost = detail::pending_set<time_point>::footprint(e);
    if (auto reserved = reserve_room(cost, on_full); !reserved) return reserved.error();
    room_reservation room{this, cost};
    // Above the floor the fast store's guard decides and the entry goes in.
    // At or below it the slow store may hold a newer version the fast store
    // never saw: such an entry stays out of the fast store until the slow
    // store's verdict is known (see settle), unless the fast store already
    // holds a version as new.
    bool unconfirmed = e.version <= floor();
    std::optional<guard_outcome> answered;
    if (!unconfirmed) {
      BOOST_OUTCOME_TRY(auto guarded, fast_.write(std::span(&e, 1)));
      if (guarded.applied == 0) answered = guarded.unchanged ? guard_outcome::unchanged : guard_outcome::stale;
      // The fast store may have evicted the key meanwhile, raising the floor:
      // then the verdict waits for the slow store after all.
      else unconfirmed = e.version <= floor();
    } else {
      BOOST_OUTCOME_TRY(auto held, fast_.read(e.key));
      if (held && held->version >= e.version) answered = version_guard(e.version, held->version);
    }
    if (answered && from == origin::caller) {
      // The fast store holds this version or a newer one, which was
      // acknowledged (and journalled) already. A re-driven dead letter is
      // in the fast store by definition, so it always goes on.
      {
        std::lock_guard lock(mutex_);
        room.release_locked();
        ++acknowledged_total_;
        instruments_.acknowledged.inc();
        observe();
      }
      room_.notify_all();
      report.count(*answered);
      return success();
    }
    versions_.observe(e.version);
    // One encode buffer per thread: no allocation per put once it has grown.
    thread_local std::vector<std::byte> frame;
    encode_entry(e, frame);
    auto appended = journal_->append(frame);
    if (frame.capacity() > (1u << 20)) frame = {};  // do not keep a huge record's buffer
    BOOST_OUTCOME_TRY(auto at, std::move(appended));
    std::lock_guard lock(mutex_);
    if (pending_.upsert(e, at, clock_.now(), unconfirmed)) {
      ++coalesced_total_;
      instruments_.coalesced.inc();
    }
    publish_held_locked();
    room.release_locked();  // now counted as pending
    register_locked(at);
    ++acknowledged_total_;
    instruments_.acknowledged.inc();
    // Wake the flusher for a full batch only if it has a batch to fill: while
    // both are on their way, the writer wakes it when one is written.
    if (pending_.size() >= sizer_.next_size() && batch_at(batch_slot::stage::idle)) work_.notify_one();
    observe();
    ++(unconfirmed ? report.accepted : report.applied);
    return success();
  }

  /// Means "not known yet" in `floor_`.
  static constexpr version_type unknown_floor = std::numeric_limits<version_type>::max();

  /// No version at or below this may be assumed absent from the slow store
  /// (see Outcomes): its largest version at open, or the largest the fast
  /// store evicted since.
  version_type floor() const noexcept {
    version_type f = floor_.load(std::memory_order_relaxed);
    if constexpr (requires { fast_.max_evicted_version(); }) f = std::max(f, fast_.max_evicted_version());
    return f;
  }

  /// Learns the slow store's largest version if it is not known yet; false
  /// while the slow store cannot tell (unreachable, or not a versioned_store).
  bool learn_floor() {
    if (floor_.load(std::memory_order_relaxed) != unknown_floor) return true;
    if constexpr (versioned_store<Slow>) {
      auto max = slow_.max_version();
      if (!max) return false;
      versions_.observe(max.value());
      floor_.store(max.value(), std::memory_order_relaxed);
      return true;
    } else {
      return false;
    }
  }

  /// Puts `e` (read from the slow store) into the fast store, evictable.
  void warm(const entry& e) {
    if (fast_.write(std::span(&e, 1))) release(e);
  }

  /// Tells a fast store that evicts (a capped memory_store) that `e` is in
  /// the slow store: it may go.
  void release(const entry& e) {
    if constexpr (requires { fast_.release(e.key, e.version); }) fast_.release(e.key, e.version);
  }

  /// After the slow store took `entries`: brings the fast store in line with
  /// it. If the slow store applied every entry, unconfirmed ones go into the
  /// fast store; otherwise (some were stale or already there) each
  /// unconfirmed entry, and with stale ones every entry, is read back from
  /// the slow store, whose entry goes into the fast store: a write the slow
  /// store refused as stale never stays visible, and each is counted. Every
  /// delivered entry may then be evicted from the fast store.
  void settle(std::span<const item* const> items, std::span<const entry> entries, const write_report& outcome) {
    const bool all_applied = outcome.stale == 0 && outcome.unchanged == 0;
    std::size_t stale = 0;
    for (std::size_t k = 0; k < entries.size(); ++k) {
      const entry& e = entries[k];
      if (all_applied || (!items[k]->unconfirmed && outcome.stale == 0)) {
        if (items[k]->unconfirmed) warm(e);
        else release(e);
        continue;
      }
      auto held = slow_.read(e.key);
      if (!held || !held.value()) {
        std::lock_guard lock(mutex_);
        last_error_ = "reading back " + detail::quoted(e.key) + " after a flush: " +
                      (held ? std::string("not found") : held.error().message());
        continue;
      }
      const entry& truth = *held.value();
      if (truth.version > e.version || (truth.version == e.version && truth.hash != e.hash)) ++stale;
      warm(truth);
    }
    if (stale == 0) return;
    std::lock_guard lock(mutex_);
    stale_at_flush_total_ += stale;
    instruments_.stale_at_flush.inc(stale);
    last_error_ = std::to_string(stale) + " flushed entries were older than the slow store's; the fast store now holds its";
  }

  /// Room for one entry of `cost` bytes, held from the backpressure check
  /// until the entry is pending (or the write fails), so concurrent writers
  /// cannot overshoot the bounds. Released under the lock (waiters check the
  /// bounds under it) and waiters are told.
  struct room_reservation {
    write_behind* self;
    std::size_t cost;
    bool held = true;
    room_reservation(write_behind* s, std::size_t c) noexcept : self(s), cost(c) {}
    room_reservation(const room_reservation&) = delete;
    room_reservation& operator=(const room_reservation&) = delete;
    ~room_reservation() {
      if (!held) return;
      {
        std::lock_guard lock(self->mutex_);
        release_locked();
      }
      self->room_.notify_all();
    }
    void release_locked() noexcept {
      if (!held) return;
      held = false;
      self->reserved_entries_.fetch_sub(1, std::memory_order_acq_rel);
      self->reserved_bytes_.fetch_sub(cost, std::memory_order_acq_rel);
    }
  };

  /// Reserves room under the bounds; without the lock when there is room
  /// (the common case), else through the BackpressurePolicy, which waits
  /// under the lock. Fails with `errc::stopped` once stopping.
  result<void> reserve_room(std::size_t cost, full_queue on_full) {
    if (!accepting_.load(std::memory_order_acquire)) return error{errc::stopped, "write_behind is stopped"};
    if (try_reserve(cost)) return success();
    std::unique_lock lock(mutex_);
    bool reserved = false;
    auto has_room = [&] { return reserved || !accepting_ || (reserved = try_reserve(cost)); };
    auto waited = on_full == full_queue::wait ? backpressure_.wait_for_room(clock_, lock, room_, has_room)
                                              : reject{}.wait_for_room(clock_, lock, room_, has_room);
    if (waited && accepting_) return success();
    if (reserved) {
      reserved_entries_.fetch_sub(1, std::memory_order_acq_rel);
      reserved_bytes_.fetch_sub(cost, std::memory_order_acq_rel);
    }
    if (!waited) return waited.error();
    return error{errc::stopped, "write_behind is stopped"};
  }

  /// Counts one more entry of `cost` bytes in flight towards the pending
  /// map if that stays within both bounds; reservations and what the map
  /// holds are separate counters, so this needs no lock.
  bool try_reserve(std::size_t cost) noexcept {
    const std::size_t n = reserved_entries_.fetch_add(1, std::memory_order_acq_rel) + 1;
    const std::size_t b = reserved_bytes_.fetch_add(cost, std::memory_order_acq_rel) + cost;
    if (held_entries_.load(std::memory_order_acquire) + n <= options_.max_pending_entries &&
        held_bytes_.load(std::memory_order_acquire) + b <= options_.max_pending_bytes)
      return true;
    reserved_entries_.fetch_sub(1, std::memory_order_acq_rel);
    reserved_bytes_.fetch_sub(cost, std::memory_order_acq_rel);
    return false;
  }

  /// Mirrors what pending and in-flight hold for `try_reserve`; called
  /// under the lock after they change (before a reservation is released,
  /// so a concurrent check can only count an entry twice, never miss it).
  void publish_held_locked() noexcept {
    std::size_t bytes = pending_.bytes();
    for_each_owed_batch([&](const item_set& set) { bytes += set.bytes(); });
    held_entries_.store(pending_.size() + in_flight_entries_locked(), std::memory_order_release);
    held_bytes_.store(bytes, std::memory_order_release);
  }

  /// Marks `at` as journalled and in the map; the journal checkpoint may
  /// never pass an lsn that is handed out but not yet registered.
  void register_locked(lsn at) {
    registered_max_ = std::max(registered_max_, at);
    if (at != registered_prefix_ + 1) {
      registered_ahead_.insert(at);
      return;
    }
    registered_prefix_ = at;
    for (auto it = registered_ahead_.begin(); it != registered_ahead_.end() && *it == registered_prefix_ + 1;) {
      registered_prefix_ = *it;
      it = registered_ahead_.erase(it);
    }
  }

  /// Entries owed to the slow store whose oldest obligation is <= `target`.
  std::size_t owed_through(lsn target) const {
    std::size_t n = pending_.count_through(target);
    for_each_owed_batch([&](const item_set& set) { n += set.count_through(target); });
    return n;
  }

  /// Everything at or before this lsn is in the slow store or dead-lettered.
  lsn safe_checkpoint_locked() const {
    lsn safe = registered_prefix_;
    if (auto p = pending_.min_first_lsn()) safe = std::min(safe, *p - 1);
    for_each_owed_batch([&](const item_set& set) {
      if (auto f = set.min_first_lsn()) safe = std::min(safe, *f - 1);
    });
    return safe;
  }

  std::chrono::milliseconds lag_locked() const {
    std::optional<time_point> oldest = pending_.oldest_since();
    for_each_owed_batch([&](const item_set& set) {
      if (auto f = set.oldest_since(); f && (!oldest || *f < *oldest)) oldest = f;
    });
    if (!oldest) return std::chrono::milliseconds(0);
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now() - *oldest);
  }

  /// Whether the coalescing window may be skipped: someone waits, we stop,
  /// or pending entries pass half of their bound.
  bool urgent_locked() const {
    return stopping_ || flush_waiters_ > 0 ||
           (pending_.size() + in_flight_entries_locked()) * 2 >= options_.max_pending_entries;
  }

  /// Whether the flusher should take a batch now.
  bool batch_due_locked() const {
    if (pending_.empty()) return false;
    if (urgent_locked()) return true;
    const auto age = clock_.now() - *pending_.oldest_since();
    if (age < options_.write_delay) return false;
    return pending_.size() >= sizer_.next_size() || age >= options_.flush_interval;
  }

  /// The flusher: takes batches from the map and, while the writer thread
  /// writes one, fills the other, so the slow store never waits for the
  /// map, the copy into a batch, a checkpoint or the node reuse.
  void flush_loop() {
    std::thread writer([this] { write_loop(); });
    std::unique_lock lock(mutex_);
    for (;;) {
      batch_slot* written = nullptr;
      batch_slot* idle = nullptr;
      auto ready = [&] {
        written = batch_at(batch_slot::stage::written);
        idle = batch_at(batch_slot::stage::idle);
        return written || (idle && batch_due_locked()) || may_exit_locked();
      };
      while (!ready()) {
        const auto oldest = pending_.oldest_since();
        const auto wake = idle && oldest ? *oldest + std::max(options_.flush_interval, options_.write_delay)
                                         : clock_.now() + std::chrono::seconds(1);
        clock_.wait_until(lock, work_, wake, ready);
      }
      if (written) recycle_written(*written, lock);
      else if (may_exit_locked()) break;
      else fill(*idle, lock);
    }
    // A batch filled but not yet written stays in the journal for the next open.
    writer_exit_ = true;
    filled_.notify_all();
    lock.unlock();
    writer.join();
  }

  /// Stopping, no batch is being written, and no flush waits for more.
  bool may_exit_locked() const {
    if (!stopping_) return false;
    for (const batch_slot& b : batches_)
      if (b.at == batch_slot::stage::writing || b.at == batch_slot::stage::written) return false;
    return flush_waiters_ == 0 || (pending_.empty() && in_flight_entries_locked() == 0);
  }

  /// Moves the oldest pending entries into `b` (a few at a time, letting
  /// writers in between: a put never waits behind a whole batch; inside the
  /// coalescing window only entries old enough leave the map) and copies
  /// them into the contiguous form a store takes, then hands `b` to the
  /// writer.
  void fill(batch_slot& b, std::unique_lock<std::mutex>& lock) {
    b.at = batch_slot::stage::filling;
    const std::size_t want = sizer_.next_size();
    if (want > b.capacity) {
      b.items.reserve(want);  // once, not by rehashes while entries move in
      b.capacity = want;
    }
    for (;;) {
      const auto cutoff = urgent_locked() ? clock_.now() : clock_.now() - options_.write_delay;
      const std::size_t step = std::min<std::size_t>(move_step, want - b.items.size());
      if (pending_.move_to(b.items, step, cutoff) < step || b.items.size() >= want) break;
      lock.unlock();
      lock.lock();
    }
    lock.unlock();
    // Only this thread changes a batch being filled: it is read without the lock.
    b.items.items_into(b.order);
    if (b.entries.size() < b.order.size()) b.entries.resize(b.order.size());
    for (std::size_t k = 0; k < b.order.size(); ++k) b.entries[k] = b.order[k]->e;
    lock.lock();
    b.at = b.order.empty() ? batch_slot::stage::idle : batch_slot::stage::filled;
    b.ticket = ++tickets_;
    filled_.notify_one();
  }

  /// After `b` was written: advances the journal checkpoint and keeps the
  /// delivered nodes (up to one batch) for puts to reuse.
  void recycle_written(batch_slot& b, std::unique_lock<std::mutex>& lock) {
    // A checkpoint costs two fsyncs; it only bounds replay after a crash
    // (replay is idempotent), so it is written at most every
    // checkpoint_interval while busy (a flush waiting or a full map
    // included: neither needs it), and at once when the map runs empty.
    const lsn safe = safe_checkpoint_locked();
    const auto now = clock_.now();
    if (safe > checkpointed_ && (pending_.empty() || now - last_checkpoint_ >= options_.checkpoint_interval)) {
      lock.unlock();
      auto c = journal_->commit_checkpoint(safe);
      lock.lock();
      last_checkpoint_ = now;
      if (c) checkpointed_ = std::max(checkpointed_, safe);
      else last_error_ = "journal checkpoint: " + c.error().message();
    }
    lock.unlock();
    for (entry& e : b.entries)  // do not hold on to big values
      if (e.value.capacity() > item_set::max_pooled_value) e = entry{};
    b.items.clear_into(delivered_nodes_, b.capacity);
    lock.lock();
    pending_.adopt(delivered_nodes_, b.capacity, 16 * move_step);
    b.at = batch_slot::stage::idle;
  }

  /// The writer thread: writes filled batches in the order they were
  /// filled. After an outage (the slow store stayed down through a whole
  /// retry sequence) it puts the unwritten rest back into the map and
  /// pauses.
  void write_loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
      batch_slot* next = nullptr;
      filled_.wait(lock, [&] {
        next = nullptr;
        for (batch_slot& b : batches_)
          if (b.at == batch_slot::stage::filled && (!next || b.ticket < next->ticket)) next = &b;
        return writer_exit_ || next;
      });
      if (writer_exit_) return;
      next->at = batch_slot::stage::writing;
      lock.unlock();
      (void)learn_floor();  // once, after the slow store was down at open
      const std::size_t n = next->order.size();
      const std::size_t settled = deliver(next->order, std::span<const entry>(next->entries.data(), n));
      lock.lock();
      // Back into the map in the same critical section as the batch stops
      // being owed: nothing is counted twice or missed.
      for (std::size_t k = settled; k < n; ++k) pending_.restore(*next->order[k]);
      if (settled < n) instruments_.outages.inc();
      next->at = batch_slot::stage::written;
      publish_held_locked();
      publish_locked();
      drained_.notify_all();
      room_.notify_all();
      work_.notify_all();
      if (settled < n && !stopping_)
        clock_.wait_until(lock, filled_, clock_.now() + options_.outage_pause,
                          [&] { return stopping_ || writer_exit_; });
    }
  }

  /// Writes `items` (whose entries `entries` holds, side by side) to the
  /// slow store: retries, splits refused batches, dead-letters entries
  /// refused alone. Returns how many leading items are settled (written or
  /// dead-lettered); fewer than all means the slow store is unreachable and
  /// the rest is still owed.
  std::size_t deliver(std::span<const item* const> items, std::span<const entry> entries) {
    const auto start = clock_.now();
    auto r = storesync::retry(retry_, clock_, [&] { return slow_.write(entries); });
    const auto took = std::chrono::duration_cast<std::chrono::nanoseconds>(clock_.now() - start);
    instruments_.batch_seconds.observe(took);
    {
      // Writers and status() read the sizer under the lock too: it is not
      // thread-safe (the batch_sizer concept asks no such thing).
      std::lock_guard lock(mutex_);
      sizer_.record({items.size(), took, r.outcome ? 0 : items.size()});
      if (r.outcome) {
        flushed_total_ += items.size();
        instruments_.flushed.inc(items.size());
      } else if (is_retryable(r.outcome.error())) {
        last_error_ = r.outcome.error().message();
        return 0;
      }
    }
    if (r.outcome) {
      settle(items, entries, r.outcome.value());
      return items.size();
    }
    if (items.size() == 1) {
      dead_letter_alone(*items.front(), r.outcome.error());
      return 1;
    }
    // Refused: split until the refused entries stand alone.
    const std::size_t half = items.size() / 2;
    const std::size_t left = deliver(items.first(half), entries.first(half));
    if (left < half) return left;
    return half + deliver(items.subspan(half), entries.subspan(half));
  }

  void dead_letter_alone(const item& refused, const error& why) {
    const entry& e = refused.e;
    std::lock_guard dl(dead_letter_mutex_);
    auto appended = dead_letters_->append(encode_dead_letter(make_dead_letter(e, why)));
    std::lock_guard lock(mutex_);
    if (!appended) {
      // The dead-letter journal itself failed: keep the entry owed, so it is
      // retried (and never dropped).
      last_error_ = "dead-letter journal: " + appended.error().message();
      pending_.restore(refused);
      publish_held_locked();
      return;
    }
    last_error_ = "dead-lettered " + detail::quoted(e.key) + ": " + why.message();
    ++dead_lettered_total_;
    instruments_.dead_lettered.inc();
    dead_letter_count_.fetch_add(1, std::memory_order_relaxed);
  }

  Fast& fast_;
  Slow& slow_;
  write_behind_options options_;
  [[no_unique_address]] Retry retry_;
  [[no_unique_address]] Sizer sizer_;
  [[no_unique_address]] Backpressure backpressure_;
  [[no_unique_address]] Clock clock_;
  std::shared_ptr<metrics_registry> metrics_;
  instruments instruments_;
  const value_rules rules_;
  version_clock versions_;
  std::atomic<version_type> floor_{unknown_floor};

  std::optional<file_journal> journal_;
  std::optional<file_journal> dead_letters_;
  std::mutex dead_letter_mutex_;
  std::atomic<std::uint64_t> dead_letter_count_{0};

  mutable std::mutex mutex_;
  std::condition_variable work_;     // the flusher waits here
  std::condition_variable drained_;  // flush() waits here
  std::condition_variable room_;     // writers wait here for backpressure
  std::condition_variable filled_;   // the writer waits here
  item_set pending_;
  std::array<batch_slot, 2> batches_;
  std::uint64_t tickets_ = 0;                   // hands batches to the writer in order
  typename item_set::node_pool delivered_nodes_;          // the flusher's only
  bool writer_exit_ = false;
  lsn registered_prefix_ = 0;
  lsn registered_max_ = 0;
  std::set<lsn> registered_ahead_;
  lsn checkpointed_ = 0;
  time_point last_checkpoint_{};
  std::size_t flush_waiters_ = 0;
  std::atomic<bool> accepting_{false};  // written under mutex_, read anywhere
  // Room accounting for writers (see try_reserve): what pending + in-flight
  // hold (written under mutex_) and what writers reserved but not yet added.
  std::atomic<std::size_t> held_entries_{0};
  std::atomic<std::size_t> held_bytes_{0};
  std::atomic<std::size_t> reserved_entries_{0};
  std::atomic<std::size_t> reserved_bytes_{0};
  bool stopping_ = false;
  bool closed_ = false;  // stop() has closed the journals
  std::uint64_t acknowledged_total_ = 0;
  std::uint64_t flushed_total_ = 0;
  std::uint64_t coalesced_total_ = 0;
  std::uint64_t dead_lettered_total_ = 0;
  std::uint64_t stale_at_flush_total_ = 0;
  std::string last_error_;
  std::thread flusher_;
};

}  // namespace storesync
