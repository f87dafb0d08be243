#include "reference_server/router.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "reference_server/reconcile_jobs.hpp"
#include "storesync/core/detail/json_scan.hpp"

namespace storesync::server {

std::string_view error_code_name(const error& e) {
  if (e == condition::invalid_input) return "invalid_input";
  if (e == condition::overloaded) return "overloaded";
  if (e == condition::unavailable) return "unavailable";
  if (e == condition::transient) return "transient";
  if (e == condition::conflict) return "conflict";
  return "internal";
}

namespace {

using json = nlohmann::json;

/// JSON text of `body`, replacing (never throwing on) bytes that are not
/// UTF-8 in echoed input.
std::string dump(const json& body) { return body.dump(-1, ' ', false, json::error_handler_t::replace); }

/// A response whose body is the JSON text `body`.
response make_json_text(const request& req, http::status status, std::string body) {
  response res{status, req.version()};
  res.set(http::field::content_type, "application/json");
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  res.body() += '\n';
  res.prepare_payload();
  return res;
}

response make_json(const request& req, http::status status, const json& body) {
  return make_json_text(req, status, dump(body));
}

response make_error(const request& req, http::status status, std::string_view code,
                    std::string_view message) {
  auto res = make_json(req, status, {{"error", {{"code", code}, {"message", message}}}});
  if (status == http::status::too_many_requests || status == http::status::service_unavailable)
    res.set(http::field::retry_after, "1");
  return res;
}

response method_not_allowed(const request& req, std::string_view allow) {
  auto res = make_error(req, http::status::method_not_allowed, "method_not_allowed",
                        "allowed: " + std::string(allow));
  res.set(http::field::allow, allow);
  return res;
}

http::status status_for(const error& e) {
  if (e == condition::invalid_input) return http::status::bad_request;
  if (e == condition::overloaded) return http::status::too_many_requests;
  if (e == condition::unavailable || e == condition::transient) return http::status::service_unavailable;
  if (e == condition::conflict) return http::status::conflict;
  return http::status::internal_server_error;
}

response from_error(const request& req, const error& e) {
  return make_error(req, status_for(e), error_code_name(e), e.message());
}

json error_json(const error& e) { return {{"code", error_code_name(e)}, {"message", e.message()}}; }

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// Decodes %XX escapes; nothing on a malformed escape.
std::optional<std::string> percent_decode(std::string_view in) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) return std::nullopt;
    const int hi = hex_digit(in[i + 1]), lo = hex_digit(in[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

/// The raw value of `name` in a query string, if present.
std::optional<std::string_view> query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) == name) return eq == std::string_view::npos ? "" : pair.substr(eq + 1);
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

/// A positive decimal integer, or nothing.
std::optional<std::int64_t> positive_integer(std::string_view text) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || v <= 0) return std::nullopt;
  return v;
}

/// Compares in time independent of where the strings differ.
bool constant_time_equal(std::string_view a, std::string_view b) {
  unsigned diff = a.size() == b.size() ? 0u : 1u;
  const std::size_t n = std::max(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned>(x ^ y);
  }
  return diff == 0;
}

/// Nothing when `req` carries the token (or none is configured), else a 401.
std::optional<response> check_token(const request& req, const std::string& token) {
  if (token.empty()) return std::nullopt;
  constexpr std::string_view scheme = "Bearer ";
  const std::string_view header = req[http::field::authorization];
  if (header.starts_with(scheme) && constant_time_equal(header.substr(scheme.size()), token))
    return std::nullopt;
  auto res = make_error(req, http::status::unauthorized, "unauthorized",
                        header.empty() ? "missing bearer token" : "wrong bearer token");
  res.set(http::field::www_authenticate, "Bearer");
  return res;
}

bool is_json(const request& req) {
  const std::string_view type = req[http::field::content_type];
  return type.empty() || type.starts_with("application/json");
}

const char* outcome_name(const write_report& r) {
  return r.applied ? "applied" : r.accepted ? "accepted" : r.unchanged ? "unchanged" : "stale";
}

/// One item of a batch body, as its text says.
struct batch_item {
  std::optional<std::string> key;          // a JSON string member "key"
  std::optional<std::string_view> version;  // the text of member "version"
  std::optional<std::string_view> value;    // the text of member "value", exactly as sent
};

