#pragma once
/// \file
/// `split_range`: cuts a key range into contiguous sub-ranges of about equal
/// width, so the reconciler can bisect: checksum each part in both stores and
/// descend only into the parts whose checksums differ.
///
/// \code
///   // Which sixteenths of `range` differ between the two stores?
///   std::vector<storesync::key_range> differing;
///   for (const storesync::key_range& part : storesync::split_range(range, 16)) {
///     auto mine = primary.checksum(part);
///     auto theirs = replica.checksum(part);
///     if (mine && theirs && mine.value() != theirs.value()) differing.push_back(part);
///   }
/// \endcode
///
/// This is the fallback that works for any store: it spreads the cuts evenly
/// over the byte-wise key space, knowing nothing about where the keys are.
/// Keys bunched into a corner of that space (say "user:1000" to "user:1999",
/// whose digits all sort below "@") land in one part. A store that knows its
/// real key distribution offers quantile boundaries through the optional
/// `partitionable_store` tier; `split_by_rows` uses them when a store has
/// them, so every part holds about as many rows, and `split_range` otherwise.
///
/// \code
///   BOOST_OUTCOME_TRY(auto parts, storesync::split_by_rows(primary, range, 16));
/// \endcode

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storesync/core/detail/text.hpp"
#include "storesync/core/store.hpp"

