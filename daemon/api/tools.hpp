// REST handlers for an installation's tools (spec: management-api.md "Tool
// object" and "Refresh rules"):
//   GET   .../{id}/tools               the registry's tools, by name
//   PATCH .../{id}/tools/{tool_name}   approval_state (audited)
//   POST  .../{id}/tools/refresh       a sync, synchronously
// The sync itself is the data path's: proxy/tool_sync.hpp.
//
// REQUIRES (handle_tools): as for handle_installations (daemon/rest.cpp has
// authenticated the caller and checked scope and method). Thread-safety:
// stateless apart from the context's sync registry; runs on the connection's
// shard, whose upstream pool the sync uses.
#pragma once

#include "daemon/api/context.hpp"
#include "net/http_types.hpp"
#include "registry/types.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <memory>
#include <string>
#include <vector>

namespace mcpgate::daemon::api {

boost::asio::awaitable<net::http_response> handle_tools(const api_context& ctx, const caller& who, const route& r,
                                                        const net::http_request& req);

// The tool object as the API shows it.
boost::json::object tool_json(const registry::tool& t);

}  // namespace mcpgate::daemon::api
