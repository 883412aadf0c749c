// The steps that talk to the upstream (proxy/steps.hpp: exchange, answer),
// against the scripted upstream of tests/support: what reaches the upstream,
// and what the agent receives (status, headers, body). OAuth (the refresh
// and replay after a 401) is not covered here.
//
// The harness is step_harness.hpp's (a data path context on a temporary
// SQLite store, with an upstream pool on the test's io_context). The client
// side runs on the test's thread until the awaited step completes, at most
// 10 s; the upstream hands what it saw back through futures. No sleeps.
#include "proxy/steps.hpp"

#include "net/upstream_client.hpp"
#include "net/upstream_exchange.hpp"
#include "proxy/installation_cache.hpp"
#include "proxy/relay.hpp"
#include "proxy/tool_sync.hpp"
#include "registry/audit.hpp"
#include "step_harness.hpp"
#include "support/run_until.hpp"
#include "support/scripted_upstream.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>

namespace {

using mcpgate::test::run_until;

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;
namespace proxy = mcpgate::proxy;
namespace registry = mcpgate::registry;
using boost::system::error_code;
using mcpgate::net::http_request;
using mcpgate::net::http_response;
using mcpgate::test::scripted_upstream;
using mcpgate::test::upstream_conn;
using namespace std::chrono_literals;

using mcpgate::test::header_of;
using mcpgate::test::json_answer;
using mcpgate::test::wait_limit;

using harness = mcpgate::test::step_harness;
using mcpgate::test::body_of;
proxy::caller& who = mcpgate::test::step_caller;

using mcpgate::test::one_connection;

std::shared_ptr<proxy::cached_installation> installation(const std::string& url, const std::string& auth_type,
                                                         const std::string& credential) {
  return mcpgate::test::step_installation(url, auth_type, credential);
}

http_request post(std::string body) {
  http_request req;
  req.method = "POST";
  req.target = "/mcp/inst-1";
  req.headers = {{"Content-Type", "application/json"}, {"Accept", "application/json, text/event-stream"}};
  req.body = std::move(body);
  return req;
}

// The chain up to and including `exchange`, as handle_proxy runs it; an
// answer from any step ends it.
proxy::step_result through_exchange(harness& h, proxy::proxied_call& call) {
  if (auto refused = proxy::inspect_request(call)) return refused;
  if (auto blocked = h.run(proxy::approve(call))) return blocked;
  if (auto refused = h.run(proxy::ensure_credential(call))) return refused;
  if (auto refused = proxy::take_slot(call)) return refused;
  return h.run(proxy::exchange(call));
}

// The whole chain from inspect_request on, as handle_proxy runs it.
http_response forward(harness& h, proxy::proxied_call& call) {
  if (auto stopped = through_exchange(h, call)) return std::move(*stopped);
  proxy::record_forwarded(call, call.exchange->head().status);
  return h.run(proxy::answer(call));
}

// An upstream that answers its one request with `wire`, then waits for the
// client to close. request() is what it received; closed() whether the
// client closed the connection.
class one_answer_upstream {
 public:
  explicit one_answer_upstream(std::string wire) : wire_(std::move(wire)) {
    upstream_ = std::make_unique<scripted_upstream>(
        [this](upstream_conn& c) {
          auto raw = c.read_request();
          request_.set_value(raw.value_or(""));
          if (!raw || !c.write(wire_)) return closed_.set_value(false);
          closed_.set_value(c.wait_closed());
        },
        one_connection);
  }
  std::string url() const { return upstream_->url(); }
  std::uint16_t port() const { return upstream_->port(); }
  mcpgate::test::http_request request() {
    auto f = request_.get_future();
    BOOST_TEST_REQUIRE((f.wait_for(wait_limit) == std::future_status::ready), "no request reached the upstream");
    auto parsed = mcpgate::test::parse_request(f.get());
    BOOST_TEST_REQUIRE(parsed.has_value());
    return std::move(*parsed);
  }
  bool closed() {
    auto f = closed_.get_future();
    BOOST_TEST_REQUIRE((f.wait_for(wait_limit) == std::future_status::ready), "the upstream script did not end");
    return f.get();
  }

