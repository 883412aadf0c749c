// The proxied request's steps (proxy/steps.hpp), one at a time: each either
// lets the chain go on or answers, and what it answers is what the agent
// sees (status, headers, body). The steps that need an upstream are covered
// by the integration tests (tests/integration/proxy_test.cpp and others).
#include "proxy/steps.hpp"

#include "proxy/answers.hpp"
#include "proxy/installation_cache.hpp"
#include "registry/audit.hpp"
#include "step_harness.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

namespace asio = boost::asio;
namespace json = boost::json;
namespace proxy = mcpgate::proxy;
namespace registry = mcpgate::registry;
using mcpgate::net::http_request;
using mcpgate::net::http_response;

namespace {

using mcpgate::test::body_of;
using harness = mcpgate::test::step_harness;
proxy::caller& who = mcpgate::test::step_caller;

std::shared_ptr<proxy::cached_installation> installation(const std::string& auth_type, const std::string& credential) {
  return mcpgate::test::step_installation("http://127.0.0.1:9/mcp", auth_type, credential);
}

http_request post(std::string body) {
  http_request req;
  req.method = "POST";
  req.body = std::move(body);
  return req;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_disabled_installation_is_refused_with_403) {
  harness h;
  http_request req = post("{}");
  proxy::proxied_call call(*h.ctx, who, req, h.ioc.get_executor());
  auto entry = installation("none", "");
  entry->inst.is_enabled = false;
  call.entry = entry;
  const auto answer = proxy::admit_installation(call);
  BOOST_TEST_REQUIRE(answer.has_value());
  BOOST_TEST(answer->status == 403u);
  BOOST_TEST(body_of(*answer).at("error").as_string() == "Server is disabled");
}

BOOST_AUTO_TEST_CASE(the_installation_rate_limit_answers_429_with_retry_after) {
  proxy::options settings;
  settings.per_installation = mcpgate::rate{1, 1};
  harness h(settings);
  http_request req = post("{}");
  proxy::proxied_call call(*h.ctx, who, req, h.ioc.get_executor());
  call.entry = installation("none", "");
  BOOST_TEST(!proxy::admit_installation(call).has_value());  // the burst of one
  const auto answer = proxy::admit_installation(call);
  BOOST_TEST_REQUIRE(answer.has_value());
  BOOST_TEST(answer->status == 429u);
  bool retry_after = false;
  for (const auto& [name, value] : answer->headers)
    retry_after = retry_after || (name == "Retry-After" && value == "1");
  BOOST_TEST(retry_after);
}

BOOST_AUTO_TEST_CASE(inspection_refuses_a_get_with_a_body_and_a_post_without_json) {
  harness h;
  http_request get;
  get.method = "GET";
  get.body = R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"rm"}})";
  proxy::proxied_call with_body(*h.ctx, who, get, h.ioc.get_executor());
  with_body.entry = installation("none", "");
  auto answer = proxy::inspect_request(with_body);
  BOOST_TEST_REQUIRE(answer.has_value());
  BOOST_TEST(answer->status == 400u);
  BOOST_TEST(body_of(*answer).at("error").as_string() == "A GET request must not have a body");

  http_request broken = post("{not json");
  proxy::proxied_call not_json(*h.ctx, who, broken, h.ioc.get_executor());
  not_json.entry = installation("none", "");
  answer = proxy::inspect_request(not_json);
  BOOST_TEST_REQUIRE(answer.has_value());
  BOOST_TEST(answer->status == 400u);
  BOOST_TEST(body_of(*answer).at("error").as_string() == "Request body must be valid JSON");
}

BOOST_AUTO_TEST_CASE(inspection_checks_the_mirror_headers_against_the_body) {
  harness h;
  http_request req = post(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}})");
  req.headers.emplace_back("Mcp-Method", "tools/call");
  req.headers.emplace_back("Mcp-Name", "rm");
  proxy::proxied_call call(*h.ctx, who, req, h.ioc.get_executor());
  call.entry = installation("none", "");
  const auto answer = proxy::inspect_request(call);
  BOOST_TEST_REQUIRE(answer.has_value());
  BOOST_TEST(answer->status == 400u);
  BOOST_TEST(body_of(*answer).at("error").as_string() == "Mcp-Name header does not match the request body");
}

