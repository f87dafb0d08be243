// Dual-write and the reconciler over two SQLite files: every write reaches a
// primary and a replica, a write the replica refuses is recorded in an
// inconsistency log (best effort) and repaired, and drift made behind the
// library's back is found by range checksums and repaired.
// Built and run as a test (//examples:dual_write_sqlite_test).
#include "examples/example_support.hpp"

#include <storesync/storesync.hpp>
#include <storesync/store/sqlite_store.hpp>

#include <iostream>
#include <span>
#include <string>

using example::fail;

int main() {
  using namespace storesync;
  const example::temp_dir dir("dual_write_sqlite");
  if (dir.path.empty()) return fail("mkdtemp", "no scratch directory");
  auto opened_primary = sqlite_store::open({.path = (dir.path / "primary.db").string()});
  auto opened_replica = sqlite_store::open({.path = (dir.path / "replica.db").string()});
  auto opened_log = sqlite_store::open({.path = (dir.path / "inconsistencies.db").string()});
  if (!opened_primary || !opened_replica || !opened_log) return fail("opening SQLite", "a store did not open");
  sqlite_store& primary = opened_primary.value();
  faulty_store<sqlite_store> replica(std::move(opened_replica).value());  // to make it fail on cue
  sqlite_store& log = opened_log.value();

  // [dual-write]
  using writer = dual_write<sqlite_store, faulty_store<sqlite_store>, sqlite_store, best_effort_consistency>;
  auto opened = writer::open(primary, replica, log, {.intents = {.directory = (dir.path / "intents").string()}});
  if (!opened) return fail("opening dual_write", opened.error().message());
  writer& dw = *opened.value();
  for (int i = 0; i < 100; ++i) {
    const auto w = dw.put(entry::put("user:" + std::to_string(i), R"({"n":)" + std::to_string(i) + "}", 1));
    if (!w) return fail("put", w.error().message());
  }
  // The replica refuses the next write for good: best effort keeps the
  // primary's write, reports success, and records the key.
  replica.script({fault::permanent});
  if (auto w = dw.put(entry::put("user:7", R"({"n":"seven"})", 2)); !w) return fail("put", w.error().message());
  auto open = dw.inconsistencies(10);
  if (!open || open.value().size() != 1 || open.value()[0].key != "user:7")
    return fail("inconsistencies", "user:7 is not the one open inconsistency");
  std::cout << "recorded: " << open.value()[0].key << " (" << open.value()[0].error << ")\n";
  auto fixed = dw.repair_inconsistencies();
  if (!fixed || fixed.value().copied_to_right != 1) return fail("repair", "user:7 did not reach the replica");
  // [dual-write]

  // [reconcile]
  // Drift behind the library's back: a row removed from the replica.
  if (auto gone = replica.inner().restore("user:42", 1, std::nullopt); !gone)
    return fail("drift", gone.error().message());
  reconciler rec(primary, replica);
  auto found = rec.check({});
  if (!found) return fail("check", found.error().message());
  if (found.value().differences.size() != 1 || found.value().differences[0].key != "user:42")
    return fail("check", "user:42 is not the one difference");
  auto repaired = rec.repair(found.value(), {.truth = source_of_truth::left});
  if (!repaired) return fail("repair", repaired.error().message());
  auto again = rec.check({});
  if (!again || !again.value().differences.empty()) return fail("check", "the stores still differ");
  std::cout << "primary and replica are equal: " << primary.checksum({}).value().count << " rows\n";
  // [reconcile]
  return 0;
}