 private:
  const std::string wire_;
  std::promise<std::string> request_;
  std::promise<bool> closed_;
  std::unique_ptr<scripted_upstream> upstream_;  // last: it goes first
};

const std::string tools_call = R"({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo"}})";
const std::string ok_answer = R"({"jsonrpc":"2.0","id":4,"result":{"content":[]}})";

}  // namespace

BOOST_AUTO_TEST_SUITE(exchange_step)

BOOST_AUTO_TEST_CASE(the_credential_goes_upstream_and_the_agents_own_authorization_and_cookie_do_not) {
  one_answer_upstream upstream(json_answer(ok_answer));
  harness h;
  auto entry = installation(upstream.url(), "api_key", "upstream-key");
  entry->credential_header = "X-Api-Key";  // a template's own header
  entry->credential_format = "{key}";
  entry->credential_line = proxy::credential_line(*entry, entry->credential);
  http_request req = post(tools_call);
  req.headers.emplace_back("Authorization", "Bearer the-agents-gateway-key");
  req.headers.emplace_back("Cookie", "session=agent");
  req.headers.emplace_back("X-Forwarded-For", "10.0.0.1");
  req.headers.emplace_back("Mcp-Session-Id", "s-1");
  req.headers.emplace_back("MCP-Protocol-Version", "2025-06-18");
  req.headers.emplace_back("Mcp-Method", "tools/call");
  req.headers.emplace_back("Mcp-Name", "echo");
  req.headers.emplace_back("Mcp-Param-Region", "eu");
  proxy::proxied_call call(*h.ctx, who, req, h.ioc.get_executor());
  call.entry = entry;

  const auto agent_gets = forward(h, call);
  BOOST_TEST(agent_gets.status == 200u);
  BOOST_TEST(agent_gets.body == ok_answer);

  const auto received = upstream.request();
  BOOST_TEST(received[http::field::host] == "127.0.0.1:" + std::to_string(upstream.port()));
  BOOST_TEST(received["X-Api-Key"] == "upstream-key");
  BOOST_TEST(received.count(http::field::authorization) == 0u);
  BOOST_TEST(received.count(http::field::cookie) == 0u);
  BOOST_TEST(received.count("X-Forwarded-For") == 0u);
  BOOST_TEST(received[http::field::content_type] == "application/json");
  BOOST_TEST(received[http::field::accept] == "application/json, text/event-stream");
  BOOST_TEST(received["Mcp-Session-Id"] == "s-1");
  BOOST_TEST(received["MCP-Protocol-Version"] == "2025-06-18");
  BOOST_TEST(received["Mcp-Method"] == "tools/call");
  BOOST_TEST(received["Mcp-Name"] == "echo");
  BOOST_TEST(received["Mcp-Param-Region"] == "eu");
  BOOST_TEST(received.body() == tools_call);
}

BOOST_AUTO_TEST_CASE(the_bearer_credential_replaces_the_agents_authorization) {
  one_answer_upstream upstream(json_answer(ok_answer));
  harness h;
  http_request req = post(tools_call);
  req.headers.emplace_back("Authorization", "Bearer the-agents-gateway-key");
  proxy::proxied_call call(*h.ctx, who, req, h.ioc.get_executor());
  call.entry = installation(upstream.url(), "api_key", "upstream-key");
  BOOST_TEST(forward(h, call).status == 200u);
  const auto received = upstream.request();
  BOOST_TEST(received.count(http::field::authorization) == 1u);
  BOOST_TEST(received[http::field::authorization] == "Bearer upstream-key");
}

