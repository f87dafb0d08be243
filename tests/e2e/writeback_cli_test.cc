// storesync-writeback as a user runs it: the real binary, a real DuckDB file
// and a real PostgreSQL. Killed with SIGKILL at several batches and re-run,
// it ends with the same table as a clean run, and its run log shows each
// resume; SIGTERM finishes the batch in flight; exit codes, progress lines,
// --dry-run, dbt gating, overrides and bad configurations.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/write_back_testing.hpp"

namespace {

using namespace storesync::testing;
using json = nlohmann::json;

std::string cli_path() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  return std::string(srcdir ? srcdir : ".") + "/storesync/reference_server/storesync-writeback";
}

struct cli_result {
  /// The exit status, or -signal when killed.
  int status = 0;
  std::string out;
  std::vector<std::string> err_lines;

  json report() const {
    try {
      return json::parse(out);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "stdout is not one JSON object: " << out << " (" << e.what() << ")";
      return json::object();
    }
  }
  std::string err() const {
    std::string all;
    for (const auto& l : err_lines) all += l + "\n";
    return all;
  }
};

// Runs the CLI with `args` and `env` (NAME=value) added; `on_line` sees each
// stderr line and returns a signal to send (0: none). Never times out by the
// clock: a hung CLI hangs the test, which Bazel's timeout reports.
cli_result run_cli(const std::vector<std::string>& args, const std::vector<std::string>& env = {},
                   const std::function<int(const std::string&)>& on_line = {}) {
  int out_pipe[2], err_pipe[2];
  if (pipe(out_pipe) != 0 || pipe(err_pipe) != 0) throw std::runtime_error("pipe");
  // posix_spawn, not fork: a fork runs the atfork handlers of the libraries
  // loaded here (DuckDB's allocator locks every arena, more mutexes than
  // ThreadSanitizer can track), and a forked child of a threaded process
  // may only call async-signal-safe functions before exec.
  const std::string path = cli_path();
  std::vector<char*> argv{const_cast<char*>(path.c_str())};
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (char** e = environ; *e; ++e) {
    const std::string_view name(*e, std::string_view(*e).find('='));
    const bool replaced = std::any_of(env.begin(), env.end(), [&](const std::string& x) {
      return x.compare(0, name.size() + 1, std::string(name) + "=") == 0;
    });
    if (!replaced) envp.push_back(*e);
  }
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  for (const int fd : {out_pipe[0], err_pipe[0], out_pipe[1], err_pipe[1]}) posix_spawn_file_actions_addclose(&actions, fd);
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, path.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) throw std::runtime_error("posix_spawn " + path + ": " + std::strerror(spawned));
  close(out_pipe[1]);
  close(err_pipe[1]);
  cli_result r;
  std::string partial;
  bool out_open = true, err_open = true, signalled = false;
  while (out_open || err_open) {
    pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) continue;
    char buf[4096];
    if (out_open && (fds[0].revents & (POLLIN | POLLHUP))) {
      const ssize_t n = read(out_pipe[0], buf, sizeof buf);
      if (n <= 0) out_open = false;
      else r.out.append(buf, static_cast<std::size_t>(n));
    }
    if (err_open && (fds[1].revents & (POLLIN | POLLHUP))) {
      const ssize_t n = read(err_pipe[0], buf, sizeof buf);
      if (n <= 0) {
        err_open = false;
        continue;
      }
      partial.append(buf, static_cast<std::size_t>(n));
      for (std::size_t nl; (nl = partial.find('\n')) != std::string::npos;) {
        r.err_lines.push_back(partial.substr(0, nl));
        partial.erase(0, nl + 1);
        if (on_line && !signalled) {
          if (const int sig = on_line(r.err_lines.back())) {
            kill(pid, sig);
            signalled = sig == SIGKILL;
          }
        }
      }
    }
  }
  if (!partial.empty()) r.err_lines.push_back(partial);
  close(out_pipe[0]);
  close(err_pipe[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  return r;
}

// Counts JSON batch lines and asks for `sig` after the `n`-th.
std::function<int(const std::string&)> after_batches(int n, int sig) {
  return [n, sig, seen = 0](const std::string& line) mutable {
    if (line.find(R"("event":"batch")") == std::string::npos) return 0;
    return ++seen == n ? sig : 0;
  };
}

struct workspace {
  pg_tables pg;
  std::string dir = temp_dir() + "/" + unique_pg_name("cli");
  std::string duck_path = dir + "/analytics.duckdb";
  workspace() { std::filesystem::create_directories(dir); }

  std::string write(const std::string& name, const std::string& text) const {
    const std::string path = dir + "/" + name;
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

  // A config landing DuckDB table `memories` in PostgreSQL table `table`.
  std::string config(const std::string& table, const std::string& runs, std::size_t batch = 0,
                     const std::string& sink = "") const {
    std::string s = R"({"source": "duckdb:)" + duck_path + R"(", "sink": ")" + (sink.empty() ? test_pg_url() : sink) +
                    R"(", "runs_table": ")" + pg.name(runs) + R"(", "dead_letters_table": ")" + pg.name(runs + "_dead") +
                    R"(",)";
    if (batch) {
      const std::string b = std::to_string(batch);
      s += R"("batch": {"min_size": )" + b + R"(, "max_size": )" + b + R"(, "initial_size": )" + b + "},";
    }
    s += R"("stages": [{"name": "memories",
        "source": {"table": "memories", "key": ["id"], "version": "updated_at"},
        "sink": {"table": ")" + pg.name(table) + R"(", "key": [{"column": "id", "type": "bigint"}],
                 "version": {"column": "updated_at", "type": "timestamptz"},
                 "fields": [{"field": "category", "type": "text"}, {"field": "strength", "type": "numeric"},
                            {"field": "created_at", "type": "timestamptz"}, {"field": "content", "type": "text"}]},
        "checks": {"required": ["content"], "not_before": [["updated_at", "created_at"]]}}]})";
    return s;
  }

  void memories(int rows) const {
    duck(duck_path, "CREATE TABLE memories AS SELECT i AS id, ['work','home','travel','misc'][1 + i % 4] AS category,"
                    " CAST((i % 997) / 1000.0 AS DECIMAL(6,3)) AS strength,"
                    " TIMESTAMP '2026-01-01' + to_seconds(i // 3) AS created_at,"
                    " TIMESTAMP '2026-01-01 06:00:00' + to_seconds(i // 3) AS updated_at,"
                    " 'memory ' || i AS content FROM range(" + std::to_string(rows) + ") t(i)");
  }

  // What a table holds, as one digest of its rows in key order.
  std::string digest(const std::string& table) const {
    return pg_value("SELECT count(*) || ':' || md5(string_agg(concat_ws('|', id, category, strength, created_at,"
                    " updated_at, content), ',' ORDER BY id)) FROM public." + pg.name(table));
  }
};

