// The tool sync in both protocol eras (spec: protocol-2026.md "The tool sync
// speaks both eras"), against an mcp_upstream that speaks 2026-07-28 only,
// the 2025 revisions only, or both: what install_custom and tools/refresh
// record (tools, and the installation's protocol_version in its JSON), what
// the upstream received (discover or the handshake, the 2026 headers), the
// reuse of the recorded era with a re-probe when the upstream changed, and a
// tool that only 2026 clients see being called through the proxy once
// approved.
#include "mcp_upstream.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <string>
#include <vector>

using namespace mcpgate::it;

// Named, so that nothing here meets the other suites' helpers in a unity build.
namespace sync_eras {
namespace {

const std::vector<std::string> discover_then_handshake{"server/discover", "initialize", "notifications/initialized",
                                                       "tools/list", "DELETE"};
const std::vector<std::string> handshake{"initialize", "notifications/initialized", "tools/list", "DELETE"};

std::vector<mcp_tool> tools_named(std::initializer_list<std::string> names) {
  std::vector<mcp_tool> tools;
  for (const auto& n : names) tools.push_back(named(n));
  return tools;
}

// The body of a recorded POST as JSON ({} when it is not an object).
json::object posted_json(const recorded_request& r) {
  boost::system::error_code ec;
  json::value v = json::parse(r.body, ec);
  return !ec && v.is_object() ? v.as_object() : json::object{};
}

// A gateway that may reach loopback upstreams, alice's key, one mcp_upstream.
struct eras_fixture : proxy_gateway {
  eras_fixture() : key(create_key("alice", "*")), alice(client(key)), mcp(upstream) {}

  // install_custom (api_key "upstream-key"), which syncs before its 201: the
  // installation as that answer shows it.
  json::object install_now() {
    const reply r = alice.post(
        e1 + "/install_custom/",
        json::object{{"name", "Eras"}, {"url", upstream.url()}, {"auth_type", "api_key"}, {"api_key", "upstream-key"}});
    BOOST_TEST_REQUIRE(r.status == 201u, r);
    BOOST_TEST_REQUIRE(is_installation(r.json()), r);
    id = id_of(r.object());
    return r.object();
  }

  json::object installation() {
    const reply r = alice.get(item_of(e1, id));
    BOOST_TEST_REQUIRE(r.status == 200u, r);
    BOOST_TEST_REQUIRE(is_installation(r.json()), r);
    return r.object();
  }

  // The installation's protocol_version as GET and the list show it ("null"
  // for null), checked to agree.
  std::string recorded_version() {
    const json::value v = installation().at("protocol_version");
    const reply listed = alice.get(e1);
    BOOST_TEST_REQUIRE(listed.status == 200u, listed);
    const json::object page = listed.object();
    for (const auto& item : page.at("results").as_array()) {
      if (string_of(item, "id") == id) BOOST_TEST(item.at("protocol_version") == v, listed);
    }
    return v.is_null() ? std::string("null") : std::string(v.as_string());
  }

  std::vector<std::string> registry_tools() {
    const reply r = alice.get(item_of(e1, id) + "/tools");
    BOOST_TEST_REQUIRE(r.status == 200u, r);
    const json::object listed = r.object();
    std::vector<std::string> names;
    for (const auto& t : listed.at("results").as_array()) names.push_back(string_of(t, "tool_name"));
    return names;
  }

  void refresh() {
    const reply r = alice.post(item_of(e1, id) + "/tools/refresh", json::object{});
    BOOST_TEST_REQUIRE(r.status == 200u, r);
  }

  void approve(const std::string& tool) {
    const reply r = alice.patch(item_of(e1, id) + "/tools/" + tool, json::object{{"approval_state", "approved"}});
    BOOST_TEST_REQUIRE(r.status == 200u, r);
  }

