// mcpgate's own error codes, as values on the data path.
//
// Every module reports failures as a std::error_code (boost::system::error_code
// converts to and from it) built from mcpgate::errc; the REST edge maps them to
// HTTP statuses in one place (daemon/api/errors). Thread-safe: the category is
// a stateless singleton.
#pragma once

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <string>
#include <system_error>

namespace mcpgate {

enum class errc {
  ok = 0,
  not_found,          // the thing asked for does not exist (or is not the caller's)
  already_exists,     // a uniqueness rule was hit
  invalid_argument,   // input the caller should fix
  store_failure,      // the database failed (I/O, corruption, busy past the timeout)
  crypto_failure,     // sealing or opening a secret failed (wrong key, tampering)
  io_failure,         // a file could not be read or written
  not_supported,      // a configured feature this build does not provide
  storage_full,       // a write failed: the disk (or quota) holding the database is full
  storage_read_only,  // a write failed: the database is read-only (file, folder or filesystem)
  overloaded,         // work refused to keep memory and latency bounded (shed load)
};

// True for the errors that say the store could not keep a write for a
// reason outside the request (full, read-only, I/O): retrying later may work.
constexpr bool is_storage_unavailable(errc e) {
  return e == errc::store_failure || e == errc::storage_full || e == errc::storage_read_only;
}

const boost::system::error_category& mcpgate_category() noexcept;

inline boost::system::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), mcpgate_category()}; }

// result<T>: a T or an error_code. Use .has_value(), .value(), .error().
template <class T>
using result = boost::system::result<T, boost::system::error_code>;

}  // namespace mcpgate

namespace boost::system {
template <>
struct is_error_code_enum<mcpgate::errc> : std::true_type {};
}  // namespace boost::system
