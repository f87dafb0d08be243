#pragma once
// PostgreSQL adapter internals: SQLSTATE -> errc mapping, libpqxx exception
// translation, identifier quoting and connection-string redaction.
// Nothing here is public API; see storesync/store/postgres_store.hpp.

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <functional>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <pqxx/pqxx>

#include "storesync/core/detail/text.hpp"
#include "storesync/core/error.hpp"
#include "storesync/core/result.hpp"
#include "storesync/store/detail/sql_text.hpp"

namespace storesync::detail {

/// PostgreSQL truncates identifiers longer than this (NAMEDATALEN - 1).
inline constexpr std::size_t pg_max_identifier = 63;

/// Maps a five-character SQLSTATE onto storesync's codes. `connecting` tells
/// connection-class states apart: failing to connect vs. losing a connection.
inline errc pg_errc_from_sqlstate(std::string_view state, bool connecting = false) noexcept {
  const auto starts = [&](std::string_view p) { return state.substr(0, p.size()) == p; };
  if (starts("08")) return connecting ? errc::connection_failed : errc::connection_lost;
  if (state == "57P01" || state == "57P02") return errc::connection_lost;  // admin/crash shutdown
  if (state == "57P03") return errc::connection_failed;                    // cannot connect now
  if (state == "57014") return errc::timeout;                              // statement timeout / cancel
  if (state == "40001") return errc::serialization_failure;
  if (state == "40P01") return errc::deadlock;
  if (starts("53")) return errc::resource_exhausted;
  if (starts("22")) return errc::invalid_value;
  if (starts("23")) return errc::constraint_violation;
  return errc::backend_failure;
}

/// `name` as a quoted SQL identifier: any byte but NUL is safe inside.
inline std::string pg_quote_ident(std::string_view name) { return sql_identifier(name); }

/// `s` as a quoted SQL string literal (standard_conforming_strings is on
/// since PostgreSQL 9.1, so only quotes need doubling).
inline std::string pg_quote_literal(std::string_view s) { return sql_literal(s); }

/// Checks a schema or table name: 1..63 bytes, no NUL, valid UTF-8.
inline result<void> pg_check_identifier(std::string_view what, std::string_view name) {
  if (name.empty()) return error{errc::invalid_argument, std::string(what) + " name is empty"};
  if (name.size() > pg_max_identifier)
    return error{errc::invalid_argument, std::string(what) + " name " + storesync::detail::quoted(name) + " is " +
                                             std::to_string(name.size()) +
                                             " bytes; PostgreSQL keeps 63"};
  if (name.find('\0') != std::string_view::npos || invalid_utf8_at(name) != std::string_view::npos)
    return error{errc::invalid_argument,
                 std::string(what) + " name " + storesync::detail::quoted(name) + " has a NUL byte or invalid UTF-8"};
  return success();
}

/// True when `s` can travel as a text parameter (libpq parameters are C
/// strings; the server rejects invalid UTF-8).
inline bool pg_text_ok(std::string_view s) noexcept {
  return s.find('\0') == std::string_view::npos && invalid_utf8_at(s) == std::string_view::npos;
}

/// `base + suffix` when it fits an identifier, else a stable hashed name.
inline std::string pg_derived_name(std::string_view base, std::string_view suffix) {
  if (base.size() + suffix.size() <= pg_max_identifier) return std::string(base) + std::string(suffix);
  std::uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (const char c : base) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "storesync_";
  for (int i = 60; i >= 0; i -= 4) out += hex[(h >> i) & 15];
  return out + std::string(suffix);
}

// --- connection strings ------------------------------------------------------

inline bool pg_is_url(std::string_view s) noexcept {
  return s.rfind("postgresql://", 0) == 0 || s.rfind("postgres://", 0) == 0;
}

/// The password a connection string carries (URL user info, `?password=`, or
/// `password=` keyword), else PGPASSWORD. Empty when there is none.
inline std::string pg_password_of(std::string_view conninfo) {
  std::string found;
  if (pg_is_url(conninfo)) {
    const auto start = conninfo.find("://") + 3;
    const auto end = conninfo.find_first_of("/?", start);
    const auto authority = conninfo.substr(start, end == std::string_view::npos ? end : end - start);
    if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
      const auto userinfo = authority.substr(0, at);
      if (const auto colon = userinfo.find(':'); colon != std::string_view::npos)
        found = std::string(userinfo.substr(colon + 1));
    }
    if (const auto q = conninfo.find("password=", start); q != std::string_view::npos) {
      const auto v = q + 9;
      found = std::string(conninfo.substr(v, conninfo.find('&', v) - v));
    }
  } else if (const auto k = conninfo.find("password"); k != std::string_view::npos) {
    auto i = conninfo.find('=', k);
    if (i != std::string_view::npos) {
      ++i;
      while (i < conninfo.size() && conninfo[i] == ' ') ++i;
      if (i < conninfo.size() && conninfo[i] == '\'') {
        for (++i; i < conninfo.size() && conninfo[i] != '\''; ++i) {
          if (conninfo[i] == '\\' && i + 1 < conninfo.size()) ++i;
          found += conninfo[i];
        }
      } else {
        while (i < conninfo.size() && conninfo[i] != ' ') found += conninfo[i++];
      }
    }
  }
  if (found.empty()) {
    if (const char* env = std::getenv("PGPASSWORD")) found = env;
  }
  return found;
}

