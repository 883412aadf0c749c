// REST handlers for /mcp_server_installations, /mcp_server_installations/{id}
// and /mcp_server_installations/install_custom (api_key and none installs).
//
// REQUIRES: the caller is authenticated, may access the environment and holds
// the endpoint's scope (daemon/rest.cpp checks that before dispatching), and
// the method is one the resource answers. Thread-safety: stateless; runs on
// the connection's shard and hops to the store thread for data.
#pragma once

#include "common/error.hpp"
#include "daemon/api/context.hpp"
#include "net/http_types.hpp"
#include "registry/store.hpp"
#include "registry/types.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

namespace mcpgate::daemon::api {

boost::asio::awaitable<net::http_response> handle_installations(const api_context& ctx, const caller& who,
                                                                const route& r, const net::http_request& req);

// The installation object as the API shows it; never includes secrets.
// The installation object; name and icon_key fall back to its template's.
boost::json::object installation_json(const registry::installation& inst, const api_context& ctx);

}  // namespace mcpgate::daemon::api
