// storesync-writeback: lands what changed in DuckDB (or SQLite, PostgreSQL)
// in PostgreSQL (or SQLite, DuckDB), incrementally, resumably.
//
//   storesync-writeback --config writeback.json
//   storesync-writeback --config writeback.json --dry-run
//   storesync-writeback --config writeback.json --dbt-run-results target/run_results.json
//
// Flags override the config file, and STORESYNC_* variables fill in flags
// not given (--help lists them). Progress goes to stderr: a bar on a
// terminal, one JSON line per batch otherwise. The run's report is printed
// to stdout as one JSON object.
//
// Exit status: 0 everything landed (or nothing was due), 3 partial (some
// entries went to dead letters), 4 interrupted (SIGINT/SIGTERM; a re-run
// resumes; a second signal leaves at once with 130), 1 failed (a store
// unreachable, a stage failed, an unexpected exception), 2 a bad
// configuration or flag.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "reference_server/dbt_run_results.hpp"
#include "reference_server/write_back_config.hpp"
#include "reference_server/write_back_runner.hpp"

using namespace storesync;
using namespace storesync::server;
namespace po = boost::program_options;

namespace {

enum exit_code : int { ok = 0, failed = 1, usage = 2, partial = 3, interrupted = 4 };

std::atomic<bool> stop_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void on_signal(int) {
  // The first signal finishes the batch in flight (it commits or not, as a
  // whole); a second one leaves at once, which is as safe: a batch and its
  // watermark commit together or not at all.
  if (stop_requested.exchange(true)) _exit(130);
}

std::string with_commas(std::uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

struct progress_printer {
  bool bar = false;
  bool json = false;
  std::string last_stage;

  void batch(const write_back_report& run, const write_back_stage_report& s, std::optional<std::uint64_t> total) {
    if (json) {
      nlohmann::ordered_json line = {{"event", "batch"}};
      line.update(batch_progress_json(run, s, total));
      std::cerr << line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n' << std::flush;
      return;
    }
    if (!bar) return;
    if (!last_stage.empty() && last_stage != s.stage) std::cerr << '\n';
    last_stage = s.stage;
    std::string text = "\r" + s.stage + "  " + with_commas(s.counts.read);
    if (total) text += " / " + with_commas(*total);
    text += " rows  " + with_commas(static_cast<std::uint64_t>(s.rows_per_second())) + " rows/s";
    if (total && *total > s.counts.read && s.rows_per_second() > 0) {
      const auto left = static_cast<std::uint64_t>(static_cast<double>(*total - s.counts.read) / s.rows_per_second());
      text += "  ETA " + std::to_string(left / 60) + ":" + (left % 60 < 10 ? "0" : "") + std::to_string(left % 60);
    }
    text += "  written " + with_commas(s.counts.applied) + "  dead letters " + with_commas(s.counts.dead_lettered) +
            "   ";
    std::cerr << text << std::flush;
  }
  void done() {
    if (bar && !last_stage.empty()) std::cerr << '\n';
  }
};

// The value of flag `name`, else of variable `env`, else nothing.
std::optional<std::string> flag_or_env(const po::variables_map& vm, const char* name, const char* env) {
  if (vm.count(name)) return vm[name].as<std::string>();
  if (const char* v = std::getenv(env); v != nullptr && *v != '\0') return std::string(v);
  return std::nullopt;
}

int usage_error(const std::string& message) {
  std::cerr << "storesync-writeback: " << message << "\n(see --help)\n";
  return usage;
}

}  // namespace

int run_cli(int argc, char** argv);

int main(int argc, char** argv) {
  try {
    return run_cli(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "storesync-writeback: unexpected error: " << e.what() << '\n';
    return failed;
  }
}

int run_cli(int argc, char** argv) {
  po::options_description flags("storesync-writeback flags (each STORESYNC_* variable is used when its flag is not given)");
  flags.add_options()
      ("help", "show this help")
      ("config", po::value<std::string>(), "the write-back config file, JSON (STORESYNC_WRITEBACK_CONFIG); see docs/write-back.md")
      ("source", po::value<std::string>(), "override the config's source: duckdb:PATH, sqlite:PATH, jsonl:DIR or postgresql://... (STORESYNC_SOURCE)")
      ("sink", po::value<std::string>(), "override the config's sink: postgresql://..., sqlite:PATH, duckdb:PATH or jsonl:DIR (STORESYNC_SINK)")
      ("batch-size", po::value<std::string>(), "first batch size; batches adapt from there up to the config's max_size (STORESYNC_BATCH_SIZE)")
      ("stage", po::value<std::vector<std::string>>(), "run only this stage (repeat for several)")
      ("dry-run", "read and judge everything, write nothing; the report says what would be written")
      ("dbt-run-results", po::value<std::string>(), "run only the stages whose dbt model succeeded in this run_results.json (STORESYNC_DBT_RUN_RESULTS)")
      ("progress", po::value<std::string>()->default_value("auto"), "auto (a bar on a terminal, JSON lines otherwise), bar, json or none");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, flags), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    return usage_error(e.what());
  }
  if (vm.count("help")) {
    std::cout << flags << "\nExit status: 0 done, 3 partial (dead letters), 4 interrupted (re-run resumes), "
                          "1 failed, 2 bad configuration.\n";
    return ok;
  }

