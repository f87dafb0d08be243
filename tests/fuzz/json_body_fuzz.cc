// Record and batch bodies: the JSON text a client sends, checked by
// storesync's own scanner (core/detail/json_scan.hpp) and walked by the
// batch route's helpers. Asserts that
// - the scanner agrees with nlohmann's parser, except where storesync is
//   deliberately stricter (nesting, a byte-order mark, raw NUL bytes, which
//   nlohmann takes as the end of the text) or nlohmann is (numbers beyond a
//   double, which storesync keeps as text);
// - the walking helpers see the values nlohmann sees (members, elements,
//   string escapes);
// - through the router, a PUT is acknowledged exactly when the value meets
//   the rules and reads back byte for byte, and a batch answers one result
//   per record, each acknowledged put reading back as sent.
// Each input gets a fresh direct-mode router over a memory store, so what
// it reads back is what this input wrote: the body routes parse the same in
// every mode.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "reference_server/direct_service.hpp"
#include "reference_server/router.hpp"
#include "storesync/core/detail/json_scan.hpp"
#include "storesync/core/value_rules.hpp"
#include "storesync/store/memory_store.hpp"
#include "tests/fuzz/fuzz_support.hpp"
#include "tests/fuzz/router_fuzzing.hpp"
#include "tests/printable.hpp"

