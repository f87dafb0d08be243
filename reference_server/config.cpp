#include "reference_server/config.hpp"

#include <unistd.h>  // environ

#include <boost/program_options.hpp>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <optional>
#include <ostream>
#include <string_view>

#include "reference_server/config_file.hpp"
#include "storesync/store/redis_store.hpp"

namespace storesync::server {
namespace {

/// Largest `--durable-mapping` file read: a mapping lists columns, not data.
constexpr std::size_t max_mapping_file_size = 1024 * 1024;

namespace po = boost::program_options;

/// "host:port" -> endpoint.
result<boost::asio::ip::tcp::endpoint> parse_listen(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos)
    return error{errc::invalid_argument, "--listen wants HOST:PORT, got \"" + text + "\""};
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(text.substr(0, colon), ec);
  if (ec) return error{errc::invalid_argument, "--listen: bad address in \"" + text + "\""};
  const std::string port_text = text.substr(colon + 1);
  unsigned port = 0;
  const auto [end, perr] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (perr != std::errc{} || end != port_text.data() + port_text.size() || port > 65535)
    return error{errc::invalid_argument, "--listen: bad port in \"" + text + "\""};
  return boost::asio::ip::tcp::endpoint(address, static_cast<unsigned short>(port));
}

/// `url` in one spelling per store: one scheme for PostgreSQL, an absolute,
/// normal path for SQLite (so two spellings of one store compare equal).
std::string same_store_form(const std::string& url) {
  if (url.starts_with("postgres://")) return "postgresql://" + url.substr(std::string_view("postgres://").size());
  if (url.starts_with("sqlite:")) {
    std::error_code ec;
    const auto path = std::filesystem::weakly_canonical(url.substr(std::string_view("sqlite:").size()), ec);
    if (!ec) return "sqlite:" + path.string();
  }
  return url;
}

/// The placeholder of Boost.ProgramOptions' error messages that `text`
/// holds, if any. Boost (1.81) fills each one in until none is left, so an
/// error about a flag whose name or value holds one never ends.
std::optional<std::string_view> message_placeholder(std::string_view text) {
  for (const std::string_view p : {"%canonical_option%", "%prefix_option%", "%original_token%", "%option%", "%value%"})
    if (text.find(p) != std::string_view::npos) return p;
  return std::nullopt;
}

/// Whether `url` names a store the server opens.
bool store_url(const std::string& url) {
  return url.starts_with("sqlite:") || url.starts_with("postgresql://") || url.starts_with("postgres://");
}

}  // namespace