/// `conninfo` fit for a log line: any password replaced by `***`.
inline std::string pg_redact(std::string_view conninfo) {
  std::string out(conninfo);
  if (pg_is_url(out)) {
    const auto start = out.find("://") + 3;
    auto end = out.find_first_of("/?", start);
    if (end == std::string::npos) end = out.size();
    const auto at = out.rfind('@', end - 1);
    if (at != std::string::npos && at >= start) {
      const auto colon = out.find(':', start);
      if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
    }
    for (auto q = out.find("password=", start); q != std::string::npos;
         q = out.find("password=", q + 12)) {
      const auto v = q + 9;
      auto e = out.find('&', v);
      if (e == std::string::npos) e = out.size();
      out.replace(v, e - v, "***");
    }
    return out;
  }
  for (auto k = out.find("password"); k != std::string::npos; k = out.find("password", k + 8)) {
    auto i = out.find('=', k);
    if (i == std::string::npos) break;
    ++i;
    while (i < out.size() && out[i] == ' ') ++i;
    auto e = i;
    if (e < out.size() && out[e] == '\'') {
      for (++e; e < out.size() && out[e] != '\''; ++e)
        if (out[e] == '\\') ++e;
      if (e < out.size()) ++e;
    } else {
      while (e < out.size() && out[e] != ' ') ++e;
    }
    out.replace(i, e - i, "***");
  }
  return out;
}

/// `message` with every occurrence of `password` replaced by `***`.
inline std::string pg_scrub(std::string message, std::string_view password) {
  if (password.empty()) return message;
  for (auto p = message.find(password); p != std::string::npos; p = message.find(password, p + 3))
    message.replace(p, password.size(), "***");
  return message;
}

// --- exception translation ---------------------------------------------------

/// The useful part of a libpq error text: the primary message and DETAIL,
/// without CONTEXT (which can echo a whole row), cut to a sane length.
inline std::string pg_brief(std::string_view what) {
  std::string out;
  std::size_t pos = 0;
  while (pos < what.size()) {
    auto nl = what.find('\n', pos);
    if (nl == std::string_view::npos) nl = what.size();
    auto line = what.substr(pos, nl - pos);
    pos = nl + 1;
    // CONTEXT and QUERY can echo a whole row or statement; a COPY error's
    // row is named by its key instead.
    if (line.empty() || line.rfind("CONTEXT:", 0) == 0 || line.rfind("QUERY:", 0) == 0 ||
        line.rfind("COPY ", 0) == 0)
      continue;
    if (line.rfind("ERROR:", 0) == 0 || line.rfind("FATAL:", 0) == 0) {
      line.remove_prefix(6);
    }
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    if (!out.empty()) out += "; ";
    out += line;
  }
  constexpr std::size_t max_len = 400;
  if (out.size() > max_len) out = out.substr(0, max_len) + "...";
  return out;
}

