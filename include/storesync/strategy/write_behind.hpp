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
///   BOOST_OUTCOME_TRY(auto slow, storesync::postgres_store::open(pg_config));
///   BOOST_OUTCOME_TRY(auto wb, storesync::memory_write_behind<storesync::postgres_store>::open(
///                                  fast, slow, {.directory = "/var/lib/app/wb"}));   // file journals under it
///   BOOST_OUTCOME_TRY(wb->put(storesync::entry::put("user:1", R"({"name":"Ada"})", 7)));   // microseconds
///   BOOST_OUTCOME_TRY(auto flushed, wb->flush(std::chrono::seconds(5)));
///   // flushed.complete: everything acknowledged is in PostgreSQL
/// \endcode
///
/// **The write path** (`put`, `erase`, `write`): validate every entry against
/// the stricter of `options.rules` and what both stores state (`rules_of`),
/// and against what each store admits (`store_admits`: a typed table's
/// conversions), so nothing the slow store could never hold is
/// acknowledged; reserve room under the bounds on pending entries and bytes
/// (lock-free while there is room, else through the BackpressurePolicy);
/// write the fast store (version guard: an entry the fast
/// store finds stale or unchanged is acknowledged at once, as a newer or equal
/// value is already durable); append to the journal; upsert into the per-key
/// coalescing map (newest version wins), the one lock the put takes;
/// acknowledge. An invalid or refused write changes nothing and journals
/// nothing. When the journal append fails (a full disk), the fast store's
/// write is taken back (`restorable_store::restore`): the newest value still
/// owed goes back in its place, or else (none, or one still waiting for the
/// slow store's verdict, which never enters the fast store) the key leaves
/// the fast store (reads go to the slow store, and the floor rises as for an
/// eviction), so no reader sees a write its caller was told failed.
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
/// is waiting. A writer task hands each batch to `delivery`
/// (storesync/strategy/delivery.hpp) while the flusher fills the next one
/// (two batches in flight: the slow store's version guard keeps the newer
/// value of a key that is in both). Delivery retries under the RetryPolicy;
/// when the slow store stays down, the unwritten rest of the batch goes back
/// into the map and waits: an outage never creates dead letters. When the
/// slow store refuses a batch (permanent, invalid input, conflict), delivery
/// splits it until the refused entries stand alone; each goes to the
/// dead-letter log (`dead_letter_log`) with its error. After a batch the
/// journal checkpoint advances to the oldest entry still owed to the slow
/// store (at most every `checkpoint_interval` while batches keep coming).
/// The flusher and the writer run on the Executor; they wait only through
/// the Clock.
///
/// **The journals**: any `journal` model (`Journal`), one for acknowledged
/// writes and one for dead letters. The `open` without journals opens
/// `file_journal`s under `options.directory`. With a `shared_journal` (a
/// Redis stream several processes append to), each process flushes what it
/// acknowledged, and the flusher, every `take_over_interval`, marks this
/// process alive and takes over what processes found dead still owed: their
/// records join the map as at replay and are flushed, retried and
/// dead-lettered like any write (`status().taken_over_total`); so are the
/// dead letters of dead processes, which are then listed and re-driven
/// here. A record is dead-lettered only while this process owns it
/// (`dead_letter_log::add_from`): a process taken for dead that comes back
/// drops what a survivor took, so each refused record is one letter. A
/// flush covers what this process owes, taken-over records included.
///
/// **Reads** see the newest acknowledged value: the fast store and the
/// coalescing map (the newer of the two), then the slow store, whose answer
/// warms the fast store. An `accepted` write still owed is compared with the
/// slow store's version first; while the slow store is unreachable it is
/// the answer, its verdict pending (see Outcomes). When a fast-store call
/// fails where the fast store had to follow a journalled write (at replay,
/// when a floor becomes known, in a take-back or after a flush), the fast
/// store is *behind* on that key: until the slow store's entry is put back
/// in it, reads of the key go to the coalescing map and the slow store, and
/// writes of it are `accepted`, their verdict given by the slow store. After
/// a restart the journal is replayed into the map (and the fast store)
/// before the first write is accepted.
///
/// **Metrics**: counters move as events happen; the gauges are brought up to
/// date whenever the metrics registry renders (`metrics_registry::on_render`).
///
/// **Events**: `options.on_event` hears of each change of state: the slow
/// store down and up again, backpressure on and off (off once what is owed
/// fell to half the bounds, so it does not flap at the bound), and each
/// dead letter. `status().last_error` holds the latest problem until a
/// batch is delivered whole again.
///
/// Thread safety: every member may be called from many threads. The stores
/// must outlive the object and be thread-safe themselves.

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <concepts>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "storesync/core/store.hpp"
#include "storesync/core/version_clock.hpp"
#include "storesync/journal/dead_letter_log.hpp"
#include "storesync/journal/entry_codec.hpp"
#include "storesync/journal/file_journal.hpp"
#include "storesync/journal/journal.hpp"
#include "storesync/metrics/registry.hpp"
#include "storesync/policy/aimd_batch_sizer.hpp"
#include "storesync/policy/backpressure_policy.hpp"
#include "storesync/policy/batch_sizer.hpp"
#include "storesync/policy/clock.hpp"
#include "storesync/policy/executor.hpp"
#include "storesync/policy/exponential_backoff.hpp"
#include "storesync/policy/retry_policy.hpp"
#include "storesync/store/memory_store.hpp"
#include "storesync/strategy/delivery.hpp"
#include "storesync/strategy/detail/pending_set.hpp"
#include "storesync/strategy/detail/registered_lsns.hpp"
#include "storesync/strategy/detail/room_counter.hpp"