TEST(WritebackCli, KilledAtSeveralBatchesItEndsEqualToACleanRunAndTheRunLogShowsEachResume) {
  workspace w;
  w.memories(60'000);  // 3 rows per version: ties span batch boundaries
  const std::string clean = w.write("clean.json", w.config("clean", "clean_runs", 500));
  const auto reference = run_cli({"--config", clean, "--progress", "none"});
  ASSERT_EQ(reference.status, 0) << reference.err() << reference.out;

  const std::string crashed = w.write("crashed.json", w.config("crashed", "crashed_runs", 500));
  std::mt19937 rng(20261203);
  std::vector<std::string> killed_runs;
  for (int kill = 0; kill < 3; ++kill) {
    const int at = std::uniform_int_distribution<int>(2, 35)(rng);
    const auto r = run_cli({"--config", crashed, "--progress", "json"}, {}, after_batches(at, SIGKILL));
    ASSERT_EQ(r.status, -SIGKILL) << "kill " << kill << " after batch " << at << ": " << r.err();
    // The run's id, from its progress lines.
    const auto first = json::parse(r.err_lines.front());
    killed_runs.push_back(first["run"]);
    const auto rows = pg_count("SELECT count(*) FROM public." + w.pg.name("crashed"));
    EXPECT_GT(rows, 0);
    EXPECT_LT(rows, 60'000);
  }
  const auto last = run_cli({"--config", crashed, "--progress", "none"});
  ASSERT_EQ(last.status, 0) << last.err() << last.out;
  EXPECT_EQ(w.digest("crashed"), w.digest("clean"));
  EXPECT_EQ(pg_count("SELECT count(*) FROM public." + w.pg.name("crashed")), 60'000);

  // Each killed run stays "running"; each later run says which one it resumes.
  const auto runs = w.pg.name("crashed_runs");
  for (std::size_t i = 0; i < killed_runs.size(); ++i) {
    EXPECT_EQ(pg_value("SELECT value->>'status' FROM public." + runs + " WHERE value->>'run' = '" + killed_runs[i] + "'"),
              "running");
    const std::string next = i + 1 < killed_runs.size() ? killed_runs[i + 1] : std::string(last.report()["run"]);
    EXPECT_EQ(pg_value("SELECT value->>'resumes' FROM public." + runs + " WHERE value->>'run' = '" + next + "'"),
              killed_runs[i]);
  }
  EXPECT_EQ(last.report()["status"], "succeeded");
}

TEST(WritebackCli, SigtermFinishesTheBatchInFlightAndAReRunResumes) {
  workspace w;
  w.memories(20'000);
  const std::string cfg = w.write("c.json", w.config("m", "runs", 1000));
  const auto cut = run_cli({"--config", cfg, "--progress", "json"}, {}, after_batches(3, SIGTERM));
  ASSERT_EQ(cut.status, 4) << cut.err();
  const json r = cut.report();
  EXPECT_EQ(r["status"], "interrupted");
  const auto written = r["stages"][0]["written"].get<std::int64_t>();
  EXPECT_GE(written, 3000);
  EXPECT_LT(written, 20'000);
  EXPECT_EQ(pg_count("SELECT count(*) FROM public." + w.pg.name("m")), written);

  const auto rest = run_cli({"--config", cfg, "--progress", "none"});
  ASSERT_EQ(rest.status, 0) << rest.err();
  EXPECT_EQ(rest.report()["stages"][0]["written"].get<std::int64_t>(), 20'000 - written);
  EXPECT_EQ(pg_count("SELECT count(*) FROM public." + w.pg.name("m")), 20'000);
}

TEST(WritebackCli, ExitCodesProgressDryRunAndOverrides) {
  workspace w;
  w.memories(3000);
  // Bad rows: updated before created, and no content.
  duck(w.duck_path, "INSERT INTO memories VALUES (90001, 'x', 0.1, TIMESTAMP '2027-01-01', TIMESTAMP '2026-06-01', 'bad'),"
                    " (90002, 'x', 0.1, TIMESTAMP '2026-01-01', TIMESTAMP '2026-06-01', '')");
  const std::string cfg = w.write("c.json", w.config("m", "runs", 700));

  // --dry-run: the report says what would be written; no row is.
  const auto dry = run_cli({"--config", cfg, "--dry-run", "--progress", "none"});
  ASSERT_EQ(dry.status, 3) << dry.err();
  EXPECT_EQ(dry.report()["dry_run"], true);
  EXPECT_EQ(dry.report()["stages"][0]["written"], 3000);
  EXPECT_EQ(pg_count("SELECT count(*) FROM public." + w.pg.name("m")), 0);
  EXPECT_EQ(pg_count("SELECT count(*) FROM public." + w.pg.name("runs")), 0);

  // The sink from the environment overrides the config's (unreachable) one.
  const std::string elsewhere = w.write("e.json", w.config("m", "runs", 700, "postgresql://127.0.0.1:1/nowhere"));
  const auto run = run_cli({"--config", elsewhere, "--progress", "json"}, {"STORESYNC_SINK=" + test_pg_url()});
  ASSERT_EQ(run.status, 3) << run.err();  // partial: two dead letters
  const json report = run.report();
  EXPECT_EQ(report["status"], "partial");
  EXPECT_EQ(report["stages"][0]["written"], 3000);
  EXPECT_EQ(report["stages"][0]["dead_lettered"], 2);
  EXPECT_EQ(pg_count("SELECT count(*) FROM public." + w.pg.name("runs_dead")), 2);
  // One JSON line per batch, each with the run's id and the total to read.
  int batches = 0;
  for (const auto& line : run.err_lines) {
    const json l = json::parse(line);
    EXPECT_EQ(l["run"], report["run"]);
    EXPECT_EQ(l["total"], 3002);
    ++batches;
  }
  EXPECT_EQ(batches, 5);

  // A flag beats the environment: the unreachable sink fails the run.
  const auto down = run_cli({"--config", cfg, "--sink", "postgresql://127.0.0.1:1/nowhere", "--progress", "none"},
                            {"STORESYNC_SINK=" + test_pg_url()});
  EXPECT_EQ(down.status, 1) << down.err();
  EXPECT_NE(down.err().find("127.0.0.1"), std::string::npos) << down.err();

  // Nothing new: success, nothing written; a progress bar on request.
  const auto again = run_cli({"--config", cfg, "--progress", "bar"});
  EXPECT_EQ(again.status, 0) << again.err();
  EXPECT_EQ(again.report()["stages"][0]["read"], 0);

  const auto help = run_cli({"--help"});
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("--dbt-run-results"), std::string::npos);
}

TEST(WritebackCli, ADbtRunWithAFailedModelRunsOnlyTheOtherStages) {
  workspace w;
  w.memories(500);
  duck(w.duck_path, "CREATE TABLE others AS SELECT * FROM memories");
  std::string cfg = w.config("m", "runs");
  // A second stage, mapped to dbt model "others".
  const std::string stage_two = R"(,{"name": "others", "source": {"table": "others", "key": ["id"], "version": "updated_at"},
      "sink": {"table": ")" + w.pg.name("o") + R"(", "key": [{"column": "id", "type": "bigint"}],
               "version": {"column": "updated_at", "type": "timestamptz"},
               "fields": [{"field": "category", "type": "text"}, {"field": "strength", "type": "numeric"},
                          {"field": "created_at", "type": "timestamptz"}, {"field": "content", "type": "text"}]}}]})";
  cfg.replace(cfg.size() - 2, 2, stage_two);
  const std::string path = w.write("c.json", cfg);
  const std::string results = w.write("run_results.json", R"({
    "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json", "dbt_version": "1.8.7"},
    "results": [
      {"unique_id": "model.analytics.memories", "status": "error", "message": "Database Error: relation does not exist"},
      {"unique_id": "model.analytics.others", "status": "success", "message": "OK"},
      {"unique_id": "test.analytics.not_null_memories_id.5c9bf9911d", "status": "fail", "message": null}],
    "elapsed_time": 3.2, "args": {}})");
  const auto r = run_cli({"--config", path, "--dbt-run-results", results, "--progress", "none"});
  ASSERT_EQ(r.status, 0) << r.err() << r.out;
  const json report = r.report();
  ASSERT_EQ(report["stages"].size(), 1u);
  EXPECT_EQ(report["stages"][0]["stage"], "others");
  EXPECT_EQ(report["stages"][0]["written"], 500);
  ASSERT_EQ(report["skipped"].size(), 1u);
  EXPECT_EQ(report["skipped"][0]["stage"], "memories");
  EXPECT_NE(report["skipped"][0]["why"].get<std::string>().find("\"error\": Database Error"), std::string::npos)
      << report["skipped"][0]["why"];
  EXPECT_EQ(pg_count("SELECT count(*) FROM pg_tables WHERE tablename = '" + w.pg.name("m") + "'"), 0);
}

