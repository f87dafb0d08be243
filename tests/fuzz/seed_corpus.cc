// Writes the checked-in seed corpus of every fuzz target (tests/fuzz/corpus/
// <target>/): valid inputs of each kind, and the hostile ones the
// input-safety work collected (nesting 100000 deep, huge and odd numbers,
// invalid UTF-8, NUL bytes, truncated JSON, lone surrogate escapes). Files it
// does not name, such as crash reproducers added by hand, are left alone.
//
//   bazel run //tests/fuzz:seed_corpus -- "$PWD/tests/fuzz/corpus"
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "storesync/journal/entry_codec.hpp"
#include "storesync/journal/journal_options_json.hpp"
#include "storesync/policy/config.hpp"
#include "tests/fuzz/router_fuzzing.hpp"
#include "tests/fuzz/samples.hpp"

namespace storesync::fuzz {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::string_literals;  // "..."s keeps NUL bytes

class corpus {
 public:
  explicit corpus(fs::path root) : root_(std::move(root)) {}

  void add(std::string_view target, std::string_view name, std::string_view bytes) {
    const fs::path dir = root_ / target;
    fs::create_directories(dir);
    std::ofstream(dir / name, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }

 private:
  fs::path root_;
};

/// JSON texts no parser of storesync may trip over, each with its file name.
std::vector<std::pair<std::string, std::string>> hostile_json() {
  std::string deep_object;
  for (int i = 0; i < 5000; ++i) deep_object += R"({"a":)";
  return {
      {"deep_array", std::string(100000, '[')},
      {"deep_array_closed", std::string(5000, '[') + std::string(5000, ']')},
      {"deep_object", deep_object},
      {"huge_integer", "1" + std::string(5000, '0')},
      {"huge_exponent", "1e999"},
      {"tiny_exponent", "-1e-999"},
      {"exponent_overflow", "1e99999999999999999999"},
      {"negative_zero", "-0"},
      {"above_2_53", "9007199254740993"},
      {"above_uint64", "18446744073709551616"},
      {"invalid_utf8", "\"\xff\xfe\""},
      {"overlong_utf8", "\"\xc0\xaf\""},
      {"utf8_surrogate", "\"\xed\xa0\x80\""},
      {"nul_in_string", "\"a\0b\""s},
      {"nul_after_value", "{}\0garbage"s},
      {"escaped_nul", R"("\u0000")"},
      {"lone_high_surrogate", R"("\ud800")"},
      {"lone_low_surrogate", R"("\udc00")"},
      {"high_surrogate_then_letter", R"("\ud800\u0041")"},
      {"surrogate_pair", R"("\ud83d\ude00")"},
      {"byte_order_mark", "\xEF\xBB\xBF{}"},
      {"truncated_object", R"({"records":[{"key":"a","value":)"},
      {"truncated_string", R"("abc)"},
      {"truncated_escape", R"("\u12)"},
      {"trailing_comma", "[1,2,]"},
      {"leading_zero", "01"},
      {"empty", ""},
  };
}

void json_body_seeds(corpus& c) {
  for (const auto& [name, text] : hostile_json()) c.add("json_body", name, text);
  for (const auto& [name, text] : std::vector<std::pair<std::string, std::string>>{
           {"batch", R"({"records":[{"key":"a","value":{"x":1}},{"key":"b","value":null},)"
                     R"({"key":"c","value":[1,2],"version":7},{"key":"a\u00e9","value":"s"}]})"},
           {"batch_odd_numbers", R"({"records":[{"key":"n1","value":-0},{"key":"n2","value":9007199254740993},)"
                                 R"({"key":"n3","value":1e999},{"key":"n4","value":1e-999}]})"},
           {"batch_repeated_members", R"({"records":[{"key":"a","key":"b","value":1,"value":2}],"records":[]})"},
           {"batch_bad_items", R"({"records":[7,"x",null,{"value":1},{"key":1,"value":1},)"
                               R"({"key":"v","value":1,"version":0},{"key":"w","value":1,"version":"1"}]})"},
           {"batch_lone_surrogate_key", R"({"records":[{"key":"\ud800","value":1}]})"},
           {"batch_deep_value", R"({"records":[{"key":"d","value":)" + std::string(300, '[') +
                                    std::string(300, ']') + "}]}"},
           {"object", R"( {"name":"Ada","tags":["x",{"y":null}],"n":1.5e3} )"},
       })
    c.add("json_body", name, text);
}

void config_json_seeds(corpus& c) {
  for (const auto& [name, text] : hostile_json()) c.add("config_json", name, text);
  c.add("config_json", "exponential_backoff", json(exponential_backoff::config{}).dump());
  c.add("config_json", "retry_budget", json(retry_budget_config{}).dump());
  c.add("config_json", "aimd_batch_sizer", json(aimd_batch_sizer::config{}).dump());
  c.add("config_json", "block_for", json(block_for::config{}).dump());
  c.add("config_json", "journal_options", json(journal_options{.directory = "/var/lib/app/journal"}).dump());
  c.add("config_json", "table_mapping", sample_table_mapping);
  c.add("config_json", "write_back_config", sample_write_back_config);
  c.add("config_json", "odd_numbers", R"({"base_ms": 9007199254740993, "max_attempts": -0, "seed": 18446744073709551616})");
  c.add("config_json", "huge_float", R"({"failure_rate_threshold": 1e999, "multiplicative_decrease": -0.0})");
  c.add("config_json", "lone_surrogate_member", R"({"\ud800": 1})");
  c.add("config_json", "mapping_deep_default",
        R"({"table":"t","key":[{"column":"k","type":"text"}],"fields":[{"field":"f","type":"jsonb","default":)" +
            std::string(3000, '[') + std::string(3000, ']') + "}]}");
}

/// An HTTP/1.1 request with `body` (and its Content-Length, when there is one).
std::string request(std::string_view method, std::string_view target, std::string_view body = {},
                    std::string_view headers = {}) {
  std::string out = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: storesync\r\n" +
                    std::string(headers);
  if (!body.empty()) out += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  return out + "\r\n" + std::string(body);
}

void http_request_seeds(corpus& c) {
  const std::string admin = "Authorization: Bearer " + std::string(admin_token) + "\r\n";
  const std::string batch = R"({"records":[{"key":"a","value":{"x":1}},{"key":"b","value":null}]})";
  for (const auto& [name, bytes] : std::vector<std::pair<std::string, std::string>>{
           {"put_then_get", request("PUT", "/v1/records/user%3A1", R"({"name":"Ada"})") +
                                request("GET", "/v1/records/user%3A1")},
           {"put_version_then_delete", request("PUT", "/v1/records/k?version=5", "[1,2]") +
                                           request("DELETE", "/v1/records/k?version=6") +
                                           request("HEAD", "/v1/records/k")},
           {"batch_then_get", request("POST", "/v1/records:batch", batch) + request("GET", "/v1/records/a")},
           {"probes", request("GET", "/healthz") + request("HEAD", "/readyz") + request("GET", "/v1/status") +
                          request("GET", "/metrics")},
           {"admin", request("POST", "/v1/flush?timeout_ms=100", {}, admin) +
                         request("GET", "/v1/dead-letters?limit=10", {}, admin) +
                         request("POST", "/v1/dead-letters/retry", {}, admin) +
                         request("GET", "/v1/inconsistencies?limit=5&after=%61", {}, admin)},
           {"admin_unauthorized", request("POST", "/v1/flush", {}, "Authorization: Bearer wrong\r\n") +
                                      request("GET", "/v1/dead-letters")},
           {"not_in_mode", request("POST", "/v1/reconcile", R"({"operation":"check"})", admin) +
                               request("DELETE", "/v1/reconcile/123", {}, admin) +
                               request("GET", "/v1/write-back/runs", {}, admin)},
           {"bad_keys_and_versions", request("PUT", "/v1/records/%zz", "1") +
                                         request("PUT", "/v1/records/k?version=0", "1") +
                                         request("PUT", "/v1/records/k?version=99999999999999999999", "1") +
                                         request("PUT", "/v1/records/", "1")},
           {"wrong_methods", request("PATCH", "/v1/records/k", "1") + request("GET", "/v1/records:batch") +
                                 request("POST", "/healthz") + request("GET", "/nowhere")},
           {"not_json_content", request("PUT", "/v1/records/k", {}, "Content-Type: text/plain\r\nContent-Length: 1\r\n") +
                                    "1"},
           {"chunked_put", "PUT /v1/records/c HTTP/1.1\r\nHost: storesync\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "3\r\n[1,\r\n2\r\n2]\r\n0\r\n\r\n"},
           {"body_over_limit", "PUT /v1/records/k HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n{}"},
           {"header_over_limit", "GET /healthz HTTP/1.1\r\nX-Big: " + std::string(17000, 'x') + "\r\n\r\n"},
           {"http10_close", "GET /healthz HTTP/1.0\r\n\r\n"},
           {"put_deep_array", request("PUT", "/v1/records/deep", std::string(100000, '['))},
           {"put_invalid_utf8", request("PUT", "/v1/records/u", "\"\xff\xfe\"")},
           {"put_nul_bytes", request("PUT", "/v1/records/z", "\"a\0b\""s)},
           {"put_odd_numbers", request("PUT", "/v1/records/n1", "1e999") + request("PUT", "/v1/records/n2", "-0") +
                                   request("PUT", "/v1/records/n3", "9007199254740993")},
           {"put_lone_surrogate", request("PUT", "/v1/records/s", R"("\ud800")")},
           {"put_truncated_json", request("PUT", "/v1/records/t", R"({"a":[1,2)")},
       })
    c.add("http_request", name, bytes);
}

std::string record_text(const std::vector<std::byte>& bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

void entry_codec_seeds(corpus& c) {
  std::vector<std::pair<std::string, std::string>> records{
      {"put", record_text(encode_entry(entry::put("user:1", R"({"name":"Ada"})", 7)))},
      {"erase", record_text(encode_entry(entry::erase("user:1", 8)))},
      {"empty_key_and_value", record_text(encode_entry(entry::put("", "", 1)))},
      {"odd_bytes", record_text(encode_entry(entry::put("k\0\xff"s, "\"\xed\xa0\x80\""s, max_entry_version)))},
      {"dead_letter_storesync",
       record_text(encode_dead_letter(make_dead_letter(entry::put("k", "1", 2), error{errc::invalid_value, "refused"})))},
      {"dead_letter_system",
       record_text(encode_dead_letter(make_dead_letter(entry::erase("k", 3), error{std::error_code(5, std::system_category()), "EIO"})))},
      {"dead_letter_generic",
       record_text(encode_dead_letter(make_dead_letter(entry::put("k", "[]", 4), error{std::make_error_code(std::errc::io_error), "io"})))},
  };
  // Kind 2, written before dead letters kept their code: no category, no value.
  std::vector<std::byte> kind2;
  detail::append_u8(kind2, detail::record_kind_dead_letter);
  detail::append_entry_fields(kind2, entry::put("old", "true", 9));
  detail::append_u64(kind2, 1'700'000'000'000'000'000ull);
  detail::append_text(kind2, "refused long ago");
  records.emplace_back("dead_letter_kind2", record_text(kind2));
  for (const auto& [name, bytes] : records) {
    c.add("entry_codec", name, bytes);
    c.add("entry_codec", name + "_truncated", bytes.substr(0, bytes.size() / 2));
  }
}

void journal_seeds(corpus& c) {
  const std::string segment = sample_segment();
  c.add("journal", "real_segment", "\0"s + segment);
  c.add("journal", "empty_segment", "\0"s);
  c.add("journal", "torn_header", "\0"s + segment.substr(0, 10));
  const auto damaged = [&](std::uint16_t cut, std::vector<std::pair<std::uint16_t, std::uint8_t>> flips) {
    std::string out = "\1"s;
    const auto u16 = [&](std::uint16_t v) {
      out += static_cast<char>(v & 0xff);
      out += static_cast<char>(v >> 8);
    };
    u16(cut);
    for (const auto& [at, mask] : flips) {
      u16(at);
      out += static_cast<char>(mask);
    }
    return out;
  };
  const auto size = static_cast<std::uint16_t>(segment.size());
  c.add("journal", "sample_whole", damaged(size, {}));
  c.add("journal", "sample_torn_tail", damaged(static_cast<std::uint16_t>(size - 5), {}));
  c.add("journal", "sample_length_flipped", damaged(size, {{60, 0x01}}));  // inside the second frame's header
  c.add("journal", "sample_payload_flipped", damaged(size, {{20, 0x80}}));
  c.add("journal", "sample_lsn_flipped", damaged(size, {{8, 0x02}}));
}

void server_flags_seeds(corpus& c) {
  for (const auto& [name, args] : std::vector<std::pair<std::string, std::string>>{
           {"help", "--help"},
           {"defaults", ""},
           {"listen", "--listen\0[::1]:0\0--workers\0" "2\0--io-threads\0" "1"s},
           {"listen_bad_port", "--listen\0" "127.0.0.1:99999"s},
           {"dual_write", "--mode\0dual-write\0--primary\0sqlite:/tmp/a.db\0--secondary\0postgres://u:secret@h/db\0"
                          "--consistency\0best-effort\0--reconcile-interval-s\0" "60\0--reconcile-repair"s},
           {"dual_write_same_store", "--mode\0dual-write\0--primary\0sqlite:a.db\0--secondary\0sqlite:./a.db"s},
           {"durable_mapping", "--durable\0postgresql://app@db/app\0--durable-mapping\0@mapping"s},
           {"durable_mapping_sqlite_schema", "--durable-mapping\0@mapping"s},
           {"write_back", "--write-back-config\0@write-back\0--write-back-interval-s\0" "3600"s},
           {"write_back_not_json", "--write-back-config\0@mapping"s},
           {"journal", "--journal-durability\0always\0--fsync-interval-ms\0" "5\0--max-pending\0" "0"s},
           {"depth", "--max-json-depth\0" "100000"s},
           {"negative_numbers", "--fast-max-bytes\0" "-1\0--retry-base-ms\0" "-5"s},
           {"huge_numbers", "--retry-cap-ms\0" "9007199254740993\0--max-body-bytes\0" "18446744073709551616"s},
           {"invalid_utf8", "--data-dir\0\xff\xfe\0--mode\0\xc0\xaf"s},
           {"unknown_flag", "--no-such-flag\0--listen"s},
           {"batch", "--batch-min\0" "10\0--batch-max\0" "5\0--batch-initial\0" "7"s},
       })
    c.add("server_flags", name, args);
}

}  // namespace
}  // namespace storesync::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_ROOT (tests/fuzz/corpus)\n", argv[0]);
    return 2;
  }
  using namespace storesync::fuzz;
  corpus c{std::filesystem::path(argv[1])};
  json_body_seeds(c);
  config_json_seeds(c);
  http_request_seeds(c);
  entry_codec_seeds(c);
  journal_seeds(c);
  server_flags_seeds(c);
  return 0;
}
