// The OAuth side of the REST API (spec: oauth.md, management-api.md):
//   GET .../mcp_servers                               the template catalog
//   GET .../mcp_server_installations/authorize        starts (or restarts) a flow: 302
//   GET /api/mcp_store/oauth_start/?state=            binds the browser (cookie), 302 to the AS
//   GET /api/mcp_store/oauth_redirect/?code&state     the callback: code exchange, grant stored
//   GET /api/mcp_store/oauth_result/?status=          the gateway's own result page
// and start_oauth_flow(), which install_custom and install_template use.
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
#include "daemon/api/errors.hpp"
#include "daemon/http_types.hpp"
#include "oauth/client.hpp"
#include "registry/types.hpp"

#include <boost/asio/awaitable.hpp>

#include <optional>
#include <string>
#include <variant>

namespace mcpgate::daemon::api {

boost::asio::awaitable<http_response> handle_templates(const api_context& ctx);
boost::asio::awaitable<http_response> handle_authorize(const api_context& ctx, const caller& who, const route& r);
boost::asio::awaitable<http_response> handle_oauth_browser(const api_context& ctx, const route& r,
                                                           const http_request& req);

// Where a flow ends and with which client.
struct flow_options {
  // The template's or the user's client; nullopt: the cached one, else
  // dynamic registration.
  std::optional<oauth::client_credentials> client;
  std::string client_source;  // "template" or "user" when `client` is set
  std::string install_source = "posthog";
  std::string callback_url;   // posthog_code_callback_url, checked already
};

// posthog_code_callback_url may be posthog-code:, array: or loopback http.
// nullopt when acceptable (or empty).
std::optional<api_error> check_callback_url(const std::string& url);

// Starts a flow for `inst` (stored already, the caller's): discovery and
// registration unless cached, then a new state. Answers the redirect_url.
// On failure a row created by the caller (`created_now`) is removed and the
// error says what failed (400).
boost::asio::awaitable<std::variant<std::string, api_error>> start_oauth_flow(const api_context& ctx,
                                                                             const caller& who,
                                                                             registry::installation inst,
                                                                             bool created_now, flow_options options);

// The caller's installation of the template's url: the existing one, else a
// new row (template_id set, auth_type the template's; created_now = true).
boost::asio::awaitable<std::variant<registry::installation, api_error>> ensure_template_installation(
    const api_context& ctx, const caller& who, const config::template_entry& t, bool& created_now);

}  // namespace mcpgate::daemon::api
