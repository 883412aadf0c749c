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

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
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

// An upstream's subscriptions/listen answer, chunked: SSE or JSON lines.
// What the test pushes goes out at once; while nothing is pushed a
// keep-alive (a blank line, or an SSE comment) goes out every 250 ms.
struct listen_feed {
  void push(std::string bytes) {
    {
      std::lock_guard lock(mu);
      pending.push_back(std::move(bytes));
    }
    changed.notify_all();
  }

  // Runs on the upstream's connection thread until the gateway leaves.
  void serve(fake_exchange& ex, bool lines) {
    const std::string type = lines ? "application/json" : "text/event-stream";
    if (!ex.start_chunked(200, {{"Content-Type", type}})) return;
    for (;;) {
      std::deque<std::string> batch;
      {
        std::unique_lock lock(mu);
        changed.wait_for(lock, std::chrono::milliseconds(250), [this] { return !pending.empty(); });
        batch.swap(pending);
      }
      if (batch.empty()) batch.push_back(lines ? "\n" : ": keep-alive\n\n");
      for (const auto& bytes : batch) {
        if (!ex.write_chunk(bytes)) return;
      }
      if (!ex.pause(std::chrono::milliseconds(0))) return;
    }
  }

  std::mutex mu;
  std::condition_variable changed;
  std::deque<std::string> pending;  // guarded by mu
};

// The next line (with its '\n') of a streamed body; nullopt when the body
// ends or the deadline passes first. `buffer` keeps what came after it.
std::optional<std::string> any_line(agent_stream& agent, std::string& buffer) {
  for (;;) {
    if (const auto end = buffer.find('\n'); end != std::string::npos) {
      std::string line = buffer.substr(0, end + 1);
      buffer.erase(0, end + 1);
      return line;
    }
    if (agent.read_body(buffer) != agent_stream::read_status::data) return std::nullopt;
  }
}

// The next line that is not a keep-alive; nullopt when none comes within
// io_deadline (keep-alives do not extend it).
std::optional<std::string> next_line(agent_stream& agent, std::string& buffer) {
  const auto deadline = steady::now() + io_deadline;
  while (steady::now() < deadline) {
    auto line = any_line(agent, buffer);
    if (!line || *line != "\n") return line;
  }
  return std::nullopt;
}

const std::string acknowledged_line =
    R"({"jsonrpc":"2.0","method":"notifications/subscriptions/acknowledged","params":{"_meta":)"
    R"({"io.modelcontextprotocol/subscriptionId":"sub-7"},"notifications":{"toolsListChanged":true}}})"
    "\n";

struct modern_fixture : gateway {
  modern_fixture()
      : gateway([] {
          gateway_options o = proxy_options();
          o.extra_yaml = "proxy:\n  filtered_list_ttl: 5s\n";
          o.extra_timeouts = "stream_idle: 1s";  // the listen stream's keep-alives must outlast it
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
  header_list older = modern_headers("tools/call", "deploy");
  older[2].second = "2025-11-25";  // _meta says 2026-07-28
  BOOST_TEST(is_rpc_error(send(call, older), 400, 3, -32020));
  // A version the gateway does not know (here in the header, the body
  // naming none): 400, -32022. Named in both and different: -32020 above.
  header_list future = modern_headers("tools/call", "deploy");
  future[2].second = "2031-01-01";
  const reply unknown = send(R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"deploy"}})", future);
  BOOST_TEST(is_rpc_error(unknown, 400, 3, -32022));
  // data.supported names the version the tool sync saw the upstream speak.
  const reply installation = alice.get(item_of(e1, id));
  BOOST_TEST(unknown.json().at("error").at("data").at("supported") ==
             json::array{installation.json().at("protocol_version")});
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

BOOST_FIXTURE_TEST_CASE(a_listen_stream_of_json_lines_flows_and_hears_of_approval_changes, modern_fixture) {
  auto feed = std::make_shared<listen_feed>();
  fake_upstream::handler mcp_handler = upstream.replace_handler(fake_upstream::answer_default);
  upstream.on_request([feed, mcp_handler](fake_exchange& ex) {
    if (ex.request().header("Mcp-Method").value_or("") == "subscriptions/listen") return feed->serve(ex, true);
    mcp_handler(ex);
  });
  install_with({"alpha"});

  agent_stream agent(port());
  const std::string listen = modern_body("L1", "subscriptions/listen", R"("notifications":{"toolsListChanged":true})");
  BOOST_TEST_REQUIRE(agent.send(raw_request("POST", proxy_path(e1, id), port(), key.secret,
                                            modern_headers("subscriptions/listen"), listen)));
  const auto head = agent.read_head();
  BOOST_TEST_REQUIRE(head.has_value());
  BOOST_TEST_REQUIRE(head->status == 200u, *head);
  BOOST_TEST(head->header("Content-Type") == "application/json");

  // The acknowledgement reaches the agent while the answer is still open.
  feed->push(acknowledged_line);
  std::string buffer;
  std::optional<std::string> line = next_line(agent, buffer);
  BOOST_TEST_REQUIRE(line.has_value(), "the acknowledgement did not arrive");
  BOOST_TEST(*line == acknowledged_line);

  // An approval change: a list_changed line naming the subscription.
  set_state("alpha", "approved");
  line = next_line(agent, buffer);
  BOOST_TEST_REQUIRE(line.has_value(), "no list_changed after the approval change");
  BOOST_TEST(json::parse(*line) ==
             json::parse(R"({"jsonrpc":"2.0","method":"notifications/tools/list_changed",)"
                         R"("params":{"_meta":{"io.modelcontextprotocol/subscriptionId":"sub-7"}}})"));

  // Keep-alives hold the stream open past stream_idle (1s here): six of
  // them span 1.5 s, and the upstream's next message still arrives.
  for (int keep_alives = 0; keep_alives < 6;) {
    line = any_line(agent, buffer);
    BOOST_TEST_REQUIRE(line.has_value(), "the stream ended after " << keep_alives << " keep-alives");
    if (*line == "\n") ++keep_alives;
  }
  const std::string resource_updated =
      R"({"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"file:///x","_meta":)"
      R"({"io.modelcontextprotocol/subscriptionId":"sub-7"}}})"
      "\n";
  feed->push(resource_updated);
  line = next_line(agent, buffer);
  BOOST_TEST_REQUIRE(line.has_value(), "the stream did not outlive stream_idle");
  BOOST_TEST(*line == resource_updated);

