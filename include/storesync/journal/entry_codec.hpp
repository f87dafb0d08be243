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
/// - dead letter: u8 3, the entry fields as above, i64 time (ns since the Unix
///                epoch), u8 error category (0 storesync, 1 system, 2 generic),
///                i32 error value, u32 error size, error text. Records of
///                kind 2 (written before the code was kept) lack the category
///                and value; they decode as `errc::backend_failure`.
/// - version mark: u8 4, i64 version: the highest version acknowledged when
///                it was written (see `encode_version_mark`). A journal
///                holding one cannot be replayed by a release before marks.
///
/// The journal frame already carries a CRC32C, so the codec only checks
/// structure: a short, oversized or unknown buffer is `errc::corrupt`.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "storesync/core/dead_letter.hpp"
#include "storesync/core/entry.hpp"
#include "storesync/core/result.hpp"
#include "storesync/journal/detail/record_codec.hpp"

namespace storesync {

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

/// Encodes a version mark: write_behind journals the highest version
/// acknowledged so far before each checkpoint, so the replay after that
/// checkpoint still knows it (next_version() stays above every version
/// acknowledged, even while the slow store cannot say its largest).
inline void encode_version_mark(version_type v, std::vector<std::byte>& out) {
  out.clear();
  detail::append_u8(out, detail::record_kind_version_mark);
  detail::append_u64(out, static_cast<std::uint64_t>(v));
}

/// Whether `in` is a version mark (by its first byte; it may still be malformed).
inline bool is_version_mark(std::span<const std::byte> in) noexcept {
  return !in.empty() && std::to_integer<std::uint8_t>(in[0]) == detail::record_kind_version_mark;
}

/// Decodes a version mark; `errc::corrupt` if `in` is not exactly one.
inline result<version_type> decode_version_mark(std::span<const std::byte> in) {
  detail::record_reader r(in);
  BOOST_OUTCOME_TRY(detail::read_kind(r, detail::record_kind_version_mark));
  std::uint64_t v = 0;
  if (!r.u64(v)) return detail::bad_record("truncated version mark", r);
  if (!r.at_end()) return detail::bad_record("trailing bytes", r);
  if (v > static_cast<std::uint64_t>(max_entry_version)) return detail::bad_record("version mark out of range", r);
  return static_cast<version_type>(v);
}

namespace detail {

/// Dead letters with their error code; kind 2 kept only the message.
inline constexpr std::uint8_t record_kind_coded_dead_letter = 3;

/// The error categories a dead letter's code is stored with.
enum class stored_category : std::uint8_t { storesync = 0, system = 1, generic = 2 };

inline void append_error_code(std::vector<std::byte>& out, const std::error_code& code) {
  stored_category c = stored_category::storesync;
  int value = code.value();
  if (code.category() == std::system_category()) c = stored_category::system;
  else if (code.category() == std::generic_category()) c = stored_category::generic;
  else if (code.category() != storesync::error_category()) value = static_cast<int>(errc::backend_failure);
  append_u8(out, static_cast<std::uint8_t>(c));
  append_u32(out, static_cast<std::uint32_t>(value));
}

inline bool read_error_code(record_reader& r, std::error_code& code) {
  std::uint8_t c = 0;
  std::uint32_t value = 0;
  if (!r.u8(c) || !r.u32(value)) return false;
  const int v = static_cast<int>(value);
  switch (static_cast<stored_category>(c)) {
    case stored_category::storesync: code = std::error_code(v, storesync::error_category()); return true;
    case stored_category::system: code = std::error_code(v, std::system_category()); return true;
    case stored_category::generic: code = std::error_code(v, std::generic_category()); return true;
  }
  return false;
}

}  // namespace detail

/// Encodes `d` into `out` (replacing its contents, keeping its capacity).
/// A code of a category other than storesync's, system or generic is kept
/// as `errc::backend_failure` (its message is kept whole).
inline void encode_dead_letter(const dead_letter& d, std::vector<std::byte>& out) {
  out.clear();
  out.reserve(1 + 1 + 24 + 8 + d.item.key.size() + d.item.value.size() + 17 + d.error.size());
  detail::append_u8(out, detail::record_kind_coded_dead_letter);
  detail::append_entry_fields(out, d.item);
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(d.time.time_since_epoch()).count();
  detail::append_u64(out, static_cast<std::uint64_t>(ns));
  detail::append_error_code(out, d.code);
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
  std::uint8_t kind = 0;
  if (!r.u8(kind)) return detail::bad_record("empty record", r);
  if (kind != detail::record_kind_coded_dead_letter && kind != detail::record_kind_dead_letter)
    return error{errc::corrupt, "journal record: kind " + std::to_string(kind) + " where a dead letter (" +
                                    std::to_string(detail::record_kind_coded_dead_letter) + ") was expected"};
  BOOST_OUTCOME_TRY(auto e, detail::read_entry_fields(r));
  dead_letter d{std::move(e), make_error_code(errc::backend_failure), {}, {}};
  std::uint64_t ns = 0;
  if (!r.u64(ns)) return detail::bad_record("truncated dead letter", r);
  if (kind == detail::record_kind_coded_dead_letter && !detail::read_error_code(r, d.code))
    return detail::bad_record("truncated or unknown dead-letter error code", r);
  if (!r.text(d.error)) return detail::bad_record("truncated dead letter", r);
  if (!r.at_end()) return detail::bad_record("trailing bytes", r);
  d.time = std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
      std::chrono::nanoseconds(static_cast<std::int64_t>(ns))));
  return d;
}

}  // namespace storesync
