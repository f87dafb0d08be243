#pragma once
// A simulated disk under the journals of a simulated world. The real
// file_journal runs unchanged: the simulator's binary is linked with
// `--wrap` for write, open, fsync, fdatasync, rename, unlink and ftruncate,
// and calls on files under the attached directory come here first. The
// files themselves stay real (the page cache, as a process sees it); this
// keeps what a power cut would leave of them:
// - a file's content is durable as of its last successful fsync or
//   fdatasync; a name (created, renamed, removed) is durable once its
//   directory is fsynced. Directories themselves are taken as durable.
// - `power_loss` puts every file back to that durable state: names not yet
//   durable vanish, removed ones come back, and each file keeps its synced
//   content, plus a torn tail in some cases (a prefix of what was written
//   after the last sync, or zeros where the size grew but the data did not
//   land).
// - a failed fsync (EIO) loses the data it should have made durable, for
//   good, as Linux does: the pages are marked clean, a later fsync does not
//   write them again, and after a power cut those bytes read as zeros.
// - a full disk fails writes (after a short write, in some cases) and file
//   creations with ENOSPC.
// - `freeze` stands for the instant a process dies: from then on every call
//   on the attached files fails (EIO), so nothing a dying process's threads
//   still do reaches the disk; `thaw` is the restart.
//
// One per process (the wrapped calls are global); a world attaches it to its
// directory for its lifetime. Files outside the directory pass through. The
// binary must be linked statically (`linkstatic`): `--wrap` changes the
// calls of the objects linked into the executable, not those of shared
// libraries (`intercepted` tells).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <sys/types.h>

namespace storesync::sim {

class sim_file_system {
 public:
  static sim_file_system& instance();

  /// Files under `root` (emptied first) are simulated; faults drawn from
  /// `seed`.
  void attach(const std::string& root, std::uint64_t seed);
  void detach();

  /// Every write and file creation fails with ENOSPC while full.
  void set_full(bool full) { full_ = full; }
  bool full() const { return full_; }
  /// The chance that an fsync or fdatasync fails (EIO).
  void set_fsync_failure_rate(double p) { fsync_failure_rate_ = p; }

  void freeze() { frozen_ = true; }
  void thaw() { frozen_ = false; }
  /// A power cut (frozen or not): the files go back to what was durable,
  /// with torn tails drawn from the seed; then thawed.
  void power_loss();

  /// Faults injected so far (ENOSPC, EIO, short writes).
  std::uint64_t injected() const { return injected_; }
  /// Calls on the attached files that came here since `attach`. None after
  /// a journal opened means the binary's calls bypass the simulation (its
  /// objects were linked into shared libraries, where `--wrap` does not
  /// reach: the binary must be linked statically).
  std::uint64_t intercepted() const { return intercepted_; }
  /// Where to say what a fault or a power cut did (nothing: silent).
  void set_trace(std::function<void(const std::string&)> trace) { trace_ = std::move(trace); }

  // The wrapped calls (sim_file_system.cc routes them here).
  ssize_t write(int fd, const void* data, std::size_t n);
  int open(const char* path, int flags, mode_t mode);
  int sync(int fd, bool data_only);
  int rename(const char* from, const char* to);
  int unlink(const char* path);
  int ftruncate(int fd, off_t length);

 private:
  struct inode {
    /// What a power cut leaves of the file's data.
    std::string durable;
    /// Bytes a failed fsync lost: zeros after a power cut.
    std::map<std::size_t, std::size_t> lost;  // offset -> length
  };

  bool ours(const std::string& path) const;
  std::string path_of(int fd) const;
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  std::uint64_t draw(std::uint64_t n) { return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(rng_); }
  /// The directory's current entries become its durable ones.
  void sync_directory(const std::string& dir);
  int fail(int err);

  void say(const std::string& line) const {
    if (trace_) trace_(line);
  }

  std::function<void(const std::string&)> trace_;
  std::string root_;
  bool attached_ = false;
  bool frozen_ = false;
  bool full_ = false;
  double fsync_failure_rate_ = 0;
  std::mt19937_64 rng_;
  std::uint64_t injected_ = 0;
  std::uint64_t intercepted_ = 0;
  std::map<ino_t, inode> inodes_;
  /// Durable names (full paths) and the inodes they name.
  std::map<std::string, ino_t> names_;
};

}  // namespace storesync::sim
