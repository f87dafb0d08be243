#pragma once
/// \file
/// The machinery behind `file_journal` (see file_journal.hpp for the layout,
/// the frames, group commit and recovery): the metric handles, the one frame
/// check that recovery and replay share, and `file_journal_state`, which
/// owns the directory lock, the segments and the writer.

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "storesync/core/result.hpp"
#include "storesync/journal/detail/checkpoint_file.hpp"
#include "storesync/journal/detail/crc32c.hpp"
#include "storesync/journal/detail/frame.hpp"
#include "storesync/journal/detail/segment_file.hpp"
#include "storesync/journal/journal.hpp"
#include "storesync/metrics/registry.hpp"

namespace storesync::detail {

/// The metric handles of one journal (no-ops without a registry).
struct journal_metrics {
  counter records, bytes, writes, fsyncs, truncated_tails, refused_batches, segments_created, segments_deleted;
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
    refused_batches = r.counter("journal_refused_batches_total",
                                "Journal writes that found the disk full: their appends failed and were undone.", l);
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

/// No upper bound for `walk_frames`: read to the end of the segment.
inline constexpr std::uint64_t no_lsn_limit = std::numeric_limits<std::uint64_t>::max();

/// A frame that breaks a segment's chain: where it starts and why.
struct frame_defect {
  std::uint64_t offset = 0;
  std::string why;
};

/// How a walk over the frames of one segment ended.
struct frame_walk {
  /// One past the lsn of the last good frame.
  std::uint64_t next_lsn = 0;
  /// Set if the walk stopped at a bad frame (not at the end or the limit).
  std::optional<frame_defect> defect;
};

/// The frame check of the file journal, shared by recovery and replay.
/// Reads the frames of `rd`, which should carry lsns `first`, `first + 1`,
/// ..., and hands each good one to `on_frame` (returning `result<void>`; an
/// error stops the walk and is returned). Stops at the end of the segment,
/// before reading past lsn `last`, or at the first frame that is damaged
/// (length bound, CRC32C: see `segment_reader`) or out of sequence, which it
/// reports as the defect. What a defect means is the caller's to decide.
template <class OnFrame>
result<frame_walk> walk_frames(segment_reader& rd, std::uint64_t first, std::uint64_t last,
                               OnFrame&& on_frame) {
  frame_walk w{first, std::nullopt};
  segment_reader::frame f;
  while (w.next_lsn <= last) {
    BOOST_OUTCOME_TRY(auto st, rd.next(f));
    if (st == segment_reader::status::end) break;
    if (st == segment_reader::status::damaged) {
      w.defect = frame_defect{rd.offset(), rd.why()};
      break;
    }
    if (f.lsn != w.next_lsn) {
      w.defect = frame_defect{f.offset, "lsn " + std::to_string(f.lsn) + " where " +
                                            std::to_string(w.next_lsn) + " was expected"};
      break;
    }
    ++w.next_lsn;
    BOOST_OUTCOME_TRY(on_frame(f));
  }
  return w;
}

/// `errc::corrupt` for damage the journal must report rather than cut off.
inline error corrupt_segment(const std::string& path, const frame_defect& d) {
  return error{errc::corrupt,
               "journal segment " + path + " at offset " + std::to_string(d.offset) + ": " + d.why};
}

/// Everything behind a `file_journal` handle (so the handle can move). Takes
/// the pieces of `file_journal_hooks` it uses: the registry to feed (may be
/// null), the journal's label value, and the log sink (empty: stderr).
class file_journal_state {
 public:
  file_journal_state(journal_options opt, metrics_registry* metrics, const std::string& name,
                     std::function<void(std::string_view)> log)
      : opt_(std::move(opt)), log_(std::move(log)) {
    if (metrics) m_.attach(*metrics, name);
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
      const auto check_only = [](const segment_reader::frame&) -> result<void> { return success(); };
      BOOST_OUTCOME_TRY(auto walk, walk_frames(rd, seg.first_lsn, no_lsn_limit, check_only));
      if (walk.defect) {
        // Only the last segment can end in a torn write; see the file comment.
        if (!is_last) return corrupt_segment(seg.path, *walk.defect);
        BOOST_OUTCOME_TRY(truncate_tail(seg, walk.defect->offset, walk.defect->why, walk.next_lsn - 1));
      }
      // The reader may stand past the cut (a whole frame with a wrong lsn).
      seg.bytes = walk.defect ? walk.defect->offset : rd.offset();
      last = walk.next_lsn - 1;
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
      // What a killed process wrote without syncing is replayed; in `always`
      // mode it is synced before anything is appended behind it, so the
      // segment is durable up to here (see `cut_unsynced`).
      if (opt_.durability == durability::always) {
        BOOST_OUTCOME_TRY(datasync_fd(fd_.get(), active_path_));
      }
      synced_bytes_ = tail_bytes_;
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
    // After a refused batch (see refuse_batch) its producers learn so before
    // its lsns are handed out again.
    cv_.wait(lk, [&] { return refused_waiting_ == 0; });
    if (!open_) return error{errc::stopped, "journal " + dir_ + " is closed"};
    if (broken_) return *broken_;
    const lsn at = next_lsn_++;
    const std::uint64_t refusals_seen = refusals_;
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
      if (refusals_ != refusals_seen) {  // not written, and refused
        if (--refused_waiting_ == 0) cv_.notify_all();
        return *refusal_;
      }
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
    const auto deliver = [&](const segment_reader::frame& f) -> result<void> {
      if (f.lsn <= after) return success();
      if constexpr (std::is_void_v<std::invoke_result_t<F&, lsn, std::span<const std::byte>>>) {
        fn(f.lsn, f.payload);
      } else {
        BOOST_OUTCOME_TRY(fn(f.lsn, f.payload));
      }
      ++n;
      return success();
    };
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
      BOOST_OUTCOME_TRY(auto walk, walk_frames(rd, segs[i].first, limit, deliver));
      // Recovery already cut off a torn tail, so any damage now is corruption.
      if (walk.defect) return corrupt_segment(segs[i].second, *walk.defect);
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
      // Never the last segment while it may be appended to ...
      while (segments_.size() >= 2 && segments_[1].first_lsn <= at + 1) {
        doomed.push_back(std::move(segments_.front()));
        segments_.erase(segments_.begin());
      }
      // ... unless the checkpoint covers every record allocated (so no
      // write is under way) and it has grown to retire_active_bytes: then it
      // goes too, and the next append starts a new segment. After a
      // complete flush the journal holds less than that.
      if (at == next_lsn_ - 1 && segments_.size() == 1 && have_segment_ && !writer_active_ &&
          tail_bytes_ >= std::min(retire_active_bytes, opt_.segment_size_bytes)) {
        doomed.push_back(std::move(segments_.back()));
        segments_.pop_back();
        fd_.reset();  // the interval syncer dups fd_ under the mutex
        active_path_.clear();
        tail_bytes_ = 0;
        have_segment_ = false;
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
    if (log_) log_(line);
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
  // `lk` held; true if the write finished, judged under `lk` again: a write
  // that finished while the mutex was being retaken has already notified,
  // and the caller must not wait for that notification.
  bool spin_past_write(std::unique_lock<std::mutex>& lk) {
    const std::uint64_t seen = batches_written_.load(std::memory_order_acquire);
    lk.unlock();
    const auto until = std::chrono::steady_clock::now() + writer_spin;
    while (batches_written_.load(std::memory_order_acquire) == seen) {
      for (int i = 0; i < 16; ++i) cpu_relax();
      if (std::chrono::steady_clock::now() >= until) break;
    }
    lk.lock();
    return batches_written_.load(std::memory_order_acquire) != seen;
  }

  // Writes every pending frame with the writer role held; `sync` adds an
  // fdatasync before the batch is acknowledged. Called and returns with `lk`
  // held; releases it during I/O. A write that finds the disk full is
  // undone (refuse_batch); any other failure breaks the journal.
  void write_batch(std::unique_lock<std::mutex>& lk, bool sync) {
    if (broken_) return;  // never write after a failure: the file may end mid-frame
    writer_active_ = true;
    // Where the batch starts: the active segment, if any, and its length.
    const bool had_segment = static_cast<bool>(fd_);
    const std::uint64_t active_bytes = had_segment ? segments_.back().bytes : 0;
    batch_.swap(pending_);
    batch_rotations_.swap(rotations_);
    const lsn batch_last = next_lsn_ - 1;
    const std::uint64_t records = pending_records_;
    pending_records_ = 0;
    const bool need_sync = sync && (batch_last > durable_lsn_.load() || !batch_.empty());
    const bool sync_rotations = opt_.durability != durability::process;
    const std::uint64_t synced_before = synced_bytes_;
    lk.unlock();

    std::vector<segment_info> created;  // rare: only when a batch starts a segment
    std::uint64_t to_active = 0;        // bytes written to the segment active before the batch
    std::uint64_t fsyncs = 0;
    result<void> r = success();
    bool no_space = false;  // r failed writing or creating a file, not syncing
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
          r = start_segment(rp.first_lsn, sync_rotations, fsyncs, created, no_space);
          ++next_rot;
          continue;
        }
        end = rp.offset;
      }
      r = write_all(fd_.get(), batch_.data() + pos, end - pos, active_path_);
      if (r) account(end - pos);
      else no_space = is_no_space(r.error());
      pos = end;
    }
    if (r && next_rot < batch_rotations_.size()) r = error{errc::backend_failure, "journal rotation bookkeeping"};
    if (r && need_sync && fd_) {
      const auto t0 = std::chrono::steady_clock::now();
      r = datasync_fd(fd_.get(), active_path_);
      m_.fsync_seconds.observe(std::chrono::steady_clock::now() - t0);
      ++fsyncs;
      if (r) synced_bytes_ = created.empty() ? active_bytes + to_active : created.back().bytes;
    }
    if (!r && !no_space && opt_.durability == durability::always && fd_) r = cut_unsynced(r.error());

