// The registry's records: what the store keeps, as plain values.
// Thread-safety: plain values.
#pragma once

#include "common/time.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgate::registry {

struct user {
  std::int64_t id{};
  std::string name;
  sys_time created_at{};
};

// A personal API key. Only the SHA-256 hash of the secret is ever stored.
struct api_key {
  std::string id;  // UUIDv7, public
  std::int64_t user_id{};
  std::string user_name;               // joined from users, for display
  std::string secret_hash;             // lower-case hex SHA-256 of the secret
  std::string mask;                    // "mcpg_abcd...wxyz": enough to recognise it
  std::vector<std::string> scopes;     // "project:read", "project:write", "*"
  std::vector<std::int64_t> projects;  // empty: every project
  sys_time created_at{};
  std::optional<sys_time> revoked_at;
};

struct environment {
  std::int64_t id{};
  std::int64_t project_id{};
  std::string name;
};

struct project {
  std::int64_t id{};
  std::string name;
  std::vector<environment> environments;
};

struct installation {
  std::string id;  // UUIDv7
  std::int64_t environment_id{};
  std::int64_t user_id{};
  std::optional<std::string> template_id;
  std::string display_name;
  std::string url;
  std::string description;
  std::string auth_type = "oauth";  // "oauth", "api_key", "none"
  bool is_enabled = true;
  bool needs_reauth = false;
  bool has_credential = false;  // an API key or access token is stored (sealed)
  bool refreshable = false;     // oauth: a refresh token is stored with the grant
  std::string reauth_reason;    // why needs_reauth was set, when it says; else ""
  // oauth: when the stored access token was issued and when it expires
  // (nullopt: no token, or the AS gave no expires_in).
  std::optional<sys_time> token_issued_at;
  std::optional<sys_time> token_expires_at;
  std::int64_t tool_count = 0;  // tools not marked removed
  // The MCP revision the upstream spoke in the last tools sync that
  // succeeded ("2026-07-28", or the version a legacy initialize negotiated);
  // nullopt until one has. The next sync starts with that era.
  std::optional<std::string> protocol_version;
  sys_time created_at{};
  sys_time updated_at{};
};

// The fields PATCH may change; unset members stay as they are.
struct installation_patch {
  std::optional<std::string> display_name;
  std::optional<std::string> description;
  std::optional<bool> is_enabled;
};

// A tool's approval: what the proxy lets through (see the proxy spec).
inline constexpr std::string_view approval_approved = "approved";
inline constexpr std::string_view approval_needs_approval = "needs_approval";  // a newly seen tool
inline constexpr std::string_view approval_do_not_use = "do_not_use";

// One tool as an upstream's tools/list describes it (JSON values as text).
struct listed_tool {
  std::string name;
  std::string title;  // "title", else annotations.title, else ""
  std::string description;
  std::string input_schema;  // serialized JSON ("{}" when the upstream gave none)
  std::string annotations;   // serialized JSON object, "{}" when none
};

// A tool of an installation, as the registry keeps it.
struct tool {
  std::string id;  // UUIDv7
  std::string installation_id;
  std::string tool_name;
  std::string display_name;  // listed_tool::title
  std::string description;
  std::string input_schema;  // serialized JSON
  std::string annotations;   // serialized JSON object
  std::string approval_state = std::string(approval_needs_approval);
  sys_time last_seen_at{};
  std::optional<sys_time> removed_at;
  sys_time created_at{};
  sys_time updated_at{};
};

// An audit record. `detail` is a serialized JSON object whose members depend
// on the type (tool_approval_changed: {"from","to"}; tool_call_blocked:
// {"state"}; installation_*: what changed).
struct audit_event {
  std::string id;  // UUIDv7 (time-ordered)
  std::int64_t environment_id{};
  std::int64_t user_id{};
  std::string installation_id;
  std::string event_type;  // "tool_approval_changed", "tool_call_blocked", "installation_created", ...
  std::string tool_name;   // "" when not about a tool
  std::string detail = "{}";
  sys_time created_at{};
};

// Where an installation's authorization server is and how the gateway is
// registered there (spec: oauth.md "Discovery and registration"). Nothing
// here is secret: a client secret is a sealed secret of kind "client_secret".
struct oauth_client {
  std::string installation_id;
  std::string issuer;
  std::string authorization_endpoint;
  std::string token_endpoint;
  std::string registration_endpoint;  // "" when the AS has none
  std::string resource;               // RFC 8707 resource indicator: the canonical upstream URL
  std::string scope;                  // space-separated; "" to send none
  std::string client_id;
  std::string client_source;  // "template", "user" or "dynamic"
  // "none", "client_secret_basic" or "client_secret_post"
  std::string token_endpoint_auth_method = "none";
  // The AS's metadata says authorization_response_iss_parameter_supported
  // (RFC 9207): its answers carry `iss`, which the callback must check.
  bool iss_parameter_supported = false;
  sys_time created_at{};
};

// A started authorization flow. The state token itself is never stored, only
// its hash; the browser that may finish the flow is the one holding the
// cookie whose hash is binding_hash.
struct oauth_state {
  std::string state_hash;  // lower-case hex SHA-256 of the state token
  std::string installation_id;
  std::int64_t environment_id{};
  std::int64_t user_id{};
  std::string verifier_sealed;             // the PKCE code_verifier, sealed
  std::string authorization_url;           // the AS URL the browser is sent to (not secret)
  std::string binding_hash;                // hex SHA-256 of the browser-binding cookie; "" until bound
  std::string install_source = "posthog";  // "posthog" or "posthog-code"
  std::string callback_url;                // posthog_code_callback_url, or ""
  sys_time created_at{};
  sys_time expires_at{};
  std::optional<sys_time> used_at;
  // The scope this flow asks for (a step-up asks for more than the client's
  // scope; the client's scope becomes this one when the flow completes);
  // "" for the client's own.
  std::string scope;
  std::string user_name;                 // the gateway user the grant is for, shown on the confirm page
  std::optional<sys_time> confirmed_at;  // when the user confirmed on the page; the callback needs it
};

struct audit_filter {
  std::optional<std::string> installation_id;
  std::optional<std::string> event_type;
};

}  // namespace mcpgate::registry
