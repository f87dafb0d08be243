#include "storesync/core/entry.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace storesync {
namespace {

TEST(Entry, PutComputesTheContentHash) {
  const entry e = entry::put("k", R"({"a":1})", 3);
  EXPECT_EQ(e.hash, hash_content(R"({"a":1})"));
  EXPECT_NE(e.hash, hash_content(R"({"a":2})"));
  EXPECT_FALSE(e.tombstone);
}

TEST(Entry, ContentHashIsStableAcrossReleases) {
  // The hash is stored by every adapter: changing it would break comparisons
  // with data written by earlier versions. These are MurmurHash3 x64/128 values.
  EXPECT_EQ(hash_content(""), (content_hash{0, 0}));
  const content_hash h = hash_content("hello");
  EXPECT_EQ(h.lo, 0xcbd8a7b341bd9b02ULL);
  EXPECT_EQ(h.hi, 0x5b1e906a48ae1d19ULL);
}

TEST(Entry, EraseMakesATombstoneWithoutValue) {
  const entry d = entry::erase("k", 9);
  EXPECT_TRUE(d.tombstone);
  EXPECT_TRUE(d.value.empty());
  EXPECT_EQ(d.hash, content_hash{});
  EXPECT_TRUE(validate(d));
}

TEST(Entry, RowHashDependsOnEveryField) {
  const entry base = entry::put("k", "1", 1);
  std::set<std::uint64_t> hashes = {row_hash(base)};
  hashes.insert(row_hash(entry::put("k2", "1", 1)));
  hashes.insert(row_hash(entry::put("k", "2", 1)));
  hashes.insert(row_hash(entry::put("k", "1", 2)));
  hashes.insert(row_hash(base.key, base.version, base.hash, true));
  EXPECT_EQ(hashes.size(), 5u);
}

TEST(Entry, RowHashSumsDoNotCancelLikeXor) {
  // The same edit applied to two rows cancels under XOR; under a sum of
  // non-linear hashes it does not.
  const auto a1 = row_hash(entry::put("a", "1", 1)), a2 = row_hash(entry::put("a", "2", 1));
  const auto b1 = row_hash(entry::put("b", "1", 1)), b2 = row_hash(entry::put("b", "2", 1));
  EXPECT_NE(a1 + b1, a2 + b2);
}

TEST(ValidateKey, AcceptsOrdinaryKeys) {
  EXPECT_TRUE(validate_key("user:42"));
  EXPECT_TRUE(validate_key("caf\xc3\xa9"));
  EXPECT_TRUE(validate_key(std::string(max_key_size, 'k')));
}

TEST(ValidateKey, RejectsBadKeysNamingTheProblem) {
  struct bad {
    std::string key;
    std::string says;
  };
  for (const bad& b : {bad{"", "empty"},
                       bad{std::string(max_key_size + 1, 'k'), "513 bytes"},
                       bad{std::string("a\0b", 3), "control character at byte 1"},
                       bad{"tab\there", "control character at byte 3"},
                       bad{"del\x7f", "control character at byte 3"},
                       bad{"bad\xff", "invalid UTF-8 at byte 3"},
                       bad{"trunc\xc3", "invalid UTF-8 at byte 5"},
                       bad{"overlong\xc0\xaf", "invalid UTF-8 at byte 8"},
                       bad{"surrogate\xed\xa0\x80", "invalid UTF-8 at byte 9"}}) {
    auto r = validate_key(b.key);
    ASSERT_FALSE(r) << b.says;
    EXPECT_TRUE(r.error() == errc::invalid_key);
    EXPECT_NE(r.error().message().find(b.says), std::string::npos) << r.error().message();
  }
}

TEST(ValidateKey, MessagesAreValidUtf8WhateverTheKey) {
  for (std::string key : {std::string("bad\xff"), std::string("cut\xc3"), std::string(79, 'a') + "\xc3\xa9zz"}) {
    auto r = validate_key(key + std::string(600, 'k'));
    ASSERT_FALSE(r);
    EXPECT_EQ(detail::invalid_utf8_at(r.error().message()), std::string_view::npos) << r.error().message();
  }
  auto r = validate_key("x\xffy");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find(R"("x\xffy")"), std::string::npos) << r.error().message();
}

TEST(ValidateKey, QuotesKeysSafelyInMessages) {
  auto r = validate_key(std::string("x\ny", 3));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find(R"("x\x0ay")"), std::string::npos) << r.error().message();
  auto long_key = validate_key(std::string(4096, 'z'));
  ASSERT_FALSE(long_key);
  EXPECT_LT(long_key.error().message().size(), 200u);
}

TEST(Validate, RejectsNonJsonValuesAndBadVersions) {
  EXPECT_TRUE(validate(entry::put("k", R"({"a":[1,2,{"b":null}]})", 1)));
  EXPECT_TRUE(validate(entry::put("k", "\"text\"", 1)));
  EXPECT_TRUE(validate(entry::put("k", "{oops", 1)).error() == errc::invalid_value);
  EXPECT_TRUE(validate(entry::put("k", "", 1)).error() == errc::invalid_value);
  EXPECT_TRUE(validate(entry::put("k", "1", 0)).error() == errc::invalid_version);
  EXPECT_TRUE(validate(entry::put("k", "1", -5)).error() == errc::invalid_version);
  EXPECT_TRUE(validate(entry::put("k", "1", max_entry_version)));
  const auto above = validate(entry::put("k", "1", max_entry_version + 1));
  ASSERT_FALSE(above);
  EXPECT_TRUE(above.error() == errc::invalid_version);
  EXPECT_NE(above.error().message().find("\"k\""), std::string::npos) << above.error().message();
  EXPECT_TRUE(validate(entry{"k", "1", 2, {}, true}).error() == errc::invalid_value);
}

TEST(ValidateBatch, ReportsTheFirstInvalidEntry) {
  const entry batch[] = {entry::put("ok", "1", 1), entry::put("second", "nope", 1),
                         entry::put("", "1", 1)};
  auto r = validate_batch(batch);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("second"), std::string::npos);
}

TEST(VersionGuard, AppliesOnlyNewerVersions) {
  EXPECT_EQ(version_guard(1, std::nullopt), guard_outcome::applied);
  EXPECT_EQ(version_guard(5, 4), guard_outcome::applied);
  EXPECT_EQ(version_guard(5, 5), guard_outcome::unchanged);
  EXPECT_EQ(version_guard(4, 5), guard_outcome::stale);
}

TEST(WriteReport, CountsAndAdds) {
  write_report r;
  r.count(guard_outcome::applied);
  r.count(guard_outcome::stale);
  r.count(guard_outcome::stale);
  EXPECT_EQ(r, (write_report{1, 0, 2}));
  r += write_report{0, 4, 0};
  EXPECT_EQ(r.total(), 7u);
}

}  // namespace
}  // namespace storesync
