// The store conformance suite on redis_store, against the real Redis that
// scripts/test.sh starts (STORESYNC_TEST_REDIS_URL). Each store gets its own
// key prefix (with a space, a quote and a brace in it), deleted when the
// test ends; reopening a store reconnects to the same prefix.
#include "storesync/store/redis_store.hpp"

#include <hiredis/hiredis.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "storesync/testing/store_conformance.hpp"
#include "tests/redis_test_env.hpp"

namespace {

struct redis_store_factory {
  // A batch is one Lua script: atomic, and validated before it runs.
  static constexpr bool transactional = true;

  std::unique_ptr<storesync::redis_store> make() {
    prefix = storesync::testing::unique_redis_prefix("conf \"t\" {x}");
    made.push_back(prefix);
    return reopen();
  }

  std::unique_ptr<storesync::redis_store> reopen() {
    auto opened = storesync::redis_store::open(
        {.url = storesync::testing::test_redis_url(), .prefix = prefix, .pool_size = 2});
    if (!opened) throw std::runtime_error("open: " + opened.error().message());
    return std::make_unique<storesync::redis_store>(std::move(opened).value());
  }

  ~redis_store_factory() {
    if (made.empty()) return;
    auto address = storesync::detail::parse_redis_url(storesync::testing::test_redis_url());
    if (!address) return;
    redisContext* c = redisConnect(address.value().host.c_str(), address.value().port);
    if (c == nullptr || c->err) {
      ADD_FAILURE() << "deleting test keys: cannot connect";
      if (c) redisFree(c);
      return;
    }
    for (const std::string& p : made) {
      // The prefix's keys, found by SCAN with every glob character escaped.
      std::string pattern;
      for (char ch : p) {
        if (ch == '*' || ch == '?' || ch == '[' || ch == ']' || ch == '\\') pattern += '\\';
        pattern += ch;
      }
      pattern += '*';
      std::string cursor = "0";
      do {
        auto* r = static_cast<redisReply*>(
            redisCommand(c, "SCAN %b MATCH %b COUNT 1000", cursor.data(), cursor.size(), pattern.data(), pattern.size()));
        if (r == nullptr || r->type != REDIS_REPLY_ARRAY) {
          ADD_FAILURE() << "deleting test keys: SCAN failed";
          if (r) freeReplyObject(r);
          break;
        }
        cursor.assign(r->element[0]->str, r->element[0]->len);
        for (std::size_t i = 0; i < r->element[1]->elements; ++i) {
          const redisReply* k = r->element[1]->element[i];
          if (auto* d = static_cast<redisReply*>(redisCommand(c, "UNLINK %b", k->str, k->len))) freeReplyObject(d);
        }
        freeReplyObject(r);
      } while (cursor != "0");
    }
    redisFree(c);
  }

  std::string prefix;
  std::vector<std::string> made;
};

}  // namespace

namespace storesync::testing {
INSTANTIATE_TYPED_TEST_SUITE_P(Redis, StoreConformance, ::testing::Types<redis_store_factory>);
INSTANTIATE_TYPED_TEST_SUITE_P(Redis, PersistentStoreConformance, ::testing::Types<redis_store_factory>);
}  // namespace storesync::testing
