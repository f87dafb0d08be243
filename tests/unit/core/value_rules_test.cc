#include "storesync/core/value_rules.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace storesync;

bool accepted(std::string_view text, const value_rules& rules = {}) {
  return static_cast<bool>(validate_value("k", text, rules));
}

// Without a byte-order mark and within the depth limit, the rules accept
// exactly what a full parser (nlohmann's) accepts. It stops at a number
// beyond a double's range (valid JSON: the text is kept, never converted),
// so what follows such a number is not compared.
void expect_agrees(const std::string& text) {
  if (text.starts_with("\xEF\xBB\xBF")) return;
  bool reference = true;
  try {
    const auto parsed = nlohmann::json::parse(text);
    (void)parsed;
  } catch (const nlohmann::json::out_of_range&) {
    return;
  } catch (const nlohmann::json::parse_error&) {
    reference = false;
  }
  EXPECT_EQ(accepted(text), reference) << "text: " << text;
}

const std::vector<std::string>& corpus() {
  static const std::vector<std::string> cases = {
      R"({"id":1,"pad":"xxxxxxxx"})",
      R"({"name":"Ada","tags":["a","b"],"score":-12.5,"ok":true,"none":null,"no":false})",
      R"( [ 1 , 2.25 , -0 , 0.5 , {"a" : {"b" : []}} , {} , [[]] ] )",
      R"("plain string with \"quotes\", \\ \/ \b \f \n \r \t escapes")",
      R"({"u":"\u0041\u00e9\ud83d\ude00","n":1e5,"m":-2.5E-3,"z":0e0})",
      "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"",
      "0", "-1", "123456789012345678901234567890", "true", "false", "null", "\"\"",
      "[]", "{}", "[\n\t{\r\n}\n]",
  };
  return cases;
}

TEST(ValueRules, AcceptsValidJson) {
  for (const std::string& text : corpus()) {
    EXPECT_TRUE(accepted(text)) << text;
    EXPECT_TRUE(nlohmann::json::accept(text)) << text;
  }
}

TEST(ValueRules, RefusesInvalidJson) {
  for (const char* text : {"", " ", "{", "[1,]", "{\"a\":1,}", "{\"a\"}", "{1:2}", "01", "1.",
                           ".5", "-", "+1", "1 2", "tru", "nul", "[1]]", "\"\\x\"", "\"a",
                           "'a'", "NaN", "1e", "1e+", "\"\\u12\"", "\"\x01\"", "{\"a\":1}x",
                           "[1 2]", "\"\xc3\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"",
                           "\"\xff\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"",
                           "[\"a\" \"b\"]", "{\"a\" 1}", "{\"a\":}", "[", "[1", "{\"a\":1"}) {
    EXPECT_FALSE(accepted(text)) << text;
    expect_agrees(text);
  }
}

TEST(ValueRules, RefusesAByteOrderMark) {
  EXPECT_TRUE(nlohmann::json::accept("\xEF\xBB\xBF{}"));  // a lenient parser skips it
  const auto r = validate_value("k", "\xEF\xBB\xBF{}", {});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("byte-order mark"), std::string::npos) << r.error().message();
}

TEST(ValueRules, EnforcesTheDepthLimitAndNamesIt) {
  const auto nested = [](std::size_t depth, char open, char close) {
    return std::string(depth, open) + std::string(depth, close);
  };
  EXPECT_TRUE(accepted(nested(default_max_depth, '[', ']')));
  EXPECT_FALSE(accepted(nested(default_max_depth + 1, '[', ']')));
  EXPECT_TRUE(accepted(nested(3, '[', ']'), {.max_depth = 3}));
  EXPECT_FALSE(accepted(nested(4, '[', ']'), {.max_depth = 3}));

  std::string objects;
  for (int i = 0; i < 4; ++i) objects += "{\"a\":";
  objects += "1}}}}";
  EXPECT_TRUE(accepted(objects, {.max_depth = 4}));
  EXPECT_FALSE(accepted(objects, {.max_depth = 3}));

  const auto r = validate_value("deep", nested(300, '[', ']'), {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), condition::invalid_input);
  const std::string m = r.error().message();
  EXPECT_NE(m.find("\"deep\""), std::string::npos) << m;
  EXPECT_NE(m.find("(256)"), std::string::npos) << m;
  EXPECT_NE(m.find("breaks a rule at byte 256"), std::string::npos) << m;
}