  // A tools/call as a 2026 agent sends it through the proxy.
  reply call_modern(const std::string& tool, int request_id) {
    json::object meta{{"io.modelcontextprotocol/protocolVersion", "2026-07-28"},
                      {"io.modelcontextprotocol/clientCapabilities", json::object()},
                      {"io.modelcontextprotocol/clientInfo", json::object{{"name", "agent"}, {"version", "1"}}}};
    const std::string body = json::serialize(json::object{
        {"jsonrpc", "2.0"},
        {"id", request_id},
        {"method", "tools/call"},
        {"params", json::object{{"name", tool}, {"arguments", json::object()}, {"_meta", std::move(meta)}}}});
    header_list headers = json_headers;
    headers.emplace_back("MCP-Protocol-Version", "2026-07-28");
    headers.emplace_back("Mcp-Method", "tools/call");
    headers.emplace_back("Mcp-Name", tool);
    return alice.send("POST", proxy_path(e1, id), body, headers);
  }

  api_key key;
  api_client alice;
  fake_upstream upstream;
  mcp_upstream mcp;
  std::string id;
};

// What the upstream received for one stateless sync: only POSTs, each in
// 2026-07-28 with its method in Mcp-Method and the 2026 _meta, without a
// session, with the installation's credential.
void expect_modern_requests(const fake_upstream& upstream) {
  const auto requests = upstream.requests();
  BOOST_TEST_REQUIRE(!requests.empty());
  for (const recorded_request& r : requests) {
    BOOST_TEST_CONTEXT(r) {
      BOOST_TEST(r.method == "POST");
      BOOST_TEST(r.header("MCP-Protocol-Version").value_or("") == "2026-07-28");
      const json::object body = posted_json(r);
      BOOST_TEST(r.header("Mcp-Method").value_or("") == string_of(body, "method"));
      BOOST_TEST(!r.header("Mcp-Session-Id").has_value());
      BOOST_TEST(r.header("Authorization").value_or("") == "Bearer upstream-key");
      const json::value* params = body.if_contains("params");
      BOOST_TEST_REQUIRE((params != nullptr && params->is_object()));
      const json::value* meta = params->as_object().if_contains("_meta");
      BOOST_TEST_REQUIRE((meta != nullptr && meta->is_object()));
      BOOST_TEST(string_of(*meta, "io.modelcontextprotocol/protocolVersion") == "2026-07-28");
      BOOST_TEST(meta->as_object().at("io.modelcontextprotocol/clientCapabilities").is_object());
      BOOST_TEST(string_of(meta->as_object().at("io.modelcontextprotocol/clientInfo"), "name") == "mcpgate");
    }
  }
}

}  // namespace
}  // namespace sync_eras

using namespace sync_eras;

// ---------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(sync_eras_install, eras_fixture)

BOOST_AUTO_TEST_CASE(a_2026_only_server_is_synced_statelessly_and_its_version_recorded) {
  mcp.set_era(mcp_era::modern);
  mcp.set_page_size(2);
  mcp.set_tools(tools_named({"c", "a", "b"}));
  const json::object installed = install_now();
  BOOST_TEST(installed.at("tool_count") == json::value(3));
  BOOST_TEST(installed.at("protocol_version") == json::value("2026-07-28"));
  BOOST_TEST(recorded_version() == "2026-07-28");
  BOOST_TEST(registry_tools() == (std::vector<std::string>{"a", "b", "c"}), boost::test_tools::per_element());

  // Discover, then a tools/list per page: no initialize, no DELETE, no GET.
  const std::vector<std::string> expected{"server/discover", "tools/list", "tools/list"};
  BOOST_TEST(methods_received(upstream) == expected, boost::test_tools::per_element());
  expect_modern_requests(upstream);
  BOOST_TEST(string_of(posted_json(upstream.requests().at(2)).at("params"), "cursor") == "page-1");
}

BOOST_AUTO_TEST_CASE(a_2025_only_server_is_synced_through_the_handshake_after_the_probe) {
  mcp.set_tools(tools_named({"old"}));
  const json::object installed = install_now();
  BOOST_TEST(installed.at("tool_count") == json::value(1));
  BOOST_TEST(installed.at("protocol_version") == json::value("2025-06-18"));
  BOOST_TEST(recorded_version() == "2025-06-18");
  BOOST_TEST(registry_tools() == std::vector<std::string>{"old"}, boost::test_tools::per_element());
  BOOST_TEST(methods_received(upstream) == discover_then_handshake, boost::test_tools::per_element());
  // The handshake is today's: no 2026 header on initialize, the session after it.
  const auto requests = upstream.requests();
  BOOST_TEST(!requests.at(1).header("MCP-Protocol-Version").has_value(), requests.at(1));
  BOOST_TEST(requests.at(3).header("Mcp-Session-Id").value_or("").starts_with("upstream-session-"), requests.at(3));
}