std::string redact_url(const std::string& url) {
  // postgresql://user:secret@host/db -> postgresql://user:***@host/db
  const auto scheme = url.find("://");
  const auto at = url.find('@', scheme == std::string::npos ? 0 : scheme + 3);
  if (scheme == std::string::npos || at == std::string::npos) return url;
  const auto colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

parsed_config parse_config(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  server_config c;
  std::string listen, durability, backpressure, mapping_file, write_back_file, journal = "file", server_id;
  std::int64_t journal_dead_after_ms = 10'000;
  std::int64_t retry_base_ms, retry_cap_ms, batch_target_ms, flush_interval_ms, write_delay_ms,
      backpressure_ms, shutdown_ms, read_timeout_ms, write_timeout_ms, reconcile_interval_s, write_back_interval_s;

  po::options_description flags(
      "storesync reference server\n"
      "Each flag also reads STORESYNC_<FLAG> (upper case, '-' as '_'), e.g. STORESYNC_DATA_DIR.\n"
      "Options");
  flags.add_options()("help", "print this help and exit")
      ("listen", po::value(&listen)->default_value("127.0.0.1:8080"), "HOST:PORT to serve on (port 0: any free port)")
      ("data-dir", po::value(&c.data_dir)->default_value(c.data_dir), "directory for the journal and the SQLite file")
      ("mode", po::value(&c.mode)->default_value(c.mode), "write-behind (acknowledge from memory + journal), direct (synchronous durable write) or dual-write (--primary, then --secondary)")
      ("durable", po::value(&c.durable), "durable store: sqlite:PATH or a postgresql:// URL (default sqlite:<data-dir>/storesync.db)")
      ("durable-mapping", po::value(&mapping_file), "JSON file mapping entries onto a typed table of your own in the durable store (see docs/server-api.md); default: storesync's JSON table")
      ("primary", po::value(&c.primary), "dual-write: the primary store, sqlite:PATH or a postgresql:// URL")
      ("secondary", po::value(&c.secondary), "dual-write: the secondary store, sqlite:PATH or a postgresql:// URL")
      ("consistency", po::value(&c.consistency)->default_value(c.consistency), "dual-write: strict (undo the primary when the secondary fails) | best-effort (record the divergence) | primary-only (record every key for repair)")
      ("reconcile-interval-s", po::value(&reconcile_interval_s)->default_value(0), "dual-write: run a check job every this many seconds; 0: never")
      ("reconcile-repair", po::bool_switch(&c.reconcile_repair), "dual-write: scheduled runs also repair what they find (the primary wins)")
      ("write-back-config", po::value(&write_back_file), "a storesync-writeback config file (docs/write-back.md): serve its runs as jobs at /v1/write-back/runs, in any mode")
      ("write-back-interval-s", po::value(&write_back_interval_s)->default_value(0), "with --write-back-config: start a run every this many seconds; 0: never")
      ("journal", po::value(&journal)->default_value(journal), "write-behind's journal: file (in --data-dir), or redis://[[user]:password@]host[:port][/db]/STREAM, a Redis stream several servers share (needs --fast redis:// and --server-id)")
      ("server-id", po::value(&server_id), "with --journal redis://: this server's name in the stream's consumer group, unique and the same across its restarts (letters, digits, ._:-)")
      ("journal-dead-after-ms", po::value(&journal_dead_after_ms)->default_value(journal_dead_after_ms), "with --journal redis://: a server silent this long is suspected, and silent as long again, dead: the others take over what it owed")
      ("journal-durability", po::value(&durability)->default_value("interval"), "process | interval | always (see docs/operations.md)")
      ("fsync-interval-ms", po::value(&c.write_behind.journal.fsync_interval_ms)->default_value(c.write_behind.journal.fsync_interval_ms), "longest gap between fsyncs in interval mode")
      ("max-pending", po::value(&c.write_behind.max_pending_entries)->default_value(c.write_behind.max_pending_entries), "acknowledged entries not yet durable, at most")
      ("max-pending-bytes", po::value(&c.write_behind.max_pending_bytes)->default_value(c.write_behind.max_pending_bytes), "memory such entries hold (values, keys and bookkeeping), at most")
      ("fast", po::value(&c.fast)->default_value(c.fast), "write-behind's fast store: memory, or redis://[[user]:password@]host[:port][/db] (a Redis that several servers share)")
      ("fast-prefix", po::value(&c.fast_prefix)->default_value(c.fast_prefix), "with a Redis fast store: the prefix of every key the server keeps there")
      ("fast-max-bytes", po::value(&c.fast_max_bytes)->default_value(c.fast_max_bytes), "bytes the memory fast store keeps of values already durable (least recently used go first; pending ones are never evicted); 0: no bound")
      ("max-json-depth", po::value(&c.write_behind.rules.max_depth)->default_value(c.write_behind.rules.max_depth), "deepest nesting of arrays and objects a value may have (400 above; at most 4096)")
      ("backpressure-timeout-ms", po::value(&backpressure_ms)->default_value(c.backpressure_timeout.count()), "how long a write waits for room before 429; 0 rejects at once")
      ("flush-interval-ms", po::value(&flush_interval_ms)->default_value(c.write_behind.flush_interval.count()), "a partial batch is flushed after this")
      ("write-delay-ms", po::value(&write_delay_ms)->default_value(c.write_behind.write_delay.count()), "coalescing window: a write waits this long before it is flushed (skipped under pressure or a flush)")
      ("batch-min", po::value(&c.batch.min_size)->default_value(c.batch.min_size), "smallest batch")
      ("batch-max", po::value(&c.batch.max_size)->default_value(c.batch.max_size), "largest batch")
      ("batch-initial", po::value(&c.batch.initial_size)->default_value(c.batch.initial_size), "first batch size")
      ("batch-target-ms", po::value(&batch_target_ms)->default_value(c.batch.target_duration.count()), "the batch sizer grows batches while they take less than this")
      ("retry-base-ms", po::value(&retry_base_ms)->default_value(c.retry.base.count()), "first retry delay bound (full jitter)")
      ("retry-cap-ms", po::value(&retry_cap_ms)->default_value(c.retry.cap.count()), "largest retry delay")
      ("retry-max-attempts", po::value(&c.retry.max_attempts)->default_value(c.retry.max_attempts), "attempts per batch before it waits for the next round")
      ("admin-token", po::value(&c.auth.admin_token), "bearer token for /v1/flush and /v1/dead-letters (default: open)")
      ("api-token", po::value(&c.auth.api_token), "bearer token for /v1/records (default: open)")
      ("io-threads", po::value(&c.http.io_threads)->default_value(c.http.io_threads), "threads doing socket I/O")
      ("workers", po::value(&c.http.worker_threads)->default_value(c.http.worker_threads), "threads running store calls")
      ("max-body-bytes", po::value(&c.http.max_body_bytes)->default_value(c.http.max_body_bytes), "largest request body (413 above)")
      ("read-timeout-ms", po::value(&read_timeout_ms)->default_value(c.http.read_timeout.count()), "a request must arrive within this; idle connections close after it")
      ("write-timeout-ms", po::value(&write_timeout_ms)->default_value(c.http.write_timeout.count()), "a client must take a response within this, or it is disconnected")
      ("max-connections", po::value(&c.http.max_connections)->default_value(c.http.max_connections), "open connections, at most; at the limit a new one closes the longest-idle one")
      ("shutdown-timeout-ms", po::value(&shutdown_ms)->default_value(c.shutdown_timeout.count()), "on SIGTERM, keep flushing write-behind this long");

  // Refused before parsing, so no error message is built around one.
  const auto placeholder_error = [&](std::string_view where, std::string_view p) -> parsed_config {
    err << "storesync: " << where << " holds \"" << p << "\", which no flag takes\n";
    return {std::nullopt, 2};
  };
  for (int i = 1; i < argc; ++i)
    if (const auto p = message_placeholder(argv[i])) return placeholder_error("argument " + std::to_string(i), *p);
  for (char** env = environ; *env; ++env) {
    const std::string_view var(*env);
    if (!var.starts_with("STORESYNC_")) continue;
    if (const auto p = message_placeholder(var)) return placeholder_error(var.substr(0, var.find('=')), *p);
  }

  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, flags), vm);
    po::store(po::parse_environment(flags,
                                    [&](const std::string& env) -> std::string {
                                      constexpr std::string_view prefix = "STORESYNC_";
                                      if (!std::string_view(env).starts_with(prefix)) return {};
                                      std::string name = env.substr(prefix.size());
                                      for (char& ch : name)
                                        ch = ch == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
                                      return name != "help" && flags.find_nothrow(name, false) ? name : std::string{};
                                    }),
              vm);
    po::notify(vm);
  } catch (const po::error& ex) {
    err << "storesync: " << ex.what() << " (see --help)\n";
    return {std::nullopt, 2};
  }
  if (vm.count("help")) {
    out << flags << "\n";
    return {std::nullopt, 0};
  }
  auto fail = [&](const std::string& message) -> parsed_config {
    err << "storesync: " << message << "\n";
    return {std::nullopt, 2};
  };
  auto endpoint = parse_listen(listen);
  if (!endpoint) return fail(endpoint.error().context());
  c.http.listen = endpoint.value();
  if (c.mode != "write-behind" && c.mode != "direct" && c.mode != "dual-write")
    return fail("--mode must be write-behind, direct or dual-write, got \"" + c.mode + "\"");
  if (c.mode == "dual-write") {
    if (c.primary.empty() || c.secondary.empty()) return fail("--mode dual-write needs --primary and --secondary");
    for (const auto& [flag, url] : {std::pair{"--primary", &c.primary}, std::pair{"--secondary", &c.secondary}})
      if (!store_url(*url))
        return fail(std::string(flag) + " must be sqlite:PATH or a postgresql:// URL, got \"" + redact_url(*url) + "\"");
    if (same_store_form(c.primary) == same_store_form(c.secondary))
      return fail("--primary and --secondary name the same store");
    if (c.consistency != "strict" && c.consistency != "best-effort" && c.consistency != "primary-only")
      return fail("--consistency must be strict, best-effort or primary-only, got \"" + c.consistency + "\"");
    if (!c.durable.empty() || !mapping_file.empty())
      return fail("--durable and --durable-mapping do not apply to dual-write (use --primary and --secondary)");
    if (reconcile_interval_s < 0 || reconcile_interval_s > 366 * 24 * 3600)
      return fail("--reconcile-interval-s must be 0 (never) to 31622400 (a year)");
    c.reconcile_interval = std::chrono::seconds(reconcile_interval_s);
  } else {
    for (const char* flag : {"primary", "secondary", "consistency", "reconcile-interval-s"})
      if (vm.count(flag) && !vm[flag].defaulted())
        return fail("--" + std::string(flag) + " applies to --mode dual-write only");
    if (c.reconcile_repair) return fail("--reconcile-repair applies to --mode dual-write only");
  }
  if (c.fast != "memory") {
    if (c.mode != "write-behind") return fail("--fast applies to --mode write-behind only");
    if (auto ok = redis_store::check({.url = c.fast, .prefix = c.fast_prefix}); !ok)
      return fail("--fast must be memory or a redis:// URL, and --fast-prefix 1 to 256 bytes: " + ok.error().context());
    if (vm.count("fast-max-bytes") && !vm["fast-max-bytes"].defaulted())
      return fail("--fast-max-bytes applies to the memory fast store only (Redis bounds its own memory: maxmemory)");
  } else if (vm.count("fast-prefix") && !vm["fast-prefix"].defaulted()) {
    return fail("--fast-prefix applies to a Redis fast store (--fast redis://...) only");
  }
  if (journal != "file") {
    // redis://[[user]:password@]host[:port][/db]/STREAM: the stream is the
    // last path segment, the rest is the Redis URL.
    constexpr std::string_view scheme = "redis://";
    const std::string_view j(journal);
    const auto path = j.starts_with(scheme) ? j.find('/', scheme.size()) : std::string_view::npos;
    const auto last = j.rfind('/');
    if (path == std::string_view::npos || last + 1 == j.size())
      return fail("--journal must be file or redis://[[user]:password@]host[:port][/db]/STREAM, got \"" +
                  redact_url(journal) + "\"");
    if (c.mode != "write-behind") return fail("--journal applies to --mode write-behind only");
    if (c.fast == "memory")
      return fail("--journal redis:// needs --fast redis://: the servers sharing the stream must share the fast store");
    redis_stream_journal_options o;
    o.url = std::string(last == path ? j.substr(0, path) : j.substr(0, last));
    o.stream = std::string(j.substr(last + 1));
    o.consumer = server_id;
    o.dead_after = std::chrono::milliseconds(journal_dead_after_ms);
    if (server_id.empty()) return fail("--journal redis:// needs --server-id (unique, and the same across restarts)");
    if (journal_dead_after_ms < 100 || journal_dead_after_ms > 86'400'000)
      return fail("--journal-dead-after-ms must be 100 to 86400000 (a day)");
    if (auto ok = redis_stream_journal::check(o); !ok) return fail("--journal: " + ok.error().context());
    for (const char* flag : {"journal-durability", "fsync-interval-ms"})
      if (vm.count(flag) && !vm[flag].defaulted())
        return fail("--" + std::string(flag) +
                    " applies to the file journal only (a Redis stream is as durable as Redis's appendfsync)");
    // Marked alive four times per dead_after, so a live server is never
    // taken for dead between two marks.
    c.write_behind.take_over_interval = std::min(std::chrono::milliseconds(1000), o.dead_after / 4);
    c.journal_stream = std::move(o);
  } else {
    for (const char* flag : {"server-id", "journal-dead-after-ms"})
      if (vm.count(flag) && !vm[flag].defaulted())
        return fail("--" + std::string(flag) + " applies to --journal redis:// only");
  }
  if (!write_back_file.empty()) {
    auto loaded = load_write_back_config(write_back_file);
    if (!loaded) return fail("--write-back-config: " + loaded.error().context());
    c.write_back = std::move(loaded).value();
  }
  if (write_back_interval_s < 0 || write_back_interval_s > 366 * 24 * 3600)
    return fail("--write-back-interval-s must be 0 (never) to 31622400 (a year)");
  if (write_back_interval_s > 0 && !c.write_back) return fail("--write-back-interval-s needs --write-back-config");
  c.write_back_interval = std::chrono::seconds(write_back_interval_s);
  auto d = parse_durability(durability);
  if (!d) return fail("--journal-durability: " + d.error().context());
  c.write_behind.journal.durability = d.value();
  if (c.durable.empty()) c.durable = "sqlite:" + (std::filesystem::path(c.data_dir) / "storesync.db").string();
  if (!store_url(c.durable))
    return fail("--durable must be sqlite:PATH or a postgresql:// URL, got \"" + redact_url(c.durable) + "\"");
  if (!mapping_file.empty()) {
    auto read = read_config_file(mapping_file, max_mapping_file_size);
    if (!read) return fail("--durable-mapping \"" + mapping_file + "\": " + read.error().context());
    const std::string& text = read.value();
    // Checked first by storesync's own scanner, which never recurses: a
    // mapping nests a few levels, and a deeper file is refused before
    // nlohmann (whose dump recurses) holds it.
    if (auto ok = validate_value(mapping_file, text, {.max_depth = 32}); !ok)
      return fail("--durable-mapping: " + ok.error().context());
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {  // e.g. a number beyond a double's range
      return fail("--durable-mapping: \"" + mapping_file + "\": " + e.what());
    }
    auto typed = parse_typed_table(j);
    if (!typed) return fail("--durable-mapping \"" + mapping_file + "\": " + typed.error().context());
    c.durable_mapping = std::move(typed).value();
    if (c.durable.starts_with("sqlite:") && !c.durable_mapping->schema.empty())
      return fail("--durable-mapping \"" + mapping_file + "\": \"schema\" applies to PostgreSQL; SQLite has none");
  }
  if (backpressure_ms < 0 || write_delay_ms < 0 || flush_interval_ms <= 0 || batch_target_ms <= 0 || retry_base_ms <= 0 ||
      retry_cap_ms < retry_base_ms || shutdown_ms < 0 || read_timeout_ms <= 0 || write_timeout_ms <= 0)
    return fail("durations must be positive (and --retry-cap-ms >= --retry-base-ms)");
  if (c.write_behind.max_pending_entries == 0 || c.write_behind.max_pending_bytes == 0)
    return fail("--max-pending and --max-pending-bytes must be positive");
  if (c.http.worker_threads == 0 || c.http.io_threads == 0 || c.http.max_connections == 0)
    return fail("--workers, --io-threads and --max-connections must be positive");
  if (c.write_behind.rules.max_depth == 0 || c.write_behind.rules.max_depth > max_supported_depth)
    return fail("--max-json-depth must be 1 to " + std::to_string(max_supported_depth));
  if (auto ok = c.batch.validate(); !ok) return fail(ok.error().context().empty() ? ok.error().message() : ok.error().context());
  c.backpressure_timeout = std::chrono::milliseconds(backpressure_ms);
  c.write_behind.flush_interval = std::chrono::milliseconds(flush_interval_ms);
  c.write_behind.write_delay = std::chrono::milliseconds(write_delay_ms);
  c.write_behind.directory = (std::filesystem::path(c.data_dir) / "write-behind").string();
  c.batch.target_duration = std::chrono::milliseconds(batch_target_ms);
  c.retry.base = std::chrono::milliseconds(retry_base_ms);
  c.retry.cap = std::chrono::milliseconds(retry_cap_ms);
  c.shutdown_timeout = std::chrono::milliseconds(shutdown_ms);
  c.http.read_timeout = std::chrono::milliseconds(read_timeout_ms);
  c.http.write_timeout = std::chrono::milliseconds(write_timeout_ms);
  return {std::move(c), 0};
}

}  // namespace storesync::server
