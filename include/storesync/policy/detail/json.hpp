#pragma once
/// \file
/// Helpers for the policies' JSON configuration (internal): optional fields
/// keep their defaults, durations are integer milliseconds in `*_ms` fields,
/// and unknown fields are rejected so a typo does not silently fall back to a
/// default.

#include <chrono>
#include <cstdint>
#include <limits>
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
/// An integer field takes only an integer that fits it (nlohmann would wrap
/// a negative or too large one, and truncate a fraction); a bool only a
/// bool; a floating-point field any number; anything else what nlohmann
/// converts.
template <class T>
void read_field(const nlohmann::json& j, const char* key, T& out) {
  auto it = j.find(key);
  if (it == j.end()) return;
  if constexpr (std::is_same_v<T, bool>) {
    if (!it->is_boolean()) throw std::invalid_argument(std::string(key) + ": expected true or false");
  } else if constexpr (std::is_integral_v<T>) {
    const bool fits = std::is_unsigned_v<T>
                          ? it->is_number_unsigned() &&
                                it->template get<std::uint64_t>() <= std::numeric_limits<T>::max()
                          : it->is_number_integer() &&
                                (it->is_number_unsigned()
                                     ? it->template get<std::uint64_t>() <=
                                           static_cast<std::uint64_t>(std::numeric_limits<T>::max())
                                     : it->template get<std::int64_t>() >= std::numeric_limits<T>::min() &&
                                           it->template get<std::int64_t>() <= std::numeric_limits<T>::max());
    if (!fits)
      throw std::invalid_argument(std::string(key) + ": expected " +
                                  (std::is_unsigned_v<T> ? "a non-negative integer" : "an integer") + " up to " +
                                  std::to_string(std::numeric_limits<T>::max()));
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!it->is_number()) throw std::invalid_argument(std::string(key) + ": expected a number");
  }
  it->get_to(out);
}

/// Reads integer milliseconds from `j[key]` into a duration when present;
/// anything but an integer of milliseconds that the duration holds is refused.
template <class Rep, class Period>
void read_ms(const nlohmann::json& j, const char* key, std::chrono::duration<Rep, Period>& out) {
  auto it = j.find(key);
  if (it == j.end()) return;
  using target = std::chrono::duration<Rep, Period>;
  const auto most = std::chrono::duration_cast<std::chrono::milliseconds>(target::max()).count();
  const auto least = std::chrono::duration_cast<std::chrono::milliseconds>(target::min()).count();
  const bool fits = it->is_number_integer() &&
                    (it->is_number_unsigned() ? it->template get<std::uint64_t>() <= static_cast<std::uint64_t>(most)
                                              : it->template get<std::int64_t>() >= least &&
                                                    it->template get<std::int64_t>() <= most);
  if (!fits) throw std::invalid_argument(std::string(key) + ": expected a whole number of milliseconds");
  out = std::chrono::duration_cast<target>(std::chrono::milliseconds(it->template get<std::int64_t>()));
}

template <class Rep, class Period>
std::int64_t to_ms(std::chrono::duration<Rep, Period> d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

}  // namespace storesync::detail
