#pragma once
/// \file
/// `file_journal`: the `journal` model on local files. Segmented append-only
/// files under one directory, each record framed with its length, lsn and a
/// CRC32C; group commit; a checkpoint written by temp file + rename +
/// directory fsync; recovery that cuts off a torn tail and replays the rest.
///
/// \code
///   storesync::metrics_registry metrics;
///   storesync::journal_options o{.directory = "/var/lib/app/journal",
///                                .durability = storesync::durability::always};
///   BOOST_OUTCOME_TRY(auto j, storesync::file_journal::open(o, {.metrics = &metrics}));
///   BOOST_OUTCOME_TRY(auto from, j.load_checkpoint());
///   BOOST_OUTCOME_TRY(j.replay(from, [&](storesync::lsn at, std::span<const std::byte> rec) {
///     return redo(at, rec);                         // -> result<void>
///   }));
///   BOOST_OUTCOME_TRY(auto at, j.append(bytes));   // durable per the mode when it returns
///   ...                                            // once everything <= at is in the slow store:
///   BOOST_OUTCOME_TRY(j.commit_checkpoint(at));    // deletes segments holding only older records
/// \endcode
///
/// Layout of `directory`:
/// - `<first lsn, 20 digits>.seg`: segments; the last one is appended to. A
///   segment is closed once the next frame would take it past
///   `segment_size_bytes` (a single larger record gets a segment of its own).
///
/// Disk use: a checkpoint deletes every segment that holds only records at
/// or before it, and also the one being appended to when the checkpoint
/// covers every record appended and that segment holds 1 MiB or more (the
/// next append starts a new one). So the journal holds the records not yet
/// checkpointed, plus less than one segment; after a checkpoint of
/// everything, less than 1 MiB.
/// - `checkpoint` (16 bytes: magic, CRC32C, lsn) and, during a commit,
///   `checkpoint.tmp`, which open() deletes.
/// - `LOCK`: held with flock() while open, so two processes never share a journal.
///
/// Frames: u32 length, u32 CRC32C (over payload, length and lsn), u64 lsn,
/// payload (see detail/frame.hpp).
///
/// Appends: the caller's payload is framed into a shared buffer under a
/// mutex; whoever finds no write in progress becomes the writer and writes
/// every buffered frame with one write(2), outside the mutex, while later
/// producers buffer theirs for the next write (without an fsync to wait
/// for, they spin up to `writer_spin` for that write before sleeping).
/// `process` mode acknowledges after the write; `always` has the writer
/// fdatasync before acknowledging, so one fsync covers every frame of the
/// batch (group commit); `interval` acknowledges after the write and a
/// background thread fdatasyncs at least every `fsync_interval_ms` while
/// unsynced data exists, without blocking appends. Segments are fsynced
/// before a rotation in `interval` and `always` modes, and the directory
/// after a segment is created.
///
/// Recovery (in `open`): every segment is read and each frame checked
/// (length bound, CRC32C, lsn one more than the previous). In the last
/// segment the first bad frame and everything after it are cut off (a torn
/// or corrupt tail: a crash during a write), reported through the log hook
/// and the `truncated_tails` counter. A bad frame in any earlier segment, or
/// a gap in the lsns, is `errc::corrupt` naming the file and offset: a
/// killed process cannot cause it (nor a power failure in `interval` and
/// `always` modes, which fsync a segment before starting the next), so it is
/// reported, never silently dropped. A checkpoint file that fails its CRC is
/// `errc::corrupt` too.
///
/// A full disk (`ENOSPC`, `EDQUOT` from a write or a file creation) fails
/// the appends of that write and of those buffered behind it, with that
/// error (`condition::unavailable`), and changes nothing: the files are cut
/// back to their last whole frame, and the next append tries again, so the
/// journal recovers by itself once space is freed. Counted in
/// `journal_stats::refused_batches`. After any other failed write, or any
/// failed fsync, the journal refuses further appends with that error (the
/// page cache can no longer be trusted, as PostgreSQL learned); reopen it to
/// recover what is on disk. In `always` mode it first cuts the segment back
/// to where its last successful fdatasync ended (none of the rest was
/// acknowledged): a failed fsync leaves the pages readable but marked
/// clean, so a reopen would replay, and append behind, records a power
/// failure may then take away. `open` in `always` mode fdatasyncs what a
/// killed process left unsynced before appending behind it.
///
/// Thread safety: see `journal`. Replay reads records written up to the call
/// and may run beside appends and checkpoint commits (also from inside its
/// callback: a deleted segment stays readable through the open descriptor).
/// An append that fails may still have reached the file and be replayed
/// after a reopen: delivery is at-least-once, which the version guard absorbs.

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "storesync/core/result.hpp"
#include "storesync/journal/detail/file_journal_state.hpp"
#include "storesync/journal/journal.hpp"
#include "storesync/metrics/registry.hpp"

