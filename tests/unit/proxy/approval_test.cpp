// apply_tool_approval on crafted bodies: the spec's table and its batch rules.
#include "proxy/approval.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/test/unit_test.hpp>

#include <map>
#include <tuple>

using namespace mcpgate::proxy;
namespace json = boost::json;

namespace {

// approved: echo; needs_approval: fresh; do_not_use: banned; anything else unknown.
std::optional<std::string_view> registry_state(std::string_view name) {
  static const std::map<std::string, std::string, std::less<>> states{{"echo", "approved"},
                                                                      {"fresh", "needs_approval"},
                                                                      {"banned", "do_not_use"}};
  const auto it = states.find(name);
  if (it == states.end()) return std::nullopt;
  return std::string_view(it->second);
}

approval_outcome judge(std::string_view body) {
  const auto inspected = inspect_jsonrpc(body);
  BOOST_TEST_REQUIRE(inspected.has_value(), body);
  return apply_tool_approval(*inspected, registry_state);
}

std::string call(const std::string& id, const std::string& name) {
  return R"({"jsonrpc":"2.0","id":)" + id + R"(,"method":"tools/call","params":{"name":")" + name +
         R"(","arguments":{"name":"echo"}}})";
}

json::value error_of(int code, const std::string& message, json::value id) {
  return json::object{{"jsonrpc", "2.0"}, {"id", id}, {"error", json::object{{"code", code}, {"message", message}}}};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(tool_approval)

BOOST_AUTO_TEST_CASE(approved_calls_and_other_methods_are_forwarded) {
  for (const std::string& body : {call("1", "echo"), std::string(R"({"jsonrpc":"2.0","id":2,"method":"tools/list"})"),
                                  std::string(R"({"jsonrpc":"2.0","method":"notifications/initialized"})"),
                                  "[" + call("1", "echo") + "," + R"({"jsonrpc":"2.0","id":2,"method":"ping"}])"}) {
    const auto out = judge(body);
    BOOST_TEST(out.forward, body);
    BOOST_TEST(out.blocked.empty(), body);
  }
}

BOOST_AUTO_TEST_CASE(each_state_gets_its_code_and_message) {
  const auto fresh = judge(call("7", "fresh"));
  BOOST_TEST(!fresh.forward);
  BOOST_TEST(json::parse(fresh.answer) ==
             error_of(-32001, "Tool 'fresh' requires approval before it can be called", 7));
  const auto banned = judge(call("\"a\"", "banned"));
  BOOST_TEST(json::parse(banned.answer) == error_of(-32002, "Tool 'banned' has been disabled by the user", "a"));
  const auto unknown = judge(call("8", "nope"));
  BOOST_TEST(json::parse(unknown.answer) == error_of(-32601, "Tool 'nope' not found", 8));
  const auto nameless =
      judge(R"({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"arguments":{"name":"echo"}}})");
  BOOST_TEST(json::parse(nameless.answer) == error_of(-32601, "Tool '' not found", 9));
  BOOST_TEST_REQUIRE(banned.blocked.size() == 1u);
  BOOST_TEST(banned.blocked[0].tool_name == "banned");
  BOOST_TEST(banned.blocked[0].state == "do_not_use");
  BOOST_TEST(unknown.blocked[0].state == "unknown");
}

BOOST_AUTO_TEST_CASE(a_name_inside_arguments_does_not_count) {
  // The real name is "banned"; "echo" appears only inside arguments.
  const auto out =
      judge(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{"name":"echo"},"name":"banned"}})");
  BOOST_TEST(!out.forward);
}