TEST(WritebackCli, ABadConfigIsExitTwoNamesTheFieldAndTouchesNothing) {
  workspace w;
  w.memories(10);
  std::string cfg = w.config("m", "runs");
  cfg.replace(cfg.find(R"("type": "numeric")"), 17, R"("type": "decimal")");
  const auto r = run_cli({"--config", w.write("bad.json", cfg)});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err().find("stages[0].sink"), std::string::npos) << r.err();
  EXPECT_NE(r.err().find("decimal"), std::string::npos) << r.err();
  EXPECT_TRUE(r.out.empty());
  EXPECT_EQ(pg_count("SELECT count(*) FROM pg_tables WHERE tablename LIKE '" + w.pg.prefix + "%'"), 0);

  std::string deep(100'000, '[');
  for (const std::string& hostile : {deep, std::string("{\"source\": \"duckdb:\xff\"}"), std::string("{\"sour"),
                                     std::string(2 * 1024 * 1024, ' ') + "{}", std::string("{\"batch\": 1e400}")}) {
    const auto h = run_cli({"--config", w.write("hostile.json", hostile)});
    EXPECT_EQ(h.status, 2) << h.err();
    EXPECT_NE(h.err().find("write-back config"), std::string::npos) << h.err();
  }
  EXPECT_EQ(run_cli({"--config", w.dir + "/missing.json"}).status, 2);
  EXPECT_EQ(run_cli({}).status, 2);
  EXPECT_EQ(run_cli({"--config", w.write("ok.json", w.config("m", "runs")), "--batch-size", "-3"}).status, 2);
  EXPECT_EQ(run_cli({"--config", w.write("ok.json", w.config("m", "runs")), "--stage", "nope"}).status, 2);
  EXPECT_EQ(pg_count("SELECT count(*) FROM pg_tables WHERE tablename LIKE '" + w.pg.prefix + "%'"), 0);
}

// DuckDB -> a JSON Lines directory -> SQLite, both through the CLI: the
// export is whole segments, and the second leg resumes by byte offset.
TEST(WritebackCli, JsonLinesAsSinkAndSource) {
  workspace w;
  w.memories(2500);
  const std::string out = w.dir + "/export";
  const std::string to_files = w.write("to_files.json", R"({"source": "duckdb:)" + w.duck_path + R"(", "sink": "jsonl:)" +
                                                           out + R"(", "batch": {"initial_size": 1000, "max_size": 1000},
      "stages": [{"name": "memories", "source": {"table": "memories", "key": ["id"], "version": "updated_at"},
                  "sink": {"table": "memories"}}]})");
  const auto first = run_cli({"--config", to_files, "--progress", "none"});
  ASSERT_EQ(first.status, 0) << first.err();
  EXPECT_EQ(first.report()["stages"][0]["written"], 2500);
  std::size_t segments = 0;
  for (const auto& f : std::filesystem::directory_iterator(out + "/memories")) {
    if (f.path().filename() == ".storesync.lock") continue;  // the writer's lock
    EXPECT_TRUE(f.path().string().ends_with(".jsonl")) << f.path();
    ++segments;
  }
  EXPECT_EQ(segments, 3u);

  const std::string from_files = w.write("from_files.json", R"({"source": "jsonl:)" + out + R"(", "sink": "sqlite:)" +
                                                               w.dir + R"(/copy.db",
      "stages": [{"name": "copy", "source": {"table": "memories"}, "sink": {"table": "memories"}}]})");
  const auto copied = run_cli({"--config", from_files, "--progress", "none"});
  ASSERT_EQ(copied.status, 0) << copied.err();
  EXPECT_EQ(copied.report()["stages"][0]["written"], 2500);
  const auto again = run_cli({"--config", from_files, "--progress", "none"});
  EXPECT_EQ(again.report()["stages"][0]["read"], 0);
  // A typed mapping makes no sense for a directory of lines: refused up front.
  std::string typed = w.config("m", "runs");
  typed.replace(typed.find(R"("sink": ")"), 9 + test_pg_url().size() + 1, R"("sink": "jsonl:)" + out + R"(")");
  const auto refused = run_cli({"--config", w.write("typed.json", typed)});
  EXPECT_EQ(refused.status, 2) << refused.err();
  EXPECT_NE(refused.err().find("takes no typed mapping"), std::string::npos) << refused.err();
}

}  // namespace
