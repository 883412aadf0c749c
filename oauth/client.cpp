#include "oauth/client.hpp"

#include "common/mcp_names.hpp"
#include "common/text.hpp"
#include "net/await_callback.hpp"

#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include <openssl/evp.h>

#include <algorithm>
#include <utility>

namespace mcpgate::oauth {

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;
namespace urls = boost::urls;
using boost::system::error_code;
using string_request = http::request<http::string_body>;
using string_response = http::response<http::string_body>;

#ifdef MCPGATE_VERSION
constexpr std::string_view user_agent = "mcpgate/" MCPGATE_VERSION;
#else
constexpr std::string_view user_agent = "mcpgate";
#endif

// The probe is an MCP initialize; these are the MCP Streamable HTTP rules for
// it (kept here rather than taken from proxy/, which sits above oauth/).
constexpr std::string_view accept_mcp = "application/json, text/event-stream";
constexpr std::string_view accept_json = "application/json";

// --- text --------------------------------------------------------------------------

bool is_https(std::string_view url) {
  const auto u = urls::parse_uri(url);
  return u && u->scheme_id() == urls::scheme::https;
}

// RFC 4648 section 4 base64, with padding (HTTP Basic).
std::string base64(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');  // EVP_EncodeBlock adds a NUL
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(data.data()), static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(std::max(n, 0)));
  return out;
}

// --- fetching ------------------------------------------------------------------------

struct fetched {
  error_code ec;
  std::string detail;  // async_request's, when ec
  string_response response;
  unsigned status() const { return response.result_int(); }
};

string_request make_request(http::verb verb, std::string_view accept) {
  string_request r{verb, "/", 11};
  r.set(http::field::accept, accept);
  r.set(http::field::user_agent, user_agent);
  return r;
}

asio::awaitable<fetched> fetch(std::shared_ptr<net::upstream_pool> pool, std::string url, string_request request,
                               client_options options) {
  const net::request_options limits{options.timeout, options.max_document_bytes};
  auto op = net::await_callback<error_code, string_response, std::string>([&pool, &url, &request, limits](auto done) {
    net::async_request(pool, url, std::move(request), limits, std::move(done));
  });
  auto [ec, response, detail] = co_await std::move(op);
  fetched out;
  out.ec = ec;
  out.detail = std::move(detail);
  out.response = std::move(response);
  co_return out;
}

// GET of a JSON document (metadata).
asio::awaitable<fetched> fetch_document(std::shared_ptr<net::upstream_pool> pool, std::string url,
                                        client_options options) {
  return fetch(std::move(pool), std::move(url), make_request(http::verb::get, accept_json), options);
}

// What went wrong with a fetch that got no response, for an error message.
std::string failure_text(const error_code& ec, std::string_view detail, const client_options& options) {
  if (ec == net::client_error::timeout) {
    return "no answer within " + std::to_string(options.timeout.count()) + " ms";
  }
  if (ec == http::error::body_limit) {
    return "the answer is larger than " + std::to_string(options.max_document_bytes) + " bytes";
  }
  std::string text = ec.category() == net::client_category() ? ec.message() : "connection failed: " + ec.message();
  if (!detail.empty() && detail != ec.message()) text.append(": ").append(printable(detail));
  return text;
}

// The fetch failed before any HTTP exchange: the server cannot be reached at all.
bool unreachable(const error_code& ec) {
  using net::client_error;
  return ec == client_error::invalid_url || ec == client_error::ssrf_denied || ec == client_error::resolve_failed ||
         ec == client_error::connect_failed || ec == client_error::connect_timeout || ec == client_error::tls_failed;
}

bool is_json_object(std::string_view text) {
  error_code ec;
  const json::value v = json::parse(text, ec);
  return !ec && v.is_object();
}

// --- discovery -----------------------------------------------------------------------

discovery discovery_error(std::string error) {
  discovery out;
  out.error = std::move(error);
  return out;
}

std::string join(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) {
    if (!out.empty()) out.push_back(' ');
    out.append(w);
  }
  return out;
}

// The MCP initialize the probe sends, as a client without credentials would.
std::string initialize_body() {
  json::object params;
  params["protocolVersion"] = client_protocol_version;
  params["capabilities"] = json::object();
#ifdef MCPGATE_VERSION
  params["clientInfo"] = json::object{{"name", "mcpgate"}, {"version", MCPGATE_VERSION}};
#else
  params["clientInfo"] = json::object{{"name", "mcpgate"}, {"version", "0"}};
#endif
  return json::serialize(
      json::object{{"jsonrpc", jsonrpc_version}, {"id", 1}, {"method", method_initialize}, {"params", params}});
}

