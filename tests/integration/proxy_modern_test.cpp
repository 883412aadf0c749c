// Requests of MCP protocol revision 2026-07-28 through the proxy (spec:
// protocol-2026.md), against a scripted upstream: tool approval in the
// modern shapes with nothing reaching the upstream, the revision's header
// rules checked before anything goes upstream, the upstream's own answers
// (multi round-trip results, its errors and statuses) passed through
// unchanged, Mcp-Param-* headers forwarded, and filtered lists made
// private. Every case checks both ends: what the agent got and what the
// upstream received.
#include "mcp_upstream.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

using namespace mcpgate::it;

namespace {

constexpr std::string_view modern_version = "2026-07-28";

// A modern request's body: `params` (members without braces) plus _meta.
std::string modern_body(const json::value& id, std::string_view method, const std::string& params = "") {
  const std::string meta = R"("_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",)"
                           R"("io.modelcontextprotocol/clientCapabilities":{},)"
                           R"("io.modelcontextprotocol/clientInfo":{"name":"it","version":"1"}})";
  return R"({"jsonrpc":"2.0","id":)" + json::serialize(id) + R"(,"method":")" + std::string(method) +
         R"(","params":{)" + (params.empty() ? meta : params + "," + meta) + "}}";
}

std::string modern_tool_call(const json::value& id, const std::string& tool) {
  return modern_body(id, "tools/call", R"("name":)" + json::serialize(json::string(tool)) + R"(,"arguments":{})");
}

// The headers a 2026 client sends with a request (name "" = no Mcp-Name).
header_list modern_headers(std::string_view method, std::string_view name = "") {
  header_list h = json_headers;
  h.emplace_back("MCP-Protocol-Version", std::string(modern_version));
  h.emplace_back("Mcp-Method", std::string(method));
  if (!name.empty()) h.emplace_back("Mcp-Name", std::string(name));
  return h;
}

// HTTP `status`, JSON, a JSON-RPC error with `code` and the request's id.
boost::test_tools::assertion_result is_rpc_error(const reply& r, unsigned status, const json::value& id,
                                                 std::int64_t code) {
  boost::test_tools::assertion_result result(false);
  boost::system::error_code ec;
  const json::value got = json::parse(r.body, ec);
  if (r.status != status || ec || !got.is_object() || got.as_object().if_contains("error") == nullptr) {
    result.message() << "status " << r.status << ": " << r.body.substr(0, 300);
    return result;
  }
  if (got.at("id") != id || got.at("error").at("code") != code) {
    result.message() << "expected id " << json::serialize(id) << " and code " << code << ", got " << r.body;
    return result;
  }
  return true;
}

struct modern_fixture : gateway {
  modern_fixture()
      : gateway([] {
          gateway_options o = proxy_options();
          o.extra_yaml = "proxy:\n  filtered_list_ttl: 5s\n";
          return o;
        }()),
        key(create_key("alice", "*")),
        alice(client(key)),
        mcp(upstream) {}

  void install_with(std::initializer_list<std::string> tools) {
    std::vector<mcp_tool> listed;
    for (const auto& t : tools) listed.push_back(named(t));
    mcp.set_tools(std::move(listed));
    id = install_mcp(alice, upstream, upstream.url("/mcp"), "api_key", "upstream-key");
  }

  void set_state(const std::string& tool, std::string_view state) {
    const reply r = alice.patch(item_of(e1, id) + "/tools/" + tool, json::object{{"approval_state", state}});
    BOOST_TEST_REQUIRE(r.status == 200u, r);
  }

  reply send(const std::string& body, const header_list& headers) {
    return alice.send("POST", proxy_path(e1, id), body, headers);
  }

