// Tool approval on the proxy path, against a scripted MCP upstream: which
// tools/call messages reach the upstream and what the agent gets instead
// (single messages, bodies built to hide the tool name, malformed bodies,
// batches), the audit rows of refused calls on disk, tools/list answers
// (JSON and SSE) losing hidden tools with cursors untouched, the background
// sync when the upstream lists or announces tools the registry has not seen,
// and notifications/tools/list_changed on an open GET stream after an
// approval change. Every case checks both ends: the agent's answer and what
// the upstream received.
#include "mcp_upstream.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <utility>

using namespace mcpgate::it;

namespace {

const std::string invalid_json = "Request body must be valid JSON";

// "héllo_工具" and "rocket_🚀" in UTF-8.
const std::string unicode_tool = "h\xc3\xa9llo_\xe5\xb7\xa5\xe5\x85\xb7";
const std::string rocket_tool = "rocket_\xf0\x9f\x9a\x80";

// The event the gateway slips into a GET stream after an approval change.
const std::string list_changed_event =
    "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n\n";

std::vector<mcp_tool> named_tools(std::initializer_list<std::string> names) {
  std::vector<mcp_tool> tools;
  for (const auto& n : names) tools.push_back(named(n));
  return tools;
}

// Every byte outside the URL's unreserved set as %XX.
std::string percent_encoded(std::string_view text) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += digits[u >> 4];
      out += digits[u & 15];
    }
  }
  return out;
}

std::string call_body(const json::value& id, std::string_view tool) {
  return json::serialize(json::object{{"jsonrpc", "2.0"},
                                      {"id", id},
                                      {"method", "tools/call"},
                                      {"params", json::object{{"name", tool}, {"arguments", json::object{}}}}});
}

std::string call_notification(std::string_view tool) {
  return json::serialize(
      json::object{{"jsonrpc", "2.0"}, {"method", "tools/call"}, {"params", json::object{{"name", tool}}}});
}

json::value rpc_error(const json::value& id, std::int64_t code, std::string_view message) {
  return json::object{{"jsonrpc", "2.0"}, {"id", id}, {"error", json::object{{"code", code}, {"message", message}}}};
}

json::value needs_approval_error(const json::value& id, const std::string& tool) {
  return rpc_error(id, -32001, "Tool '" + tool + "' requires approval before it can be called");
}
json::value disabled_error(const json::value& id, const std::string& tool) {
  return rpc_error(id, -32002, "Tool '" + tool + "' has been disabled by the user");
}
json::value not_found_error(const json::value& id, const std::string& tool) {
  return rpc_error(id, -32601, "Tool '" + tool + "' not found");
}

// mcp_upstream's answer to a tools/call.
json::value call_result(const json::value& id, const std::string& tool) {
  return json::object{
      {"jsonrpc", "2.0"},
      {"id", id},
      {"result", json::object{{"content", json::array{json::object{{"type", "text"}, {"text", "called " + tool}}}}}}};
}

// mcp_upstream's entry for a tool with only a name.
json::object tool_entry(const std::string& name) {
  return json::object{{"name", name}, {"inputSchema", json::object{{"type", "object"}}}};
}

// A tools/list answer as mcp_upstream writes it (members in its order).
std::string tools_list_text(const json::value& id, std::initializer_list<std::string> names,
                            const std::string& next_cursor = "") {
  json::array tools;
  for (const auto& n : names) tools.push_back(tool_entry(n));
  json::object result{{"tools", std::move(tools)}};
  if (!next_cursor.empty()) result["nextCursor"] = next_cursor;
  return json::serialize(json::object{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}});
}

std::string tools_list_request(const json::value& id, const std::string& cursor = "") {
  json::object message{{"jsonrpc", "2.0"}, {"id", id}, {"method", "tools/list"}};
  if (!cursor.empty()) message["params"] = json::object{{"cursor", cursor}};
  return json::serialize(message);
}

// HTTP 200, JSON, and a body that is exactly `expected` as JSON.
boost::test_tools::assertion_result is_json_answer(const reply& r, const json::value& expected) {
  boost::test_tools::assertion_result result(false);
  if (r.status != 200u) {
    result.message() << "status " << r.status << ", not 200: " << r.body.substr(0, 300);
    return result;
  }
  if (!r.header("Content-Type").starts_with("application/json")) {
    result.message() << "Content-Type '" << r.header("Content-Type") << "'";
    return result;
  }
  boost::system::error_code ec;
  const json::value got = json::parse(r.body, ec);
  if (ec) {
    result.message() << "body is not JSON: " << r.body.substr(0, 300);
    return result;
  }
  if (got != expected) {
    result.message() << "expected " << json::serialize(expected) << "\n got " << r.body.substr(0, 300);
    return result;
  }
  return true;
}

// The upstream's server-initiated stream (the answer to GET): a chunked
// text/event-stream that stays open and carries whatever the test pushes,
// until the gateway closes the connection or the upstream stops.
struct server_stream {
  void push(std::string bytes) {
    {
      std::lock_guard lock(mu);
      pending.push_back(std::move(bytes));
    }
    changed.notify_all();
  }

  // Runs on the upstream's connection thread.
  void serve(fake_exchange& ex) {
    if (!ex.start_chunked(200, {{"Content-Type", "text/event-stream"}, {"Cache-Control", "no-cache"}})) return;
    for (;;) {
      std::deque<std::string> batch;
      {
        std::unique_lock lock(mu);
        // Wakes at once for new data; the timeout only bounds how late the
        // end of the connection is noticed.
        changed.wait_for(lock, std::chrono::milliseconds(50), [this] { return !pending.empty(); });
        batch.swap(pending);
      }
      for (const auto& bytes : batch) {
        if (!ex.write_chunk(bytes)) return;
      }
      if (!ex.pause(std::chrono::milliseconds(0))) return;  // the gateway left, or the upstream stops
    }
  }

  std::mutex mu;
  std::condition_variable changed;
  std::deque<std::string> pending;  // guarded by mu
};

// A gateway that reaches loopback upstreams with the daemon's default body
// limit (1 MiB), alice's key, and one mcp_upstream.
struct tools_proxy_fixture : gateway {
  tools_proxy_fixture()
      : gateway([] {
          gateway_options o = proxy_options();
          o.max_body_bytes = 1048576;
          return o;
        }()),
        key(create_key("alice", "*")),
        alice(client(key)),
        mcp(upstream) {}

  // Installs the upstream (api_key "upstream-key", synced with `tools`, all
  // needs_approval); the upstream's records start empty.
  std::string install_with(std::vector<mcp_tool> tools, const std::string& path = "/mcp") {
    mcp.set_tools(std::move(tools));
    id = install_mcp(alice, upstream, upstream.url(path), "api_key", "upstream-key");
    return id;
  }

