// The router over real write-behind services (memory + journal -> SQLite or
// PostgreSQL), driven with Beast requests and no socket: every value reads
// back as the exact text that was sent (from the fast store, through the
// batch route, and from SQLite after a restart); hostile bodies, keys and
// versions are refused at the door and change nothing; PostgreSQL's own
// limits are checked before anything is acknowledged; and no input, however
// mangled, crashes the router or makes it report a write it did not keep.
#include "reference_server/router.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iterator>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "reference_server/write_behind_service.hpp"
#include "storesync/core/detail/json_scan.hpp"
#include "storesync/store/postgres_store.hpp"
#include "storesync/store/sqlite_store.hpp"
#include "tests/pg_test_env.hpp"
#include "tests/printable.hpp"
#include "tests/router_reply.hpp"

namespace storesync::server {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

// ---------------------------------------------------------------------------
// A server without a socket
// ---------------------------------------------------------------------------

using testing::printable;

/// JSON text with the surrounding whitespace removed: what a batch item's
/// "value" holds, since the whitespace around it belongs to the body.
std::string_view trimmed(std::string_view text) {
  const std::size_t from = detail::json_skip_space(text, 0);
  std::size_t to = text.size();
  while (to > from && (text[to - 1] == ' ' || text[to - 1] == '\n' || text[to - 1] == '\r' || text[to - 1] == '\t'))
    --to;
  return text.substr(from, to - from);
}

using test::reply;

/// A router over `service`, answering requests built in place.
class test_server {
 public:
  explicit test_server(std::shared_ptr<record_service> service)
      : service_(std::move(service)), router_(service_, auth_options{}) {}

  reply send(http::verb verb, std::string target, std::string body = {}) {
    return test::send(router_, verb, std::move(target), std::move(body));
  }

  /// `key` goes into the path as it is: percent-escapes and all.
  reply put(std::string_view key, std::string body, std::string_view query = {}) {
    std::string target = "/v1/records/" + std::string(key);
    if (!query.empty()) target += "?" + std::string(query);
    return send(http::verb::put, std::move(target), std::move(body));
  }
  reply get(std::string_view key) { return send(http::verb::get, "/v1/records/" + std::string(key)); }
  reply erase(std::string_view key) { return send(http::verb::delete_, "/v1/records/" + std::string(key)); }
  reply batch(std::string body) { return send(http::verb::post, "/v1/records:batch", std::move(body)); }
  reply flush() { return send(http::verb::post, "/v1/flush?timeout_ms=60000"); }
  reply dead_letters() { return send(http::verb::get, "/v1/dead-letters"); }

  json status() { return send(http::verb::get, "/v1/status").parsed(); }
  std::uint64_t acknowledged() { return status().value("acknowledged", std::uint64_t{0}); }

  /// The exact text GET returns as "value" for `key` (an ASCII key), or
  /// nothing on 404. Any other answer, or a body that is not JSON of the
  /// documented shape, is a test failure.
  std::optional<std::string> value_of(const std::string& key) {
    const reply r = get(key);
    if (r.status == 404) {
      EXPECT_EQ(r.error_code(), "not_found") << r.body;
      return std::nullopt;
    }
    if (r.status != 200) {
      ADD_FAILURE() << "GET " << key << ": " << r.status << " " << printable(r.body);
      return "<GET failed>";
    }
    // {"key":K,"version":N,"value":V}\n, with V spliced in as stored.
    const std::string head = R"({"key":)" + json(key).dump() + R"(,"version":)";
    const std::size_t value_at = r.body.find(R"(,"value":)", head.size());
    const bool digits = value_at != std::string::npos && value_at > head.size() &&
                        r.body.find_first_not_of("0123456789", head.size()) == value_at;
    if (!r.body.starts_with(head) || !digits || !r.body.ends_with("}\n")) {
      ADD_FAILURE() << "GET " << key << " has an unexpected shape: " << printable(r.body);
      return "<malformed GET>";
    }
    EXPECT_FALSE(detail::scan_json(r.body, {max_supported_depth, true, false}))
        << "GET " << key << " is not valid JSON: " << printable(r.body);
    const std::size_t from = value_at + std::string_view(R"(,"value":)").size();
    return r.body.substr(from, r.body.size() - 2 - from);
  }

