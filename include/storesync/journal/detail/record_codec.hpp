#pragma once
/// \file
/// The pieces entry_codec.hpp builds its records from: the record kinds
/// (each also its format version), little-endian appends, the entry fields,
/// and a bounds-checked reader whose failures are `errc::corrupt`.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "storesync/core/entry.hpp"
#include "storesync/core/result.hpp"
#include "storesync/journal/detail/frame.hpp"

namespace storesync::detail {

/// The first byte of a record: which record it is, and its format version.
inline constexpr std::uint8_t record_kind_entry = 1;
inline constexpr std::uint8_t record_kind_dead_letter = 2;
inline constexpr std::uint8_t record_kind_version_mark = 4;

inline void append_u8(std::vector<std::byte>& out, std::uint8_t v) { out.push_back(std::byte{v}); }
inline void append_u32(std::vector<std::byte>& out, std::uint32_t v) {
  const auto n = out.size();
  out.resize(n + 4);
  put_u32(out.data() + n, v);
}
inline void append_u64(std::vector<std::byte>& out, std::uint64_t v) {
  const auto n = out.size();
  out.resize(n + 8);
  put_u64(out.data() + n, v);
}
inline void append_text(std::vector<std::byte>& out, std::string_view s) {
  append_u32(out, static_cast<std::uint32_t>(s.size()));
  const auto n = out.size();
  out.resize(n + s.size());
  if (!s.empty()) std::memcpy(out.data() + n, s.data(), s.size());
}

inline void append_entry_fields(std::vector<std::byte>& out, const entry& e) {
  append_u8(out, e.tombstone ? 1 : 0);
  append_u64(out, static_cast<std::uint64_t>(e.version));
  append_u64(out, e.hash.lo);
  append_u64(out, e.hash.hi);
  append_text(out, e.key);
  append_text(out, e.value);
}

/// A bounds-checked cursor over an encoded record.
class record_reader {
 public:
  explicit record_reader(std::span<const std::byte> in) noexcept : in_(in) {}

  bool u8(std::uint8_t& v) noexcept {
    if (!need(1)) return false;
    v = std::to_integer<std::uint8_t>(in_[pos_++]);
    return true;
  }
  bool u32(std::uint32_t& v) noexcept {
    if (!need(4)) return false;
    v = get_u32(in_.data() + pos_);
    pos_ += 4;
    return true;
  }
  bool u64(std::uint64_t& v) noexcept {
    if (!need(8)) return false;
    v = get_u64(in_.data() + pos_);
    pos_ += 8;
    return true;
  }
  bool text(std::string& s) {
    std::uint32_t n = 0;
    if (!u32(n) || !need(n)) return false;
    s.assign(reinterpret_cast<const char*>(in_.data() + pos_), n);
    pos_ += n;
    return true;
  }
  bool at_end() const noexcept { return pos_ == in_.size(); }
  std::size_t position() const noexcept { return pos_; }
  std::size_t size() const noexcept { return in_.size(); }

 private:
  bool need(std::size_t n) const noexcept { return in_.size() - pos_ >= n; }

  std::span<const std::byte> in_;
  std::size_t pos_ = 0;
};

inline error bad_record(const char* what, const record_reader& r) {
  return error{errc::corrupt, std::string("journal record: ") + what + " at byte " +
                                  std::to_string(r.position()) + " of " + std::to_string(r.size())};
}

inline result<entry> read_entry_fields(record_reader& r) {
  entry e;
  std::uint8_t flags = 0;
  std::uint64_t version = 0;
  if (!r.u8(flags) || !r.u64(version) || !r.u64(e.hash.lo) || !r.u64(e.hash.hi) || !r.text(e.key) ||
      !r.text(e.value))
    return bad_record("truncated entry", r);
  if (flags > 1) return bad_record("unknown entry flags", r);
  e.tombstone = flags == 1;
  e.version = static_cast<version_type>(version);
  return e;
}

inline result<std::uint8_t> read_kind(record_reader& r, std::uint8_t want) {
  std::uint8_t kind = 0;
  if (!r.u8(kind)) return bad_record("empty record", r);
  if (kind != want)
    return error{errc::corrupt, "journal record: kind " + std::to_string(kind) + " where " +
                                    std::to_string(want) + " was expected"};
  return kind;
}

}  // namespace storesync::detail