asio::awaitable<fetched> probe_mcp(std::shared_ptr<net::upstream_pool> pool, std::string mcp_url,
                                   client_options options) {
  string_request r = make_request(http::verb::post, accept_mcp);
  r.set(http::field::content_type, "application/json");
  r.body() = initialize_body();
  return fetch(std::move(pool), std::move(mcp_url), std::move(r), options);
}

// The first Bearer challenge among the response's WWW-Authenticate fields.
std::optional<bearer_challenge> challenge_of(const string_response& response) {
  const auto [first, last] = response.equal_range(http::field::www_authenticate);
  for (auto it = first; it != last; ++it) {
    if (auto c = parse_bearer_challenge(it->value())) return c;
  }
  return std::nullopt;
}

// One URL tried without success, for the "tried ..." list of an error.
std::string attempt(std::string_view url, const fetched& f, const client_options& options) {
  std::string text(url);
  text.append(": ");
  if (f.ec) return text.append(failure_text(f.ec, f.detail, options));
  return text.append("HTTP ").append(std::to_string(f.status()));
}

std::string tried_list(const std::vector<std::string>& tries) {
  std::string out;
  for (const auto& t : tries) {
    if (!out.empty()) out.append(", ");
    out.append(t);
  }
  return out;
}

// --- token endpoint --------------------------------------------------------------------

using form_fields = std::vector<std::pair<std::string, std::string>>;

std::string form_value(std::string_view s) { return urls::encode(s, urls::unreserved_chars); }

// `text` with every secret in it replaced (the AS's words could echo one).
void redact(std::string& text, const std::vector<std::string>& secrets) {
  constexpr std::string_view mask = "[redacted]";
  for (const auto& secret : secrets) {
    if (secret.empty()) continue;
    for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret, at + mask.size())) {
      text.replace(at, secret.size(), mask);
    }
  }
}

// Whether an HTTP error status means the AS refused the grant or the client
// (retrying cannot help) rather than a passing trouble.
bool is_refusal(unsigned status) { return status >= 400 && status < 500 && status != 408 && status != 429; }

asio::awaitable<token_result> token_request(std::shared_ptr<net::upstream_pool> pool, std::string token_endpoint,
                                            client_credentials client, form_fields fields,
                                            std::vector<std::string> secrets, client_options options) {
  token_result out;
  if (!options.allow_http && !is_https(token_endpoint)) {
    out.error = "the token endpoint " + printable(token_endpoint) + " must use https";
    co_return out;
  }
  string_request r = make_request(http::verb::post, accept_json);
  r.set(http::field::content_type, "application/x-www-form-urlencoded");
  if (client.auth_method == "client_secret_basic") {
    // RFC 6749 section 2.3.1: both parts form-encoded before base64.
    r.set(http::field::authorization,
          "Basic " + base64(form_value(client.client_id) + ":" + form_value(client.client_secret)));
  } else if (client.auth_method == "client_secret_post") {
    fields.emplace_back("client_id", client.client_id);
    fields.emplace_back("client_secret", client.client_secret);
  } else if (client.auth_method == "none") {
    fields.emplace_back("client_id", client.client_id);
  } else {
    out.error = "unsupported token endpoint auth method " + printable(client.auth_method, 64);
    co_return out;
  }
  r.body() = form_encode(fields);
  secrets.push_back(client.client_secret);

  auto fetching = fetch(std::move(pool), token_endpoint, std::move(r), options);
  const fetched f = co_await std::move(fetching);
  if (f.ec) {
    out.error = "token endpoint: " + failure_text(f.ec, f.detail, options);
  } else if (f.status() >= 200 && f.status() < 300) {
    std::string error;
    if (auto tokens = parse_token_response(f.response.body(), error)) {
      out.outcome = token_outcome::ok;
      out.tokens = std::move(*tokens);
      co_return out;
    }
    // Some servers (GitHub) answer a refused grant with 200 and an error object.
    if (std::string code = token_error_code(f.response.body()); !code.empty()) {
      out.outcome = token_outcome::rejected;
      out.error = std::move(code);
    } else {
      out.error = "token endpoint answered HTTP " + std::to_string(f.status()) +
                  " with an unusable token response: " + error;
    }
  } else if (is_refusal(f.status())) {
    out.outcome = token_outcome::rejected;
    out.error = token_error_code(f.response.body());
    if (out.error.empty()) out.error = "HTTP " + std::to_string(f.status());
  } else {
    out.error = "token endpoint answered HTTP " + std::to_string(f.status());
  }
  redact(out.error, secrets);
  co_return out;
}

}  // namespace

