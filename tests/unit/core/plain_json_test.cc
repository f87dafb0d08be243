#include "storesync/core/detail/plain_json.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

namespace {

using storesync::detail::plain_json;

// The fast check may only say yes where the full parser does: on every case
// and every mutation of them.
void expect_sound(const std::string& text) {
  if (plain_json(text)) {
    EXPECT_TRUE(nlohmann::json::accept(text)) << "fast check accepted: " << text;
  }
}

const std::vector<std::string>& corpus() {
  static const std::vector<std::string> cases = {
      R"({"id":1,"pad":"xxxxxxxx"})",
      R"({"name":"Ada","tags":["a","b"],"score":-12.5,"ok":true,"none":null,"no":false})",
      R"( [ 1 , 2.25 , -0 , 0.5 , {"a" : {"b" : []}} , {} , [[]] ] )",
      R"("plain string with \"quotes\", \\ \/ \b \f \n \r \t escapes")",
      "0", "-1", "123456789012345678901234567890", "true", "false", "null", "\"\"",
      "[]", "{}", "[\n\t{\r\n}\n]",
  };
  return cases;
}

TEST(PlainJson, AcceptsCommonValues) {
  for (const std::string& text : corpus()) {
    EXPECT_TRUE(plain_json(text)) << text;
    EXPECT_TRUE(nlohmann::json::accept(text)) << text;
  }
}

TEST(PlainJson, LeavesInvalidAndUnusualTextToTheParser) {
  for (const char* text : {"", " ", "{", "[1,]", "{\"a\":1,}", "{\"a\"}", "{1:2}", "01", "1.",
                           ".5", "-", "+1", "1 2", "tru", "nul", "[1]]", "\"\\x\"", "\"a",
                           "'a'", "NaN", "1e5", "1E400", "\"\\u0041\"", "\"caf\xc3\xa9\"",
                           "\xef\xbb\xbf{}", "\"\x01\"", "{\"a\":1}x", "[1 2]"}) {
    EXPECT_FALSE(plain_json(text)) << text;
    expect_sound(text);
  }
  EXPECT_FALSE(plain_json(std::string(65, '[') + "1" + std::string(65, ']')));
  EXPECT_TRUE(plain_json(std::string(64, '[') + "1" + std::string(64, ']')));
  EXPECT_FALSE(plain_json(std::string(301, '1')));
  EXPECT_TRUE(plain_json(std::string(300, '1')));
}

TEST(PlainJson, NeverAcceptsWhatTheParserRejects) {
  // Deterministic mutations of every case: each byte replaced by characters
  // that matter to the grammar, each byte deleted, every prefix.
  const std::string specials = "{}[]:,\"\\ 0-.eEtfn\x01\x7f\xc3";
  std::uint64_t checked = 0;
  for (const std::string& text : corpus()) {
    for (std::size_t i = 0; i <= text.size(); ++i) {
      expect_sound(text.substr(0, i));
      if (i == text.size()) break;
      std::string erased = text;
      erased.erase(i, 1);
      expect_sound(erased);
      for (char c : specials) {
        std::string replaced = text, inserted = text;
        replaced[i] = c;
        inserted.insert(i, 1, c);
        expect_sound(replaced);
        expect_sound(inserted);
        checked += 2;
      }
    }
  }
  EXPECT_GT(checked, 5000u);
}

TEST(PlainJson, NeverAcceptsWhatTheParserRejectsOnRandomTokens) {
  // Random strings of JSON tokens and stray bytes (fixed seed): many are
  // valid, most are not, and the check must agree with the parser on every yes.
  const std::vector<std::string> tokens = {"{", "}", "[", "]", ":", ",", "\"k\"", "\"\\n\"",
                                           "1", "-0", "2.5", "0", "true", "null", " ", "\"",
                                           "\\", ".", "e", "x", "\x01"};
  std::mt19937_64 random(42);
  int accepted = 0;
  for (int n = 0; n < 200'000; ++n) {
    std::string text;
    const std::size_t length = 1 + random() % 12;
    for (std::size_t i = 0; i < length; ++i) text += tokens[random() % tokens.size()];
    if (plain_json(text)) ++accepted;
    expect_sound(text);
  }
  EXPECT_GT(accepted, 100);
}

}  // namespace
