#pragma once
/// \file
/// POSIX file plumbing for the file journal: an owning descriptor, full
/// writes, fsync of files and directories, segment names, and a buffered
/// reader that walks and validates the frames of one segment.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "storesync/core/result.hpp"
#include "storesync/journal/detail/frame.hpp"

namespace storesync::detail {

/// Owns a file descriptor; closes it on destruction.
class unique_fd {
 public:
  unique_fd() = default;
  explicit unique_fd(int fd) noexcept : fd_(fd) {}
  unique_fd(unique_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& o) noexcept {
    if (this != &o) reset(std::exchange(o.fd_, -1));
    return *this;
  }
  ~unique_fd() { reset(); }
  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

inline result<unique_fd> open_file(const std::string& path, int flags, mode_t mode = 0644) {
  int fd;
  do fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) return errno_error("open " + path);
  return unique_fd(fd);
}

/// Writes all of `data`, retrying short writes and EINTR.
inline result<void> write_all(int fd, const std::byte* data, std::size_t n, const std::string& path) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno_error("write " + path);
    }
    data += w;
    n -= static_cast<std::size_t>(w);
  }
  return success();
}

inline result<void> datasync_fd(int fd, const std::string& path) {
  int rc;
  do rc = ::fdatasync(fd);
  while (rc < 0 && errno == EINTR);
  if (rc < 0) return errno_error("fdatasync " + path);
  return success();
}

inline result<void> fsync_fd(int fd, const std::string& path) {
  int rc;
  do rc = ::fsync(fd);
  while (rc < 0 && errno == EINTR);
  if (rc < 0) return errno_error("fsync " + path);
  return success();
}

/// Makes a directory's entries (created, renamed, removed files) durable.
inline result<void> fsync_directory(const std::string& dir) {
  BOOST_OUTCOME_TRY(auto fd, open_file(dir, O_RDONLY | O_DIRECTORY));
  return fsync_fd(fd.get(), dir);
}

/// Makes `dir/name` hold exactly `data`, atomically even across a crash: a
/// reader sees the old file (or none) or the whole new one, never a part.
/// Writes `dir/name.tmp`, fsyncs it, renames it over `name`, fsyncs `dir`.
inline result<void> replace_file(const std::string& dir, std::string_view name, std::span<const std::byte> data) {
  const std::string dst = dir + "/" + std::string(name);
  const std::string tmp = dst + ".tmp";
  {
    BOOST_OUTCOME_TRY(auto fd, open_file(tmp, O_WRONLY | O_CREAT | O_TRUNC));
    BOOST_OUTCOME_TRY(write_all(fd.get(), data.data(), data.size(), tmp));
    BOOST_OUTCOME_TRY(fsync_fd(fd.get(), tmp));
  }
  if (::rename(tmp.c_str(), dst.c_str()) < 0) return errno_error("rename " + tmp + " to " + dst);
  return fsync_directory(dir);
}

inline result<std::uint64_t> file_size(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) < 0) return errno_error("stat " + path);
  return static_cast<std::uint64_t>(st.st_size);
}

inline constexpr std::string_view segment_suffix = ".seg";

/// "00000000000000000042.seg": the first lsn, zero-padded so names sort.
inline std::string segment_name(std::uint64_t first_lsn) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020llu", static_cast<unsigned long long>(first_lsn));
  return std::string(buf) + std::string(segment_suffix);
}

/// The first lsn a segment file name carries, or 0 if it is not a segment name.
inline std::uint64_t parse_segment_name(std::string_view name) noexcept {
  if (name.size() != 20 + segment_suffix.size() || !name.ends_with(segment_suffix)) return 0;
  std::uint64_t v = 0;
  const auto [p, ec] = std::from_chars(name.data(), name.data() + 20, v);
  if (ec != std::errc{} || p != name.data() + 20) return 0;
  return v;
}

/// One segment file on disk.
struct segment_info {
  std::uint64_t first_lsn = 0;
  std::string path;
  std::uint64_t bytes = 0;
};