namespace storesync {

/// Where a `file_journal` reports: metrics (optional) and one-line log
/// messages (recovery truncations). Not part of `journal_options` because it
/// is wiring, not configuration.
struct file_journal_hooks {
  /// Registry to feed (`storesync_journal_*`, labelled `journal="<name>"`); may be null.
  metrics_registry* metrics = nullptr;
  /// The `journal` label value, e.g. "main" or "dead_letter".
  std::string name = "main";
  /// Receives each log line; empty: written to stderr.
  std::function<void(std::string_view)> log;
};

/// The file model of `journal` (see the file comment for layout, recovery
/// and durability). Movable; not copyable. A moved-from journal answers
/// every call with `errc::stopped`.
class file_journal {
 public:
  /// Opens (creating if needed) the journal in `options.directory` and
  /// recovers it: cuts off a torn tail, deletes checkpointed segments,
  /// positions the next lsn after the last record or the checkpoint.
  /// Errors: `invalid_argument` (bad options), `busy` (open elsewhere),
  /// `corrupt` (damage outside the tail, a bad checkpoint file), system errors.
  static result<file_journal> open(const journal_options& options, file_journal_hooks hooks = {}) {
    auto state = std::make_unique<detail::file_journal_state>(options, hooks.metrics, hooks.name,
                                                               std::move(hooks.log));
    BOOST_OUTCOME_TRY(state->open());
    return file_journal(std::move(state));
  }

  file_journal(file_journal&&) noexcept = default;
  file_journal& operator=(file_journal&&) noexcept = default;
  ~file_journal() = default;

  /// Appends one record; returns its lsn once it is as durable as the mode
  /// promises. `invalid_argument` above 64 MiB.
  result<lsn> append(std::span<const std::byte> record) {
    if (!s_) return stopped();
    return s_->append(record);
  }
  /// Appends the bytes of `record`.
  result<lsn> append(std::string_view record) { return append(std::as_bytes(std::span(record))); }

  /// Calls `fn(lsn, std::span<const std::byte>)` for each record after `after`,
  /// in order, up to the last record written when the call began. `fn`
  /// returns `result<void>` (an error stops the replay and is returned) or
  /// `void`. The span is valid only during the call.
  template <class F>
    requires std::invocable<F&, lsn, std::span<const std::byte>>
  result<std::size_t> replay(lsn after, F&& fn) {
    if (!s_) return stopped();
    return s_->replay(after, fn);
  }

  /// Everything <= `at` reached the slow store: persists `at` atomically and
  /// deletes segments that hold only such records (see "Disk use"). A value
  /// at or below the current checkpoint is a no-op; one past the last
  /// written record is `invalid_argument`.
  result<void> commit_checkpoint(lsn at) {
    if (!s_) return stopped();
    return s_->commit_checkpoint(at);
  }

  /// The committed checkpoint (0 if none).
  result<lsn> load_checkpoint() {
    if (!s_) return stopped();
    return s_->load_checkpoint();
  }

  /// Writes anything buffered and fdatasyncs: every record appended before
  /// the call survives a power failure afterwards.
  result<void> sync() {
    if (!s_) return stopped();
    return s_->sync();
  }

  /// Bytes in the segment files.
  std::uint64_t size_bytes() const noexcept { return s_ ? s_->size_bytes() : 0; }

  /// Counters since open (see `journal_stats`).
  journal_stats stats() const { return s_ ? s_->stats() : journal_stats{}; }

  /// The options the journal was opened with.
  const journal_options& options() const noexcept {
    static const journal_options none;
    return s_ ? s_->options() : none;
  }

  /// Writes what is buffered (and fdatasyncs in `interval` and `always`
  /// modes), stops the syncer, releases the directory lock. Idempotent.
  result<void> close() {
    if (!s_) return success();
    return s_->close();
  }

 private:
  explicit file_journal(std::unique_ptr<detail::file_journal_state> s) noexcept : s_(std::move(s)) {}
  static error stopped() { return error{errc::stopped, "journal is closed or moved from"}; }

  std::unique_ptr<detail::file_journal_state> s_;
};

static_assert(journal<file_journal>);

}  // namespace storesync