/// The staging row a COPY error points at ("COPY <table>, line N"), 1-based.
inline std::optional<std::size_t> pg_copy_line(std::string_view what) {
  const auto copy = what.find("COPY ");
  if (copy == std::string_view::npos) return std::nullopt;
  const auto line = what.find(", line ", copy);
  if (line == std::string_view::npos) return std::nullopt;
  std::size_t n = 0;
  const char* first = what.data() + line + 7;
  const auto [ptr, ec] = std::from_chars(first, what.data() + what.size(), n);
  if (ec != std::errc{} || ptr == first || n == 0) return std::nullopt;
  return n;
}

/// What a failed call needs to know to build its error.
struct pg_call_context {
  /// "write to \"public\".\"t\"" and the like.
  std::string operation;
  /// Scrubbed from every message.
  std::string_view password;
  /// Maps a COPY line (1-based) to the key it carried, if the call streamed.
  std::function<std::optional<std::string>(std::size_t)> key_of_line;
  /// Set when the connection must not be reused.
  bool broken = false;
};

/// Translates the exception in flight (call only inside a catch block) into
/// an `error`, so no libpqxx exception leaves the adapter.
inline error pg_current_error(pg_call_context& ctx, const pqxx::connection_base* conn) {
  const auto make = [&](errc code, std::string msg, std::string_view state = {}) {
    std::string text = ctx.operation + ": " + pg_scrub(std::move(msg), ctx.password);
    if (!state.empty()) text += " (SQLSTATE " + std::string(state) + ")";
    return error{code, std::move(text)};
  };
  const bool open = conn != nullptr && conn->is_open();
  try {
    throw;
  } catch (const pqxx::broken_connection& e) {
    ctx.broken = true;
    return make(errc::connection_lost, pg_brief(e.what()));
  } catch (const pqxx::sql_error& e) {
    const std::string& state = e.sqlstate();
    errc code = state.empty() ? (open ? errc::backend_failure : errc::connection_lost)
                              : pg_errc_from_sqlstate(state);
    if (code == errc::connection_lost || code == errc::connection_failed || !open) {
      ctx.broken = true;
      if (code == errc::backend_failure) code = errc::connection_lost;
    }
    std::string msg = pg_brief(e.what());
    if (code == errc::invalid_value || code == errc::constraint_violation) {
      if (const auto line = pg_copy_line(e.what()); line && ctx.key_of_line) {
        if (auto key = ctx.key_of_line(*line)) msg = "key " + storesync::detail::quoted(*key) + ": " + msg;
      }
    }
    return make(code, std::move(msg), state);
  } catch (const pqxx::in_doubt_error& e) {
    ctx.broken = true;
    return make(errc::connection_lost, std::string("commit outcome unknown: ") + e.what());
  } catch (const pqxx::deadlock_detected& e) {
    return make(errc::deadlock, pg_brief(e.what()), "40P01");
  } catch (const pqxx::serialization_failure& e) {
    return make(errc::serialization_failure, pg_brief(e.what()), "40001");
  } catch (const pqxx::statement_completion_unknown& e) {
    ctx.broken = true;
    return make(errc::connection_lost, pg_brief(e.what()), "40003");
  } catch (const pqxx::transaction_rollback& e) {
    return make(errc::serialization_failure, pg_brief(e.what()));
  } catch (const std::bad_alloc&) {
    return make(errc::resource_exhausted, "out of memory");
  } catch (const std::exception& e) {
    if (!open) {
      ctx.broken = true;
      return make(errc::connection_lost, pg_brief(e.what()));
    }
    return make(errc::backend_failure, pg_brief(e.what()));
  } catch (...) {
    ctx.broken = true;
    return make(errc::backend_failure, "unknown exception");
  }
}

}  // namespace storesync::detail
