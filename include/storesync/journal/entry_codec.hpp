#pragma once
/// \file
/// The journal's record formats for storesync values: an `entry` (what
/// write-behind journals before acknowledging a put) and a `dead_letter` (an
/// entry the slow store refused for good, with the error and the time), so
/// both can live in a `journal` of opaque records.
///
/// \code
///   std::vector<std::byte> buf;                            // reuse across puts
///   storesync::encode_entry(e, buf);
///   BOOST_OUTCOME_TRY(auto at, journal.append(buf));
///
///   // The dead-letter journal: append on a permanent failure ...
///   storesync::encode_dead_letter(storesync::make_dead_letter(e, err), buf);
///   BOOST_OUTCOME_TRY(dead.append(buf));
///   // ... list and re-drive later: replay from the checkpoint, write each
///   // entry again, then commit the checkpoint past the re-driven ones.
///   BOOST_OUTCOME_TRY(auto from, dead.load_checkpoint());
///   BOOST_OUTCOME_TRY(dead.replay(from, [&](storesync::lsn, std::span<const std::byte> rec)
///                                           -> storesync::result<void> {
///     BOOST_OUTCOME_TRY(auto d, storesync::decode_dead_letter(rec));
///     std::printf("%s: %s\n", d.item.key.c_str(), d.error.c_str());
///     return storesync::success();
///   }));
/// \endcode
///
/// Encoding (little-endian; the first byte says which record it is and is
/// also its format version):
/// - entry:       u8 1, u8 flags (bit 0: tombstone), i64 version, u64 hash.lo,
///                u64 hash.hi, u32 key size, key, u32 value size, value
/// - dead letter: u8 2, the entry fields as above, i64 time (ns since the Unix
///                epoch), u32 error size, error text
///
/// The journal frame already carries a CRC32C, so the codec only checks
/// structure: a short, oversized or unknown buffer is `errc::corrupt`.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storesync/core/entry.hpp"
#include "storesync/core/result.hpp"
#include "storesync/journal/detail/record_codec.hpp"

namespace storesync {

/// An entry the slow store refused permanently, kept for listing and re-drive.
struct dead_letter {
  entry item;
  /// The error's message ("<code message>: <context>").
  std::string error;
  /// When it was dead-lettered.
  std::chrono::system_clock::time_point time;

  friend bool operator==(const dead_letter&, const dead_letter&) = default;
};

/// A dead letter for `e` refused with `why`, stamped `now`.
inline dead_letter make_dead_letter(entry e, const error& why,
                                    std::chrono::system_clock::time_point now =
                                        std::chrono::system_clock::now()) {
  return dead_letter{std::move(e), why.message(), now};
}

/// Encodes `e` into `out` (replacing its contents, keeping its capacity).
inline void encode_entry(const entry& e, std::vector<std::byte>& out) {
  out.clear();
  out.reserve(1 + 1 + 24 + 8 + e.key.size() + e.value.size());
  detail::append_u8(out, detail::record_kind_entry);
  detail::append_entry_fields(out, e);
}

/// Encodes `e` into a new buffer.
inline std::vector<std::byte> encode_entry(const entry& e) {
  std::vector<std::byte> out;
  encode_entry(e, out);
  return out;
}

/// Decodes an entry record; `errc::corrupt` if `in` is not exactly one.
inline result<entry> decode_entry(std::span<const std::byte> in) {
  detail::record_reader r(in);
  BOOST_OUTCOME_TRY(detail::read_kind(r, detail::record_kind_entry));
  BOOST_OUTCOME_TRY(auto e, detail::read_entry_fields(r));
  if (!r.at_end()) return detail::bad_record("trailing bytes", r);
  return e;
}

/// Encodes `d` into `out` (replacing its contents, keeping its capacity).
inline void encode_dead_letter(const dead_letter& d, std::vector<std::byte>& out) {
  out.clear();
  out.reserve(1 + 1 + 24 + 8 + d.item.key.size() + d.item.value.size() + 12 + d.error.size());
  detail::append_u8(out, detail::record_kind_dead_letter);
  detail::append_entry_fields(out, d.item);
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(d.time.time_since_epoch()).count();
  detail::append_u64(out, static_cast<std::uint64_t>(ns));
  detail::append_text(out, d.error);
}

/// Encodes `d` into a new buffer.
inline std::vector<std::byte> encode_dead_letter(const dead_letter& d) {
  std::vector<std::byte> out;
  encode_dead_letter(d, out);
  return out;
}

/// Decodes a dead-letter record; `errc::corrupt` if `in` is not exactly one.
inline result<dead_letter> decode_dead_letter(std::span<const std::byte> in) {
  detail::record_reader r(in);
  BOOST_OUTCOME_TRY(detail::read_kind(r, detail::record_kind_dead_letter));
  BOOST_OUTCOME_TRY(auto e, detail::read_entry_fields(r));
  dead_letter d{std::move(e), {}, {}};
  std::uint64_t ns = 0;
  if (!r.u64(ns) || !r.text(d.error)) return detail::bad_record("truncated dead letter", r);
  if (!r.at_end()) return detail::bad_record("trailing bytes", r);
  d.time = std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
      std::chrono::nanoseconds(static_cast<std::int64_t>(ns))));
  return d;
}

}  // namespace storesync
