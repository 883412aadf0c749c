#include "daemon/api/errors.hpp"

#include "common/error.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace mcpgate::daemon::api {

http_response api_error::to_response() const {
  boost::json::object body{{"type", type}, {"code", code}, {"detail", detail}, {"attr", nullptr}};
  if (attr) body["attr"] = *attr;
  return http_response::json(status, boost::json::serialize(body));
}

api_error validation_error(std::string attr, std::string code, std::string detail) {
  return {400, "validation_error", std::move(code), std::move(detail), std::move(attr)};
}

api_error not_found() { return {404, "invalid_request", "not_found", "Not found.", std::nullopt}; }

api_error parse_error(std::string detail) {
  return {400, "invalid_request", "parse_error", std::move(detail), std::nullopt};
}

api_error not_authenticated() {
  return {401, "authentication_error", "not_authenticated",
          "Authentication credentials were not provided.", std::nullopt};
}

api_error authentication_failed() {
  return {401, "authentication_error", "authentication_failed", "Invalid personal API key.",
          std::nullopt};
}

api_error permission_denied(std::string detail) {
  return {403, "authentication_error", "permission_denied", std::move(detail), std::nullopt};
}

api_error method_not_allowed(std::string_view method) {
  return {405, "invalid_request", "method_not_allowed",
          "Method \"" + std::string(method) + "\" not allowed.", std::nullopt};
}

api_error payload_too_large() {
  return {413, "invalid_request", "request_too_large", "Request body exceeds the size limit.",
          std::nullopt};
}

api_error header_too_large() {
  return {431, "invalid_request", "header_too_large", "Request headers exceed the size limit.",
          std::nullopt};
}

api_error bad_request(std::string detail) {
  return {400, "invalid_request", "bad_request", std::move(detail), std::nullopt};
}

api_error server_error() {
  return {500, "server_error", "error", "A server error occurred.", std::nullopt};
}

api_error from_error_code(const boost::system::error_code& ec) {
  if (ec == errc::not_found) return not_found();
  return server_error();
}

}  // namespace mcpgate::daemon::api
