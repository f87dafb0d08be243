#pragma once
/// \file
/// The policies' JSON: nlohmann `to_json` / `from_json` for the `config` of
/// every ready model, and `load_config`, which reads one without exceptions.
/// The only policy header that includes nlohmann_json, so a program that
/// configures its policies in code does not pay for it.
///
/// Durations are integer milliseconds in fields named `*_ms`; absent fields
/// keep their defaults; unknown fields are an error. `load_config` turns any
/// parse or range error into an `invalid_argument` error instead of an
/// exception. It reads any `Config` nlohmann can read: a custom policy's
/// config brings its own `from_json`.
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
#include "storesync/policy/aimd_batch_sizer.hpp"
#include "storesync/policy/backpressure_policy.hpp"
#include "storesync/policy/batch_sizer.hpp"
#include "storesync/policy/consistency_policy.hpp"
#include "storesync/policy/detail/json.hpp"
#include "storesync/policy/exponential_backoff.hpp"
#include "storesync/policy/retry_budget.hpp"
#include "storesync/policy/retry_policy.hpp"

namespace storesync {

// Retry.

inline void to_json(nlohmann::json& j, const no_retry::config&) { j = nlohmann::json::object(); }
inline void from_json(const nlohmann::json& j, no_retry::config&) {
  detail::expect_fields(j, "no_retry", {});
}

inline void to_json(nlohmann::json& j, const exponential_backoff::config& c) {
  j = {{"base_ms", detail::to_ms(c.base)},
       {"cap_ms", detail::to_ms(c.cap)},
       {"max_attempts", c.max_attempts},
       {"max_elapsed_ms", detail::to_ms(c.max_elapsed)},
       {"seed", c.seed}};
}
inline void from_json(const nlohmann::json& j, exponential_backoff::config& c) {
  detail::expect_fields(j, "exponential_backoff",
                        {"base_ms", "cap_ms", "max_attempts", "max_elapsed_ms", "seed"});
  detail::read_ms(j, "base_ms", c.base);
  detail::read_ms(j, "cap_ms", c.cap);
  detail::read_field(j, "max_attempts", c.max_attempts);
  detail::read_ms(j, "max_elapsed_ms", c.max_elapsed);
  detail::read_field(j, "seed", c.seed);
}

inline void to_json(nlohmann::json& j, const retry_budget_config& c) {
  j = {{"max_tokens", c.max_tokens},
       {"retry_cost", c.retry_cost},
       {"timeout_retry_cost", c.timeout_retry_cost},
       {"success_refund", c.success_refund}};
}
inline void from_json(const nlohmann::json& j, retry_budget_config& c) {
  detail::expect_fields(j, "retry_budget",
                        {"max_tokens", "retry_cost", "timeout_retry_cost", "success_refund"});
  detail::read_field(j, "max_tokens", c.max_tokens);
  detail::read_field(j, "retry_cost", c.retry_cost);
  detail::read_field(j, "timeout_retry_cost", c.timeout_retry_cost);
  detail::read_field(j, "success_refund", c.success_refund);
}

// Batch sizing.

inline void to_json(nlohmann::json& j, const fixed_batch_sizer::config& c) { j = {{"size", c.size}}; }
inline void from_json(const nlohmann::json& j, fixed_batch_sizer::config& c) {
  detail::expect_fields(j, "fixed_batch_sizer", {"size"});
  detail::read_field(j, "size", c.size);
}

inline void to_json(nlohmann::json& j, const aimd_batch_sizer::config& c) {
  j = {{"min_size", c.min_size},
       {"max_size", c.max_size},
       {"initial_size", c.initial_size},
       {"target_duration_ms", detail::to_ms(c.target_duration)},
       {"failure_rate_threshold", c.failure_rate_threshold},
       {"additive_step", c.additive_step},
       {"multiplicative_decrease", c.multiplicative_decrease}};
}
inline void from_json(const nlohmann::json& j, aimd_batch_sizer::config& c) {
  detail::expect_fields(j, "aimd_batch_sizer",
                        {"min_size", "max_size", "initial_size", "target_duration_ms",
                         "failure_rate_threshold", "additive_step", "multiplicative_decrease"});
  detail::read_field(j, "min_size", c.min_size);
  detail::read_field(j, "max_size", c.max_size);
  detail::read_field(j, "initial_size", c.initial_size);
  detail::read_ms(j, "target_duration_ms", c.target_duration);
  detail::read_field(j, "failure_rate_threshold", c.failure_rate_threshold);
  detail::read_field(j, "additive_step", c.additive_step);
  detail::read_field(j, "multiplicative_decrease", c.multiplicative_decrease);
}

// Backpressure.

inline void to_json(nlohmann::json& j, const block_for::config& c) {
  j = {{"timeout_ms", detail::to_ms(c.timeout)}};
}
inline void from_json(const nlohmann::json& j, block_for::config& c) {
  detail::expect_fields(j, "block_for", {"timeout_ms"});
  detail::read_ms(j, "timeout_ms", c.timeout);
}

inline void to_json(nlohmann::json& j, const reject::config&) { j = nlohmann::json::object(); }
inline void from_json(const nlohmann::json& j, reject::config&) {
  detail::expect_fields(j, "reject", {});
}

// Consistency (strict, best effort and primary only share the empty config).

namespace detail {
inline void to_json(nlohmann::json& j, const no_knobs_config&) { j = nlohmann::json::object(); }
inline void from_json(const nlohmann::json& j, no_knobs_config&) {
  expect_fields(j, "consistency policy", {});
}
}  // namespace detail

// Loading.

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