/// The items of `body`, a JSON text already checked by `validate_value`, if
/// it is `{"records":[...]}`; else nothing. Items that are not objects come
/// back empty. Duplicate members: the last wins, as in most parsers.
std::optional<std::vector<batch_item>> batch_items(std::string_view body) {
  const std::size_t at = detail::json_skip_space(body, 0);
  if (body[at] != '{') return std::nullopt;
  std::optional<std::string_view> records;
  detail::json_members(body.substr(at), [&](std::string_view name, std::string_view value) {
    if (detail::json_unescape(name) == "records") records = value;
  });
  if (!records || records->front() != '[') return std::nullopt;
  std::vector<batch_item> items;
  detail::json_elements(*records, [&](std::string_view element) {
    batch_item& item = items.emplace_back();
    if (element.front() != '{') return;
    detail::json_members(element, [&](std::string_view name, std::string_view value) {
      const std::string n = detail::json_unescape(name);
      if (n == "key") item.key = value.front() == '"' ? std::optional(detail::json_unescape(value)) : std::nullopt;
      else if (n == "version") item.version = value;
      else if (n == "value") item.value = value;
    });
  });
  return items;
}

}  // namespace

router::router(std::shared_ptr<record_service> service, auth_options auth, std::shared_ptr<write_back_jobs> write_back)
    : service_(std::move(service)), auth_(std::move(auth)), write_back_(std::move(write_back)) {}

response router::handle(const request& req) noexcept {
  try {
    return *route(req, calls::may_wait);
  } catch (const std::exception& ex) {
    return make_error(req, http::status::internal_server_error, "internal", ex.what());
  }
}

std::optional<response> router::try_handle(const request& req) noexcept {
  try {
    return route(req, calls::no_wait);
  } catch (const std::exception&) {
    return std::nullopt;  // `handle` answers it, with the error
  }
}