  const auto config_path = flag_or_env(vm, "config", "STORESYNC_WRITEBACK_CONFIG");
  if (!config_path) return usage_error("--config is required");
  auto loaded = load_write_back_config(*config_path);
  if (!loaded) return usage_error(loaded.error().context());
  write_back_config config = std::move(loaded).value();
  for (auto [name, env, out] : {std::tuple{"source", "STORESYNC_SOURCE", &config.source},
                                std::tuple{"sink", "STORESYNC_SINK", &config.sink}}) {
    if (const auto v = flag_or_env(vm, name, env)) {
      auto e = parse_endpoint(*v, std::string("--") + name);
      if (!e) return usage_error(e.error().context());
      if (e.value().type != out->type)
        return usage_error(std::string("--") + name + ": the config's stages are written for another kind of " + name +
                           "; give one of the same kind (" + *v + " is not)");
      *out = std::move(e).value();
    }
  }
  if (const auto v = flag_or_env(vm, "batch-size", "STORESYNC_BATCH_SIZE")) {
    std::size_t n = 0;
    std::size_t used = 0;
    try {
      n = std::stoul(*v, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != v->size() || n == 0 || v->starts_with('-')) return usage_error("--batch-size: \"" + *v + "\" is not a positive number");
    config.batch.initial_size = n;
    config.batch.max_size = std::max(config.batch.max_size, n);
  }
  std::optional<dbt_run_results> dbt;
  if (const auto path = flag_or_env(vm, "dbt-run-results", "STORESYNC_DBT_RUN_RESULTS")) {
    auto parsed = load_dbt_run_results(*path);
    if (!parsed) return usage_error("--dbt-run-results: " + parsed.error().message());
    dbt = std::move(parsed).value();
  }

  progress_printer progress;
  const std::string mode = vm["progress"].as<std::string>();
  if (mode == "auto") (isatty(STDERR_FILENO) ? progress.bar : progress.json) = true;
  else if (mode == "bar") progress.bar = true;
  else if (mode == "json") progress.json = true;
  else if (mode != "none") return usage_error("--progress: \"" + mode + "\" is not auto, bar, json or none");

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  write_back_request request;
  request.dry_run = vm.count("dry-run") > 0;
  if (vm.count("stage")) request.only = vm["stage"].as<std::vector<std::string>>();
  request.dbt = dbt ? &*dbt : nullptr;
  request.stop = &stop_requested;
  request.on_batch = [&](const write_back_report& r, const write_back_stage_report& s, std::optional<std::uint64_t> total) {
    progress.batch(r, s, total);
  };

  auto outcome = run_write_back(config, request);
  progress.done();
  if (!outcome) {
    if (outcome.error() == errc::invalid_argument) return usage_error(outcome.error().message());
    std::cerr << "storesync-writeback: " << outcome.error().message() << '\n';
    return failed;
  }
  const write_back_outcome& o = outcome.value();
  // Every stage skipped: no run, nothing to report but why.
  nlohmann::ordered_json out =
      o.report.run_id.empty()
          ? nlohmann::ordered_json{{"run", nullptr}, {"status", "succeeded"}, {"stages", nlohmann::ordered_json::array()}}
          : nlohmann::ordered_json::parse(report_json(o.report));
  nlohmann::ordered_json skipped = nlohmann::ordered_json::array();
  for (const auto& [stage, why] : o.skipped) skipped.push_back({{"stage", stage}, {"why", why}});
  out["skipped"] = std::move(skipped);
  if (o.report.log_failure) out["run_log_error"] = o.report.log_failure->message();
  std::cout << out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << std::endl;
  if (o.report.run_id.empty()) return ok;  // every stage was skipped
  switch (o.report.status()) {
    case write_back_status::succeeded: return ok;
    case write_back_status::partial: return partial;
    case write_back_status::interrupted: return interrupted;
    case write_back_status::failed: return failed;
  }
  return failed;
}