 private:
  std::shared_ptr<record_service> service_;
  router router_;
};

/// A fresh directory under the test's scratch space.
std::string scratch(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const fs::path dir = fs::path(tmp ? tmp : "/tmp") / ("router_test-" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

/// A write-behind service as main.cpp builds it, journalling under `dir`.
template <versioned_store Durable>
std::shared_ptr<record_service> open_write_behind(std::function<result<Durable>()> open_durable,
                                                  std::string name, const std::string& dir,
                                                  typename deferred_store<Durable>::admission admits = {}) {
  write_behind_options o;
  o.directory = dir;
  auto s = write_behind_service<Durable>::open(
      std::move(open_durable), std::move(admits), std::move(name), std::make_unique<memory_store>(), "memory", std::move(o),
      exponential_backoff({.base = 10ms, .cap = 100ms, .max_attempts = 3}), aimd_batch_sizer{}, block_for(10s),
      std::make_shared<metrics_registry>());
  if (!s) throw std::runtime_error("cannot open the write-behind service: " + s.error().message());
  return std::shared_ptr<record_service>(std::move(s).value());
}

sqlite_options sqlite_at(const std::string& dir) {
  sqlite_options o;
  o.path = dir + "/storesync.db";
  return o;
}

/// The reference server's default deployment: memory + journal -> SQLite,
/// everything in `dir`.
std::unique_ptr<test_server> serve_sqlite(const std::string& dir) {
  const sqlite_options o = sqlite_at(dir);
  return std::make_unique<test_server>(
      open_write_behind<sqlite_store>([o] { return sqlite_store::open(o); }, "sqlite", dir));
}

/// A PostgreSQL table of this test process, dropped at scope exit.
struct pg_table {
  pg_table() : name(testing::unique_pg_name("router")) {}
  ~pg_table() {
    try {
      pqxx::connection c(testing::test_pg_url());
      pqxx::nontransaction tx(c);
      tx.exec("DROP TABLE IF EXISTS " + detail::pg_quote_ident(name) + ", " +
              detail::pg_quote_ident(detail::pg_derived_name(name, "_checkpoints")));
    } catch (const std::exception& e) {
      ADD_FAILURE() << "dropping " << name << ": " << e.what();
    }
  }
  postgres_config config() const {
    postgres_config c;
    c.url = testing::test_pg_url();
    c.table = name;
    c.pool_size = 2;
    c.application_name = "storesync-router-test";
    return c;
  }
  std::string name;
};

/// Memory + journal -> PostgreSQL (table `table`), journalling under `dir`.
std::unique_ptr<test_server> serve_postgres(const std::string& dir, const pg_table& table) {
  const postgres_config c = table.config();
  return std::make_unique<test_server>(
      open_write_behind<postgres_store>([c] { return postgres_store::open(c); }, "postgresql", dir));
}

/// The body of a batch of (key, value text) items, values spliced in as given.
std::string batch_body(const std::vector<std::pair<std::string, std::string>>& items) {
  std::string body = R"({"records":[)";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) body += ',';
    body += R"({"key":)" + json(items[i].first).dump() + R"(,"value":)" + items[i].second + "}";
  }
  return body + "]}";
}

/// The version a successful PUT reports; 0 (and a failure) otherwise.
version_type put_ok(test_server& s, const std::string& key, const std::string& text) {
  const reply r = s.put(key, text);
  if (r.status != 200) {
    ADD_FAILURE() << "PUT " << key << " " << printable(text) << ": " << r.status << " " << printable(r.body);
    return 0;
  }
  const json j = r.parsed();
  const std::string outcome = j.value("outcome", std::string());
  EXPECT_TRUE(outcome == "applied" || outcome == "accepted") << "PUT " << key << ": " << r.body;
  return j.value("version", version_type{0});
}

/// Sends `items` as one batch, expecting each item to be written; returns the
/// version of each.
std::vector<version_type> batch_ok(test_server& s, const std::vector<std::pair<std::string, std::string>>& items) {
  std::vector<version_type> versions(items.size(), 0);
  const reply r = s.batch(batch_body(items));
  if (r.status != 200) {
    ADD_FAILURE() << "batch: " << r.status << " " << printable(r.body);
    return versions;
  }
  const json results = r.parsed().value("results", json::array());
  EXPECT_EQ(results.size(), items.size()) << r.body;
  for (const json& item : results) {
    const std::size_t i = item.value("index", items.size());
    if (i >= items.size() || item.value("status", 0) != 200) {
      ADD_FAILURE() << "batch item refused: " << printable(item.dump());
      continue;
    }
    EXPECT_EQ(item.value("key", std::string()), items[i].first);
    versions[i] = item.value("version", version_type{0});
  }
  return versions;
}

// ---------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------

/// Generates valid JSON that tests exactness: numbers no double holds, every
/// escape, raw UTF-8, unsorted (but distinct) member names, odd whitespace.
class json_maker {
 public:
  /// `nul_escape`: whether strings may hold \u0000 (PostgreSQL cannot).
  json_maker(std::uint64_t seed, bool nul_escape) : rng_(seed), nul_escape_(nul_escape) {}

  /// A value nested at most `depth` deep, maybe with whitespace around it.
  std::string value(int depth) { return space() + bare(depth) + space(); }

  /// Containers `depth` deep, mixing arrays and objects, around a scalar.
  std::string deep(std::size_t depth) {
    std::string text;
    std::vector<std::string> closers;
    for (std::size_t i = 0; i < depth; ++i) {
      const bool array = chance(0.5);
      text += array ? "[" + space() : R"({"k")" + space() + ":";
      closers.push_back(space() + (array ? "]" : "}"));
    }
    text += scalar();
    for (auto c = closers.rbegin(); c != closers.rend(); ++c) text += *c;
    return text;
  }

  std::size_t pick(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_); }
  bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  std::mt19937_64& rng() { return rng_; }

 private:
  std::string space() {
    static constexpr std::string_view spaces[] = {"", "", "", "", " ", "\n", "\t", "\r\n", "  \t\n "};
    return std::string(spaces[pick(std::size(spaces))]);
  }

  std::string scalar() {
    switch (pick(6)) {
      case 0:
      case 1: return number();
      case 2:
      case 3: return string();
      case 4: return chance(0.5) ? "true" : "false";
      default: return "null";
    }
  }

  std::string bare(int depth) {
    const std::size_t kind = pick(depth > 0 ? 8 : 6);
    if (kind < 6) return scalar();
    return kind == 6 ? array(depth - 1) : object(depth - 1);
  }

  char digit() { return static_cast<char>('0' + pick(10)); }

  std::string number() {
    static constexpr std::string_view tricky[] = {
        "123456789012345678901234567890", "-123456789012345678901234567890", "-0", "0", "0.0", "-0.0",
        "1e400", "-1e400", "1e-400", "1E-7", "2.50", "1E+00", "5e+3", "0e0", "18446744073709551616",
        "-9223372036854775809", "9007199254740993", "3.14159265358979323846264338327950288",
        "1.000000000000000000000000001", "0.1", "100", "1.5e308", "4.9e-324"};
    if (chance(0.4)) return std::string(tricky[pick(std::size(tricky))]);
    std::string n = chance(0.3) ? "-" : "";
    if (chance(0.2)) {
      n += '0';
    } else {
      n += static_cast<char>('1' + pick(9));
      for (std::size_t i = pick(41); i > 0; --i) n += digit();
    }
    if (chance(0.4)) {
      n += '.';
      for (std::size_t i = 1 + pick(30); i > 0; --i) n += digit();
    }
    if (chance(0.3)) {
      static constexpr std::string_view signs[] = {"", "+", "-"};
      n += chance(0.5) ? 'e' : 'E';
      n += signs[pick(3)];
      for (std::size_t i = 1 + pick(3); i > 0; --i) n += digit();
    }
    return n;
  }

  std::string string() {
    static constexpr std::string_view pieces[] = {
        R"(\")", R"(\\)", R"(\/)", R"(\b)", R"(\f)", R"(\n)", R"(\r)", R"(\t)",
        R"(\u00e9)", R"(\u00E9)", R"(\ud83d\ude00)", R"(\uD83D\uDE00)", R"(\u0001)", R"(\u001f)",
        R"(\u007f)", R"(\uffff)", R"(\u2028)", R"(\u0041)",
        "\xc3\xa9",          // é
        "\xe2\x82\xac",      // €
        "\xf0\x9f\x98\x80",  // 😀
        "\xe2\x80\xa8",      // U+2028, raw
        "\xef\xbb\xbf",      // U+FEFF inside a string (not a leading BOM)
        "\x7f", "a", "Z", " ", "'", "plain text", "{", "}", "[", "]", ",", ":", "/", "\\\\\\\""};
    std::string s = "\"";
    for (std::size_t i = pick(9); i > 0; --i) s += pieces[pick(std::size(pieces))];
    if (nul_escape_ && chance(0.05)) s += R"(\u0000)";
    return s + "\"";
  }

  std::string array(int depth) {
    std::string out = "[" + space();
    for (std::size_t i = 0, n = pick(5); i < n; ++i) {
      if (i) out += "," + space();
      out += bare(depth) + space();
    }
    return out + "]";
  }

