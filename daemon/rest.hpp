// The REST front door: route, authenticate, authorize, dispatch.
//
// For every request, in this order: the route (404), the caller's personal API
// key (401), the environment (404), the key's project restriction (403), the
// method (405 with Allow), the endpoint's scope (403), then the handler.
// Thread-safety: immutable after construction; handle() runs concurrently on
// many strands.
#pragma once

#include "config/config.hpp"
#include "daemon/api/context.hpp"
#include "daemon/http_types.hpp"

#include <boost/asio/awaitable.hpp>

#include <memory>

namespace mcpgate::daemon {

class rest_api {
 public:
  rest_api(std::shared_ptr<const config::config> cfg, api::api_context ctx);

  boost::asio::awaitable<http_response> handle(http_request& req) const;

  // The answer for a request the HTTP server itself refused (400, 413, 431, 500).
  http_response error_response(unsigned status, std::string_view target) const;

 private:
  const std::shared_ptr<const config::config> cfg_;
  const api::api_context ctx_;
};

}  // namespace mcpgate::daemon
