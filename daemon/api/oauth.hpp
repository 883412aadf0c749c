// The OAuth side of the REST API (spec: oauth.md, management-api.md):
//   GET .../mcp_servers                               the template catalog
//   GET .../mcp_server_installations/authorize        starts (or restarts) a flow: 302
//   GET /api/mcp_store/oauth_start/?state=            binds the browser (cookie), 302 to the AS
//   GET /api/mcp_store/oauth_redirect/?code&state     the callback: code exchange, grant stored
//   GET /api/mcp_store/oauth_result/?status=          the gateway's own result page
// The flow itself, which install_custom and install_template start too, is
// daemon/api/oauth_flow.hpp.
//
// A flow: discovery and client registration (cached per installation, so a
// reconnect registers nothing), PKCE S256, a random 256-bit state whose hash
// is stored with the verifier (sealed), the installation, the user and where
// to send the browser at the end; 10 minutes to finish, usable once. The
// redirect_url a caller gets is the gateway's oauth_start URL: visiting it
// sets an HttpOnly SameSite=Lax cookie bound to the state (the first browser
// to visit wins; a second visit is refused) and sends the browser on to the
// authorization server. The callback refuses a state without that cookie.
//
// REQUIRES: as for handle_installations for the API routes; the browser
// routes are reached without an API key (daemon/rest.cpp). Thread-safety:
// stateless; runs on the connection's shard.
#pragma once

#include "daemon/api/context.hpp"
#include "daemon/api/oauth_flow.hpp"
#include "net/api_error.hpp"
#include "net/http_types.hpp"
#include "oauth/client.hpp"
#include "registry/types.hpp"

#include <boost/asio/awaitable.hpp>

#include <optional>
#include <string>
#include <variant>

namespace mcpgate::daemon::api {

boost::asio::awaitable<net::http_response> handle_templates(const api_context& ctx);
boost::asio::awaitable<net::http_response> handle_authorize(const api_context& ctx, const caller& who, const route& r);
boost::asio::awaitable<net::http_response> handle_oauth_browser(const api_context& ctx, const route& r,
                                                                const net::http_request& req);

}  // namespace mcpgate::daemon::api
