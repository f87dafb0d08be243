#pragma once
// Driving the reference server's router without a socket: a request built
// in place, and the response as the tests read it.

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "reference_server/router.hpp"
#include "tests/printable.hpp"

namespace storesync::server::test {

/// A response as the router built it.
struct reply {
  unsigned status = 0;
  std::string body;
  std::string allow;
  std::string location;

  /// The body as JSON; discarded (and a test failure) if it is not JSON.
  nlohmann::json parsed() const {
    nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_discarded()) ADD_FAILURE() << "response is not JSON: " << storesync::testing::printable(body);
    return j;
  }
  std::string error_code() const { return value_at("/error/code"); }
  std::string error_message() const { return value_at("/error/message"); }

 private:
  std::string value_at(const char* pointer) const {
    return parsed().value(nlohmann::json::json_pointer(pointer), std::string());
  }
};

/// `verb target` with `body` through `r`; no Content-Type header when
/// `content_type` is empty, no Authorization header when `authorization` is.
inline reply send(router& r, http::verb verb, std::string target, std::string body = {},
                  std::string_view content_type = "application/json", std::string_view authorization = {}) {
  request req{verb, std::move(target), 11};
  if (!content_type.empty()) req.set(http::field::content_type, content_type);
  if (!authorization.empty()) req.set(http::field::authorization, authorization);
  req.body() = std::move(body);
  req.prepare_payload();
  response res = r.handle(req);
  return {res.result_int(), std::move(res.body()), std::string(std::string_view(res[http::field::allow])),
          std::string(std::string_view(res[http::field::location]))};
}

}  // namespace storesync::server::test
