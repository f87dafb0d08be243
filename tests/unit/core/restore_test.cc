// validate_restore: the checks every restorable_store makes before it
// changes anything, and the conflict error it reports.
#include "storesync/core/restore.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace storesync {
namespace {

TEST(ValidateRestore, AcceptsAnOlderEntryOfTheKeyOrNothing) {
  EXPECT_TRUE(validate_restore("k", 5, entry::put("k", R"({"a":1})", 4)));
  EXPECT_TRUE(validate_restore("k", 5, entry::erase("k", 1)));
  EXPECT_TRUE(validate_restore("k", 5, std::nullopt));
  EXPECT_TRUE(validate_restore("k", max_entry_version, std::nullopt));
}

TEST(ValidateRestore, RefusesWhatNoStoreCouldRestoreAsInvalidInput) {
  struct bad_case {
    const char* why;
    std::string key;
    version_type expected;
    std::optional<entry> previous;
    errc code;
  };
  const bad_case cases[] = {
      {"empty key", "", 5, std::nullopt, errc::invalid_key},
      {"expected 0", "k", 0, std::nullopt, errc::invalid_version},
      {"expected negative", "k", -1, std::nullopt, errc::invalid_version},
      {"expected above the largest", "k", max_entry_version + 1, std::nullopt,
       errc::invalid_version},
      {"another key", "k", 5, entry::put("other", "1", 4), errc::invalid_argument},
      {"same version", "k", 5, entry::put("k", "1", 5), errc::invalid_version},
      {"newer version", "k", 5, entry::erase("k", 6), errc::invalid_version},
      {"version 0", "k", 5, entry::put("k", "1", 0), errc::invalid_version},
      {"not JSON", "k", 5, entry::put("k", "{", 4), errc::invalid_value},
      {"tombstone with a value", "k", 5, entry{"k", "1", 4, {}, true}, errc::invalid_value},
  };
  for (const bad_case& c : cases) {
    auto r = validate_restore(c.key, c.expected, c.previous);
    ASSERT_FALSE(r) << c.why;
    EXPECT_TRUE(r.error() == c.code) << c.why << ": " << r.error().message();
    EXPECT_TRUE(r.error() == condition::invalid_input) << c.why;
  }
}

TEST(ValidateRestore, AppliesTheStoresRules) {
  const entry nul = entry::put("k", R"("\u0000")", 4);
  EXPECT_TRUE(validate_restore("k", 5, nul));
  auto r = validate_restore("k", 5, nul, value_rules{.nul_in_strings = false});
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error() == errc::invalid_value) << r.error().message();
}

TEST(RestoreConflict, IsAConflictNamingTheKeyAndBothVersions) {
  const error e = detail::restore_conflict("user:42", 7, 9);
  EXPECT_TRUE(e == errc::version_conflict);
  EXPECT_TRUE(e == condition::conflict);
  EXPECT_EQ(e.message(),
            "version conflict: restore of key \"user:42\": expected version 7, stored version 9");
  EXPECT_EQ(detail::restore_conflict("k", 7, std::nullopt).context(),
            "restore of key \"k\": expected version 7, stored nothing");
}

}  // namespace
}  // namespace storesync
