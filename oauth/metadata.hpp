// What an OAuth 2.1 client needs to know before it can send a user to an
// authorization server: the pure half of discovery (spec: oauth.md
// "Discovery and registration"; RFC 9728, RFC 8414, RFC 7591, RFC 7636).
// Parsing and URL construction only; oauth/client.hpp does the fetching.
//
// Error strings are one line, fit for an API `detail`; text taken from a
// document is stripped of control characters and cut at 200 bytes.
//
// Thread-safety: pure functions (random_token uses OpenSSL's RAND_bytes).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgate::oauth {

// A Bearer challenge from an upstream's WWW-Authenticate header (RFC 6750,
// RFC 9728 section 5.1). Parameters the header did not give are "".
struct bearer_challenge {
  std::string resource_metadata;  // absolute URL
  std::string scope;              // space-separated
  std::string error;              // "invalid_token", ...
};
// The Bearer challenge among possibly several (`Basic realm="x", Bearer
// resource_metadata="..."`); nullopt when there is none. Quoted strings and
// tokens are both accepted as parameter values (an unquoted value runs to the
// next space or comma, so unquoted URLs work); scheme and parameter names are
// case-insensitive; the first Bearer challenge and the first occurrence of a
// parameter win. Values are returned as given (not checked as URLs).
std::optional<bearer_challenge> parse_bearer_challenge(std::string_view www_authenticate);

// RFC 9728 section 3.1 for an MCP endpoint "https://h/a/mcp":
// "https://h/.well-known/oauth-protected-resource/a/mcp", then
// "https://h/.well-known/oauth-protected-resource". One URL when the path is
// empty or "/"; a terminating "/" of the path is removed first. Query and
// fragment are dropped; scheme and host are lower-cased and a default port
// dropped. Empty when `mcp_url` is not an absolute http(s) URL without
// user-info (net::parse_url).
std::vector<std::string> protected_resource_metadata_urls(std::string_view mcp_url);

// The metadata URLs of an issuer, in the order the MCP authorization spec
// tries them. With a path ("https://h/tenant"):
//   https://h/.well-known/oauth-authorization-server/tenant
//   https://h/.well-known/openid-configuration/tenant
//   https://h/tenant/.well-known/openid-configuration
// without one ("https://h"):
//   https://h/.well-known/oauth-authorization-server
//   https://h/.well-known/openid-configuration
// A terminating "/" of the path is removed first (RFC 8414 section 3.1).
// Empty when `issuer` is not an absolute http(s) URL.
std::vector<std::string> authorization_server_metadata_urls(std::string_view issuer);

// The origin of an absolute URL ("https://h:8443"), used as the issuer when
// an MCP server publishes no resource metadata: lower case, default port
// dropped ("HTTPS://H:443/x" -> "https://h"); "" when not absolute http(s).
std::string origin_of(std::string_view url);

// The RFC 8707 resource indicator for an MCP endpoint: scheme and host lower
// case, default port dropped, no fragment, no query; path kept as written
// except that a lone "/" is dropped ("HTTPS://Mcp.Example.com:443/mcp" ->
// "https://mcp.example.com/mcp"). "" when not absolute http(s).
std::string canonical_resource(std::string_view url);

// RFC 9728 section 3.3: whether protected resource metadata whose
// "resource" is `resource` may be used for the MCP server at `mcp_url`: the
// same origin (scheme and host lower case, default port implied) and a path
// that is the server's or a prefix of it at a segment boundary
// ("https://h/api" covers "https://h/api/mcp", not "https://h/apix").
bool resource_covers(std::string_view resource, std::string_view mcp_url);

// RFC 9728 protected resource metadata.
struct resource_metadata {
  std::string resource;
  std::vector<std::string> authorization_servers;
  std::vector<std::string> scopes_supported;
};
// nullopt with `error` set ("not valid JSON", "not a JSON object",
// "authorization_servers is missing", "authorization_servers is not a list of
// strings", "authorization_servers is empty", "resource is not a string") when
// the document is unusable: without an authorization server it is of no use
// to the gateway. scopes_supported is read leniently (non-strings skipped).
// Unknown members are ignored.
std::optional<resource_metadata> parse_resource_metadata(std::string_view json, std::string& error);

