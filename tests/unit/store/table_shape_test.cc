#include "storesync/store/detail/table_shape.hpp"

#include <gtest/gtest.h>

#include <array>
#include <vector>

namespace storesync::detail {
namespace {

constexpr std::array<wanted_column, 3> wanted{{
    {"key", "text"},
    {"version", "bigint"},
    {"value", "json", "jsonb"},
}};

std::vector<found_column> good() {
  return {{"value", "json"}, {"key", "text", false, "C"}, {"version", "bigint"}, {"extra", "int"}};
}

TEST(CheckShape, AcceptsEveryWantedColumnInAnyOrderAmongOthers) {
  EXPECT_TRUE(check_shape("table t", good(), wanted, {.not_null = true, .collation = "C"}));
  auto also = good();
  also[0].type = "jsonb";
  EXPECT_TRUE(check_shape("table t", also, wanted));
}

TEST(CheckShape, NamesTheMissingColumn) {
  auto found = good();
  found.erase(found.begin() + 2);
  auto r = check_shape("table t", found, wanted);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error() == errc::schema_mismatch);
  EXPECT_EQ(r.error().context(), "table t: column \"version\" is missing");
}

TEST(CheckShape, NamesTheColumnOfAnotherType) {
  auto found = good();
  found[0].type = "text";
  auto r = check_shape("table t", found, wanted);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().context(),
            "table t: column \"value\" has type text; storesync needs json or jsonb");
}

TEST(CheckShape, AppliesTheKeyRulesToTheFirstColumnOnly) {
  auto found = good();
  found[1].nullable = true;
  found[2].collation = "en_US";
  EXPECT_TRUE(check_shape("table t", found, wanted, {.collation = "C"}));
  auto nullable = check_shape("table t", found, wanted, {.not_null = true});
  ASSERT_FALSE(nullable);
  EXPECT_EQ(nullable.error().context(),
            "table t: column \"key\" admits NULL; storesync needs NOT NULL");
  found[1].collation = "en_US";
  auto collated = check_shape("table t", found, wanted, {.collation = "C"});
  ASSERT_FALSE(collated);
  EXPECT_TRUE(collated.error() == errc::schema_mismatch);
  EXPECT_NE(collated.error().context().find("column \"key\" has collation \"en_US\""),
            std::string::npos)
      << collated.error().context();
}

TEST(CheckShape, NamesEveryMismatchInOneError) {
  auto found = good();
  found[0].type = "text";        // value
  found.erase(found.begin() + 2);  // version
  auto r = check_shape("table t", found, wanted);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().context(),
            "table t: column \"version\" is missing; column \"value\" has type text;"
            " storesync needs json or jsonb");
}

TEST(CheckShape, AValueColumnThatMustAdmitNullIsRefusedWhenNotNull) {
  const std::array<wanted_column, 2> typed{{{"key", "text"}, {"score", "integer", {}, true}}};
  std::vector<found_column> found{{"key", "text", false}, {"score", "integer", false}};
  auto r = check_shape("table t", found, typed);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().context(),
            "table t: column \"score\" is NOT NULL; a deleted key's row holds NULL there");
  found[1].nullable = true;
  EXPECT_TRUE(check_shape("table t", found, typed));
}

}  // namespace
}  // namespace storesync::detail
