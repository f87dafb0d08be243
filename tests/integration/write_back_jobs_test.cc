// The reference server's write-back routes over a real DuckDB source and a
// real SQLite sink: a run as a job (202 + Location, progress, report), 409
// while one runs, cancel and resume, the run log, status and metrics,
// tokens, and hostile request bodies.
#include "reference_server/write_back_jobs.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "reference_server/direct_service.hpp"
#include "reference_server/router.hpp"
#include "storesync/store/sqlite_store.hpp"
#include "tests/router_reply.hpp"
#include "tests/write_back_testing.hpp"

namespace {

using namespace storesync;
using namespace storesync::server;
using storesync::server::test::reply;
using storesync::server::test::send;
using storesync::testing::duck;
using json = nlohmann::json;

// A record service for the router (the write-back routes do not use it).
std::shared_ptr<record_service> records_at(const std::string& path) {
  auto store = sqlite_store::open({.path = path});
  EXPECT_TRUE(store) << store.error().message();
  auto service = direct_service<sqlite_store>::open(std::make_shared<sqlite_store>(std::move(store).value()), "sqlite",
                                                    value_rules{});
  EXPECT_TRUE(service) << service.error().message();
  return std::shared_ptr<record_service>(std::move(service).value());
}

struct site {
  std::string dir = storesync::testing::temp_dir() + "/" + storesync::testing::unique_pg_name("wbjobs");
  std::shared_ptr<write_back_jobs> jobs;
  std::unique_ptr<router> r;