  std::string object(int depth) {
    // Distinct once unescaped, so no object has a duplicate member.
    static constexpr std::string_view names[] = {R"("b")",  R"("a")", R"("z")",  R"("")",
                                                 R"("10")", R"("2")", "\"\xc3\xa9\"", R"("\u00e8")",
                                                 R"("k\n")", R"("A")", R"("a ")"};
    std::vector<std::size_t> order(std::size(names));
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::shuffle(order.begin(), order.end(), rng_);
    std::string out = "{" + space();
    for (std::size_t i = 0, n = pick(5); i < n; ++i) {
      if (i) out += "," + space();
      out += std::string(names[order[i]]) + space() + ":" + space() + bare(depth) + space();
    }
    return out + "}";
  }

  std::mt19937_64 rng_;
  bool nul_escape_;
};

/// `depth` levels of `{"a": ... }` around 1 (or, `arrays`, of `[ ... ]`).
std::string nested(std::size_t depth, bool arrays) {
  std::string out;
  out.reserve(depth * 6 + 1);
  for (std::size_t i = 0; i < depth; ++i) out += arrays ? "[" : R"({"a":)";
  out += "1";
  for (std::size_t i = 0; i < depth; ++i) out += arrays ? ']' : '}';
  return out;
}

/// The values every round trip includes, before the generated ones.
std::vector<std::string> fixed_values(bool nul_escape) {
  std::vector<std::string> v = {
      "123456789012345678901234567890", "-123456789012345678901234567890", "-0", "0.0", "1e400", "1E-7",
      "2.50", "3.14159265358979323846264338327950288419716939937510582097494459230781640628620899",
      R"({"b":1,"a":2})", R"( { "b" : [ 1 , 2.50 ] ,	"a" : { } } )", "\n[\r\n]\t",
      R"("\" \\ \/ \b \f \n \r \t \u00e9 \ud83d\ude00 \u0001")", "\"\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"",
      R"({"z":{"y":{"x":[1,{"w":null,"v":true,"u":false}]}}})", "\"\"", "[]", "{}", "null", "true", "false",
      nested(256, true), nested(256, false)};
  if (nul_escape) v.push_back(R"({"a":"\u0000"})");
  return v;
}

/// What nlohmann's parser makes of a text: valid or not, how deep it went,
/// and whether it stopped only at a number beyond double's range (storesync
/// keeps values as text, so it takes those).
struct reference_verdict {
  bool valid = false;
  bool overflow = false;
  std::size_t depth = 0;
};

reference_verdict reference_parse(const std::string& text) {
  struct sax : json::json_sax_t {
    reference_verdict v;
    std::size_t depth = 0;
    bool open() {
      v.depth = std::max(v.depth, ++depth);
      return true;
    }
    bool close() {
      --depth;
      return true;
    }
    bool null() override { return true; }
    bool boolean(bool) override { return true; }
    bool number_integer(number_integer_t) override { return true; }
    bool number_unsigned(number_unsigned_t) override { return true; }
    bool number_float(number_float_t, const string_t&) override { return true; }
    bool string(string_t&) override { return true; }
    bool binary(binary_t&) override { return true; }
    bool start_object(std::size_t) override { return open(); }
    bool key(string_t&) override { return true; }
    bool end_object() override { return close(); }
    bool start_array(std::size_t) override { return open(); }
    bool end_array() override { return close(); }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
      v.overflow = e.id == 406;  // number overflow
      return false;
    }
  } handler;
  handler.v.valid = json::sax_parse(text, &handler);
  return handler.v;
}

// ---------------------------------------------------------------------------
// 1. Round trips
// ---------------------------------------------------------------------------

