// storesync reference server: one process that shows a full deployment.
//
//   reference_server                                   # write-behind: memory + journal -> SQLite
//   reference_server --durable postgresql://app@db/app # ... -> PostgreSQL
//   reference_server --fast redis://cache:6379/0       # ... a Redis fast store several servers share
//   reference_server --fast redis://cache:6379/0 --journal redis://cache:6379/0/wb --server-id a
//                                                      # ... and one journal stream: survivors take over
//   reference_server --mode direct                     # every write straight to the durable store
//   reference_server --mode dual-write --primary postgresql://app@db/app --secondary sqlite:/var/lib/app/copy.db
//
// `--help` lists every flag; docs/server-api.md describes the routes.
#include <filesystem>
#include <functional>
#include <optional>
#include <iostream>
#include <memory>
#include <string>

#include "reference_server/config.hpp"
#include "reference_server/direct_service.hpp"
#include "reference_server/dual_write_service.hpp"
#include "reference_server/event_log.hpp"
#include "reference_server/http_server.hpp"
#include "reference_server/write_behind_service.hpp"
#include "storesync/store/postgres_store.hpp"
#include "storesync/store/redis_store.hpp"
#include "storesync/store/redis_stream_journal.hpp"
#include "storesync/store/sqlite_store.hpp"

using namespace storesync;
using namespace storesync::server;

