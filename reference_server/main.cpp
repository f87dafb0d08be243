// storesync reference server. Flags have environment equivalents
// (--listen / STORESYNC_LISTEN, ...); `--help` lists them.
#include <boost/program_options.hpp>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "reference_server/direct_service.hpp"
#include "reference_server/http_server.hpp"
#include "storesync/store/memory_store.hpp"

namespace po = boost::program_options;
using namespace storesync;

namespace {

/// "host:port" -> endpoint.
result<boost::asio::ip::tcp::endpoint> parse_listen(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos)
    return error{errc::invalid_argument, "--listen wants HOST:PORT, got \"" + text + "\""};
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(text.substr(0, colon), ec);
  if (ec) return error{errc::invalid_argument, "--listen: bad address in \"" + text + "\""};
  int port = -1;
  try {
    port = std::stoi(text.substr(colon + 1));
  } catch (...) {
  }
  if (port < 0 || port > 65535) return error{errc::invalid_argument, "--listen: bad port in \"" + text + "\""};
  return boost::asio::ip::tcp::endpoint(address, static_cast<unsigned short>(port));
}

}  // namespace

int main(int argc, char** argv) {
  po::options_description flags("storesync reference server");
  std::string listen;
  server::http_options http;
  flags.add_options()("help", "show this help and exit")(
      "listen", po::value(&listen)->default_value("127.0.0.1:8080"),
      "HOST:PORT to serve on (env STORESYNC_LISTEN)")(
      "io-threads", po::value(&http.io_threads)->default_value(http.io_threads),
      "threads doing socket I/O (env STORESYNC_IO_THREADS)")(
      "workers", po::value(&http.worker_threads)->default_value(http.worker_threads),
      "threads running store calls (env STORESYNC_WORKERS)")(
      "max-body-bytes", po::value(&http.max_body_bytes)->default_value(http.max_body_bytes),
      "largest accepted request body (env STORESYNC_MAX_BODY_BYTES)");

  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, flags), vm);
    po::store(po::parse_environment(flags,
                                    [&](const std::string& env) -> std::string {
                                      constexpr std::string_view prefix = "STORESYNC_";
                                      if (!env.starts_with(prefix)) return {};
                                      std::string name = env.substr(prefix.size());
                                      for (char& c : name) c = c == '_' ? '-' : static_cast<char>(std::tolower(c));
                                      return flags.find_nothrow(name, false) ? name : std::string{};
                                    }),
              vm);
    po::notify(vm);
  } catch (const po::error& ex) {
    std::cerr << "storesync: " << ex.what() << "\n" << flags << "\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << flags << "\n";
    return 0;
  }
  auto endpoint = parse_listen(listen);
  if (!endpoint) {
    std::cerr << "storesync: " << endpoint.error().message() << "\n";
    return 2;
  }
  http.listen = endpoint.value();

  auto service = std::make_shared<server::direct_service<memory_store>>(std::make_shared<memory_store>(), "memory");
  server::http_server srv(http, std::make_shared<server::router>(service, server::auth_options{}));
  auto bound = srv.start();
  if (!bound) {
    std::cerr << "storesync: " << bound.error().message() << "\n";
    return 1;
  }
  std::cout << "storesync: serving on http://" << bound.value().address().to_string() << ":"
            << bound.value().port() << " (mode " << service->mode() << ")" << std::endl;
  srv.run_until_signal();
  std::cout << "storesync: stopped" << std::endl;
  return 0;
}
