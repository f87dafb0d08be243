#include "reference_server/router.hpp"

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

namespace storesync::server {
namespace {

using json = nlohmann::json;

response make_json(const request& req, http::status status, const json& body) {
  response res{status, req.version()};
  res.set(http::field::content_type, "application/json");
  res.keep_alive(req.keep_alive());
  res.body() = body.dump() + "\n";
  res.prepare_payload();
  return res;
}

response make_error(const request& req, http::status status, std::string_view code,
                    std::string_view message) {
  return make_json(req, status, {{"error", {{"code", code}, {"message", message}}}});
}

/// The HTTP status for a failed store call, by condition.
http::status status_for(const error& e) {
  if (e == condition::invalid_input) return http::status::bad_request;
  if (e == condition::overloaded) return http::status::too_many_requests;
  if (e == condition::unavailable || e == condition::transient) return http::status::service_unavailable;
  if (e == condition::conflict) return http::status::conflict;
  return http::status::internal_server_error;
}

/// The machine-readable code of an error: its condition.
std::string_view code_for(const error& e) {
  if (e == condition::invalid_input) return "invalid_input";
  if (e == condition::overloaded) return "overloaded";
  if (e == condition::unavailable) return "unavailable";
  if (e == condition::transient) return "transient";
  if (e == condition::conflict) return "conflict";
  return "internal";
}

response from_error(const request& req, const error& e) {
  auto res = make_error(req, status_for(e), code_for(e), e.message());
  if (res.result() == http::status::too_many_requests ||
      res.result() == http::status::service_unavailable)
    res.set(http::field::retry_after, "1");
  return res;
}

/// Decodes %XX escapes; false on a malformed escape.
bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) return false;
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    const int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

}  // namespace

router::router(std::shared_ptr<record_service> service) : service_(std::move(service)) {}

version_type router::next_version() noexcept {
  // Microseconds since the epoch, forced strictly increasing: versions keep
  // growing across restarts without any stored counter.
  const auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  auto last = last_version_.load(std::memory_order_relaxed);
  std::int64_t next;
  do {
    next = std::max<std::int64_t>(now, last + 1);
  } while (!last_version_.compare_exchange_weak(last, next, std::memory_order_relaxed));
  return next;
}

response router::handle(const request& req) noexcept {
  try {
    const std::string_view target = req.target();
    const std::string_view path = target.substr(0, target.find('?'));
    if (path == "/healthz") {
      if (req.method() != http::verb::get && req.method() != http::verb::head) {
        auto res = make_error(req, http::status::method_not_allowed, "method_not_allowed",
                              "use GET");
        res.set(http::field::allow, "GET, HEAD");
        return res;
      }
      return make_json(req, http::status::ok, {{"status", "ok"}, {"mode", service_->mode()}});
    }
    constexpr std::string_view records = "/v1/records/";
    if (path.starts_with(records)) return handle_record(req, path.substr(records.size()));
    return make_error(req, http::status::not_found, "not_found",
                      "no route for " + std::string(path.substr(0, 200)));
  } catch (const std::exception& ex) {
    return make_error(req, http::status::internal_server_error, "internal", ex.what());
  }
}

response router::handle_record(const request& req, std::string_view raw_key) {
  std::string key;
  if (!percent_decode(raw_key, key))
    return make_error(req, http::status::bad_request, "invalid_key", "malformed percent-escape in key");
  if (auto ok = validate_key(key); !ok) return from_error(req, ok.error());

  switch (req.method()) {
    case http::verb::get: {
      auto got = service_->get(key);
      if (!got) return from_error(req, got.error());
      const auto& e = got.value();
      if (!e || e->tombstone)
        return make_error(req, http::status::not_found, "not_found", "no record " + detail::quoted(key));
      return make_json(req, http::status::ok,
                       {{"key", key}, {"version", e->version}, {"value", json::parse(e->value)}});
    }
    case http::verb::put: {
      const auto type = req[http::field::content_type];
      if (!type.empty() && !type.starts_with("application/json"))
        return make_error(req, http::status::unsupported_media_type, "unsupported_media_type",
                          "send application/json");
      const entry e = entry::put(key, req.body(), next_version());
      if (auto w = service_->write(std::span(&e, 1)); !w) return from_error(req, w.error());
      return make_json(req, http::status::ok, {{"key", key}, {"version", e.version}});
    }
    case http::verb::delete_: {
      const entry e = entry::erase(key, next_version());
      if (auto w = service_->write(std::span(&e, 1)); !w) return from_error(req, w.error());
      return make_json(req, http::status::ok, {{"key", key}, {"version", e.version}, {"deleted", true}});
    }
    default: {
      auto res = make_error(req, http::status::method_not_allowed, "method_not_allowed",
                            "use GET, PUT or DELETE");
      res.set(http::field::allow, "GET, PUT, DELETE");
      return res;
    }
  }
}

}  // namespace storesync::server
