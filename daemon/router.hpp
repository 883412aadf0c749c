// Matches request targets to the REST API's routes.
//
// Both route families, /api/projects/{id}/... and /api/environments/{id}/...,
// map to the same routes; a trailing slash is optional. Thread-safety: pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mcpgate::daemon {

enum class route_family { projects, environments };

enum class resource {
  installations,   // .../mcp_server_installations
  installation,    // .../mcp_server_installations/{id}
  install_custom,  // .../mcp_server_installations/install_custom
  proxy,           // .../mcp_server_installations/{id}/proxy
  tools,           // .../mcp_server_installations/{id}/tools
  tool,            // .../mcp_server_installations/{id}/tools/{tool_name}
  // .../mcp_server_installations/{id}/tools/refresh: POST refreshes; PATCH
  // is the approval of a tool that happens to be named "refresh".
  tools_refresh,
  install_template,  // .../mcp_server_installations/install_template
  authorize,         // .../mcp_server_installations/authorize
  templates,         // .../mcp_servers: the template catalog
  audit_events,      // .../mcp_audit_events: the caller's audit trail
  // Below /api/mcp_store/, outside any project: the browser's side of an
  // OAuth flow, reached without an API key (spec: oauth.md).
  oauth_start,     // /api/mcp_store/oauth_start/: GET binds the browser and asks; POST confirms, on to the AS
  oauth_callback,  // /api/mcp_store/oauth_redirect/: the AS sends the browser back here
  oauth_result,    // /api/mcp_store/oauth_result/: the gateway's "connected" page
  // /oauth/client-metadata.json: the gateway's Client ID Metadata Document,
  // fetched by authorization servers.
  client_metadata,
};

// The resources reached without an API key.
constexpr bool is_oauth_browser_route(resource r) {
  return r == resource::oauth_start || r == resource::oauth_callback || r == resource::oauth_result ||
         r == resource::client_metadata;
}

struct route {
  route_family family = route_family::environments;
  std::int64_t scope_id = 0;  // the project or environment id in the path
  enum resource resource = resource::installations;
  std::string installation_id;  // percent-decoded; set for everything below an installation
  std::string tool_name;        // percent-decoded; set for tool (and tools_refresh: "refresh")
  // The request path as sent, without the query: a view into the target
  // passed to match_route(), valid as long as that target.
  std::string_view path;
  // Query parameters, percent-decoded, in order (empty without a query).
  std::vector<std::pair<std::string, std::string>> params;
};

// nullopt: no such route (404). A malformed target is no route either.
// Allocates only for the installation id and query parameters: it runs on
// every proxied request.
std::optional<route> match_route(std::string_view target);

// The methods a resource answers, for 405's Allow header ("GET, POST").
std::string_view allowed_methods(resource r);

// A fixed, short name for the resource: the route label of metrics and
// request log lines ("installations", "proxy", ...).
std::string_view route_name(resource r);

}  // namespace mcpgate::daemon