    lk.lock();
    if (!r && no_space && refuse_batch(r.error(), records, had_segment, active_bytes, created, synced_before)) {
      batch_.clear();
      batch_rotations_.clear();
      writer_active_ = false;
      batches_written_.fetch_add(1, std::memory_order_release);
      cv_.notify_all();
      return;
    }
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
      if (refusing_ && bytes > 0) {
        refusing_ = false;
        log("journal " + dir_ + ": writing again, after " + std::to_string(stats_.refused_batches) +
            " refused batches since open");
      }
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
                             std::vector<segment_info>& created, bool& no_space) {
    if (fd_ && sync) {
      const auto t0 = std::chrono::steady_clock::now();
      BOOST_OUTCOME_TRY(datasync_fd(fd_.get(), active_path_));
      m_.fsync_seconds.observe(std::chrono::steady_clock::now() - t0);
      ++fsyncs;
    }
    const std::string path = dir_ + "/" + segment_name(first);
    auto opened = open_file(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND);
    if (!opened) {
      no_space = is_no_space(opened.error());
      return opened.error();
    }
    auto fd = std::move(opened).value();
    if (sync) {
      BOOST_OUTCOME_TRY(fsync_directory(dir_));
    }
    {
      // The interval syncer dups fd_ under the mutex; swap it there too.
      std::lock_guard lk(mu_);
      fd_ = std::move(fd);
    }
    active_path_ = path;
    synced_bytes_ = 0;
    created.push_back({first, path, 0});
    return success();
  }

