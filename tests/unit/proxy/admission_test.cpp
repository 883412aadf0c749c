// The proxy's DNS-rebinding defence (check_rebinding) and its error body
// (proxy_error), as the agent sees them: status, Content-Type and JSON body.
#include "proxy/admission.hpp"
#include "proxy/answers.hpp"
#include "step_harness.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <boost/test/unit_test.hpp>

#include <optional>
#include <string>

using mcpgate::net::http_request;
using mcpgate::net::http_response;
using mcpgate::proxy::check_rebinding;
using mcpgate::proxy::proxy_error;
using mcpgate::test::header_of;
using proxy_options = mcpgate::proxy::options;

namespace {

// As daemon/options.cpp builds them: lower case, listeners and public_url included.
proxy_options options() {
  proxy_options o;
  o.allowed_hosts = {"127.0.0.1:8080", "localhost:8080", "gw.example.com"};
  o.allowed_origins = {"http://127.0.0.1:8080", "http://localhost:8080", "https://app.example.com"};
  return o;
}

// Callers pass literals: the request's views point at them.
http_request request(std::optional<std::string_view> host, std::optional<std::string_view> origin = std::nullopt) {
  http_request r;
  r.method = "POST";
  r.target = "/api/environments/1/mcp_server_installations/abc/proxy";
  if (host) r.headers.emplace_back("Host", *host);
  if (origin) r.headers.emplace_back("Origin", *origin);
  r.headers.emplace_back("Content-Type", "application/json");
  r.body = R"({"jsonrpc":"2.0","id":1,"method":"ping"})";
  return r;
}

// A 403 with Content-Type application/json and {"error": "<non-empty string>"}.
void expect_forbidden(const std::optional<http_response>& r, const std::string& what) {
  BOOST_TEST_REQUIRE(r.has_value(), what << ": expected a refusal");
  BOOST_TEST(r->status == 403u, what);
  BOOST_TEST(header_of(*r, "Content-Type") == "application/json", what);
  BOOST_TEST(r->stream == nullptr, what);
  boost::system::error_code ec;
  const auto body = boost::json::parse(r->body, ec);
  BOOST_TEST_REQUIRE(!ec, what << ": body is not JSON: " << r->body);
  BOOST_TEST_REQUIRE(body.is_object(), what << ": " << r->body);
  const auto& obj = body.as_object();
  BOOST_TEST(obj.size() == 1u, what << ": " << r->body);
  const auto* error = obj.if_contains("error");
  BOOST_TEST_REQUIRE(error != nullptr, what << ": " << r->body);
  BOOST_TEST_REQUIRE(error->is_string(), what << ": " << r->body);
  BOOST_TEST(!error->as_string().empty(), what);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(proxy_rebinding)

BOOST_AUTO_TEST_CASE(allowed_hosts_pass) {
  for (const char* host : {"127.0.0.1:8080", "localhost:8080", "gw.example.com"}) {
    BOOST_TEST(!check_rebinding(options(), request(host)).has_value(), host);
  }
}

BOOST_AUTO_TEST_CASE(host_is_compared_case_insensitively) {
  for (const char* host : {"LOCALHOST:8080", "Gw.Example.COM"}) {
    BOOST_TEST(!check_rebinding(options(), request(host)).has_value(), host);
  }
}

BOOST_AUTO_TEST_CASE(header_name_host_is_case_insensitive) {
  http_request r = request(std::nullopt);
  r.headers.emplace_back("host", "127.0.0.1:8080");
  BOOST_TEST(!check_rebinding(options(), r).has_value());
}

BOOST_AUTO_TEST_CASE(other_host_is_refused) {
  for (const char* host : {"evil.example", "127.0.0.1:8081", "127.0.0.1", "localhost", "gw.example.com:443",
                           "gw.example.com.evil.example", "127.0.0.1:8080.evil.example"}) {
    expect_forbidden(check_rebinding(options(), request(host)), host);
  }
}

BOOST_AUTO_TEST_CASE(missing_or_empty_host_is_refused) {
  expect_forbidden(check_rebinding(options(), request(std::nullopt)), "no Host");
  expect_forbidden(check_rebinding(options(), request("")), "empty Host");
}

BOOST_AUTO_TEST_CASE(absent_origin_passes) {
  BOOST_TEST(!check_rebinding(options(), request("127.0.0.1:8080")).has_value());
}

BOOST_AUTO_TEST_CASE(allowed_origin_passes_with_or_without_trailing_slash) {
  for (const char* origin : {"http://127.0.0.1:8080", "http://localhost:8080", "https://app.example.com",
                             "https://app.example.com/", "HTTPS://App.Example.com"}) {
    BOOST_TEST(!check_rebinding(options(), request("127.0.0.1:8080", origin)).has_value(), origin);
  }
}

BOOST_AUTO_TEST_CASE(origin_not_allowed_is_refused) {
  for (const char* origin :
       {"https://evil.example", "http://app.example.com", "https://app.example.com:8443", "http://127.0.0.1:8081",
        "http://localhost", "https://app.example.com.evil.example", "https://app.example.com/path"}) {
    expect_forbidden(check_rebinding(options(), request("127.0.0.1:8080", origin)), origin);
  }
}

BOOST_AUTO_TEST_CASE(null_origin_is_refused) {
  // Sandboxed frames and file: pages send "Origin: null".
  expect_forbidden(check_rebinding(options(), request("127.0.0.1:8080", "null")), "null");
}

BOOST_AUTO_TEST_CASE(allowed_origin_does_not_excuse_a_wrong_host) {
  expect_forbidden(check_rebinding(options(), request("evil.example", "https://app.example.com")), "wrong Host");
}

BOOST_AUTO_TEST_CASE(empty_allow_lists_refuse_everything) {
  const proxy_options none;
  expect_forbidden(check_rebinding(none, request("127.0.0.1:8080")), "no hosts allowed");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(proxy_error_body)

BOOST_AUTO_TEST_CASE(is_a_json_object_with_the_error_message) {
  const http_response r = proxy_error(502, "Upstream MCP server unreachable");
  BOOST_TEST(r.status == 502u);
  BOOST_TEST(header_of(r, "Content-Type") == "application/json");
  BOOST_TEST(r.stream == nullptr);
  const auto body = boost::json::parse(r.body);
  BOOST_TEST(body == boost::json::parse(R"({"error": "Upstream MCP server unreachable"})"));
}

BOOST_AUTO_TEST_CASE(escapes_the_message) {
  const std::string message = "URL not allowed: \"quoted\" \\ and\nnewline";
  const http_response r = proxy_error(400, message);
  BOOST_TEST(r.status == 400u);
  const auto body = boost::json::parse(r.body);
  BOOST_TEST_REQUIRE(body.is_object());
  BOOST_TEST(body.as_object().at("error").as_string() == message);
}

BOOST_AUTO_TEST_SUITE_END()
