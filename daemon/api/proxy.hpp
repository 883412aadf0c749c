// The proxy route: .../mcp_server_installations/{id}/proxy, the MCP endpoint
// agents use. POST, GET and DELETE are relayed to the installation's upstream
// with its credential (spec: proxy.md), a text/event-stream answer piece by
// piece as it arrives.
//
// REQUIRES: rest.cpp has checked Host/Origin (check_rebinding), the agent's
// key, the environment, the project restriction, the method and the scope.
// Thread-safety: stateless; runs on the connection's strand.
#pragma once

#include "daemon/api/context.hpp"
#include "daemon/http_types.hpp"

#include <boost/asio/awaitable.hpp>

#include <optional>

namespace mcpgate::daemon::api {

boost::asio::awaitable<http_response> handle_proxy(const api_context& ctx, const caller& who,
                                                   const route& r, http_request& req);

// The DNS-rebinding defence of the MCP transport: a 403 when Host is not one
// the gateway answers to or Origin is present and not allowed; nullopt when
// the request may go on.
std::optional<http_response> check_rebinding(const proxy_options& options, const http_request& req);

// The caller's installation with its credential opened and its URL checked:
// from the proxy's cache, else from the store (then cached). nullptr with
// ok=true: no such installation for this caller; ok=false: the store failed.
boost::asio::awaitable<std::shared_ptr<const cached_installation>> find_installation(const api_context& ctx,
                                                                                   const caller& who,
                                                                                   const std::string& id,
                                                                                   bool& ok);

// {"error": message} with this status, the proxy's error body.
http_response proxy_error(unsigned status, std::string_view message);

}  // namespace mcpgate::daemon::api