std::optional<response> router::route(const request& req, calls allowed) {
  const std::string_view target = req.target();
  const auto qmark = target.find('?');
  const std::string_view path = target.substr(0, qmark);
  const std::string_view query = qmark == std::string_view::npos ? "" : target.substr(qmark + 1);
  const auto method = req.method();
  const bool get = method == http::verb::get || method == http::verb::head;
  const bool post = method == http::verb::post;

  constexpr std::string_view records = "/v1/records/";
  if (path.starts_with(records)) {
    if (auto denied = check_token(req, auth_.api_token)) return *denied;
    return record(req, path.substr(records.size()), query, allowed);
  }
  if (allowed == calls::no_wait && path != "/healthz") return std::nullopt;
  if (path == "/v1/records:batch") {
    if (!post) return method_not_allowed(req, "POST");
    if (auto denied = check_token(req, auth_.api_token)) return *denied;
    return batch(req);
  }
  if (path == "/healthz") {
    if (!get) return method_not_allowed(req, "GET, HEAD");
    return make_json(req, http::status::ok, {{"status", "ok"}, {"mode", service_->mode()}});
  }
  if (path == "/readyz") {
    if (!get) return method_not_allowed(req, "GET, HEAD");
    const readiness r = service_->ready();
    return make_json(req, r.ready ? http::status::ok : http::status::service_unavailable,
                     {{"ready", r.ready}, {"stores", r.stores}});
  }
  if (path == "/v1/status") {
    if (!get) return method_not_allowed(req, "GET, HEAD");
    json status = service_->status();
    if (write_back_) status["write_back"] = write_back_->summary();
    return make_json(req, http::status::ok, status);
  }
  if (path == "/metrics") {
    if (!get) return method_not_allowed(req, "GET, HEAD");
    response res{http::status::ok, req.version()};
    res.set(http::field::content_type, "text/plain; version=0.0.4");
    res.keep_alive(req.keep_alive());
    res.body() = service_->metrics();
    if (write_back_) res.body() += write_back_->metrics();
    res.prepare_payload();
    return res;
  }
  if (path == "/v1/flush") {
    if (!post) return method_not_allowed(req, "POST");
    if (auto denied = check_token(req, auth_.admin_token)) return *denied;
    return flush(req, query);
  }
  if (path == "/v1/dead-letters") {
    if (!get) return method_not_allowed(req, "GET, HEAD");
    if (auto denied = check_token(req, auth_.admin_token)) return *denied;
    return dead_letters(req, query);
  }
  if (path == "/v1/dead-letters/retry") {
    if (!post) return method_not_allowed(req, "POST");
    if (auto denied = check_token(req, auth_.admin_token)) return *denied;
    return retry_dead_letters(req);
  }
  if (path == "/v1/inconsistencies") {
    if (!get) return method_not_allowed(req, "GET, HEAD");
    if (auto denied = check_token(req, auth_.admin_token)) return *denied;
    return inconsistencies(req, query);
  }
  constexpr std::string_view reconcile = "/v1/reconcile";
  if (path == reconcile) {
    if (!post && !get) return method_not_allowed(req, "GET, HEAD, POST");
    if (auto denied = check_token(req, auth_.admin_token)) return *denied;
    if (post) return start_job(req);
    reconcile_jobs* jobs = service_->jobs();
    if (!jobs) return not_in_mode(req, "reconciler");
    return make_json(req, http::status::ok, {{"jobs", jobs->list()}});
  }
  if (path.starts_with(reconcile) && path[reconcile.size()] == '/') {
    if (!get && method != http::verb::delete_) return method_not_allowed(req, "GET, HEAD, DELETE");
    if (auto denied = check_token(req, auth_.admin_token)) return *denied;
    reconcile_jobs* jobs = service_->jobs();
    if (!jobs) return not_in_mode(req, "reconciler");
    return job(req, *jobs, "reconcile job", path.substr(reconcile.size() + 1));
  }
  constexpr std::string_view runs = "/v1/write-back/runs";
  if (path == runs || (path.starts_with(runs) && path[runs.size()] == '/')) {
    const bool list = path == runs;
    if (list && !get && !post) return method_not_allowed(req, "GET, HEAD, POST");
    if (!list && !get && method != http::verb::delete_) return method_not_allowed(req, "GET, HEAD, DELETE");
    if (auto denied = check_token(req, auth_.admin_token)) return *denied;
    if (!write_back_)
      return make_error(req, http::status::not_found, "not_found",
                        "write-back is not configured (start the server with --write-back-config FILE)");
    if (!list) return job(req, *write_back_, "write-back run", path.substr(runs.size() + 1));
    return post ? start_write_back(req) : write_back_runs(req, query);
  }
  if (path == "/ui" || path.starts_with("/ui/")) {
    if (!get) return method_not_allowed(req, "GET, HEAD");
    return console_file(req, path);
  }
  return make_error(req, http::status::not_found, "not_found",
                    "no route for " + detail::quoted(path.substr(0, 200)));
}

response router::console_file(const request& req, std::string_view path) {
  const ui_asset* asset = find_ui_asset(path == "/ui/" ? "/ui" : path);
  if (!asset)
    return make_error(req, http::status::not_found, "not_found",
                      "no console file " + detail::quoted(path.substr(0, 200)));
  response res{http::status::ok, req.version()};
  res.set(http::field::content_type, asset->content_type);
  // The page's own files only: no inline script or style, no other host,
  // no framing. Keys and messages are rendered as text (console.js).
  res.set("Content-Security-Policy",
          "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
          "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Referrer-Policy", "no-referrer");
  res.set(http::field::cache_control, "no-cache");
  res.keep_alive(req.keep_alive());
  res.body() = std::string(asset->body);
  res.prepare_payload();
  return res;
}

