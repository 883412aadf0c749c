#include "net/api_error.hpp"

#include "common/error.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace mcpgate::net {

http_response api_error::to_response() const {
  boost::json::object body{{"type", type}, {"code", code}, {"detail", detail}, {"attr", nullptr}};
  if (attr) body["attr"] = *attr;
  http_response out = http_response::json(status, boost::json::serialize(body));
  if (retry_after > 0) out.headers.emplace_back("Retry-After", std::to_string(retry_after));
  return out;
}

api_error validation_error(std::string attr, std::string code, std::string detail) {
  return {400, "validation_error", std::move(code), std::move(detail), std::move(attr)};
}

api_error not_found() { return {404, "invalid_request", "not_found", "Not found.", std::nullopt}; }

api_error parse_error(std::string detail) {
  return {400, "invalid_request", "parse_error", std::move(detail), std::nullopt};
}

api_error not_authenticated() {
  return {401, "authentication_error", "not_authenticated", "Authentication credentials were not provided.",
          std::nullopt};
}

api_error authentication_failed() {
  return {401, "authentication_error", "authentication_failed", "Invalid personal API key.", std::nullopt};
}

api_error permission_denied(std::string detail) {
  return {403, "authentication_error", "permission_denied", std::move(detail), std::nullopt};
}

api_error method_not_allowed(std::string_view method) {
  return {405, "invalid_request", "method_not_allowed", "Method \"" + std::string(method) + "\" not allowed.",
          std::nullopt};
}

api_error payload_too_large() {
  return {413, "invalid_request", "request_too_large", "Request body exceeds the size limit.", std::nullopt};
}

api_error header_too_large() {
  return {431, "invalid_request", "header_too_large", "Request headers exceed the size limit.", std::nullopt};
}

api_error bad_request(std::string detail) {
  return {400, "invalid_request", "bad_request", std::move(detail), std::nullopt};
}

api_error server_error() { return {500, "server_error", "error", "A server error occurred.", std::nullopt}; }

api_error storage_unavailable(const boost::system::error_code& ec) {
  api_error e{503, "server_error", "storage_unavailable",
              "The gateway's storage is unavailable; nothing was changed. Try again shortly.", std::nullopt};
  if (ec == errc::storage_full) {
    e.code = "storage_full";
    e.detail = "The change was not saved: storage full.";
  } else if (ec == errc::storage_read_only) {
    e.code = "storage_read_only";
    e.detail = "The change was not saved: storage read-only.";
  }
  e.retry_after = 5;
  return e;
}

api_error throttled(unsigned retry_after_seconds) {
  api_error e{429, "throttled_error", "throttled",
              "Request was throttled. Expected available in " + std::to_string(retry_after_seconds) +
                  (retry_after_seconds == 1 ? " second." : " seconds."),
              std::nullopt};
  e.retry_after = retry_after_seconds;
  return e;
}

api_error overloaded(unsigned retry_after_seconds) {
  api_error e{503, "server_error", "overloaded", "The gateway is overloaded; try again shortly.", std::nullopt};
  e.retry_after = retry_after_seconds;
  return e;
}

api_error from_error_code(const boost::system::error_code& ec) {
  if (ec == errc::not_found) return not_found();
  if (ec == errc::overloaded) return overloaded(1);
  if (ec.category() == mcpgate_category() && is_storage_unavailable(static_cast<errc>(ec.value()))) {
    return storage_unavailable(ec);
  }
  return server_error();
}

}  // namespace mcpgate::net
