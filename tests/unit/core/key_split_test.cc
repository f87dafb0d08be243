#include "storesync/core/key_split.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "storesync/core/detail/text.hpp"
#include "storesync/core/entry.hpp"
#include "storesync/store/memory_store.hpp"

namespace storesync {
namespace {

using namespace std::string_literals;  // "a\0"s keeps its NUL

constexpr auto npos = std::string_view::npos;

// The bounds between consecutive parts.
std::vector<std::string> cuts_of(const std::vector<key_range>& parts) {
  std::vector<std::string> cuts;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i)
    cuts.push_back(parts[i].last.value_or("<absent>"));
  return cuts;
}

// A cut must be something every store accepts in a bound, and (like a key)
// hold no control character.
::testing::AssertionResult is_cut_key(std::string_view cut) {
  if (cut.empty()) return ::testing::AssertionFailure() << "empty cut";
  if (cut.find('\0') != npos)
    return ::testing::AssertionFailure() << "NUL byte in cut " << detail::quoted(cut);
  if (const auto at = detail::invalid_utf8_at(cut); at != npos)
    return ::testing::AssertionFailure()
           << "cut " << detail::quoted(cut) << ": invalid UTF-8 at byte " << at;
  for (const char ch : cut) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f)
      return ::testing::AssertionFailure() << "control byte in cut " << detail::quoted(cut);
  }
  return ::testing::AssertionSuccess();
}

std::string show(const key_range& r) {
  return "[" + detail::quoted(r.first) + ", " + (r.last ? detail::quoted(*r.last) : "end") + ")";
}

// Every guarantee of split_range, for one call.
::testing::AssertionResult is_split_of(const key_range& range, std::size_t parts,
                                       const std::vector<key_range>& out) {
  auto fail = [&] { return ::testing::AssertionFailure() << show(range) << " into " << parts << ": "; };
  if (out.empty()) return fail() << "no parts";
  if (out.size() > std::max<std::size_t>(parts, 1)) return fail() << out.size() << " parts";
  if (out.front().first != range.first) return fail() << "starts at " << show(out.front());
  if (out.back().last != range.last) return fail() << "ends at " << show(out.back());
  for (std::size_t i = 0; i + 1 < out.size(); ++i) {
    if (!out[i].last) return fail() << "part " << i << " runs to the end";
    if (*out[i].last != out[i + 1].first)
      return fail() << "gap or overlap: " << show(out[i]) << " then " << show(out[i + 1]);
    if (auto ok = is_cut_key(*out[i].last); !ok) return fail() << ok.message();
  }
  const bool empty_range = range.last && *range.last <= range.first;
  if (empty_range && out.size() != 1) return fail() << "an empty range was split";
  if (!empty_range)
    for (const key_range& p : out)
      if (p.last && !(p.first < *p.last)) return fail() << "empty part " << show(p);
  return ::testing::AssertionSuccess();
}

TEST(SplitRange, HalvesTheWholeKeySpaceAtTheNearestOneByteCut) {
  const key_range all{};
  const auto parts = split_range(all, 2);
  EXPECT_TRUE(is_split_of(all, 2, parts));
  // The target 0x80 starts no UTF-8; the nearest one-byte cut below it is "~".
  EXPECT_EQ(cuts_of(parts), std::vector<std::string>{"~"});
}

TEST(SplitRange, QuartersTheWholeKeySpace) {
  const key_range all{};
  const auto parts = split_range(all, 4);
  EXPECT_TRUE(is_split_of(all, 4, parts));
  // Targets 0x40, 0x80, 0xc0; the last needs two bytes: U+0080 (c2 80).
  EXPECT_EQ(cuts_of(parts), (std::vector<std::string>{"@", "~", "\xc2\x80"}));
}

