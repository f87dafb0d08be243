// lookup_by_read answers what metadata_store::lookup specifies, and
// lookup_meta picks the store's own lookup when it has one.
#include "storesync/core/lookup.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "storesync/store/faulty_store.hpp"
#include "storesync/store/memory_store.hpp"

namespace storesync {
namespace {

// Only `store`: lookups must go through `read`.
struct read_write_only {
  memory_store inner;
  std::size_t reads = 0;
  result<std::optional<entry>> read(std::string_view key) {
    ++reads;
    return inner.read(key);
  }
  result<write_report> write(std::span<const entry> batch) { return inner.write(batch); }
};
static_assert(store<read_write_only> && !metadata_store<read_write_only>);

std::vector<entry> rows() {
  return {entry::put("a", "1", 3), entry::erase("b", 4), entry::put("c", R"({"x":[1]})", 9)};
}

using metas = std::vector<std::optional<entry_meta>>;

TEST(LookupByRead, AnswersEachKeyInOrderDuplicatesAndTombstonesIncluded) {
  read_write_only s;
  ASSERT_TRUE(s.write(rows()));
  const std::vector<std::string_view> keys = {"c", "missing", "b", "c", "a"};
  auto got = lookup_by_read(s, std::span<const std::string_view>(keys));
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(got.value(), (metas{entry_meta{9, hash_content(R"({"x":[1]})"), false}, std::nullopt,
                                entry_meta{4, {}, true},
                                entry_meta{9, hash_content(R"({"x":[1]})"), false},
                                entry_meta{3, hash_content("1"), false}}));
  EXPECT_EQ(s.reads, keys.size());
  // The store's own lookup agrees.
  memory_store m;
  ASSERT_TRUE(m.write(rows()));
  EXPECT_EQ(m.lookup(keys).value(), got.value());
}

TEST(LookupByRead, RefusesAnOverlongKeyBeforeReadingAnything) {
  read_write_only s;
  const std::string too_long(max_key_size + 1, 'x');
  const std::vector<std::string_view> keys = {"a", too_long};
  auto got = lookup_by_read(s, std::span<const std::string_view>(keys));
  ASSERT_FALSE(got);
  EXPECT_TRUE(got.error() == errc::invalid_key) << got.error().message();
  EXPECT_EQ(s.reads, 0u);
  const std::string longest(max_key_size, 'x');
  const std::vector<std::string_view> fits = {longest};
  EXPECT_TRUE(lookup_by_read(s, std::span<const std::string_view>(fits)));
}

TEST(LookupByRead, ReportsKeysNoWriteCanStoreAbsentWithoutReading) {
  read_write_only s;
  const std::vector<std::string_view> keys = {"", std::string_view("n\0l", 3), "bad\xff", "a\nb"};
  auto got = lookup_by_read(s, std::span<const std::string_view>(keys));
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(got.value(), metas(keys.size()));
  EXPECT_EQ(s.reads, 0u);
}

TEST(LookupMeta, UsesTheStoresLookupInOneCall) {
  faulty_store<memory_store> s;
  ASSERT_TRUE(s.write(rows()));
  const std::vector<std::string_view> keys = {"a", "b", "c", "d"};
  const std::size_t before = s.calls();
  auto got = lookup_meta(s, std::span<const std::string_view>(keys));
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(s.calls(), before + 1) << "not one lookup call";
  EXPECT_EQ(got.value(), s.inner().lookup(keys).value());
}

TEST(LookupMeta, FallsBackToOneReadPerKey) {
  read_write_only s;
  ASSERT_TRUE(s.write(rows()));
  const std::vector<std::string_view> keys = {"a", "b", "c", "d"};
  auto got = lookup_meta(s, std::span<const std::string_view>(keys));
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(s.reads, keys.size());
  EXPECT_EQ(got.value()[1], (entry_meta{4, {}, true}));
  EXPECT_FALSE(got.value()[3]);
}

TEST(LookupMeta, PassesStoreErrorsOn) {
  faulty_store<memory_store> s;
  s.script({fault::unavailable});
  const std::vector<std::string_view> keys = {"a"};
  auto got = lookup_meta(s, std::span<const std::string_view>(keys));
  ASSERT_FALSE(got);
  EXPECT_TRUE(got.error() == condition::unavailable);
}

}  // namespace
}  // namespace storesync
