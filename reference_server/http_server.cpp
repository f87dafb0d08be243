#include "reference_server/http_server.hpp"

#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>

#include <nlohmann/json.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace storesync::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

class session;

}  // namespace

// The open connections, and those among them that wait for a request, the
// longest wait first (a list through the sessions themselves: no allocation
// per request). Shared by the acceptor and the sessions, which may run on
// different I/O threads.
class connection_table {
 public:
  explicit connection_table(std::size_t limit) : limit_(limit) {}

  /// Room for one more connection: at once below the limit; at it, by
  /// closing the connection that has waited longest for a request. False
  /// when every open connection is busy with a request.
  bool admit();
  /// `s` is closed: its slot is free.
  void release(session& s);
  /// `s` waits for a request (from now on it may be closed for room).
  void waiting(session& s);
  /// A request arrived on `s`. False when `s` was closed for room first:
  /// it must not be handled.
  bool busy(session& s);

 private:
  void unlink_locked(session& s);

  std::mutex mutex_;
  std::size_t limit_;
  std::size_t open_ = 0;
  session* oldest_ = nullptr;
  session* newest_ = nullptr;
};

namespace {

class session : public std::enable_shared_from_this<session> {
 public:
  session(tcp::socket socket, const http_options& options, std::shared_ptr<router> routes,
          asio::thread_pool& workers, std::shared_ptr<connection_table> table)
      : stream_(std::move(socket)),
        options_(options),
        routes_(std::move(routes)),
        workers_(workers),
        table_(std::move(table)) {}
  ~session() { table_->release(*this); }

  void start() { read(); }

  /// Closes this connection for room (from any thread): the read it waits
  /// on ends, on the connection's own executor.
  void evict() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] { self->stream_.cancel(); });
  }

 private:
  friend class server::connection_table;

  void read() {
    table_->waiting(*this);
    parser_.emplace();
    parser_->body_limit(options_.max_body_bytes);
    parser_->header_limit(static_cast<std::uint32_t>(options_.max_header_bytes));
    stream_.expires_after(options_.read_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (!table_->busy(*this)) return close();
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
    stream_.expires_after(options_.write_timeout);
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
  std::shared_ptr<connection_table> table_;
  // The table's list of waiting sessions, guarded by its mutex.
  session* older_ = nullptr;
  session* newer_ = nullptr;
  bool is_waiting_ = false;
};

// Descriptors the process needs besides its connections: the journal's
// segments, store connections, the data files, stdio.
constexpr rlim_t descriptors_reserved = 128;

// Raises the soft descriptor limit towards `connections` plus the reserve;
// returns the connections that fit under the limit in force.
std::size_t connections_that_fit(std::size_t connections) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return connections;
  const rlim_t wanted = static_cast<rlim_t>(connections) + descriptors_reserved;
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < wanted) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, limit.rlim_max);
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= wanted) return connections;
  return limit.rlim_cur > descriptors_reserved ? static_cast<std::size_t>(limit.rlim_cur - descriptors_reserved) : 1;
}

}  // namespace

bool connection_table::admit() {
  std::shared_ptr<session> oldest;
  {
    std::lock_guard lock(mutex_);
    if (open_ >= limit_) {
      if (!oldest_) return false;
      session* s = oldest_;
      unlink_locked(*s);
      oldest = s->weak_from_this().lock();  // null: it is closing already
    }
    ++open_;  // over the limit until `oldest` has closed
  }
  if (oldest) oldest->evict();
  return true;
}

void connection_table::release(session& s) {
  std::lock_guard lock(mutex_);
  if (s.is_waiting_) unlink_locked(s);
  --open_;
}

void connection_table::waiting(session& s) {
  std::lock_guard lock(mutex_);
  s.older_ = newest_;
  s.newer_ = nullptr;
  (newest_ ? newest_->newer_ : oldest_) = &s;
  newest_ = &s;
  s.is_waiting_ = true;
}

bool connection_table::busy(session& s) {
  std::lock_guard lock(mutex_);
  if (!s.is_waiting_) return false;
  unlink_locked(s);
  return true;
}

void connection_table::unlink_locked(session& s) {
  (s.older_ ? s.older_->newer_ : oldest_) = s.newer_;
  (s.newer_ ? s.newer_->older_ : newest_) = s.older_;
  s.older_ = s.newer_ = nullptr;
  s.is_waiting_ = false;
}

http_server::http_server(http_options options, std::shared_ptr<router> routes)
    : options_(options),
      routes_(std::move(routes)),
      io_(static_cast<int>(options_.io_threads)),
      workers_(options_.worker_threads),
      acceptor_(io_),
      accept_retry_(io_) {}

http_server::~http_server() {
  io_.stop();
  workers_.join();
}

result<tcp::endpoint> http_server::start() {
  options_.max_connections = connections_that_fit(options_.max_connections);
  connections_ = std::make_shared<connection_table>(options_.max_connections);
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
    if (ec) {
      // Out of descriptors or buffers: try again shortly instead of
      // spinning on the error; connections closing make room meanwhile.
      accept_retry_.expires_after(std::chrono::milliseconds(50));
      accept_retry_.async_wait([this](beast::error_code wait_ec) {
        if (!wait_ec) accept();
      });
      return;
    }
    // Every connection busy with a request: this one is closed unserved
    // (its socket's destructor) rather than queued without bound.
    if (connections_->admit())
      std::make_shared<session>(std::move(socket), options_, routes_, workers_, connections_)->start();
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