TEST(SplitRange, SplitsTheWholeKeySpaceIntoSixteen) {
  const key_range all{};
  const auto parts = split_range(all, 16);
  EXPECT_TRUE(is_split_of(all, 16, parts));
  const auto cuts = cuts_of(parts);
  ASSERT_GE(cuts.size(), 7u);
  // One byte each, 0x10 apart, where ASCII allows; the window around 0x10
  // holds only control characters, so it has no cut.
  EXPECT_EQ(std::vector<std::string>(cuts.begin(), cuts.begin() + 7),
            (std::vector<std::string>{" ", "0", "@", "P", "`", "p", "~"}));
  // No UTF-8 starts with 0x80-0xc1: the windows around 0x90, 0xa0 and 0xb0
  // hold no key and give no cut either. The rest are one code point each.
  EXPECT_EQ(parts.size(), 12u);
  for (std::size_t i = 7; i < cuts.size(); ++i) {
    EXPECT_GE(static_cast<unsigned char>(cuts[i][0]), 0xc2) << detail::quoted(cuts[i]);
    EXPECT_LE(cuts[i].size(), 3u) << detail::quoted(cuts[i]);
  }
}

TEST(SplitRange, SplitsTheWholeKeySpaceInto256) {
  const key_range all{};
  const auto parts = split_range(all, 256);
  EXPECT_TRUE(is_split_of(all, 256, parts));
  // Each printable ASCII character is the cut of its own window.
  const auto cuts = cuts_of(parts);
  for (char c = 0x20; c < 0x7f; ++c)
    EXPECT_TRUE(std::binary_search(cuts.begin(), cuts.end(), std::string(1, c)))
        << "no cut " << detail::quoted(std::string(1, c));
  // Windows no UTF-8 string starts in (0x01-0x1f, 0x80-0xc1, 0xf5-0xff) give
  // none: fewer parts, and nothing lost.
  EXPECT_LT(parts.size(), 256u);
  EXPECT_GT(parts.size(), 95u + 40u);
}

TEST(SplitRange, SplitsANarrowRange) {
  const key_range narrow{"user:1000", "user:1001"};
  const auto halves = split_range(narrow, 2);
  EXPECT_TRUE(is_split_of(narrow, 2, halves));
  EXPECT_EQ(cuts_of(halves), std::vector<std::string>{"user:1000~"});

  const auto quarters = split_range(narrow, 4);
  EXPECT_TRUE(is_split_of(narrow, 4, quarters));
  EXPECT_EQ(quarters.size(), 4u);
  for (const std::string& cut : cuts_of(quarters)) {
    EXPECT_EQ(cut.substr(0, 9), "user:1000");
    EXPECT_LE(cut.size(), 11u) << detail::quoted(cut);
  }
}

TEST(SplitRange, KeepsARangeWithNoRoomForACut) {
  for (const key_range& r : {
           key_range{"a", "a\0"s},           // equal as fractions: nothing between
           key_range{"a", "a "},             // only control characters between
           key_range{"a\0"s, "a\0\x01"s},    // everything between holds a NUL
           key_range{"\xff", std::nullopt},  // no UTF-8 sorts after a 0xff byte
           key_range{"\xc1", "\xc2\x80"},    // nor between 0xc1 and U+0080
       }) {
    const auto parts = split_range(r, 8);
    EXPECT_TRUE(is_split_of(r, 8, parts));
    ASSERT_EQ(parts.size(), 1u) << show(r);
    EXPECT_EQ(parts[0], r);
  }
}

