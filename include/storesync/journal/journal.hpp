#pragma once
/// \file
/// The `journal` concept: a durable, ordered log of opaque records that
/// write-behind appends to before it acknowledges a put, replays on start-up,
/// and trims with a checkpoint once records have reached the slow store. Also
/// its vocabulary: `lsn`, `durability`, `journal_options` (fillable from JSON
/// with storesync/journal/journal_options_json.hpp).
///
/// \code
///   // What a writer still owes the slow store, by lsn (write-behind keeps the
///   // same in its coalescing map and its batches in flight).
///   struct owed_records {
///     std::map<storesync::lsn, storesync::entry> by_lsn;  // erased once in the slow store
///     // Every lsn up to this one is in `by_lsn` or in the slow store. Appends
///     // finish out of order, so the last lsn handed out may not be in `by_lsn` yet.
///     storesync::lsn registered = 0;
///   };
///
///   template <storesync::journal J>
///   storesync::result<void> recover(J& j, owed_records& owed) {
///     BOOST_OUTCOME_TRY(auto from, j.load_checkpoint());     // everything <= from is flushed
///     owed.registered = from;
///     BOOST_OUTCOME_TRY(j.replay(from, [&](storesync::lsn at, std::span<const std::byte> rec)
///                                          -> storesync::result<void> {
///       BOOST_OUTCOME_TRY(auto e, storesync::decode_entry(rec));
///       owed.by_lsn.emplace(at, std::move(e));
///       owed.registered = at;                                // replay is in lsn order
///       return storesync::success();
///     }));
///     return storesync::success();
///   }
///
///   // After a batch reached the slow store and left `by_lsn`: checkpoint one
///   // below the oldest record still owed, not at that batch's highest lsn.
///   // Another batch in flight, or an entry still pending, may hold older
///   // records, which a checkpoint past them would drop from replay.
///   template <storesync::journal J>
///   storesync::result<void> trim(J& j, const owed_records& owed) {
///     storesync::lsn safe = owed.registered;
///     if (!owed.by_lsn.empty()) safe = std::min(safe, owed.by_lsn.begin()->first - 1);
///     return j.commit_checkpoint(safe);
///   }
/// \endcode
///
/// The models shipped are `file_journal` (storesync/journal/file_journal.hpp)
/// and, shared by several processes, `redis_stream_journal`
/// (storesync/store/redis_stream_journal.hpp; see `shared_journal`).

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "storesync/core/result.hpp"

namespace storesync {

/// A log sequence number: the position of a record in a journal. The first
/// record is 1; each append gets the previous number plus one, also across
/// reopen. 0 means "before the first record".
using lsn = std::uint64_t;

/// When `append` acknowledges a record, and so what survives which failure.
enum class durability {
  /// Acknowledged once written to the file (in the OS page cache): survives a
  /// killed process, not a power failure. The fast mode.
  process,
  /// As `process`, plus an fsync at least every `fsync_interval_ms`: a power
  /// failure loses at most that window.
  interval,
  /// Acknowledged only after an fsync that covers the record; concurrent
  /// appenders share one fsync (group commit).
  always,
};

/// "process", "interval" or "always".
constexpr std::string_view to_string(durability d) noexcept {
  switch (d) {
    case durability::process: return "process";
    case durability::interval: return "interval";
    case durability::always: return "always";
  }
  return "unknown";
}

/// Parses "process", "interval" or "always"; anything else is
/// `errc::invalid_argument` naming the text.
inline result<durability> parse_durability(std::string_view text) {
  if (text == "process") return durability::process;
  if (text == "interval") return durability::interval;
  if (text == "always") return durability::always;
  return error{errc::invalid_argument, "durability \"" + std::string(text) +
                                           "\": expected \"process\", \"interval\" or \"always\""};
}

/// How a journal is laid out and how durable its acknowledgements are.
/// Fill from JSON with `parse_journal_options` (missing keys keep defaults;
/// storesync/journal/journal_options_json.hpp):
/// \code
///   {"directory": "/var/lib/app/journal", "durability": "interval",
///    "fsync_interval_ms": 50, "segment_size_bytes": 67108864}
/// \endcode
struct journal_options {
  /// Directory holding the segments and the checkpoint; created if missing.
  std::string directory;
  /// When an append is acknowledged (see `durability`). The default is the
  /// strongest mode that costs little: a power failure loses at most the
  /// last `fsync_interval_ms` (plus one fsync) of acknowledged records, and
  /// the reference server serves about 3 % fewer writes a second than with
  /// `process`; with `always`, about 3x fewer (docs/benchmarks.md,
  /// "Durability modes").
  storesync::durability durability = storesync::durability::interval;
  /// Upper bound between fsyncs in `durability::interval` mode.
  std::uint32_t fsync_interval_ms = 10;
  /// A segment is closed and a new one started once it would grow past this.
  std::uint64_t segment_size_bytes = 64ull << 20;

