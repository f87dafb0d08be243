// storesync reference server: one process that shows a full deployment.
//
//   reference_server                                   # write-behind: memory + journal -> SQLite
//   reference_server --durable postgresql://app@db/app # ... -> PostgreSQL
//   reference_server --mode direct                     # every write straight to the durable store
//
// `--help` lists every flag; docs/server-api.md describes the routes.
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "reference_server/config.hpp"
#include "reference_server/direct_service.hpp"
#include "reference_server/http_server.hpp"
#include "reference_server/write_behind_service.hpp"
#include "storesync/store/postgres_store.hpp"
#include "storesync/store/sqlite_store.hpp"

using namespace storesync;
using namespace storesync::server;

namespace {

/// Something the server can stop cleanly once HTTP is drained.
using stop_hook = std::function<void()>;

template <store Durable>
result<std::shared_ptr<record_service>> make_service(const server_config& c, Durable durable,
                                                     std::string name, stop_hook& on_stop,
                                                     std::shared_ptr<metrics_registry> metrics) {
  if (c.mode == "direct")
    return std::shared_ptr<record_service>(
        std::make_shared<direct_service<Durable>>(std::make_shared<Durable>(std::move(durable)), std::move(name)));
  BOOST_OUTCOME_TRY(auto wb, write_behind_service<Durable>::open(
                                 std::move(durable), std::move(name), c.write_behind, exponential_backoff(c.retry),
                                 aimd_batch_sizer(c.batch), block_for(c.backpressure_timeout), std::move(metrics)));
  std::shared_ptr<write_behind_service<Durable>> shared(std::move(wb));
  on_stop = [shared, timeout = c.shutdown_timeout] {
    const flush_report f = shared->stop(timeout);
    std::cout << "storesync: write-behind stopped, " << (f.complete ? "everything flushed" : "flush incomplete")
              << " (" << f.remaining << " entries stay in the journal)" << std::endl;
  };
  return std::shared_ptr<record_service>(shared);
}

result<std::shared_ptr<record_service>> open_service(const server_config& c, stop_hook& on_stop) {
  std::error_code ec;
  std::filesystem::create_directories(c.data_dir, ec);
  if (ec) return error{ec, "cannot create --data-dir \"" + c.data_dir + "\""};
  auto metrics = std::make_shared<metrics_registry>();
  if (c.durable.starts_with("sqlite:")) {
    sqlite_options o;
    o.path = c.durable.substr(std::string_view("sqlite:").size());
    BOOST_OUTCOME_TRY(auto db, sqlite_store::open(o));
    return make_service(c, std::move(db), "sqlite", on_stop, metrics);
  }
  postgres_config pg;
  pg.url = c.durable;
  pg.application_name = "storesync-reference-server";
  BOOST_OUTCOME_TRY(auto db, postgres_store::open(pg));
  return make_service(c, std::move(db), "postgresql", on_stop, metrics);
}

}  // namespace

int main(int argc, char** argv) {
  auto parsed = parse_config(argc, argv, std::cout, std::cerr);
  if (!parsed.config) return parsed.exit_code;
  const server_config& c = *parsed.config;

  stop_hook on_stop;
  auto service = open_service(c, on_stop);
  if (!service) {
    std::cerr << "storesync: " << service.error().message() << std::endl;
    return 1;
  }
  http_server srv(c.http, std::make_shared<router>(service.value(), c.auth));
  auto bound = srv.start();
  if (!bound) {
    std::cerr << "storesync: " << bound.error().message() << std::endl;
    return 1;
  }
  std::cout << "storesync: serving on http://" << bound.value().address().to_string() << ":"
            << bound.value().port() << " (mode " << c.mode << ", durable " << redact_url(c.durable)
            << ", data dir " << c.data_dir << ")" << std::endl;
  srv.run_until_signal();
  if (on_stop) on_stop();
  std::cout << "storesync: stopped" << std::endl;
  return 0;
}