TEST(SplitRange, CutsBetweenMultibyteCharacters) {
  // "é" (c3 a9) to "ö" (c3 b6): the bounds share half a code point, so every
  // cut is one whole two-byte character between them.
  const key_range latin{"\xc3\xa9", "\xc3\xb6"};
  const auto latin_parts = split_range(latin, 4);
  EXPECT_TRUE(is_split_of(latin, 4, latin_parts));
  EXPECT_EQ(latin_parts.size(), 4u);
  for (const std::string& cut : cuts_of(latin_parts)) {
    EXPECT_EQ(cut.size(), 2u) << detail::quoted(cut);
    EXPECT_EQ(cut[0], '\xc3');
  }

  // "日" (e6 97 a5) to "本" (e6 9c ac): the targets fall between code points;
  // each cut is the nearest whole three-byte character.
  const key_range cjk{"\xe6\x97\xa5", "\xe6\x9c\xac"};
  const auto cjk_parts = split_range(cjk, 4);
  EXPECT_TRUE(is_split_of(cjk, 4, cjk_parts));
  EXPECT_EQ(cjk_parts.size(), 4u);
  for (const std::string& cut : cuts_of(cjk_parts)) EXPECT_EQ(cut.size(), 3u) << detail::quoted(cut);

  // "é" to "ê" (c3 aa): cuts extend "é" with one more character.
  const key_range adjacent{"\xc3\xa9", "\xc3\xaa"};
  const auto adjacent_parts = split_range(adjacent, 4);
  EXPECT_TRUE(is_split_of(adjacent, 4, adjacent_parts));
  EXPECT_EQ(adjacent_parts.size(), 4u);
  for (const std::string& cut : cuts_of(adjacent_parts)) {
    EXPECT_EQ(cut.substr(0, 2), "\xc3\xa9");
    EXPECT_LE(cut.size(), 4u) << detail::quoted(cut);
  }
}

TEST(SplitRange, ZeroOrOnePartGivesTheRangeItself) {
  for (const key_range& r : {key_range{}, key_range{"a", "b"}, key_range{"m", std::nullopt}}) {
    EXPECT_EQ(split_range(r, 0), std::vector<key_range>{r}) << show(r);
    EXPECT_EQ(split_range(r, 1), std::vector<key_range>{r}) << show(r);
  }
}

TEST(SplitRange, GivesAnEmptyRangeBackWhole) {
  for (const key_range& r : {key_range{"b", "a"}, key_range{"b", "b"}, key_range{"", ""}}) {
    const auto parts = split_range(r, 4);
    EXPECT_TRUE(is_split_of(r, 4, parts));
    EXPECT_EQ(parts, std::vector<key_range>{r}) << show(r);
  }
}

TEST(SplitRange, KeepsOpenEndsOpen) {
  const key_range to_m{"", "m"};
  const auto low = split_range(to_m, 4);
  EXPECT_TRUE(is_split_of(to_m, 4, low));
  EXPECT_EQ(low.size(), 4u);
  EXPECT_EQ(low.front().first, "");

  // From "é" (c3 a9) the targets are two- to four-byte lead bytes.
  const key_range from_e{"\xc3\xa9", std::nullopt};
  const auto high = split_range(from_e, 4);
  EXPECT_TRUE(is_split_of(from_e, 4, high));
  EXPECT_EQ(high.size(), 4u);
  EXPECT_FALSE(high.back().last.has_value());
  for (std::size_t i = 0; i + 1 < high.size(); ++i) EXPECT_TRUE(high[i].last.has_value());

  // From "m" (0x6d) the first target, 0x91, is in bytes no UTF-8 starts with:
  // its window holds no key, so there is no cut there and one part fewer.
  const key_range from_m{"m", std::nullopt};
  const auto from_m_parts = split_range(from_m, 4);
  EXPECT_TRUE(is_split_of(from_m, 4, from_m_parts));
  EXPECT_EQ(from_m_parts.size(), 3u);
  EXPECT_FALSE(from_m_parts.back().last.has_value());
}

// Random text: printable ASCII, multibyte UTF-8, or (for bounds only) any bytes.
std::string random_ascii(std::mt19937_64& rng, std::size_t min_len, std::size_t max_len) {
  std::uniform_int_distribution<std::size_t> len(min_len, max_len);
  std::uniform_int_distribution<int> ch(0x20, 0x7e);
  std::string s(len(rng), ' ');
  for (char& c : s) c = static_cast<char>(ch(rng));
  return s;
}

