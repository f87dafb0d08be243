// The README's example: two stores, the version guard, and a checksum that
// proves them equal. Built and run as a test (//examples:quickstart_test).
#include <storesync/storesync.hpp>

#include <cstdio>
#include <vector>

int main() {
  using namespace storesync;
  memory_store cache, record;
  const std::vector<entry> batch = {entry::put("user:1", R"({"name":"Ada"})", 2),
                                    entry::put("user:1", R"({"name":"old"})", 1),  // stale: ignored
                                    entry::erase("user:2", 5)};                    // a tombstone
  for (memory_store* s : {&cache, &record}) {
    auto report = s->write(batch);
    if (!report) return std::fprintf(stderr, "%s\n", report.error().message().c_str()), 1;
  }
  auto a = cache.checksum(key_range{}), b = record.checksum(key_range{});  // (rows, digest)
  if (!a || !b) return 1;
  std::printf("rows=%llu equal=%d\n", static_cast<unsigned long long>(a.value().count), a.value() == b.value());
  return a.value() == b.value() ? 0 : 1;
}
