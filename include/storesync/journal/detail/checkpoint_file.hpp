#pragma once
/// \file
/// The file journal's checkpoint file: 16 bytes (u32 magic, u32 CRC32C of
/// the lsn field, u64 lsn), replaced atomically by temp file + rename +
/// directory fsync.

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "storesync/core/result.hpp"
#include "storesync/journal/detail/crc32c.hpp"
#include "storesync/journal/detail/frame.hpp"
#include "storesync/journal/detail/segment_file.hpp"

namespace storesync::detail {

inline constexpr std::uint32_t checkpoint_magic = 0x434a5353;  // "SSJC"
inline constexpr std::size_t checkpoint_size = 16;
inline constexpr std::string_view checkpoint_file = "checkpoint";
inline constexpr std::string_view checkpoint_temp = "checkpoint.tmp";

/// Reads the checkpoint file: 0 if absent, `corrupt` if damaged.
inline result<std::uint64_t> read_checkpoint(const std::string& path) {
  auto fd = open_file(path, O_RDONLY);
  if (!fd) {
    if (fd.error().code() == std::error_code(ENOENT, std::system_category())) return 0;
    return fd.error();
  }
  std::byte buf[checkpoint_size + 1];
  std::size_t got = 0;
  for (;;) {
    const ssize_t r = ::read(fd.value().get(), buf + got, sizeof buf - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return errno_error("read " + path);
    if (r == 0 || (got += static_cast<std::size_t>(r)) == sizeof buf) break;
  }
  if (got != checkpoint_size || get_u32(buf) != checkpoint_magic ||
      get_u32(buf + 4) != crc32c(std::span<const std::byte>(buf + 8, 8)))
    return error{errc::corrupt, "journal checkpoint " + path + " is damaged (" +
                                    std::to_string(got) + " bytes)"};
  return get_u64(buf + 8);
}

/// Writes the checkpoint atomically (`replace_file`).
inline result<void> write_checkpoint(const std::string& dir, std::uint64_t at) {
  std::byte buf[checkpoint_size];
  put_u32(buf, checkpoint_magic);
  put_u64(buf + 8, at);
  put_u32(buf + 4, crc32c(std::span<const std::byte>(buf + 8, 8)));
  return replace_file(dir, checkpoint_file, buf);
}

}  // namespace storesync::detail
