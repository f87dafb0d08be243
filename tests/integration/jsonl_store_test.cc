// JSON Lines as a write-back sink and source: the version guard and
// checkpoints of jsonl_store, a writer killed with SIGKILL mid-batch (no
// partial segment is ever visible), tampered segments, and jsonl_source's
// byte-offset watermark and hostile lines.
#include "storesync/store/jsonl_store.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "storesync/store/memory_store.hpp"
#include "storesync/strategy/write_back.hpp"
#include "tests/child_process.hpp"

namespace {

using namespace storesync;
namespace fs = std::filesystem;

std::string fresh_dir(const std::string& stem) {
  static int n = 0;
  const char* t = std::getenv("TEST_TMPDIR");
  const std::string dir = std::string(t ? t : "/tmp") + "/" + stem + "." + std::to_string(::getpid()) + "." +
                          std::to_string(n++);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void put_file(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

// The segments (and leftovers of segments) of a jsonl_store directory.
std::vector<std::string> segment_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& f : fs::directory_iterator(dir))
    if (f.path().filename().string().starts_with("segment-")) out.push_back(f.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(JsonlStore, TheVersionGuardCheckpointsAndReopeningAgree) {
  const std::string dir = fresh_dir("jsonl");
  {
    auto s = jsonl_store::open({.directory = dir});
    ASSERT_TRUE(s) << s.error().message();
    auto& st = s.value();
    const std::vector<entry> first{entry::put("a", R"({"n":1})", 5), entry::put("b", R"([1,2])", 5),
                                   entry::put("a", R"({"n":2})", 6)};
    auto r = st.write_with_checkpoint(first, {"write_back/x", "v1:6:1:a"});
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r.value().applied, 3u);
    EXPECT_EQ(st.read("a").value()->value, R"({"n":2})");
    // Same version: unchanged; older: stale; neither writes a segment.
    const std::vector<entry> again{entry::put("a", R"({"n":9})", 6), entry::put("b", R"("old")", 4)};
    r = st.write(again);
    EXPECT_EQ(r.value().unchanged, 1u);
    EXPECT_EQ(r.value().stale, 1u);
    EXPECT_EQ(st.segments(), 1u);
    ASSERT_TRUE(st.write(std::vector<entry>{entry::erase("b", 7)}));
    EXPECT_TRUE(st.read("b").value()->tombstone);
    // A checkpoint alone still commits (a batch whose entries were all skipped).
    ASSERT_TRUE(st.write_with_checkpoint({}, {"write_back/x", "v1:9:1:z"}));
    EXPECT_EQ(st.segments(), 3u);
    const std::vector<std::string_view> keys{"a", "b", "nope"};
    const auto meta = st.lookup(keys).value();
    EXPECT_EQ(meta[0]->version, 6);
    EXPECT_TRUE(meta[1]->tombstone);
    EXPECT_FALSE(meta[2]);
  }
  auto reopened = jsonl_store::open({.directory = dir});
  ASSERT_TRUE(reopened) << reopened.error().message();
  EXPECT_EQ(reopened.value().read("a").value()->value, R"({"n":2})");
  EXPECT_EQ(reopened.value().read("a").value()->hash, hash_content(R"({"n":2})"));
  EXPECT_TRUE(reopened.value().read("b").value()->tombstone);
  EXPECT_EQ(reopened.value().load_checkpoint("write_back/x").value(), "v1:9:1:z");
  // Every segment is whole JSON Lines another tool can read.
  for (const auto& name : segment_files(dir)) {
    std::ifstream in(dir + "/" + name);
    for (std::string line; std::getline(in, line);) EXPECT_FALSE(detail::scan_json(line, {64, false, false})) << line;
  }
  // Invalid input changes nothing.
  EXPECT_FALSE(reopened.value().write(std::vector<entry>{entry::put("c", "{bad", 1)}));
  EXPECT_EQ(reopened.value().segments(), 3u);
}

TEST(JsonlStore, ATamperedSegmentFailsOpenNamingTheFileAndByte) {
  const std::string dir = fresh_dir("tamper");
  {
    auto s = jsonl_store::open({.directory = dir});
    ASSERT_TRUE(s.value().write(std::vector<entry>{entry::put("a", "1", 1), entry::put("b", "2", 1)}));
  }
  const std::string seg = dir + "/" + segment_files(dir).front();
  const std::string whole = [&] {
    std::ifstream in(seg);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }();
  for (const std::string& bad : {whole.substr(0, whole.size() - 5), whole + "{\"key\":\"c\"}\n",
                                 whole + std::string(100'000, '[') + "\n", whole + "{\"key\":\"\xff\",\"version\":1}\n",
                                 whole + "{\"key\":\"c\",\"value\":1}\n"}) {
    put_file(seg, bad);
    auto s = jsonl_store::open({.directory = dir});
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error(), errc::corrupt);
    EXPECT_NE(s.error().message().find(seg), std::string::npos) << s.error().message();
  }
  // A leftover temporary file (a write cut short) is removed, not read.
  put_file(seg, whole);
  put_file(seg + ".tmp", "{\"key\":\"half");
  auto s = jsonl_store::open({.directory = dir});
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_FALSE(fs::exists(seg + ".tmp"));
  EXPECT_FALSE(s.value().read("half").value());
}

// The rows the killed writer loads: 5,000 keys, seven to a version.
std::vector<entry> rows_to_load() {
  std::vector<entry> all;
  for (int i = 0; i < 5000; ++i)
    all.push_back(entry::put("k" + std::to_string(100000 + i), R"({"i":)" + std::to_string(i) + R"(,"pad":")" +
                                                                  std::string(200, 'x') + "\"}",
                             1 + i / 7));
  return all;
}

// Runs write-back of `rows_to_load()` from memory into `sink` in batches of
// 50, calling `after_batch` after each.
result<write_back_report> load_into(jsonl_store& sink, std::function<void()> after_batch) {
  using strategy = write_back<memory_store, jsonl_store, memory_store, no_retry, fixed_batch_sizer>;
  memory_store source, runs, letters;
  const std::vector<entry> all = rows_to_load();
  if (auto w = source.write(all); !w) return w.error();
  strategy wb(runs, letters, {.on_batch = [&](const auto&, const auto&) { after_batch(); }}, {},
              fixed_batch_sizer{50});
  std::vector<strategy::stage> stages{{.name = "dump", .source = source, .sink = sink}};
  return wb.run(stages);
}

// The child: loads into the jsonl_store directory given, one byte reported
// per batch written.
STORESYNC_TEST_CHILD(load_until_killed) {
  if (args.size() != 1) return 1;
  auto sink = jsonl_store::open({.directory = args[0]});
  if (!sink) return 3;
  return load_into(sink.value(), [] { (void)!::write(storesync::testing::report_fd, "b", 1); }) ? 0 : 4;
}

// A child runs write-back from memory into JSONL; the parent kills it with
// SIGKILL right after batch N (so mostly inside batch N+1's write), reopens
// the directory and checks that what it sees is whole and agrees with the
// checkpoint, at several seeded kill points; then finishes the run.
TEST(JsonlStore, AWriterKilledMidBatchNeverLeavesAPartialSegmentVisible) {
  const std::string dir = fresh_dir("killed");
  const std::vector<entry> all = rows_to_load();
  std::mt19937 rng(7);
  for (int round = 0; round < 4; ++round) {
    storesync::testing::child_process child("load_until_killed", {dir});
    ASSERT_TRUE(child.started());
    const int at = std::uniform_int_distribution<int>(1, 12)(rng);
    int seen = 0;
    char c;
    while (seen < at && ::read(child.reports(), &c, 1) == 1) ++seen;
    child.kill();
    ASSERT_TRUE(child.killed_by_sigkill()) << "the child finished before kill point " << at;

    auto sink = jsonl_store::open({.directory = dir});
    ASSERT_TRUE(sink) << "after kill " << round << ": " << sink.error().message();
    for (const auto& name : segment_files(dir)) EXPECT_FALSE(name.ends_with(".tmp")) << name;
    auto saved = sink.value().load_checkpoint("write_back/dump");
    ASSERT_TRUE(saved && saved.value());
    const watermark mark = decode_watermark(*saved.value()).value();
    // Everything up to the checkpoint is there, at its version.
    for (const entry& e : all) {
      if (watermark{e.version, e.key} > mark) continue;
      const auto got = sink.value().read(e.key);
      ASSERT_TRUE(got && got.value()) << e.key << " missing under checkpoint " << *saved.value();
      EXPECT_EQ(got.value()->version, e.version);
    }
  }
  auto sink = jsonl_store::open({.directory = dir});
  ASSERT_TRUE(sink);
  auto done = load_into(sink.value(), [] {});
  ASSERT_TRUE(done);
  EXPECT_EQ(done.value().status(), write_back_status::succeeded);
  for (const entry& e : all) EXPECT_EQ(sink.value().read(e.key).value()->value, e.value) << e.key;
}

TEST(JsonlSource, ReadsFilesInOrderWithAByteOffsetWatermark) {
  const std::string dir = fresh_dir("source");
  put_file(dir + "/2026-01-01.jsonl", "{\"key\":\"a\",\"value\":{\"n\":1}}\n\n{\"key\":\"b\",\"value\":[1]}\n");
  put_file(dir + "/2026-01-02.jsonl",
           "{\"checkpoint\":{\"name\":\"x\",\"value\":\"y\"}}\n{\"key\":\"a\",\"deleted\":true}\n{\"key\":\"c\",\"val");
  put_file(dir + "/ignored.txt", "not jsonl\n");
  auto src = jsonl_source::open({.directory = dir});
  ASSERT_TRUE(src) << src.error().message();
  auto first = src.value().changes_after({}, 2);
  ASSERT_TRUE(first) << first.error().message();
  ASSERT_EQ(first.value().size(), 2u);
  EXPECT_EQ(first.value()[0].key, "a");
  EXPECT_EQ(first.value()[0].version, (version_type{1} << 40) | 28);  // just past its line
  EXPECT_EQ(first.value()[0].hash, hash_content(R"({"n":1})"));
  const watermark mark{first.value()[1].version, first.value()[1].key};
  auto rest = src.value().changes_after(mark, 10);
  ASSERT_TRUE(rest);
  ASSERT_EQ(rest.value().size(), 1u);  // the unfinished line is not read
  EXPECT_TRUE(rest.value()[0].tombstone);
  EXPECT_EQ(rest.value()[0].version >> 40, 2);
  // The writer finishes its line: now it is read, after the watermark.
  std::ofstream(dir + "/2026-01-02.jsonl", std::ios::app) << "ue\":3}\n";
  auto grown = src.value().changes_after({rest.value()[0].version, "a"}, 10);
  ASSERT_TRUE(grown);
  ASSERT_EQ(grown.value().size(), 1u);
  EXPECT_EQ(grown.value()[0].value, "3");
}

TEST(JsonlSource, AHostileLineFailsTheReadNamingTheFileAndByte) {
  const std::string good = "{\"key\":\"a\",\"value\":1}\n";
  const std::vector<std::string> hostile{
      "{\"key\":\"a\",\"value\":NaN}\n",          std::string(100'000, '[') + "\n",
      "{\"key\":\"\xff\xfe\",\"value\":1}\n",      "{\"key\":\"a\"}\n",
      "{\"key\":\"a\",\"value\":1,\"extra\":2}\n", "[1,2]\n",
      "{\"key\":\"a\",\"value\":\"\\u0000\"}\n",   "{\"key\":\"a\",\"value\":1,\"deleted\":true}\n",
      "{\"key\":\"a\",\"va\n",                     std::string(300, 'x') + "\n"};
  for (const std::string& line : hostile) {
    const std::string dir = fresh_dir("hostile");
    put_file(dir + "/a.jsonl", good + line);
    auto src = jsonl_source::open({.directory = dir, .max_line = 256});
    ASSERT_TRUE(src);
    auto got = src.value().changes_after({}, 10);
    ASSERT_FALSE(got) << line.substr(0, 60);
    EXPECT_EQ(got.error(), errc::corrupt);
    EXPECT_NE(got.error().message().find("a.jsonl at byte " + std::to_string(good.size())), std::string::npos)
        << got.error().message();
    // What came before the bad line can still be read.
    auto before = src.value().changes_after({}, 1);
    ASSERT_TRUE(before) << before.error().message();
    EXPECT_EQ(before.value().size(), 1u);
  }
  EXPECT_FALSE(jsonl_source::open({.directory = "/no/such/dir"}));
}

// JSONL in, a store out, and back: write-back with the byte-offset
// watermark resumes after the last line it committed.
TEST(JsonlSource, WriteBackResumesAfterTheLastCommittedLine) {
  const std::string dir = fresh_dir("wb");
  std::string text;
  for (int i = 0; i < 300; ++i) text += "{\"key\":\"k" + std::to_string(i) + "\",\"value\":" + std::to_string(i) + "}\n";
  put_file(dir + "/000001.jsonl", text);
  auto src = jsonl_source::open({.directory = dir});
  ASSERT_TRUE(src);
  memory_store sink, runs, letters;
  write_back<jsonl_source, memory_store, memory_store, no_retry, fixed_batch_sizer> wb(runs, letters, {}, {},
                                                                                      fixed_batch_sizer{64});
  std::vector<decltype(wb)::stage> stages{{.name = "lines", .source = src.value(), .sink = sink}};
  EXPECT_EQ(wb.run(stages).value().stages[0].counts.applied, 300u);
  EXPECT_EQ(wb.run(stages).value().stages[0].counts.read, 0u);
  put_file(dir + "/000002.jsonl", "{\"key\":\"k7\",\"value\":\"seven\"}\n");
  const auto third = wb.run(stages).value();
  EXPECT_EQ(third.stages[0].counts.read, 1u);
  EXPECT_EQ(third.stages[0].counts.applied, 1u);
  EXPECT_EQ(sink.read("k7").value()->value, "\"seven\"");
}

TEST(JsonlStore, OneWriterPerDirectoryAndNoRawLineBreaks) {
  const std::string dir = fresh_dir("one");
  auto first = jsonl_store::open({.directory = dir});
  ASSERT_TRUE(first);
  auto second = jsonl_store::open({.directory = dir});
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error(), errc::busy);
  const entry pretty = entry::put("p", "{\n  \"a\": 1\n}", 1);
  ASSERT_TRUE(validate(pretty));  // valid JSON ...
  EXPECT_FALSE(first.value().admits(pretty));  // ... but not one line
  EXPECT_FALSE(first.value().write(std::vector<entry>{pretty}));
  EXPECT_EQ(first.value().segments(), 0u);
}

TEST(JsonlSource, AnEarlierFilesLastLineNeedsNoNewlineAndAPositionInsideALineMovesOn) {
  const std::string dir = fresh_dir("edges");
  put_file(dir + "/1.jsonl", "{\"key\":\"a\",\"value\":1}\n{\"key\":\"b\",\"value\":2}");
  put_file(dir + "/2.jsonl", "{\"key\":\"c\",\"value\":3}\n");
  auto src = jsonl_source::open({.directory = dir});
  ASSERT_TRUE(src);
  auto all = src.value().changes_after({}, 10);
  ASSERT_TRUE(all) << all.error().message();
  ASSERT_EQ(all.value().size(), 3u);
  EXPECT_EQ(all.value()[1].key, "b");
  EXPECT_EQ(src.value().changes_after({all.value()[1].version, "b"}, 10).value().size(), 1u);
  // A position before any file's, and one inside a line, as a watermark
  // moved back would give.
  EXPECT_EQ(src.value().changes_after({12345, ""}, 10).value().size(), 3u);
  auto inside = src.value().changes_after({(version_type{1} << 40) | 5, ""}, 10);
  ASSERT_TRUE(inside) << inside.error().message();
  ASSERT_EQ(inside.value().size(), 2u);
  EXPECT_EQ(inside.value()[0].key, "b");
}

}  // namespace
