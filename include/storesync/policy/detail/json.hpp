#pragma once
/// \file
/// Helpers for the policies' JSON configuration (internal): optional fields
/// keep their defaults, durations are integer milliseconds in `*_ms` fields,
/// and unknown fields are rejected so a typo does not silently fall back to a
/// default.

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

#include <nlohmann/json.hpp>

namespace storesync::detail {

/// Throws std::invalid_argument unless `j` is an object whose keys are all in `known`.
inline void expect_fields(const nlohmann::json& j, std::string_view what,
                          std::initializer_list<std::string_view> known) {
  if (!j.is_object())
    throw std::invalid_argument(std::string(what) + ": expected a JSON object");
  for (const auto& item : j.items()) {
    bool found = false;
    for (std::string_view k : known) found = found || item.key() == k;
    if (!found)
      throw std::invalid_argument(std::string(what) + ": unknown field \"" + item.key() + "\"");
  }
}

/// Reads `j[key]` into `out` when present; leaves the default otherwise.
/// Negative numbers are refused for unsigned fields (nlohmann would wrap them).
template <class T>
void read_field(const nlohmann::json& j, const char* key, T& out) {
  auto it = j.find(key);
  if (it == j.end()) return;
  if constexpr (std::is_unsigned_v<T> && !std::is_same_v<T, bool>) {
    if (!it->is_number_unsigned())
      throw std::invalid_argument(std::string(key) + ": expected a non-negative integer");
  }
  it->get_to(out);
}

/// Reads integer milliseconds from `j[key]` into a duration when present.
template <class Rep, class Period>
void read_ms(const nlohmann::json& j, const char* key, std::chrono::duration<Rep, Period>& out) {
  if (auto it = j.find(key); it != j.end())
    out = std::chrono::duration_cast<std::chrono::duration<Rep, Period>>(
        std::chrono::milliseconds(it->get<std::int64_t>()));
}

template <class Rep, class Period>
std::int64_t to_ms(std::chrono::duration<Rep, Period> d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

}  // namespace storesync::detail