asio::awaitable<server_lookup> find_server_metadata(std::shared_ptr<net::upstream_pool> pool, std::string issuer,
                                                    client_options options, std::vector<std::string> tries) {
  server_lookup out;
  if (!options.allow_http && !is_https(issuer)) {
    out.error = "the authorization server " + printable(issuer) + " must use https";
    co_return out;
  }
  const std::vector<std::string> as_urls = authorization_server_metadata_urls(issuer);
  if (as_urls.empty()) {
    out.error = "the authorization server " + printable(issuer) + " is not an absolute http(s) URL";
    co_return out;
  }
  std::optional<server_metadata> server;
  for (const auto& url : as_urls) {
    auto fetching = fetch_document(pool, url, options);
    const fetched f = co_await std::move(fetching);
    if (f.ec || f.status() != 200) {
      tries.push_back(attempt(url, f, options));
      continue;
    }
    // A page that is not JSON at all (a web app answering every path) is
    // not this server's metadata; a JSON document that is wrong is.
    if (!is_json_object(f.response.body())) {
      tries.push_back(url + ": not a JSON document");
      continue;
    }
    std::string error;
    server = parse_server_metadata(f.response.body(), issuer, error);
    if (!server) {
      out.error = error + " (" + url + ")";
      co_return out;
    }
    break;
  }
  if (!server) {
    out.error = "No OAuth authorization server metadata found for " + printable(issuer) + " (tried " +
                tried_list(tries) + ")";
    co_return out;
  }
  if (!options.allow_http) {
    const std::pair<std::string_view, const std::string*> endpoints[] = {
        {"authorization_endpoint", &server->authorization_endpoint},
        {"token_endpoint", &server->token_endpoint},
        {"registration_endpoint", &server->registration_endpoint},
    };
    for (const auto& [name, value] : endpoints) {
      if (!value->empty() && !is_https(*value)) {
        out.error = std::string(name) + " " + printable(*value) + " must use https";
        co_return out;
      }
    }
  }
  out.server = std::move(*server);
  co_return out;
}

asio::awaitable<discovery> discover(std::shared_ptr<net::upstream_pool> pool, std::string mcp_url,
                                    client_options options) {
  const std::string resource = canonical_resource(mcp_url);
  if (resource.empty()) co_return discovery_error("the MCP server URL is not an absolute http(s) URL");
  if (!options.allow_http && !is_https(mcp_url)) {
    co_return discovery_error("the MCP server URL " + printable(mcp_url) + " must use https");
  }

  // 1. The challenge of an unauthenticated initialize.
  auto probing = probe_mcp(pool, mcp_url, options);
  const fetched probe = co_await std::move(probing);
  if (probe.ec && unreachable(probe.ec)) {
    co_return discovery_error("could not reach the MCP server at " + printable(mcp_url) + ": " +
                              failure_text(probe.ec, probe.detail, options));
  }
  // Anything else (no 401, no challenge, a timeout once connected) leaves the
  // well-known URLs to try.
  std::optional<bearer_challenge> challenge;
  if (!probe.ec) challenge = challenge_of(probe.response);

  // 2. Protected resource metadata.
  std::vector<std::string> candidates;
  if (challenge && !challenge->resource_metadata.empty()) candidates.push_back(challenge->resource_metadata);
  for (auto& url : protected_resource_metadata_urls(mcp_url)) {
    if (std::find(candidates.begin(), candidates.end(), url) == candidates.end()) candidates.push_back(std::move(url));
  }
  std::vector<std::string> tries;
  std::optional<resource_metadata> found_resource;
  for (const auto& url : candidates) {
    if (!options.allow_http && !is_https(url)) {
      co_return discovery_error("the resource metadata URL " + printable(url) + " must use https");
    }
    auto fetching = fetch_document(pool, url, options);
    const fetched f = co_await std::move(fetching);
    if (f.ec || f.status() != 200) {
      tries.push_back(attempt(printable(url), f, options));
      continue;
    }
    std::string error;
    found_resource = parse_resource_metadata(f.response.body(), error);
    if (!found_resource) {
      tries.push_back(printable(url) + ": " + error);
      continue;
    }
    // RFC 9728 section 3.3: metadata about another resource must not be
    // used (it would send the user's grant for this server elsewhere).
    if (!found_resource->resource.empty() && !resource_covers(found_resource->resource, mcp_url)) {
      co_return discovery_error("the protected resource metadata at " + printable(url) + " is for " +
                                printable(found_resource->resource) + ", not for the MCP server at " +
                                printable(mcp_url));
    }
    break;
  }

  // 3. Authorization server metadata.
  const std::string issuer = found_resource ? found_resource->authorization_servers.front() : origin_of(mcp_url);
  if (!options.allow_http && !is_https(issuer)) {
    co_return discovery_error("the authorization server " + printable(issuer) + " must use https");
  }
  auto looking_up = find_server_metadata(pool, issuer, options, std::move(tries));
  server_lookup found_server = co_await std::move(looking_up);
  if (!found_server.error.empty()) co_return discovery_error(std::move(found_server.error));

  discovery out;
  out.server = std::move(found_server.server);
  out.resource = resource;
  if (challenge && !challenge->scope.empty()) {
    out.scope = printable(challenge->scope, 2048);
  } else if (found_resource && !found_resource->scopes_supported.empty()) {
    out.scope = join(found_resource->scopes_supported);
  } else {
    out.scope = join(out.server.scopes_supported);
  }
  co_return out;
}

