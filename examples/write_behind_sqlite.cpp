// Write-behind over SQLite, end to end: a capped memory store in front of a
// SQLite file, explicit options and policies, the four outcomes of a write,
// a read, a flush, the row in SQLite itself, dead letters, stop.
// docs/write-behind.md quotes this file; it is built and run as a test
// (//examples:write_behind_sqlite_test), so the walkthrough cannot rot.
#include "examples/example_support.hpp"

#include <storesync/storesync.hpp>
#include <storesync/store/sqlite_store.hpp>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

using example::fail;

int main() {
  using namespace storesync;
  using namespace std::chrono_literals;
  // Declared first, so removed after everything that uses it.
  const example::temp_dir dir("write_behind_sqlite");
  if (dir.path.empty()) return fail("mkdtemp", std::strerror(errno));

  // [stores]
  auto db = sqlite_store::open({.path = (dir.path / "records.db").string()});
  if (!db) return fail("opening SQLite", db.error().message());
  sqlite_store& slow = db.value();
  memory_store fast({.max_bytes = 64 << 20});  // a cache: flushed entries may be evicted
  // A row some other writer already put in SQLite, at version 100.
  const entry grace = entry::put("user:2", R"({"name":"Grace"})", 100);
  if (auto seeded = slow.write(std::span(&grace, 1)); !seeded) return fail("seeding", seeded.error().message());
  // [stores]

  // [open]
  using engine = write_behind<memory_store, sqlite_store, exponential_backoff, aimd_batch_sizer>;
  auto opened = engine::open(
      fast, slow,
      {.rules = {.max_depth = 64},                               // refused at the door if deeper
       .directory = (dir.path / "write-behind").string(),        // journal/ and dead-letters/
       .journal = {.durability = durability::interval, .fsync_interval_ms = 50},
       .max_pending_entries = 10'000, .max_pending_bytes = 16 << 20,
       .flush_interval = 50ms,
       .write_delay = 200ms,                                     // the coalescing window (default 0)
       .checkpoint_interval = 200ms},
      exponential_backoff{{.base = 20ms, .cap = 1s, .max_attempts = 5, .max_elapsed = 10s}},
      aimd_batch_sizer{{.min_size = 1, .max_size = 1'000, .initial_size = 100, .target_duration = 100ms}});
  if (!opened) return fail("opening write_behind", opened.error().message());
  engine& wb = *opened.value();
  // [open]

  // [write]
  const version_type v = wb.next_version();  // above SQLite's 100 and everything acknowledged
  const std::vector<entry> batch = {
      entry::put("user:1", R"({"name":"Ada"})", v),      // applied: newer than anything stored
      entry::put("user:1", R"({"name":"Ada"})", v),      // unchanged: this version is held already
      entry::put("user:1", R"({"name":"old"})", v - 1),  // stale: older than what is held
      entry::put("user:2", R"({"name":"G."})", 7)};      // accepted: a client version at or below 100
  auto report = wb.write(batch);
  if (!report) return fail("write", report.error().message());
  const write_report& r = report.value();
  std::cout << "applied=" << r.applied << " unchanged=" << r.unchanged << " stale=" << r.stale
            << " accepted=" << r.accepted << '\n';
  if (r != write_report{.applied = 1, .unchanged = 1, .stale = 1, .accepted = 1}) return fail("write", "unexpected outcomes");
  for (int i = 1; i <= 3; ++i) {  // three revisions inside write_delay: SQLite gets only the last
    if (auto put = wb.put(entry::put("visits", std::to_string(i), wb.next_version())); !put)
      return fail("put", put.error().message());
  }
  // [write]

  // [read]
  auto ada = wb.read("user:1");  // from the fast store: no SQLite round trip
  if (!ada) return fail("read", ada.error().message());
  if (!ada.value() || ada.value()->version != v) return fail("read", "user:1 is not the version written");
  // [read]

  // [flush]
  auto flushed = wb.flush(60s);  // waits at most this long
  if (!flushed) return fail("flush", flushed.error().message());
  if (!flushed.value().complete)
    return fail("flush", std::to_string(flushed.value().remaining) + " left: " + flushed.value().last_error);
  // SQLite itself, not through write_behind: the newest value of each key, and user:2's is still Grace.
  for (auto [key, value] : {std::pair{"user:1", R"({"name":"Ada"})"}, std::pair{"user:2", R"({"name":"Grace"})"},
                            std::pair{"visits", "3"}}) {
    auto row = slow.read(key);
    if (!row) return fail("reading SQLite", row.error().message());
    if (!row.value() || row.value()->value != value) return fail("reading SQLite", key);
  }
  auto user2 = wb.read("user:2");  // version 7 lost at flush; the fast store was corrected from SQLite
  if (!user2) return fail("read", user2.error().message());
  if (!user2.value() || user2.value()->version != 100) return fail("read", "user:2 is not SQLite's");
  const write_behind_status s = wb.status();
  std::cout << "flushed=" << s.flushed_total << " coalesced=" << s.coalesced_total
            << " stale_at_flush=" << s.stale_at_flush_total << '\n';
  // [flush]

  // [dead-letters]
  auto letters = wb.dead_letters();  // entries SQLite refused on their own (none here)
  if (!letters) return fail("listing dead letters", letters.error().message());
  for (const dead_letter& d : letters.value()) std::cout << "dead letter " << d.item.key << ": " << d.error << '\n';
  if (!letters.value().empty()) {  // once the cause is fixed: through the write path again
    if (auto redriven = wb.retry_dead_letters(); !redriven) return fail("re-driving", redriven.error().message());
  }
  // [dead-letters]

  // [stop]
  auto stopped = wb.stop(60s);  // later writes fail with errc::stopped
  if (!stopped) return fail("stop", stopped.error().message());  // a journal did not close cleanly
  if (!stopped.value().complete)
    return fail("stop", std::to_string(stopped.value().remaining) + " left: " + stopped.value().last_error);
  // [stop]
  return 0;
}