namespace storesync {

/// A change in a `write_behind`'s state, for logs and alerts
/// (`write_behind_options::on_event`).
struct write_behind_event {
  enum class kind {
    /// Delivery stopped short: the slow store stayed unreachable through a
    /// whole retry sequence (or the dead-letter journal failed); `detail`
    /// says why. Writes are still acknowledged, up to the bounds.
    slow_store_down,
    /// The first batch after `slow_store_down` that was delivered.
    slow_store_up,
    /// A write found the pending bounds reached: writes now wait or are
    /// refused, as the BackpressurePolicy says.
    backpressure_on,
    /// What is owed to the slow store fell to half the bounds again.
    backpressure_off,
    /// The slow store refused the entry `key`; it went to the dead letters,
    /// and `detail` says why.
    dead_lettered,
  };
  kind what;
  std::string key = {};
  std::string detail = {};
};

constexpr std::string_view to_string(write_behind_event::kind k) noexcept {
  using enum write_behind_event::kind;
  switch (k) {
    case slow_store_down: return "slow_store_down";
    case slow_store_up: return "slow_store_up";
    case backpressure_on: return "backpressure_on";
    case backpressure_off: return "backpressure_off";
    case dead_lettered: return "dead_lettered";
  }
  return "unknown";
}

/// Run-time settings of a `write_behind` (policies carry their own).
struct write_behind_options {
  /// What every value must meet, on top of what the two stores state (the
  /// stricter of all three applies): the nesting depth accepted at the door.
  value_rules rules{};
  /// Where the `open` without journals keeps its file journals:
  /// `journal/` and `dead-letters/`; created if missing.
  std::string directory;
  /// That open's journal settings: durability of acknowledgements, fsync
  /// interval, segment size. An empty `journal.directory` means
  /// `<directory>/journal`; the dead letters take the same settings in
  /// `<directory>/dead-letters`.
  journal_options journal{};
  /// Bounds on what is acknowledged but not yet in the slow store. After a
  /// restart the journal's replay may start above them (entries delivered
  /// since the last checkpoint are replayed too, see `checkpoint_interval`);
  /// writes then wait for room as at the bounds.
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
  /// With a `shared_journal` (several processes on one journal): how often
  /// this process marks itself alive in it and takes over what processes
  /// found dead still owed, and how many records it takes at a time (none
  /// while the pending bounds are reached). Ignored with other journals.
  std::chrono::milliseconds take_over_interval{1000};
  std::size_t take_over_batch = 1000;
  /// Called once per state change (see `write_behind_event`), on the thread
  /// that saw it and outside write_behind's locks. Keep it short, and do not
  /// call back into the write_behind. Empty: nobody is told.
  std::function<void(const write_behind_event&)> on_event = {};
  /// The wall clock `next_version()` reads, in microseconds since the epoch.
  /// Empty (the default): the system clock. A test or a simulation steps
  /// it back, as an NTP correction or a restored VM would. Must not throw.
  std::function<version_type()> wall_clock = {};
};

/// A snapshot of a `write_behind`'s state (also exported as metrics).
struct write_behind_status {
  std::size_t pending = 0;
  std::size_t pending_bytes = 0;
  /// Entries in the (up to two) batches on their way to the slow store.
  /// The pending bounds hold `pending + in_flight` entries and
  /// `pending_bytes + in_flight_bytes` bytes.
  std::size_t in_flight = 0;
  std::size_t in_flight_bytes = 0;
  std::uint64_t journal_bytes = 0;
  std::uint64_t acknowledged_total = 0;
  std::uint64_t flushed_total = 0;
  std::uint64_t coalesced_total = 0;
  std::uint64_t dead_letters = 0;
  std::uint64_t dead_lettered_total = 0;
  /// Flushed entries the slow store held a newer version of; the fast store
  /// was corrected from it.
  std::uint64_t stale_at_flush_total = 0;
  /// Records taken over from dead processes sharing the journal (a
  /// `shared_journal`; see The journals).
  std::uint64_t taken_over_total = 0;
  /// Whether the slow store's largest version is known (see Outcomes).
  bool floor_known = false;
  std::size_t batch_size = 0;
  /// Write attempts to the slow store repeated under the RetryPolicy.
  std::uint64_t retries_total = 0;
  /// Retryable failures so far of the write in progress (a batch, or a part
  /// of one being split): 0 unless it is being retried.
  std::uint32_t failing_attempts = 0;
  /// Batches put back because delivery stopped short: the slow store stayed
  /// unreachable through a whole retry sequence, or the dead-letter journal
  /// failed (each followed by `outage_pause`).
  std::uint64_t outages_total = 0;
  /// Age of the oldest acknowledged entry not yet in the slow store.
  std::chrono::milliseconds lag{0};
  /// The latest problem (the slow store unreachable, a dead letter, a
  /// failed journal checkpoint, a stale flush), until a later batch is
  /// delivered whole with none: empty once delivery is healthy again.
  std::string last_error;
  /// When `last_error` happened (wall-clock time); the epoch when empty.
  std::chrono::system_clock::time_point last_error_at{};
  bool accepting = false;
};

/// What a `flush` achieved by its deadline.
struct flush_report {
  /// Everything acknowledged before the call is in the slow store or
  /// dead-lettered.
  bool complete = false;
  /// Entries acknowledged before the call and still owed to the slow store.
  std::size_t remaining = 0;
  /// As `write_behind_status::last_error` when the flush returned.
  std::string last_error;
};

template <restorable_store Fast, store Slow, retry_policy Retry = exponential_backoff,
          batch_sizer Sizer = aimd_batch_sizer, class Backpressure = block_for,
          waitable_clock Clock = system_clock, journal Journal = file_journal,
          executor Executor = thread_executor>
  requires backpressure_policy<Backpressure, Clock>
class write_behind {
  using time_point = typename Clock::time_point;
  using item = detail::pending_item<time_point>;
  using item_set = detail::pending_set<time_point>;
  using delivery_type = delivery<Slow, Retry, Sizer, Clock>;

 public:
  using fast_type = Fast;
  using slow_type = Slow;
  using retry_type = Retry;
  using sizer_type = Sizer;
  using backpressure_type = Backpressure;
  using clock_type = Clock;
  using journal_type = Journal;
  using executor_type = Executor;

  write_behind(const write_behind&) = delete;
  write_behind& operator=(const write_behind&) = delete;
  ~write_behind() { (void)stop(std::chrono::seconds(0)); }

  /// Opens (or recovers) file journals under `options.directory` and
  /// continues as the `open` below.
  static result<std::unique_ptr<write_behind>> open(Fast& fast, Slow& slow, write_behind_options options,
                                                    Retry retry = {}, Sizer sizer = {},
                                                    Backpressure backpressure = {}, Clock clock = {},
                                                    std::shared_ptr<metrics_registry> metrics = nullptr,
                                                    Executor executor = {})
    requires std::same_as<Journal, file_journal>
  {
    if (options.directory.empty())
      return error{errc::invalid_argument, "write_behind: options.directory is empty"};
    if (!metrics) metrics = std::make_shared<metrics_registry>();
    const std::filesystem::path root(options.directory);
    journal_options main = options.journal;
    if (main.directory.empty()) main.directory = (root / "journal").string();
    journal_options letters = options.journal;
    letters.directory = (root / "dead-letters").string();
    BOOST_OUTCOME_TRY(auto log, file_journal::open(main, {metrics.get(), "main", {}}));
    BOOST_OUTCOME_TRY(auto dead, file_journal::open(letters, {metrics.get(), "dead_letters", {}}));
    return open(fast, slow, std::move(log), std::move(dead), std::move(options), std::move(retry),
                std::move(sizer), std::move(backpressure), std::move(clock), std::move(metrics),
                std::move(executor));
  }

