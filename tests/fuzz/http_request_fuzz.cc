// The reference server's request path on any bytes: Beast's request parser
// with the server's header and body limits, then the router as a session
// calls it (`try_handle` on the I/O thread, else `handle`), over write-behind
// in the server's default configuration. Up to four requests per input, as
// on a keep-alive connection, so one request can act on what another wrote.
// Every answer must pass `check_response`.
#include <boost/asio/buffer.hpp>
#include <boost/beast/http.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "reference_server/router.hpp"
#include "tests/fuzz/fuzz_support.hpp"
#include "tests/fuzz/router_fuzzing.hpp"

namespace storesync::fuzz {
namespace {

namespace http = boost::beast::http;

/// The next request off the front of `bytes`, parsed as the server's
/// session parses one; nothing if they hold no complete, valid request.
std::optional<server::request> next_request(std::string_view& bytes, const server::http_options& limits) {
  http::request_parser<http::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
  parser.body_limit(limits.max_body_bytes);
  parser.eager(true);
  for (;;) {
    boost::beast::error_code ec;
    const std::size_t used = parser.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
    bytes.remove_prefix(used);
    if (parser.is_done()) return parser.release();
    if (ec && ec != http::error::need_more) return std::nullopt;
    // The connection ends here: what arrived is all there is.
    if (used == 0 || bytes.empty()) {
      if (!parser.got_some()) return std::nullopt;
      parser.put_eof(ec);
      if (ec || !parser.is_done()) return std::nullopt;
      return parser.release();
    }
  }
}

}  // namespace
}  // namespace storesync::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace storesync::fuzz;
  static const storesync::server::server_config config = server_defaults(fresh_dir("http"));
  static const std::shared_ptr<storesync::server::router> routes = write_behind_router(config);

  std::string_view bytes = as_text(data, size);
  for (int i = 0; i < 4; ++i) {
    const std::string_view before = bytes;
    const auto req = next_request(bytes, config.http);
    if (!req) break;
    const std::string_view sent = before.substr(0, before.size() - bytes.size());
    auto res = routes->try_handle(*req);
    check_response(res ? *res : routes->handle(*req), sent);
  }
  return 0;
}
