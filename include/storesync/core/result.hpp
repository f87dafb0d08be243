#pragma once
/// \file
/// `result<T>`: the return type of every storesync call that can fail.
///
/// \code
///   storesync::result<std::optional<storesync::entry>> r = store.read("user:42");
///   if (!r) return r.error();                 // propagate
///   BOOST_OUTCOME_TRY(auto report, store.write(batch));   // or let the macro do it
/// \endcode
/// No exception crosses storesync's public API: adapters catch what their
/// libraries throw and return it as an `error`.

#include <boost/outcome/std_result.hpp>
#include <boost/outcome/try.hpp>

#include "storesync/core/error.hpp"

namespace storesync {

/// A `T` or an `error` (a `std::error_code` with context).
template <class T>
using result = boost::outcome_v2::std_result<T, error>;

using boost::outcome_v2::success;

}  // namespace storesync