  api_key key;
  api_client alice;
  fake_upstream upstream;
  mcp_upstream mcp;
  std::string id;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(proxy_modern)

BOOST_FIXTURE_TEST_CASE(refused_calls_get_the_2026_shapes_and_never_reach_the_upstream, modern_fixture) {
  install_with({"deploy", "read", "banned"});
  set_state("deploy", "approved");
  set_state("banned", "do_not_use");

  // needs_approval and do_not_use: HTTP 200, a tool result that says why.
  for (const auto& [tool, state, sentence] :
       {std::tuple{"read", "needs_approval", "Tool 'read' requires approval before it can be called"},
        std::tuple{"banned", "do_not_use", "Tool 'banned' has been disabled by the user"}}) {
    const reply r = send(modern_tool_call("c-1", tool), modern_headers("tools/call", tool));
    BOOST_TEST_REQUIRE(r.status == 200u, r);
    const json::value got = r.json();
    BOOST_TEST(got.at("id") == "c-1");
    const json::value& result = got.at("result");
    BOOST_TEST(result.at("resultType") == "complete");
    BOOST_TEST(result.at("isError") == true);
    BOOST_TEST(result.at("content").at(0).at("text") == sentence);
    BOOST_TEST(result.at("_meta").at("dev.mcpgate/approval") == (json::object{{"state", state}, {"tool", tool}}));
  }
  // Unknown: -32602.
  const reply unknown = send(modern_tool_call(8, "nope"), modern_headers("tools/call", "nope"));
  BOOST_TEST(is_rpc_error(unknown, 200, 8, -32602));
  BOOST_TEST(string_of(unknown.json().at("error"), "message") == "Unknown tool: nope");
  BOOST_TEST(upstream.request_count() == 0u);

  // The approved one goes up with the revision's headers, any Mcp-Param-*,
  // the stored credential and the body byte for byte; the agent's key stays.
  header_list headers = modern_headers("tools/call", "deploy");
  headers.emplace_back("Mcp-Param-Region", "eu-west");
  headers.emplace_back("Mcp-Param-Something-New", "=?base64?eA==?=");
  const std::string body = modern_tool_call(9, "deploy");
  const reply ok = send(body, headers);
  BOOST_TEST(ok.status == 200u, ok);
  BOOST_TEST_REQUIRE(upstream.request_count() == 1u);
  const recorded_request got = upstream.requests().at(0);
  BOOST_TEST(got.body == body);
  BOOST_TEST(got.header("MCP-Protocol-Version").value_or("") == "2026-07-28");
  BOOST_TEST(got.header("Mcp-Method").value_or("") == "tools/call");
  BOOST_TEST(got.header("Mcp-Name").value_or("") == "deploy");
  BOOST_TEST(got.header("Mcp-Param-Region").value_or("") == "eu-west");
  BOOST_TEST(got.header("Mcp-Param-Something-New").value_or("") == "=?base64?eA==?=");
  BOOST_TEST(got.header("Authorization").value_or("") == "Bearer upstream-key");
}

BOOST_FIXTURE_TEST_CASE(the_revisions_header_rules_hold_before_anything_goes_upstream, modern_fixture) {
  const std::string accented = "d\xC3\xA9ploy";  // "déploy"
  install_with({"deploy", accented});
  set_state("deploy", "approved");
  const reply approve =
      alice.patch(item_of(e1, id) + "/tools/d%C3%A9ploy", json::object{{"approval_state", "approved"}});
  BOOST_TEST_REQUIRE(approve.status == 200u, approve);

  const std::string call = modern_tool_call(3, "deploy");
  BOOST_TEST(is_rpc_error(send(call, modern_headers("tools/call")), 400, 3, -32020));           // no Mcp-Name
  BOOST_TEST(is_rpc_error(send(call, modern_headers("tools/call", "other")), 400, 3, -32020));  // another name
  BOOST_TEST(is_rpc_error(send(call, modern_headers("tools/list", "deploy")), 400, 3, -32020));
  header_list no_version = modern_headers("tools/call", "deploy");
  no_version.erase(no_version.begin() + 2);  // MCP-Protocol-Version
  BOOST_TEST(is_rpc_error(send(call, no_version), 400, 3, -32020));
  header_list future = modern_headers("tools/call", "deploy");
  future[2].second = "2031-01-01";
  const reply unknown = send(call, future);
  BOOST_TEST(is_rpc_error(unknown, 400, 3, -32022));
  BOOST_TEST(unknown.json().at("error").at("data").at("supported").as_array().size() == 5u);
  BOOST_TEST(upstream.request_count() == 0u);

  // A name that is not plain ASCII travels base64-encoded, and matches.
  const reply encoded = send(modern_tool_call(4, accented), modern_headers("tools/call", "=?base64?ZMOpcGxveQ==?="));
  BOOST_TEST(encoded.status == 200u, encoded);
  BOOST_TEST(calls_received(upstream, accented) == 1u);
  BOOST_TEST(upstream.request_count() == 1u);
}

BOOST_FIXTURE_TEST_CASE(the_upstreams_own_answers_reach_the_agent_unchanged, modern_fixture) {
  install_with({"ask"});
  set_state("ask", "approved");
  // From here on the upstream answers as a 2026 server would: a multi
  // round-trip tools/call, 404 for a method it lacks, its own -32020.
  const std::string input_required =
      R"({"jsonrpc":"2.0","id":1,"result":{"resultType":"input_required","inputRequests":{"confirm":{"method":)"
      R"("elicitation/create","params":{"message":"Sure?","requestedSchema":{"type":"object"}}}},"requestState":"opaque-1"}})";
  const std::string done =
      R"({"jsonrpc":"2.0","id":2,"result":{"resultType":"complete","content":[{"type":"text","text":"ok"}],"_meta":{"x":1}}})";
  const std::string no_method = R"({"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"Method not found"}})";
  const std::string mismatch = R"({"jsonrpc":"2.0","id":4,"error":{"code":-32020,"message":"Header mismatch"}})";
  upstream.replace_handler([&](fake_exchange& ex) {
    const std::string method = ex.request().header("Mcp-Method").value_or("");
    if (method == "tools/call") {
      const bool retry = ex.request().body.find("inputResponses") != std::string::npos;
      ex.respond_json(200, retry ? done : input_required);
    } else if (method == "prompts/get") {
      ex.respond_json(404, no_method);
    } else {
      ex.respond_json(400, mismatch);
    }
  });

  const reply first = send(modern_tool_call(1, "ask"), modern_headers("tools/call", "ask"));
  BOOST_TEST(first.status == 200u);
  BOOST_TEST(first.body == input_required);
  // The retry carries the answers and the state; the upstream sees them as sent.
  const std::string retry = modern_body(
      2, "tools/call",
      R"("name":"ask","arguments":{},"inputResponses":{"confirm":{"action":"accept","content":{}}},"requestState":"opaque-1")");
  const reply second = send(retry, modern_headers("tools/call", "ask"));
  BOOST_TEST(second.status == 200u);
  BOOST_TEST(second.body == done);
  BOOST_TEST_REQUIRE(upstream.request_count() == 2u);
  BOOST_TEST(upstream.requests().at(1).body == retry);

  const reply missing = send(modern_body(3, "prompts/get", R"("name":"p")"), modern_headers("prompts/get", "p"));
  BOOST_TEST(missing.status == 404u);
  BOOST_TEST(missing.body == no_method);
  const reply refused = send(modern_body(4, "resources/read", R"("uri":"file:///a")"),
                             modern_headers("resources/read", "file:///a"));
  BOOST_TEST(refused.status == 400u);
  BOOST_TEST(refused.body == mismatch);
}

