#pragma once
// What the Redis tests share: the server scripts/test.sh started, and key
// prefixes no other test process uses.

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>

namespace storesync::testing {

/// STORESYNC_TEST_REDIS_URL. A Redis test never passes by skipping: with no
/// server this throws, and the test fails.
inline std::string test_redis_url() {
  const char* url = std::getenv("STORESYNC_TEST_REDIS_URL");
  if (url == nullptr || *url == '\0')
    throw std::runtime_error("STORESYNC_TEST_REDIS_URL is not set; run scripts/test.sh");
  return url;
}

/// A key prefix no other test process or store uses: `stem`, a tag of this
/// process and a counter (not the pid: Bazel's sandbox gives every test
/// process the same one).
inline std::string unique_redis_prefix(std::string_view stem) {
  static const auto process = std::random_device{}();
  static std::atomic<int> counter{0};
  return std::string(stem) + ":" + std::to_string(process) + ":" + std::to_string(counter++) + ":";
}

/// A Redis of a test's own (scripts/redis.sh, STORESYNC_TEST_REDIS_SCRIPT),
/// so stopping it cannot disturb tests that share the main one. `url()` is
/// empty when it could not start.
class private_redis {
 public:
  private_redis() {
    const char* script = std::getenv("STORESYNC_TEST_REDIS_SCRIPT");
    if (script == nullptr) throw std::runtime_error("STORESYNC_TEST_REDIS_SCRIPT is not set; run scripts/test.sh");
    script_ = script;
    if (FILE* out = ::popen(("bash '" + script_ + "' start").c_str(), "r")) {
      char line[4096] = {};
      if (std::fgets(line, sizeof line, out)) dir_ = std::string(line, std::strcspn(line, "\n"));
      ::pclose(out);
    }
    std::ifstream(dir_ + "/url") >> url_;
  }
  ~private_redis() {
    if (!dir_.empty()) run("stop");
  }
  private_redis(const private_redis&) = delete;
  private_redis& operator=(const private_redis&) = delete;

  /// `pause` (shut down, data kept), `resume` or `stop`; true on success.
  bool run(const char* verb) { return std::system(("bash '" + script_ + "' " + verb + " '" + dir_ + "'").c_str()) == 0; }
  const std::string& url() const { return url_; }

 private:
  std::string script_, dir_, url_;
};

}  // namespace storesync::testing
