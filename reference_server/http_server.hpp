#pragma once
// The reference server's HTTP/1.1 front: Boost.Beast on Asio, keep-alive,
// size limits, read and write timeouts and a connection limit. I/O threads
// parse, write, and answer what needs no waiting (`router::try_handle`);
// every other request is handled on a separate worker pool, because store
// calls block.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "reference_server/router.hpp"

namespace storesync::server {

struct http_options {
  boost::asio::ip::tcp::endpoint listen{boost::asio::ip::make_address("127.0.0.1"), 8080};
  std::size_t io_threads = 1;
  std::size_t worker_threads = 4;
  std::size_t max_body_bytes = 1 << 20;
  std::size_t max_header_bytes = 16 << 10;
  /// A request must arrive completely within this time, and an idle
  /// keep-alive connection is closed after it.
  std::chrono::milliseconds read_timeout{30'000};
  /// A response must be taken by the client within this time; a client
  /// that stops reading is disconnected after it.
  std::chrono::milliseconds write_timeout{30'000};
  /// Open connections, at most. At the limit a new connection closes the
  /// one that has waited longest for its next request (an idle keep-alive,
  /// or a request still trickling in), so the server keeps answering new
  /// clients however many idle ones hold sockets; a connection busy with a
  /// request is never closed for room. Lowered at start to what the file
  /// descriptor limit allows.
  std::size_t max_connections = 1024;
};

class connection_table;  // http_server.cpp

class http_server {
 public:
  http_server(http_options options, std::shared_ptr<router> routes);
  ~http_server();

  /// Binds and starts accepting; returns the bound endpoint (port 0 picks
  /// one). Raises the file descriptor limit towards what the connection
  /// limit needs.
  result<boost::asio::ip::tcp::endpoint> start();
  /// The connection limit in force: `http_options::max_connections`, or
  /// less when the file descriptor limit could not be raised far enough.
  std::size_t max_connections() const noexcept { return options_.max_connections; }
  /// Serves until SIGINT or SIGTERM, then stops accepting, finishes the
  /// requests in flight, and returns.
  void run_until_signal();

 private:
  void accept();

  http_options options_;
  std::shared_ptr<router> routes_;
  std::shared_ptr<connection_table> connections_;
  boost::asio::io_context io_;
  boost::asio::thread_pool workers_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer accept_retry_;
};

}  // namespace storesync::server