BOOST_AUTO_TEST_CASE(the_mirror_headers_are_dropped_for_a_batch) {
  one_answer_upstream upstream(
      json_answer(R"([{"jsonrpc":"2.0","id":1,"result":{}},{"jsonrpc":"2.0","id":2,"result":{}}])"));
  harness h;
  const std::string batch =
      R"([{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}},{"jsonrpc":"2.0","id":2,"method":"ping"}])";
  http_request req = post(batch);
  req.headers.emplace_back("Mcp-Method", "tools/call");
  req.headers.emplace_back("Mcp-Name", "echo");
  req.headers.emplace_back("Mcp-Param-Region", "eu");
  proxy::proxied_call call(*h.ctx, who, req, h.ioc.get_executor());
  call.entry = installation(upstream.url(), "none", "");
  BOOST_TEST(forward(h, call).status == 200u);
  const auto received = upstream.request();
  BOOST_TEST(received.count("Mcp-Method") == 0u);
  BOOST_TEST(received.count("Mcp-Name") == 0u);
  BOOST_TEST(received["Mcp-Param-Region"] == "eu");
  BOOST_TEST(received.count(http::field::authorization) == 0u);  // no credential, none invented
  BOOST_TEST(received.body() == batch);
}

BOOST_AUTO_TEST_CASE(an_api_key_refused_with_401_gets_the_reauthentication_answer_never_401) {
  one_answer_upstream upstream(
      "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\nContent-Type: application/json\r\n"
      "Content-Length: 2\r\n\r\n{}");
  harness h;
  http_request req = post(tools_call);
  proxy::proxied_call call(*h.ctx, who, req, h.ioc.get_executor());
  call.entry = installation(upstream.url(), "api_key", "stale-key");
  const auto refused = through_exchange(h, call);
  BOOST_TEST_REQUIRE(refused.has_value());
  BOOST_TEST(refused->status == 200u);
  const auto reply = body_of(*refused);
  BOOST_TEST(reply.at("id").as_int64() == 4);
  BOOST_TEST(reply.at("error").at("code").as_int64() == -32003);
  BOOST_TEST(reply.at("error").at("message").as_string() == "Installation needs re-authentication");
  BOOST_TEST(reply.at("error").at("data").at("reason").as_string() ==
             "The upstream MCP server rejected the stored credential");
  BOOST_TEST(!reply.at("error").at("data").as_object().contains("authorize_url"));  // not an OAuth installation
  BOOST_TEST(header_of(*refused, "WWW-Authenticate").empty());
  BOOST_TEST(upstream.request()[http::field::authorization] == "Bearer stale-key");
  BOOST_TEST(upstream.closed(), "the refused exchange was not closed");
}

BOOST_AUTO_TEST_CASE(an_unreachable_upstream_is_502_and_the_forwarded_call_is_audited_as_unreachable) {
  harness h;
  auto batch = std::make_shared<registry::audit_batch>(*h.db);
  h.ctx->forwarded_audit = batch;
  const std::string url = "http://127.0.0.1:" + std::to_string(mcpgate::test::closed_port()) + "/mcp";
  http_request req = post(tools_call);
  proxy::proxied_call call(*h.ctx, who, req, h.ioc.get_executor());
  call.entry = installation(url, "none", "");
  const auto failed = through_exchange(h, call);
  BOOST_TEST_REQUIRE(failed.has_value());
  BOOST_TEST(failed->status == 502u);
  BOOST_TEST(body_of(*failed).at("error").as_string() == "Upstream MCP server unreachable");
  BOOST_TEST(call.exchange == nullptr);

  const auto events = h.audit(batch);
  BOOST_TEST_REQUIRE(events.size() == 1u);
  const auto& e = events.front();
  BOOST_TEST(e.event_type == "tool_call_forwarded");
  BOOST_TEST(e.tool_name == "echo");
  BOOST_TEST(e.installation_id == "inst-1");
  const auto detail = json::parse(e.detail);
  BOOST_TEST(detail.at("decision").as_string() == "forwarded");
  BOOST_TEST(detail.at("error").as_string() == "unreachable");
  BOOST_TEST(!detail.as_object().contains("upstream_status"));
}

