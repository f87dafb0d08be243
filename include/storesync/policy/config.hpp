#pragma once
/// \file
/// Loading a policy's configuration from JSON without exceptions.
///
/// Every ready policy model has a `config` struct with defaults and nlohmann
/// `from_json` / `to_json` (durations are integer milliseconds in fields named
/// `*_ms`; absent fields keep their defaults; unknown fields are an error).
/// `load_config` turns any parse or range error into an `invalid_argument`
/// error instead of an exception:
/// \code
///   auto cfg = storesync::load_config<storesync::exponential_backoff::config>(
///       R"({"base_ms": 50, "cap_ms": 2000, "max_attempts": 4})");
///   if (!cfg) return cfg.error();          // errc::invalid_argument, says which field
///   storesync::exponential_backoff retry{cfg.value()};
/// \endcode

#include <concepts>
#include <exception>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "storesync/core/result.hpp"

namespace storesync {

/// A `Config` read from a parsed JSON value, checked by `Config::validate()`
/// when it has one. Errors: `errc::invalid_argument` naming the field.
template <class Config, class Json>
  requires std::same_as<Json, nlohmann::json>
result<Config> load_config(const Json& j) {
  try {
    Config c = j.template get<Config>();
    if constexpr (requires { { c.validate() } -> std::same_as<result<void>>; }) {
      if (auto ok = c.validate(); !ok) return ok.error();
    }
    return c;
  } catch (const std::exception& e) {
    return error{errc::invalid_argument, e.what()};
  }
}

/// A `Config` read from JSON text.
template <class Config>
result<Config> load_config(std::string_view json_text) {
  auto j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return error{errc::invalid_argument, "configuration is not valid JSON"};
  return load_config<Config>(static_cast<const nlohmann::json&>(j));
}

}  // namespace storesync
