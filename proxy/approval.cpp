#include "proxy/approval.hpp"

#include "common/mcp_names.hpp"
#include "proxy/json_text.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

namespace mcpgate::proxy {
namespace {

namespace json = boost::json;

struct verdict {
  bool allowed = true;
  int code = 0;
  std::string message;
  std::string state;
};

verdict judge(const message_info& m, const tool_state_lookup& state_of) {
  static const std::string no_name;
  const std::string& name = m.tool_name ? *m.tool_name : no_name;
  const std::optional<std::string_view> state = m.tool_name ? state_of(name) : std::nullopt;
  if (!state) return {false, -32601, "Tool '" + name + "' not found", "unknown"};
  if (*state == "approved") return {};
  if (*state == "do_not_use") return {false, -32002, "Tool '" + name + "' has been disabled by the user", "do_not_use"};
  // needs_approval, and any state this version does not know: not callable.
  return {false, -32001, "Tool '" + name + "' requires approval before it can be called", std::string(*state)};
}

bool is_tool_call(const message_info& m) { return m.method && *m.method == method_tools_call; }

// The answer as text, so that a numeric id comes back exactly as written
// (a JSON value would round an integer beyond 64 bits).
std::string error_answer(const message_info& m, int code, const std::string& message) {
  return R"({"jsonrpc":"2.0","id":)" + jsonrpc_id_text(m) + R"(,"error":)" +
         write_json(json::object{{"code", code}, {"message", message}}) + "}";
}

// A refused call of a modern request: the tool exists, so a model gets a
// tool result it can read out to its user, not a protocol error.
std::string refused_result(const message_info& m, const verdict& v) {
  json::object approval{{"state", v.state}, {"tool", m.tool_name.value_or("")}};
  json::object result{
      {"resultType", "complete"},
      {"isError", true},
      {"content", json::array{json::object{{"type", "text"}, {"text", v.message}}}},
      {"_meta", json::object{{meta_approval, std::move(approval)}}},
  };
  return R"({"jsonrpc":"2.0","id":)" + jsonrpc_id_text(m) + R"(,"result":)" + write_json(result) + "}";
}

// The answer to one refused call of a modern request.
std::string modern_answer(const message_info& m, const verdict& v) {
  if (v.state == "unknown") return error_answer(m, -32602, "Unknown tool: " + m.tool_name.value_or(""));
  return refused_result(m, v);
}

}  // namespace

std::string jsonrpc_id_text(const message_info& m) {
  if (m.id == id_kind::number) return m.id_text;
  if (m.id == id_kind::string) return write_json(json::string(m.id_text));
  return "null";
}

approval_outcome apply_tool_approval(const inspection& body, const tool_state_lookup& state_of, protocol_era era) {
  approval_outcome out;
  bool any_tool_call = false;
  for (const message_info& m : body.messages) any_tool_call = any_tool_call || is_tool_call(m);
  if (!any_tool_call) return out;  // nothing to judge, nothing allocated
  std::vector<verdict> verdicts(body.messages.size());
  bool only_tool_calls = true;
  for (std::size_t i = 0; i < body.messages.size(); ++i) {
    const message_info& m = body.messages[i];
    if (!is_tool_call(m)) {
      only_tool_calls = false;
      continue;
    }
    verdicts[i] = judge(m, state_of);
    if (!verdicts[i].allowed) out.blocked.push_back({m.tool_name.value_or(""), verdicts[i].state});
  }
  if (out.blocked.empty()) return out;
  out.forward = false;

  const bool all_blocked = only_tool_calls && out.blocked.size() == body.messages.size();
  std::vector<std::string> answers;
  for (std::size_t i = 0; i < body.messages.size(); ++i) {
    const message_info& m = body.messages[i];
    if (m.kind != message_kind::request) continue;  // a notification gets no answer
    if (!body.is_batch && era == protocol_era::modern) {
      if (!verdicts[i].allowed) answers.push_back(modern_answer(m, verdicts[i]));
    } else if (all_blocked || !body.is_batch) {
      if (!verdicts[i].allowed) answers.push_back(error_answer(m, verdicts[i].code, verdicts[i].message));
    } else {
      answers.push_back(
          error_answer(m, -32000, "Batch rejected: it holds a tool call that is not allowed; send items individually"));
    }
  }
  if (answers.empty()) return out;  // notifications only: 202, nothing forwarded
  if (!body.is_batch) {
    out.answer = std::move(answers.front());
    return out;
  }
  out.answer = "[";
  for (std::size_t i = 0; i < answers.size(); ++i) out.answer.append(i ? "," : "").append(answers[i]);
  out.answer += "]";
  return out;
}

}  // namespace mcpgate::proxy
