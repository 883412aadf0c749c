// discover / register_client / exchange_code / refresh_token against the
// scripted upstream of tests/support on 127.0.0.1 (MCP server and
// authorization server in one). It records every request; each answer comes
// from the test's handler. The client side runs on the test's thread until
// the operation completes, at most 10 s. No sleeps.
#include "oauth/client.hpp"

#include "support/scripted_upstream.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/test/unit_test.hpp>
#include <boost/url/parse.hpp>

#include <openssl/evp.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
namespace oauth = mcpgate::oauth;
using boost::system::error_code;
using namespace std::chrono_literals;

constexpr auto deadline = 10s;

using request = http::request<http::string_body>;
using response = http::response<http::string_body>;
// The server's script: the answer to one request; `base` is the server's
// own "http://127.0.0.1:<port>".
using responder = std::function<response(const request&, const std::string& base)>;

response reply(unsigned status, std::string body = {}, std::string_view content_type = "application/json") {
  response r{static_cast<http::status>(status), 11};
  if (!body.empty()) r.set(http::field::content_type, content_type);
  r.body() = std::move(body);
  return r;
}

// One request as the server received it.
struct received {
  std::string method;
  std::string target;
  std::string body;
  std::string content_type;
  std::string accept;
  std::optional<std::string> authorization;
};

// The scripted upstream answering every request through `respond`,
// recording what it received.
class test_server {
 public:
  explicit test_server(responder respond)
      : respond_(std::move(respond)),
        upstream_(mcpgate::test::scripted_upstream::serve([this](const mcpgate::test::http_request& req) {
          return answer_for(req);
        })) {}

  // "http://127.0.0.1:<port>"
  std::string base() const { return upstream_.base(); }

  std::vector<received> requests() const {
    const std::lock_guard lock(mu_);
    return requests_;
  }
  std::vector<std::string> targets() const {
    std::vector<std::string> out;
    for (const auto& r : requests()) out.push_back(r.method + " " + r.target);
    return out;
  }

 private:
  // On the upstream's thread: no Boost.Test here.
  mcpgate::test::answer answer_for(const request& req) {
    received r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    r.body = req.body();
    r.content_type = std::string(req[http::field::content_type]);
    r.accept = std::string(req[http::field::accept]);
    if (req.count(http::field::authorization) != 0) r.authorization = std::string(req[http::field::authorization]);
    {
      const std::lock_guard lock(mu_);
      requests_.push_back(r);
    }
    response res = respond_(req, base());
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    return mcpgate::test::to_wire(res);
  }

  // Declared before upstream_, whose threads use them.
  const responder respond_;
  mutable std::mutex mu_;
  std::vector<received> requests_;  // guarded by mu_
  mcpgate::test::scripted_upstream upstream_;
};

// A port on loopback where nothing listens.
std::string closed_base() { return "http://127.0.0.1:" + std::to_string(mcpgate::test::closed_port()); }

// --- the client side ----------------------------------------------------------------

std::shared_ptr<mcpgate::net::upstream_pool> make_pool(asio::io_context& io) {
  mcpgate::net::client_options options;
  options.policy.allow_private_networks = true;
  options.connect_timeout = 5s;
  options.single_thread = true;
  auto pool = mcpgate::net::upstream_pool::create(io.get_executor(), options);
  BOOST_TEST_REQUIRE(pool.has_value());
  return *pool;
}

oauth::client_options loopback_options() {
  oauth::client_options o;
  o.timeout = 5s;
  o.allow_http = true;
  return o;
}

// Runs the operation `make(pool)` to its end (at most `deadline`).
template <class Make>
auto run(Make make) {
  asio::io_context io;
  auto pool = make_pool(io);
  auto op = make(pool);
  using value = typename decltype(op)::value_type;
  std::optional<value> out;
  asio::co_spawn(io, std::move(op), [&](std::exception_ptr e, value v) {
    BOOST_TEST_REQUIRE(!e);
    out = std::move(v);
  });
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (!out) {
    if (io.run_one_until(until) == 0 && (io.stopped() || std::chrono::steady_clock::now() >= until)) break;
  }
  BOOST_TEST_REQUIRE(out.has_value(), "the operation did not end within the deadline");
  return std::move(*out);
}

oauth::discovery discover(const std::string& mcp_url, oauth::client_options options = loopback_options()) {
  return run([&](auto pool) { return oauth::discover(pool, mcp_url, options); });
}

// --- documents ------------------------------------------------------------------------