BOOST_FIXTURE_TEST_CASE(a_filtered_modern_list_is_private_and_a_legacy_one_as_before, modern_fixture) {
  install_with({"shown", "hidden"});
  set_state("hidden", "do_not_use");
  upstream.replace_handler([](fake_exchange& ex) {
    // The same answer to both eras: a dual server's list with cache hints.
    const json::value request = json::parse(ex.request().body);
    ex.respond_json(200, R"({"jsonrpc":"2.0","id":)" + json::serialize(request.at("id")) +
                             R"(,"result":{"resultType":"complete","tools":[{"name":"shown","inputSchema":{}},)"
                             R"({"name":"hidden","inputSchema":{}}],"ttlMs":300000,"cacheScope":"public"}})");
  });

  const reply modern = send(modern_body(1, "tools/list"), modern_headers("tools/list"));
  BOOST_TEST_REQUIRE(modern.status == 200u, modern);
  const json::value result = modern.json().at("result");
  BOOST_TEST(result.at("tools").as_array().size() == 1u);
  BOOST_TEST(result.at("tools").at(0).at("name") == "shown");
  BOOST_TEST(result.at("cacheScope") == "private");
  BOOST_TEST(result.at("ttlMs") == 5000);  // proxy.filtered_list_ttl: 5s

  // A legacy request's answer only loses the tool, exactly as before.
  const reply legacy = send(R"({"jsonrpc":"2.0","id":2,"method":"tools/list"})", json_headers);
  BOOST_TEST_REQUIRE(legacy.status == 200u, legacy);
  const json::value old = legacy.json().at("result");
  BOOST_TEST(old.at("tools").as_array().size() == 1u);
  BOOST_TEST(old.at("cacheScope") == "public");
  BOOST_TEST(old.at("ttlMs") == 300000);
}

BOOST_AUTO_TEST_SUITE_END()
