#pragma once
// The reference server without a socket, for the targets that send it
// requests: its configuration as its own flag parser makes it, a router over
// write-behind as main.cpp builds one (with a movable memory store where the
// server has SQLite), and the properties every response must have.

#include <iterator>
#include <memory>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>

#include "reference_server/config.hpp"
#include "reference_server/router.hpp"
#include "reference_server/write_behind_service.hpp"
#include "storesync/core/detail/json_scan.hpp"
#include "storesync/store/memory_store.hpp"
#include "tests/fuzz/fuzz_support.hpp"
#include "tests/printable.hpp"

namespace storesync::fuzz {

/// The durable store, in memory. `deferred_store` holds its store by value,
/// and a `memory_store` does not move (it owns its lock), so this shares one.
struct memory_durable {
  std::shared_ptr<memory_store> store = std::make_shared<memory_store>();

  result<std::optional<entry>> read(std::string_view key) { return store->read(key); }
  result<write_report> write(std::span<const entry> batch) { return store->write(batch); }
  result<version_type> max_version() { return store->max_version(); }
};

/// Bearer token of the admin routes in `server_defaults` (the seeds carry it).
inline constexpr std::string_view admin_token = "fuzz-admin";

/// The server's defaults as `parse_config` makes them, with data under
/// `dir`, an admin token, and the journal acknowledging without fsync (the
/// default fsyncs every 10 ms, which costs a fuzzer speed and finds nothing
/// more).
inline server::server_config server_defaults(const std::string& dir) {
  const std::string token(admin_token);
  const char* argv[] = {"reference_server", "--data-dir", dir.c_str(), "--journal-durability", "process",
                        "--admin-token", token.c_str()};
  std::ostringstream out, err;
  auto parsed = server::parse_config(static_cast<int>(std::size(argv)), argv, out, err);
  STORESYNC_FUZZ_CHECK(parsed.config, err.str());
  return *parsed.config;
}

/// The router of the server's default mode, write-behind, configured by `c`.
inline std::shared_ptr<server::router> write_behind_router(const server::server_config& c) {
  auto s = server::write_behind_service<memory_durable>::open(
      [] { return result<memory_durable>(memory_durable{}); }, {}, "durable",
      std::make_unique<memory_store>(memory_store_options{.max_bytes = c.fast_max_bytes}), "memory", c.write_behind,
      exponential_backoff(c.retry), aimd_batch_sizer(c.batch), block_for(c.backpressure_timeout),
      std::make_shared<metrics_registry>());
  STORESYNC_FUZZ_CHECK(s, "open write-behind: " + s.error().message());
  return std::make_shared<server::router>(std::shared_ptr<server::record_service>(std::move(s).value()), c.auth);
}

/// What every response must be, whatever the request: a success or a client
/// or service error, never 500 (the stores here cannot fail, so a 500 is an
/// exception the router caught), its length as sent, and a JSON body unless
/// it is the metrics text: an error code on an error, but for the two 503s
/// that are reports (an incomplete flush, not ready; docs/server-api.md).
inline void check_response(const server::response& res, std::string_view request) {
  const unsigned status = res.result_int();
  const std::string context = " in answer to " + testing::printable(request) + "\n  response " +
                              std::to_string(status) + ": " + testing::printable(res.body());
  STORESYNC_FUZZ_CHECK(((status >= 200 && status < 300) || (status >= 400 && status < 600)) && status != 500,
                       "status" + context);
  STORESYNC_FUZZ_CHECK(res[server::http::field::content_length] == std::to_string(res.body().size()),
                       "Content-Length" + context);
  if (res[server::http::field::content_type] != "application/json") return;
  STORESYNC_FUZZ_CHECK(!detail::scan_json(res.body(), {max_supported_depth, true, false}), "not JSON" + context);
  const bool report = status == 503 && (res.body().starts_with(R"({"complete":false,)") ||
                                        res.body().starts_with(R"({"ready":false,)"));
  if (status >= 400 && !report)
    STORESYNC_FUZZ_CHECK(res.body().starts_with(R"({"error":{"code":)"), "no error code" + context);
}

}  // namespace storesync::fuzz
