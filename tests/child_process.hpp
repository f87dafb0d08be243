// Crash tests run their victim in a child process that the test binary
// starts by exec, not by a bare fork: a forked copy of a threaded process
// (or of one under ThreadSanitizer) inherits locks held by threads that do
// not exist in it, and sanitizers do not support running on after such a
// fork. The child is the test binary itself, started again as
//
//   <test binary> --storesync-child NAME ARGS...
//
// which runs the function registered under NAME (STORESYNC_TEST_CHILD)
// instead of the tests. A binary that uses this links //tests:child_main in
// place of gtest_main.
//
// A child reports progress (acknowledgements) by writing to file descriptor
// `report_fd` (3); the parent reads them from `child_process::reports()`, so
// kill points follow progress, not the clock.
#ifndef STORESYNC_TESTS_CHILD_PROCESS_HPP
#define STORESYNC_TESTS_CHILD_PROCESS_HPP

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

extern char** environ;

namespace storesync::testing {

/// The descriptor a child writes its reports to.
inline constexpr int report_fd = 3;

/// A child's body: runs with the arguments given to `child_process`, writes
/// reports to `report_fd`, and returns the process's exit status.
using child_body = int (*)(std::span<const std::string> args);

inline std::map<std::string, child_body, std::less<>>& child_bodies() {
  static std::map<std::string, child_body, std::less<>> bodies;
  return bodies;
}

struct register_child {
  register_child(const char* name, child_body body) { child_bodies().emplace(name, body); }
};

/// Defines a child body NAME (a C++ identifier), callable as
/// `child_process("NAME", {args...})`, with its arguments in `args`.
#define STORESYNC_TEST_CHILD(NAME)                                                              \
  int NAME(std::span<const std::string> args);                                                 \
  const ::storesync::testing::register_child NAME##_registered{#NAME, &NAME};                  \
  int NAME([[maybe_unused]] std::span<const std::string> args)

/// The test binary started again to run one registered child body. The
/// destructor kills the child if it still runs and reaps it.
class child_process {
 public:
  child_process(std::string_view name, const std::vector<std::string>& args) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return;
    reports_ = fds[0];
    // Older C libraries leave close-on-exec set when a spawn's dup2 has the
    // same source and target, so keep the write end off report_fd itself.
    int out = fds[1];
    if (out == report_fd) {
      out = ::fcntl(fds[1], F_DUPFD_CLOEXEC, report_fd + 1);
      ::close(fds[1]);
      if (out < 0) return;
    }
    std::vector<std::string> argv_text{"/proc/self/exe", "--storesync-child", std::string(name)};
    argv_text.insert(argv_text.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_text) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    if (::posix_spawn_file_actions_adddup2(&actions, out, report_fd) != 0 ||
        ::posix_spawn(&pid_, "/proc/self/exe", &actions, nullptr, argv.data(), environ) != 0)
      pid_ = -1;
    ::posix_spawn_file_actions_destroy(&actions);
    ::close(out);  // the child holds the only write end: EOF when it is gone
  }
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;
  ~child_process() {
    kill();
    wait();
    if (reports_ >= 0) ::close(reports_);
  }

  bool started() const noexcept { return pid_ > 0; }
  /// The read end of the child's reports.
  int reports() const noexcept { return reports_; }
  /// SIGKILLs the child unless it was never started or is reaped already.
  void kill() const noexcept {
    if (pid_ > 0 && !status_) ::kill(pid_, SIGKILL);
  }
  /// Reaps the child; its wait status (as waitpid gives it), or -1 when it
  /// was never started or could not be reaped.
  int wait() {
    if (!status_) {
      int s = 0;
      pid_t got = -1;
      if (pid_ > 0) {
        do {
          got = ::waitpid(pid_, &s, 0);
        } while (got < 0 && errno == EINTR);
      }
      status_ = pid_ > 0 && got == pid_ ? s : -1;
    }
    return *status_;
  }
  bool killed_by_sigkill() { return wait() != -1 && WIFSIGNALED(wait()) && WTERMSIG(wait()) == SIGKILL; }

 private:
  pid_t pid_ = -1;
  int reports_ = -1;
  std::optional<int> status_;
};

/// The test binary's main (//tests:child_main) calls this first: with
/// `--storesync-child NAME ARGS...` it runs that child and returns its
/// status; otherwise it returns nothing and the tests run.
inline std::optional<int> run_child(int argc, char** argv) {
  if (argc < 3 || std::string_view(argv[1]) != "--storesync-child") return std::nullopt;
  const auto found = child_bodies().find(std::string_view(argv[2]));
  if (found == child_bodies().end()) return 127;
  const std::vector<std::string> args(argv + 3, argv + argc);
  return found->second(args);
}

}  // namespace storesync::testing

#endif  // STORESYNC_TESTS_CHILD_PROCESS_HPP
