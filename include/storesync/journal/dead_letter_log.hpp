#pragma once
/// \file
/// `dead_letter_log<J>`: the dead letters of a strategy, kept in a `journal`
/// so that they survive a crash, can be listed, and are re-driven rather
/// than dropped.
///
/// \code
///   auto letters = storesync::dead_letter_log<storesync::file_journal>::open(
///       storesync::file_journal::open({.directory = "/var/lib/app/dead-letters"}).value());
///   if (!letters) return letters.error();
///   BOOST_OUTCOME_TRY(letters->add(refused_entry, why));
///   for (const storesync::dead_letter& d : letters->list(100).value()) show(d);
///   // Write each one again (here through the version guard of `store`), then forget them:
///   BOOST_OUTCOME_TRY(auto n, letters->redrive([&](const storesync::entry& e) {
///     return store.write(std::span(&e, 1)).map([](auto&&) {});
///   }));
/// \endcode
///
/// Re-driving writes every letter again and only then forgets them: a crash
/// in between re-drives some twice, which the version guard makes harmless.
/// Letters added while a re-drive runs are kept for the next one; re-drives
/// that overlap may each write a letter, and forget it once.
///
/// Thread safety: every member may be called from many threads, except
/// `close`, which must not race the others.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <utility>
#include <vector>

#include "storesync/core/dead_letter.hpp"
#include "storesync/core/result.hpp"
#include "storesync/journal/entry_codec.hpp"
#include "storesync/journal/journal.hpp"

namespace storesync {

template <journal Journal>
class dead_letter_log {
 public:
  /// Takes `log` and counts the letters it holds past its checkpoint.
  static result<dead_letter_log> open(Journal log) {
    dead_letter_log d(std::move(log));
    BOOST_OUTCOME_TRY(auto from, d.log_.load_checkpoint());
    BOOST_OUTCOME_TRY(auto held, d.log_.replay(from, [](lsn, std::span<const std::byte>) -> result<void> {
      return success();
    }));
    d.count_.store(held, std::memory_order_relaxed);
    return d;
  }

  /// Moves a log that is not in use (as `open` hands it out).
  dead_letter_log(dead_letter_log&& other) noexcept
      : log_(std::move(other.log_)), count_(other.count_.load(std::memory_order_relaxed)) {}
  dead_letter_log& operator=(dead_letter_log&&) = delete;

  /// Keeps `refused` with the error it was refused with, durably as the
  /// journal's durability says. On failure nothing was kept: the caller
  /// still owns the entry.
  result<void> add(const entry& refused, const error& why) {
    BOOST_OUTCOME_TRY(log_.append(encode_dead_letter(make_dead_letter(refused, why))));
    count_.fetch_add(1, std::memory_order_relaxed);
    return success();
  }

  /// With a `shared_journal`: keeps `refused`, which `source` holds at
  /// `at`, and acknowledges it there in one step (`move_to`), if this process
  /// still owns it. Returns false, keeping nothing, when another process
  /// took the record over: that one decides its fate, so a record refused
  /// by two processes is one letter. `source` must be on the same engine.
  result<bool> add_from(Journal& source, lsn at, const entry& refused, const error& why)
    requires shared_journal<Journal>
  {
    BOOST_OUTCOME_TRY(auto moved, source.move_to(at, log_, encode_dead_letter(make_dead_letter(refused, why))));
    if (!moved) return false;
    count_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }

  /// With a `shared_journal`: takes over up to `limit` letters of processes
  /// found dead (and marks this one alive), so they are listed and re-driven
  /// here; returns how many.
  result<std::size_t> take_over(std::size_t limit)
    requires shared_journal<Journal>
  {
    BOOST_OUTCOME_TRY(auto n, log_.take_over(limit, [](lsn, std::span<const std::byte>) -> result<void> {
      return success();
    }));
    count_.fetch_add(n, std::memory_order_relaxed);
    return n;
  }

  /// How many letters are kept.
  std::uint64_t size() const noexcept { return count_.load(std::memory_order_relaxed); }

  /// The letters, oldest first, at most `limit`.
  result<std::vector<dead_letter>> list(std::size_t limit = SIZE_MAX) {
    std::vector<dead_letter> out;
    std::lock_guard lock(mutex_);
    BOOST_OUTCOME_TRY(auto from, log_.load_checkpoint());
    BOOST_OUTCOME_TRY(log_.replay(from, [&](lsn, std::span<const std::byte> rec) -> result<void> {
      if (out.size() >= limit) return success();
      BOOST_OUTCOME_TRY(auto d, decode_dead_letter(rec));
      out.push_back(std::move(d));
      return success();
    }));
    return out;
  }

  /// Calls `resend(const entry&) -> result<void>` for every letter, oldest
  /// first, without holding a lock (it may wait), then forgets them; returns
  /// how many. When `resend` fails, that error is returned and every letter
  /// is kept.
  template <class Resend>
  result<std::size_t> redrive(Resend&& resend) {
    std::vector<entry> again;
    std::vector<lsn> at_lsn;
    lsn from = 0, last = 0;
    {
      std::lock_guard lock(mutex_);
      BOOST_OUTCOME_TRY(from, log_.load_checkpoint());
      last = from;
      BOOST_OUTCOME_TRY(log_.replay(from, [&](lsn at, std::span<const std::byte> rec) -> result<void> {
        BOOST_OUTCOME_TRY(auto d, decode_dead_letter(rec));
        again.push_back(std::move(d.item));
        at_lsn.push_back(at);
        last = at;
        return success();
      }));
    }
    for (const entry& e : again) {
      BOOST_OUTCOME_TRY(resend(e));
    }
    // A re-drive that overlapped this one may have forgotten some of these
    // letters already: forget (and uncount) only those past its checkpoint.
    std::lock_guard lock(mutex_);
    BOOST_OUTCOME_TRY(auto now, log_.load_checkpoint());
    if (last > now) {
      BOOST_OUTCOME_TRY(log_.commit_checkpoint(last));
      const auto forgotten = static_cast<std::uint64_t>(
          at_lsn.end() - std::upper_bound(at_lsn.begin(), at_lsn.end(), now));
      count_.fetch_sub(forgotten, std::memory_order_relaxed);
    }
    return again.size();
  }

  /// Bytes the journal holds.
  std::uint64_t size_bytes() const noexcept { return log_.size_bytes(); }

  /// Closes the journal (see `journal::close`).
  result<void> close() { return log_.close(); }

 private:
  explicit dead_letter_log(Journal log) : log_(std::move(log)) {}

  Journal log_;
  std::mutex mutex_;  // one reader of the journal at a time, and the checkpoint
  std::atomic<std::uint64_t> count_{0};
};

}  // namespace storesync
