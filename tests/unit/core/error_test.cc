#include "storesync/core/error.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <system_error>

#include "storesync/core/result.hpp"

namespace storesync {
namespace {

TEST(Error, EveryCodeBelongsToExactlyOneCondition) {
  const condition all[] = {condition::transient, condition::permanent,  condition::overloaded,
                           condition::invalid_input, condition::conflict, condition::unavailable};
  for (int v = static_cast<int>(errc::invalid_key); v <= static_cast<int>(errc::backend_failure); ++v) {
    const std::error_code ec = make_error_code(static_cast<errc>(v));
    int matches = 0;
    for (condition c : all) matches += (ec == c) ? 1 : 0;
    EXPECT_EQ(matches, 1) << ec.message();
    EXPECT_NE(ec.message(), "unknown storesync error");
  }
}

TEST(Error, CodesMapToTheDocumentedConditions) {
  EXPECT_EQ(make_error_code(errc::invalid_key), condition::invalid_input);
  EXPECT_EQ(make_error_code(errc::serialization_failure), condition::transient);
  EXPECT_EQ(make_error_code(errc::deadlock), condition::transient);
  EXPECT_EQ(make_error_code(errc::connection_lost), condition::unavailable);
  EXPECT_EQ(make_error_code(errc::queue_full), condition::overloaded);
  EXPECT_EQ(make_error_code(errc::resource_exhausted), condition::overloaded);
  EXPECT_EQ(make_error_code(errc::version_conflict), condition::conflict);
  EXPECT_EQ(make_error_code(errc::corrupt), condition::permanent);
  EXPECT_NE(make_error_code(errc::corrupt), condition::transient);
}

TEST(Error, SystemErrorsCompareToConditions) {
  EXPECT_EQ(std::error_code(ENOSPC, std::system_category()), condition::unavailable);
  EXPECT_EQ(std::error_code(EAGAIN, std::system_category()), condition::transient);
  EXPECT_EQ(std::error_code(EMFILE, std::system_category()), condition::overloaded);
  EXPECT_EQ(std::error_code(EACCES, std::system_category()), condition::permanent);
  EXPECT_NE(std::error_code(ENOSPC, std::system_category()), condition::permanent);
}

TEST(Error, MessageCarriesContext) {
  const error e{errc::invalid_value, "key \"a\": value is not valid JSON"};
  EXPECT_EQ(e.message(), "invalid value: key \"a\": value is not valid JSON");
  EXPECT_TRUE(e == condition::invalid_input);
  EXPECT_TRUE(e == errc::invalid_value);
  EXPECT_FALSE(e == errc::invalid_key);
  EXPECT_EQ(error{errc::timeout}.message(), "timed out");
}

TEST(Error, ErrnoErrorNamesTheFile) {
  errno = ENOENT;
  const error e = errno_error("/data/journal/000001.seg");
  EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
  EXPECT_NE(e.message().find("/data/journal/000001.seg"), std::string::npos);
}

result<int> half(int x) {
  if (x % 2 != 0) return error{errc::invalid_argument, std::to_string(x) + " is odd"};
  return x / 2;
}

result<int> quarter(int x) {
  BOOST_OUTCOME_TRY(auto h, half(x));
  return half(h);
}

TEST(Result, TryPropagatesTheFirstError) {
  EXPECT_EQ(quarter(8).value(), 2);
  auto r = quarter(6);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().context(), "3 is odd");
}

TEST(Result, ValueOnFailureThrowsSystemErrorWithContext) {
  // Only caller code does this; the library never calls value() unchecked.
  auto r = half(3);
  try {
    (void)r.value();
    FAIL() << "value() did not throw";
  } catch (const std::system_error& ex) {
    EXPECT_EQ(ex.code(), errc::invalid_argument);
    EXPECT_NE(std::string(ex.what()).find("3 is odd"), std::string::npos);
  }
}

}  // namespace
}  // namespace storesync
