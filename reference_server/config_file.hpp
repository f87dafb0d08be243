#pragma once
// Reading a configuration file named on the command line, bounded: a file
// larger than the limit is refused by its size without reading it whole, so
// a path pointed at a huge or endless file (/dev/zero) cannot exhaust memory.

#include <cstddef>
#include <fstream>
#include <string>

#include "storesync/core/result.hpp"

namespace storesync::server {

/// The contents of the file at `path`, at most `limit` bytes.
/// `invalid_argument` when it cannot be opened or read, or is larger.
inline result<std::string> read_config_file(const std::string& path, std::size_t limit) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return error{errc::invalid_argument, "cannot be read"};
  std::string body(limit + 1, '\0');
  in.read(body.data(), static_cast<std::streamsize>(body.size()));
  if (in.bad()) return error{errc::invalid_argument, "cannot be read"};
  body.resize(static_cast<std::size_t>(in.gcount()));
  if (body.size() > limit)
    return error{errc::invalid_argument, "more than " + std::to_string(limit) + " bytes; the limit is " + std::to_string(limit)};
  return body;
}

}  // namespace storesync::server
