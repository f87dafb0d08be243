#pragma once
// Routes an HTTP request to the record service and builds the JSON response.
// A pure request -> response function: no sockets here, so every route and
// every error is testable without a network. docs/server-api.md is the
// contract; reference_server/openapi.yaml describes the same routes.

#include <boost/beast/http.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "reference_server/record_service.hpp"

namespace storesync::server {

namespace http = boost::beast::http;
using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

struct auth_options {
  /// When set, admin routes (flush, dead letters) need `Authorization: Bearer <token>`.
  std::string admin_token;
  /// When set, data routes (/v1/records...) need it too.
  std::string api_token;
};

class router {
 public:
  router(std::shared_ptr<record_service> service, auth_options auth);

  /// Never throws: every failure becomes a JSON error response.
  response handle(const request& req) noexcept;

 private:
  response route(const request& req);
  response record(const request& req, std::string_view raw_key, std::string_view query);
  response batch(const request& req);
  response flush(const request& req, std::string_view query);
  response dead_letters(const request& req, std::string_view query);
  response retry_dead_letters(const request& req);
  version_type next_version() noexcept;

  std::shared_ptr<record_service> service_;
  auth_options auth_;
  std::atomic<std::int64_t> last_version_{0};
};

}  // namespace storesync::server