BOOST_AUTO_TEST_CASE(an_unreachable_upstream_without_a_tools_call_leaves_no_audit_record) {
  harness h;
  auto batch = std::make_shared<registry::audit_batch>(*h.db);
  h.ctx->forwarded_audit = batch;
  const std::string url = "http://127.0.0.1:" + std::to_string(mcpgate::test::closed_port()) + "/mcp";
  http_request req = post(R"({"jsonrpc":"2.0","id":1,"method":"ping"})");
  proxy::proxied_call call(*h.ctx, who, req, h.ioc.get_executor());
  call.entry = installation(url, "none", "");
  const auto failed = through_exchange(h, call);
  BOOST_TEST_REQUIRE(failed.has_value());
  BOOST_TEST(failed->status == 502u);
  BOOST_TEST(h.audit(batch).empty());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(answer_step)

BOOST_AUTO_TEST_CASE(a_json_answer_to_tools_list_loses_the_hidden_tools) {
  one_answer_upstream upstream(
      json_answer(R"({"jsonrpc":"2.0","id":"a","result":{"tools":[{"name":"echo"},{"name":"rm"}],"nextCursor":"c2"}})",
                  "Mcp-Session-Id: s-9\r\n"));
  harness h;
  http_request req = post(R"({"jsonrpc":"2.0","id":"a","method":"tools/list"})");
  proxy::proxied_call call(*h.ctx, who, req, h.ioc.get_executor());
  call.entry = installation(upstream.url(), "none", "");
  const auto agent_gets = forward(h, call);
  BOOST_TEST(agent_gets.status == 200u);
  BOOST_TEST(agent_gets.stream == nullptr);
  BOOST_TEST(header_of(agent_gets, "Content-Type") == "application/json");
  BOOST_TEST(header_of(agent_gets, "Mcp-Session-Id") == "s-9");
  BOOST_TEST(agent_gets.body == R"({"jsonrpc":"2.0","id":"a","result":{"tools":[{"name":"echo"}],"nextCursor":"c2"}})");
}

BOOST_AUTO_TEST_CASE(a_json_answer_to_another_method_is_not_filtered) {
  const std::string listing = R"({"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"echo"},{"name":"rm"}]}})";
  one_answer_upstream upstream(json_answer(listing));
  harness h;
  http_request req = post(R"({"jsonrpc":"2.0","id":1,"method":"resources/list"})");
  proxy::proxied_call call(*h.ctx, who, req, h.ioc.get_executor());
  call.entry = installation(upstream.url(), "none", "");
  BOOST_TEST(forward(h, call).body == listing);
}

BOOST_AUTO_TEST_CASE(an_unreadable_answer_to_tools_list_becomes_32603_with_the_requests_id) {
  one_answer_upstream upstream(json_answer(R"({"jsonrpc":"2.0","id":"a","result":{"tools":[{"name":"rm"})"));
  harness h;
  http_request req = post(R"({"jsonrpc":"2.0","id":"a","method":"tools/list"})");
  proxy::proxied_call call(*h.ctx, who, req, h.ioc.get_executor());
  call.entry = installation(upstream.url(), "none", "");
  const auto agent_gets = forward(h, call);
  BOOST_TEST(agent_gets.status == 200u);
  BOOST_TEST(agent_gets.body.find("\"rm\"") == std::string::npos);  // never forwarded
  const auto reply = body_of(agent_gets);
  BOOST_TEST(reply.at("jsonrpc").as_string() == "2.0");
  BOOST_TEST(reply.at("id").as_string() == "a");
  BOOST_TEST(reply.at("error").at("code").as_int64() == -32603);
  BOOST_TEST(!reply.as_object().contains("result"));
}