std::string server_metadata(const std::string& issuer, const std::string& base) {
  return json::serialize(json::object{
      {"issuer", issuer},
      {"authorization_endpoint", base + "/authorize"},
      {"token_endpoint", base + "/token"},
      {"registration_endpoint", base + "/register"},
      {"scopes_supported", json::array{"openid", "offline_access"}},
      {"code_challenge_methods_supported", json::array{"S256"}},
  });
}

std::string resource_metadata(const std::string& resource, const std::string& issuer) {
  return json::serialize(json::object{{"resource", resource},
                                      {"authorization_servers", json::array{json::string(issuer)}},
                                      {"scopes_supported", json::array{"mcp:read", "mcp:write"}}});
}

// The form fields of a token request.
std::map<std::string, std::string> form(const std::string& body) {
  const std::string uri = "http://x/?" + body;  // the url_view below points into it
  const auto parsed = boost::urls::parse_uri(uri);
  BOOST_TEST_REQUIRE(parsed.has_value(), body);
  std::map<std::string, std::string> out;
  for (const auto p : parsed->params()) out[p.key] = p.value;
  return out;
}

std::string base64_decode(std::string_view text) {
  std::string out(3 * text.size() / 4 + 1, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  BOOST_TEST_REQUIRE(n >= 0);
  std::size_t size = static_cast<std::size_t>(n);
  for (auto it = text.rbegin(); it != text.rend() && *it == '='; ++it) --size;  // DecodeBlock counts padding
  out.resize(size);
  return out;
}

const std::string tokens_json =
    R"({"access_token":"at-1","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-1","scope":"mcp:read"})";

oauth::token_result exchange(const std::string& endpoint, oauth::client_credentials client) {
  return run([&](auto pool) {
    return oauth::exchange_code(pool, endpoint, client, "the-code-123", "the-verifier-456",
                                "https://gw.example/api/mcp_store/oauth_redirect/", "https://mcp.example/mcp",
                                loopback_options());
  });
}

oauth::client_credentials public_client() { return {"client-1", "", "none"}; }

}  // namespace

BOOST_AUTO_TEST_SUITE(discovery_tests)

BOOST_AUTO_TEST_CASE(follows_the_challenge_to_resource_and_server_metadata) {
  test_server server([](const request& req, const std::string& base) {
    const std::string target(req.target());
    if (req.method() == http::verb::post && target == "/mcp") {
      response r = reply(401, R"({"error":"unauthorized"})");
      r.set(http::field::www_authenticate, R"(Basic realm="x")");
      r.insert(http::field::www_authenticate,
               "Bearer resource_metadata=\"" + base + "/custom/rm\", scope=\"mcp:tools offline\"");
      return r;
    }
    if (target == "/custom/rm") return reply(200, resource_metadata(base + "/mcp", base + "/tenant"));
    if (target == "/.well-known/oauth-authorization-server/tenant") {
      return reply(200, server_metadata(base + "/tenant", base));
    }
    return reply(404);
  });
  const auto found = discover(server.base() + "/mcp");
  BOOST_TEST_REQUIRE(found.error.empty(), found.error);
  BOOST_TEST(found.server.issuer == server.base() + "/tenant");
  BOOST_TEST(found.server.authorization_endpoint == server.base() + "/authorize");
  BOOST_TEST(found.server.token_endpoint == server.base() + "/token");
  BOOST_TEST(found.server.registration_endpoint == server.base() + "/register");
  BOOST_TEST(found.resource == server.base() + "/mcp");
  BOOST_TEST(found.scope == "mcp:tools offline");
  BOOST_TEST(server.targets() == (std::vector<std::string>{"POST /mcp", "GET /custom/rm",
                                                           "GET /.well-known/oauth-authorization-server/tenant"}),
             boost::test_tools::per_element());

  const auto probe = server.requests().at(0);
  BOOST_TEST(!probe.authorization.has_value());
  BOOST_TEST(probe.content_type == "application/json");
  BOOST_TEST(probe.accept == "application/json, text/event-stream");
  const json::value body = json::parse(probe.body);
  BOOST_TEST(body.at("method").as_string() == "initialize");
  BOOST_TEST(body.at("jsonrpc").as_string() == "2.0");
  BOOST_TEST(server.requests().at(1).accept == "application/json");
}