TEST(RouterOverSqlite, RoundTripKeepsEveryValueExactly) {
  const std::string dir = scratch("round-trip");
  json_maker maker(0x5eed'0001, /*nul_escape=*/true);
  std::vector<std::string> values = fixed_values(true);
  for (int i = 0; i < 3000; ++i) values.push_back(maker.value(static_cast<int>(maker.pick(6))));

  // key -> the text it must read back as.
  std::vector<std::pair<std::string, std::string>> expected;
  {
    auto server = serve_sqlite(dir);
    std::vector<std::pair<std::string, std::string>> pending_batch;
    auto send_batch = [&] {
      batch_ok(*server, pending_batch);
      for (const auto& [key, text] : pending_batch) {
        const std::string want(trimmed(text));
        if (want == "null") {  // a batch item's null deletes
          EXPECT_EQ(server->value_of(key), std::nullopt) << "batch item " << key;
          continue;
        }
        EXPECT_EQ(server->value_of(key), want) << "batch item " << key << " sent " << printable(text);
        expected.emplace_back(key, want);
      }
      pending_batch.clear();
    };
    for (std::size_t i = 0; i < values.size(); ++i) {
      const std::string& text = values[i];
      const std::string key = "rt-put-" + std::to_string(i);
      if (put_ok(*server, key, text) == 0) continue;
      EXPECT_EQ(server->value_of(key), text) << "PUT " << key << " sent " << printable(text);
      expected.emplace_back(key, text);

      // The batch route carries the value's text inside a larger body.
      pending_batch.emplace_back("rt-batch-" + std::to_string(i), text);
      if (pending_batch.size() == 16) send_batch();
    }
    send_batch();
    ASSERT_FALSE(::testing::Test::HasFailure()) << "values did not survive the fast store";

    const reply f = server->flush();
    ASSERT_EQ(f.status, 200) << f.body;
    EXPECT_TRUE(f.parsed().value("complete", false)) << f.body;
    EXPECT_EQ(server->status().value("dead_letters", -1), 0);
  }

  // A new service on the same journal and SQLite file: nothing is owed, so
  // the fast store starts empty and every read goes to SQLite.
  {
    auto server = serve_sqlite(dir);
    const json s = server->status();
    EXPECT_EQ(s.value("pending", -1), 0) << s.dump();
    EXPECT_EQ(s.value("fast_bytes", -1), 0) << s.dump();
    for (const auto& [key, text] : expected)
      EXPECT_EQ(server->value_of(key), text) << "after a restart, " << key << " was sent as " << printable(text);
  }
  // And SQLite itself holds the exact text.
  auto db = sqlite_store::open(sqlite_at(dir));
  ASSERT_TRUE(db) << db.error().message();
  for (const auto& [key, text] : expected) {
    auto got = db.value().read(key);
    ASSERT_TRUE(got) << got.error().message();
    ASSERT_TRUE(got.value()) << key << " is not in SQLite";
    EXPECT_EQ(got.value()->value, text) << "SQLite holds another text for " << key;
  }
}

TEST(RouterOverPostgres, RoundTripIsExactThroughPostgres) {
  const pg_table table;
  const std::string dir = scratch("pg-round-trip");
  json_maker maker(0x5eed'0002, /*nul_escape=*/false);
  std::vector<std::string> values = fixed_values(false);
  for (int i = 0; i < 600; ++i) values.push_back(maker.value(static_cast<int>(maker.pick(6))));

  struct written {
    std::string key, text;
    version_type version;
  };
  std::vector<written> expected;
  auto server = serve_postgres(dir, table);
  for (std::size_t i = 0; i < values.size(); ++i) {
    const std::string& text = values[i];
    const std::string key = "pg-put-" + std::to_string(i);
    const version_type v = put_ok(*server, key, text);
    if (v == 0) continue;
    EXPECT_EQ(server->value_of(key), text) << "PUT " << key << " sent " << printable(text);
    expected.push_back({key, text, v});

    if (trimmed(text) == "null") continue;  // null deletes
    const std::string batch_key = "pg-batch-" + std::to_string(i);
    const version_type bv = batch_ok(*server, {{batch_key, text}}).front();
    if (bv == 0) continue;
    EXPECT_EQ(server->value_of(batch_key), trimmed(text)) << "batch item " << batch_key;
    expected.push_back({batch_key, std::string(trimmed(text)), bv});
  }

  const reply f = server->flush();
  ASSERT_EQ(f.status, 200) << f.body;
  EXPECT_TRUE(f.parsed().value("complete", false)) << f.body;
  EXPECT_EQ(server->status().value("dead_letters", -1), 0);
  const reply letters = server->dead_letters();
  EXPECT_EQ(letters.status, 200);
  EXPECT_EQ(letters.body, "{\"dead_letters\":[]}\n");

  // PostgreSQL (a json column) holds each value's exact text at its version
  // with its original hash.
  auto pg = postgres_store::open(table.config());
  ASSERT_TRUE(pg) << pg.error().message();
  for (const written& w : expected) {
    auto got = pg.value().read(w.key);
    ASSERT_TRUE(got) << got.error().message();
    ASSERT_TRUE(got.value()) << w.key << " is not in PostgreSQL";
    const entry& e = *got.value();
    EXPECT_EQ(e.version, w.version) << w.key;
    EXPECT_EQ(e.hash, hash_content(w.text)) << w.key;
    EXPECT_EQ(e.value, w.text) << w.key << ": sent " << printable(w.text) << ", PostgreSQL holds " << printable(e.value);
  }
}

// ---------------------------------------------------------------------------
// 2. Hostile input
// ---------------------------------------------------------------------------

/// A request the router must refuse with 400 invalid_input.
struct refusal {
  std::string what;    // shown when the case fails
  std::string key;     // as it goes into the path
  std::string query;   // PUT's query string
  std::string body;
  std::string says;    // in the error message
  bool key_valid = true;  // then GET of the key must be 404
};

std::vector<refusal> hostile_puts() {
  std::vector<refusal> cases;
  int n = 0;
  auto body = [&](std::string what, std::string text, std::string says) {
    cases.push_back({std::move(what), "hostile-" + std::to_string(n++), "", std::move(text), std::move(says)});
  };
  const std::string too_deep = "nesting deeper than the limit (256)";
  body("100,000 levels of objects", nested(100'000, false), too_deep);
  body("100,000 levels of arrays", nested(100'000, true), too_deep);
  body("100,000 unclosed arrays", std::string(100'000, '['), too_deep);
  body("257 levels", nested(257, true), too_deep);
  body("257 levels, the last empty", std::string(256, '[') + "[]" + std::string(256, ']'), too_deep);

  const std::string utf8 = "invalid UTF-8";
  body("a lone 0xff", "\"\xff\"", utf8);
  body("a truncated sequence", "\"\xc3\"", utf8);
  body("an overlong slash", "\"\xc0\xaf\"", utf8);
  body("an encoded surrogate", "\"\xed\xa0\x80\"", utf8);
  body("beyond U+10FFFF", "\"\xf4\x90\x80\x80\"", utf8);
  body("a stray continuation byte", "[\"ok\",\"\x80\"]", utf8);
  body("0xff outside a string", "\xff", "unexpected character");
  body("a byte-order mark", "\xef\xbb\xbf{\"a\":1}", "byte-order mark");
  body("a byte-order mark alone", "\xef\xbb\xbf", "byte-order mark");

  for (const char* text : {R"({"a":1)", "[1,2", R"("abc)", R"({"a")", R"({"a":)", "tru", "nul", R"({"a":1,})",
                           "[1,]", "{,}", R"({"a" 1})", "1 2", "{}}", "[]]", "", "   ", "\n", R"({"a":1}x)", "{'a':1}"})
    body(std::string("truncated or malformed: ") + text, text, "not valid JSON");
  body("a NUL after the value", std::string("1\0", 2), "not valid JSON");
  body("a raw NUL in a string", std::string("\"a\0b\"", 5), "control character");
  body("a raw tab in a string", "\"a\tb\"", "control character");
  body("a raw 0x1f in a string", "\"\x1f\"", "control character");

  const std::string surrogate = "unpaired UTF-16 surrogate escape";
  for (const char* text : {R"("\ud800")", R"("\udc00")", R"("\ud800\u0041")", R"("\ud83dx")", R"("\udfff\ud800")",
                           R"(["\ud83d"])", R"({"\udc00":1})"})
    body(std::string("lone surrogate ") + text, text, surrogate);
  for (const char* text : {R"("\x")", R"("\u12")", R"("\u12G4")", R"("\'")", R"("\U00e9")"})
    body(std::string("bad escape ") + text, text, "not valid JSON");

  for (const char* text : {"01", "1.", ".5", "+1", "NaN", "1e", "-", "Infinity", "-Infinity", "0x10", "1e+", "--1",
                           "1.e5", "00", "-01", "1_000", "[01]", R"({"a":1.})", "1e5.5"})
    body(std::string("odd number ") + text, text, "not valid JSON");

  int v = 0;
  for (const char* version : {"0", "-1", "1.5", "99999999999999999999", "9223372036854775807",
                              "4611686018427387905", "abc", "", "+1", "0x10", " 1", "1e3"}) {
    const std::string key = "hostile-version-" + std::to_string(v++);
    cases.push_back({std::string("?version=") + version, key, std::string("version=") + version, R"({"ok":true})",
                     "key \"" + key + "\": version must be an integer from 1 to 4611686018427387904"});
  }

  auto key = [&](std::string what, std::string k, std::string says) {
    cases.push_back({std::move(what), std::move(k), "", R"({"ok":true})", std::move(says), false});
  };
  key("a 513-byte key", std::string(513, 'k'), "is 513 bytes; the limit is 512");
  key("a 100,000-byte key", std::string(100'000, 'k'), "the limit is 512");
  key("%01 in a key", "a%01b", "control character at byte 1");
  key("%0A in a key", "a%0Ab", "control character at byte 1");
  key("%7F in a key", "a%7Fb", "control character at byte 1");
  key("%00 in a key", "a%00b", "control character at byte 1");
  key("a raw 0x01 in a key", "a\x01" "b", "control character at byte 1");
  key("%FF in a key", "a%FF", "invalid UTF-8 at byte 1");
  key("a truncated %C3 in a key", "a%C3", "invalid UTF-8 at byte 1");
  key("an empty key", "", "key is empty");
  for (const char* k : {"a%zz", "a%4", "a%", "%", "%%41", "a%4g"}) key(std::string("bad escape ") + k, k, "malformed percent-escape");
  return cases;
}

TEST(RouterOverSqlite, HostileBodiesAreRefusedAndChangeNothing) {
  const std::string dir = scratch("hostile");
  auto server = serve_sqlite(dir);
  std::uint64_t acknowledged = server->acknowledged();

  for (const refusal& c : hostile_puts()) {
    SCOPED_TRACE(c.what);
    const reply r = server->put(c.key, c.body, c.query);
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_EQ(r.error_code(), "invalid_input") << r.body;
    const std::string message = r.error_message();
    EXPECT_NE(message.find(c.says), std::string::npos) << "message: " << message;
    if (c.key_valid) {
      // Value errors name the key and the byte. Version errors name only
      // the version text, not the key (unlike the batch route's).
      if (c.query.empty()) {
        EXPECT_NE(message.find("key \"" + c.key + "\""), std::string::npos) << "message: " << message;
        EXPECT_NE(message.find(" at byte "), std::string::npos) << "message: " << message;
      }
      const reply g = server->get(c.key);
      EXPECT_EQ(g.status, 404) << g.body;
    } else {
      // The key itself is refused: no route reads or writes it.
      if (c.says.find("percent") == std::string::npos && !c.key.empty()) {
        EXPECT_NE(message.find("key \"" + c.key.substr(0, 1)), std::string::npos) << "message: " << message;
      }
      EXPECT_EQ(server->get(c.key).status, 400);
    }
    EXPECT_EQ(server->acknowledged(), acknowledged) << "a refused PUT was acknowledged";
  }

  // Bodies the batch route refuses whole, before looking inside.
  const std::string deep_item = batch_body({{"hb-deep", nested(100'000, false)}});
  struct whole {
    std::string what, body, says;
  };
  const whole wholes[] = {
      {"100,000 nested arrays as the body", nested(100'000, true), "body nests deeper than 4096"},
      {"100,000 nested objects in an item", deep_item, "body nests deeper than 4096"},
      {"invalid UTF-8 in an item", batch_body({{"hb-utf8", "\"\xff\""}, {"hb-fine", "1"}}), "body is not valid JSON"},
      {"a byte-order mark in an item", batch_body({{"hb-bom", "\xef\xbb\xbf" "1"}}), "body is not valid JSON"},
      {"a byte-order mark before the body", "\xef\xbb\xbf" + batch_body({{"hb-bom2", "1"}}), "byte-order mark"},
      {"a lone surrogate in an item", batch_body({{"hb-sur", R"("\ud800")"}}), "unpaired UTF-16 surrogate"},
      {"a truncated body", R"({"records":[{"key":"hb-trunc","value":1})", "body is not valid JSON"},
      {"an empty body", "", "body is not valid JSON"},
      {"an array body", R"([{"key":"hb-arr","value":1}])", R"(body must be {"records")"},
      {"records not an array", R"({"records":{"key":"hb-obj","value":1}})", R"(body must be {"records")"},
      {"no records", R"({"record":[{"key":"hb-none","value":1}]})", R"(body must be {"records")"},
  };
  for (const whole& c : wholes) {
    SCOPED_TRACE(c.what);
    const reply r = server->batch(c.body);
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_EQ(r.error_code(), "invalid_input") << r.body;
    EXPECT_NE(r.error_message().find(c.says), std::string::npos) << "message: " << r.error_message();
    EXPECT_EQ(server->acknowledged(), acknowledged) << "a refused batch was acknowledged";
  }
  for (const char* k : {"hb-deep", "hb-utf8", "hb-fine", "hb-bom", "hb-bom2", "hb-sur", "hb-trunc", "hb-arr", "hb-obj",
                        "hb-none"})
    EXPECT_EQ(server->get(k).status, 404) << k;

  // A value too deep for the limit, but not for the body: refused in its
  // slot, and the item beside it is written.
  {
    const reply r = server->batch(batch_body({{"hb-deep257", nested(257, true)}, {"hb-fine2", "1"}}));
    ASSERT_EQ(r.status, 200) << printable(r.body);
    const json results = r.parsed()["results"];
    ASSERT_EQ(results.size(), 2u) << r.body;
    EXPECT_EQ(results[0].value("status", 0), 400) << results[0].dump();
    const std::string message = results[0].value("/error/message"_json_pointer, std::string());
    EXPECT_NE(message.find("key \"hb-deep257\""), std::string::npos) << message;
    EXPECT_NE(message.find("nesting deeper than the limit (256)"), std::string::npos) << message;
    EXPECT_EQ(results[1].value("status", 0), 200) << results[1].dump();
    EXPECT_EQ(server->get("hb-deep257").status, 404);
    EXPECT_EQ(server->value_of("hb-fine2"), "1");
    acknowledged += 1;
    EXPECT_EQ(server->acknowledged(), acknowledged);
  }

  // Items refused one by one; the valid items of the same batch are written.
  {
    const std::string body = R"({"records":[)"
                             R"({"key":"hi-ok-1","value":{"b":1,"a":2.50}},)"
                             R"({"key":"hi-v0","version":0,"value":1},)"
                             R"({"key":"hi-vneg","version":-1,"value":1},)"
                             R"({"key":"hi-vfrac","version":1.5,"value":1},)"
                             R"({"key":"hi-vhuge","version":99999999999999999999,"value":1},)"
                             R"({"key":"hi-vstr","version":"abc","value":1},)"
                             R"({"key":"hi-vexp","version":1e3,"value":1},)"
                             R"({"key":)" + json(std::string(513, 'k')).dump() + R"(,"value":1},)"
                             R"({"key":"hi-\u0001","value":1},)"
                             R"({"key":5,"value":1},)"
                             R"({"value":1},)"
                             R"({"key":"hi-novalue"},)"
                             R"(7,)"
                             R"({"key":"hi-ok-2","value":"\u00e9 \ud83d\ude00"})"
                             "]}";
    const reply r = server->batch(body);
    ASSERT_EQ(r.status, 200) << printable(r.body);
    const json results = r.parsed()["results"];
    ASSERT_EQ(results.size(), 14u) << r.body;
    const std::string says[] = {"",
                                "key \"hi-v0\": version must be an integer from 1 to 4611686018427387904",
                                "key \"hi-vneg\": version must be an integer from 1 to 4611686018427387904",
                                "key \"hi-vfrac\": version must be an integer from 1 to 4611686018427387904",
                                "key \"hi-vhuge\": version must be an integer from 1 to 4611686018427387904",
                                "key \"hi-vstr\": version must be an integer from 1 to 4611686018427387904",
                                "key \"hi-vexp\": version must be an integer from 1 to 4611686018427387904",
                                "is 513 bytes; the limit is 512",
                                "key \"hi-\\x01\": control character at byte 3",
                                "item 9 needs a string \"key\"",
                                "item 10 needs a string \"key\"",
                                "key \"hi-novalue\": missing \"value\"",
                                "item 12 needs a string \"key\"",
                                ""};
    for (std::size_t i = 0; i < results.size(); ++i) {
      SCOPED_TRACE("batch item " + std::to_string(i));
      EXPECT_EQ(results[i].value("index", 99u), i);
      if (says[i].empty()) {
        EXPECT_EQ(results[i].value("status", 0), 200) << results[i].dump();
        continue;
      }
      EXPECT_EQ(results[i].value("status", 0), 400) << results[i].dump();
      EXPECT_EQ(results[i].value("/error/code"_json_pointer, std::string()), "invalid_input");
      const std::string message = results[i].value("/error/message"_json_pointer, std::string());
      EXPECT_NE(message.find(says[i]), std::string::npos) << "message: " << message;
    }
    EXPECT_EQ(server->acknowledged(), acknowledged + 2);
    for (const char* k : {"hi-v0", "hi-vneg", "hi-vfrac", "hi-vhuge", "hi-vstr", "hi-vexp", "hi-novalue"})
      EXPECT_EQ(server->get(k).status, 404) << k;
    EXPECT_EQ(server->value_of("hi-ok-1"), R"({"b":1,"a":2.50})");
    EXPECT_EQ(server->value_of("hi-ok-2"), R"("\u00e9 \ud83d\ude00")");
  }

  // Big but valid: a 5 MiB string, and a 512-byte key.
  const std::string big = "\"" + std::string(5u << 20, 'x') + R"(\u00e9")";
  ASSERT_NE(put_ok(*server, "big", big), 0);
  EXPECT_EQ(server->value_of("big"), big);
  const std::string longest(512, 'k');
  ASSERT_NE(put_ok(*server, longest, "[1]"), 0);
  EXPECT_EQ(server->value_of(longest), "[1]");

  // And the router still answers normal requests.
  ASSERT_NE(put_ok(*server, "normal", R"({"still":"here"})"), 0);
  EXPECT_EQ(server->value_of("normal"), R"({"still":"here"})");
  EXPECT_EQ(server->acknowledged(), acknowledged + 5);
  const reply f = server->flush();
  EXPECT_EQ(f.status, 200) << f.body;
  EXPECT_EQ(server->status().value("dead_letters", -1), 0);
}

// ---------------------------------------------------------------------------
// 3. PostgreSQL's limits
// ---------------------------------------------------------------------------

TEST(RouterOverPostgres, ATypedTableRefusesAtTheDoorWhatItCannotHold) {
  const pg_table table;
  const std::string dir = scratch("pg-typed");
  table_mapping m;
  m.key = {{"community_id", column_type::bigint}, {"profile_id", column_type::bigint}};
  m.fields = {{.field = "score", .type = column_type::integer, .required = true, .from_string = true},
              {.field = "tier", .type = column_type::text, .default_value = R"("free")"}};
  postgres_config c = table.config();
  c.mapping = m;
  test_server server(open_write_behind<postgres_store>([c] { return postgres_store::open(c); }, "postgresql",
                                                       dir, [m](const entry& e) { return check_entry(m, e); }));
  const std::string key = "0000000000000000007%200000000000000000042";
  struct refused {
    std::string key, text, says;
  };
  const refused refusals[] = {
      {key, R"({"score":"high"})", R"(field "score" (column "score", integer) "\"high\"")"},
      {key, R"({"score":1.5})", "has a fraction"},
      {key, R"({"tier":"gold"})", R"(field "score" (column "score", integer) is missing)"},
      {key, R"({"score":1,"rank":2})", R"(field "rank" has no column)"},
      {key, R"(42)", "a typed table holds JSON objects"},
      {"7-42", R"({"score":1})", R"(key column "community_id")"},
  };
  for (const refused& r : refusals) {
    SCOPED_TRACE(r.key + " " + r.text);
    const reply answer = server.put(r.key, r.text);
    EXPECT_EQ(answer.status, 400) << answer.body;
    EXPECT_EQ(answer.error_code(), "invalid_input") << answer.body;
    EXPECT_NE(answer.error_message().find(r.says), std::string::npos) << answer.body;
  }
  EXPECT_EQ(server.get(key).status, 404) << "a refused write was acknowledged";
  ASSERT_EQ(server.put(key, R"({"score":"17"})").status, 200);
  ASSERT_EQ(server.flush().status, 200);
  pqxx::connection pg(testing::test_pg_url());
  pqxx::nontransaction tx(pg);
  const pqxx::row row = tx.exec("SELECT community_id, profile_id, score, tier FROM " +
                                detail::pg_quote_ident(table.name))[0];
  EXPECT_EQ(row[0].as<std::int64_t>(), 7);
  EXPECT_EQ(row[1].as<std::int64_t>(), 42);
  EXPECT_EQ(row[2].as<int>(), 17);
  EXPECT_EQ(row[3].as<std::string>(), "free");
}

TEST(RouterOverPostgres, PostgresRulesAreCheckedAtTheDoor) {
  const pg_table table;
  const std::string dir = scratch("pg-rules");
  auto server = serve_postgres(dir, table);
  const std::uint64_t acknowledged = server->acknowledged();

  const std::string nul = "\\u0000 (the target store cannot hold U+0000)";
  const std::string range = "number out of the target store's range (PostgreSQL numeric)";
  struct refused {
    std::string text, says;
  };
  const refused refusals[] = {
      {R"({"a":"\u0000"})", nul},     {R"(["x\u0000y"])", nul},     {R"("\u0000")", nul},
      {"1e131072", range},            {"-1e131072", range},         {"10e131071", range},
      {"1e-16384", range},            {"0.5e-16383", range},        {"[1,1e131072]", range},
      {"\xef\xbb\xbf{\"a\":1}", "byte-order mark"},
  };
  int n = 0;
  for (const refused& c : refusals) {
    SCOPED_TRACE(printable(c.text));
    const std::string key = "pg-refused-" + std::to_string(n++);
    const reply r = server->put(key, c.text);
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_EQ(r.error_code(), "invalid_input") << r.body;
    EXPECT_NE(r.error_message().find("key \"" + key + "\""), std::string::npos) << r.body;
    EXPECT_NE(r.error_message().find(c.says), std::string::npos) << r.body;
    EXPECT_EQ(server->get(key).status, 404);
  }
  EXPECT_EQ(server->acknowledged(), acknowledged);

  // At the edge of what numeric holds: accepted, and PostgreSQL must take them.
  const std::vector<std::string> edges = {"1e131071", "-1e131071", "1.5e131071", "1e-16383", "0.1e-16382",
                                          "12345e-16383", R"({"a":"\u0001","b":"\uffff"})"};
  for (std::size_t i = 0; i < edges.size(); ++i) {
    const std::string key = "pg-edge-" + std::to_string(i);
    ASSERT_NE(put_ok(*server, key, edges[i]), 0);
    EXPECT_EQ(server->value_of(key), edges[i]);
  }

  // The same refusals inside a batch are per item; the valid items go in.
  // (A byte-order mark cannot be an item's value: the body itself would not
  // be JSON; the hostile test covers that.)
  std::vector<std::pair<std::string, std::string>> items;
  for (std::size_t i = 0; i + 1 < std::size(refusals); ++i) {
    items.emplace_back("pg-batch-bad-" + std::to_string(i), refusals[i].text);
    items.emplace_back("pg-batch-ok-" + std::to_string(i), "[" + std::to_string(i) + ",\"\\u00e9\"]");
  }
  const reply r = server->batch(batch_body(items));
  ASSERT_EQ(r.status, 200) << printable(r.body);
  const json results = r.parsed()["results"];
  ASSERT_EQ(results.size(), items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    SCOPED_TRACE(items[i].first);
    const bool bad = i % 2 == 0;
    EXPECT_EQ(results[i].value("status", 0), bad ? 400 : 200) << results[i].dump();
    if (bad) {
      const std::string message = results[i].value("/error/message"_json_pointer, std::string());
      EXPECT_NE(message.find("key \"" + items[i].first + "\""), std::string::npos) << message;
      EXPECT_NE(message.find(refusals[i / 2].says), std::string::npos) << message;
      EXPECT_EQ(server->get(items[i].first).status, 404);
    } else {
      EXPECT_EQ(server->value_of(items[i].first), items[i].second);
    }
  }
  EXPECT_EQ(server->acknowledged(), acknowledged + edges.size() + items.size() / 2);

  // Nothing that was acknowledged becomes a dead letter.
  const reply f = server->flush();
  ASSERT_EQ(f.status, 200) << f.body;
  EXPECT_TRUE(f.parsed().value("complete", false)) << f.body;
  const reply letters = server->dead_letters();
  EXPECT_EQ(letters.status, 200);
  EXPECT_EQ(letters.body, "{\"dead_letters\":[]}\n");
  const json s = server->status();
  EXPECT_EQ(s.value("dead_letters", -1), 0) << s.dump();
  EXPECT_EQ(s.value("last_error", std::string("?")), "") << s.dump();

  auto pg = postgres_store::open(table.config());
  ASSERT_TRUE(pg) << pg.error().message();
  for (std::size_t i = 0; i < edges.size(); ++i) {
    auto got = pg.value().read("pg-edge-" + std::to_string(i));
    ASSERT_TRUE(got) << got.error().message();
    EXPECT_TRUE(got.value()) << edges[i] << " is not in PostgreSQL";
  }
}

// ---------------------------------------------------------------------------
// 4. Random input
// ---------------------------------------------------------------------------

/// 1-3 random edits: flipped bits, inserted, replaced or deleted bytes
/// (0x00-0xff), JSON-ish fragments, truncation.
std::string mutate(std::string text, json_maker& m) {
  static constexpr std::string_view fragments[] = {
      "{", "}", "[", "]", ",", ":", "\"", "\\", "\\u", "\\ud800", "\\u0000", "0", "-", "e", ".", "+", " ",
      "\xef\xbb\xbf", "\xc3", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xff", "null", "tru", "1e400", "\x00"};
  for (std::size_t edits = 1 + m.pick(3); edits > 0; --edits) {
    const std::size_t at = m.pick(text.size() + 1);
    switch (m.pick(7)) {
      case 0:
        if (at < text.size()) text[at] = static_cast<char>(text[at] ^ (1u << m.pick(8)));
        break;
      case 1: text.insert(at, 1, static_cast<char>(m.pick(256))); break;
      case 2:
        if (at < text.size()) text.erase(at, 1 + m.pick(3));
        break;
      case 3: text.resize(at); break;
      case 4: {
        const std::string_view f = fragments[m.pick(std::size(fragments))];
        text.insert(at, f.empty() ? std::string_view("\0", 1) : f);
        break;
      }
      case 5:
        if (at < text.size()) text[at] = static_cast<char>(m.pick(256));
        break;
      default:
        if (m.chance(0.2)) text.insert(0, "\xef\xbb\xbf");
        else if (at < text.size()) text.insert(at, text.substr(at, 1 + m.pick(8)));
        break;
    }
  }
  return text;
}

TEST(RouterOverSqlite, RandomizedInputNeverCrashesOrLies) {
  const std::string dir = scratch("random");
  auto server = serve_sqlite(dir);
  json_maker maker(0xf022'0004, /*nul_escape=*/true);
  constexpr int iterations = 20'000;

  int failures = 0, accepted = 0, refused = 0, checked = 0;
  auto fail = [&](int i, const std::string& text, const std::string& why) {
    if (++failures <= 15) ADD_FAILURE() << "case " << i << ": " << why << "\n  text: " << printable(text);
  };

  for (int i = 0; i < iterations && failures < 100; ++i) {
    std::string text;
    if (maker.chance(0.15)) text = maker.deep(200 + maker.pick(201));  // around the 256 limit
    else text = maker.value(static_cast<int>(maker.pick(7)));
    if (maker.chance(0.6)) text = mutate(std::move(text), maker);

    // PUT to a fresh key: 200 and the exact text back, or 400 and no key.
    const std::string key = "fz-put-" + std::to_string(i);
    const reply r = server->put(key, text);
    if (r.status != 200 && r.status != 400) {
      fail(i, text, "PUT answered " + std::to_string(r.status) + ": " + printable(r.body));
      continue;
    }
    const bool ok = r.status == 200;
    ok ? ++accepted : ++refused;
    if (!ok && r.error_code() != "invalid_input") fail(i, text, "PUT refused with " + printable(r.body));
    const auto stored = server->value_of(key);
    if (ok && stored != text) fail(i, text, "PUT said 200 but GET returns " + printable(stored.value_or("404")));
    if (!ok && stored) fail(i, text, "PUT said 400 but GET returns " + printable(*stored));

    // nlohmann as the reference, where its verdict means the same thing:
    // not on a number beyond double's range, nor on a NUL byte (nlohmann
    // takes one outside a string for the end of the input).
    const reference_verdict ref = reference_parse(text);
    if (!ref.overflow && text.find('\0') == std::string::npos) {
      ++checked;
      const bool should = ref.valid && ref.depth <= default_max_depth && !text.starts_with("\xef\xbb\xbf");
      if (ok != should)
        fail(i, text, std::string("PUT ") + (ok ? "accepted" : "refused") + " what nlohmann " +
                          (ref.valid ? "accepts" : "refuses") + " (depth " + std::to_string(ref.depth) +
                          "): " + printable(r.body));
    }

    // The same text as the value of a one-item batch.
    const std::string batch_key = "fz-batch-" + std::to_string(i);
    const reply b = server->batch(batch_body({{batch_key, text}}));
    int item_status = b.status;
    if (b.status == 200) {
      const json results = b.parsed().value("results", json::array());
      item_status = results.size() == 1 ? results[0].value("status", 0) : 0;
    } else if (b.status == 400 && b.error_code() != "invalid_input") {
      fail(i, text, "batch refused with " + printable(b.body));
    }
    if (item_status != 200 && item_status != 400) {
      fail(i, text, "batch answered " + std::to_string(b.status) + ": " + printable(b.body));
      continue;
    }
    const auto batched = server->value_of(batch_key);
    const std::string want(trimmed(text));
    if (item_status == 200 && want == "null" && batched) fail(i, text, "a null item did not delete");
    if (item_status == 200 && want != "null" && batched != want)
      fail(i, text, "batch item said 200 but GET returns " + printable(batched.value_or("404")));
    if (item_status == 400 && batched) fail(i, text, "batch item refused but GET returns " + printable(*batched));
    if ((item_status == 200) != ok && want != "null" && ref.depth != default_max_depth)  // see RoundTrip
      fail(i, text, "PUT and batch disagree: PUT " + std::to_string(r.status) + ", item " +
                        std::to_string(item_status) + ": " + printable(b.body));
  }
  EXPECT_EQ(failures, 0) << failures << " failing cases (the first 15 are shown)";
  RecordProperty("accepted", accepted);
  RecordProperty("refused", refused);
  RecordProperty("checked_against_nlohmann", checked);
  // The mix must exercise both sides, and the reference most of the time.
  EXPECT_GT(accepted, iterations / 5);
  EXPECT_GT(refused, iterations / 5);
  EXPECT_GT(checked, iterations * 9 / 10);

  const reply f = server->flush();
  EXPECT_EQ(f.status, 200) << f.body;
  EXPECT_EQ(server->status().value("dead_letters", -1), 0);
}

// ---------------------------------------------------------------------------
// 5. Dead letters
// ---------------------------------------------------------------------------

/// Makes SQLite refuse every row whose key starts with "poison" (an ABORT
/// trigger): a durable store that refuses what the door accepted.
void poison_sqlite(const std::string& path) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* message = nullptr;
  const int rc = sqlite3_exec(db,
                              "CREATE TRIGGER refuse_poison BEFORE INSERT ON storesync_entries "
                              "WHEN NEW.key LIKE 'poison%' BEGIN SELECT RAISE(ABORT, 'poison refused'); END;",
                              nullptr, nullptr, &message);
  EXPECT_EQ(rc, SQLITE_OK) << (message ? message : "");
  sqlite3_free(message);
  sqlite3_close(db);
}

TEST(RouterOverSqlite, DeadLettersShowValuesExactly) {
  const std::string dir = scratch("dead-letters");
  {
    auto created = sqlite_store::open(sqlite_at(dir));  // creates the table the trigger needs
    ASSERT_TRUE(created) << created.error().message();
  }
  poison_sqlite(sqlite_at(dir).path);
  auto server = serve_sqlite(dir);

  reply letters = server->dead_letters();
  EXPECT_EQ(letters.status, 200);
  EXPECT_EQ(letters.body, "{\"dead_letters\":[]}\n");
  EXPECT_EQ(server->send(http::verb::get, "/v1/dead-letters?limit=abc").status, 400);

  const std::string text =
      " {\"b\":[123456789012345678901234567890,-0,2.50,1E-7],\"a\":\"\\u00e9 \xc3\xa9 \\ud83d\\ude00 \\/ \\u0000\"} ";
  const version_type v = put_ok(*server, "poison-1", text);
  ASSERT_NE(v, 0);
  ASSERT_NE(put_ok(*server, "fine-1", "[1]"), 0);
  const reply deleted = server->erase("poison-2");
  ASSERT_EQ(deleted.status, 200) << deleted.body;

  const reply f = server->flush();
  ASSERT_EQ(f.status, 200) << f.body;
  EXPECT_TRUE(f.parsed().value("complete", false)) << f.body;
  EXPECT_EQ(server->status().value("dead_letters", -1), 2);

  letters = server->dead_letters();
  ASSERT_EQ(letters.status, 200);
  EXPECT_FALSE(detail::scan_json(letters.body, {max_supported_depth, true, false})) << printable(letters.body);
  const json parsed = letters.parsed()["dead_letters"];
  ASSERT_EQ(parsed.size(), 2u) << letters.body;
  // The order the flusher found them in is not fixed.
  const std::size_t p = parsed[0].value("key", std::string()) == "poison-1" ? 0 : 1;
  EXPECT_EQ(parsed[p].value("key", std::string()), "poison-1");
  EXPECT_EQ(parsed[p].value("version", version_type{0}), v);
  EXPECT_EQ(parsed[p].value("deleted", true), false);
  EXPECT_NE(parsed[p].value("error", std::string()).find("poison refused"), std::string::npos) << parsed[p].dump();
  EXPECT_EQ(parsed[1 - p].value("key", std::string()), "poison-2");
  EXPECT_EQ(parsed[1 - p].value("deleted", false), true);
  EXPECT_TRUE(parsed[1 - p]["value"].is_null());
  // The value is spliced in as it was written, whitespace and all.
  EXPECT_NE(letters.body.find(",\"value\":" + text + "}"), std::string::npos) << printable(letters.body);

  auto db = sqlite_store::open(sqlite_at(dir));
  ASSERT_TRUE(db) << db.error().message();
  auto fine = db.value().read("fine-1");
  ASSERT_TRUE(fine) << fine.error().message();
  EXPECT_TRUE(fine.value()) << "the good write of the same flush is not in SQLite";
}

}  // namespace
}  // namespace storesync::server
