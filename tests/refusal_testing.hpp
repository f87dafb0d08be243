#pragma once
// What the tests of a parser share: a fixture with one piece replaced, the
// parser's answer with a throw turned into a test failure, the message of a
// refusal, and EXPECT_MENTIONS.

#include <exception>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "storesync/core/error.hpp"
#include "storesync/core/result.hpp"

namespace storesync::testing {

/// `text` with its only occurrence of `from` replaced by `to` (a test
/// failure when `from` is missing or repeated).
inline std::string with(std::string_view text, std::string_view from, std::string_view to) {
  const auto at = text.find(from);
  EXPECT_NE(at, std::string_view::npos) << "not in the fixture: " << from;
  if (at == std::string_view::npos) return std::string(text);
  EXPECT_EQ(text.find(from, at + 1), std::string_view::npos) << "more than once in the fixture: " << from;
  std::string out(text);
  out.replace(at, from.size(), to);
  return out;
}

/// `parse(text)`, a throw turned into a test failure (and an error).
template <class Parse>
auto parsed_by(Parse&& parse, std::string_view text) -> decltype(parse(text)) {
  try {
    return parse(text);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw: " << e.what();
  } catch (...) {
    ADD_FAILURE() << "threw something";
  }
  return error{errc::backend_failure, "threw"};
}

/// The message of `r`, a refusal as `invalid_argument`; a test failure when
/// `r` holds a value.
template <class T>
std::string refusal_of(const result<T>& r) {
  if (r) {
    ADD_FAILURE() << "accepted";
    return {};
  }
  EXPECT_TRUE(r.error() == errc::invalid_argument) << r.error().message();
  return r.error().message();
}

}  // namespace storesync::testing

/// Expects `part` in `text` (evaluated once).
#define EXPECT_MENTIONS(text, part)                                                          \
  do {                                                                                       \
    const std::string mentions_text_ = (text);                                               \
    EXPECT_NE(mentions_text_.find(part), std::string::npos) << "message: " << mentions_text_ \
                                                            << "\nexpected: " << (part);     \
  } while (0)