BOOST_AUTO_TEST_CASE(falls_back_to_the_well_known_urls) {
  test_server server([](const request& req, const std::string& base) {
    const std::string target(req.target());
    if (target == "/mcp") {
      response r = reply(401);
      r.set(http::field::www_authenticate, R"(Bearer realm="mcp")");
      return r;
    }
    if (target == "/.well-known/oauth-protected-resource") return reply(200, resource_metadata(base + "/mcp", base));
    if (target == "/.well-known/openid-configuration") return reply(200, server_metadata(base, base));
    return reply(404);
  });
  const auto found = discover(server.base() + "/mcp");
  BOOST_TEST_REQUIRE(found.error.empty(), found.error);
  BOOST_TEST(found.server.issuer == server.base());
  BOOST_TEST(found.scope == "mcp:read mcp:write");  // from the resource metadata
  BOOST_TEST(server.targets() == (std::vector<std::string>{"POST /mcp", "GET /.well-known/oauth-protected-resource/mcp",
                                                           "GET /.well-known/oauth-protected-resource",
                                                           "GET /.well-known/oauth-authorization-server",
                                                           "GET /.well-known/openid-configuration"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(without_resource_metadata_the_origin_is_the_issuer) {
  test_server server([](const request& req, const std::string& base) {
    const std::string target(req.target());
    if (target == "/.well-known/oauth-protected-resource/mcp") return reply(200, "<html>app</html>", "text/html");
    if (target == "/.well-known/oauth-authorization-server") return reply(200, "<html>app</html>", "text/html");
    if (target == "/.well-known/openid-configuration") return reply(200, server_metadata(base, base));
    return reply(404);  // the MCP endpoint too: no challenge at all
  });
  const auto found = discover(server.base() + "/mcp");
  BOOST_TEST_REQUIRE(found.error.empty(), found.error);
  BOOST_TEST(found.server.issuer == server.base());
  BOOST_TEST(found.scope == "openid offline_access");  // the AS's scopes_supported
}

BOOST_AUTO_TEST_CASE(nothing_found_names_every_url_tried) {
  test_server server([](const request&, const std::string&) { return reply(404); });
  const auto found = discover(server.base() + "/mcp");
  const std::string& b = server.base();
  BOOST_TEST(found.error == "No OAuth authorization server metadata found for " + b + " (tried " + b +
                                "/.well-known/oauth-protected-resource/mcp: HTTP 404, " + b +
                                "/.well-known/oauth-protected-resource: HTTP 404, " + b +
                                "/.well-known/oauth-authorization-server: HTTP 404, " + b +
                                "/.well-known/openid-configuration: HTTP 404)");
}

BOOST_AUTO_TEST_CASE(issuer_mismatch_fails_the_discovery) {
  test_server server([](const request& req, const std::string& base) {
    const std::string target(req.target());
    if (target == "/.well-known/oauth-protected-resource") return reply(200, resource_metadata(base + "/mcp", base));
    if (target == "/.well-known/oauth-authorization-server") {
      return reply(200, server_metadata("https://evil.example", base));
    }
    if (target == "/.well-known/openid-configuration") return reply(200, server_metadata(base, base));
    return reply(404);
  });
  const auto found = discover(server.base() + "/mcp");
  BOOST_TEST(found.error == "issuer mismatch: expected " + server.base() + ", got https://evil.example (" +
                                server.base() + "/.well-known/oauth-authorization-server)");
  // The OpenID URL is not tried after a wrong document.
  BOOST_TEST(server.targets().back() == "GET /.well-known/oauth-authorization-server");
}

BOOST_AUTO_TEST_CASE(http_is_refused_unless_allowed) {
  test_server server([](const request&, const std::string&) { return reply(404); });
  oauth::client_options options = loopback_options();
  options.allow_http = false;
  const auto found = discover(server.base() + "/mcp", options);
  BOOST_TEST(found.error == "the MCP server URL " + server.base() + "/mcp must use https");
  BOOST_TEST(server.requests().empty());
}

BOOST_AUTO_TEST_CASE(unreachable_mcp_server_fails_at_once) {
  const std::string base = closed_base();
  const auto found = discover(base + "/mcp");
  BOOST_TEST(found.error.rfind("could not reach the MCP server at " + base + "/mcp: ", 0) == 0, found.error);
}

BOOST_AUTO_TEST_CASE(not_a_url) {
  const auto found = discover("mcp.example.com/mcp");
  BOOST_TEST(found.error == "the MCP server URL is not an absolute http(s) URL");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(registration_tests)

BOOST_AUTO_TEST_CASE(registers_a_public_client) {
  test_server server([](const request& req, const std::string&) {
    if (req.target() == "/register") return reply(201, R"({"client_id":"new-client","client_id_issued_at":1})");
    return reply(404);
  });
  const auto reg = run([&](auto pool) {
    return oauth::register_client(pool, server.base() + "/register", "mcpgate", "https://gw/cb", "a b",
                                  loopback_options());
  });
  BOOST_TEST_REQUIRE(reg.error.empty(), reg.error);
  BOOST_TEST(reg.client.client_id == "new-client");
  BOOST_TEST(reg.client.token_endpoint_auth_method == "none");
  const auto r = server.requests().at(0);
  BOOST_TEST(r.method == "POST");
  BOOST_TEST(r.content_type == "application/json");
  const json::value body = json::parse(r.body);
  BOOST_TEST(body.at("redirect_uris").at(0).as_string() == "https://gw/cb");
  BOOST_TEST(body.at("scope").as_string() == "a b");
}

BOOST_AUTO_TEST_CASE(a_refused_registration_says_why) {
  test_server server([](const request&, const std::string&) {
    return reply(400, R"({"error":"invalid_redirect_uri","error_description":"not https\r\nat all"})");
  });
  const auto reg = run([&](auto pool) {
    return oauth::register_client(pool, server.base() + "/register", "mcpgate", "http://x/cb", "", loopback_options());
  });
  BOOST_TEST(reg.error == "registration at " + server.base() +
                              "/register was refused: HTTP 400 invalid_redirect_uri: not https  at all");
}

BOOST_AUTO_TEST_CASE(no_registration_endpoint) {
  const auto reg = run([&](auto pool) {
    return oauth::register_client(pool, "", "mcpgate", "https://gw/cb", "", loopback_options());
  });
  BOOST_TEST(reg.error == "the authorization server has no registration endpoint");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(token_tests)

BOOST_AUTO_TEST_CASE(exchange_code_ok_for_a_public_client) {
  test_server server([](const request& req, const std::string&) {
    if (req.target() == "/token") return reply(200, tokens_json);
    return reply(404);
  });
  const auto result = exchange(server.base() + "/token", public_client());
  BOOST_TEST_REQUIRE((result.outcome == oauth::token_outcome::ok), result.error);
  BOOST_TEST(result.tokens.access_token == "at-1");
  BOOST_TEST(result.tokens.refresh_token == "rt-1");
  BOOST_TEST(result.tokens.expires_in.value().count() == 3600);

  const auto r = server.requests().at(0);
  BOOST_TEST(r.method == "POST");
  BOOST_TEST(r.content_type == "application/x-www-form-urlencoded");
  BOOST_TEST(r.accept == "application/json");
  BOOST_TEST(!r.authorization.has_value());
  const auto fields = form(r.body);
  BOOST_TEST(fields.at("grant_type") == "authorization_code");
  BOOST_TEST(fields.at("code") == "the-code-123");
  BOOST_TEST(fields.at("code_verifier") == "the-verifier-456");
  BOOST_TEST(fields.at("redirect_uri") == "https://gw.example/api/mcp_store/oauth_redirect/");
  BOOST_TEST(fields.at("resource") == "https://mcp.example/mcp");
  BOOST_TEST(fields.at("client_id") == "client-1");
  BOOST_TEST(fields.count("client_secret") == 0u);
  BOOST_TEST(r.body.find("redirect_uri=https%3A%2F%2Fgw.example%2F") != std::string::npos, r.body);
}

BOOST_AUTO_TEST_CASE(invalid_grant_is_rejected) {
  test_server server([](const request&, const std::string&) {
    return reply(400, R"({"error":"invalid_grant","error_description":"code the-code-123 expired"})");
  });
  const auto result = exchange(server.base() + "/token", public_client());
  BOOST_TEST((result.outcome == oauth::token_outcome::rejected));
  BOOST_TEST(result.error == "invalid_grant");
}

BOOST_AUTO_TEST_CASE(a_4xx_without_error_code_is_rejected_with_the_status) {
  test_server server([](const request&, const std::string&) { return reply(401, "nope", "text/plain"); });
  const auto result = exchange(server.base() + "/token", public_client());
  BOOST_TEST((result.outcome == oauth::token_outcome::rejected));
  BOOST_TEST(result.error == "HTTP 401");
}

BOOST_AUTO_TEST_CASE(an_error_in_a_200_is_rejected) {
  test_server server([](const request&, const std::string&) {
    return reply(200, R"({"error":"bad_verification_code"})");
  });
  const auto result = exchange(server.base() + "/token", public_client());
  BOOST_TEST((result.outcome == oauth::token_outcome::rejected));
  BOOST_TEST(result.error == "bad_verification_code");
}

BOOST_AUTO_TEST_CASE(server_error_and_rate_limit_are_failures) {
  test_server server([](const request& req, const std::string&) {
    return reply(req.target() == "/busy" ? 429 : 500, R"({"error":"server_error"})");
  });
  auto result = exchange(server.base() + "/token", public_client());
  BOOST_TEST((result.outcome == oauth::token_outcome::failed));
  BOOST_TEST(result.error == "token endpoint answered HTTP 500");
  result = exchange(server.base() + "/busy", public_client());
  BOOST_TEST((result.outcome == oauth::token_outcome::failed));
  BOOST_TEST(result.error == "token endpoint answered HTTP 429");
}

BOOST_AUTO_TEST_CASE(an_unreadable_200_is_a_failure) {
  test_server server([](const request&, const std::string&) { return reply(200, "access_token=x", "text/plain"); });
  const auto result = exchange(server.base() + "/token", public_client());
  BOOST_TEST((result.outcome == oauth::token_outcome::failed));
  BOOST_TEST(result.error == "token endpoint answered HTTP 200 with an unusable token response: not valid JSON");
}

BOOST_AUTO_TEST_CASE(a_network_error_is_a_failure_without_secrets) {
  const auto result = exchange(closed_base() + "/token", {"client-1", "top-secret-value", "client_secret_post"});
  BOOST_TEST((result.outcome == oauth::token_outcome::failed));
  BOOST_TEST(result.error.rfind("token endpoint: ", 0) == 0, result.error);
  BOOST_TEST(result.error.find("top-secret-value") == std::string::npos);
  BOOST_TEST(result.error.find("the-code-123") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(client_secret_basic_goes_in_the_authorization_header) {
  test_server server([](const request&, const std::string&) { return reply(200, tokens_json); });
  const auto result = exchange(server.base() + "/token", {"client id:1", "s3cr+t/=", "client_secret_basic"});
  BOOST_TEST_REQUIRE((result.outcome == oauth::token_outcome::ok), result.error);
  const auto r = server.requests().at(0);
  BOOST_TEST_REQUIRE(r.authorization.has_value());
  BOOST_TEST(r.authorization->rfind("Basic ", 0) == 0u);
  // RFC 6749 section 2.3.1: form-encoded id and secret, then base64 with padding.
  BOOST_TEST(base64_decode(r.authorization->substr(6)) == "client%20id%3A1:s3cr%2Bt%2F%3D");
  const auto fields = form(r.body);
  BOOST_TEST(fields.count("client_id") == 0u);
  BOOST_TEST(fields.count("client_secret") == 0u);
}

BOOST_AUTO_TEST_CASE(client_secret_post_goes_in_the_body) {
  test_server server([](const request&, const std::string&) { return reply(200, tokens_json); });
  const auto result = exchange(server.base() + "/token", {"cid", "the secret", "client_secret_post"});
  BOOST_TEST_REQUIRE((result.outcome == oauth::token_outcome::ok), result.error);
  const auto r = server.requests().at(0);
  BOOST_TEST(!r.authorization.has_value());
  const auto fields = form(r.body);
  BOOST_TEST(fields.at("client_id") == "cid");
  BOOST_TEST(fields.at("client_secret") == "the secret");
}

BOOST_AUTO_TEST_CASE(refresh_sends_the_refresh_token_and_resource) {
  test_server server([](const request&, const std::string&) {
    return reply(200, R"({"access_token":"at-2","token_type":"bearer"})");
  });
  const auto result = run([&](auto pool) {
    return oauth::refresh_token(pool, server.base() + "/token", public_client(), "rt-old", "https://mcp.example/mcp",
                                loopback_options());
  });
  BOOST_TEST_REQUIRE((result.outcome == oauth::token_outcome::ok), result.error);
  BOOST_TEST(result.tokens.access_token == "at-2");
  BOOST_TEST(result.tokens.refresh_token.empty());
  const auto fields = form(server.requests().at(0).body);
  BOOST_TEST(fields.at("grant_type") == "refresh_token");
  BOOST_TEST(fields.at("refresh_token") == "rt-old");
  BOOST_TEST(fields.at("resource") == "https://mcp.example/mcp");
  BOOST_TEST(fields.at("client_id") == "client-1");
}

BOOST_AUTO_TEST_CASE(http_token_endpoint_is_refused_unless_allowed) {
  const auto result = run([&](auto pool) {
    oauth::client_options options = loopback_options();
    options.allow_http = false;
    return oauth::refresh_token(pool, "http://127.0.0.1:1/token", public_client(), "rt", "", options);
  });
  BOOST_TEST((result.outcome == oauth::token_outcome::failed));
  BOOST_TEST(result.error == "the token endpoint http://127.0.0.1:1/token must use https");
}

BOOST_AUTO_TEST_SUITE_END()
