#pragma once
// The operator console's files (reference_server/ui and uPlot), embedded in
// the server binary at build time: the page loads nothing from any other host.

#include <string_view>

namespace storesync::server {

struct ui_asset {
  std::string_view path;          ///< e.g. "/ui", "/ui/console.js"
  std::string_view content_type;  ///< with its charset where it has one
  std::string_view body;
};

/// The console file served at `path`, or null.
const ui_asset* find_ui_asset(std::string_view path) noexcept;

}  // namespace storesync::server
