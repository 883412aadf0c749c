// The audit trail's REST handler (spec: operations.md "Audit trail"); the
// records themselves are registry/audit.hpp's:
//   GET .../mcp_audit_events   the caller's records in the environment, newest
//                              first; limit/offset (daemon/api/pagination.hpp),
//                              filters installation_id and event_type
//
// REQUIRES (handle_audit_events): as for handle_installations (daemon/rest.cpp
// has authenticated the caller and checked scope and method). Thread-safety:
// stateless; the handler runs on the connection's shard and hops to the store
// thread for data.
#pragma once

#include "daemon/api/context.hpp"
#include "daemon/router.hpp"
#include "net/http_types.hpp"
#include "registry/audit.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

namespace mcpgate::daemon::api {

// The record as the API shows it: id, event_type, installation_id, tool_name
// (null when none), detail (the object), user_id, created_at (ISO 8601 UTC).
boost::json::object audit_event_json(const registry::audit_event& e);

boost::asio::awaitable<net::http_response> handle_audit_events(const api_context& ctx, const caller& who,
                                                               const route& r);

}  // namespace mcpgate::daemon::api
