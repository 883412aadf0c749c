// The REST front door: route, authenticate, authorize, dispatch.
//
// For every request, in this order: the route (404), the caller's personal API
// key (401), the environment (404), the key's project restriction (403), the
// method (405 with Allow), the endpoint's scope (403), then the handler.
// Thread-safety: immutable after construction (what a reload changes is read
// from ctx.settings(), one snapshot per request); handle() runs concurrently
// on many strands.
#pragma once

#include "daemon/api/context.hpp"
#include "daemon/http_types.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace mcpgate::daemon {

class rest_api {
 public:
  explicit rest_api(api::api_context ctx);

  // Answers the request, then counts it (daemon/metrics.hpp) and logs its
  // line: request id (the client's X-Request-Id when it sends a sane one),
  // method, route, status, latency to the response head, user and
  // installation ids. Never a header value or a body.
  boost::asio::awaitable<http_response> handle(http_request& req) const;

  // For a client that waits for `100 Continue` (http_server's admit): the
  // answer refusing the request by its header alone (route, Host/Origin on
  // the proxy, the key), or nullopt to let its body come.
  boost::asio::awaitable<std::optional<http_response>> admit(const http_request& req) const;

  // The answer for a request the HTTP server itself refused (400, 413, 431, 500).
  http_response error_response(unsigned status, std::string_view target) const;

 private:
  // What the request's log line and metrics say about it, filled in as it
  // is routed and authenticated.
  struct request_record {
    std::string_view route = "unknown";  // route_name() of the resource
    std::int64_t user_id = 0;            // 0 until a key is accepted
    std::string installation_id;         // "" when the route names none
  };
  boost::asio::awaitable<http_response> route_request(http_request& req, request_record& record) const;
  // The caller's key, or the answer refusing the request (401, or 503 when
  // the store cannot say). `hot`: the proxy, which may use the key cache.
  boost::asio::awaitable<std::variant<std::shared_ptr<const registry::api_key>, http_response>> authenticate(
      const http_request& req, bool hot) const;

  const api::api_context ctx_;
};

}  // namespace mcpgate::daemon
