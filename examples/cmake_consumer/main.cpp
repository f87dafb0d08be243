// A host program built with CMake: the same batch into a memory store and into
// SQLite (through the storesync::sqlite target, which links libsqlite3), then
// the version guard and a checksum that proves the two stores equal.
#include <storesync/storesync.hpp>
#include <storesync/store/sqlite_store.hpp>

#include <stdlib.h>  // mkdtemp

#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

int main() {
  using namespace storesync;
  std::string dir = (std::filesystem::temp_directory_path() / "storesync_consumer.XXXXXX").string();
  if (!mkdtemp(dir.data())) return std::perror("mkdtemp"), 1;
  struct remove_dir {
    std::string path;
    ~remove_dir() {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
    }
  } cleanup{dir};

  auto opened = sqlite_store::open({.path = dir + "/records.db"});
  if (!opened) return std::fprintf(stderr, "%s\n", opened.error().message().c_str()), 1;
  sqlite_store& durable = opened.value();
  memory_store cache;

  const std::vector<entry> batch = {
      entry::put("greeting", R"({"text":"hello"})", 2),
      entry::put("greeting", R"({"text":"stale"})", 1),  // older: ignored
      entry::erase("farewell", 3),                       // a tombstone
  };
  if (auto cached = cache.write(batch); !cached)
    return std::fprintf(stderr, "%s\n", cached.error().message().c_str()), 1;
  auto report = durable.write(batch);
  if (!report) return std::fprintf(stderr, "%s\n", report.error().message().c_str()), 1;

  auto got = durable.read("greeting");
  if (!got || !got.value() || got.value()->version != 2) return 1;
  auto a = cache.checksum(key_range{}), b = durable.checksum(key_range{});
  if (!a || !b) return 1;
  std::printf("sqlite: applied=%zu stale=%zu value=%s, equal to the memory store: %s\n",
              report.value().applied, report.value().stale, got.value()->value.c_str(),
              a.value() == b.value() ? "yes" : "no");
  return report.value().stale == 1 && a.value() == b.value() ? 0 : 1;
}