BOOST_AUTO_TEST_CASE(a_dual_server_is_synced_in_2026_with_the_tools_it_offers_2026_clients) {
  mcp.set_era(mcp_era::dual);
  mcp.set_tools(tools_named({"shared"}));
  mcp.set_modern_tools(tools_named({"shared", "only_2026"}));
  const json::object installed = install_now();
  BOOST_TEST(installed.at("tool_count") == json::value(2));
  BOOST_TEST(installed.at("protocol_version") == json::value("2026-07-28"));
  BOOST_TEST(registry_tools() == (std::vector<std::string>{"only_2026", "shared"}), boost::test_tools::per_element());
  const std::vector<std::string> expected{"server/discover", "tools/list"};
  BOOST_TEST(methods_received(upstream) == expected, boost::test_tools::per_element());
  expect_modern_requests(upstream);
}

BOOST_AUTO_TEST_CASE(no_version_is_shown_until_a_sync_succeeds) {
  // Created without a sync.
  const json::object created = create_url(alice, e1, upstream.url("/created"));
  BOOST_TEST(created.at("protocol_version").is_null());

  // An upstream failing the probe with 500: no fallback, nothing recorded.
  mcp.set_era(mcp_era::dual);
  mcp.set_tools(tools_named({"t"}));
  mcp.set_fail_status(500);
  const json::object installed = install_now();
  BOOST_TEST(installed.at("tool_count") == json::value(0));
  BOOST_TEST(installed.at("protocol_version").is_null());
  BOOST_TEST(recorded_version() == "null");
  BOOST_TEST(methods_received(upstream) == std::vector<std::string>{"server/discover"},
             boost::test_tools::per_element());

  // Once it answers, the refresh records it.
  mcp.set_fail_status(0);
  refresh();
  BOOST_TEST(recorded_version() == "2026-07-28");
  BOOST_TEST(registry_tools() == std::vector<std::string>{"t"}, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(sync_eras_refresh, eras_fixture)

BOOST_AUTO_TEST_CASE(a_refresh_of_a_2026_installation_lists_at_once) {
  mcp.set_era(mcp_era::modern);
  mcp.set_tools(tools_named({"a"}));
  install_now();
  upstream.clear_records();
  mcp.set_tools(tools_named({"a", "b"}));
  refresh();
  BOOST_TEST(registry_tools() == (std::vector<std::string>{"a", "b"}), boost::test_tools::per_element());
  BOOST_TEST(methods_received(upstream) == std::vector<std::string>{"tools/list"}, boost::test_tools::per_element());
  expect_modern_requests(upstream);
  BOOST_TEST(recorded_version() == "2026-07-28");
}

BOOST_AUTO_TEST_CASE(a_refresh_of_a_2025_installation_does_the_handshake_without_a_probe) {
  mcp.set_tools(tools_named({"a"}));
  install_now();
  upstream.clear_records();
  mcp.set_tools(tools_named({"a", "b"}));
  refresh();
  BOOST_TEST(registry_tools() == (std::vector<std::string>{"a", "b"}), boost::test_tools::per_element());
  BOOST_TEST(methods_received(upstream) == handshake, boost::test_tools::per_element());
  BOOST_TEST(recorded_version() == "2025-06-18");
}

BOOST_AUTO_TEST_CASE(an_upstream_that_moved_to_2026_only_is_probed_again_and_recorded) {
  mcp.set_tools(tools_named({"a"}));
  install_now();
  BOOST_TEST_REQUIRE(recorded_version() == "2025-06-18");
  upstream.clear_records();
  mcp.set_era(mcp_era::modern);
  mcp.set_tools(tools_named({"a", "new"}));
  refresh();
  BOOST_TEST(registry_tools() == (std::vector<std::string>{"a", "new"}), boost::test_tools::per_element());
  // initialize is refused as a 2026-only server refuses it (404, -32601).
  const std::vector<std::string> expected{"initialize", "server/discover", "tools/list"};
  BOOST_TEST(methods_received(upstream) == expected, boost::test_tools::per_element());
  BOOST_TEST(recorded_version() == "2026-07-28");
}

BOOST_AUTO_TEST_CASE(an_upstream_that_went_back_to_2025_is_probed_again_and_recorded) {
  mcp.set_era(mcp_era::modern);
  mcp.set_tools(tools_named({"a"}));
  install_now();
  BOOST_TEST_REQUIRE(recorded_version() == "2026-07-28");
  upstream.clear_records();
  mcp.set_era(mcp_era::legacy);
  mcp.set_tools(tools_named({"a", "old"}));
  refresh();
  BOOST_TEST(registry_tools() == (std::vector<std::string>{"a", "old"}), boost::test_tools::per_element());
  // mcp_upstream (legacy) lists without a session, in the 2025 form: no
  // resultType. That is no 2026 answer: probe, then the handshake.
  const std::vector<std::string> expected{"tools/list", "server/discover", "initialize", "notifications/initialized",
                                          "tools/list", "DELETE"};
  BOOST_TEST(methods_received(upstream) == expected, boost::test_tools::per_element());
  BOOST_TEST(recorded_version() == "2025-06-18");
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(sync_eras_proxy, eras_fixture)

BOOST_AUTO_TEST_CASE(a_tool_only_2026_clients_see_is_called_through_the_proxy_once_approved) {
  mcp.set_era(mcp_era::dual);
  mcp.set_tools(tools_named({"shared"}));
  mcp.set_modern_tools(tools_named({"shared", "only_2026"}));
  install_now();
  upstream.clear_records();

  // Not approved yet: the gateway answers (the shape is the proxy's
  // business), and the call does not reach the upstream.
  const reply refused = call_modern("only_2026", 1);
  BOOST_TEST(refused.status == 200u, refused);
  BOOST_TEST(calls_received(upstream, "only_2026") == 0u);

  approve("only_2026");
  const reply r = call_modern("only_2026", 2);
  BOOST_TEST_REQUIRE(r.status == 200u, r);
  const json::value answer = r.json();
  BOOST_TEST(answer.at("id") == json::value(2), r);
  BOOST_TEST(string_of(answer.at("result"), "resultType") == "complete", r);
  BOOST_TEST(string_of(answer.at("result").at("content").at(0), "text") == "called only_2026", r);

  // The upstream got it as a 2026 request (it checks the headers against the body).
  BOOST_TEST(calls_received(upstream, "only_2026") == 1u);
  const auto requests = upstream.requests();
  const auto call = std::find_if(requests.begin(), requests.end(), [](const recorded_request& q) {
    return q.body.find("\"tools/call\"") != std::string::npos;
  });
  BOOST_TEST_REQUIRE((call != requests.end()));
  BOOST_TEST(call->header("MCP-Protocol-Version").value_or("") == "2026-07-28", *call);
  BOOST_TEST(call->header("Mcp-Method").value_or("") == "tools/call", *call);
  BOOST_TEST(call->header("Mcp-Name").value_or("") == "only_2026", *call);
  BOOST_TEST(call->header("Authorization").value_or("") == "Bearer upstream-key", *call);
}

BOOST_AUTO_TEST_CASE(a_2026_only_server_syncs_and_its_approved_tool_is_callable) {
  mcp.set_era(mcp_era::modern);
  mcp.set_tools(tools_named({"search"}));
  install_now();
  approve("search");
  upstream.clear_records();
  const reply r = call_modern("search", 7);
  BOOST_TEST_REQUIRE(r.status == 200u, r);
  BOOST_TEST(string_of(r.json().at("result").at("content").at(0), "text") == "called search", r);
  BOOST_TEST(calls_received(upstream, "search") == 1u);
  BOOST_TEST(methods_received(upstream) == std::vector<std::string>{"tools/call"}, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()