TEST(ValueRules, SurvivesHostileDepthAndSize) {
  // 100,000 levels (the body that crashed the server) and a 10 MiB string:
  // refused or accepted without recursion.
  std::string deep;
  for (int i = 0; i < 100'000; ++i) deep += "{\"a\":";
  deep += "1";
  deep += std::string(100'000, '}');
  EXPECT_FALSE(accepted(deep));
  EXPECT_FALSE(accepted(deep, {.max_depth = 1'000'000}));  // capped at max_supported_depth
  EXPECT_FALSE(accepted(std::string(1'000'000, '[')));
  EXPECT_TRUE(accepted("\"" + std::string(10u << 20, 'x') + "\""));
  EXPECT_TRUE(accepted(std::string(max_supported_depth, '[') + std::string(max_supported_depth, ']'),
                       {.max_depth = max_supported_depth}));
}

TEST(ValueRules, NulInStringsIsAStoreRule) {
  EXPECT_TRUE(accepted(R"({"a":"\u0000"})"));
  const auto r = validate_value("k", R"({"a":"x\u0000"})", {.nul_in_strings = false});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("byte 7"), std::string::npos) << r.error().message();
  EXPECT_TRUE(accepted(R"({"a":"\u0001 \\u0000"})", {.nul_in_strings = false}));  // an escaped backslash
}

TEST(ValueRules, NumbersThatFitNumeric) {
  const value_rules pg{.numbers_fit_numeric = true};
  EXPECT_TRUE(accepted("123456789012345678901234567890", pg));
  EXPECT_TRUE(accepted("1e131071", pg));   // 131072 digits before the point
  EXPECT_FALSE(accepted("1e131072", pg));
  EXPECT_TRUE(accepted("1e-16383", pg));   // 16383 after it
  EXPECT_FALSE(accepted("1e-16384", pg));
  EXPECT_FALSE(accepted("0.5e-16383", pg));
  EXPECT_TRUE(accepted("0." + std::string(16383, '1'), pg));
  EXPECT_FALSE(accepted("0." + std::string(16384, '1'), pg));
  EXPECT_TRUE(accepted("0e5", pg));
  EXPECT_FALSE(accepted("1e999999999999999999999", pg));
  EXPECT_FALSE(accepted("[1, 2e-99999]", pg));
  EXPECT_TRUE(accepted("1e400"));  // JSON itself bounds no number
}

TEST(ValueRules, StricterCombinesBoth) {
  const value_rules a{.max_depth = 10, .nul_in_strings = true, .numbers_fit_numeric = true};
  const value_rules b{.max_depth = 20, .nul_in_strings = false, .numbers_fit_numeric = false};
  EXPECT_EQ(stricter(a, b), (value_rules{10, false, true}));
  EXPECT_EQ(stricter(b, a), stricter(a, b));
}

TEST(ValueRules, AgreesWithAFullParserOnMutations) {
  // Each byte of every case replaced by, or preceded by, characters that
  // matter to the grammar; each byte deleted; every prefix.
  const std::string specials = "{}[]:,\"\\ 0-.eEtfnu\x01\x7f\xc3\xed\xef";
  std::uint64_t checked = 0;
  for (const std::string& text : corpus()) {
    for (std::size_t i = 0; i <= text.size(); ++i) {
      expect_agrees(text.substr(0, i));
      if (i == text.size()) break;
      std::string erased = text;
      erased.erase(i, 1);
      expect_agrees(erased);
      for (char c : specials) {
        std::string replaced = text, inserted = text;
        replaced[i] = c;
        inserted.insert(i, 1, c);
        expect_agrees(replaced);
        expect_agrees(inserted);
        checked += 2;
      }
    }
  }
  EXPECT_GT(checked, 5000u);
}

TEST(ValueRules, AgreesWithAFullParserOnRandomTokens) {
  const std::vector<std::string> tokens = {"{", "}", "[", "]", ":", ",", "\"k\"", "\"\\n\"", "\"\\u00e9\"",
                                           "\"\\ud83d\\ude00\"", "\"\\ud83d\"", "1", "-0", "2.5", "0", "1e9",
                                           "true", "null", " ", "\"", "\\", ".", "e", "x", "\x01", "\xc3\xa9",
                                           "\xc3", "\xff"};
  std::mt19937_64 random(42);
  int valid = 0;
  for (int n = 0; n < 200'000; ++n) {
    std::string text;
    const std::size_t length = 1 + random() % 12;
    for (std::size_t i = 0; i < length; ++i) text += tokens[random() % tokens.size()];
    if (accepted(text)) ++valid;
    expect_agrees(text);
  }
  EXPECT_GT(valid, 100);
}

TEST(ValueRules, ValueEndAndUnescapeWalkAcceptedText) {
  const std::string text = R"( {"a":[1,{"b":"x]}\""}],"c":2} , 3)";
  EXPECT_EQ(detail::json_value_end(text, 0), text.find(" , 3"));
  EXPECT_EQ(detail::json_value_end("-12.5e3,", 0), 7u);
  // A quote after an even run of backslashes closes the string; after an
  // odd one it is escaped.
  EXPECT_EQ(detail::json_value_end(R"(["x\\",1] ,)", 0), 9u);
  EXPECT_EQ(detail::json_value_end(R"("q\\\"" ,)", 0), 7u);
  EXPECT_EQ(detail::json_value_end(R"({"\\":"\""} ,)", 0), 11u);
  EXPECT_EQ(detail::json_unescape(R"("a\"b\\c\/\n\u00e9\ud83d\ude00")"),
            "a\"b\\c/\n\xc3\xa9\xf0\x9f\x98\x80");
}

}  // namespace