/// The segment files of `dir`, ascending by first lsn.
inline result<std::vector<segment_info>> list_segments(const std::string& dir) {
  std::vector<segment_info> out;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const auto name = it->path().filename().string();
    if (const auto first = parse_segment_name(name); first != 0) {
      std::error_code sec;
      const auto size = it->file_size(sec);
      if (sec) return error{sec, "stat " + it->path().string()};
      out.push_back({first, it->path().string(), size});
    }
  }
  if (ec) return error{ec, "list " + dir};
  std::sort(out.begin(), out.end(),
            [](const segment_info& a, const segment_info& b) { return a.first_lsn < b.first_lsn; });
  return out;
}

/// Reads the frames of one segment in order, checking each. Stops at the
/// first frame that is incomplete or fails its CRC (`damaged`), reporting
/// the offset where it starts and why.
class segment_reader {
 public:
  enum class status { record, end, damaged };

  struct frame {
    std::uint64_t lsn = 0;
    std::span<const std::byte> payload;
    std::uint64_t offset = 0;
  };

  result<void> open(const std::string& path) {
    path_ = path;
    BOOST_OUTCOME_TRY(auto fd, open_file(path, O_RDONLY));
    BOOST_OUTCOME_TRY(auto size, file_size(fd.get(), path));
    fd_ = std::move(fd);
    // Up to 1 MiB, but no more than the file holds: zeroing a buffer costs
    // a page fault per 4 KiB, and most segments opened at recovery are
    // small. `fill` grows it for a larger frame, or a file that grew.
    buf_.resize(static_cast<std::size_t>(std::min<std::uint64_t>(size, 1u << 20)));
    begin_ = end_ = 0;
    base_ = 0;
    eof_ = false;
    return success();
  }

  const std::string& path() const noexcept { return path_; }
  /// Where the next frame starts (after `damaged`: where the damage starts).
  std::uint64_t offset() const noexcept { return base_ + begin_; }
  /// Why the last `next()` returned `damaged`.
  const std::string& why() const noexcept { return why_; }

  /// The next frame; its payload stays valid until the next call.
  result<status> next(frame& out) {
    BOOST_OUTCOME_TRY(auto have, fill(frame_header_size));
    if (have == 0) return status::end;
    if (have < frame_header_size) return damage("torn frame header");
    const frame_header h = read_frame_header(buf_.data() + begin_);
    if (h.length > max_record_size) return damage("frame length " + std::to_string(h.length) + " too large");
    const std::size_t total = frame_header_size + h.length;
    BOOST_OUTCOME_TRY(auto got, fill(total));
    if (got < total) return damage("torn frame (" + std::to_string(got) + " of " + std::to_string(total) + " bytes)");
    const std::span<const std::byte> payload(buf_.data() + begin_ + frame_header_size, h.length);
    if (!frame_valid(h, payload)) return damage("CRC32C mismatch");
    out.lsn = h.lsn;
    out.payload = payload;
    out.offset = offset();
    begin_ += total;
    return status::record;
  }

 private:
  status damage(std::string why) {
    why_ = std::move(why);
    return status::damaged;
  }

  // Makes at least `want` bytes available from begin_, unless the file ends;
  // returns how many are available (up to `want`).
  result<std::size_t> fill(std::size_t want) {
    while (end_ - begin_ < want && !eof_) {
      if (begin_ > 0) {
        std::copy(buf_.begin() + static_cast<std::ptrdiff_t>(begin_),
                  buf_.begin() + static_cast<std::ptrdiff_t>(end_), buf_.begin());
        base_ += begin_;
        end_ -= begin_;
        begin_ = 0;
      }
      if (buf_.size() < want) buf_.resize(want);
      const ssize_t r = ::read(fd_.get(), buf_.data() + end_, buf_.size() - end_);
      if (r < 0) {
        if (errno == EINTR) continue;
        return errno_error("read " + path_);
      }
      if (r == 0) eof_ = true;
      end_ += static_cast<std::size_t>(r);
    }
    return std::min(want, end_ - begin_);
  }

  std::string path_;
  unique_fd fd_;
  std::vector<std::byte> buf_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  std::uint64_t base_ = 0;  // file offset of buf_[0]
  bool eof_ = false;
  std::string why_;
};

}  // namespace storesync::detail
