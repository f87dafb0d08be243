// dual_write killed with SIGKILL: a child process writes through a
// dual_write (PostgreSQL primary, SQLite secondary, strict) and reports each
// acknowledged write on a pipe; the parent kills it after N acknowledgements
// (kill points follow progress, not the clock), reopens, which repairs the
// intents left open, and checks that the two stores are equal (one
// reconciler check, zero differences) and that every acknowledged write is
// in the primary at its version or a newer one.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "storesync/store/postgres_store.hpp"
#include "storesync/store/sqlite_store.hpp"
#include "storesync/strategy/dual_write.hpp"
#include "tests/child_process.hpp"
#include "tests/integration/pg_scratch.hpp"

namespace storesync {
namespace {

using testing::open_ok;
using testing::scratch_table;

constexpr int keys = 300;

entry nth(int i) { return entry::put("user:" + std::to_string(i % keys), R"({"i":)" + std::to_string(i) + "}", i + 1); }

struct paths {
  std::filesystem::path dir;
  std::string secondary() const { return (dir / "secondary.db").string(); }
  std::string log() const { return (dir / "inconsistencies.db").string(); }
  journal_options intents() const { return {.directory = (dir / "intents").string()}; }
};

using writer = dual_write<postgres_store, sqlite_store, sqlite_store>;

// The child: writes until killed, one byte reported per acknowledged write.
// Arguments: the directory of `paths`, the primary's schema and table.
STORESYNC_TEST_CHILD(write_until_killed) {
  if (args.size() != 3) return 1;
  const paths p{args[0]};
  postgres_config cfg;
  cfg.url = testing::test_pg_url();
  cfg.schema = args[1];
  cfg.table = args[2];
  auto pg = postgres_store::open(cfg);
  auto lite = sqlite_store::open({.path = p.secondary()});
  auto log = sqlite_store::open({.path = p.log()});
  if (!pg || !lite || !log) return 2;
  auto dw = writer::open(pg.value(), lite.value(), log.value(), {.intents = p.intents(), .checkpoint_every = 7});
  if (!dw) return 3;
  for (int i = 0;; ++i) {
    const entry e = i % 11 == 10 ? entry::erase(nth(i).key, i + 1) : nth(i);
    if (!dw.value()->put(e)) return 4;
    const char one = 1;
    if (::write(testing::report_fd, &one, 1) != 1) return 5;
  }
}

TEST(DualWriteCrash, AfterAKillAtAnyPointReopeningLeavesBothStoresEqualAndLosesNothingAcknowledged) {
  std::uint64_t recovered = 0;
  for (const int kill_after : {1, 37, 250, 900, 2'000}) {
    SCOPED_TRACE("killed after " + std::to_string(kill_after) + " acknowledged writes");
    scratch_table table("dual_crash");
    const paths p{std::filesystem::temp_directory_path() / testing::unique_pg_name("dual_crash")};
    std::filesystem::create_directories(p.dir);
    testing::child_process child("write_until_killed", {p.dir.string(), table.schema, table.table});
    ASSERT_TRUE(child.started());
    int acknowledged = 0;
    char buf[256];
    while (acknowledged < kill_after) {
      const ssize_t n = ::read(child.reports(), buf, std::min<std::size_t>(sizeof buf, kill_after - acknowledged));
      ASSERT_GT(n, 0) << "the child stopped before " << kill_after << " acknowledgements";
      acknowledged += static_cast<int>(n);
    }
    child.kill();
    ASSERT_TRUE(child.killed_by_sigkill()) << "the child ended before the kill (status " << child.wait() << ")";

    auto pg = open_ok(table.config());
    auto lite = sqlite_store::open({.path = p.secondary()});
    auto log = sqlite_store::open({.path = p.log()});
    ASSERT_TRUE(lite && log);
    {
      auto dw = writer::open(pg, lite.value(), log.value(), {.intents = p.intents()});
      ASSERT_TRUE(dw) << dw.error().message();
      recovered += dw.value()->stats().recovered_intents;
    }
    reconciler rec(pg, lite.value());
    const auto found = rec.check({});
    ASSERT_TRUE(found) << found.error().message();
    EXPECT_TRUE(found.value().differences.empty())
        << found.value().differences.size() << " differences, the first " << found.value().differences[0].key;
    for (int i = std::max(0, acknowledged - keys); i < acknowledged; ++i) {
      const auto stored = pg.read(nth(i).key);
      ASSERT_TRUE(stored && stored.value()) << nth(i).key;
      EXPECT_GE(stored.value()->version, i + 1) << "acknowledged write " << i << " lost";
    }
    std::error_code ignored;
    std::filesystem::remove_all(p.dir, ignored);
  }
  // The child checkpoints every 7 cleared intents, so each kill leaves some
  // to replay: start-up recovery ran.
  EXPECT_GT(recovered, 0u);
}

}  // namespace
}  // namespace storesync