namespace storesync {
namespace detail {

// A number in [0, 1] in base 256: d[0] is the units digit, d[1..] the
// fraction. A key is the fraction 0.k0 k1 k2 ... (zero bytes past its end).
// All the numbers of one split have the same length.
using split_number = std::vector<std::uint8_t>;

// Above this, the long division in split_range could overflow; no caller can
// hold that many parts anyway.
inline constexpr std::uint64_t split_max_parts = std::uint64_t{1} << 32;
inline constexpr char32_t split_no_cp = 0x110000;

inline split_number split_from_key(std::string_view key, std::size_t digits) {
  split_number n(digits + 1, 0);
  for (std::size_t i = 0; i < key.size() && i < digits; ++i)
    n[i + 1] = static_cast<std::uint8_t>(key[i]);
  return n;
}

inline void split_add(split_number& a, const split_number& b) noexcept {
  unsigned carry = 0;
  for (std::size_t i = a.size(); i-- > 0;) {
    const unsigned sum = a[i] + b[i] + carry;
    a[i] = static_cast<std::uint8_t>(sum & 0xff);
    carry = sum >> 8;
  }
}

// a - b, for a >= b.
inline split_number split_sub(split_number a, const split_number& b) noexcept {
  int borrow = 0;
  for (std::size_t i = a.size(); i-- > 0;) {
    int d = int{a[i]} - int{b[i]} - borrow;
    borrow = d < 0 ? 1 : 0;
    a[i] = static_cast<std::uint8_t>(d + 256 * borrow);
  }
  return a;
}

// floor(a / n), for 0 < n <= 2 * split_max_parts.
inline split_number split_div(split_number a, std::uint64_t n) noexcept {
  std::uint64_t rem = 0;
  for (std::uint8_t& d : a) {
    const std::uint64_t cur = rem * 256 + d;
    d = static_cast<std::uint8_t>(cur / n);
    rem = cur % n;
  }
  return a;
}

// The code points a cut may hold: exactly those `validate_key` accepts in a
// key (no NUL, no C0 control, no DEL, no surrogate).
inline char32_t split_up(char32_t c) noexcept {  // smallest allowed >= c
  if (c < 0x20) return 0x20;
  if (c == 0x7f) return 0x80;
  if (c >= 0xd800 && c <= 0xdfff) return 0xe000;
  return c > 0x10ffff ? split_no_cp : c;
}
inline char32_t split_down(char32_t c) noexcept {  // largest allowed <= c; 0: none
  if (c < 0x20) return 0;
  if (c == 0x7f) return 0x7e;
  if (c >= 0xd800 && c <= 0xdfff) return 0xd7ff;
  return c;
}

inline std::size_t split_cp_size(char32_t c) noexcept {
  return c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
}

// The largest allowed code point whose encoding fits in `room` bytes.
inline char32_t split_largest_cp(std::size_t room) noexcept {
  return room >= 4 ? 0x10ffff : room == 3 ? 0xffff : room == 2 ? 0x7ff : 0x7e;
}

// UTF-8, surrogates included: the encoding is monotonic in c either way.
inline std::size_t split_encode(char32_t c, unsigned char (&out)[4]) noexcept {
  const std::size_t n = split_cp_size(c);
  if (n == 1) {
    out[0] = static_cast<unsigned char>(c);
    return 1;
  }
  static constexpr unsigned char lead[] = {0, 0, 0xc0, 0xe0, 0xf0};
  for (std::size_t i = n; i-- > 1;) {
    out[i] = static_cast<unsigned char>(0x80 | (c & 0x3f));
    c >>= 6;
  }
  out[0] = static_cast<unsigned char>(lead[n] | c);
  return n;
}

inline void split_append(std::string& s, char32_t c) {
  unsigned char buf[4];
  const std::size_t n = split_encode(c, buf);
  s.append(reinterpret_cast<const char*>(buf), n);
}

// The largest string of allowed code points in `room` bytes.
inline void split_append_max(std::string& s, std::size_t room) {
  while (room > 0) {
    const char32_t c = split_largest_cp(room);
    split_append(s, c);
    room -= split_cp_size(c);
  }
}

// c's encoding against the first bytes of r (zeros past its end).
inline int split_compare(char32_t c, const std::uint8_t* r, std::size_t n) noexcept {
  unsigned char buf[4];
  const std::size_t len = split_encode(c, buf);
  for (std::size_t i = 0; i < len; ++i) {
    const unsigned rb = i < n ? r[i] : 0u;
    if (buf[i] != rb) return buf[i] < rb ? -1 : 1;
  }
  return 0;
}

// The first c in [0, 0x110000) whose comparison with r is at least `least`
// (comparisons only grow with c: UTF-8 is prefix-free and keeps order).
inline char32_t split_search(const std::uint8_t* r, std::size_t n, int least) noexcept {
  char32_t lo = 0, hi = split_no_cp;
  while (lo < hi) {
    const char32_t mid = lo + (hi - lo) / 2;
    if (split_compare(mid, r, n) >= least)
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}

// How many leading bytes of x are whole allowed code points, at most max_len;
// `starts` gets where each begins.
inline std::size_t split_prefix(const std::uint8_t* x, std::size_t n, std::size_t max_len,
                                std::vector<std::size_t>* starts) {
  std::size_t i = 0;
  while (i < n) {
    std::size_t len = 0;
    if (x[i] >= 0x20 && x[i] <= 0x7e)
      len = 1;
    else if (x[i] >= 0x80)
      len = utf8_sequence(x + i, x + n);
    if (len == 0 || i + len > max_len) break;
    if (starts) starts->push_back(i);
    i += len;
  }
  return i;
}

inline char32_t split_decode(const std::uint8_t* p) noexcept {
  if (p[0] < 0x80) return p[0];
  const std::size_t n = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : 2;
  char32_t c = p[0] & (0x7f >> n);
  for (std::size_t i = 1; i < n; ++i) c = (c << 6) | (p[i] & 0x3f);
  return c;
}

inline bool split_zero(const std::uint8_t* x, std::size_t n) noexcept {
  return std::all_of(x, x + n, [](std::uint8_t d) { return d == 0; });
}

// The largest string of allowed code points, at most max_len bytes, that is
// <= t (t < 1).
inline std::string split_floor(const split_number& t, std::size_t max_len) {
  const std::uint8_t* x = t.data() + 1;
  const std::size_t n = t.size() - 1;
  const std::size_t i = split_prefix(x, n, max_len, nullptr);
  std::string s(reinterpret_cast<const char*>(x), i);
  const std::size_t room = max_len - i;
  if (room == 0 || split_zero(x + i, n - i)) return s;
  // The largest code point below what follows (never the one that starts it:
  // that one is not allowed, or does not fit).
  const char32_t below = split_search(x + i, n - i, 0);
  if (below == 0) return s;
  const char32_t c = std::min(split_down(below - 1), split_largest_cp(room));
  if (c == 0) return s;
  split_append(s, c);
  split_append_max(s, room - split_cp_size(c));
  return s;
}

// The smallest string of allowed code points, at most max_len bytes, that is
// >= t; none when every such string is smaller.
inline std::optional<std::string> split_ceil(const split_number& t, std::size_t max_len) {
  const std::uint8_t* x = t.data() + 1;
  const std::size_t n = t.size() - 1;
  std::vector<std::size_t> starts;
  const std::size_t i = split_prefix(x, n, max_len, &starts);
  std::string s(reinterpret_cast<const char*>(x), i);
  if (split_zero(x + i, n - i)) return s;
  std::size_t room = max_len - i;
  const char32_t c = split_up(split_search(x + i, n - i, 1));
  if (c != split_no_cp && split_cp_size(c) <= room) {
    split_append(s, c);
    return s;
  }
  // Carry: raise the last code point kept (longer ones never fit either).
  while (!starts.empty()) {
    const std::size_t at = starts.back();
    starts.pop_back();
    const char32_t next = split_up(split_decode(x + at) + 1);
    room += s.size() - at;
    s.resize(at);
    if (next != split_no_cp && split_cp_size(next) <= room) {
      split_append(s, next);
      return s;
    }
  }
  return std::nullopt;
}

// The shortest string of allowed code points in [a, b), of those the nearest
// to t (the lower on a tie); none when [a, b) holds no such string.
inline std::optional<std::string> split_pick(const split_number& a, const split_number& t,
                                             const split_number& b) {
  const std::size_t digits = t.size() - 1;
  // Everything in [a, b) starts with the digits a and b share, so a shorter
  // string can only be a itself.
  std::size_t common = 0;
  while (common < digits && a[common + 1] == b[common + 1]) ++common;
  std::size_t significant = digits;
  while (significant > 0 && a[significant] == 0) --significant;
  for (std::size_t len = std::max<std::size_t>(1, std::min(common, significant)); len <= digits;
       ++len) {
    std::optional<std::string> best;
    split_number best_gap;
    auto consider = [&](std::string s) {
      const split_number v = split_from_key(s, digits);
      if (v < a || !(v < b)) return;
      split_number gap = v < t ? split_sub(t, v) : split_sub(v, t);
      if (!best || gap < best_gap) {
        best = std::move(s);
        best_gap = std::move(gap);
      }
    };
    consider(split_floor(t, len));
    if (auto above = split_ceil(t, len)) consider(std::move(*above));
    if (best) return best;
  }
  return std::nullopt;
}

}  // namespace detail

/// Splits `range` into at most `parts` contiguous sub-ranges of about equal
/// byte-wise width, for bisecting a range whose checksums differ.
///
/// **Guarantees**:
/// - The result is never empty. Its first part starts at `range.first`, its
///   last part ends at `range.last` (absent stays absent), and each part ends
///   exactly where the next begins: together they cover `range`, each key in
///   exactly one part.
/// - When `range` is not empty, neither is any part: `first < *last`.
/// - At most `max(parts, 1)` parts. `parts` 0 or 1, or an empty range
///   (`last <= first`), gives the range itself; so does a range with no room
///   for a cut ("a" to "a\0"). `parts` above 2^32 counts as 2^32.
///
/// **Method**: a key is read as the base-256 fraction 0.k0 k1 k2 ... (the
/// shorter of two keys padded with zero bytes), "" being 0 and an absent
/// `last` 1, just past every key. The i-th cut aims at
/// `first + i * (last - first) / parts`, and is the shortest string within
/// half a step of that target (in [target - step/2, target + step/2)), of
/// those the nearest to it. The windows do not overlap and lie strictly
/// inside the range, so the cuts ascend and every part is non-empty.
///
/// **Cut keys**: a cut is a bound, not a key, and need not name a stored key.
/// Still, cuts hold only code points a key may hold (`validate_key`):
/// printable ASCII U+0020-U+007E and whole UTF-8 sequences from U+0080 up
/// (never a surrogate). So a cut is always valid UTF-8 without NUL or control
/// bytes, which every store accepts in a bound: `postgres_store` refuses
/// bounds with a NUL byte or invalid UTF-8 (`invalid_input`: libpq passes
/// parameters as C strings and the server checks UTF-8), `duckdb_store` binds
/// bounds as VARCHAR, which DuckDB refuses unless it is UTF-8, and
/// `sqlite_store` binds them as text without checking. A cut may be a few
/// bytes longer than the longer bound, and so longer than `max_key_size`.
///
/// Since every key is such a string, a window that holds none holds no key
/// either; its cut is left out and the neighbouring parts meet at the next
/// cut, which loses nothing. That is why some ranges give fewer parts: a
/// range whose bounds differ only where no key can ("a" to "a " leaves room
/// for control characters alone), bounds in bytes no UTF-8 can start
/// (everything from "\xff"), or a split of the whole key space, parts of
/// which (0x80-0xc1, 0xf5-0xff) no UTF-8 string starts in.
///
/// Cost: O(parts * n) time, n the length of the longer bound plus a few
/// bytes; the result aside, O(n) memory.
inline std::vector<key_range> split_range(const key_range& range, std::size_t parts) {
  std::vector<key_range> out;
  const std::uint64_t n = std::min<std::uint64_t>(parts, detail::split_max_parts);
  if (n <= 1 || range.empty()) {
    out.push_back(range);
    return out;
  }
  // Enough digits beyond the bounds' that half a step is at least 256 units
  // of the last one (so rounding the step skews the cuts by under 1/256 of
  // it), and 4 more so a cut may finish a code point the window cuts through.
  std::size_t extra = 1;
  for (std::uint64_t v = 2 * n; v > 0; v >>= 8) ++extra;
  const std::size_t digits =
      std::max(range.first.size(), range.last ? range.last->size() : 0) + extra + 4;
  const detail::split_number lo = detail::split_from_key(range.first, digits);
  detail::split_number hi(digits + 1, 0);
  if (range.last)
    hi = detail::split_from_key(*range.last, digits);
  else
    hi[0] = 1;
  // "a" to "a\0": equal as fractions, nothing between. (Every window would
  // be empty too; this spares looping over them.)
  if (!(lo < hi)) {
    out.push_back(range);
    return out;
  }
  detail::split_number half = detail::split_div(detail::split_sub(hi, lo), 2 * n);
  std::fill(half.end() - 4, half.end(), std::uint8_t{0});

  out.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(n, 4096)));
  std::string from = range.first;
  detail::split_number a = lo;
  detail::split_add(a, half);
  for (std::uint64_t i = 1; i < n; ++i) {
    detail::split_number t = a;
    detail::split_add(t, half);
    detail::split_number b = t;
    detail::split_add(b, half);
    if (auto cut = detail::split_pick(a, t, b)) {
      out.push_back(key_range{std::move(from), *cut});
      from = std::move(*cut);
    }
    a = std::move(b);
  }
  out.push_back(key_range{std::move(from), range.last});
  return out;
}