std::string random_utf8(std::mt19937_64& rng, std::size_t min_len, std::size_t max_len) {
  static const std::vector<std::string> pieces = {
      " ", "0", "9", "A", "a", "z", "~", "\xc2\x80", "\xc3\xa9", "\xc3\xb6", "\xdf\xbf",
      "\xe6\x97\xa5", "\xe6\x9c\xac", "\xef\xbf\xbf", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf"};
  std::uniform_int_distribution<std::size_t> len(min_len, max_len);
  std::uniform_int_distribution<std::size_t> pick(0, pieces.size() - 1);
  std::string s;
  for (std::size_t n = len(rng); n > 0; --n) s += pieces[pick(rng)];
  return s;
}

std::string random_bytes(std::mt19937_64& rng) {
  std::uniform_int_distribution<std::size_t> len(0, 5);
  std::uniform_int_distribution<int> byte(0, 255);
  std::string s(len(rng), '\0');
  for (char& c : s) c = static_cast<char>(byte(rng));
  return s;
}

std::string random_bound(std::mt19937_64& rng) {
  switch (std::uniform_int_distribution<int>(0, 2)(rng)) {
    case 0: return random_ascii(rng, 0, 8);
    case 1: return random_utf8(rng, 0, 4);
    default: return random_bytes(rng);
  }
}

key_range random_range(std::mt19937_64& rng) {
  std::uniform_int_distribution<int> kind(0, 9);
  key_range r;
  if (kind(rng) != 0) r.first = random_bound(rng);
  switch (kind(rng)) {
    case 0: break;  // to the end
    case 1: case 2: r.last = r.first + random_bound(rng); break;  // narrow: shares a prefix
    case 3:  // narrow: the last byte one higher
      r.last = r.first.empty() ? "\x01" : r.first;
      r.last->back() = static_cast<char>(static_cast<unsigned char>(r.last->back()) + 1);
      break;
    default: r.last = random_bound(rng);
  }
  // Mostly proper ranges; about one in twenty stays empty or inverted.
  if (r.last && *r.last < r.first && kind(rng) != 0) std::swap(r.first, *r.last);
  return r;
}

TEST(SplitRange, HoldsItsGuaranteesOnRandomRanges) {
  std::mt19937_64 rng(20240614);
  std::uniform_int_distribution<std::size_t> small_parts(0, 9);
  std::uniform_int_distribution<std::size_t> any_parts(0, 300);
  std::size_t split_somewhere = 0;
  for (int round = 0; round < 3000; ++round) {
    const key_range range = random_range(rng);
    const std::size_t parts = round % 2 ? small_parts(rng) : any_parts(rng);
    const auto out = split_range(range, parts);
    ASSERT_TRUE(is_split_of(range, parts, out)) << "round " << round;
    if (out.size() > 1) ++split_somewhere;

    // Every key falls in exactly one part when it is in the range, else none.
    for (int probe = 0; probe < 20; ++probe) {
      std::string key = probe % 2 ? random_utf8(rng, 1, 4) : random_ascii(rng, 1, 6);
      if (probe % 4 == 0) key = range.first + key;  // near the start, for narrow ranges
      if (!validate_key(key)) continue;
      const auto holding = std::count_if(out.begin(), out.end(),
                                         [&](const key_range& p) { return p.contains(key); });
      ASSERT_EQ(holding, range.contains(key) ? 1 : 0)
          << detail::quoted(key) << " in " << show(range) << " into " << parts;
    }
  }
  // The generator must exercise real splits, not just the unsplit cases.
  EXPECT_GT(split_somewhere, 1500u);
}

TEST(SplitRange, SpreadsRandomAsciiKeysEvenly) {
  const key_range printable{" ", "\x7f"};  // every printable ASCII key
  const auto parts = split_range(printable, 4);
  ASSERT_TRUE(is_split_of(printable, 4, parts));
  ASSERT_EQ(parts.size(), 4u);
  std::mt19937_64 rng(7);
  std::vector<int> held(parts.size(), 0);
  constexpr int keys = 10'000;
  for (int i = 0; i < keys; ++i) {
    const std::string key = random_ascii(rng, 1, 16);
    ASSERT_TRUE(printable.contains(key));
    for (std::size_t p = 0; p < parts.size(); ++p)
      if (parts[p].contains(key)) ++held[p];
  }
  for (std::size_t p = 0; p < parts.size(); ++p) {
    EXPECT_LE(held[p], keys * 60 / 100) << "part " << p << " " << show(parts[p]);
    EXPECT_GE(held[p], keys * 10 / 100) << "part " << p << " " << show(parts[p]);
  }
}

// A store without the partitionable tier: split_by_rows must fall back.
struct unpartitioned {
  memory_store inner;
  result<std::optional<entry>> read(std::string_view key) { return inner.read(key); }
  result<write_report> write(std::span<const entry> batch) { return inner.write(batch); }
};
static_assert(store<unpartitioned> && !partitionable_store<unpartitioned>);

// A store whose points break every promise, to prove the tiling holds anyway.
struct careless_points : unpartitioned {
  std::vector<std::string> points;
  result<std::vector<std::string>> split_points(const key_range&, std::size_t) { return points; }
};
static_assert(partitionable_store<careless_points>);

std::vector<entry> user_rows() {
  std::vector<entry> rows;
  for (int i = 1000; i < 2000; ++i) rows.push_back(entry::put("user:" + std::to_string(i), "1", 1));
  return rows;
}

TEST(SplitByRows, UsesTheStoresPointsSoPartsHoldAsManyRows) {
  memory_store s;
  ASSERT_TRUE(s.write(user_rows()));
  const key_range users{"user:", "user;"};
  auto parts = split_by_rows(s, users, 4);
  ASSERT_TRUE(parts) << parts.error().message();
  ASSERT_TRUE(is_split_of(users, 4, parts.value()));
  EXPECT_EQ(cuts_of(parts.value()), (std::vector<std::string>{"user:1250", "user:1500", "user:1750"}));
  // The byte-wise split puts every one of these keys in one part.
  const auto bytewise = split_range(users, 4);
  std::size_t crowded = 0;
  for (const key_range& part : bytewise) crowded = std::max(crowded, s.checksum(part).value().count);
  EXPECT_EQ(crowded, 1000u);
}

TEST(SplitByRows, FallsBackToTheByteWiseSplit) {
  unpartitioned s;
  ASSERT_TRUE(s.write(user_rows()));
  for (const key_range& r : {key_range{"user:", "user;"}, key_range{}}) {
    auto parts = split_by_rows(s, r, 5);
    ASSERT_TRUE(parts);
    EXPECT_EQ(parts.value(), split_range(r, 5)) << show(r);
  }
}

TEST(SplitByRows, KeepsTheRangeWithoutAskingForOnePartOrAnEmptyRange) {
  careless_points s;
  s.points = {"b"};
  for (const auto& [r, n] : {std::pair{key_range{"a", "c"}, std::size_t{0}},
                             std::pair{key_range{"a", "c"}, std::size_t{1}},
                             std::pair{key_range{"c", "a"}, std::size_t{4}}}) {
    auto parts = split_by_rows(s, r, n);
    ASSERT_TRUE(parts);
    EXPECT_EQ(parts.value(), std::vector<key_range>{r}) << show(r) << " into " << n;
  }
}

TEST(SplitByRows, TilesTheRangeWhateverPointsTheStoreReturns) {
  careless_points s;
  const key_range r{"b", "m"};
  // Before the range, its first key, out of order, repeated, at or past
  // its end, and more than parts - 1 of them.
  s.points = {"a", "b", "d", "c", "d", "f", "h", "j", "m", "z"};
  auto parts = split_by_rows(s, r, 4);
  ASSERT_TRUE(parts);
  ASSERT_TRUE(is_split_of(r, 4, parts.value()));
  EXPECT_EQ(cuts_of(parts.value()), (std::vector<std::string>{"d", "f", "h"}));
  s.points = {};
  auto whole = split_by_rows(s, r, 4);
  ASSERT_TRUE(whole);
  EXPECT_EQ(whole.value(), std::vector<key_range>{r}) << "no points: one part";
}

}  // namespace
}  // namespace storesync