BOOST_AUTO_TEST_CASE(an_answer_over_max_response_bytes_is_502_too_large) {
  std::string big = R"({"jsonrpc":"2.0","id":4,"result":{"text":")" + std::string(200, 'x') + "\"}}";
  one_answer_upstream upstream(json_answer(big));
  proxy::options settings;
  settings.max_response_bytes = 64;
  harness h(settings);
  http_request req = post(tools_call);
  proxy::proxied_call call(*h.ctx, who, req, h.ioc.get_executor());
  call.entry = installation(upstream.url(), "none", "");
  const auto agent_gets = forward(h, call);
  BOOST_TEST(agent_gets.status == 502u);
  BOOST_TEST(body_of(agent_gets).at("error").as_string() == "Upstream answer too large");
  BOOST_TEST(upstream.closed(), "the upstream was not cut off");
}

BOOST_AUTO_TEST_CASE(an_answer_of_exactly_max_response_bytes_passes) {
  std::string body = R"({"jsonrpc":"2.0","id":4,"result":{"text":")";
  body += std::string(64 - body.size() - 3, 'x') + "\"}}";
  BOOST_TEST_REQUIRE(body.size() == 64u);
  one_answer_upstream upstream(json_answer(body));
  proxy::options settings;
  settings.max_response_bytes = 64;
  harness h(settings);
  http_request req = post(tools_call);
  proxy::proxied_call call(*h.ctx, who, req, h.ioc.get_executor());
  call.entry = installation(upstream.url(), "none", "");
  const auto agent_gets = forward(h, call);
  BOOST_TEST(agent_gets.status == 200u);
  BOOST_TEST(agent_gets.body == body);
}

BOOST_AUTO_TEST_CASE(an_event_stream_answer_comes_back_as_a_filtered_stream_with_no_cache) {
  const std::string event =
      "id: 1\ndata: {\"jsonrpc\":\"2.0\",\"id\":\"a\",\"result\":{\"tools\":[{\"name\":\"echo\"},{\"name\":\"rm\"}]}}\n\n";
  one_answer_upstream upstream(
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nMcp-Session-Id: s-9\r\n"
      "Transfer-Encoding: chunked\r\n\r\n" +
      mcpgate::test::chunk(event) + "0\r\n\r\n");
  harness h;
  http_request req = post(R"({"jsonrpc":"2.0","id":"a","method":"tools/list"})");
  proxy::proxied_call call(*h.ctx, who, req, h.ioc.get_executor());
  call.entry = installation(upstream.url(), "none", "");
  auto agent_gets = forward(h, call);
  BOOST_TEST(agent_gets.status == 200u);
  BOOST_TEST(header_of(agent_gets, "Content-Type") == "text/event-stream");
  BOOST_TEST(header_of(agent_gets, "Cache-Control") == "no-cache");
  BOOST_TEST(header_of(agent_gets, "X-Accel-Buffering") == "no");
  BOOST_TEST(header_of(agent_gets, "Mcp-Session-Id") == "s-9");
  BOOST_TEST(agent_gets.body.empty());
  BOOST_TEST_REQUIRE(agent_gets.stream != nullptr);
  BOOST_TEST(h.ctx->slots->open("inst-1") == 1u);  // the stream holds the request's slot

  using piece = std::pair<error_code, std::string_view>;
  const auto next = [&] {
    auto [ec, bytes] = h.run<piece>(agent_gets.stream->next());
    BOOST_TEST_REQUIRE(!ec, ec.message());
    return std::string(bytes);
  };
  BOOST_TEST(next() ==
             "id: 1\ndata: {\"jsonrpc\":\"2.0\",\"id\":\"a\",\"result\":{\"tools\":[{\"name\":\"echo\"}]}}\n\n");
  BOOST_TEST(next().empty());

  agent_gets.stream.reset();
  call.exchange.reset();
  BOOST_TEST(h.ctx->slots->open("inst-1") == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