  /// Takes `log` (acknowledged writes) and `letters` (dead letters), replays
  /// every entry of `log` not yet in the slow store into the coalescing map
  /// and the fast store, and starts the flusher on `executor`.
  static result<std::unique_ptr<write_behind>> open(Fast& fast, Slow& slow, Journal log, Journal letters,
                                                    write_behind_options options, Retry retry = {},
                                                    Sizer sizer = {}, Backpressure backpressure = {},
                                                    Clock clock = {},
                                                    std::shared_ptr<metrics_registry> metrics = nullptr,
                                                    Executor executor = {}) {
    if (options.max_pending_entries == 0 || options.max_pending_bytes == 0)
      return error{errc::invalid_argument, "write_behind: pending bounds must be positive"};
    BOOST_OUTCOME_TRY(auto dead, dead_letter_log<Journal>::open(std::move(letters)));
    std::unique_ptr<write_behind> wb(new write_behind(
        fast, slow, std::move(log), std::move(dead), std::move(options), std::move(retry), std::move(sizer),
        std::move(backpressure), std::move(clock), std::move(metrics), std::move(executor)));
    (void)wb->learn_floor();  // the slow store may be down: then learnt when it is back
    BOOST_OUTCOME_TRY(wb->recover());
    wb->flusher_ = wb->executor_.start([self = wb.get()] { self->flush_loop(); });
    wb->writer_ = wb->executor_.start([self = wb.get()] { self->write_loop(); });
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
  version_type next_version() noexcept { return next_versions(1); }

  /// The first of `count` consecutive versions, each as `next_version()`
  /// would give it: versions for a batch of writes in one step.
  version_type next_versions(std::size_t count) noexcept {
    return options_.wall_clock ? versions_.reserve(count, options_.wall_clock()) : versions_.reserve(count);
  }

  /// The rules every written value must meet (see `write`).
  const value_rules& rules() const noexcept { return rules_; }

  /// The newest acknowledged entry for `key` (tombstones included), or nothing.
  result<std::optional<entry>> read(std::string_view key) {
    if (is_behind(key)) return read_past_fast(key);
    BOOST_OUTCOME_TRY(auto fast, fast_.read(key));
    std::optional<entry> held;
    bool unconfirmed = false;
    {
      std::lock_guard lock(mutex_);
      if (const item* i = newest_owed_locked(key)) {
        held = i->e;
        unconfirmed = i->unconfirmed;
      }
    }
    if (held && (!fast || held->version > fast->version)) {
      if (!unconfirmed) return held;
      // At or below the floor: the slow store may hold a newer version,
      // which this write meets only at flush (see Outcomes). While the slow
      // store cannot tell, the answer is this write, its verdict pending.
      auto slow = slow_.read(key);
      return slow && slow.value() && slow.value()->version > held->version ? slow.value() : held;
    }
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
    const lsn target = registered_.highest();
    ++flush_waiters_;
    work_.notify_all();
    const bool done = clock_.wait_until(lock, drained_, clock_.now() + timeout,
                                        [&] { return owed_through(target) == 0; });
    --flush_waiters_;
    return flush_report{done, owed_through(target), last_error_};
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
        return flush_report{owed_through(registered_.highest()) == 0, 0, last_error_};
      accepting_ = false;
      room_freed_.notify_all();
    }
    BOOST_OUTCOME_TRY(auto report, flush(timeout));
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      work_.notify_all();
      filled_.notify_all();  // ends the writer's outage pause
    }
    if (flusher_.joinable()) flusher_.join();  // tells the writer to end as it exits
    if (writer_.joinable()) writer_.join();
    auto closed = journal_.close();
    auto letters_closed = letters_.close();
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    BOOST_OUTCOME_TRY(std::move(closed));
    BOOST_OUTCOME_TRY(std::move(letters_closed));
    return report;
  }

  /// Dead letters, oldest first, at most `limit`.
  result<std::vector<dead_letter>> dead_letters(std::size_t limit = SIZE_MAX) { return letters_.list(limit); }

  /// Sends every dead letter through the write path again (the version
  /// guard drops any that a newer write superseded) and clears the list.
  /// Returns how many were re-driven. No lock is held while writing, so
  /// backpressure can wait for the flusher, which may dead-letter again.
  result<std::size_t> retry_dead_letters() {
    return letters_.redrive([&](const entry& e) -> result<void> {
      write_report ignored;
      return write_one(e, ignored, origin::redrive);
    });
  }

  /// A snapshot; it changes nothing (the metrics' gauges are refreshed when
  /// they render).
  write_behind_status status() const {
    write_behind_status s;
    std::lock_guard lock(mutex_);
    s.pending = pending_.size();
    s.pending_bytes = pending_.bytes();
    s.in_flight = in_flight_entries_locked();
    s.in_flight_bytes = owed_bytes_locked() - s.pending_bytes;
    s.journal_bytes = journal_.size_bytes();
    s.acknowledged_total = acknowledged_total_;
    s.flushed_total = flushed_total_;
    s.coalesced_total = coalesced_total_;
    s.dead_letters = letters_.size();
    s.dead_lettered_total = dead_lettered_total_;
    s.stale_at_flush_total = stale_at_flush_total_;
    s.taken_over_total = taken_over_total_;
    s.floor_known = floor_.load(std::memory_order_relaxed) != unknown_floor;
    s.batch_size = delivery_.batch_size();
    s.retries_total = delivery_.retries();
    s.failing_attempts = delivery_.failing_attempts();
    s.outages_total = instruments_.outages.value();
    s.lag = lag_locked();
    s.last_error = last_error_;
    s.last_error_at = last_error_at_;
    s.accepting = accepting_;
    return s;
  }

  /// The policies, to inspect or retune while running (not thread-safe
  /// against the flusher for Sizer and Retry: tune before heavy load).
  Retry& retry() noexcept { return delivery_.retry(); }
  Sizer& sizer() noexcept { return delivery_.sizer(); }
  Backpressure& backpressure() noexcept { return backpressure_; }
  Clock& clock() noexcept { return clock_; }
  const write_behind_options& options() const noexcept { return options_; }
  const std::shared_ptr<metrics_registry>& metrics() const noexcept { return metrics_; }
  /// The journal of acknowledged writes, for what it tells of itself (a
  /// shared journal's figures, say); its const members only.
  const Journal& journal() const noexcept { return journal_; }