// RFC 8414 / OpenID Connect Discovery authorization server metadata.
struct server_metadata {
  std::string issuer;
  std::string authorization_endpoint;
  std::string token_endpoint;
  std::string registration_endpoint;  // "" when absent
  std::vector<std::string> scopes_supported;
  std::vector<std::string> code_challenge_methods_supported;
  std::vector<std::string> token_endpoint_auth_methods_supported;  // empty: the RFC default (client_secret_basic)
  bool iss_parameter_supported = false;                // authorization_response_iss_parameter_supported (RFC 9207)
  bool client_id_metadata_document_supported = false;  // a URL may be the client_id (Client ID Metadata Documents)
};
// nullopt with `error` when unusable: not an object, issuer or either
// endpoint missing or not a string ("token_endpoint is missing or not a
// string"), an endpoint (registration_endpoint too, when present) that is not
// an absolute http(s) URL ("... is not an absolute http(s) URL"), `issuer` !=
// expected_issuer (exact string comparison, RFC 8414 section 3.3: "issuer
// mismatch: expected X, got Y"), or S256 absent from
// code_challenge_methods_supported ("the authorization server does not
// support PKCE S256"; an absent list counts as absent S256). The https rule
// is the caller's (oauth::discover).
std::optional<server_metadata> parse_server_metadata(std::string_view json, std::string_view expected_issuer,
                                                     std::string& error);

// RFC 7591 registration request for a public client of the gateway:
// {"client_name", "redirect_uris":[redirect_uri], "grant_types":
// ["authorization_code","refresh_token"], "response_types":["code"],
// "token_endpoint_auth_method":"none"} plus "scope" when not empty.
std::string registration_request(std::string_view client_name, std::string_view redirect_uri, std::string_view scope);
// The Client ID Metadata Document the gateway serves at `client_id` (an
// https URL): {"client_id", "client_name", "redirect_uris":[redirect_uri],
// "grant_types":["authorization_code","refresh_token"],
// "response_types":["code"], "token_endpoint_auth_method":"none"}.
std::string client_metadata_document(std::string_view client_id, std::string_view client_name,
                                     std::string_view redirect_uri);

// Scope strings (RFC 6749 section 3.3: words separated by spaces). The
// words in order, without repeats; `granted` then the words of `more` it
// lacks, space-separated; whether `word` is one of them.
std::vector<std::string> scope_words(std::string_view scope);
std::string scope_union(std::string_view granted, std::string_view more);
bool has_scope(std::string_view scope, std::string_view word);

struct registered_client {
  std::string client_id;
  std::string client_secret;               // "" for a public client
  std::string token_endpoint_auth_method;  // as answered, else "none" without a secret, "client_secret_basic" with one
};
// nullopt with `error` when client_id is missing or empty, or the answered
// token_endpoint_auth_method is not one the gateway speaks ("none",
// "client_secret_basic", "client_secret_post": else "unsupported
// token_endpoint_auth_method X") or needs a secret that was not given.
std::optional<registered_client> parse_registration(std::string_view json, std::string& error);

// PKCE (RFC 7636): a 43-character verifier from 32 random bytes, and its
// S256 challenge.
struct pkce_pair {
  std::string verifier;
  std::string challenge;
};
pkce_pair make_pkce();
std::string s256_challenge(std::string_view verifier);

// `bytes` random bytes (OpenSSL RAND_bytes), base64url without padding: 43
// characters for 32 bytes. Throws std::runtime_error only when the CSPRNG
// fails (nothing safe can be done then).
std::string random_token(std::size_t bytes = 32);

// The authorization request URL: `authorization_endpoint` (which may carry a
// query of its own) plus response_type=code, client_id, redirect_uri, state,
// code_challenge, code_challenge_method=S256, resource when not empty,
// scope when not empty and prompt when not empty, every value percent-encoded (all but RFC 3986
// unreserved characters; a space is %20). A fragment of the endpoint is
// dropped. "" when the endpoint is not an absolute http(s) URL.
struct authorization_request {
  std::string client_id;
  std::string redirect_uri;
  std::string state;
  std::string code_challenge;
  std::string resource;
  std::string scope;
  std::string prompt;  // "consent" when asking for offline_access (OpenID Connect Core section 11)
};
std::string authorization_url(std::string_view authorization_endpoint, const authorization_request& request);

// application/x-www-form-urlencoded body from (name, value) pairs, in order;
// names and values percent-encoded like authorization_url's (%20 for a space,
// which every form decoder reads as a space).
std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields);

// A token endpoint's answer (RFC 6749 section 5.1 / 5.2).
struct token_response {
  std::string access_token;
  std::string token_type;
  std::string refresh_token;  // "" when none was returned
  std::string scope;
  std::optional<std::chrono::seconds> expires_in;
};
// A successful answer: an object with a string access_token and a
// token_type of "Bearer" (any case); nullopt with `error` otherwise.
// expires_in may be a number or a numeric string; a negative or unreadable
// one is left unset rather than failing a grant that works.
std::optional<token_response> parse_token_response(std::string_view json, std::string& error);
// An error answer's "error" member ("invalid_grant"), "" when absent, not a
// string, or not made of the characters RFC 6749 section 5.2 allows (so it
// is safe to show as is).
std::string token_error_code(std::string_view json);

}  // namespace mcpgate::oauth