/// Splits `range` into at most `parts` contiguous sub-ranges of similar row
/// counts: at the store's own `split_points` when `S` models
/// `partitionable_store`, else byte-wise (`split_range`).
///
/// **Guarantees**: as `split_range`: never empty; the first part starts at
/// `range.first`, the last ends at `range.last` (absent stays absent), each
/// part ends exactly where the next begins, and, when `range` is not empty,
/// no part is. With the store's points, the parts' row counts are as
/// `partitionable_store` promises, and there are fewer parts when the range
/// holds fewer rows than `parts` (one part for an empty range). `parts` 0 or
/// 1, or an empty range, gives the range itself without asking the store.
///
/// **Errors**: those of `split_points`; the byte-wise fallback cannot fail.
template <store S>
result<std::vector<key_range>> split_by_rows(S& s, const key_range& range, std::size_t parts) {
  if constexpr (partitionable_store<S>) {
    if (parts <= 1 || range.empty())
      return std::vector<key_range>{range};
    BOOST_OUTCOME_TRY(auto points, s.split_points(range, parts));
    std::vector<key_range> out;
    out.reserve(points.size() + 1);
    std::string from = range.first;
    for (std::string& point : points) {
      // Only cuts that keep the tiling exact: inside the range, past the
      // previous cut (a store that keeps its promise never trips this).
      if (point <= from || !range.contains(point) || out.size() + 1 >= parts) continue;
      std::string next = point;
      out.push_back(key_range{std::move(from), std::move(point)});
      from = std::move(next);
    }
    out.push_back(key_range{std::move(from), range.last});
    return out;
  } else {
    return split_range(range, parts);
  }
}

}  // namespace storesync
