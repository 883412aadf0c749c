// The management API's error body, and the one place errors become statuses.
//
// Every error answer is JSON: {"type","code","detail","attr"}, as PostHog's
// API gives it. Thread-safety: plain values and pure functions.
#pragma once

#include "net/http_types.hpp"

#include <boost/system/error_code.hpp>

#include <optional>
#include <string>

namespace mcpgate::net {

struct api_error {
  unsigned status = 400;
  std::string type = "validation_error";  // validation_error, authentication_error, invalid_request, server_error
  std::string code;
  std::string detail;
  std::optional<std::string> attr;
  unsigned retry_after = 0;  // seconds; sent as Retry-After when set

  http_response to_response() const;
};

api_error validation_error(std::string attr, std::string code, std::string detail);
api_error not_found();
api_error parse_error(std::string detail);
api_error not_authenticated();
api_error authentication_failed();
api_error permission_denied(std::string detail);
api_error method_not_allowed(std::string_view method);
api_error payload_too_large();
api_error header_too_large();
api_error bad_request(std::string detail);
api_error server_error();
// 503 with Retry-After: the store could not keep a write (or answer); the
// detail names the cause: "storage full", "storage read-only", or unavailable.
api_error storage_unavailable(const boost::system::error_code& ec);
// 429 with Retry-After, as Django REST framework's throttling answers.
api_error throttled(unsigned retry_after_seconds);
// 503 with Retry-After: the gateway sheds work to stay within its limits.
api_error overloaded(unsigned retry_after_seconds);

// A store or module failure: not_found -> 404; storage errors -> 503 (see
// storage_unavailable); errc::overloaded -> 503; anything else -> 500
// (logged by the caller with what was being done).
api_error from_error_code(const boost::system::error_code& ec);

}  // namespace mcpgate::net
