// REST handlers for an installation's tools (spec: management-api.md "Tool
// object" and "Refresh rules"):
//   GET   .../{id}/tools               the registry's tools, by name
//   PATCH .../{id}/tools/{tool_name}   approval_state (audited)
//   POST  .../{id}/tools/refresh       a sync, synchronously
// and the sync itself, which install and the proxy path also start.
//
// REQUIRES (handle_tools): as for handle_installations (daemon/rest.cpp has
// authenticated the caller and checked scope and method). Thread-safety:
// stateless apart from the context's sync registry; runs on the connection's
// shard, whose upstream pool the sync uses.
#pragma once

#include "daemon/api/context.hpp"
#include "daemon/http_types.hpp"
#include "registry/types.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <memory>
#include <string>
#include <vector>

namespace mcpgate::daemon::api {

boost::asio::awaitable<http_response> handle_tools(const api_context& ctx, const caller& who, const route& r,
                                                   const http_request& req);

// The tool object as the API shows it.
boost::json::object tool_json(const registry::tool& t);

struct sync_outcome {
  bool ok = false;
  std::string detail;  // when !ok: what failed (for logs; never holds a credential)
  std::vector<registry::tool> tools;  // when ok: every tool afterwards, removed ones included
};

// Lists the upstream's tools with the installation's credential and applies
// the answer to the registry; the cache forgets the installation so the next
// request sees the new states and tool_count. A failure changes nothing.
// REQUIRES: entry.upstream is set; runs on a shard (its upstream pool).
boost::asio::awaitable<sync_outcome> sync_tools_now(const api_context& ctx,
                                                    std::shared_ptr<const cached_installation> entry);

// Starts sync_tools_now on the current shard without waiting for it, unless
// one is already running for this installation (the proxy path may ask many
// times in a row). Failures are logged.
void sync_tools_in_background(const api_context& ctx, std::shared_ptr<const cached_installation> entry,
                              const boost::asio::any_io_executor& shard);

}  // namespace mcpgate::daemon::api
