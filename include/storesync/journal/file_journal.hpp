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
/// After a failed write or fsync the journal refuses further appends with
/// that error (the page cache can no longer be trusted, as PostgreSQL
/// learned); reopen it to recover what is on disk.
///
/// Thread safety: see `journal`. Replay reads records written up to the call
/// and may run beside appends and checkpoint commits (also from inside its
/// callback: a deleted segment stays readable through the open descriptor).
/// An append that fails may still have reached the file and be replayed
/// after a reopen: delivery is at-least-once, which the version guard absorbs.

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <concepts>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <system_error>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "storesync/core/result.hpp"
#include "storesync/journal/detail/crc32c.hpp"
#include "storesync/journal/detail/frame.hpp"
#include "storesync/journal/detail/segment_file.hpp"
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

namespace detail {

inline constexpr std::uint32_t checkpoint_magic = 0x434a5353;  // "SSJC"
inline constexpr std::size_t checkpoint_size = 16;
inline constexpr std::string_view checkpoint_file = "checkpoint";
inline constexpr std::string_view checkpoint_temp = "checkpoint.tmp";

/// Reads the checkpoint file: 0 if absent, `corrupt` if damaged.
inline result<std::uint64_t> read_checkpoint(const std::string& path) {
  auto fd = open_file(path, O_RDONLY);
  if (!fd) {
    if (fd.error().code() == std::error_code(ENOENT, std::system_category())) return 0;
    return fd.error();
  }
  std::byte buf[checkpoint_size + 1];
  std::size_t got = 0;
  for (;;) {
    const ssize_t r = ::read(fd.value().get(), buf + got, sizeof buf - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return errno_error("read " + path);
    if (r == 0 || (got += static_cast<std::size_t>(r)) == sizeof buf) break;
  }
  if (got != checkpoint_size || get_u32(buf) != checkpoint_magic ||
      get_u32(buf + 4) != crc32c(std::span<const std::byte>(buf + 8, 8)))
    return error{errc::corrupt, "journal checkpoint " + path + " is damaged (" +
                                    std::to_string(got) + " bytes)"};
  return get_u64(buf + 8);
}

/// Writes the checkpoint atomically: temp file, fsync, rename, fsync dir.
inline result<void> write_checkpoint(const std::string& dir, std::uint64_t at) {
  const std::string tmp = dir + "/" + std::string(checkpoint_temp);
  const std::string dst = dir + "/" + std::string(checkpoint_file);
  std::byte buf[checkpoint_size];
  put_u32(buf, checkpoint_magic);
  put_u64(buf + 8, at);
  put_u32(buf + 4, crc32c(std::span<const std::byte>(buf + 8, 8)));
  {
    BOOST_OUTCOME_TRY(auto fd, open_file(tmp, O_WRONLY | O_CREAT | O_TRUNC));
    BOOST_OUTCOME_TRY(write_all(fd.get(), buf, sizeof buf, tmp));
    BOOST_OUTCOME_TRY(fsync_fd(fd.get(), tmp));
  }
  if (::rename(tmp.c_str(), dst.c_str()) < 0) return errno_error("rename " + tmp + " to " + dst);
  return fsync_directory(dir);
}

/// The metric handles of one journal (no-ops without a registry).
struct journal_metrics {
  counter records, bytes, writes, fsyncs, truncated_tails, segments_created, segments_deleted;
  gauge segments, size_bytes, last_lsn, checkpoint_lsn;
  histogram fsync_seconds;

  void attach(metrics_registry& r, const std::string& name) {
    const metric_labels l{{"journal", name}};
    records = r.counter("journal_records_total", "Records appended to the journal.", l);
    bytes = r.counter("journal_bytes_total", "Bytes appended to the journal, frames included.", l);
    writes = r.counter("journal_writes_total", "write(2) calls for journal appends.", l);
    fsyncs = r.counter("journal_fsyncs_total", "fdatasync calls on journal segments.", l);
    truncated_tails = r.counter("journal_truncated_tails_total",
                                "Torn or corrupt journal tails cut off during recovery.", l);
    segments_created = r.counter("journal_segments_created_total", "Journal segments created.", l);
    segments_deleted =
        r.counter("journal_segments_deleted_total", "Journal segments deleted after a checkpoint.", l);
    segments = r.gauge("journal_segments", "Journal segment files on disk.", l);
    size_bytes = r.gauge("journal_size_bytes", "Bytes in journal segment files.", l);
    last_lsn = r.gauge("journal_last_lsn", "The last lsn appended.", l);
    checkpoint_lsn = r.gauge("journal_checkpoint_lsn", "The journal checkpoint: records up to it are flushed.", l);
    fsync_seconds = r.histogram("journal_fsync_seconds", "Duration of journal fdatasync calls.", l);
  }
};

/// How long a producer spins for another's write(2) before it sleeps.
inline constexpr std::chrono::microseconds writer_spin{20};

/// A pause for spin loops (lets the sibling hyper-thread run).
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

/// Where a new segment starts inside a pending write batch.
struct rotation_point {
  std::size_t offset = 0;
  std::uint64_t first_lsn = 0;
};

/// Everything behind a `file_journal` handle (so the handle can move).
class file_journal_state {
 public:
  file_journal_state(journal_options opt, file_journal_hooks hooks)
      : opt_(std::move(opt)), hooks_(std::move(hooks)) {
    if (hooks_.metrics) m_.attach(*hooks_.metrics, hooks_.name);
  }

  ~file_journal_state() { (void)close(); }

  // ---- open / recovery -----------------------------------------------------

  result<void> open() {
    BOOST_OUTCOME_TRY(validate(opt_));
    dir_ = opt_.directory;
    while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (ec) return error{ec, "create journal directory " + dir_};

    BOOST_OUTCOME_TRY(auto lock, open_file(dir_ + "/LOCK", O_RDWR | O_CREAT));
    if (::flock(lock.get(), LOCK_EX | LOCK_NB) < 0) {
      if (errno == EWOULDBLOCK)
        return error{errc::busy, "journal " + dir_ + " is open in another process or handle"};
      return errno_error("lock " + dir_ + "/LOCK");
    }
    lock_ = std::move(lock);

    ::unlink((dir_ + "/" + std::string(checkpoint_temp)).c_str());  // an interrupted commit
    BOOST_OUTCOME_TRY(checkpoint_, read_checkpoint(dir_ + "/" + std::string(checkpoint_file)));
    BOOST_OUTCOME_TRY(segments_, list_segments(dir_));

    // Segments wholly at or below the checkpoint: a crash came between the
    // checkpoint and their deletion.
    while (segments_.size() >= 2 && segments_[1].first_lsn <= checkpoint_ + 1) {
      if (::unlink(segments_.front().path.c_str()) < 0) return errno_error("delete " + segments_.front().path);
      ++stats_.segments_deleted;
      m_.segments_deleted.inc();
      segments_.erase(segments_.begin());
    }
    if (!segments_.empty() && segments_.front().first_lsn > checkpoint_ + 1)
      return error{errc::corrupt, "journal " + dir_ + ": records " + std::to_string(checkpoint_ + 1) +
                                      " to " + std::to_string(segments_.front().first_lsn - 1) +
                                      " are missing (first segment " + segments_.front().path +
                                      ", checkpoint " + std::to_string(checkpoint_) + ")"};

    std::uint64_t last = 0;  // the last lsn on disk (implied by the name for an empty segment)
    for (std::size_t i = 0; i < segments_.size(); ++i) {
      auto& seg = segments_[i];
      const bool is_last = i + 1 == segments_.size();
      if (i > 0 && seg.first_lsn != last + 1)
        return error{errc::corrupt, "journal segment " + seg.path + " starts at lsn " +
                                        std::to_string(seg.first_lsn) + " but the previous one ends at " +
                                        std::to_string(last)};
      segment_reader rd;
      BOOST_OUTCOME_TRY(rd.open(seg.path));
      segment_reader::frame f;
      std::uint64_t expect = seg.first_lsn;
      for (;;) {
        BOOST_OUTCOME_TRY(auto st, rd.next(f));
        if (st == segment_reader::status::end) break;
        std::string why;
        if (st == segment_reader::status::damaged) why = rd.why();
        else if (f.lsn != expect) why = "lsn " + std::to_string(f.lsn) + " where " + std::to_string(expect) + " was expected";
        if (why.empty()) {
          ++expect;
          continue;
        }
        const std::uint64_t at = st == segment_reader::status::damaged ? rd.offset() : f.offset;
        if (!is_last)
          return error{errc::corrupt, "journal segment " + seg.path + " at offset " + std::to_string(at) +
                                          ": " + why};
        BOOST_OUTCOME_TRY(truncate_tail(seg, at, why, expect - 1));
        break;
      }
      seg.bytes = rd.offset();
      last = expect - 1;
    }
    next_lsn_ = std::max(last, checkpoint_) + 1;

    // An empty last segment is reused only if its name matches the next lsn.
    if (!segments_.empty() && segments_.back().bytes == 0 && segments_.back().first_lsn != next_lsn_) {
      if (::unlink(segments_.back().path.c_str()) < 0) return errno_error("delete " + segments_.back().path);
      segments_.pop_back();
    }
    // If the tail lost records the checkpoint covers (process mode and a power
    // failure), numbering resumes after the checkpoint in a fresh segment.
    if (!segments_.empty() && last >= checkpoint_) {
      BOOST_OUTCOME_TRY(auto fd, open_file(segments_.back().path, O_WRONLY | O_APPEND));
      fd_ = std::move(fd);
      active_path_ = segments_.back().path;
      tail_bytes_ = segments_.back().bytes;
      have_segment_ = true;
    }
    written_lsn_.store(next_lsn_ - 1);
    durable_lsn_.store(next_lsn_ - 1);
    for (const auto& s : segments_) size_bytes_ += s.bytes;
    last_sync_ = std::chrono::steady_clock::now();
    publish_gauges();
    m_.last_lsn.set(static_cast<double>(next_lsn_ - 1));
    m_.checkpoint_lsn.set(static_cast<double>(checkpoint_));
    open_ = true;
    if (opt_.durability == durability::interval) {
      try {
        syncer_ = std::thread([this] { sync_loop(); });
      } catch (const std::system_error& e) {
        open_ = false;
        return error{e.code(), "start the fsync thread of journal " + dir_};
      }
    }
    return success();
  }

  // ---- append --------------------------------------------------------------

  result<lsn> append(std::span<const std::byte> payload) {
    if (payload.size() > max_record_size)
      return error{errc::invalid_argument, "journal " + dir_ + ": record of " + std::to_string(payload.size()) +
                                               " bytes exceeds the " + std::to_string(max_record_size) +
                                               "-byte limit"};
    const std::uint32_t pcrc = crc32c(payload);
    const std::size_t frame = frame_header_size + payload.size();
    std::unique_lock lk(mu_);
    if (!open_) return error{errc::stopped, "journal " + dir_ + " is closed"};
    if (broken_) return *broken_;
    const lsn at = next_lsn_++;
    if (!have_segment_ || (tail_bytes_ > 0 && tail_bytes_ + frame > opt_.segment_size_bytes)) {
      rotations_.push_back({pending_.size(), at});
      tail_bytes_ = 0;
      have_segment_ = true;
    }
    tail_bytes_ += frame;
    const std::size_t off = pending_.size();
    pending_.resize(off + frame);
    write_frame_header(pending_.data() + off, pcrc, static_cast<std::uint32_t>(payload.size()), at);
    if (!payload.empty()) std::memcpy(pending_.data() + off + frame_header_size, payload.data(), payload.size());
    ++pending_records_;

    const bool always = opt_.durability == durability::always;
    bool spun = false;
    for (;;) {
      if ((always ? durable_lsn_ : written_lsn_).load(std::memory_order_acquire) >= at) return at;
      if (broken_) return *broken_;
      if (!writer_active_) {
        write_batch(lk, always);
        continue;
      }
      if (!always && !spun) {
        spun = true;
        if (spin_past_write(lk)) continue;
      }
      cv_.wait(lk);
    }
  }

  // ---- replay --------------------------------------------------------------

  template <class F>
  result<std::size_t> replay(lsn after, F& fn) {
    std::vector<std::pair<std::uint64_t, std::string>> segs;
    std::uint64_t limit;
    {
      std::lock_guard lk(mu_);
      if (!open_) return error{errc::stopped, "journal " + dir_ + " is closed"};
      limit = written_lsn_.load();
      for (const auto& s : segments_) segs.emplace_back(s.first_lsn, s.path);
    }
    std::size_t n = 0;
    for (std::size_t i = 0; i < segs.size(); ++i) {
      if (i + 1 < segs.size() && segs[i + 1].first <= after + 1) continue;  // all <= after
      if (segs[i].first > limit) break;
      segment_reader rd;
      if (auto opened = rd.open(segs[i].second); !opened) {
        // Deleted by a concurrent checkpoint since the snapshot: its records
        // are covered by the checkpoint, so skipping them is allowed.
        std::lock_guard lk(mu_);
        if (opened.error().code() == std::error_code(ENOENT, std::system_category()) &&
            i + 1 < segs.size() && segs[i + 1].first - 1 <= checkpoint_)
          continue;
        return opened.error();
      }
      segment_reader::frame f;
      std::uint64_t expect = segs[i].first;
      while (expect <= limit) {
        BOOST_OUTCOME_TRY(auto st, rd.next(f));
        if (st == segment_reader::status::end) break;
        if (st == segment_reader::status::damaged || f.lsn != expect)
          return error{errc::corrupt, "journal segment " + segs[i].second + " at offset " +
                                          std::to_string(st == segment_reader::status::damaged
                                                             ? rd.offset()
                                                             : f.offset) +
                                          ": " +
                                          (st == segment_reader::status::damaged
                                               ? rd.why()
                                               : "lsn " + std::to_string(f.lsn) + " where " +
                                                     std::to_string(expect) + " was expected")};
        ++expect;
        if (f.lsn <= after) continue;
        if constexpr (std::is_void_v<std::invoke_result_t<F&, lsn, std::span<const std::byte>>>) {
          fn(f.lsn, f.payload);
        } else {
          BOOST_OUTCOME_TRY(fn(f.lsn, f.payload));
        }
        ++n;
      }
    }
    return n;
  }

  // ---- checkpoint ----------------------------------------------------------

  result<void> commit_checkpoint(lsn at) {
    std::lock_guard commit(commit_mu_);
    {
      std::lock_guard lk(mu_);
      if (!open_) return error{errc::stopped, "journal " + dir_ + " is closed"};
      if (at <= checkpoint_) return success();
      if (at > written_lsn_.load())
        return error{errc::invalid_argument, "journal " + dir_ + ": checkpoint " + std::to_string(at) +
                                                 " is beyond the last written lsn " +
                                                 std::to_string(written_lsn_.load())};
    }
    BOOST_OUTCOME_TRY(write_checkpoint(dir_, at));
    std::vector<segment_info> doomed;
    {
      std::lock_guard lk(mu_);
      checkpoint_ = at;
      m_.checkpoint_lsn.set(static_cast<double>(at));
      // Never the last segment: it may be the one being appended to.
      while (segments_.size() >= 2 && segments_[1].first_lsn <= at + 1) {
        doomed.push_back(std::move(segments_.front()));
        segments_.erase(segments_.begin());
      }
    }
    if (doomed.empty()) return success();
    // A replay still reading one of these keeps its descriptor; unlink is safe.
    std::optional<error> failed;
    for (const auto& s : doomed)
      if (::unlink(s.path.c_str()) < 0 && errno != ENOENT && !failed) failed = errno_error("delete " + s.path);
    {
      std::lock_guard lk(mu_);
      for (const auto& s : doomed) size_bytes_ -= s.bytes;
      stats_.segments_deleted += doomed.size();
      m_.segments_deleted.inc(doomed.size());
      publish_gauges();
    }
    if (failed) return *failed;
    return success();
  }

  result<lsn> load_checkpoint() {
    std::lock_guard lk(mu_);
    if (!open_) return error{errc::stopped, "journal " + dir_ + " is closed"};
    return checkpoint_;
  }

  // ---- sync / close --------------------------------------------------------

  result<void> sync() {
    std::unique_lock lk(mu_);
    if (!open_) return error{errc::stopped, "journal " + dir_ + " is closed"};
    return sync_locked(lk);
  }

  result<void> close() {
    std::unique_lock lk(mu_);
    if (!open_) return success();
    std::optional<error> failed;
    if (opt_.durability != durability::process) {
      if (auto r = sync_locked(lk); !r) failed = r.error();
    } else {
      while (writer_active_) cv_.wait(lk);
      if (!broken_ && !pending_.empty()) write_batch(lk, false);
      if (broken_) failed = *broken_;
    }
    open_ = false;
    stop_ = true;
    cv_.notify_all();
    sync_cv_.notify_all();
    lk.unlock();
    if (syncer_.joinable()) syncer_.join();
    lk.lock();
    while (writer_active_) cv_.wait(lk);
    fd_.reset();
    lock_.reset();
    if (failed) return *failed;
    return success();
  }

  std::uint64_t size_bytes() const noexcept { return size_bytes_atomic_.load(std::memory_order_relaxed); }

  journal_stats stats() const {
    std::lock_guard lk(mu_);
    journal_stats s = stats_;
    s.segments = segments_.size();
    s.size_bytes = size_bytes_;
    s.last_lsn = next_lsn_ - 1;
    s.written_lsn = written_lsn_.load();
    s.durable_lsn = durable_lsn_.load();
    s.checkpoint_lsn = checkpoint_;
    return s;
  }

  const journal_options& options() const noexcept { return opt_; }

 private:
  void log(const std::string& line) {
    if (hooks_.log) hooks_.log(line);
    else std::fprintf(stderr, "%s\n", line.c_str());
  }

  void publish_gauges() {
    size_bytes_atomic_.store(size_bytes_, std::memory_order_relaxed);
    m_.size_bytes.set(static_cast<double>(size_bytes_));
    m_.segments.set(static_cast<double>(segments_.size()));
  }

  result<void> truncate_tail(segment_info& seg, std::uint64_t at, const std::string& why, std::uint64_t last) {
    BOOST_OUTCOME_TRY(auto fd, open_file(seg.path, O_WRONLY));
    BOOST_OUTCOME_TRY(auto size, file_size(fd.get(), seg.path));
    int rc;
    do rc = ::ftruncate(fd.get(), static_cast<off_t>(at));
    while (rc < 0 && errno == EINTR);
    if (rc < 0) return errno_error("truncate " + seg.path);
    BOOST_OUTCOME_TRY(fsync_fd(fd.get(), seg.path));
    ++stats_.truncated_tails;
    stats_.truncated_bytes += size - at;
    m_.truncated_tails.inc();
    log("storesync journal: cut off a torn or corrupt tail of " + seg.path + " at offset " +
        std::to_string(at) + " (" + std::to_string(size - at) + " bytes dropped: " + why +
        "); records up to lsn " + std::to_string(last) + " are intact");
    return success();
  }

  // Another producer holds the writer role. Without an fsync its write(2)
  // takes microseconds, while sleeping on cv_ and being woken costs a
  // scheduler round trip that a busy machine stretches to tens of them: so
  // spin briefly, outside the mutex, for that write to finish. Returns with
  // `lk` held; true if the write finished.
  bool spin_past_write(std::unique_lock<std::mutex>& lk) {
    const std::uint64_t seen = batches_written_.load(std::memory_order_acquire);
    lk.unlock();
    const auto until = std::chrono::steady_clock::now() + writer_spin;
    bool done = false;
    while (!(done = batches_written_.load(std::memory_order_acquire) != seen)) {
      for (int i = 0; i < 16; ++i) cpu_relax();
      if (std::chrono::steady_clock::now() >= until) break;
    }
    lk.lock();
    return done;
  }

  // Writes every pending frame with the writer role held; `sync` adds an
  // fdatasync before the batch is acknowledged. Called and returns with `lk`
  // held; releases it during I/O.
  void write_batch(std::unique_lock<std::mutex>& lk, bool sync) {
    if (broken_) return;  // never write after a failure: the file may end mid-frame
    writer_active_ = true;
    batch_.swap(pending_);
    batch_rotations_.swap(rotations_);
    const lsn batch_last = next_lsn_ - 1;
    const std::uint64_t records = pending_records_;
    pending_records_ = 0;
    const bool need_sync = sync && (batch_last > durable_lsn_.load() || !batch_.empty());
    const bool sync_rotations = opt_.durability != durability::process;
    lk.unlock();

    std::vector<segment_info> created;  // rare: only when a batch starts a segment
    std::uint64_t to_active = 0;        // bytes written to the segment active before the batch
    std::uint64_t fsyncs = 0;
    result<void> r = success();
    std::size_t pos = 0;
    std::size_t next_rot = 0;
    auto account = [&](std::size_t n) {
      if (created.empty()) to_active += n;
      else created.back().bytes += n;
    };
    while (r && pos < batch_.size()) {
      std::size_t end = batch_.size();
      if (next_rot < batch_rotations_.size()) {
        const auto& rp = batch_rotations_[next_rot];
        if (rp.offset == pos) {
          r = start_segment(rp.first_lsn, sync_rotations, fsyncs, created);
          ++next_rot;
          continue;
        }
        end = rp.offset;
      }
      r = write_all(fd_.get(), batch_.data() + pos, end - pos, active_path_);
      if (r) account(end - pos);
      pos = end;
    }
    if (r && next_rot < batch_rotations_.size()) r = error{errc::backend_failure, "journal rotation bookkeeping"};
    if (r && need_sync && fd_) {
      const auto t0 = std::chrono::steady_clock::now();
      r = datasync_fd(fd_.get(), active_path_);
      m_.fsync_seconds.observe(std::chrono::steady_clock::now() - t0);
      ++fsyncs;
    }

    lk.lock();
    const std::uint64_t bytes = batch_.size();
    batch_.clear();
    batch_rotations_.clear();
    if (!segments_.empty()) segments_.back().bytes += to_active;
    for (auto& s : created) segments_.push_back(std::move(s));
    size_bytes_ += bytes;
    stats_.segments_created += created.size();
    stats_.fsyncs += fsyncs;
    m_.fsyncs.inc(fsyncs);
    if (bytes > 0) {
      ++stats_.writes;
      stats_.records_appended += records;
      stats_.bytes_appended += bytes;
      m_.writes.inc();
      m_.records.inc(records);
      m_.bytes.inc(bytes);
      m_.last_lsn.set(static_cast<double>(batch_last));
      if (!created.empty()) m_.segments_created.inc(created.size());
    }
    publish_gauges();
    if (!r) {
      if (!broken_) broken_ = r.error();
    } else {
      written_lsn_.store(batch_last, std::memory_order_release);
      if (need_sync) {
        durable_lsn_.store(batch_last, std::memory_order_release);
        last_sync_ = std::chrono::steady_clock::now();
      }
    }
    writer_active_ = false;
    batches_written_.fetch_add(1, std::memory_order_release);
    cv_.notify_all();
  }

  // Closes the active segment (fsynced first when the mode syncs) and
  // creates the next, named by its first lsn. Writer role held, mutex not.
  result<void> start_segment(std::uint64_t first, bool sync, std::uint64_t& fsyncs,
                             std::vector<segment_info>& created) {
    if (fd_ && sync) {
      const auto t0 = std::chrono::steady_clock::now();
      BOOST_OUTCOME_TRY(datasync_fd(fd_.get(), active_path_));
      m_.fsync_seconds.observe(std::chrono::steady_clock::now() - t0);
      ++fsyncs;
    }
    const std::string path = dir_ + "/" + segment_name(first);
    BOOST_OUTCOME_TRY(auto fd, open_file(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND));
    if (sync) {
      BOOST_OUTCOME_TRY(fsync_directory(dir_));
    }
    {
      // The interval syncer dups fd_ under the mutex; swap it there too.
      std::lock_guard lk(mu_);
      fd_ = std::move(fd);
    }
    active_path_ = path;
    created.push_back({first, path, 0});
    return success();
  }

  // Writes anything pending, then makes everything written durable.
  result<void> sync_locked(std::unique_lock<std::mutex>& lk) {
    const lsn target = next_lsn_ - 1;
    for (;;) {
      if (broken_) return *broken_;
      if (durable_lsn_.load() >= target) return success();
      if (!writer_active_) {
        write_batch(lk, true);
        continue;
      }
      cv_.wait(lk);
    }
  }

  // interval mode: fsync at least every fsync_interval_ms while unsynced
  // data exists. Uses a dup of the active descriptor so appends never wait
  // for the fsync; segments before it were fsynced at rotation.
  void sync_loop() {
    const auto interval = std::chrono::milliseconds(opt_.fsync_interval_ms);
    std::unique_lock lk(mu_);
    while (!stop_) {
      const auto due = last_sync_ + interval;
      if (std::chrono::steady_clock::now() < due) {
        sync_cv_.wait_until(lk, due);
        continue;
      }
      const lsn target = written_lsn_.load();
      if (target <= durable_lsn_.load() || broken_ || !fd_) {
        sync_cv_.wait_for(lk, interval);
        continue;
      }
      unique_fd dup(::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0));
      result<void> r = dup ? result<void>(success()) : errno_error("dup " + active_path_);
      const std::string path = active_path_;
      lk.unlock();
      const auto t0 = std::chrono::steady_clock::now();
      if (r) r = datasync_fd(dup.get(), path);
      const auto took = std::chrono::steady_clock::now() - t0;
      dup.reset();
      lk.lock();
      if (r) {
        ++stats_.fsyncs;
        m_.fsyncs.inc();
        m_.fsync_seconds.observe(took);
        if (durable_lsn_.load() < target) durable_lsn_.store(target, std::memory_order_release);
        last_sync_ = t0;
      } else if (!r && !broken_) {
        broken_ = r.error();
        cv_.notify_all();
      }
    }
  }

  journal_options opt_;
  file_journal_hooks hooks_;
  journal_metrics m_;
  std::string dir_;
  unique_fd lock_;

  mutable std::mutex mu_;
  std::condition_variable cv_;       // a write finished, or closing
  std::condition_variable sync_cv_;  // wakes the interval syncer
  // Guarded by mu_:
  bool open_ = false;
  bool stop_ = false;
  bool writer_active_ = false;
  bool have_segment_ = false;
  std::optional<error> broken_;
  std::vector<std::byte> pending_;
  std::vector<rotation_point> rotations_;
  std::uint64_t pending_records_ = 0;
  lsn next_lsn_ = 1;
  std::uint64_t tail_bytes_ = 0;
  std::vector<segment_info> segments_;
  std::uint64_t size_bytes_ = 0;
  lsn checkpoint_ = 0;
  journal_stats stats_;
  std::chrono::steady_clock::time_point last_sync_;
  // Readable without mu_:
  std::atomic<lsn> written_lsn_{0};
  std::atomic<lsn> durable_lsn_{0};
  std::atomic<std::uint64_t> size_bytes_atomic_{0};
  std::atomic<std::uint64_t> batches_written_{0};  // write_batch calls finished
  // Owned by whoever holds the writer role (fd_ is also swapped under mu_):
  unique_fd fd_;
  std::string active_path_;
  std::vector<std::byte> batch_;
  std::vector<rotation_point> batch_rotations_;

  std::mutex commit_mu_;  // one checkpoint commit at a time
  std::thread syncer_;
};

}  // namespace detail

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
    auto state = std::make_unique<detail::file_journal_state>(options, std::move(hooks));
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
  /// deletes segments that hold only such records. A value at or below the
  /// current checkpoint is a no-op; one past the last written record is
  /// `invalid_argument`.
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
