#include "tests/simulation/sim_file_system.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

// The real calls, as the linker's --wrap names them.
extern "C" {
ssize_t __real_write(int fd, const void* data, std::size_t n);
int __real_open(const char* path, int flags, ...);
int __real_fsync(int fd);
int __real_fdatasync(int fd);
int __real_rename(const char* from, const char* to);
int __real_unlink(const char* path);
int __real_ftruncate(int fd, off_t length);
}

namespace storesync::sim {
namespace {

namespace fs = std::filesystem;

std::string absolute(const char* path) { return fs::absolute(path).lexically_normal().string(); }

std::string read_whole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The content of the file open at `fd` (which may be write-only, or
// unlinked), read through a descriptor of its own.
std::string read_fd(int fd) {
  const int r = __real_open(("/proc/self/fd/" + std::to_string(fd)).c_str(), O_RDONLY | O_CLOEXEC);
  if (r < 0) return {};
  std::string out;
  char buf[65536];
  for (ssize_t n; (n = ::read(r, buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  ::close(r);
  return out;
}

}  // namespace

sim_file_system& sim_file_system::instance() {
  static sim_file_system fs;
  return fs;
}

void sim_file_system::attach(const std::string& root, std::uint64_t seed) {
  fs::remove_all(root);
  fs::create_directories(root);
  root_ = fs::canonical(root).string();
  attached_ = true;
  frozen_ = full_ = false;
  fsync_failure_rate_ = 0;
  rng_.seed(seed);
  injected_ = intercepted_ = 0;
  inodes_.clear();
  names_.clear();
}

void sim_file_system::detach() {
  attached_ = false;
  inodes_.clear();
  names_.clear();
}

bool sim_file_system::ours(const std::string& path) const {
  return attached_ && (path == root_ || (path.size() > root_.size() && path.starts_with(root_) && path[root_.size()] == '/'));
}

std::string sim_file_system::path_of(int fd) const {
  char buf[4096];
  const ssize_t n = ::readlink(("/proc/self/fd/" + std::to_string(fd)).c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

int sim_file_system::fail(int err) {
  ++injected_;
  errno = err;
  return -1;
}

ssize_t sim_file_system::write(int fd, const void* data, std::size_t n) {
  if (!attached_ || !ours(path_of(fd))) return __real_write(fd, data, n);
  ++intercepted_;
  if (frozen_) return fail(EIO);
  if (full_) {
    if (n > 1 && chance(0.5)) {  // the last free blocks take part of it
      ++injected_;
      return __real_write(fd, data, n / 2);
    }
    return fail(ENOSPC);
  }
  return __real_write(fd, data, n);
}

int sim_file_system::open(const char* path, int flags, mode_t mode) {
  if (!attached_ || !ours(absolute(path))) return __real_open(path, flags, mode);
  ++intercepted_;
  if (frozen_) return fail(EIO);
  struct stat st {};
  const bool existed = ::stat(path, &st) == 0;
  if ((flags & O_CREAT) && !existed && full_) {
    say("disk: creating " + std::string(path) + " fails (ENOSPC)");
    return fail(ENOSPC);
  }
  const int fd = __real_open(path, flags, mode);
  if (fd < 0 || ::fstat(fd, &st) != 0) return fd;
  inode& in = inodes_[st.st_ino];
  const bool named = std::any_of(names_.begin(), names_.end(), [&](const auto& n) { return n.second == st.st_ino; });
  if (!existed && !named) in = {};                             // a new file (its inode number may be a reused one)
  if (flags & O_TRUNC) in.lost.clear();                         // the dropped pages are gone with the data
  return fd;
}

int sim_file_system::sync(int fd, bool data_only) {
  const std::string path = attached_ ? path_of(fd) : std::string();
  if (!ours(path)) return data_only ? __real_fdatasync(fd) : __real_fsync(fd);
  if (frozen_) return fail(EIO);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return -1;
  if (S_ISDIR(st.st_mode)) {
    sync_directory(path);
    return 0;
  }
  inode& in = inodes_[st.st_ino];
  const std::string live = read_fd(fd);
  if (chance(fsync_failure_rate_)) {
    // What this sync should have written is lost for good: the kernel marks
    // the pages clean, and a later sync does not write them.
    if (live.size() > in.durable.size()) in.lost[in.durable.size()] = live.size() - in.durable.size();
    say("disk: " + std::string(data_only ? "fdatasync " : "fsync ") + path + " fails (EIO); bytes " +
        std::to_string(in.durable.size()) + " to " + std::to_string(live.size()) + " are lost");
    return fail(EIO);
  }
  in.durable = live;
  for (const auto& [at, n] : in.lost)
    if (at < in.durable.size()) std::fill_n(in.durable.begin() + static_cast<std::ptrdiff_t>(at), std::min(n, in.durable.size() - at), '\0');
  return 0;
}

void sim_file_system::sync_directory(const std::string& dir) {
  for (auto it = names_.begin(); it != names_.end();)
    it = fs::path(it->first).parent_path() == dir ? names_.erase(it) : std::next(it);
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    struct stat st {};
    if (!it->is_regular_file() || ::stat(it->path().c_str(), &st) != 0) continue;
    names_[it->path().string()] = st.st_ino;
    inodes_.try_emplace(st.st_ino);
  }
}

int sim_file_system::rename(const char* from, const char* to) {
  if (attached_ && (ours(absolute(from)) || ours(absolute(to))) && frozen_) return fail(EIO);
  return __real_rename(from, to);
}

int sim_file_system::unlink(const char* path) {
  if (attached_ && ours(absolute(path)) && frozen_) return fail(EIO);
  return __real_unlink(path);
}

int sim_file_system::ftruncate(int fd, off_t length) {
  if (!attached_ || !ours(path_of(fd))) return __real_ftruncate(fd, length);
  if (frozen_) return fail(EIO);
  const int rc = __real_ftruncate(fd, length);
  struct stat st {};
  if (rc == 0 && ::fstat(fd, &st) == 0) {
    // Pages past the new end are gone, lost ones included.
    auto& lost = inodes_[st.st_ino].lost;
    const auto end = static_cast<std::size_t>(length);
    for (auto it = lost.begin(); it != lost.end();) {
      if (it->first >= end) it = lost.erase(it);
      else {
        it->second = std::min(it->second, end - it->first);
        ++it;
      }
    }
  }
  return rc;
}

void sim_file_system::power_loss() {
  // What each durable name holds after the cut.
  std::map<std::string, std::string> after;
  for (const auto& [path, ino] : names_) {
    const inode& in = inodes_[ino];
    std::string content = in.durable;
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && st.st_ino == ino && static_cast<std::size_t>(st.st_size) > content.size()) {
      // Written since the last sync: some of it may have landed.
      const std::string live = read_whole(path);
      const std::size_t extra = live.size() - content.size();
      const std::size_t synced = content.size();
      switch (draw(4)) {
        case 0: break;                                                            // none of it
        case 1: content += live.substr(content.size(), draw(extra + 1)); break;   // a prefix
        case 2: content.append(draw(extra + 1), '\0'); break;                    // the size, not the data
        default: {
          const std::size_t kept = draw(extra + 1);
          content += live.substr(content.size(), kept);
          content.append(draw(extra - kept + 1), '\0');
        }
      }
      say("disk: power cut: " + path + " keeps " + std::to_string(content.size()) + " bytes (" +
          std::to_string(synced) + " synced, " + std::to_string(live.size()) + " written)");
    }
    for (const auto& [at, n] : in.lost)
      if (at < content.size()) std::fill_n(content.begin() + static_cast<std::ptrdiff_t>(at), std::min(n, content.size() - at), '\0');
    after[path] = std::move(content);
  }
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(root_))
    if (e.is_regular_file()) files.push_back(e.path());
  for (const auto& f : files) fs::remove(f);
  inodes_.clear();
  names_.clear();
  for (const auto& [path, content] : after) {
    std::ofstream(path, std::ios::binary).write(content.data(), static_cast<std::streamsize>(content.size()));
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) continue;
    names_[path] = st.st_ino;
    inodes_[st.st_ino].durable = content;
  }
  frozen_ = false;
}

}  // namespace storesync::sim

// The wrapped calls (the linker's --wrap sends every call of the binary's
// own objects here).
extern "C" {
ssize_t __wrap_write(int fd, const void* data, std::size_t n) {
  return storesync::sim::sim_file_system::instance().write(fd, data, n);
}
int __wrap_open(const char* path, int flags, ...) {
  mode_t mode = 0;
  if (flags & (O_CREAT | O_TMPFILE)) {
    std::va_list ap;
    va_start(ap, flags);
    mode = va_arg(ap, mode_t);
    va_end(ap);
  }
  return storesync::sim::sim_file_system::instance().open(path, flags, mode);
}
int __wrap_fsync(int fd) { return storesync::sim::sim_file_system::instance().sync(fd, false); }
int __wrap_fdatasync(int fd) { return storesync::sim::sim_file_system::instance().sync(fd, true); }
int __wrap_rename(const char* from, const char* to) {
  return storesync::sim::sim_file_system::instance().rename(from, to);
}
int __wrap_unlink(const char* path) { return storesync::sim::sim_file_system::instance().unlink(path); }
int __wrap_ftruncate(int fd, off_t length) { return storesync::sim::sim_file_system::instance().ftruncate(fd, length); }
}