std::optional<response> router::record(const request& req, std::string_view raw_key, std::string_view query,
                                       calls allowed) {
  const auto key = percent_decode(raw_key);
  if (!key)
    return make_error(req, http::status::bad_request, "invalid_input",
                      "malformed percent-escape in key " + detail::quoted(raw_key));
  if (auto ok = validate_key(*key); !ok) return from_error(req, ok.error());

  version_type version = 0;
  if (const auto given = query_param(query, "version")) {
    const auto v = positive_integer(*given);
    if (!v || *v > max_entry_version)
      return make_error(req, http::status::bad_request, "invalid_input",
                        "key " + detail::quoted(*key) + ": version must be an integer from 1 to " +
                            std::to_string(max_entry_version) + ", got " + detail::quoted(*given));
    version = *v;
  }

  // A write the service takes without waiting is answered here; anything
  // else that calls the service waits for a worker.
  auto write_one = [&](const entry& e) -> std::optional<result<write_report>> {
    if (allowed == calls::no_wait) return service_->try_write(e);
    return service_->write(std::span(&e, 1));
  };
  // A write that brings no version takes the service's next one, on a
  // worker when that means asking another process.
  auto stamp = [&]() -> std::optional<result<version_type>> {
    if (version) return version;
    if (allowed == calls::no_wait && service_->versions_wait()) return std::nullopt;
    return service_->next_versions(1);
  };
  switch (req.method()) {
    case http::verb::get:
    case http::verb::head: {
      if (allowed == calls::no_wait) return std::nullopt;
      auto got = service_->get(*key);
      if (!got) return from_error(req, got.error());
      const auto& e = got.value();
      if (!e || e->tombstone)
        return make_error(req, http::status::not_found, "not_found", "no record " + detail::quoted(*key));
      // The value goes out as the text it came in: never parsed, never
      // re-serialised, so every number and escape reads back as written.
      return make_json_text(req, http::status::ok,
                            R"({"key":)" + dump(*key) + R"(,"version":)" + std::to_string(e->version) +
                                R"(,"value":)" + e->value + "}");
    }
    case http::verb::put: {
      if (!is_json(req))
        return make_error(req, http::status::unsupported_media_type, "unsupported_media_type",
                          "send Content-Type: application/json");
      const auto v = stamp();
      if (!v) return std::nullopt;
      if (!*v) return from_error(req, v->error());
      const entry e = entry::put(*key, req.body(), v->value());
      auto w = write_one(e);
      if (!w) return std::nullopt;
      if (!*w) return from_error(req, w->error());
      return make_json(req, http::status::ok,
                       {{"key", *key}, {"version", e.version}, {"outcome", outcome_name(w->value())}});
    }
    case http::verb::delete_: {
      const auto v = stamp();
      if (!v) return std::nullopt;
      if (!*v) return from_error(req, v->error());
      const entry e = entry::erase(*key, v->value());
      auto w = write_one(e);
      if (!w) return std::nullopt;
      if (!*w) return from_error(req, w->error());
      return make_json(req, http::status::ok, {{"key", *key},
                                               {"version", e.version},
                                               {"deleted", true},
                                               {"outcome", outcome_name(w->value())}});
    }
    default:
      return method_not_allowed(req, "GET, HEAD, PUT, DELETE");
  }
}