  reply rpc(const std::string& body, const std::string& collection = e1) {
    return alice.send("POST", proxy_path(collection, id), body, json_headers);
  }

  std::string tools_path(const std::string& collection = e1) const { return item_of(collection, id) + "/tools"; }

  void set_state(const std::string& tool, std::string_view state, const std::string& collection = e1) {
    const reply r = alice.patch(tools_path(collection) + "/" + percent_encoded(tool),
                                json::object{{"approval_state", state}});
    BOOST_TEST_REQUIRE(r.status == 200u, r);
    BOOST_TEST_REQUIRE(string_of(r.json(), "approval_state") == state, r);
  }

  void refresh() {
    const reply r = alice.post(tools_path() + "/refresh", json::object{});
    BOOST_TEST_REQUIRE(r.status == 200u, r);
  }

  // The tool's approval_state in GET .../tools (removed ones included); ""
  // when the registry does not have it.
  std::string registry_state(const std::string& tool) {
    const reply r = alice.get(tools_path() + "?include_removed=1");
    BOOST_TEST_REQUIRE(r.status == 200u, r);
    const json::value listed = r.json();
    for (const auto& t : listed.at("results").as_array()) {
      if (string_of(t, "tool_name") == tool) return string_of(t, "approval_state");
    }
    return "";
  }

  // Re-reads GET .../tools until the tool shows up (a background sync
  // stored it); its state, or "" when the deadline passes first.
  std::string wait_for_tool(const std::string& tool, std::chrono::milliseconds within = io_deadline) {
    const auto deadline = steady::now() + within;
    do {
      if (std::string state = registry_state(tool); !state.empty()) return state;
    } while (steady::now() < deadline);
    return "";
  }

  // A request that is forwarded, so that everything sent before it has had
  // its chance to reach the upstream; then what the upstream received.
  std::vector<std::string> methods_after_barrier() {
    const reply r = rpc(R"({"jsonrpc":"2.0","id":"barrier","method":"ping"})");
    BOOST_TEST(is_json_answer(r, json::object{{"jsonrpc", "2.0"}, {"id", "barrier"}, {"result", json::object{}}}));
    return methods_received(upstream);
  }