  // After a write or fdatasync that failed in `always` mode (writer role
  // held): cuts the active segment back to where its last successful
  // fdatasync ended, and syncs the cut. Nothing after that point was
  // acknowledged, and it must not be replayed: a failed fsync leaves those
  // pages in the page cache marked clean, so a restart would read them while
  // a later fsync would never write them, and after a power failure the
  // segment would hold a hole with acknowledged records behind it. `why`,
  // with the cut's own failure if it failed too.
  error cut_unsynced(const error& why) {
    int rc;
    do rc = ::ftruncate(fd_.get(), static_cast<off_t>(synced_bytes_));
    while (rc < 0 && errno == EINTR);
    auto cut = rc < 0 ? result<void>(errno_error("truncate " + active_path_)) : fsync_fd(fd_.get(), active_path_);
    if (!cut)
      return error{why.code(), why.context() + "; cutting " + active_path_ + " back to its last synced byte (" +
                                   std::to_string(synced_bytes_) + ") failed too (" + cut.error().message() +
                                   "): a restart may replay records that are not on disk"};
    log("journal " + dir_ + ": " + why.message() + "; " + active_path_ + " cut back to its last synced byte (" +
        std::to_string(synced_bytes_) + "), so no restart replays what may not be on disk");
    return why;
  }