response router::batch(const request& req) {
  if (!is_json(req))
    return make_error(req, http::status::unsupported_media_type, "unsupported_media_type",
                      "send Content-Type: application/json");
  const value_rules rules = service_->rules();
  // The body is checked in one pass, to the deepest supported nesting,
  // before anything looks inside; each value then meets the rules on its
  // own, so a value too deep is refused in its item's slot.
  if (const auto fault = detail::scan_json(req.body(), {max_supported_depth, true, false}))
    return make_error(req, http::status::bad_request, "invalid_input",
                      (fault.rule ? "body nests deeper than " + std::to_string(max_supported_depth) + " at byte "
                                  : "body is not valid JSON at byte ") +
                          std::to_string(fault.at) + ": " + std::string(fault.what));
  const auto items = batch_items(req.body());
  if (!items)
    return make_error(req, http::status::bad_request, "invalid_input",
                      R"(body must be {"records":[{"key":..,"value":..|null,"version":..?}]})");

  // Versions for the items that bring none, in one step, in item order.
  const auto unversioned = static_cast<std::size_t>(
      std::count_if(items->begin(), items->end(), [](const batch_item& item) { return !item.version; }));
  version_type stamped = 0;
  if (unversioned > 0) {
    auto first = service_->next_versions(unversioned);
    if (!first) return from_error(req, first.error());
    stamped = first.value();
  }

  json results = json::array();
  std::vector<entry> batch;
  std::vector<std::size_t> slot_of;  // batch index -> result index
  for (std::size_t i = 0; i < items->size(); ++i) {
    const batch_item& item = (*items)[i];
    auto reject = [&](std::string message) {
      results.push_back({{"index", i},
                         {"status", 400},
                         {"error", {{"code", "invalid_input"}, {"message", std::move(message)}}}});
    };
    if (!item.key) {
      reject("item " + std::to_string(i) + " needs a string \"key\"");
      continue;
    }
    const std::string& key = *item.key;
    if (auto ok = validate_key(key); !ok) {
      reject(ok.error().message());
      continue;
    }
    version_type version = 0;
    if (item.version) {
      const auto v = positive_integer(*item.version);
      if (!v || *v > max_entry_version) {
        reject("key " + detail::quoted(key) + ": version must be an integer from 1 to " +
               std::to_string(max_entry_version));
        continue;
      }
      version = *v;
    }
    if (!item.value) {
      reject("key " + detail::quoted(key) + ": missing \"value\" (null deletes)");
      continue;
    }
    if (!version) version = stamped++;
    entry e = *item.value == "null" ? entry::erase(key, version) : entry::put(key, std::string(*item.value), version);
    if (auto ok = validate(e, rules); !ok) {
      reject(ok.error().message());
      continue;
    }
    slot_of.push_back(results.size());
    results.push_back({{"index", i}, {"key", key}, {"version", version}});
    batch.push_back(std::move(e));
  }
  json report = {{"applied", 0}, {"accepted", 0}, {"unchanged", 0}, {"stale", 0}};
  if (!batch.empty()) {
    // The valid items go down as one batch: atomic where the mode's store is.
    auto w = service_->write(batch);
    for (std::size_t b = 0; b < batch.size(); ++b) {
      json& slot = results[slot_of[b]];
      slot["status"] = w ? 200 : static_cast<int>(status_for(w.error()));
      if (!w) slot["error"] = error_json(w.error());
      else if (batch[b].tombstone) slot["deleted"] = true;
    }
    if (w)
      report = {{"applied", w.value().applied},
                {"accepted", w.value().accepted},
                {"unchanged", w.value().unchanged},
                {"stale", w.value().stale}};
  }
  return make_json(req, http::status::ok, {{"results", results}, {"report", report}});
}