  api_key key;
  api_client alice;
  fake_upstream upstream;
  mcp_upstream mcp;
  std::string id;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(tools_proxy)

// ---------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(calls, tools_proxy_fixture)

BOOST_AUTO_TEST_CASE(a_call_follows_every_approval_change_from_the_very_next_request) {
  install_with(named_tools({"deploy", "read"}));

  // New tools need approval; number and string ids come back as sent.
  BOOST_TEST(is_json_answer(rpc(call_body(1, "deploy")), needs_approval_error(1, "deploy")));
  BOOST_TEST(is_json_answer(rpc(call_body("req-2", "deploy")), needs_approval_error("req-2", "deploy")));
  BOOST_TEST(is_json_answer(rpc(call_body(3, "deploy"), p1), needs_approval_error(3, "deploy")));
  BOOST_TEST(upstream.request_count() == 0u);

  set_state("deploy", "approved");
  const std::string approved_call = call_body(4, "deploy");
  BOOST_TEST(is_json_answer(rpc(approved_call), call_result(4, "deploy")));
  BOOST_TEST_REQUIRE(upstream.request_count() == 1u);
  const recorded_request got = upstream.requests().at(0);
  BOOST_TEST(got.body == approved_call);
  BOOST_TEST(got.header("Authorization").value_or("<absent>") == "Bearer upstream-key", got);
  BOOST_TEST(calls_received(upstream, "deploy") == 1u);

  set_state("deploy", "do_not_use", p1);
  BOOST_TEST(is_json_answer(rpc(call_body(5, "deploy")), disabled_error(5, "deploy")));
  BOOST_TEST(is_json_answer(rpc(call_body("six", "deploy"), p1), disabled_error("six", "deploy")));

  set_state("deploy", "needs_approval");
  BOOST_TEST(is_json_answer(rpc(call_body(7, "deploy")), needs_approval_error(7, "deploy")));

  BOOST_TEST(calls_received(upstream, "deploy") == 1u);
  const std::vector<std::string> expected{"tools/call", "ping"};
  BOOST_TEST(methods_after_barrier() == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(an_unknown_tool_or_a_call_without_a_name_is_not_found) {
  install_with(named_tools({"deploy"}));
  set_state("deploy", "approved");

  BOOST_TEST(is_json_answer(rpc(call_body(1, "nope")), not_found_error(1, "nope")));
  // Names are compared exactly.
  BOOST_TEST(is_json_answer(rpc(call_body(2, "Deploy")), not_found_error(2, "Deploy")));
  BOOST_TEST(is_json_answer(rpc(call_body(3, "deploy ")), not_found_error(3, "deploy ")));

  // No usable params.name: -32601 whatever else the message holds.
  const std::vector<std::string> nameless{
      R"({"jsonrpc":"2.0","id":10,"method":"tools/call"})",
      R"({"jsonrpc":"2.0","id":10,"method":"tools/call","params":{}})",
      R"({"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"arguments":{"name":"deploy"}}})",
      R"({"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":null}})",
      R"({"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":7}})",
      R"({"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":["deploy"]}})",
      R"({"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":{"name":"deploy"}}})",
      R"({"jsonrpc":"2.0","id":10,"method":"tools/call","params":["deploy"]})",
      R"({"jsonrpc":"2.0","id":10,"method":"tools/call","name":"deploy"})",
  };
  for (const auto& body : nameless) {
    BOOST_TEST_CONTEXT(body) {
      const reply r = rpc(body);
      BOOST_TEST(r.status == 200u, r);
      const json::value v = r.json();
      BOOST_TEST(v.at("id") == json::value(10), r);
      BOOST_TEST(v.at("error").at("code") == json::value(-32601), r);
      BOOST_TEST(string_of(v.at("error"), "message").starts_with("Tool '"), r);
      BOOST_TEST(string_of(v.at("error"), "message").ends_with("' not found"), r);
    }
  }
  BOOST_TEST(calls_received(upstream, "deploy") == 0u);
  const std::vector<std::string> expected{"ping"};
  BOOST_TEST(methods_after_barrier() == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_tool_gone_from_the_upstream_is_not_found_until_it_comes_back) {
  install_with(named_tools({"deploy", "read"}));
  set_state("deploy", "approved");
  set_state("read", "approved");
  BOOST_TEST(is_json_answer(rpc(call_body(1, "deploy")), call_result(1, "deploy")));

  mcp.set_tools(named_tools({"read"}));
  refresh();
  upstream.clear_records();
  BOOST_TEST(is_json_answer(rpc(call_body(2, "deploy")), not_found_error(2, "deploy")));
  BOOST_TEST(is_json_answer(rpc(call_body(3, "read")), call_result(3, "read")));
  BOOST_TEST(calls_received(upstream, "deploy") == 0u);
  BOOST_TEST(calls_received(upstream, "read") == 1u);

  // Back again, with the state it had.
  mcp.set_tools(named_tools({"deploy", "read"}));
  refresh();
  upstream.clear_records();
  BOOST_TEST(registry_state("deploy") == "approved");
  BOOST_TEST(is_json_answer(rpc(call_body(4, "deploy")), call_result(4, "deploy")));
  BOOST_TEST(calls_received(upstream, "deploy") == 1u);
}

BOOST_AUTO_TEST_CASE(the_id_of_a_refused_call_comes_back_as_the_agent_wrote_it) {
  install_with(named_tools({"pending"}));
  // Numbers exactly as written (a client may match ids by their text or
  // their exact integer value); strings and null by value.
  const std::vector<std::pair<std::string, bool>> ids{
      {"0", true},
      {"-5", true},
      {"9007199254740993", true},
      {"18446744073709551615", true},
      {"\"\"", false},
      {"\"x\\u00e9\\\"y\"", false},
      {"null", true}};
  for (const auto& [id_text, textual] : ids) {
    BOOST_TEST_CONTEXT("id " << id_text) {
      const reply r = rpc(R"({"jsonrpc":"2.0","id":)" + id_text +
                          R"(,"method":"tools/call","params":{"name":"pending"}})");
      BOOST_TEST(is_json_answer(r, needs_approval_error(json::parse(id_text), "pending")));
      if (textual) BOOST_TEST(r.body.find("\"id\":" + id_text + ",") != std::string::npos, r.body);
    }
  }
  BOOST_TEST(upstream.request_count() == 0u);
}

// JSON-RPC: the answer's id "MUST be the same as the value of the id member
// in the Request Object"; an integer beyond 64 bits must not come back as a
// rounded double.
BOOST_AUTO_TEST_CASE(an_integer_id_beyond_64_bits_comes_back_as_written) {
  install_with(named_tools({"pending"}));
  const std::string id_text = "123456789012345678901234567890";
  const reply r = rpc(R"({"jsonrpc":"2.0","id":)" + id_text + R"(,"method":"tools/call","params":{"name":"pending"}})");
  BOOST_TEST(r.status == 200u, r);
  BOOST_TEST(r.body.find("\"id\":" + id_text + ",") != std::string::npos, r.body);
  BOOST_TEST(upstream.request_count() == 0u);
}

BOOST_AUTO_TEST_CASE(a_malformed_tools_call_message_is_not_forwarded) {
  install_with(named_tools({"pending"}));
  // Not valid JSON-RPC requests, but each names a refused tool: none may
  // reach the upstream, whatever the gateway answers (today: 202 for an
  // invalid id or a request that also carries "result", -32001 otherwise).
  const std::vector<std::string> bodies{
      R"({"jsonrpc":"2.0","id":true,"method":"tools/call","params":{"name":"pending"}})",
      R"({"jsonrpc":"2.0","id":{"a":1},"method":"tools/call","params":{"name":"pending"}})",
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"pending"},"result":{}})",
      R"({"jsonrpc":"1.0","id":1,"method":"tools/call","params":{"name":"pending"}})",
      R"({"id":1,"method":"tools/call","params":{"name":"pending"}})",
  };
  for (const auto& body : bodies) {
    BOOST_TEST_CONTEXT(body) {
      const reply r = rpc(body);
      BOOST_TEST((r.status == 200u || r.status == 202u || r.status == 400u), r);
    }
  }
  BOOST_TEST(calls_received(upstream, "pending") == 0u);
  const std::vector<std::string> expected{"ping"};
  BOOST_TEST(methods_after_barrier() == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(tricky_bodies, tools_proxy_fixture)

BOOST_AUTO_TEST_CASE(bodies_that_hide_the_tool_name_do_not_get_a_refused_call_through) {
  install_with(named_tools({"approved_tool", "blocked", unicode_tool, rocket_tool}));
  set_state("approved_tool", "approved");

  const std::string blob(500 * 1024, 'x');
  struct refused_case {
    std::string label;
    std::string body;
    json::value expected;
  };
  const std::vector<refused_case> refused{
      {"a name inside arguments, before params.name",
       R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{"name":"approved_tool"},"name":"blocked"}})",
       needs_approval_error(1, "blocked")},
      {"a name deep in arguments",
       R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"arguments":{"list":[{"name":"approved_tool"}],"o":{"name":"approved_tool"}},"name":"blocked"}})",
       needs_approval_error(2, "blocked")},
      {"a name in _meta",
       R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"_meta":{"name":"approved_tool"},"name":"blocked"}})",
       needs_approval_error(3, "blocked")},
      {"a name at the top of the message",
       R"({"jsonrpc":"2.0","id":4,"method":"tools/call","name":"approved_tool","params":{"name":"blocked"}})",
       needs_approval_error(4, "blocked")},
      {"a task-augmented call",
       R"({"jsonrpc":"2.0","id":16,"method":"tools/call","params":{"name":"blocked","arguments":{},"task":{"ttl":60000}}})",
       needs_approval_error(16, "blocked")},
      {"params before method",
       R"({"params":{"name":"blocked","arguments":{"name":"approved_tool"}},"id":5,"method":"tools/call","jsonrpc":"2.0"})",
       needs_approval_error(5, "blocked")},
      {"an escaped name", R"({"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"bl\u006fcked"}})",
       needs_approval_error(6, "blocked")},
      {"an escaped key", R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"n\u0061me":"blocked"}})",
       needs_approval_error(7, "blocked")},
      {"an escaped method", R"({"jsonrpc":"2.0","id":8,"method":"tools\/call","params":{"name":"blocked"}})",
       needs_approval_error(8, "blocked")},
      {"an escaped method, \\u form",
       R"({"jsonrpc":"2.0","id":9,"method":"tools\u002Fcall","params":{"name":"blocked"}})",
       needs_approval_error(9, "blocked")},
      {"whitespace everywhere",
       "\r\n { \"jsonrpc\" :\t\"2.0\" ,\n \"id\" : 10 ,\r\n \"method\" : \"tools/call\" , \"params\" : {\n\t\"name\"\n:\n"
       "\"blocked\" } }\n\t ",
       needs_approval_error(10, "blocked")},
      {"a long key before the name",
       R"({"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"a_rather_long_key_before_the_name":{"name":"approved_tool"},"name":"blocked"}})",
       needs_approval_error(11, "blocked")},
      {"an escaped string id",
       R"({"jsonrpc":"2.0","id":"a\"b\u00e9","method":"tools/call","params":{"name":"blocked"}})",
       needs_approval_error("a\"b\xc3\xa9", "blocked")},
      {"a unicode name",
       R"({"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":")" + unicode_tool + R"("}})",
       needs_approval_error(12, unicode_tool)},
      {"a unicode name, escaped",
       R"({"jsonrpc":"2.0","id":13,"method":"tools/call","params":{"name":"h\u00e9llo_\u5de5\u5177"}})",
       needs_approval_error(13, unicode_tool)},
      {"a surrogate pair, escaped",
       R"({"jsonrpc":"2.0","id":14,"method":"tools/call","params":{"name":"rocket_\ud83d\ude80"}})",
       needs_approval_error(14, rocket_tool)},
      {"500 KB of arguments before the name",
       R"({"jsonrpc":"2.0","id":15,"method":"tools/call","params":{"arguments":{"name":"approved_tool","blob":")" +
           blob + R"("},"name":"blocked"}})",
       needs_approval_error(15, "blocked")},
  };
  for (const auto& c : refused) {
    BOOST_TEST_CONTEXT(c.label) { BOOST_TEST(is_json_answer(rpc(c.body), c.expected)); }
  }
  BOOST_TEST(upstream.request_count() == 0u);

  // The decoys the other way round: the call is to the approved tool, and
  // its bytes reach the upstream untouched.
  struct forwarded_case {
    std::string label;
    std::string body;
    json::value id;
  };
  const std::vector<forwarded_case> forwarded{
      {"a refused name inside arguments",
       R"({"jsonrpc":"2.0","id":21,"method":"tools/call","params":{"name":"approved_tool","arguments":{"name":"blocked"}}})",
       21},
      {"an escaped approved name",
       R"({"jsonrpc":"2.0","id":22,"method":"tools/call","params":{"name":"appr\u006fved_tool"}})", 22},
      {"params before method, odd spacing",
       "{ \"params\" : { \"name\" : \"approved_tool\" } , \"method\" : \"tools/call\" , \"id\" : 23 , \"jsonrpc\" : "
       "\"2.0\" }",
       23},
      {"500 KB of arguments",
       R"({"jsonrpc":"2.0","id":24,"method":"tools/call","params":{"name":"approved_tool","arguments":{"blob":")" +
           blob + R"("}}})",
       24},
  };
  for (std::size_t i = 0; i < forwarded.size(); ++i) {
    const auto& c = forwarded[i];
    BOOST_TEST_CONTEXT(c.label) {
      BOOST_TEST(is_json_answer(rpc(c.body), call_result(c.id, "approved_tool")));
      BOOST_TEST_REQUIRE(upstream.wait_for_requests(i + 1, io_deadline));
      const recorded_request got = upstream.requests().at(i);
      BOOST_TEST(got.body.size() == c.body.size());
      BOOST_TEST((got.body == c.body), "the upstream got other bytes than the agent sent");
    }
  }
  BOOST_TEST(calls_received(upstream, "approved_tool") == forwarded.size());
  BOOST_TEST(calls_received(upstream, "blocked") == 0u);

  // A unicode name approved through its percent-encoded path is callable,
  // however the agent spells it.
  set_state(unicode_tool, "approved");
  const std::string escaped_call =
      R"({"jsonrpc":"2.0","id":31,"method":"tools/call","params":{"name":"h\u00e9llo_\u5de5\u5177"}})";
  BOOST_TEST(is_json_answer(rpc(escaped_call), call_result(31, unicode_tool)));
  BOOST_TEST(is_json_answer(rpc(call_body(32, unicode_tool)), call_result(32, unicode_tool)));
  BOOST_TEST(calls_received(upstream, unicode_tool) == 2u);
  BOOST_TEST(calls_received(upstream, rocket_tool) == 0u);
  BOOST_TEST(upstream.requests().at(forwarded.size()).body == escaped_call);
}

