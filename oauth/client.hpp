// The gateway as an OAuth 2.1 client, over the network: discovery, dynamic
// client registration, the code exchange and refresh (spec: oauth.md).
//
//   auto op = oauth::discover(pool, mcp_url, options);
//   oauth::discovery found = co_await std::move(op);
//   if (!found.error.empty()) ...  // e.g. "issuer mismatch: ..."
//
// Every URL fetched goes through net::async_request, so it passes the SSRF
// policy of the pool (check_upstream_url on the URL, check_address on every
// resolved address). Endpoints must be https unless `allow_http` (set when
// the config allows private upstreams, for loopback test setups). Redirects
// are not followed.
//
// Errors are one-line strings for the API's detail. They never hold a token,
// code, verifier or client secret; text from the far side is stripped of
// control characters.
//
// Thread-safety: each operation runs on the pool's executor (the shard's
// single-thread pool); strings are copied into the operation.
#pragma once

#include "net/upstream_client.hpp"
#include "oauth/metadata.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mcpgate::oauth {

struct client_options {
  std::chrono::milliseconds timeout{10'000};  // per HTTP exchange
  bool allow_http = false;                    // else every endpoint must be https
  std::size_t max_document_bytes = 256 * 1024;
};

struct discovery {
  std::string error;  // "" on success; else what failed, for the API's detail
  server_metadata server;
  std::string resource;  // canonical_resource(mcp_url)
  std::string scope;     // the challenge's scope, else resource metadata's scopes_supported, else the AS's, else ""
};

// 1. Probes `mcp_url` (POST initialize without credentials) for a Bearer
//    challenge in WWW-Authenticate (of a 401, or any answer); its
//    resource_metadata URL, when given, is fetched first. A probe that cannot
//    connect at all (invalid URL, SSRF refusal, DNS, connect, TLS) fails the
//    discovery ("could not reach the MCP server at URL: why"); any other
//    answer, or a timeout once connected, just means no challenge.
// 2. Then the RFC 9728 well-known URLs (protected_resource_metadata_urls);
//    a failure, non-200 or unusable document moves on to the next.
// 3. The first authorization server of the resource metadata, or the MCP
//    server's origin when there is no resource metadata, then its metadata
//    from authorization_server_metadata_urls() in order: a failure, non-200
//    or a body that is not a JSON object moves on; the first 200 JSON object
//    decides: usable, or the discovery fails with parse_server_metadata's
//    error and the URL ("issuer mismatch: expected X, got Y (URL)").
//    None found: "No OAuth authorization server metadata found for ISSUER
//    (tried URL: HTTP 404, URL: why, ...)", every URL of steps 2 and 3.
// Without allow_http: "the MCP server URL X must use https", "the resource
// metadata URL X ...", "the authorization server X ...", and
// "authorization_endpoint X must use https" (token_endpoint,
// registration_endpoint) for the metadata's endpoints.
boost::asio::awaitable<discovery> discover(std::shared_ptr<net::upstream_pool> pool, std::string mcp_url,
                                           client_options options);

struct server_lookup {
  std::string error;  // "" on success
  server_metadata server;
};
// Step 3 of discover() alone, for an issuer known already (a reconnect
// refreshes what a cached client knows of its server: flags and scopes
// change). Its errors are discover()'s for that step; `tries` are earlier
// attempts for the "tried ..." list.
boost::asio::awaitable<server_lookup> find_server_metadata(std::shared_ptr<net::upstream_pool> pool, std::string issuer,
                                                           client_options options, std::vector<std::string> tries = {});

struct registration {
  std::string error;  // "" on success
  registered_client client;
};
// RFC 7591 dynamic registration of a public client (registration_request()),
// 200 or 201 with parse_registration()'s document. Errors: "the
// authorization server has no registration endpoint" (empty endpoint),
// "registration at URL was refused: HTTP 400 invalid_redirect_uri:
// description", "registration at URL failed: why", "registration at URL
// answered an unusable document: why", "the registration endpoint URL must
// use https".
boost::asio::awaitable<registration> register_client(
    std::shared_ptr<net::upstream_pool> pool, std::string registration_endpoint, std::string client_name,
    std::string redirect_uri, std::string scope, client_options options);

// How the gateway authenticates at the token endpoint.
struct client_credentials {
  std::string client_id;
  std::string client_secret;  // "" for a public client
  // "none", "client_secret_basic", "client_secret_post". With "none" the
  // secret is not sent at all: a confidential client needs one of the others.
  std::string auth_method = "none";
};

enum class token_outcome {
  ok,
  rejected,  // the AS answered 4xx other than 408/429 (invalid_grant, invalid_client, ...),
             // or a 2xx carrying an "error" member (GitHub does): the grant is unusable
  failed,    // network, timeout, 408, 429, 5xx or an unreadable 2xx: worth retrying;
             // also an unknown auth_method or an http endpoint without allow_http
};
struct token_result {
  token_outcome outcome = token_outcome::failed;
  // When not ok. rejected: the AS's error code ("invalid_grant"), else "HTTP
  // 400". failed: "token endpoint answered HTTP 503", "token endpoint: no
  // answer within 10000 ms", "token endpoint: upstream connection failed: ...",
  // "token endpoint answered HTTP 200 with an unusable token response: ...".
  std::string error;
  token_response tokens;
};
// Both POST application/x-www-form-urlencoded with Accept: application/json.
// Client authentication per `client.auth_method`: "none" puts client_id in
// the body; "client_secret_post" client_id and client_secret; and
// "client_secret_basic" sends Authorization: Basic base64(form-encoded id ":"
// form-encoded secret) (RFC 6749 section 2.3.1). `resource` is left out when
// empty.

// grant_type=authorization_code with code_verifier, redirect_uri and resource.
boost::asio::awaitable<token_result> exchange_code(
    std::shared_ptr<net::upstream_pool> pool, std::string token_endpoint, client_credentials client, std::string code,
    std::string code_verifier, std::string redirect_uri, std::string resource, client_options options);

// grant_type=refresh_token with resource.
boost::asio::awaitable<token_result> refresh_token(std::shared_ptr<net::upstream_pool> pool, std::string token_endpoint,
                                                   client_credentials client, std::string refresh_token,
                                                   std::string resource, client_options options);

}  // namespace mcpgate::oauth
