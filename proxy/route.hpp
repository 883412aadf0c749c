// The proxy route: .../mcp_server_installations/{id}/proxy, the MCP endpoint
// agents use. POST, GET and DELETE are relayed to the installation's upstream
// with its credential (spec: proxy.md), a text/event-stream answer piece by
// piece as it arrives. The request goes through the chain of steps in
// proxy/steps.hpp.
//
// REQUIRES: the REST front (daemon/rest.cpp) has run the admission
// (proxy/admission.hpp: Host, Origin, the agent's key) and the environment,
// project restriction, method and scope checks.
// Thread-safety: stateless; runs on the connection's shard.
#pragma once

#include "net/http_types.hpp"
#include "proxy/context.hpp"

#include <boost/asio/awaitable.hpp>

#include <string>

namespace mcpgate::proxy {

boost::asio::awaitable<net::http_response> handle_proxy(const context& ctx, const caller& who,
                                                        const std::string& installation_id, net::http_request& req);

}  // namespace mcpgate::proxy