  friend bool operator==(const journal_options&, const journal_options&) = default;
};

/// Checks the numbers of `o`: a directory is given, the interval is 1 ms or
/// more, segments hold at least 4 KiB.
inline result<void> validate(const journal_options& o) {
  if (o.directory.empty()) return error{errc::invalid_argument, "journal directory is empty"};
  if (o.fsync_interval_ms == 0)
    return error{errc::invalid_argument, "journal fsync_interval_ms must be at least 1"};
  if (o.segment_size_bytes < 4096)
    return error{errc::invalid_argument, "journal segment_size_bytes " +
                                             std::to_string(o.segment_size_bytes) +
                                             " is below the 4096-byte minimum"};
  return success();
}

namespace detail {
/// The callback shape `journal` requires `replay` to accept.
struct replay_archetype {
  result<void> operator()(lsn, std::span<const std::byte>) const { return success(); }
};
}  // namespace detail

/// An ordered, durable log of opaque records with a flushed-position checkpoint.
///
/// **Requirements** (`j` a `J&`, `cj` a `const J&`, `rec` a
/// `std::span<const std::byte>`, `at` an `lsn`, `fn` callable as
/// `fn(lsn, std::span<const std::byte>) -> result<void>`)
/// | expression                | returns                     | meaning |
/// |---------------------------|-----------------------------|---------|
/// | `j.append(rec)`           | `result<lsn>`               | adds a record; returns its lsn once it is as durable as the journal's `durability` promises |
/// | `j.replay(at, fn)`        | `result<std::size_t>`       | calls `fn` for every record with lsn > `at`, in lsn order, up to the last record written when the call began; returns how many; an error from `fn` stops it and is returned |
/// | `j.commit_checkpoint(at)` | `result<void>`              | records that everything <= `at` reached the slow store; storage holding only such records may be freed. So `at` is one below the oldest record still owed (a record whose append returned but that the caller does not track yet counts as owed), not the highest lsn of the batch just written |
/// | `j.load_checkpoint()`     | `result<lsn>`               | the last committed checkpoint (0 if none) |
/// | `j.sync()`                | `result<void>`              | makes every acknowledged record durable against power failure now |
/// | `cj.size_bytes()`         | `std::uint64_t`, `noexcept` | bytes held (for lag and disk alarms) |
/// | `j.close()`               | `result<void>`              | makes acknowledged records durable per the mode and frees resources; idempotent; every other call but `size_bytes` then fails with `errc::stopped` |
///
/// **Guarantees**:
/// - lsns grow by one per record and keep growing across close and reopen
///   (a `shared_journal` numbers afresh in each session: see there),
///   also after every record was checkpointed away.
/// - An acknowledged record is replayed intact after a crash the mode
///   covers (`process`: killed process; `interval`: power failure, minus at
///   most the interval; `always`: power failure). Damage is never replayed:
///   a torn tail is cut off on recovery, other damage is `errc::corrupt`.
/// - Replay delivers records in lsn order, each at most once per call, and
///   the same records on every call until a checkpoint covers them.
/// - The checkpoint is atomic: after a crash it holds the old or the new
///   value, never a mix. It never moves backwards: committing one at or
///   below the current one changes nothing.
///
/// **Errors**: `unavailable` (disk full, I/O error: system errors from the
/// file system compare equal to it), `permanent` (`errc::corrupt` naming the
/// file and offset), `invalid_input` (a checkpoint beyond the last record
/// written, an oversized record), `errc::stopped` after `close`. Never throws.
/// **Thread safety**: `append`, `sync`, `size_bytes` and `load_checkpoint` are
/// safe from many threads at once; `replay` and `commit_checkpoint` are safe
/// against concurrent appends. `close` must not race other calls.
/// **Models**: `file_journal`.
///
/// A type models `journal` if `append` hands out consecutive lsns and returns
/// once a record is as durable as its mode promises, `replay` delivers the
/// records after an lsn intact and in order, and `commit_checkpoint` atomically
/// records, never backwards, how far they may be forgotten.
template <class J>
concept journal = requires(J& j, const J& cj, std::span<const std::byte> rec, lsn at,
                           detail::replay_archetype fn) {
  { j.append(rec) } -> std::same_as<result<lsn>>;
  { j.replay(at, fn) } -> std::same_as<result<std::size_t>>;
  { j.commit_checkpoint(at) } -> std::same_as<result<void>>;
  { j.load_checkpoint() } -> std::same_as<result<lsn>>;
  { j.sync() } -> std::same_as<result<void>>;
  { cj.size_bytes() } noexcept -> std::same_as<std::uint64_t>;
  { j.close() } -> std::same_as<result<void>>;
};

/// A `journal` that several processes share (one Redis stream, say): each
/// owns the records it appended, and a live one takes over the records of
/// one that died, so what a dead process acknowledged still reaches the slow
/// store.
///
/// **Requirements** (`j` a `J&`, `n` a `std::size_t`, `fn` as for `replay`)
/// | expression          | returns               | meaning |
/// |---------------------|-----------------------|---------|
/// | `j.take_over(n, fn)` | `result<std::size_t>` | marks this process alive, then moves up to `n` records of processes found dead (silent too long) to this process, gives each a new lsn (above every lsn handed out) and calls `fn` for each in lsn order; returns how many |
/// | `j.move_to(at, to, rec)` | `result<std::optional<lsn>>` | if this process still owns the record at `at`: appends `rec` to `to` (another `J` on the same engine) and acknowledges `at`, as one step, and returns `rec`'s lsn in `to`; otherwise changes nothing and returns no lsn |
///
/// **Guarantees**: a record is owned by one process at a time: two
/// processes taking over at once never both get it, and a record is moved
/// at most once, also by a process that was taken for dead and came back. A process that keeps
/// calling `take_over` (within the journal's time for silence) keeps its
/// records, however long it holds them. A taken record
/// behaves as if this process had appended it: `replay` delivers it until a
/// checkpoint covers it. The lsns of a shared journal are its process's
/// own: they start again after a reopen, with `load_checkpoint` at 0 and
/// `replay` delivering what the process still owns.
/// **Models**: `redis_stream_journal` (storesync/store/redis_stream_journal.hpp).
template <class J>
concept shared_journal = journal<J> && requires(J& j, J& to, std::size_t n, lsn at, std::span<const std::byte> rec,
                                                detail::replay_archetype fn) {
  { j.take_over(n, fn) } -> std::same_as<result<std::size_t>>;
  { j.move_to(at, to, rec) } -> std::same_as<result<std::optional<lsn>>>;
};

/// Counters a journal keeps about itself (a snapshot; see `file_journal::stats`).
struct journal_stats {
  /// Records and payload-plus-frame bytes appended since open.
  std::uint64_t records_appended = 0;
  std::uint64_t bytes_appended = 0;
  /// write(2) calls made for appends (fewer than records when batched).
  std::uint64_t writes = 0;
  /// fsync/fdatasync calls on segments (directory syncs not included).
  std::uint64_t fsyncs = 0;
  /// Batches refused because the disk was full (their appends failed, and
  /// the files were cut back to their last whole frame).
  std::uint64_t refused_batches = 0;
  /// Torn or corrupt tails cut off during recovery.
  std::uint64_t truncated_tails = 0;
  /// Bytes cut off by those truncations.
  std::uint64_t truncated_bytes = 0;
  /// Segment files created and deleted since open; segments on disk now.
  std::uint64_t segments_created = 0;
  std::uint64_t segments_deleted = 0;
  std::uint64_t segments = 0;
  /// Bytes on disk in all segments.
  std::uint64_t size_bytes = 0;
  /// The last lsn handed out, the last one written to the file, the last
  /// one covered by an fsync, and the checkpoint.
  lsn last_lsn = 0;
  lsn written_lsn = 0;
  lsn durable_lsn = 0;
  lsn checkpoint_lsn = 0;
};

}  // namespace storesync
