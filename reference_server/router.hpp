#pragma once
// Routes an HTTP request to the record service and builds the JSON response.
// Pure request -> response: no sockets here, so every route is unit-testable.

#include <boost/beast/http.hpp>

#include <atomic>
#include <cstdint>
#include <memory>

#include "reference_server/record_service.hpp"

namespace storesync::server {

namespace http = boost::beast::http;
using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

class router {
 public:
  explicit router(std::shared_ptr<record_service> service);

  /// Never throws: every failure becomes a JSON error response.
  response handle(const request& req) noexcept;

 private:
  response handle_record(const request& req, std::string_view key);
  version_type next_version() noexcept;

  std::shared_ptr<record_service> service_;
  std::atomic<std::int64_t> last_version_{0};
};

}  // namespace storesync::server