BOOST_AUTO_TEST_CASE(a_blocked_notification_is_dropped_without_an_answer) {
  const auto out = judge(R"({"jsonrpc":"2.0","method":"tools/call","params":{"name":"fresh"}})");
  BOOST_TEST(!out.forward);
  BOOST_TEST(out.answer.empty());
  BOOST_TEST(out.blocked.size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_batch_of_only_blocked_calls_gets_their_errors) {
  const auto out = judge("[" + call("1", "fresh") + "," + call("2", "banned") + "]");
  BOOST_TEST(!out.forward);
  const json::value want = json::array{error_of(-32001, "Tool 'fresh' requires approval before it can be called", 1),
                                       error_of(-32002, "Tool 'banned' has been disabled by the user", 2)};
  BOOST_TEST(json::parse(out.answer) == want);
  BOOST_TEST(out.blocked.size() == 2u);
}

BOOST_AUTO_TEST_CASE(a_mixed_batch_is_rejected_whole) {
  for (const std::string& body : {"[" + call("1", "echo") + "," + call("2", "fresh") + "]",
                                  "[" + call("1", "fresh") + R"(,{"jsonrpc":"2.0","id":2,"method":"ping"}])",
                                  "[" + call("1", "banned") + R"(,{"jsonrpc":"2.0","method":"notifications/x"}])"}) {
    const auto out = judge(body);
    BOOST_TEST(!out.forward, body);
    const auto answers = json::parse(out.answer).as_array();
    for (const auto& a : answers) {
      BOOST_TEST(a.at("error").at("code").as_int64() == -32000, body);
      BOOST_TEST(std::string(a.at("error").at("message").as_string()).starts_with("Batch rejected"), body);
    }
    // Every request is answered; the notification is not.
    std::size_t requests = 0;
    const auto inspected = inspect_jsonrpc(body);
    for (const auto& m : inspected->messages) requests += m.kind == message_kind::request;
    BOOST_TEST(answers.size() == requests, body);
  }
}

BOOST_AUTO_TEST_CASE(modern_requests_get_the_2026_shapes) {
  const auto modern_judge = [](const std::string& body) {
    const auto inspected = inspect_jsonrpc(body);
    BOOST_TEST_REQUIRE(inspected.has_value(), body);
    return apply_tool_approval(*inspected, registry_state, protocol_era::modern);
  };
  // Unknown (and removed, which the lookup reports the same way): -32602.
  const auto unknown = modern_judge(call("3", "nope"));
  BOOST_TEST(!unknown.forward);
  BOOST_TEST(json::parse(unknown.answer) == error_of(-32602, "Unknown tool: nope", 3));
  BOOST_TEST(unknown.blocked.size() == 1u);
  BOOST_TEST(unknown.blocked.front().state == "unknown");

  // needs_approval and do_not_use: a CallToolResult that says why, with the
  // state for a model to act on.
  for (const auto& [name, state, sentence] :
       {std::tuple{"fresh", "needs_approval", "Tool 'fresh' requires approval before it can be called"},
        std::tuple{"banned", "do_not_use", "Tool 'banned' has been disabled by the user"}}) {
    const auto out = modern_judge(call(R"("r-1")", name));
    BOOST_TEST(!out.forward, name);
    const json::value expected = json::object{
        {"jsonrpc", "2.0"},
        {"id", "r-1"},
        {"result",
         json::object{{"resultType", "complete"},
                      {"isError", true},
                      {"content", json::array{json::object{{"type", "text"}, {"text", sentence}}}},
                      {"_meta",
                       json::object{{"dev.mcpgate/approval", json::object{{"state", state}, {"tool", name}}}}}}},
    };
    BOOST_TEST(json::parse(out.answer) == expected, name);
    BOOST_TEST(out.blocked.front().state == state, name);
  }
  // Approved calls still go upstream; a refused notification gets no answer.
  BOOST_TEST(modern_judge(call("1", "echo")).forward);
  const auto silent = modern_judge(R"({"jsonrpc":"2.0","method":"tools/call","params":{"name":"fresh"}})");
  BOOST_TEST(!silent.forward);
  BOOST_TEST(silent.answer.empty());
}

BOOST_AUTO_TEST_SUITE_END()
