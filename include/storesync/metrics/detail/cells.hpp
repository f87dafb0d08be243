#pragma once
/// \file
/// The atomic cells behind metric handles, the latency bucket bounds, and
/// the text helpers (number formatting, escaping, name checks) the
/// renderers share.

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace storesync::detail {

struct counter_cell {
  std::atomic<std::uint64_t> value{0};
};

struct gauge_cell {
  std::atomic<double> value{0.0};
};

/// Upper bounds of the latency buckets in nanoseconds: 1, 2.5, 5 per decade
/// from 1 us to 1 s, then 10 s. Beyond the last one: the +Inf bucket.
inline constexpr std::array<std::uint64_t, 22> latency_bounds_ns = {
    1'000,         2'500,         5'000,         10'000,       25'000,        50'000,
    100'000,       250'000,       500'000,       1'000'000,    2'500'000,     5'000'000,
    10'000'000,    25'000'000,    50'000'000,    100'000'000,  250'000'000,   500'000'000,
    1'000'000'000, 2'500'000'000, 5'000'000'000, 10'000'000'000};

struct histogram_cell {
  /// Per-bucket (not cumulative) counts; the last is +Inf.
  std::array<std::atomic<std::uint64_t>, latency_bounds_ns.size() + 1> buckets{};
  std::atomic<std::uint64_t> sum_ns{0};

  void observe(std::uint64_t ns) noexcept {
    const auto it = std::lower_bound(latency_bounds_ns.begin(), latency_bounds_ns.end(), ns);
    buckets[static_cast<std::size_t>(it - latency_bounds_ns.begin())].fetch_add(
        1, std::memory_order_relaxed);
    sum_ns.fetch_add(ns, std::memory_order_relaxed);
  }

  /// The counts as rendered: element i counts every duration up to bound i.
  std::array<std::uint64_t, latency_bounds_ns.size() + 1> cumulative() const noexcept {
    std::array<std::uint64_t, latency_bounds_ns.size() + 1> out{};
    std::uint64_t run = 0;
    for (std::size_t i = 0; i < buckets.size(); ++i) {
      run += buckets[i].load(std::memory_order_relaxed);
      out[i] = run;
    }
    return out;
  }
};

/// Shortest text that reads back as `v`, in %g style ("1e-06", "0.25", "10");
/// Prometheus spellings for the non-finite values.
inline std::string format_double(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general);
  return std::string(buf, r.ptr);
}

/// Prometheus metric names: [a-zA-Z_:][a-zA-Z0-9_:]*.
inline bool valid_metric_name(std::string_view n) noexcept {
  if (n.empty()) return false;
  for (std::size_t i = 0; i < n.size(); ++i) {
    const char c = n[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

/// Prometheus label names: [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__".
inline bool valid_label_name(std::string_view n) noexcept {
  if (n.empty() || n.starts_with("__")) return false;
  for (std::size_t i = 0; i < n.size(); ++i) {
    const char c = n[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

/// Escapes `\`, `"` (label values only) and newlines for the text format.
inline void append_escaped(std::string& out, std::string_view s, bool quote) {
  for (const char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (quote && c == '"') out += "\\\"";
    else out += c;
  }
}

}  // namespace storesync::detail
