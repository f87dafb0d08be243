#include "reference_server/http_server.hpp"

#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>

#include <nlohmann/json.hpp>

#include <optional>
#include <thread>
#include <vector>

namespace storesync::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

class session : public std::enable_shared_from_this<session> {
 public:
  session(tcp::socket socket, const http_options& options, std::shared_ptr<router> routes,
          asio::thread_pool& workers)
      : stream_(std::move(socket)), options_(options), routes_(std::move(routes)), workers_(workers) {}

  void start() { read(); }

 private:
  void read() {
    parser_.emplace();
    parser_->body_limit(options_.max_body_bytes);
    parser_->header_limit(static_cast<std::uint32_t>(options_.max_header_bytes));
    stream_.expires_after(options_.read_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout) return close();
    if (ec == http::error::body_limit) return reject(http::status::payload_too_large, "body_too_large",
                                                     "request body exceeds the limit");
    if (ec == http::error::header_limit) return reject(http::status::request_header_fields_too_large,
                                                       "headers_too_large", "request headers exceed the limit");
    if (ec) {
      if (ec.category() == http::make_error_code(http::error::bad_target).category())
        return reject(http::status::bad_request, "bad_request", ec.message());
      return close();
    }
    stream_.expires_never();
    // What needs no waiting is answered right here (a write-behind PUT is a
    // memory store, a journal append and a map insert); blocking store calls
    // run on the worker pool, and the response comes back to this
    // connection's executor.
    if (auto res = routes_->try_handle(parser_->get())) return write(std::move(*res));
    asio::post(workers_, [self = shared_from_this(), req = parser_->release()]() mutable {
      asio::post(self->stream_.get_executor(),
                 [self, res = self->routes_->handle(req)]() mutable { self->write(std::move(res)); });
    });
  }

  void reject(http::status status, std::string_view code, std::string_view message) {
    response res(status, 11);
    res.set(http::field::content_type, "application/json");
    res.keep_alive(false);
    res.body() = nlohmann::json{{"error", {{"code", code}, {"message", message}}}}.dump() + "\n";
    res.prepare_payload();
    write(std::move(res));
  }

  // A connection has one response at a time in flight (the next request is
  // read after it is written), kept here until it is.
  void write(response res) {
    response_ = std::move(res);
    http::async_write(stream_, *response_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec || !self->response_->keep_alive()) return self->close();
      self->read();
    });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<response> response_;
  const http_options& options_;
  std::shared_ptr<router> routes_;
  asio::thread_pool& workers_;
};

}  // namespace

http_server::http_server(http_options options, std::shared_ptr<router> routes)
    : options_(options),
      routes_(std::move(routes)),
      io_(static_cast<int>(options_.io_threads)),
      workers_(options_.worker_threads),
      acceptor_(io_) {}

http_server::~http_server() {
  io_.stop();
  workers_.join();
}

result<tcp::endpoint> http_server::start() {
  beast::error_code ec;
  acceptor_.open(options_.listen.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(options_.listen, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return error{ec, "cannot listen on " + options_.listen.address().to_string() + ":" +
                         std::to_string(options_.listen.port())};
  }
  accept();
  return acceptor_.local_endpoint();
}

void http_server::accept() {
  // One I/O thread already runs a connection's handlers one at a time; only
  // several need a strand per connection (which costs a lock per handler).
  const asio::any_io_executor executor =
      options_.io_threads > 1 ? asio::any_io_executor(asio::make_strand(io_)) : io_.get_executor();
  acceptor_.async_accept(executor, [this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;  // acceptor closed: shutting down
    if (!ec) std::make_shared<session>(std::move(socket), options_, routes_, workers_)->start();
    accept();
  });
}

void http_server::run_until_signal() {
  asio::signal_set signals(io_, SIGINT, SIGTERM);
  std::thread drainer;
  signals.async_wait([this, &drainer](beast::error_code ec, int) {
    if (ec) return;
    beast::error_code ignored;
    acceptor_.close(ignored);
    // Store calls in flight finish on the workers; their responses get a
    // moment on the I/O threads to reach the client; then everything stops.
    drainer = std::thread([this] {
      workers_.join();
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      io_.stop();
    });
  });
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < options_.io_threads; ++i) threads.emplace_back([this] { io_.run(); });
  io_.run();
  for (auto& t : threads) t.join();
  if (drainer.joinable()) drainer.join();
}

}  // namespace storesync::server