BOOST_AUTO_TEST_CASE(inspection_tells_the_eras_apart_and_applies_the_2026_header_rules) {
  harness h;
  const std::string modern_call =
      R"({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}})";
  const auto run = [&h](http_request& req) {
    auto call = std::make_unique<proxy::proxied_call>(*h.ctx, who, req, h.ioc.get_executor());
    call->entry = installation("none", "");
    auto answer = proxy::inspect_request(*call);
    return std::pair{std::move(answer), call->modern};
  };
  {  // every header as the revision asks: modern, nothing refused
    http_request req = post(modern_call);
    req.headers.emplace_back("MCP-Protocol-Version", "2026-07-28");
    req.headers.emplace_back("mcp-method", "tools/call");
    req.headers.emplace_back("MCP-NAME", "echo");
    const auto [answer, modern] = run(req);
    BOOST_TEST(!answer.has_value());
    BOOST_TEST(modern);
  }
  {  // Mcp-Name missing: 400, -32020, the request's id
    http_request req = post(modern_call);
    req.headers.emplace_back("MCP-Protocol-Version", "2026-07-28");
    req.headers.emplace_back("Mcp-Method", "tools/call");
    const auto [answer, modern] = run(req);
    BOOST_TEST_REQUIRE(answer.has_value());
    BOOST_TEST(answer->status == 400u);
    BOOST_TEST(body_of(*answer).at("id") == 4);
    BOOST_TEST(body_of(*answer).at("error").at("code") == -32020);
  }
  {  // an unknown version: 400, -32022
    http_request req = post(R"({"jsonrpc":"2.0","id":4,"method":"tools/list"})");
    req.headers.emplace_back("MCP-Protocol-Version", "2027-01-01");
    const auto [answer, modern] = run(req);
    BOOST_TEST_REQUIRE(answer.has_value());
    BOOST_TEST(answer->status == 400u);
    BOOST_TEST(body_of(*answer).at("error").at("code") == -32022);
  }
  {  // a legacy request keeps the legacy mirror check (no Mcp-Name required)
    http_request req = post(R"({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo"}})");
    req.headers.emplace_back("MCP-Protocol-Version", "2025-06-18");
    const auto [answer, modern] = run(req);
    BOOST_TEST(!answer.has_value());
    BOOST_TEST(!modern);
  }
}

BOOST_AUTO_TEST_CASE(inspection_notes_a_tools_list_and_lets_it_go_on) {
  harness h;
  http_request req = post(R"({"jsonrpc":"2.0","id":"a","method":"tools/list"})");
  proxy::proxied_call call(*h.ctx, who, req, h.ioc.get_executor());
  call.entry = installation("none", "");
  BOOST_TEST(!proxy::inspect_request(call).has_value());
  BOOST_TEST(call.lists_tools);
  BOOST_TEST_REQUIRE(call.message.has_value());
  BOOST_TEST(call.message->messages.size() == 1u);
}

BOOST_AUTO_TEST_CASE(inspection_refuses_an_installation_whose_url_failed_the_ssrf_check) {
  harness h;
  http_request req = post(R"({"jsonrpc":"2.0","id":1,"method":"ping"})");
  proxy::proxied_call call(*h.ctx, who, req, h.ioc.get_executor());
  auto entry = installation("none", "");
  entry->upstream.reset();
  entry->url_refusal = "private address";
  call.entry = entry;
  const auto answer = proxy::inspect_request(call);
  BOOST_TEST_REQUIRE(answer.has_value());
  BOOST_TEST(answer->status == 400u);
  BOOST_TEST(body_of(*answer).at("error").as_string() == "URL not allowed: private address");
}

BOOST_AUTO_TEST_CASE(approval_blocks_a_do_not_use_tool_and_records_it) {
  harness h;
  http_request req = post(R"({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"rm"}})");
  proxy::proxied_call call(*h.ctx, who, req, h.ioc.get_executor());
  call.entry = installation("none", "");
  BOOST_TEST(!proxy::inspect_request(call).has_value());
  const auto answer = h.run(proxy::approve(call));
  BOOST_TEST_REQUIRE(answer.has_value());
  BOOST_TEST(answer->status == 200u);
  const auto reply = body_of(*answer);
  BOOST_TEST(reply.at("id").as_int64() == 5);
  BOOST_TEST(reply.at("error").at("code").as_int64() == -32002);
  BOOST_TEST(reply.at("error").at("message").as_string() == "Tool 'rm' has been disabled by the user");
  BOOST_TEST(call.calls.empty());  // nothing goes upstream
  // The refusal is in the audit trail before the agent hears of it.
  const auto rows = h.audit(nullptr);
  BOOST_TEST_REQUIRE(rows.size() == 1u);
  BOOST_TEST(rows.front().event_type == "tool_call_blocked");
  BOOST_TEST(rows.front().tool_name == "rm");
}

BOOST_AUTO_TEST_CASE(approval_lets_an_approved_call_through_and_names_it_for_the_audit) {
  harness h;
  http_request req = post(R"({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo"}})");
  proxy::proxied_call call(*h.ctx, who, req, h.ioc.get_executor());
  call.entry = installation("none", "");
  BOOST_TEST(!proxy::inspect_request(call).has_value());
  BOOST_TEST(!h.run(proxy::approve(call)).has_value());
  BOOST_TEST_REQUIRE(call.calls.size() == 1u);
  BOOST_TEST(call.calls.front() == "echo");
}

