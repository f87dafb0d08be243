#pragma once
// The reference server's HTTP/1.1 front: Boost.Beast on Asio, keep-alive,
// size limits and read timeouts. I/O threads parse, write, and answer what
// needs no waiting (`router::try_handle`); every other request is handled on
// a separate worker pool, because store calls block.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
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
};

class http_server {
 public:
  http_server(http_options options, std::shared_ptr<router> routes);
  ~http_server();

  /// Binds and starts accepting; returns the bound endpoint (port 0 picks one).
  result<boost::asio::ip::tcp::endpoint> start();
  /// Serves until SIGINT or SIGTERM, then stops accepting, finishes the
  /// requests in flight, and returns.
  void run_until_signal();

 private:
  void accept();

  http_options options_;
  std::shared_ptr<router> routes_;
  boost::asio::io_context io_;
  boost::asio::thread_pool workers_;
  boost::asio::ip::tcp::acceptor acceptor_;
};

}  // namespace storesync::server
