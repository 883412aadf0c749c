// The REST front door: route, authenticate, authorize, dispatch.
//
// For every request, in this order: the route (404), the caller's personal API
// key (401), the environment (404), the key's project restriction (403), the
// method (405 with Allow), the endpoint's scope (403), then the handler.
// Thread-safety: immutable after construction (what a reload changes is read
// from ctx.settings(), one snapshot per request); handle() runs concurrently
// on every shard at once.
#pragma once

#include "daemon/api/context.hpp"
#include "net/http_types.hpp"

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
  boost::asio::awaitable<net::http_response> handle(net::http_request& req) const;

  // For a client that waits for `100 Continue` (http_server's admit): the
  // answer refusing the request by its header alone (route, Host/Origin on
  // the proxy, the key), or nullopt to let its body come.
  boost::asio::awaitable<std::optional<net::http_response>> admit(const net::http_request& req) const;

  // The answer for a request the HTTP server itself refused (400, 413, 431, 500).
  net::http_response error_response(unsigned status, std::string_view target) const;

 private:
  // What the request's log line and metrics say about it, filled in as it
  // is routed and authenticated.
  struct request_record {
    std::string_view route = "unknown";  // route_name() of the resource
    std::int64_t user_id = 0;            // 0 until a key is accepted
    std::string installation_id;         // "" when the route names none
  };
  boost::asio::awaitable<net::http_response> route_request(net::http_request& req, request_record& record) const;
  const api::api_context ctx_;
};

}  // namespace mcpgate::daemon