  static bool is_no_space(const error& e) {
    return e.code().category() == std::system_category() && (e.code().value() == ENOSPC || e.code().value() == EDQUOT);
  }

  // Undoes a batch whose write found the disk full, with `lk` held: the
  // files go back to where the batch started (segments it created are
  // deleted, the active one is cut back to `active_bytes`), so the journal
  // still ends on a whole frame, and the batch and every frame buffered
  // behind it are refused with `why`. Nothing was fsynced since, so the page
  // cache is still the truth (unlike after a failed fsync). Their lsns are
  // handed out again once their producers have seen the refusal. The next
  // append simply tries again: when space was freed, it succeeds. False
  // when the files could not be put back.
  bool refuse_batch(const error& why, std::uint64_t records, bool had_segment, std::uint64_t active_bytes,
                    const std::vector<segment_info>& created, std::uint64_t synced_before) {
    for (const auto& c : created)
      if (::unlink(c.path.c_str()) < 0 && errno != ENOENT) return false;
    if (!created.empty()) {
      if (had_segment) {
        auto reopened = open_file(segments_.back().path, O_WRONLY | O_APPEND);
        if (!reopened) return false;
        fd_ = std::move(reopened).value();
        active_path_ = segments_.back().path;
      } else {
        fd_.reset();
        active_path_.clear();
      }
    }
    if (had_segment && ::ftruncate(fd_.get(), static_cast<off_t>(active_bytes)) < 0) return false;
    synced_bytes_ = synced_before;
    refusal_ = error{why.code(), why.context() + " (journal " + dir_ + ": " +
                                     std::to_string(records + pending_records_) +
                                     " appends refused; the files end on their last whole frame)"};
    // One line when the disk fills, one when writes go through again.
    if (!refusing_) log("journal " + dir_ + ": the disk is full (" + why.message() + "); appends fail until space is freed");
    refusing_ = true;
    ++refusals_;
    ++stats_.refused_batches;
    m_.refused_batches.inc();
    refused_waiting_ += records + pending_records_;
    pending_.clear();
    rotations_.clear();
    pending_records_ = 0;
    next_lsn_ = written_lsn_.load() + 1;
    tail_bytes_ = active_bytes;
    have_segment_ = had_segment;
    return true;
  }

  // Writes anything pending, then makes everything written durable (a
  // refused batch is owed nothing).
  result<void> sync_locked(std::unique_lock<std::mutex>& lk) {
    const lsn target = next_lsn_ - 1;
    for (;;) {
      if (broken_) return *broken_;
      if (durable_lsn_.load() >= std::min(target, next_lsn_ - 1)) return success();
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
  std::function<void(std::string_view)> log_;
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
  // Refused batches so far, the error their producers get, and how many of
  // those producers have not returned yet (see refuse_batch).
  std::uint64_t refusals_ = 0;
  std::optional<error> refusal_;
  std::uint64_t refused_waiting_ = 0;
  bool refusing_ = false;  // the last write found the disk full
  // The size from which a fully checkpointed active segment is deleted.
  static constexpr std::uint64_t retire_active_bytes = 1ull << 20;
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
  // The active segment's length at its last successful fdatasync (`always`).
  std::uint64_t synced_bytes_ = 0;
  std::vector<std::byte> batch_;
  std::vector<rotation_point> batch_rotations_;

  std::mutex commit_mu_;  // one checkpoint commit at a time
  std::thread syncer_;
};

}  // namespace storesync::detail
