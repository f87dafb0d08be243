#pragma once
// Routes an HTTP request to the record service and builds the JSON response.
// A pure request -> response function: no sockets here, so every route and
// every error is testable without a network. docs/server-api.md is the
// contract; reference_server/openapi.yaml describes the same routes.

#include <boost/beast/http.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "reference_server/record_service.hpp"
#include "reference_server/ui_assets.hpp"
#include "reference_server/write_back_jobs.hpp"

namespace storesync::server {

namespace http = boost::beast::http;
using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

struct auth_options {
  /// When set, admin routes (flush, dead letters, inconsistencies, reconcile
  /// jobs, write-back runs) need `Authorization: Bearer <token>`.
  std::string admin_token;
  /// When set, data routes (/v1/records...) need it too.
  std::string api_token;
};

class router {
 public:
  /// Routes to `service`; with `write_back`, also the write-back routes
  /// (`/v1/write-back/runs`), whatever the mode.
  router(std::shared_ptr<record_service> service, auth_options auth,
         std::shared_ptr<write_back_jobs> write_back = nullptr);

  /// Never throws: every failure becomes a JSON error response. May block
  /// on store calls: run it on a worker.
  response handle(const request& req) noexcept;

  /// The response to `req` if it can be built without waiting (a liveness
  /// probe, a rejected request, a write the service takes without waiting:
  /// see `record_service::try_write`), else nothing, having changed nothing:
  /// then `handle` it on a worker. Safe on an I/O thread; never throws.
  std::optional<response> try_handle(const request& req) noexcept;

 private:
  /// Whether a route may call into the service in ways that wait.
  enum class calls { may_wait, no_wait };

  std::optional<response> route(const request& req, calls allowed);
  std::optional<response> record(const request& req, std::string_view raw_key, std::string_view query,
                                 calls allowed);
  response batch(const request& req);
  response flush(const request& req, std::string_view query);
  response dead_letters(const request& req, std::string_view query);
  response retry_dead_letters(const request& req);
  response inconsistencies(const request& req, std::string_view query);
  response start_job(const request& req);
  template <class Jobs>
  response job(const request& req, Jobs& jobs, std::string_view what, std::string_view id);
  response start_write_back(const request& req);
  response write_back_runs(const request& req, std::string_view query);
  response not_in_mode(const request& req, std::string_view what);
  /// The operator console's page and its files (ui_assets.hpp).
  response console_file(const request& req, std::string_view path);

  std::shared_ptr<record_service> service_;
  auth_options auth_;
  std::shared_ptr<write_back_jobs> write_back_;
};

}  // namespace storesync::server