  // The agent leaves: the upstream's request is closed too.
  const int connection = upstream.requests().back().connection;
  agent.close();
  BOOST_TEST(upstream.wait_for_event(connection_event_kind::peer_closed, connection, io_deadline).has_value());
}

BOOST_FIXTURE_TEST_CASE(an_sse_listen_stream_hears_of_changes_only_when_it_asked, modern_fixture) {
  auto tools_feed = std::make_shared<listen_feed>();
  auto prompts_feed = std::make_shared<listen_feed>();
  fake_upstream::handler mcp_handler = upstream.replace_handler(fake_upstream::answer_default);
  upstream.on_request([tools_feed, prompts_feed, mcp_handler](fake_exchange& ex) {
    if (ex.request().header("Mcp-Method").value_or("") != "subscriptions/listen") return mcp_handler(ex);
    const bool tools = ex.request().body.find("toolsListChanged") != std::string::npos;
    (tools ? tools_feed : prompts_feed)->serve(ex, false);
  });
  install_with({"alpha"});

  const auto open = [this](const std::string& id_text, const std::string& filter) {
    auto agent = std::make_unique<agent_stream>(port());
    const std::string body = modern_body(json::parse(id_text), "subscriptions/listen", R"("notifications":)" + filter);
    BOOST_TEST_REQUIRE(agent->send(raw_request("POST", proxy_path(e1, id), port(), key.secret,
                                               modern_headers("subscriptions/listen"), body)));
    const auto head = agent->read_head();
    BOOST_TEST_REQUIRE(head.has_value());
    BOOST_TEST_REQUIRE(head->status == 200u, *head);
    return agent;
  };
  const auto next_message = [](agent_stream& agent) {
    const auto deadline = steady::now() + io_deadline;  // keep-alives do not extend it
    std::optional<agent_stream::event> e;
    do {
      e = agent.next_event();
    } while (e && e->text.starts_with(":") && steady::now() < deadline);
    return e && !e->text.starts_with(":") ? e : std::nullopt;
  };
  auto tools_agent = open("41", R"({"toolsListChanged":true})");
  auto prompts_agent = open(R"("p-1")", R"({"promptsListChanged":true})");

  // Acknowledgements without a subscription id: the gateway's notice names
  // the listen request's id.
  const std::string ack =
      "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/subscriptions/acknowledged\","
      "\"params\":{\"notifications\":{}}}\n\n";
  tools_feed->push(ack);
  prompts_feed->push(ack);
  for (auto* agent : {tools_agent.get(), prompts_agent.get()}) {
    const auto e = next_message(*agent);
    BOOST_TEST_REQUIRE(e.has_value());
    BOOST_TEST(e->text == ack);
  }

  set_state("alpha", "approved");
  const auto notice = next_message(*tools_agent);
  BOOST_TEST_REQUIRE(notice.has_value(), "no list_changed on the stream that asked for it");
  BOOST_TEST(json::parse(notice->text.substr(notice->text.find("data: ") + 6)) ==
             json::parse(R"({"jsonrpc":"2.0","method":"notifications/tools/list_changed",)"
                         R"("params":{"_meta":{"io.modelcontextprotocol/subscriptionId":41}}})"));
  // The prompts-only stream's next message is the upstream's own.
  const std::string marker =
      "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/prompts/list_changed\"}\n\n";
  prompts_feed->push(marker);
  const auto next = next_message(*prompts_agent);
  BOOST_TEST_REQUIRE(next.has_value());
  BOOST_TEST(next->text == marker);
}

BOOST_FIXTURE_TEST_CASE(a_chunked_answer_of_unknown_length_is_relayed_as_it_arrives, modern_fixture) {
  install_with({"slow"});
  set_state("slow", "approved");
  auto feed = std::make_shared<listen_feed>();
  upstream.replace_handler([feed](fake_exchange& ex) { feed->serve(ex, true); });

  agent_stream agent(port());
  BOOST_TEST_REQUIRE(agent.send(raw_request("POST", proxy_path(e1, id), port(), key.secret,
                                            modern_headers("tools/call", "slow"), modern_tool_call(5, "slow"))));
  const auto head = agent.read_head();
  BOOST_TEST_REQUIRE(head.has_value());
  BOOST_TEST_REQUIRE(head->status == 200u, *head);
  // A progress notification first, the result later: the first arrives
  // while the upstream has not finished (it never does here).
  const std::string progress =
      R"({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}})"
      "\n";
  feed->push(progress);
  std::string buffer;
  const std::optional<std::string> line = next_line(agent, buffer);
  BOOST_TEST_REQUIRE(line.has_value(), "nothing arrived before the upstream's answer ended");
  BOOST_TEST(*line == progress);
}

BOOST_AUTO_TEST_SUITE_END()