asio::awaitable<registration> register_client(std::shared_ptr<net::upstream_pool> pool,
                                              std::string registration_endpoint, std::string client_name,
                                              std::string redirect_uri, std::string scope, client_options options) {
  registration out;
  if (registration_endpoint.empty()) {
    out.error = "the authorization server has no registration endpoint";
    co_return out;
  }
  const std::string where = printable(registration_endpoint);
  if (!options.allow_http && !is_https(registration_endpoint)) {
    out.error = "the registration endpoint " + where + " must use https";
    co_return out;
  }
  string_request r = make_request(http::verb::post, accept_json);
  r.set(http::field::content_type, "application/json");
  r.body() = registration_request(client_name, redirect_uri, scope);
  auto fetching = fetch(std::move(pool), registration_endpoint, std::move(r), options);
  const fetched f = co_await std::move(fetching);
  if (f.ec) {
    out.error = "registration at " + where + " failed: " + failure_text(f.ec, f.detail, options);
    co_return out;
  }
  if (f.status() != 200 && f.status() != 201) {
    // RFC 7591 section 3.2.2: an error code and maybe a description.
    out.error = "registration at " + where + " was refused: HTTP " + std::to_string(f.status());
    if (const std::string code = token_error_code(f.response.body()); !code.empty()) {
      out.error.append(" ").append(code);
      error_code ec;
      const json::value v = json::parse(f.response.body(), ec);
      if (const json::value* d = !ec && v.is_object() ? v.get_object().if_contains("error_description") : nullptr;
          d != nullptr && d->is_string()) {
        out.error.append(": ").append(printable(d->get_string()));
      }
    }
    co_return out;
  }
  std::string error;
  auto client = parse_registration(f.response.body(), error);
  if (!client) {
    out.error = "registration at " + where + " answered an unusable document: " + error;
    co_return out;
  }
  out.client = std::move(*client);
  co_return out;
}

asio::awaitable<token_result> exchange_code(std::shared_ptr<net::upstream_pool> pool, std::string token_endpoint,
                                            client_credentials client, std::string code, std::string code_verifier,
                                            std::string redirect_uri, std::string resource, client_options options) {
  form_fields fields{{"grant_type", "authorization_code"},
                     {"code", code},
                     {"code_verifier", code_verifier},
                     {"redirect_uri", std::move(redirect_uri)}};
  if (!resource.empty()) fields.emplace_back("resource", std::move(resource));
  // Not a coroutine itself: everything is moved into token_request's frame.
  return token_request(std::move(pool), std::move(token_endpoint), std::move(client), std::move(fields),
                       {std::move(code), std::move(code_verifier)}, options);
}

asio::awaitable<token_result> refresh_token(std::shared_ptr<net::upstream_pool> pool, std::string token_endpoint,
                                            client_credentials client, std::string refresh_token, std::string resource,
                                            client_options options) {
  form_fields fields{{"grant_type", "refresh_token"}, {"refresh_token", refresh_token}};
  if (!resource.empty()) fields.emplace_back("resource", std::move(resource));
  return token_request(std::move(pool), std::move(token_endpoint), std::move(client), std::move(fields),
                       {std::move(refresh_token)}, options);
}

}  // namespace mcpgate::oauth