namespace storesync::fuzz {
namespace {

using json = nlohmann::json;
namespace http = server::http;

/// How deep the walk and nlohmann's (recursive) comparisons go.
constexpr std::size_t compared_depth = 256;

std::string_view trimmed(std::string_view text) {
  text.remove_prefix(detail::json_skip_space(text, 0));
  while (!text.empty() && (text.back() == ' ' || text.back() == '\n' || text.back() == '\r' || text.back() == '\t'))
    text.remove_suffix(1);
  return text;
}

/// Checks that the helpers walk `text` (a value, no outer whitespace) into
/// what nlohmann parsed it as, `levels` containers down.
void check_walk(std::string_view text, const json& j, int levels) {
  const std::string shown = testing::printable(text);
  STORESYNC_FUZZ_CHECK(detail::json_value_end(text, 0) == text.size(), "json_value_end stops early in " + shown);
  if (j.is_string()) {
    STORESYNC_FUZZ_CHECK(detail::json_unescape(text) == j.get_ref<const std::string&>(), "json_unescape of " + shown);
  } else if (j.is_array()) {
    std::size_t n = 0;
    detail::json_elements(text, [&](std::string_view element) {
      STORESYNC_FUZZ_CHECK(n < j.size() && json::parse(element) == j[n], "json_elements of " + shown);
      if (levels > 0) check_walk(element, j[n], levels - 1);
      ++n;
    });
    STORESYNC_FUZZ_CHECK(n == j.size(), "json_elements misses elements of " + shown);
  } else if (j.is_object()) {
    std::map<std::string, std::string_view> last;  // a repeated member: the last wins, as in nlohmann
    detail::json_members(text, [&](std::string_view name, std::string_view value) {
      last[detail::json_unescape(name)] = value;
    });
    STORESYNC_FUZZ_CHECK(last.size() == j.size(), "json_members of " + shown);
    for (const auto& [name, value] : last) {
      const auto it = j.find(name);
      STORESYNC_FUZZ_CHECK(it != j.end() && json::parse(value) == *it, "json_members of " + shown);
      if (levels > 0) check_walk(value, *it, levels - 1);
    }
  }
}

/// The text as nlohmann parses it; `overflow` when it refused a number
/// beyond a double only.
std::optional<json> nlohmann_parse(std::string_view text, bool& overflow) {
  overflow = false;
  try {
    return json::parse(text);
  } catch (const json::out_of_range&) {
    overflow = true;
  } catch (const json::parse_error&) {
  }
  return std::nullopt;
}

std::string percent_encoded(std::string_view key) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : key) {
    const auto c = static_cast<unsigned char>(ch);
    out += '%';
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

server::response send(server::router& r, http::verb verb, std::string target, std::string_view body = {}) {
  server::request req{verb, std::move(target), 11};
  req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  server::response res = r.handle(req);
  check_response(res, body);
  return res;
}

void check_put(server::router& r, const value_rules& rules, std::string_view text) {
  const server::response put = send(r, http::verb::put, "/v1/records/k", text);
  const bool valid = static_cast<bool>(validate_value("k", text, rules));
  STORESYNC_FUZZ_CHECK((put.result_int() == 200) == valid, "PUT answered " + std::to_string(put.result_int()) +
                                                               " to a value the rules " +
                                                               (valid ? "accept" : "refuse"));
  if (!valid) return;
  const server::response got = send(r, http::verb::get, "/v1/records/k");
  STORESYNC_FUZZ_CHECK(got.result_int() == 200 && got.body().ends_with(R"(,"value":)" + std::string(text) + "}\n"),
                       "GET does not return the value as sent: " + testing::printable(got.body()));
}

/// Checks a 200 answer to the batch `body`, which nlohmann parsed as `j`.
void check_batch(server::router& r, const json& j, const server::response& res) {
  STORESYNC_FUZZ_CHECK(j.is_object() && j.contains("records") && j["records"].is_array(),
                       "a batch without records was accepted");
  const json& records = j["records"];
  const json results = json::parse(res.body()).at("results");
  STORESYNC_FUZZ_CHECK(results.size() == records.size(), "one result per record: " + testing::printable(res.body()));
  std::map<std::string, int> uses;
  for (const json& item : records)
    if (item.is_object() && item.contains("key") && item["key"].is_string()) ++uses[item["key"].get<std::string>()];
  for (std::size_t i = 0; i < records.size(); ++i) {
    const json& item = records[i];
    STORESYNC_FUZZ_CHECK(results[i].at("index") == i, "results out of order: " + testing::printable(res.body()));
    if (results[i].at("status") != 200) continue;
    STORESYNC_FUZZ_CHECK(item.is_object() && item.contains("key") && item["key"].is_string() && item.contains("value"),
                         "item " + std::to_string(i) + " was written without a string key and a value");
    // Only a key written once, at a version the server picked, must read
    // back as this item wrote it.
    const std::string key = item["key"].get<std::string>();
    if (item.contains("version") || uses[key] != 1) continue;
    const server::response got = send(r, http::verb::get, "/v1/records/" + percent_encoded(key));
    if (item["value"].is_null()) {
      STORESYNC_FUZZ_CHECK(got.result_int() == 404, "a deleted key reads back: " + testing::printable(key));
    } else {
      STORESYNC_FUZZ_CHECK(got.result_int() == 200 && json::parse(got.body()).at("value") == item["value"],
                           "batch item " + std::to_string(i) + " reads back as " + testing::printable(got.body()));
    }
  }
}

}  // namespace
}  // namespace storesync::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace storesync;
  using namespace storesync::fuzz;
  const std::string_view text = as_text(data, size);
  const std::string shown = testing::printable(text);

  const detail::json_fault fault = detail::scan_json(text, {max_supported_depth, true, false});
  bool overflow = false;
  const std::optional<json> parsed = nlohmann_parse(text, overflow);
  if (!fault)
    STORESYNC_FUZZ_CHECK(parsed || overflow, "storesync accepts what nlohmann refuses: " + shown);
  const bool stricter = fault.rule || text.starts_with("\xEF\xBB\xBF") || text.find('\0') != std::string_view::npos;
  if (fault && !stricter)
    STORESYNC_FUZZ_CHECK(!parsed, "storesync refuses what nlohmann accepts (" + std::string(fault.what) + " at byte " +
                                      std::to_string(fault.at) + "): " + shown);
  if (!fault && parsed && !detail::scan_json(text, {compared_depth, true, false}))
    check_walk(trimmed(text), *parsed, 4);

  static const server::server_config config = server_defaults(fresh_dir("json-body"));
  auto service = server::direct_service<memory_store>::open(std::make_shared<memory_store>(), "memory",
                                                            config.write_behind.rules);
  STORESYNC_FUZZ_CHECK(service, "open direct mode: " + service.error().message());
  const value_rules rules = service.value()->rules();
  server::router r(std::shared_ptr<server::record_service>(std::move(service).value()), config.auth);

  check_put(r, rules, text);
  const server::response batch = send(r, http::verb::post, "/v1/records:batch", text);
  if (fault) STORESYNC_FUZZ_CHECK(batch.result_int() == 400, "a batch that is not JSON was not refused");
  if (batch.result_int() == 200 && parsed && !detail::scan_json(text, {compared_depth, true, false}))
    check_batch(r, *parsed, batch);
  return 0;
}