 private:
  write_behind(Fast& fast, Slow& slow, Journal log, dead_letter_log<Journal> letters,
               write_behind_options options, Retry retry, Sizer sizer, Backpressure backpressure, Clock clock,
               std::shared_ptr<metrics_registry> metrics, Executor executor)
      : fast_(fast),
        slow_(slow),
        options_(std::move(options)),
        backpressure_(std::move(backpressure)),
        clock_(std::move(clock)),
        metrics_(metrics ? std::move(metrics) : std::make_shared<metrics_registry>()),
        delivery_(slow, std::move(retry), std::move(sizer), clock_, delivery_metrics{*metrics_, "write_behind"}),
        journal_(std::move(log)),
        letters_(std::move(letters)),
        executor_(std::move(executor)),
        rules_(stricter(options_.rules, stricter(rules_of(fast), rules_of(slow)))),
        room_(options_.max_pending_entries, options_.max_pending_bytes) {
    metrics_registry& r = *metrics_;
    instruments_.acknowledged = r.counter("write_behind_acknowledged_total", "Writes acknowledged to callers.");
    instruments_.coalesced = r.counter("write_behind_coalesced_total", "Writes merged into a pending write of the same key.");
    instruments_.outages = r.counter("write_behind_outages_total", "Batches put back because the slow store stayed unreachable.");
    instruments_.stale_at_flush = r.counter("write_behind_stale_at_flush_total", "Flushed entries the slow store held a newer version of; the fast store was corrected.");
    instruments_.pending = r.gauge("write_behind_pending", "Entries acknowledged, not yet taken by the flusher.");
    instruments_.pending_bytes = r.gauge("write_behind_pending_bytes", "Approximate bytes held by pending entries.");
    instruments_.in_flight = r.gauge("write_behind_in_flight", "Entries in batches on their way to the slow store.");
    instruments_.dead_letters = r.gauge("write_behind_dead_letters", "Dead letters waiting to be re-driven.");
    instruments_.batch_size = r.gauge("write_behind_batch_size", "The batch sizer's next batch size.");
    instruments_.lag = r.gauge("write_behind_lag_seconds", "Age of the oldest entry not yet in the slow store.");
    instruments_.put_seconds = r.histogram("write_behind_put_seconds", "Time to acknowledge a write.");
    refresh_gauges_ = r.on_render([this] {
      std::lock_guard lock(mutex_);
      publish_locked();
    });
  }