  explicit site(int rows, std::string token = {}) {
    std::filesystem::create_directories(dir);
    duck(dir + "/a.duckdb", "CREATE TABLE scores AS SELECT i AS id, 'n' || i AS name,"
                            " TIMESTAMP '2026-05-01' + to_seconds(i) AS updated_at FROM range(" +
                                std::to_string(rows) + ") t(i)");
    auto cfg = parse_write_back_config(R"({"source": "duckdb:)" + dir + R"(/a.duckdb", "sink": "sqlite:)" + dir +
                                       R"(/app.db", "batch": {"initial_size": 500, "max_size": 500},
        "stages": [{"name": "scores", "source": {"table": "scores", "key": ["id"], "version": "updated_at"},
                    "sink": {"table": "scores"}}]})");
    EXPECT_TRUE(cfg) << cfg.error().message();
    jobs = std::make_shared<write_back_jobs>(cfg.value());
    r = std::make_unique<router>(records_at(dir + "/records.db"), auth_options{.admin_token = std::move(token)}, jobs);
  }

  reply get(const std::string& target) { return send(*r, http::verb::get, target); }
  reply post(const std::string& body) { return send(*r, http::verb::post, "/v1/write-back/runs", body); }

  // Polls a job until it ends (no clock: a job that never ends is the
  // test's timeout).
  json finished(const std::string& location) {
    for (;;) {
      const reply g = get(location);
      EXPECT_EQ(g.status, 200u) << g.body;
      const json j = g.parsed();
      if (j.value("state", "") != "running") return j;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  std::int64_t sink_rows() {
    auto s = sqlite_store::open({.path = dir + "/app.db", .table = "scores"});
    return static_cast<std::int64_t>(s.value().scan({}, {}, 10'000'000).value().size());
  }
};

TEST(WriteBackJobs, ARunIsAJobWithProgressAndAReportAndTheRunLogListsIt) {
  site s(3000);
  const reply started = s.post(R"({})");
  ASSERT_EQ(started.status, 202u) << started.body;
  EXPECT_EQ(started.location, "/v1/write-back/runs/" + started.parsed()["id"].get<std::string>());
  const json done = s.finished(started.location);
  EXPECT_EQ(done["state"], "done") << done.dump();
  EXPECT_EQ(done["report"]["status"], "succeeded");
  EXPECT_EQ(done["report"]["stages"][0]["written"], 3000);
  EXPECT_EQ(done["progress"]["read"], 3000);
  EXPECT_EQ(done["progress"]["total"], 3000);
  EXPECT_EQ(s.sink_rows(), 3000);

  // A dry run of one named stage: nothing new to read.
  const reply dry = s.post(R"({"dry_run": true, "stages": ["scores"]})");
  ASSERT_EQ(dry.status, 202u) << dry.body;
  EXPECT_EQ(s.finished(dry.location)["report"]["stages"][0]["read"], 0);

  const reply listed = s.get("/v1/write-back/runs?limit=5");
  ASSERT_EQ(listed.status, 200u) << listed.body;
  const json runs = listed.parsed()["runs"];
  ASSERT_EQ(runs.size(), 1u);  // a dry run is not recorded
  EXPECT_EQ(runs[0]["run"], done["report"]["run"]);
  EXPECT_EQ(s.get("/v1/write-back/runs?limit=5&before=" + runs[0]["run"].get<std::string>()).parsed()["runs"].size(), 0u);

  const json status = s.get("/v1/status").parsed();
  EXPECT_EQ(status["write_back"]["last_run"]["status"], "succeeded");
  EXPECT_EQ(status["write_back"]["last_run"]["stages"][0]["lag"], 0);
  const std::string metrics = s.get("/metrics").body;
  EXPECT_NE(metrics.find(R"(storesync_write_back_jobs_total{operation="run",state="done"} 1)"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find(R"(storesync_write_back_watermark_lag{stage="scores"} 0)"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find(R"(storesync_write_back_last_rows{outcome="written",stage="scores"} 3000)"),
            std::string::npos)
      << metrics;
}

TEST(WriteBackJobs, OneRunAtATimeACancelStopsAfterABatchAndTheNextRunResumes) {
  site s(200'000);
  const reply first = s.post("");
  ASSERT_EQ(first.status, 202u) << first.body;
  const reply second = s.post("");
  EXPECT_EQ(second.status, 409u) << second.body;
  EXPECT_NE(second.error_message().find("DELETE /v1/write-back/runs/"), std::string::npos) << second.body;
  // Wait for some progress, then cancel.
  while (s.get(first.location).parsed()["progress"].value("read", 0) == 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  const reply cancel = send(*s.r, http::verb::delete_, first.location);
  EXPECT_TRUE(cancel.status == 202u || cancel.status == 409u) << cancel.body;
  const json cut = s.finished(first.location);
  if (cancel.status == 202u) {
    EXPECT_EQ(cut["state"], "cancelled") << cut.dump();
    EXPECT_EQ(cut["report"]["status"], "interrupted");
  }
  const auto landed = s.sink_rows();
  EXPECT_EQ(landed, cut["report"]["stages"][0]["written"].get<std::int64_t>());
  const reply rest = s.post("");
  ASSERT_EQ(rest.status, 202u) << rest.body;
  const json done = s.finished(rest.location);
  EXPECT_EQ(done["report"]["stages"][0]["written"].get<std::int64_t>(), 200'000 - landed);
  EXPECT_EQ(s.sink_rows(), 200'000);
}

TEST(WriteBackJobs, HostileBodiesAndQueriesAre400AndChangeNothing) {
  site s(10);
  for (const std::string& body :
       {std::string(100'000, '['), std::string("{\"dry_run\": \xff}"), std::string("{\"stages\": [\"\\u0000\"]}"),
        std::string(70'000, ' ') + "{}", std::string("{\"dry_run\": 1}"), std::string("{\"stages\": \"scores\"}"),
        std::string("{\"stages\": [\"nope\"]}"), std::string("{\"stages\": [\"scores\", \"scores\"]}"),
        std::string("{\"stages\": [1e400]}"), std::string("{\"other\": true}"), std::string("{\"dry_run\": tr"),
        std::string("[]"), std::string("\"x\"")}) {
    const reply r = s.post(body);
    EXPECT_EQ(r.status, 400u) << body.substr(0, 40) << ": " << r.body;
    EXPECT_EQ(r.error_code(), "invalid_input") << r.body;
  }
  EXPECT_EQ(send(*s.r, http::verb::post, "/v1/write-back/runs", "{}", "text/plain").status, 415u);
  for (const char* q : {"?limit=0", "?limit=1001", "?limit=abc", "?before=yesterday", "?before=%zz"})
    EXPECT_EQ(s.get(std::string("/v1/write-back/runs") + q).status, 400u) << q;
  EXPECT_EQ(s.get("/v1/write-back/runs/999").status, 404u);
  EXPECT_EQ(send(*s.r, http::verb::put, "/v1/write-back/runs").status, 405u);
  EXPECT_EQ(s.get("/v1/write-back/runs").parsed()["runs"].size(), 0u);
  EXPECT_EQ(s.sink_rows(), 0);
}

TEST(WriteBackJobs, TheAdminTokenGuardsTheRoutesAndWithoutAConfigThereAreNone) {
  site s(10, "secret");
  EXPECT_EQ(s.post("{}").status, 401u);
  EXPECT_EQ(s.get("/v1/write-back/runs").status, 401u);
  // A method the route never takes is 405 with or without the token, as on
  // every other route.
  for (const char* target : {"/v1/write-back/runs", "/v1/write-back/runs/1"}) {
    const reply r = send(*s.r, http::verb::put, target);
    EXPECT_EQ(r.status, 405u) << target << ": " << r.body;
    EXPECT_EQ(r.allow, std::string(target).ends_with("runs") ? "GET, HEAD, POST" : "GET, HEAD, DELETE") << target;
  }
  const reply ok = send(*s.r, http::verb::post, "/v1/write-back/runs", "{}", "application/json", "Bearer secret");
  EXPECT_EQ(ok.status, 202u) << ok.body;
  (void)send(*s.r, http::verb::get, ok.location, {}, {}, "Bearer secret");

  router without(records_at(s.dir + "/other.db"), {});
  const reply none = send(without, http::verb::post, "/v1/write-back/runs", "{}");
  EXPECT_EQ(none.status, 404u);
  EXPECT_NE(none.error_message().find("--write-back-config"), std::string::npos) << none.body;
}

}  // namespace
