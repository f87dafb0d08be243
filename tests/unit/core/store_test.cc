// The store concepts: what models them and what does not (stdexec style),
// and the checksum fallback for stores that only scan.
#include "storesync/core/store.hpp"

#include <gtest/gtest.h>

#include "storesync/core/checksum.hpp"
#include "storesync/store/memory_store.hpp"

namespace storesync {
namespace {

struct read_only {
  result<std::optional<entry>> read(std::string_view);
};
struct wrong_write_result {
  result<std::optional<entry>> read(std::string_view);
  result<void> write(std::span<const entry>);
};
struct minimal {
  result<std::optional<entry>> read(std::string_view);
  result<write_report> write(std::span<const entry>);
};
struct scan_only : minimal {
  result<std::vector<entry>> scan(const key_range&, std::string_view, std::size_t);
};
struct checkpoint_without_load : minimal {
  result<write_report> write_with_checkpoint(std::span<const entry>, const checkpoint&);
};

static_assert(!store<read_only>);
static_assert(!store<wrong_write_result>);
static_assert(store<minimal>);
static_assert(!scannable_store<minimal>);
static_assert(scannable_store<scan_only>);
static_assert(!checksum_store<scan_only>);
static_assert(!change_source<scan_only>);
static_assert(!checkpoint_store<checkpoint_without_load>);

// A change source need not be writable (a query over an analytical store).
struct read_only_changes {
  result<std::vector<entry>> changes_after(const watermark&, std::size_t);
};
static_assert(change_source<read_only_changes>);
static_assert(!store<read_only_changes>);

// The three optional tiers: the exact signatures, and only on a store.
struct lookup_of_entries : minimal {
  result<std::vector<entry>> lookup(std::span<const std::string_view>);
};
struct restore_without_result : minimal {
  void restore(std::string_view, version_type, const std::optional<entry>&);
};
struct split_into_ranges : minimal {
  result<std::vector<key_range>> split_points(const key_range&, std::size_t);
};
struct every_new_tier : minimal {
  result<std::vector<std::optional<entry_meta>>> lookup(std::span<const std::string_view>);
  result<void> restore(std::string_view, version_type, const std::optional<entry>&);
  result<std::vector<std::string>> split_points(const key_range&, std::size_t);
};
struct new_tiers_without_store {
  result<std::vector<std::optional<entry_meta>>> lookup(std::span<const std::string_view>);
  result<void> restore(std::string_view, version_type, const std::optional<entry>&);
  result<std::vector<std::string>> split_points(const key_range&, std::size_t);
};

static_assert(!metadata_store<minimal> && !restorable_store<minimal> &&
              !partitionable_store<minimal>);
static_assert(!metadata_store<lookup_of_entries>);
static_assert(!restorable_store<restore_without_result>);
static_assert(!partitionable_store<split_into_ranges>);
static_assert(metadata_store<every_new_tier> && restorable_store<every_new_tier> &&
              partitionable_store<every_new_tier>);
static_assert(!metadata_store<new_tiers_without_store> &&
              !restorable_store<new_tiers_without_store> &&
              !partitionable_store<new_tiers_without_store>);

TEST(KeyRange, IsHalfOpen) {
  const key_range r{"b", "d"};
  EXPECT_FALSE(r.contains("a"));
  EXPECT_TRUE(r.contains("b"));
  EXPECT_TRUE(r.contains("cz"));
  EXPECT_FALSE(r.contains("d"));
  EXPECT_TRUE(key_range{}.contains("anything"));
}

TEST(EntryMeta, IsTheEntryWithoutItsValueOrKey) {
  const entry e = entry::put("k", R"({"a":1})", 7);
  EXPECT_EQ(meta_of(e), (entry_meta{7, hash_content(R"({"a":1})"), false}));
  EXPECT_EQ(meta_of(entry::erase("k", 9)), (entry_meta{9, content_hash{}, true}));
  EXPECT_NE(meta_of(e), meta_of(entry::put("other", R"({"a":2})", 7)));
}

TEST(RangeChecksum, SumsModuloTwoToTheSixtyFour) {
  range_checksum c;
  c.add(~0ULL);
  c.add(2);
  EXPECT_EQ(c, (range_checksum{2, 1}));
}

TEST(ChecksumByScan, MatchesTheStoresOwnChecksum) {
  memory_store s;
  std::vector<entry> rows;
  for (int i = 0; i < 2500; ++i) rows.push_back(entry::put("k" + std::to_string(i), "1", i + 1));
  ASSERT_TRUE(s.write(rows));
  for (const key_range& r : {key_range{}, key_range{"k1", "k2"}, key_range{"k5", std::nullopt}}) {
    auto scanned = checksum_by_scan(s, r, 97);
    ASSERT_TRUE(scanned);
    EXPECT_EQ(scanned.value(), s.checksum(r).value());
  }
  EXPECT_EQ(checksum_by_scan(s, key_range{}, 0).value().count, 2500u);  // page 0 is treated as 1
}

}  // namespace
}  // namespace storesync