// Mcp-Method and Mcp-Name mirror the body for intermediaries and servers
// that route on headers without parsing the body. The gateway checked the
// body; a mirror header naming something else must not reach the upstream
// as the agent wrote it (refused with 400, or dropped, or set from the body).
BOOST_AUTO_TEST_CASE(a_mirror_header_that_disagrees_with_the_checked_body_never_reaches_the_upstream) {
  install_with(named_tools({"approved_tool", "blocked"}));
  set_state("approved_tool", "approved");
  header_list headers = json_headers;
  headers.emplace_back("Mcp-Method", "tools/call");
  headers.emplace_back("Mcp-Name", "blocked");
  const std::vector<std::string> bodies{call_body(1, "approved_tool"), R"({"jsonrpc":"2.0","id":2,"method":"ping"})"};
  for (const auto& body : bodies) {
    BOOST_TEST_CONTEXT(body) {
      const std::size_t before = upstream.request_count();
      const reply r = alice.send("POST", proxy_path(e1, id), body, headers);
      if (r.status == 400u) {
        BOOST_TEST(upstream.request_count() == before);
        continue;
      }
      BOOST_TEST_REQUIRE(upstream.request_count() == before + 1);
      const recorded_request got = upstream.requests().back();
      BOOST_TEST(got.header("Mcp-Name").value_or("approved_tool") != "blocked", got);
      const std::string method = string_of(json::parse(body), "method");
      BOOST_TEST(got.header("Mcp-Method").value_or(method) == method, got);
    }
  }
  BOOST_TEST(calls_received(upstream, "blocked") == 0u);
}

