// Smallest possible host program: write through the version guard, read back.
#include <storesync/storesync.hpp>

#include <cstdio>
#include <vector>

int main() {
  storesync::memory_store store;
  const std::vector<storesync::entry> batch = {
      storesync::entry::put("greeting", R"({"text":"hello"})", 2),
      storesync::entry::put("greeting", R"({"text":"stale"})", 1),  // older: ignored
  };
  auto report = store.write(batch);
  if (!report) {
    std::fprintf(stderr, "write failed: %s\n", report.error().message().c_str());
    return 1;
  }
  auto got = store.read("greeting");
  if (!got || !got.value() || got.value()->version != 2) return 1;
  std::printf("applied=%zu stale=%zu value=%s\n", report.value().applied, report.value().stale,
              got.value()->value.c_str());
  return report.value().stale == 1 ? 0 : 1;
}