  /// Entries moved into a batch per lock hold (keeps put latency flat).
  static constexpr std::size_t move_step = 64;
  /// Most keys the pending map reserves buckets for at open (8 MiB of buckets).
  static constexpr std::size_t max_reserved_buckets = 1u << 20;
  /// Entries per fast-store write when many go in at once (replay,
  /// take-over, admission once the floor is known): one round trip each
  /// for a fast store across the network.
  static constexpr std::size_t fast_write_chunk = 1000;

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
    counter acknowledged, coalesced, outages, stale_at_flush;
    gauge pending, pending_bytes, in_flight, dead_letters, batch_size, lag;
    histogram put_seconds;
  };

  /// Brings the gauges up to date (the counters move as events happen).
  void publish_locked() const {
    instruments_.pending.set(static_cast<double>(pending_.size()));
    instruments_.pending_bytes.set(static_cast<double>(pending_.bytes()));
    instruments_.in_flight.set(static_cast<double>(in_flight_entries_locked()));
    instruments_.dead_letters.set(static_cast<double>(letters_.size()));
    instruments_.batch_size.set(static_cast<double>(delivery_.batch_size()));
    instruments_.lag.set(std::chrono::duration<double>(lag_locked()).count());
  }

  result<void> recover() {
    BOOST_OUTCOME_TRY(auto from, journal_.load_checkpoint());
    std::lock_guard lock(mutex_);
    // Buckets for the whole bound up front (capped), so no put pays for a
    // rehash; the batches reuse theirs from one batch to the next.
    pending_.reserve(std::min<std::size_t>(options_.max_pending_entries, max_reserved_buckets));
    registered_.start_after(from);
    checkpointed_ = from;
    const auto now = clock_.now();
    std::vector<std::pair<lsn, entry>> read;  // a chunk at a time
    const auto readmit = [&] {
      readmit_all_locked(read, now);
      read.clear();
    };
    BOOST_OUTCOME_TRY(journal_.replay(from, [&](lsn at, std::span<const std::byte> rec) -> result<void> {
      BOOST_OUTCOME_TRY(auto e, read_journalled(rec));
      if (!e) registered_.add(at);
      else read.emplace_back(at, std::move(*e));
      if (read.size() == fast_write_chunk) readmit();
      return success();
    }));
    readmit();
    publish_held_locked();
    accepting_ = true;
    return success();
  }

  /// A journalled record, as replay and take-over read it: a version mark
  /// raises the version clock and is nothing more (none); an entry raises it
  /// to its version and is returned.
  result<std::optional<entry>> read_journalled(std::span<const std::byte> rec) {
    if (is_version_mark(rec)) {
      BOOST_OUTCOME_TRY(auto mark, decode_version_mark(rec));
      versions_.observe(mark);
      return std::optional<entry>{};
    }
    BOOST_OUTCOME_TRY(auto e, decode_entry(rec));
    versions_.observe(e.version);
    return std::optional<entry>(std::move(e));
  }

  /// As a write, for entries read from the journal (replay, take-over):
  /// an entry the slow store may have superseded is `unconfirmed` and stays
  /// out of the fast store until its verdict is known; the others go into
  /// it in one write, and are `in_fast` unless that write failed.
  struct journalled_verdicts {
    std::vector<bool> unconfirmed, in_fast;
  };
  journalled_verdicts write_journalled_to_fast(const std::vector<std::pair<lsn, entry>>& read) {
    journalled_verdicts v{std::vector<bool>(read.size()), std::vector<bool>(read.size(), true)};
    std::vector<entry> confirmed;
    for (std::size_t k = 0; k < read.size(); ++k) {
      v.unconfirmed[k] = read[k].second.version <= floor();
      if (!v.unconfirmed[k]) confirmed.push_back(read[k].second);
    }
    if (!confirmed.empty() && !fast_.write(confirmed))
      for (std::size_t k = 0; k < read.size(); ++k) v.in_fast[k] = v.unconfirmed[k];
    return v;
  }

  /// Puts entries read from the journal back in the map, as owed (see
  /// `write_journalled_to_fast`; when the fast store's write failed, it is
  /// behind on their keys). With the lock held; the replay's way.
  void readmit_all_locked(std::vector<std::pair<lsn, entry>>& read, time_point now) {
    const auto v = write_journalled_to_fast(read);
    for (std::size_t k = 0; k < read.size(); ++k)
      readmit_locked(std::move(read[k].second), read[k].first, now, v.unconfirmed[k], v.in_fast[k]);
  }

  /// Puts a journalled entry back in the map under `at`, as owed. It is in
  /// the fast store (`in_fast`) unless `unconfirmed` kept it out or the fast
  /// store's write failed (then the fast store is behind on its key).
  void readmit_locked(entry e, lsn at, time_point now, bool unconfirmed, bool in_fast) {
    if (!in_fast) mark_behind_locked(e.key);
    if (pending_.upsert(std::move(e), at, now, unconfirmed)) ++coalesced_total_;
    registered_.add(at);
  }

  /// What a write that finds no room does: wait as the BackpressurePolicy
  /// says, or fail at once with `errc::queue_full`.
  enum class full_queue { wait, fail };

  result<write_report> write_all(std::span<const entry> batch, full_queue on_full) {
    BOOST_OUTCOME_TRY(validate_batch(batch, rules_));
    for (const entry& e : batch) {
      BOOST_OUTCOME_TRY(store_admits(fast_, e));
      BOOST_OUTCOME_TRY(store_admits(slow_, e));
    }
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
    room_reservation reserved{this, cost};
    // Above the floor the fast store's guard decides and the entry goes in.
    // At or below it the slow store may hold a newer version the fast store
    // never saw: such an entry stays out of the fast store until the slow
    // store's verdict is known (see settle), unless the fast store already
    // holds a version as new. On a key the fast store is behind on, the
    // fast store decides nothing: the slow store gives the verdict.
    const bool behind = is_behind(e.key);
    bool unconfirmed = behind || e.version <= floor();
    std::optional<guard_outcome> answered;
    bool in_fast = false;  // this write is in the fast store
    if (!unconfirmed) {
      BOOST_OUTCOME_TRY(auto guarded, fast_.write(std::span(&e, 1)));
      in_fast = guarded.applied > 0;
      if (guarded.applied == 0) answered = guarded.unchanged ? guard_outcome::unchanged : guard_outcome::stale;
      // The fast store may have evicted the key meanwhile, raising the floor:
      // then the verdict waits for the slow store after all.
      else unconfirmed = e.version <= floor();
    } else if (!behind) {
      BOOST_OUTCOME_TRY(auto held, fast_.read(e.key));
      if (held && held->version >= e.version) answered = version_guard(e.version, held->version);
    }
    if (answered && from == origin::caller) {
      // The fast store holds this version or a newer one, which was
      // acknowledged (and journalled) already. A re-driven dead letter is
      // in the fast store by definition, so it always goes on.
      {
        std::lock_guard lock(mutex_);
        reserved.release_locked();
        ++acknowledged_total_;
        instruments_.acknowledged.inc();
        observe();
      }
      room_freed_.notify_all();
      report.count(*answered);
      return success();
    }
    versions_.observe(e.version);
    // One encode buffer per thread: no allocation per put once it has grown.
    thread_local std::vector<std::byte> frame;
    encode_entry(e, frame);
    auto appended = journal_.append(frame);
    if (frame.capacity() > (1u << 20)) frame = {};  // do not keep a huge record's buffer
    if (!appended) {
      if (in_fast) take_back(e);
      return appended.error();
    }
    const lsn at = appended.value();
    std::lock_guard lock(mutex_);
    // The floor became known, or the fast store caught up on the key, while
    // this write went in (admit_above_floor_locked, put_back_locked).
    if (unconfirmed && e.version > floor() && !is_behind_locked(e.key)) admit_locked(e);
    if (pending_.upsert(e, at, clock_.now(), unconfirmed)) {
      ++coalesced_total_;
      instruments_.coalesced.inc();
    }
    publish_held_locked();
    reserved.release_locked();  // now counted as pending
    registered_.add(at);
    ++acknowledged_total_;
    instruments_.acknowledged.inc();
    // Wake the flusher for a full batch only if it has a batch to fill: while
    // both are on their way, the writer wakes it when one is written.
    if (pending_.size() >= delivery_.batch_size() && batch_at(batch_slot::stage::idle)) work_.notify_one();
    observe();
    ++(unconfirmed ? report.accepted : report.applied);
    return success();
  }

  /// The newest entry of `key` still owed to the slow store (pending or in a
  /// batch on its way), or null; valid while the lock is held.
  const item* newest_owed_locked(std::string_view key) const {
    const item* newest = pending_.find(key);
    for_each_owed_batch([&](const item_set& set) {
      const item* i = set.find(key);
      if (i && (!newest || i->e.version > newest->e.version)) newest = i;
    });
    return newest;
  }

  /// Takes `e` back out of the fast store after its journal append failed:
  /// the newest value still owed goes back in its place; with none, what the
  /// key held before is in the slow store, so the key leaves the fast store
  /// and the floor rises to `e`'s version, as an eviction would raise it. An
  /// owed value still unconfirmed (at or below the floor) is not put back:
  /// the slow store may hold a newer one, which a read then finds (as
  /// `write_one` keeps such a value out of the fast store). A newer write
  /// that came in meanwhile stays (the restore finds a conflict).
  void take_back(const entry& e) {
    std::optional<entry> previous;
    bool confirmed = true;
    {
      std::lock_guard lock(mutex_);
      if (const item* i = newest_owed_locked(e.key)) {
        previous = i->e;
        confirmed = !i->unconfirmed;
      }
    }
    if (previous && previous->version >= e.version) return;  // a newer write came in meanwhile
    if (!confirmed) previous.reset();
    if (auto restored = fast_.restore(e.key, e.version, previous); !restored) {
      // A conflict means a newer write replaced `e`; any other failure may
      // have left `e` in the fast store.
      if (restored.error() != errc::version_conflict) {
        std::lock_guard lock(mutex_);
        mark_behind_locked(e.key);
      }
      return;
    }
    if (previous) return;
    version_type f = floor_.load(std::memory_order_relaxed);
    while (f != unknown_floor && f < e.version && !floor_.compare_exchange_weak(f, e.version, std::memory_order_relaxed)) {
    }
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
      std::lock_guard lock(mutex_);
      admit_above_floor_locked(max.value());
      floor_.store(max.value(), std::memory_order_relaxed);
      return true;
    } else {
      return false;
    }
  }

  /// While the floor is unknown no write goes into the fast store. Once it
  /// is known (`floor`), the owed entries above it go in, as every write
  /// above the floor does, so the fast store's guard, which gives the
  /// verdict above the floor, has seen every acknowledged version there. Done
  /// with the lock held and before the floor is published; a write that
  /// journalled meanwhile admits itself (see write_one). The entries go in
  /// chunks, one fast-store write each (the fast store may be across the
  /// network); of a key held twice (pending and in a batch), the guard keeps
  /// the newer version.
  void admit_above_floor_locked(version_type floor) {
    std::vector<const item*> owed;
    std::vector<entry> admit;
    const auto collect = [&](const item_set& set) {
      set.items_into(owed);
      for (const item* i : owed)
        if (i->unconfirmed && i->e.version > floor && !is_behind_locked(i->e.key)) admit.push_back(i->e);
    };
    collect(pending_);
    for_each_owed_batch(collect);
    for (std::size_t at = 0; at < admit.size(); at += fast_write_chunk) {
      const std::span<const entry> part(admit.data() + at, std::min(fast_write_chunk, admit.size() - at));
      if (!fast_.write(part))
        for (const entry& e : part) mark_behind_locked(e.key);
    }
  }

  /// Puts `es` (read from the slow store, or just delivered to it) into the
  /// fast store in one write, evictable. When the fast store fails, it may
  /// be left behind on their keys.
  void warm(std::span<const entry> es) {
    if (es.empty()) return;
    if (fast_.write(es)) {
      for (const entry& e : es) release(e);
      return;
    }
    std::lock_guard lock(mutex_);
    for (const entry& e : es) mark_behind_locked(e.key);
  }
  void warm(const entry& e) { warm(std::span(&e, 1)); }

  /// Puts an owed entry above the floor into the fast store, whose guard
  /// must have seen it to give verdicts; when the fast store fails, it is
  /// behind on the key.
  void admit_locked(const entry& e) {
    if (!fast_.write(std::span(&e, 1))) mark_behind_locked(e.key);
  }

  /// Whether the fast store may hold an older version of `key` than was
  /// acknowledged, or a write that was taken back: a fast-store call failed
  /// on it (a transient fault, say). The fast store then answers neither
  /// reads nor verdicts for the key (`read_past_fast`; `write_one` asks the
  /// slow store) until the slow store's entry is back in it
  /// (`put_back_locked`). One lock-free load while no key is behind.
  bool is_behind(std::string_view key) const {
    if (behind_count_.load(std::memory_order_acquire) == 0) return false;
    std::lock_guard lock(mutex_);
    return is_behind_locked(key);
  }
  bool is_behind_locked(std::string_view key) const { return behind_.find(key) != behind_.end(); }
  void mark_behind_locked(std::string_view key) {
    if (behind_.emplace(key).second) behind_count_.store(behind_.size(), std::memory_order_release);
  }

  /// `read` on a key the fast store is behind on: the newer of what is owed
  /// and what the slow store holds (an owed entry while the slow store cannot
  /// tell). With nothing owed, the slow store's answer goes back into the
  /// fast store, which then answers for the key again.
  result<std::optional<entry>> read_past_fast(std::string_view key) {
    std::optional<entry> owed;
    {
      std::lock_guard lock(mutex_);
      if (const item* i = newest_owed_locked(key)) owed = i->e;
    }
    auto slow = slow_.read(key);
    if (owed) return slow && slow.value() && slow.value()->version > owed->version ? slow.value() : owed;
    BOOST_OUTCOME_TRY(auto truth, std::move(slow));
    std::lock_guard lock(mutex_);
    put_back_locked(key, truth);
    return truth;
  }

  /// Makes the fast store hold `truth`, the slow store's entry for `key`
  /// (nothing if it holds none), in place of whatever it holds, and trusts
  /// it for the key again, unless a newer entry is owed meanwhile (which then
  /// reaches the fast store through `settle`).
  void put_back_locked(std::string_view key, const std::optional<entry>& truth) {
    const item* newer = newest_owed_locked(key);
    if (newer && (!truth || newer->e.version > truth->version)) return;
    auto held = fast_.read(key);
    if (!held) return;
    const std::optional<entry>& cached = held.value();
    bool holds_truth = cached && truth && cached->version == truth->version && cached->hash == truth->hash;
    if (cached && !holds_truth && !(truth && cached->version < truth->version)) {
      // It holds what nobody is owed (a write taken back, or one the slow
      // store found stale): out with it, `truth` in its place.
      const bool truth_older = truth && truth->version < cached->version;
      if (!fast_.restore(key, cached->version, truth_older ? truth : std::nullopt)) return;
      holds_truth = truth_older || !truth;
    }
    if (truth && !holds_truth && !fast_.write(std::span(&*truth, 1))) return;
    if (truth) release(*truth);
    behind_.erase(behind_.find(key));
    behind_count_.store(behind_.size(), std::memory_order_release);
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
    std::vector<entry> confirmed;  // unconfirmed ones the slow store applied: one fast-store write
    for (std::size_t k = 0; k < entries.size(); ++k) {
      const entry& e = entries[k];
      const bool behind = is_behind(e.key);
      if (!behind && (all_applied || (!items[k]->unconfirmed && outcome.stale == 0))) {
        if (items[k]->unconfirmed) confirmed.push_back(e);
        else release(e);
        continue;
      }
      auto held = slow_.read(e.key);
      if (!held || !held.value()) {
        if (!behind) forget_older(e);
        std::lock_guard lock(mutex_);
        note_error_locked("reading back " + detail::quoted(e.key) + " after a flush: " +
                          (held ? std::string("not found") : held.error().message()));
        continue;
      }
      const entry& truth = *held.value();
      if (truth.version > e.version || (truth.version == e.version && truth.hash != e.hash)) ++stale;
      if (behind) {
        std::lock_guard lock(mutex_);
        put_back_locked(e.key, truth);
      } else {
        warm(truth);
      }
    }
    warm(confirmed);
    if (stale == 0) return;
    std::lock_guard lock(mutex_);
    stale_at_flush_total_ += stale;
    instruments_.stale_at_flush.inc(stale);
    note_error_locked(std::to_string(stale) +
                      " flushed entries were older than the slow store's; the fast store now holds its");
  }

  /// After `e` was delivered but its verdict could not be read back: the
  /// slow store holds `e`'s version or a newer one, so an older version in
  /// the fast store must not answer reads any more; the key leaves it, and
  /// the next read asks the slow store. (An entry the fast store holds no
  /// version of is unconfirmed, at or below the floor, so writes at or below
  /// its version keep asking the slow store for their verdict.)
  void forget_older(const entry& e) {
    auto cached = fast_.read(e.key);
    bool failed = !cached;
    if (cached && cached.value() && cached.value()->version < e.version) {
      auto removed = fast_.restore(e.key, cached.value()->version, std::nullopt);
      failed = !removed && removed.error() != errc::version_conflict;  // a conflict: a newer write came in
    }
    if (failed) {
      std::lock_guard lock(mutex_);
      mark_behind_locked(e.key);
    }
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
      self->room_freed_.notify_all();
    }
    void release_locked() noexcept {
      if (!held) return;
      held = false;
      self->room_.release(cost);
    }
  };

  /// Reserves room under the bounds; without the lock when there is room
  /// (the common case), else through the BackpressurePolicy, which waits
  /// under the lock. Fails with `errc::stopped` once stopping.
  result<void> reserve_room(std::size_t cost, full_queue on_full) {
    if (!accepting_.load(std::memory_order_acquire)) return error{errc::stopped, "write_behind is stopped"};
    if (room_.try_reserve(cost)) return success();
    if (!under_pressure_.exchange(true, std::memory_order_acq_rel)) tell({write_behind_event::kind::backpressure_on});
    std::unique_lock lock(mutex_);
    bool reserved = false;
    auto has_room = [&] { return reserved || !accepting_ || (reserved = room_.try_reserve(cost)); };
    auto waited = on_full == full_queue::wait ? backpressure_.wait_for_room(clock_, lock, room_freed_, has_room)
                                              : reject{}.wait_for_room(clock_, lock, room_freed_, has_room);
    if (waited && accepting_) return success();
    if (reserved) room_.release(cost);
    if (!waited) return waited.error();
    return error{errc::stopped, "write_behind is stopped"};
  }

  /// Tells the room counter what pending and in-flight hold; called under
  /// the lock after they change, before a reservation is released.
  void publish_held_locked() noexcept {
    room_.hold(pending_.size() + in_flight_entries_locked(), owed_bytes_locked());
  }

  /// Bytes of the entries owed to the slow store (pending and in flight).
  std::size_t owed_bytes_locked() const noexcept {
    std::size_t bytes = pending_.bytes();
    for_each_owed_batch([&](const item_set& set) { bytes += set.bytes(); });
    return bytes;
  }

  /// Entries owed to the slow store whose oldest obligation is <= `target`.
  std::size_t owed_through(lsn target) const {
    std::size_t n = pending_.count_through(target);
    for_each_owed_batch([&](const item_set& set) { n += set.count_through(target); });
    return n;
  }

  /// Everything at or before this lsn is in the slow store or dead-lettered.
  lsn safe_checkpoint_locked() const {
    lsn safe = registered_.contiguous();  // never past a record not yet in the map
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
    return pending_.size() >= delivery_.batch_size() || age >= options_.flush_interval;
  }

  /// The flusher: takes batches from the map and, while the writer thread
  /// writes one, fills the other, so the slow store never waits for the
  /// map, the copy into a batch, a checkpoint or the node reuse.
  void flush_loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
      batch_slot* written = nullptr;
      batch_slot* idle = nullptr;
      auto ready = [&] {
        written = batch_at(batch_slot::stage::written);
        idle = batch_at(batch_slot::stage::idle);
        return written || (idle && !winding_down_locked() && batch_due_locked()) || may_exit_locked() ||
               take_over_due_locked();
      };
      while (!ready()) {
        // Woken at the oldest entry's due time when it may fill a batch;
        // otherwise (both batches away, or winding down and only waiting
        // for the writer) by a notification, with a second's check.
        const auto oldest = pending_.oldest_since();
        auto wake = idle && oldest && !winding_down_locked()
                        ? *oldest + std::max(options_.flush_interval, options_.write_delay)
                        : clock_.now() + std::chrono::seconds(1);
        if constexpr (shared_journal<Journal>) wake = std::min(wake, next_take_over_);
        clock_.wait_until(lock, work_, wake, ready);
      }
      if (written) recycle_written(*written, lock);
      else if (may_exit_locked()) break;
      else if (take_over_due_locked()) take_over(lock);
      else if (!winding_down_locked()) fill(*idle, lock);
    }
    // A batch filled but not yet written stays in the journal for the next open.
    writer_exit_ = true;
    filled_.notify_all();
  }

  /// Whether the flusher should take over from dead processes now: with a
  /// `shared_journal`, every `take_over_interval` until stopping.
  bool take_over_due_locked() const {
    if constexpr (shared_journal<Journal>) return !stopping_ && clock_.now() >= next_take_over_;
    else return false;
  }

  /// Marks this process alive in the shared journal and takes over what
  /// dead ones owed: their records join the map (and the fast store) as at
  /// replay, then flow like any write.
  void take_over(std::unique_lock<std::mutex>& lock) {
    if constexpr (shared_journal<Journal>) {
      next_take_over_ = clock_.now() + options_.take_over_interval;
      const bool room = pending_.size() + in_flight_entries_locked() < options_.max_pending_entries &&
                        owed_bytes_locked() < options_.max_pending_bytes;
      lock.unlock();
      std::vector<lsn> marks;
      std::vector<std::pair<lsn, entry>> taken;
      const auto letters = letters_.take_over(options_.take_over_batch);
      auto n = journal_.take_over(room ? options_.take_over_batch : 0,
                                  [&](lsn at, std::span<const std::byte> rec) -> result<void> {
                                    BOOST_OUTCOME_TRY(auto e, read_journalled(rec));
                                    if (e) taken.emplace_back(at, std::move(*e));
                                    else marks.push_back(at);
                                    return success();
                                  });
      // As at replay, but outside the lock: the fast store may be across
      // the network (take_over_batch entries at most: one write).
      const auto v = write_journalled_to_fast(taken);
      lock.lock();
      if (!n) note_error_locked("journal take-over: " + n.error().message());
      if (!letters) note_error_locked("dead-letter take-over: " + letters.error().message());
      const auto now = clock_.now();
      for (const lsn at : marks) registered_.add(at);
      for (std::size_t i = 0; i < taken.size(); ++i)
        readmit_locked(std::move(taken[i].second), taken[i].first, now, v.unconfirmed[i], v.in_fast[i]);
      taken_over_total_ += taken.size();
      if (!taken.empty()) publish_held_locked();
    }
  }

  /// Stopping, and no flush waits for more: no new batch is filled (with a
  /// batch always on its way during an outage, the flusher would otherwise
  /// keep filling the next one and never exit).
  bool winding_down_locked() const {
    return stopping_ && (flush_waiters_ == 0 || (pending_.empty() && in_flight_entries_locked() == 0));
  }

  /// Winding down, and no batch is being written.
  bool may_exit_locked() const {
    if (!winding_down_locked()) return false;
    for (const batch_slot& b : batches_)
      if (b.at == batch_slot::stage::writing || b.at == batch_slot::stage::written) return false;
    return true;
  }

  /// Moves the oldest pending entries into `b` (a few at a time, letting
  /// writers in between: a put never waits behind a whole batch; inside the
  /// coalescing window only entries old enough leave the map) and copies
  /// them into the contiguous form a store takes, then hands `b` to the
  /// writer.
  void fill(batch_slot& b, std::unique_lock<std::mutex>& lock) {
    b.at = batch_slot::stage::filling;
    const std::size_t want = delivery_.batch_size();
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
      auto c = checkpoint(safe);
      lock.lock();
      last_checkpoint_ = now;
      if (c) checkpointed_ = std::max(checkpointed_, safe);
      else note_error_locked("journal checkpoint: " + c.error().message());
    }
    lock.unlock();
    for (entry& e : b.entries)  // do not hold on to big values
      if (e.value.capacity() > item_set::max_pooled_value) e = entry{};
    b.items.clear_into(delivered_nodes_, b.capacity);
    lock.lock();
    pending_.adopt(delivered_nodes_, b.capacity, 16 * move_step);
    b.at = batch_slot::stage::idle;
  }

  /// Moves the journal checkpoint to `safe`, after journalling a version
  /// mark: the versions acknowledged up to `safe` leave the replay, and the
  /// mark, after it, keeps next_version() above them after a restart even
  /// while the slow store cannot say its largest (a wall clock stepped back
  /// would otherwise hand out a version below an acknowledged one).
  result<void> checkpoint(lsn safe) {
    thread_local std::vector<std::byte> frame;
    encode_version_mark(versions_.last(), frame);
    BOOST_OUTCOME_TRY(auto at, journal_.append(frame));
    {
      std::lock_guard lock(mutex_);
      registered_.add(at);  // owed to nobody: the checkpoint may pass it
    }
    return journal_.commit_checkpoint(safe);
  }

  /// The writer: writes filled batches in the order they were filled.
  /// When delivery stops short (the slow store stayed down through a whole
  /// retry sequence, or the dead-letter log failed) it puts the unwritten
  /// rest back into the map and pauses.
  void write_loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
      batch_slot* next = nullptr;
      const auto ready = [&] {
        next = nullptr;
        for (batch_slot& b : batches_)
          if (b.at == batch_slot::stage::filled && (!next || b.ticket < next->ticket)) next = &b;
        return writer_exit_ || next;
      };
      while (!clock_.wait_until(lock, filled_, clock_.now() + std::chrono::seconds(1), ready)) {
      }
      if (writer_exit_) return;
      next->at = batch_slot::stage::writing;
      const std::uint64_t errors_before = errors_noted_;
      lock.unlock();
      (void)learn_floor();  // once, after the slow store was down at open
      const std::size_t n = next->order.size();
      const auto report = deliver(next->order, std::span<const entry>(next->entries.data(), n));
      lock.lock();
      // Back into the map in the same critical section as the batch stops
      // being owed: nothing is counted twice or missed.
      for (std::size_t k = report.settled; k < n; ++k) pending_.restore(*next->order[k]);
      std::vector<write_behind_event> events;
      if (report.stopped_by) {
        instruments_.outages.inc();
        note_error_locked(report.stopped_by->message());
        if (!slow_store_down_) events.push_back({write_behind_event::kind::slow_store_down, {}, last_error_});
        slow_store_down_ = true;
      } else {
        if (slow_store_down_) events.push_back({write_behind_event::kind::slow_store_up});
        slow_store_down_ = false;
        if (report.settled == n && errors_noted_ == errors_before) {
          // A batch delivered whole, nothing dead-lettered or stale: whatever
          // went wrong before is over.
          last_error_.clear();
          last_error_at_ = {};
        }
      }
      next->at = batch_slot::stage::written;
      publish_held_locked();
      if (under_pressure_.load(std::memory_order_acquire) && owed_under_half_locked() &&
          under_pressure_.exchange(false, std::memory_order_acq_rel))
        events.push_back({write_behind_event::kind::backpressure_off});
      drained_.notify_all();
      room_freed_.notify_all();
      work_.notify_all();
      if (!events.empty()) {
        lock.unlock();
        for (const auto& e : events) tell(e);
        lock.lock();
      }
      if (report.settled < n && !stopping_)
        clock_.wait_until(lock, filled_, clock_.now() + options_.outage_pause,
                          [&] { return stopping_ || writer_exit_; });
    }
  }

  void tell(const write_behind_event& e) const {
    if (options_.on_event) options_.on_event(e);
  }

  /// What is owed to the slow store is at most half of each bound.
  bool owed_under_half_locked() const {
    return pending_.size() + in_flight_entries_locked() <= options_.max_pending_entries / 2 &&
           owed_bytes_locked() <= options_.max_pending_bytes / 2;
  }

  void note_error_locked(std::string message) {
    last_error_ = std::move(message);
    last_error_at_ = std::chrono::system_clock::now();
    ++errors_noted_;
  }

  /// Hands `entries` (whose items `items` holds, side by side) to delivery;
  /// settles what the slow store took and dead-letters what it refused.
  delivery_report deliver(std::span<const item* const> items, std::span<const entry> entries) {
    return delivery_.deliver(
        entries,
        [&](std::size_t first, std::span<const entry> part, const write_report& verdicts) {
          {
            std::lock_guard lock(mutex_);
            flushed_total_ += part.size();
          }
          settle(items.subspan(first, part.size()), part, verdicts);
        },
        [&](std::size_t at, const error& why) -> result<void> {
          if (auto kept = keep_letter(*items[at], entries[at], why); !kept)
            return error{kept.error().code(), "dead-letter journal: " + kept.error().context()};
          else if (!kept.value())
            return success();  // another process took the record over: its letter, if any
          {
            std::lock_guard lock(mutex_);
            note_error_locked("dead-lettered " + detail::quoted(entries[at].key) + ": " + why.message());
            ++dead_lettered_total_;
          }
          tell({write_behind_event::kind::dead_lettered, entries[at].key, why.message()});
          return success();
        });
  }

  /// Keeps `e` (of `it`) as a dead letter, refused with `why`. With a
  /// `shared_journal`, only while this process still owns the record (false
  /// when it was taken over: see `dead_letter_log::add_from`).
  result<bool> keep_letter(const item& it, const entry& e, const error& why) {
    if constexpr (shared_journal<Journal>) {
      return letters_.add_from(journal_, it.last, e, why);
    } else {
      BOOST_OUTCOME_TRY(letters_.add(e, why));
      return true;
    }
  }

  Fast& fast_;
  Slow& slow_;
  write_behind_options options_;
  [[no_unique_address]] Backpressure backpressure_;
  [[no_unique_address]] Clock clock_;
  std::shared_ptr<metrics_registry> metrics_;
  instruments instruments_;
  delivery_type delivery_;
  Journal journal_;
  dead_letter_log<Journal> letters_;
  [[no_unique_address]] Executor executor_;
  const value_rules rules_;
  version_clock versions_;
  std::atomic<version_type> floor_{unknown_floor};
  detail::room_counter room_;  // lock-free room checks for writers

  mutable std::mutex mutex_;
  /// Keys the fast store may be behind on (`is_behind`), and how many.
  std::unordered_set<std::string, detail::string_hash, std::equal_to<>> behind_;
  std::atomic<std::size_t> behind_count_{0};
  std::condition_variable work_;        // the flusher waits here
  std::condition_variable drained_;     // flush() waits here
  std::condition_variable room_freed_;  // writers wait here for backpressure
  std::condition_variable filled_;      // the writer waits here
  item_set pending_;
  std::array<batch_slot, 2> batches_;
  std::uint64_t tickets_ = 0;                     // hands batches to the writer in order
  typename item_set::node_pool delivered_nodes_;  // the flusher's only
  bool writer_exit_ = false;
  detail::registered_lsns registered_;
  lsn checkpointed_ = 0;
  time_point last_checkpoint_{};
  std::size_t flush_waiters_ = 0;
  std::atomic<bool> accepting_{false};  // written under mutex_, read anywhere
  bool stopping_ = false;
  bool closed_ = false;  // stop() has closed the journals
  std::uint64_t acknowledged_total_ = 0;
  std::uint64_t flushed_total_ = 0;
  std::uint64_t coalesced_total_ = 0;
  std::uint64_t dead_lettered_total_ = 0;
  std::uint64_t stale_at_flush_total_ = 0;
  std::uint64_t taken_over_total_ = 0;
  time_point next_take_over_{};  // with a shared_journal: the flusher's next take-over
  std::string last_error_;
  std::chrono::system_clock::time_point last_error_at_{};
  std::uint64_t errors_noted_ = 0;  // note_error_locked calls, to tell a clean batch
  bool slow_store_down_ = false;    // since a slow_store_down event
  std::atomic<bool> under_pressure_{false};  // since a backpressure_on event
  typename Executor::task flusher_;
  typename Executor::task writer_;
  render_hook refresh_gauges_;  // last: unregistered before the state it reads goes
};

/// The common composition: a `memory_store` in front of `Slow`, with every
/// default policy (what the reference server runs).
/// \code
///   storesync::memory_store fast;
///   auto wb = storesync::memory_write_behind<storesync::sqlite_store>::open(fast, slow, {.directory = dir});
/// \endcode
template <store Slow>
using memory_write_behind = write_behind<memory_store, Slow>;

}  // namespace storesync
