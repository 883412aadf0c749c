// The OAuth flow as the REST handlers start it (spec: oauth.md "Flow"):
// install_custom and install_template (daemon/api/installations.cpp) and the
// authorize route (daemon/api/oauth.cpp) start one; the browser routes
// finish it. A flow: discovery and client registration (cached per
// installation, so a reconnect registers nothing), PKCE S256, a random
// 256-bit state whose hash is stored with the verifier (sealed).
//
// Thread-safety: stateless; runs on the connection's shard.
#pragma once

#include "daemon/api/context.hpp"
#include "net/api_error.hpp"
#include "oauth/client.hpp"
#include "registry/types.hpp"

#include <boost/asio/awaitable.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace mcpgate::daemon::api {

// Lower-case hex SHA-256: how state and cookie hashes are stored.
std::string sha256_hex(std::string_view text);

// The gateway's OAuth callback URL, as registered with authorization servers.
std::string redirect_uri(const api_context& ctx);

// Where a flow ends and with which client.
struct flow_options {
  // The template's or the user's client; nullopt: the cached one, else
  // dynamic registration.
  std::optional<oauth::client_credentials> client;
  std::string client_source;  // "template" or "user" when `client` is set
  std::string install_source = "posthog";
  std::string callback_url;  // posthog_code_callback_url, checked already
  // A step-up: scopes to ask for beyond the client's (the union is asked).
  std::string extra_scope;
};

// The URL of the Client ID Metadata Document the gateway serves, and
// whether it is used: only when the public URL is https (an authorization
// server fetches the document from there).
std::string client_metadata_url(const api_context& ctx);
bool client_metadata_served(const api_context& ctx);

// posthog_code_callback_url may be posthog-code:, array: or loopback http.
// nullopt when acceptable (or empty).
std::optional<net::api_error> check_callback_url(const std::string& url);

// Starts a flow for `inst` (stored already, the caller's): discovery and
// registration unless cached, then a new state. Answers the redirect_url.
// On failure a row created by the caller (`created_now`) is removed and the
// error says what failed (400).
boost::asio::awaitable<std::variant<std::string, net::api_error>> start_oauth_flow(
    const api_context& ctx, const caller& who, registry::installation inst, bool created_now, flow_options options);

// The caller's installation of the template's url: the existing one, else a
// new row (template_id set, auth_type the template's; created_now = true).
boost::asio::awaitable<std::variant<registry::installation, net::api_error>> ensure_template_installation(
    const api_context& ctx, const caller& who, const config::template_entry& t, bool& created_now);

}  // namespace mcpgate::daemon::api