namespace {

/// Something the server stops once HTTP is drained; false if it could not
/// stop cleanly (the exit status then says so).
using stop_hook = std::function<bool()>;

/// Opens the durable store. Write-behind starts while it is unreachable (it
/// connects when the store is back); any other failure to open it (a table of
/// the wrong shape, a bad path), and direct mode without it, stop the server.
template <versioned_store Durable>
result<std::shared_ptr<record_service>> make_service(const server_config& c,
                                                     std::function<result<Durable>()> open_durable,
                                                     typename deferred_store<Durable>::admission admits,
                                                     std::string name, stop_hook& on_stop,
                                                     std::shared_ptr<metrics_registry> metrics) {
  auto first = open_durable();
  if (!first && c.mode == "direct")
    return error{first.error().code(), "direct mode needs the durable store (" + name +
                                           ") at start-up: " + first.error().message()};
  if (!first && first.error() != condition::unavailable) return first.error();
  if (c.mode == "direct") {
    BOOST_OUTCOME_TRY(auto direct, direct_service<Durable>::open(std::make_shared<Durable>(std::move(first).value()),
                                                                 std::move(name), c.write_behind.rules));
    return std::shared_ptr<record_service>(std::move(direct));
  }
  if (!first)
    std::cout << "storesync: " << name << " is unreachable (" << first.error().message()
              << "); starting anyway, writes are journalled until it is back" << std::endl;
  // The store opened above is handed over on first use; later opens retry.
  auto opened = std::make_shared<std::optional<Durable>>();
  if (first) opened->emplace(std::move(first).value());
  auto opener = [opened, open_durable = std::move(open_durable)]() -> result<Durable> {
    if (*opened) {
      Durable d = std::move(**opened);
      opened->reset();
      return d;
    }
    return open_durable();
  };
  // State changes (store down and up, backpressure, dead letters) are
  // logged as JSON lines.
  write_behind_options options = c.write_behind;
  options.on_event = [log = std::make_shared<event_log>(std::cout, name)](const write_behind_event& e) { (*log)(e); };
  auto start = [&]<class Fast, class Journal = file_journal>(
                   std::unique_ptr<Fast> fast, std::string fast_name,
                   std::optional<typename write_behind_service<Durable, Fast, Journal>::journals> journals =
                       std::nullopt) -> result<std::shared_ptr<record_service>> {
    BOOST_OUTCOME_TRY(auto wb, (write_behind_service<Durable, Fast, Journal>::open(
                                   std::move(opener), std::move(admits), std::move(name), std::move(fast),
                                   std::move(fast_name), std::move(options), exponential_backoff(c.retry),
                                   aimd_batch_sizer(c.batch), block_for(c.backpressure_timeout), std::move(metrics),
                                   std::move(journals))));
    std::shared_ptr<write_behind_service<Durable, Fast, Journal>> shared(std::move(wb));
    on_stop = [shared, timeout = c.shutdown_timeout] {
      const auto stopped = shared->stop(timeout);
      if (!stopped) {
        std::cerr << "storesync: write-behind stopped, but " << stopped.error().message() << std::endl;
        return false;
      }
      const flush_report& f = stopped.value();
      std::cout << "storesync: write-behind stopped, " << (f.complete ? "everything flushed" : "flush incomplete")
                << " (" << f.remaining << " entries stay in the journal)" << std::endl;
      return true;
    };
    return std::shared_ptr<record_service>(shared);
  };
  if (c.fast == "memory")
    return start(std::make_unique<memory_store>(memory_store_options{.max_bytes = c.fast_max_bytes}),
                 std::string("memory"));
  // A Redis fast store must answer at start-up: the journal's replay goes into it.
  auto fast = redis_store::open({.url = c.fast, .prefix = c.fast_prefix});
  if (!fast) return error{fast.error().code(), "--fast (" + redact_url(c.fast) + "): " + fast.error().message()};
  if (!c.journal_stream) return start(std::make_unique<redis_store>(std::move(fast).value()), std::string("redis"));
  // A shared journal: the stream, and its dead letters beside it.
  const auto open_stream = [&](std::string suffix) {
    redis_stream_journal_options o = *c.journal_stream;
    o.stream += suffix;
    auto j = redis_stream_journal::open(o);
    if (!j)
      return result<redis_stream_journal>(
          error{j.error().code(), "--journal (" + redact_url(o.url) + "/" + o.stream + "): " + j.error().message()});
    return j;
  };
  BOOST_OUTCOME_TRY(auto log, open_stream(""));
  BOOST_OUTCOME_TRY(auto letters, open_stream(":dead-letters"));
  using shared_service = write_behind_service<Durable, redis_store, redis_stream_journal>;
  return start.template operator()<redis_store, redis_stream_journal>(
      std::make_unique<redis_store>(std::move(fast).value()), std::string("redis"),
      typename shared_service::journals{std::move(log), std::move(letters)});
}

/// Opens the store `url` names (`flag` says which, for errors) and passes it
/// to `then` with the store's name.
template <class Then>
result<std::shared_ptr<record_service>> with_store(const std::string& url, std::string_view flag, Then&& then) {
  auto failed = [&](const error& e) {
    return error{e.code(), std::string(flag) + " (" + redact_url(url) + "): " + e.message()};
  };
  if (url.starts_with("sqlite:")) {
    sqlite_options o;
    o.path = url.substr(std::string_view("sqlite:").size());
    auto s = sqlite_store::open(o);
    if (!s) return failed(s.error());
    return then(std::make_unique<sqlite_store>(std::move(s).value()), std::string("sqlite"));
  }
  postgres_config pg;
  pg.url = url;
  pg.application_name = "storesync-reference-server";
  auto s = postgres_store::open(pg);
  if (!s) return failed(s.error());
  return then(std::make_unique<postgres_store>(std::move(s).value()), std::string("postgresql"));
}

/// Dual-write: both stores must answer at start-up, where the intents left
/// open are repaired.
result<std::shared_ptr<record_service>> open_dual_write(const server_config& c) {
  dual_write_setup setup{.directory = (std::filesystem::path(c.data_dir) / "dual-write").string(),
                         .intents = c.write_behind.journal,
                         .consistency = *named_consistency::parse(c.consistency),
                         .door = c.write_behind.rules,
                         .retry = exponential_backoff(c.retry),
                         .reconcile_interval = c.reconcile_interval,
                         .scheduled_repair = c.reconcile_repair};
  return with_store(c.primary, "--primary", [&](auto primary, std::string primary_name) {
    return with_store(c.secondary, "--secondary",
                      [&](auto secondary, std::string secondary_name) -> result<std::shared_ptr<record_service>> {
                        using service = dual_write_service<typename decltype(primary)::element_type,
                                                           typename decltype(secondary)::element_type>;
                        BOOST_OUTCOME_TRY(auto s, service::open(std::move(primary), std::move(primary_name),
                                                                std::move(secondary), std::move(secondary_name),
                                                                setup));
                        return std::shared_ptr<record_service>(std::move(s));
                      });
  });
}

result<std::shared_ptr<record_service>> open_service(const server_config& c, stop_hook& on_stop) {
  std::error_code ec;
  std::filesystem::create_directories(c.data_dir, ec);
  if (ec) return error{ec, "cannot create --data-dir \"" + c.data_dir + "\""};
  if (c.mode == "dual-write") return open_dual_write(c);
  auto metrics = std::make_shared<metrics_registry>();
  // A typed durable table refuses at the door what it cannot hold, also
  // while the durable store is still being opened.
  std::function<result<void>(const entry&)> admits;
  if (c.durable_mapping)
    admits = [m = c.durable_mapping->mapping](const entry& e) { return check_entry(m, e); };
  if (c.durable.starts_with("sqlite:")) {
    sqlite_options o;
    o.path = c.durable.substr(std::string_view("sqlite:").size());
    if (c.durable_mapping) {
      o.table = c.durable_mapping->table;
      o.mapping = c.durable_mapping->mapping;
    }
    return make_service<sqlite_store>(c, [o] { return sqlite_store::open(o); }, std::move(admits), "sqlite",
                                      on_stop, metrics);
  }
  postgres_config pg;
  pg.url = c.durable;
  pg.application_name = "storesync-reference-server";
  if (c.durable_mapping) {
    if (!c.durable_mapping->schema.empty()) pg.schema = c.durable_mapping->schema;
    pg.table = c.durable_mapping->table;
    pg.mapping = c.durable_mapping->mapping;
  }
  return make_service<postgres_store>(c, [pg] { return postgres_store::open(pg); }, std::move(admits),
                                      "postgresql", on_stop, metrics);
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
  std::shared_ptr<write_back_jobs> write_back;
  if (c.write_back) {
    write_back = std::make_shared<write_back_jobs>(*c.write_back);
    write_back->schedule(c.write_back_interval);
  }
  http_server srv(c.http, std::make_shared<router>(service.value(), c.auth, write_back));
  auto bound = srv.start();
  if (!bound) {
    std::cerr << "storesync: " << bound.error().message() << std::endl;
    return 1;
  }
  if (srv.max_connections() < c.http.max_connections)
    std::cout << "storesync: --max-connections lowered to " << srv.max_connections()
              << ": the file descriptor limit (ulimit -n) allows no more" << std::endl;
  std::cout << "storesync: serving on http://" << bound.value().address().to_string() << ":"
            << bound.value().port() << " (mode " << c.mode
            << (c.mode == "dual-write" ? ", primary " + redact_url(c.primary) + ", secondary " + redact_url(c.secondary) +
                                             ", consistency " + c.consistency
                                       : ", durable " + redact_url(c.durable))
            << ", data dir " << c.data_dir << (write_back ? ", write-back at /v1/write-back/runs" : "") << ")"
            << std::endl;
  srv.run_until_signal();
  const bool clean = !on_stop || on_stop();
  std::cout << "storesync: stopped" << std::endl;
  return clean ? 0 : 1;
}