BOOST_AUTO_TEST_CASE(a_malformed_body_is_400_and_reaches_no_upstream) {
  install_with(named_tools({"approved_tool", "blocked"}));
  set_state("approved_tool", "approved");
  const std::vector<std::pair<std::string, std::string>> bodies{
      {"truncated", R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"approved_tool"})"},
      {"trailing comma", R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"approved_tool"},})"},
      {"single quotes", R"({'jsonrpc':'2.0','id':1,'method':'tools/call','params':{'name':'approved_tool'}})"},
      {"a comment", R"({"jsonrpc":"2.0","id":1,/* c */"method":"tools/call","params":{"name":"approved_tool"}})"},
      {"NaN", R"({"jsonrpc":"2.0","id":NaN,"method":"tools/call","params":{"name":"approved_tool"}})"},
      {"invalid UTF-8",
       "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"approved_tool\","
       "\"arguments\":{\"t\":\"\xff\xfe\"}}}"},
      {"two messages back to back",
       R"({"jsonrpc":"2.0","id":1,"method":"ping"}{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"blocked"}})"},
      {"a string", R"("tools/call")"},
      {"a number", "42"},
      {"null", "null"},
      {"empty", ""},
      {"only whitespace", " \n "},
      {"an empty batch", "[]"},
      {"a batch of a number", "[1]"},
      {"a nested batch", R"([[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"approved_tool"}}]])"},
      // A key the filter reads, twice: parsers disagree on which copy wins.
      {"params.name twice",
       R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"approved_tool","name":"blocked"}})"},
      {"params.name twice, the other order",
       R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"blocked","name":"approved_tool"}})"},
      {"params.name twice, one escaped",
       R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"approved_tool","n\u0061me":"blocked"}})"},
      {"params twice",
       R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"approved_tool"},"params":{"name":"blocked"}})"},
      {"method twice", R"({"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call","params":{"name":"blocked"}})"},
      {"params.name twice in a batch item",
       R"([{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"approved_tool","name":"blocked"}}])"},
  };
  for (const auto& [label, body] : bodies) {
    BOOST_TEST_CONTEXT(label) { BOOST_TEST(is_proxy_error(rpc(body), 400, invalid_json)); }
  }
  BOOST_TEST(upstream.request_count() == 0u);
  const std::vector<std::string> expected{"ping"};
  BOOST_TEST(methods_after_barrier() == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(batches, tools_proxy_fixture)

BOOST_AUTO_TEST_CASE(a_batch_of_allowed_calls_is_forwarded_as_it_is) {
  install_with(named_tools({"a", "b", "blocked"}));
  set_state("a", "approved");
  set_state("b", "approved");
  const std::string batch = "[" + call_body(1, "a") + " , " + call_body("two", "b") +
                            R"(, {"jsonrpc":"2.0","id":3,"method":"tools/list"},)" + call_notification("a") +
                            R"(, {"jsonrpc":"2.0","method":"notifications/progress","params":{"name":"blocked"}}])";
  const reply r = rpc(batch);
  BOOST_TEST(is_json_answer(r, json::array{call_result(1, "a"), call_result("two", "b"),
                                           json::parse(tools_list_text(3, {"a", "b", "blocked"}))}));
  BOOST_TEST_REQUIRE(upstream.request_count() == 1u);
  BOOST_TEST(upstream.requests().at(0).body == batch);
  BOOST_TEST(calls_received(upstream, "a") == 2u);
}

BOOST_AUTO_TEST_CASE(a_batch_of_only_refused_calls_gets_their_errors_and_nothing_is_forwarded) {
  install_with(named_tools({"pending", "off"}));
  set_state("off", "do_not_use");
  const std::string batch = "[" + call_body(1, "pending") + "," + call_body("two", "off") + "," +
                            call_notification("pending") + "," + call_body(3, "nope") + "]";
  BOOST_TEST(is_json_answer(rpc(batch), json::array{needs_approval_error(1, "pending"), disabled_error("two", "off"),
                                                    not_found_error(3, "nope")}));
  // One item: still an array.
  BOOST_TEST(is_json_answer(rpc("[" + call_body(4, "pending") + "]"), json::array{needs_approval_error(4, "pending")}));
  BOOST_TEST(upstream.request_count() == 0u);
  const std::vector<std::string> expected{"ping"};
  BOOST_TEST(methods_after_barrier() == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_batch_mixing_a_refused_call_with_anything_else_is_rejected_whole) {
  install_with(named_tools({"ok", "pending"}));
  set_state("ok", "approved");
  const auto rejected = [](const reply& r, const std::vector<json::value>& ids) -> boost::test_tools::assertion_result {
    boost::test_tools::assertion_result result(false);
    if (r.status != 200u || !r.header("Content-Type").starts_with("application/json")) {
      result.message() << "not a 200 JSON answer: " << r;
      return result;
    }
    const json::value v = r.json();
    if (!v.is_array() || v.as_array().size() != ids.size()) {
      result.message() << "expected an array of " << ids.size() << " errors: " << r.body;
      return result;
    }
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const json::value& item = v.as_array()[i];
      const json::value* error = item.is_object() ? item.as_object().if_contains("error") : nullptr;
      const bool ok = item.is_object() && item.as_object().size() == 3u && string_of(item, "jsonrpc") == "2.0" &&
                      item.as_object().if_contains("id") && item.at("id") == ids[i] && error && error->is_object() &&
                      error->as_object().if_contains("code") && error->at("code") == json::value(-32000) &&
                      string_of(*error, "message").starts_with("Batch rejected");
      if (!ok) {
        result.message() << "item " << i << " is not a -32000 \"Batch rejected...\" error for id "
                         << json::serialize(ids[i]) << ": " << r.body;
        return result;
      }
    }
    return true;
  };
  BOOST_TEST(rejected(rpc("[" + call_body(1, "ok") + "," + call_body(2, "pending") + "]"), {1, 2}));
  BOOST_TEST(rejected(rpc("[" + call_body("x", "pending") + R"(,{"jsonrpc":"2.0","id":"y","method":"tools/list"}])"),
                      {"x", "y"}));
  // Notifications get no answer, but are not forwarded either.
  BOOST_TEST(rejected(
      rpc("[" + call_notification("ok") + "," + call_body(5, "pending") +
          R"(,{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":6,"method":"ping"}])"),
      {5, 6}));
  BOOST_TEST(rejected(rpc("[" + call_body(7, "ok") + "," + call_notification("pending") + "]"), {7}));
  BOOST_TEST(upstream.request_count() == 0u);
  BOOST_TEST(calls_received(upstream, "ok") == 0u);
  const std::vector<std::string> expected{"ping"};
  BOOST_TEST(methods_after_barrier() == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(refused_notifications_alone_are_202_and_reach_no_upstream) {
  install_with(named_tools({"pending"}));
  for (const std::string& body : {call_notification("pending"), call_notification("nope"),
                                  "[" + call_notification("pending") + "," + call_notification("nope") + "]"}) {
    BOOST_TEST_CONTEXT(body) {
      const reply r = rpc(body);
      BOOST_TEST(r.status == 202u, r);
      BOOST_TEST(r.body.empty(), r);
    }
  }
  BOOST_TEST(upstream.request_count() == 0u);
  const std::vector<std::string> expected{"ping"};
  BOOST_TEST(methods_after_barrier() == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(audit, tools_proxy_fixture)

BOOST_AUTO_TEST_CASE(each_refused_call_leaves_a_tool_call_blocked_row_on_disk) {
  install_with(named_tools({"pending", "off", "gone", "ok"}));
  set_state("off", "do_not_use");
  set_state("ok", "approved");
  set_state("gone", "approved");
  mcp.set_tools(named_tools({"pending", "off", "ok"}));
  refresh();
  gateway_db db(data_dir());  // the audit trail, read straight from the daemon's database
  const auto alice_id = db.user_id("alice");
  BOOST_TEST_REQUIRE(alice_id.has_value());
  BOOST_TEST(db.audit_rows(id, "tool_call_blocked").empty());

  const std::int64_t start = now_micros();
  BOOST_TEST(is_json_answer(rpc(call_body(1, "pending")), needs_approval_error(1, "pending")));
  BOOST_TEST(is_json_answer(rpc(call_body(2, "off"), p1), disabled_error(2, "off")));
  BOOST_TEST(is_json_answer(rpc(call_body(3, "gone")), not_found_error(3, "gone")));
  BOOST_TEST(is_json_answer(rpc(call_body(4, "nope")), not_found_error(4, "nope")));
  BOOST_TEST(rpc(call_notification("pending")).status == 202u);
  // In a rejected batch only the refused call is a blocked call.
  BOOST_TEST(rpc("[" + call_body(5, "ok") + "," + call_body(6, "off") + "]").status == 200u);
  // Allowed calls leave no row.
  BOOST_TEST(is_json_answer(rpc(call_body(7, "ok")), call_result(7, "ok")));
  const std::int64_t end = now_micros();

  const auto rows = db.audit_rows(id, "tool_call_blocked");
  std::vector<std::pair<std::string, std::string>> got;
  for (const auto& row : rows) {
    BOOST_TEST_CONTEXT("row for " << row.tool_name) {
      BOOST_TEST(row.environment_id == 1);
      BOOST_TEST(row.user_id == *alice_id);
      BOOST_TEST(row.installation_id == id);
      BOOST_TEST(row.created_at >= start - 1'000'000);
      BOOST_TEST(row.created_at <= end + 1'000'000);
      boost::system::error_code ec;
      const json::value detail = json::parse(row.detail, ec);
      BOOST_TEST_REQUIRE(!ec, "detail is not JSON: " << row.detail);
      BOOST_TEST_REQUIRE((detail.is_object() && detail.as_object().size() == 1u), row.detail);
      got.emplace_back(row.tool_name, string_of(detail, "state"));
    }
  }
  const std::vector<std::pair<std::string, std::string>> expected{{"pending", "needs_approval"}, {"off", "do_not_use"},
                                                                  {"gone", "unknown"},           {"nope", "unknown"},
                                                                  {"pending", "needs_approval"}, {"off", "do_not_use"}};
  BOOST_TEST_REQUIRE(got.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    BOOST_TEST_CONTEXT("row " << i) {
      BOOST_TEST(got[i].first == expected[i].first);
      BOOST_TEST(got[i].second == expected[i].second);
    }
  }
  BOOST_TEST(calls_received(upstream, "ok") == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(tools_list, tools_proxy_fixture)

BOOST_AUTO_TEST_CASE(a_json_answer_loses_do_not_use_tools_and_keeps_its_cursors) {
  install_with(named_tools({"a", "b", "c"}));
  set_state("a", "approved");
  set_state("b", "do_not_use");

  const auto expect_page = [this](const json::value& rpc_id, const std::string& cursor, const std::string& expected) {
    const std::string request = tools_list_request(rpc_id, cursor);
    const std::size_t before = upstream.request_count();
    const reply r = rpc(request);
    BOOST_TEST(r.status == 200u, r);
    BOOST_TEST(r.header("Content-Type").starts_with("application/json"), r);
    BOOST_TEST(r.body == expected);
    BOOST_TEST_REQUIRE(upstream.request_count() == before + 1);
    BOOST_TEST(upstream.requests().back().body == request);
  };
  mcp.set_page_size(2);
  expect_page(1, "", tools_list_text(1, {"a"}, "page-1"));
  expect_page("two", "page-1", tools_list_text("two", {"c"}));
  mcp.set_page_size(1);
  expect_page(3, "", tools_list_text(3, {"a"}, "page-1"));
  expect_page(4, "page-1", tools_list_text(4, {}, "page-2"));  // every tool of the page hidden
  expect_page(5, "page-2", tools_list_text(5, {"c"}));
  mcp.set_page_size(0);

  // In a batch answer, element by element.
  const reply r = rpc("[" + tools_list_request(6) + R"(,{"jsonrpc":"2.0","id":7,"method":"ping"}])");
  BOOST_TEST(r.status == 200u, r);
  BOOST_TEST(r.body == "[" + tools_list_text(6, {"a", "c"}) + R"(,{"jsonrpc":"2.0","id":7,"result":{}}])");

  // An approval change shows from the next list on.
  set_state("b", "approved");
  expect_page(8, "", tools_list_text(8, {"a", "b", "c"}));
}

BOOST_AUTO_TEST_CASE(an_sse_answer_loses_do_not_use_tools_and_keeps_its_cursors) {
  install_with(named_tools({"a", "b", "c"}));
  set_state("a", "approved");
  set_state("b", "do_not_use");
  mcp.set_sse_answers(true);
  mcp.set_page_size(2);

  const auto expect_event = [this](const json::value& rpc_id, const std::string& cursor, const std::string& expected) {
    const std::string request = tools_list_request(rpc_id, cursor);
    const reply r = rpc(request);
    BOOST_TEST(r.status == 200u, r);
    BOOST_TEST(r.header("Content-Type").starts_with("text/event-stream"), r);
    BOOST_TEST(r.body == "event: message\ndata: " + expected + "\n\n");
    BOOST_TEST(upstream.requests().back().body == request);
  };
  expect_event(1, "", tools_list_text(1, {"a"}, "page-1"));
  expect_event(2, "page-1", tools_list_text(2, {"c"}));
  mcp.set_page_size(0);
  expect_event(3, "", tools_list_text(3, {"a", "c"}));
  BOOST_TEST(upstream.request_count() == 3u);
}

BOOST_AUTO_TEST_CASE(a_tool_the_registry_has_not_seen_is_listed_and_then_synced_in_the_background) {
  for (const bool sse : {false, true}) {
    BOOST_TEST_CONTEXT((sse ? "SSE answer" : "JSON answer")) {
      mcp.set_sse_answers(sse);
      install_with(named_tools({"a", "b"}), sse ? "/sse" : "/json");
      set_state("b", "do_not_use");
      mcp.set_tools(named_tools({"a", "b", "fresh"}));
      BOOST_TEST(registry_state("fresh") == "");

      const reply r = rpc(tools_list_request(1));
      const std::string expected = tools_list_text(1, {"a", "fresh"});
      BOOST_TEST(r.status == 200u, r);
      BOOST_TEST(r.body == (sse ? "event: message\ndata: " + expected + "\n\n" : expected));

      // The sync the answer started: initialize, initialized, tools/list, DELETE.
      BOOST_TEST(upstream.wait_for_requests(5, io_deadline), "methods seen: " << methods_received(upstream).size());
      BOOST_TEST(wait_for_tool("fresh") == "needs_approval");
      BOOST_TEST(registry_state("b") == "do_not_use");
      const auto methods = methods_received(upstream);
      BOOST_TEST_REQUIRE(!methods.empty());
      BOOST_TEST(methods.front() == "tools/list");
      BOOST_TEST(std::count(methods.begin(), methods.end(), "initialize") == 1);

      // And the new tool is refused until approved.
      BOOST_TEST(is_json_answer(rpc(call_body(2, "fresh")), needs_approval_error(2, "fresh")));
      BOOST_TEST(calls_received(upstream, "fresh") == 0u);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_removed_tool_the_upstream_lists_again_is_synced_back_with_its_state) {
  install_with(named_tools({"a", "back"}));
  set_state("back", "approved");
  mcp.set_tools(named_tools({"a"}));
  refresh();
  BOOST_TEST(is_json_answer(rpc(call_body(1, "back")), not_found_error(1, "back")));
  mcp.set_tools(named_tools({"a", "back"}));
  upstream.clear_records();

  const reply r = rpc(tools_list_request(2));
  BOOST_TEST(r.status == 200u, r);
  // The sync the listing started brings the tool back, state kept.
  BOOST_TEST(upstream.wait_for_requests(5, io_deadline), "no background sync after the listing");
  const auto deadline = steady::now() + io_deadline;
  bool back = false;
  while (!back && steady::now() < deadline) {
    const reply listed = alice.get(tools_path());
    BOOST_TEST_REQUIRE(listed.status == 200u, listed);
    const json::value tools = listed.json();
    for (const auto& t : tools.at("results").as_array()) {
      back = back || (string_of(t, "tool_name") == "back" && t.as_object().at("removed_at").is_null());
    }
  }
  BOOST_TEST_REQUIRE(back, "the tool did not come back");
  BOOST_TEST(registry_state("back") == "approved");
  BOOST_TEST(is_json_answer(rpc(call_body(3, "back")), call_result(3, "back")));
  BOOST_TEST(is_json_answer(rpc(tools_list_request(4)), json::parse(tools_list_text(4, {"a", "back"}))));
}

BOOST_AUTO_TEST_CASE(an_sse_answer_cut_anywhere_with_crlf_and_several_data_lines_is_filtered) {
  install_with(named_tools({"a", "b", "c"}));
  set_state("b", "do_not_use");
  // The answer's JSON over three data lines, CRLF line ends, an id line, a
  // progress event before it, and the bytes cut into small chunks.
  const std::string progress =
      "event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":"
      "{\"progressToken\":\"t\",\"progress\":1}}\r\n\r\n";
  const std::string answer =
      "id: 7\r\nevent: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\r\ndata: \"result\":{\"tools\":[{\"name\":\"a\"},"
      "\r\ndata: {\"name\":\"b\"},{\"name\":\"c\"}],\"nextCursor\":\"z\"}}\r\n\r\n";
  fake_upstream::handler mcp_handler = upstream.replace_handler(fake_upstream::answer_default);
  upstream.on_request([=](fake_exchange& ex) {
    if (ex.request().method != "POST" || ex.request().body.find("\"tools/list\"") == std::string::npos) {
      return mcp_handler(ex);
    }
    if (!ex.start_chunked(200, {{"Content-Type", "text/event-stream"}})) return;
    const std::string all = progress + answer;
    for (std::size_t at = 0; at < all.size(); at += 7) {
      if (!ex.write_chunk(all.substr(at, 7))) return;
    }
    ex.end_chunked();
  });
  const reply r = rpc(tools_list_request(1));
  BOOST_TEST_REQUIRE(r.status == 200u, r);
  BOOST_TEST(r.header("Content-Type").starts_with("text/event-stream"), r);
  BOOST_TEST_REQUIRE(r.body.starts_with(progress), r.body);
  const std::string filtered = r.body.substr(progress.size());
  BOOST_TEST(filtered.starts_with("id: 7\r\nevent: message\r\n"), filtered);
  BOOST_TEST(filtered.ends_with("\r\n\r\n"), filtered);
  BOOST_TEST(filtered.find("\"b\"") == std::string::npos, filtered);
  // The event's data, as an SSE parser joins it.
  std::string data;
  std::size_t at = 0;
  while (at < filtered.size()) {
    const std::size_t end = filtered.find("\r\n", at);
    if (end == std::string::npos) break;
    const std::string line = filtered.substr(at, end - at);
    if (line.starts_with("data: ")) data += (data.empty() ? "" : "\n") + line.substr(6);
    at = end + 2;
  }
  boost::system::error_code ec;
  const json::value v = json::parse(data, ec);
  BOOST_TEST_REQUIRE(!ec, "data is not JSON: " << data);
  BOOST_TEST(
      v == json::parse(R"({"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a"},{"name":"c"}],"nextCursor":"z"}})"));
}

BOOST_AUTO_TEST_CASE(a_tools_list_answer_replayed_on_a_resumed_get_stream_is_filtered) {
  install_with(named_tools({"a", "b", "c"}));
  set_state("b", "do_not_use");
  // Resumption: the upstream replays the answer to an earlier tools/list on
  // the GET stream.
  const std::string replayed = "id: 42\nevent: message\ndata: " + tools_list_text(5, {"a", "b", "c"}) + "\n\n";
  fake_upstream::handler mcp_handler = upstream.replace_handler(fake_upstream::answer_default);
  upstream.on_request([=](fake_exchange& ex) {
    if (ex.request().method != "GET") return mcp_handler(ex);
    if (!ex.start_chunked(200, {{"Content-Type", "text/event-stream"}})) return;
    if (!ex.write_chunk(replayed)) return;
    ex.end_chunked();
  });
  const reply r = alice.send("GET", proxy_path(e1, id), "", {{"Accept", "text/event-stream"}, {"Last-Event-ID", "41"}});
  BOOST_TEST_REQUIRE(r.status == 200u, r);
  BOOST_TEST_REQUIRE(upstream.request_count() == 1u);
  BOOST_TEST(upstream.requests().at(0).header("Last-Event-ID").value_or("<absent>") == "41");
  BOOST_TEST(r.body == "id: 42\nevent: message\ndata: " + tools_list_text(5, {"a", "c"}) + "\n\n");
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(list_changed, tools_proxy_fixture)

BOOST_AUTO_TEST_CASE(an_approval_change_reaches_an_open_get_stream_between_two_upstream_events) {
  auto stream = std::make_shared<server_stream>();
  fake_upstream::handler mcp_handler = upstream.replace_handler(fake_upstream::answer_default);
  upstream.on_request([stream, mcp_handler](fake_exchange& ex) {
    if (ex.request().method == "GET") return stream->serve(ex);
    mcp_handler(ex);
  });
  install_with(named_tools({"alpha", "beta"}));

  agent_stream agent(port());
  BOOST_TEST_REQUIRE(agent.send(raw_request("GET", proxy_path(e1, id), port(), key.secret, sse_headers)));
  const auto head = agent.read_head();
  BOOST_TEST_REQUIRE(head.has_value());
  BOOST_TEST_REQUIRE(head->status == 200u, *head);
  BOOST_TEST(head->header("Content-Type").starts_with("text/event-stream"), *head);
  BOOST_TEST_REQUIRE(upstream.wait_for_requests(1, io_deadline));
  BOOST_TEST(upstream.requests().at(0).method == "GET");

  const auto upstream_event = [](int i) {
    return "id: " + std::to_string(i) +
           "\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"level\":"
           "\"info\",\"data\":\"event " +
           std::to_string(i) + "\"}}\n\n";
  };
  stream->push(upstream_event(1));
  auto event = agent.next_event();
  BOOST_TEST_REQUIRE(event.has_value(), "the upstream's first event did not arrive");
  BOOST_TEST(event->text == upstream_event(1));

  // An approval change: the agent hears of it.
  set_state("alpha", "approved");
  event = agent.next_event();
  BOOST_TEST_REQUIRE(event.has_value(), "no list_changed after the approval change");
  BOOST_TEST(event->text == list_changed_event);
  BOOST_TEST(json::parse(event->text.substr(event->text.find("data: ") + 6)) ==
             json::parse(R"({"jsonrpc":"2.0","method":"notifications/tools/list_changed"})"));

  // While the upstream is halfway through an event: list_changed goes out
  // before it, and the event arrives whole.
  const std::string second = upstream_event(2);
  const std::size_t half = second.size() / 2;
  stream->push(second.substr(0, half));
  set_state("beta", "do_not_use", p1);
  event = agent.next_event();
  BOOST_TEST_REQUIRE(event.has_value(), "no list_changed after the second approval change");
  BOOST_TEST(event->text == list_changed_event);
  stream->push(second.substr(half));
  event = agent.next_event();
  BOOST_TEST_REQUIRE(event.has_value(), "the upstream's second event did not arrive");
  BOOST_TEST(event->text == second);

  // The same state again changes nothing, and sends nothing.
  set_state("alpha", "approved");
  set_state("beta", "do_not_use");
  stream->push(upstream_event(3));
  event = agent.next_event();
  BOOST_TEST_REQUIRE(event.has_value(), "the upstream's third event did not arrive");
  BOOST_TEST(event->text == upstream_event(3));

  // The upstream announcing a new list on this stream: relayed as it is,
  // and the gateway syncs.
  mcp.set_tools(named_tools({"alpha", "beta", "gamma"}));
  const std::string announced =
      "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n\n";
  stream->push(announced);
  event = agent.next_event();
  BOOST_TEST_REQUIRE(event.has_value(), "the upstream's list_changed did not arrive");
  BOOST_TEST(event->text == announced);
  BOOST_TEST(wait_for_tool("gamma") == "needs_approval");
  BOOST_TEST(registry_state("alpha") == "approved");
  BOOST_TEST(registry_state("beta") == "do_not_use");
  // The sync's own traffic, besides the GET.
  const auto methods = methods_received(upstream);
  BOOST_TEST(std::count(methods.begin(), methods.end(), "tools/list") >= 1);
  agent.close();
}

BOOST_AUTO_TEST_CASE(every_get_stream_of_the_installation_and_only_those_hear_of_an_approval_change) {
  // One server stream per upstream path: installation A on /a, B on /b.
  auto stream_a = std::make_shared<server_stream>();
  auto stream_b = std::make_shared<server_stream>();
  fake_upstream::handler mcp_handler = upstream.replace_handler(fake_upstream::answer_default);
  upstream.on_request([stream_a, stream_b, mcp_handler](fake_exchange& ex) {
    if (ex.request().method != "GET") return mcp_handler(ex);
    (ex.request().target == "/b" ? stream_b : stream_a)->serve(ex);
  });
  const std::string id_b = install_with(named_tools({"tool"}), "/b");
  const std::string id_a = install_with(named_tools({"tool"}), "/a");

  const auto open = [this](const std::string& installation) {
    auto agent = std::make_unique<agent_stream>(port());
    BOOST_TEST_REQUIRE(agent->send(raw_request("GET", proxy_path(e1, installation), port(), key.secret, sse_headers)));
    const auto head = agent->read_head();
    BOOST_TEST_REQUIRE(head.has_value());
    BOOST_TEST_REQUIRE(head->status == 200u, *head);
    return agent;
  };
  auto first = open(id_a);
  auto second = open(id_a);
  auto other = open(id_b);
  BOOST_TEST_REQUIRE(upstream.wait_for_requests(3, io_deadline));

  set_state("tool", "approved");  // installation A's
  for (auto* agent : {first.get(), second.get()}) {
    const auto event = agent->next_event();
    BOOST_TEST_REQUIRE(event.has_value(), "a stream of the installation did not hear of the change");
    BOOST_TEST(event->text == list_changed_event);
  }
  // B's stream got nothing: its next event is the upstream's.
  const std::string marker = "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}\n\n";
  stream_b->push(marker);
  const auto event = other->next_event();
  BOOST_TEST_REQUIRE(event.has_value(), "B's upstream event did not arrive");
  BOOST_TEST(event->text == marker);

  // A stream that was closed is forgotten; the one still open still hears.
  first->close();
  set_state("tool", "do_not_use");
  const auto again = second->next_event();
  BOOST_TEST_REQUIRE(again.has_value(), "the open stream did not hear of the second change");
  BOOST_TEST(again->text == list_changed_event);
}

BOOST_AUTO_TEST_CASE(list_changed_inside_a_posts_sse_answer_starts_a_sync) {
  const std::string notification =
      "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n\n";
  const std::string result = "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":\"p1\",\"result\":{}}\n\n";
  fake_upstream::handler mcp_handler = upstream.replace_handler(fake_upstream::answer_default);
  upstream.on_request([=](fake_exchange& ex) {
    if (ex.request().method == "POST" && ex.request().body.find("\"method\":\"ping\"") != std::string::npos) {
      if (!ex.start_chunked(200, {{"Content-Type", "text/event-stream"}})) return;
      if (!ex.write_chunk(notification)) return;
      if (!ex.write_chunk(result)) return;
      ex.end_chunked();
      return;
    }
    mcp_handler(ex);
  });
  install_with(named_tools({"alpha"}));
  set_state("alpha", "approved");
  mcp.set_tools(named_tools({"alpha", "delta"}));

  const reply r = rpc(R"({"jsonrpc":"2.0","id":"p1","method":"ping"})");
  BOOST_TEST(r.status == 200u, r);
  BOOST_TEST(r.header("Content-Type").starts_with("text/event-stream"), r);
  BOOST_TEST(r.body == notification + result);

  BOOST_TEST(wait_for_tool("delta") == "needs_approval");
  BOOST_TEST(registry_state("alpha") == "approved");
  const auto methods = methods_received(upstream);
  BOOST_TEST_REQUIRE(!methods.empty());
  BOOST_TEST(methods.front() == "ping");
  BOOST_TEST(std::count(methods.begin(), methods.end(), "initialize") == 1);
  BOOST_TEST(std::count(methods.begin(), methods.end(), "tools/list") >= 1);
  BOOST_TEST(is_json_answer(rpc(call_body(9, "delta")), needs_approval_error(9, "delta")));
  BOOST_TEST(calls_received(upstream, "delta") == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE_END()  // tools_proxy