BOOST_AUTO_TEST_CASE(a_missing_or_unusable_credential_answers_the_reauth_error_never_401) {
  harness h;
  const auto run = [&h](std::shared_ptr<proxy::cached_installation> entry, std::string body) {
    http_request req = post(std::move(body));
    proxy::proxied_call call(*h.ctx, who, req, h.ioc.get_executor());
    call.entry = std::move(entry);
    (void)proxy::inspect_request(call);
    return h.run(proxy::ensure_credential(call));
  };
  // A JSON-RPC request: HTTP 200 with -32003 and the authorize link.
  auto answer = run(installation("oauth", ""), R"({"jsonrpc":"2.0","id":3,"method":"ping"})");
  BOOST_TEST_REQUIRE(answer.has_value());
  BOOST_TEST(answer->status == 200u);
  auto reply = body_of(*answer);
  BOOST_TEST(reply.at("error").at("code").as_int64() == -32003);
  BOOST_TEST(reply.at("error").at("data").at("authorize_url").as_string() ==
             "http://gateway.test/api/environments/1/mcp_server_installations/authorize/?installation_id=inst-1");
  // A notification only: 409.
  answer = run(installation("api_key", ""), R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  BOOST_TEST_REQUIRE(answer.has_value());
  BOOST_TEST(answer->status == 409u);
  // A key no header can carry.
  answer = run(installation("api_key", "good\r\nX-Injected: 1"), R"({"jsonrpc":"2.0","id":4,"method":"ping"})");
  BOOST_TEST_REQUIRE(answer.has_value());
  reply = body_of(*answer);
  BOOST_TEST(reply.at("error").at("data").at("reason").as_string() ==
             "The stored credential cannot be sent in an HTTP header");
  // A usable key: the chain goes on.
  answer = run(installation("api_key", "secret"), R"({"jsonrpc":"2.0","id":4,"method":"ping"})");
  BOOST_TEST(!answer.has_value());
}

BOOST_AUTO_TEST_CASE(the_slot_step_answers_429_for_the_installation_and_503_for_the_gateway) {
  proxy::options settings;
  settings.max_streams_per_installation = 1;
  settings.max_upstream_requests = 2;
  harness h(settings);
  http_request req = post("{}");
  proxy::proxied_call first(*h.ctx, who, req, h.ioc.get_executor());
  first.entry = installation("none", "");
  BOOST_TEST(!proxy::take_slot(first).has_value());
  proxy::proxied_call second(*h.ctx, who, req, h.ioc.get_executor());
  second.entry = installation("none", "");
  auto answer = proxy::take_slot(second);
  BOOST_TEST_REQUIRE(answer.has_value());
  BOOST_TEST(answer->status == 429u);

  auto other = installation("none", "");
  other->inst.id = "inst-2";
  proxy::proxied_call third(*h.ctx, who, req, h.ioc.get_executor());
  third.entry = other;
  BOOST_TEST(!proxy::take_slot(third).has_value());  // the gateway's second
  auto another = installation("none", "");
  another->inst.id = "inst-3";
  proxy::proxied_call fourth(*h.ctx, who, req, h.ioc.get_executor());
  fourth.entry = another;
  answer = proxy::take_slot(fourth);
  BOOST_TEST_REQUIRE(answer.has_value());
  BOOST_TEST(answer->status == 503u);
}

BOOST_AUTO_TEST_CASE(forwarded_calls_are_audited_unless_the_config_says_otherwise) {
  for (const auto mode : {proxy::call_audit::all, proxy::call_audit::blocked_only, proxy::call_audit::off}) {
    proxy::options settings;
    settings.audit_calls = mode;
    harness h(settings);
    auto batch = std::make_shared<registry::audit_batch>(*h.db);
    h.ctx->forwarded_audit = batch;
    http_request req = post(R"({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo"}})");
    proxy::proxied_call call(*h.ctx, who, req, h.ioc.get_executor());
    call.entry = installation("none", "");
    call.calls = {"echo"};
    proxy::record_forwarded(call, 200);
    const auto rows = h.audit(batch);
    if (mode != proxy::call_audit::all) {
      BOOST_TEST(rows.empty());
      continue;
    }
    BOOST_TEST_REQUIRE(rows.size() == 1u);
    const auto& e = rows.front();
    BOOST_TEST(e.event_type == "tool_call_forwarded");
    BOOST_TEST(e.tool_name == "echo");
    const auto detail = json::parse(e.detail);
    BOOST_TEST(detail.at("decision").as_string() == "forwarded");
    BOOST_TEST(detail.at("upstream_status").as_int64() == 200);
    BOOST_TEST(detail.at("latency_ms").is_int64());
  }
}
