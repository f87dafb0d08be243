#include "storesync/journal/journal_options_json.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace storesync {
namespace {

TEST(JournalOptions, FillFromJsonWithDefaults) {
  auto o = parse_journal_options(nlohmann::json::parse(
      R"({"directory": "/data/j", "durability": "always", "fsync_interval_ms": 5})"));
  ASSERT_TRUE(o) << o.error().message();
  EXPECT_EQ(o.value().directory, "/data/j");
  EXPECT_EQ(o.value().durability, durability::always);
  EXPECT_EQ(o.value().fsync_interval_ms, 5u);
  EXPECT_EQ(o.value().segment_size_bytes, journal_options{}.segment_size_bytes);

  const nlohmann::json back = o.value();
  EXPECT_EQ(back.at("durability"), "always");
  EXPECT_EQ(back.get<journal_options>(), o.value());
}

TEST(JournalOptions, BadJsonIsAnErrorNotAnException) {
  auto unknown = parse_journal_options(nlohmann::json::parse(R"({"directory": "d", "durability": "sometimes"})"));
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error(), errc::invalid_argument);
  auto wrong_type = parse_journal_options(nlohmann::json::parse(R"({"directory": "d", "durability": 3})"));
  ASSERT_FALSE(wrong_type);
  auto zero = parse_journal_options(nlohmann::json::parse(R"({"directory": "d", "fsync_interval_ms": 0})"));
  ASSERT_FALSE(zero);
  auto no_dir = parse_journal_options(nlohmann::json::object());
  ASSERT_FALSE(no_dir);
  EXPECT_EQ(no_dir.error(), condition::invalid_input);
}

}  // namespace
}  // namespace storesync