response router::flush(const request& req, std::string_view query) {
  // A flush waits an hour at most (a longer wait is a loop of calls); a
  // larger number would overflow the deadline's clock arithmetic.
  constexpr std::int64_t max_timeout_ms = 3'600'000;
  std::chrono::milliseconds timeout{30'000};
  if (const auto t = query_param(query, "timeout_ms")) {
    const auto v = positive_integer(*t);
    if (!v || *v > max_timeout_ms)
      return make_error(req, http::status::bad_request, "invalid_input",
                        "timeout_ms must be an integer from 1 to " + std::to_string(max_timeout_ms) + ", got " +
                            detail::quoted(*t));
    timeout = std::chrono::milliseconds(*v);
  }
  const flush_outcome f = service_->flush(timeout);
  json body = f.detail;
  body["complete"] = f.complete;
  return make_json(req, f.complete ? http::status::ok : http::status::service_unavailable, body);
}

response router::dead_letters(const request& req, std::string_view query) {
  std::size_t limit = 1000;
  if (const auto l = query_param(query, "limit")) {
    const auto v = positive_integer(*l);
    if (!v) return make_error(req, http::status::bad_request, "invalid_input", "limit must be a positive integer");
    limit = static_cast<std::size_t>(*v);
  }
  auto letters = service_->dead_letters(limit);
  if (!letters) return from_error(req, letters.error());
  return make_json_text(req, http::status::ok, R"({"dead_letters":)" + letters.value() + "}");
}

/// The 404 of a route the mode does not have.
response router::not_in_mode(const request& req, std::string_view what) {
  return make_error(req, http::status::not_found, "not_found",
                    "mode " + detail::quoted(service_->mode()) + " has no " + std::string(what) +
                        " (dual-write mode has)");
}

response router::inconsistencies(const request& req, std::string_view query) {
  std::size_t limit = 100;
  if (const auto l = query_param(query, "limit")) {
    const auto v = positive_integer(*l);
    if (!v || *v > 100'000)
      return make_error(req, http::status::bad_request, "invalid_input", "limit must be an integer from 1 to 100000");
    limit = static_cast<std::size_t>(*v);
  }
  std::string after;
  if (const auto a = query_param(query, "after")) {
    const auto decoded = percent_decode(*a);
    if (!decoded)
      return make_error(req, http::status::bad_request, "invalid_input", "malformed percent-escape in after");
    after = *decoded;
  }
  auto page = service_->inconsistencies(limit, after);
  if (!page) return not_in_mode(req, "inconsistency log");
  if (!*page) return from_error(req, page->error());
  return make_json(req, http::status::ok, page->value());
}

response router::start_job(const request& req) {
  reconcile_jobs* jobs = service_->jobs();
  if (!jobs) return not_in_mode(req, "reconciler");
  if (!is_json(req))
    return make_error(req, http::status::unsupported_media_type, "unsupported_media_type",
                      "send Content-Type: application/json");
  auto parsed = parse_reconcile_request(req.body());
  if (!parsed) return make_error(req, http::status::bad_request, "invalid_input", parsed.error().context());
  auto id = jobs->start(parsed.value());
  if (!id) return from_error(req, id.error());
  auto res = make_json(req, http::status::accepted,
                       {{"id", id.value()}, {"operation", parsed.value().operation}, {"state", "running"}});
  res.set(http::field::location, "/v1/reconcile/" + id.value());
  return res;
}

template <class Jobs>
response router::job(const request& req, Jobs& jobs, std::string_view what, std::string_view id) {
  auto unknown = [&] {
    return make_error(req, http::status::not_found, "not_found",
                      "no " + std::string(what) + " " + detail::quoted(id.substr(0, 100)) + " (the last 16 are kept)");
  };
  if (req.method() == http::verb::delete_) {
    switch (jobs.cancel(id)) {
      case cancel_outcome::cancelling:
        return make_json(req, http::status::accepted, {{"id", id}, {"state", "cancelling"}});
      case cancel_outcome::finished:
        return make_error(req, http::status::conflict, "conflict",
                          "job " + detail::quoted(id) + " has already finished");
      case cancel_outcome::unknown: break;
    }
    return unknown();
  }
  auto described = jobs.describe(id);
  if (!described) return unknown();
  return make_json(req, http::status::ok, *described);
}

response router::start_write_back(const request& req) {
  if (!req.body().empty() && !is_json(req))
    return make_error(req, http::status::unsupported_media_type, "unsupported_media_type",
                      "send Content-Type: application/json");
  auto parsed = parse_write_back_run_request(req.body(), write_back_->config());
  if (!parsed) return make_error(req, http::status::bad_request, "invalid_input", parsed.error().context());
  auto id = write_back_->start(parsed.value());
  if (!id) return from_error(req, id.error());
  auto res = make_json(req, http::status::accepted,
                       {{"id", id.value()}, {"operation", parsed.value().dry_run ? "dry_run" : "run"}, {"state", "running"}});
  res.set(http::field::location, "/v1/write-back/runs/" + id.value());
  return res;
}

response router::write_back_runs(const request& req, std::string_view query) {
  std::size_t limit = 20;
  if (const auto given = query_param(query, "limit")) {
    const auto v = positive_integer(*given);
    if (!v || *v > 1000)
      return make_error(req, http::status::bad_request, "invalid_input", "limit must be an integer from 1 to 1000");
    limit = static_cast<std::size_t>(*v);
  }
  std::string before;
  if (const auto b = query_param(query, "before")) {
    const auto decoded = percent_decode(*b);
    if (!decoded)
      return make_error(req, http::status::bad_request, "invalid_input", "malformed percent-escape in before");
    before = *decoded;
  }
  auto page = write_back_->runs(limit, before);
  if (!page) return from_error(req, page.error());
  return make_json(req, http::status::ok, page.value());
}

response router::retry_dead_letters(const request& req) {
  auto r = service_->retry_dead_letters();
  if (!r) return from_error(req, r.error());
  return make_json(req, http::status::ok, r.value());
}

}  // namespace storesync::server
