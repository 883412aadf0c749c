// Fuzz target: the JSON-RPC inspector (proxy/jsonrpc_inspector.hpp) and the
// tool-approval step behind it (proxy/approval.hpp).
//
// The input is one POST body. Oracles:
//   - An accepted body is JSON to an independent DOM parse (read_json, which
//     accepts lone surrogate escapes as the inspector does), and per message
//     the inspector saw what the DOM holds: batch or not, the number of
//     messages, "jsonrpc":"2.0", the method, the id's kind and text, the
//     message kind and, for tools/call, params.name. The inspector refuses
//     duplicates of the keys it reads, so when it accepted, the DOM's
//     last-duplicate-wins reading cannot differ from it.
//   - A refused body is refused for a reason the DOM confirms (not JSON, a
//     scalar at the top, an empty batch, a non-object batch element, too
//     deep; a duplicate key by a parse that keeps duplicates, json_tree.hpp),
//     and an accepted one has no such duplicate.
//   - With tool states derived from the names (approved, needs_approval,
//     do_not_use, a state this version does not know, or no such tool), the
//     approval outcome is the one the rules in approval.hpp give: a body is
//     forwarded only when every tools/call in it names an approved tool, the
//     blocked list names exactly the refused calls, and the answer holds one
//     error per request, with its id and the right code and message.
#include "proxy/approval.hpp"
#include "proxy/json_text.hpp"
#include "proxy/jsonrpc_inspector.hpp"
#include "tests/fuzz/fuzz_check.hpp"
#include "tests/fuzz/json_tree.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace json = boost::json;
namespace proxy = mcpgate::proxy;
// Equal JSON values, where a NaN equals a NaN: Boost.JSON 1.81 reads some
// numbers (0e3091, for one) as NaN, which compares equal to nothing, though
// both readings of the same text agree.
bool same_json(const json::value& a, const json::value& b) {
  const auto nan = [](const json::value& v) { return v.is_double() && std::isnan(v.get_double()); };
  return a == b || (nan(a) && nan(b));
}
using mcpgate::fuzz::fnv1a;

// The registry's view of a tool, from its name: a few prefixes fix the state
// (the seeds and the dictionary use them), anything else is hashed.
std::optional<std::string_view> state_of(std::string_view name) {
  if (name.starts_with("ok_")) return "approved";
  if (name.starts_with("ask_")) return "needs_approval";
  if (name.starts_with("no_")) return "do_not_use";
  if (name.starts_with("gone_")) return std::nullopt;
  switch (fnv1a(name) % 6) {
    case 0:
    case 1: return "approved";
    case 2: return "needs_approval";
    case 3: return "do_not_use";
    case 4: return "archived";  // a state this version does not know
    default: return std::nullopt;
  }
}

json::parse_options deep(std::size_t depth) {
  json::parse_options o;
  o.max_depth = depth;
  return o;
}

// What the DOM says one message is.
struct expected_message {
  bool jsonrpc_2_0 = false;
  proxy::id_kind id = proxy::id_kind::absent;
  const json::value* id_value = nullptr;
  std::optional<std::string> method;
  proxy::message_kind kind = proxy::message_kind::invalid;
  std::optional<std::string> tool_name;  // tools/call only
  bool tools_call = false;
};

expected_message expect(const json::object& o) {
  expected_message e;
  if (const auto* v = o.if_contains("jsonrpc")) e.jsonrpc_2_0 = v->is_string() && v->get_string() == "2.0";
  if (const auto* v = o.if_contains("id")) {
    e.id_value = v;
    if (v->is_null()) e.id = proxy::id_kind::null;
    else if (v->is_number()) e.id = proxy::id_kind::number;
    else if (v->is_string()) e.id = proxy::id_kind::string;
    else e.id = proxy::id_kind::invalid;
  }
  const json::value* method = o.if_contains("method");
  if (method != nullptr && method->is_string()) e.method = std::string(method->get_string());
  const bool result_or_error = o.contains("result") || o.contains("error");
  const bool has_id = e.id != proxy::id_kind::absent;
  const bool id_ok = e.id != proxy::id_kind::invalid;
  if (method != nullptr) {
    if (e.method && id_ok && !result_or_error) {
      e.kind = has_id ? proxy::message_kind::request : proxy::message_kind::notification;
    }
  } else if (result_or_error && has_id && id_ok) {
    e.kind = proxy::message_kind::response;
  }
  e.tools_call = e.method && *e.method == "tools/call";
  if (e.tools_call) {
    const json::value* params = o.if_contains("params");
    if (params != nullptr && params->is_object()) {
      const json::value* name = params->get_object().if_contains("name");
      if (name != nullptr && name->is_string()) e.tool_name = std::string(name->get_string());
    }
  }
  return e;
}

// True when a message in `doc` repeats a key the inspector reads, or its
// params object repeats "name" (a parse that keeps duplicates says so).
bool has_duplicate_interesting_key(const mcpgate::fuzz::json_node& doc) {
  using node = mcpgate::fuzz::json_node;
  const auto repeats = [](const node& o, std::initializer_list<std::string_view> keys) {
    for (const std::string_view k : keys) {
      if (std::count(o.keys.begin(), o.keys.end(), k) > 1) return true;
    }
    return false;
  };
  const auto message_repeats = [&](const node& m) {
    if (m.type != node::kind::object) return false;
    if (repeats(m, {"jsonrpc", "id", "method", "params", "result", "error"})) return true;
    for (std::size_t i = 0; i < m.keys.size(); ++i) {
      if (m.keys[i] == "params" && m.children[i].type == node::kind::object && repeats(m.children[i], {"name"})) {
        return true;
      }
    }
    return false;
  };
  if (doc.type == node::kind::array) {
    return std::any_of(doc.children.begin(), doc.children.end(), message_repeats);
  }
  return message_repeats(doc);
}

std::size_t depth_of(const json::value& v) {
  if (v.is_object()) {
    std::size_t d = 0;
    for (const auto& m : v.get_object()) d = std::max(d, depth_of(m.value()));
    return d + 1;
  }
  if (v.is_array()) {
    std::size_t d = 0;
    for (const auto& e : v.get_array()) d = std::max(d, depth_of(e));
    return d + 1;
  }
  return 0;
}

void check_refusal(std::string_view body, proxy::inspect_error why) {
  const auto dom = proxy::read_json(body, deep(100000));
  switch (why) {
    case proxy::inspect_error::invalid_json:
      FUZZ_CHECK(!dom);  // the inspector must not refuse what is JSON
      break;
    // The inspector stops at the first thing it refuses, so what follows
    // may be anything: the DOM confirms the reason only when it is JSON.
    case proxy::inspect_error::not_object_or_array: FUZZ_CHECK(!dom || (!dom->is_object() && !dom->is_array())); break;
    case proxy::inspect_error::empty_batch: FUZZ_CHECK(!dom || (dom->is_array() && dom->get_array().empty())); break;
    case proxy::inspect_error::batch_element_not_object: {
      bool found = false;
      if (dom && dom->is_array()) {
        for (const auto& e : dom->get_array()) found = found || !e.is_object();
      }
      FUZZ_CHECK(!dom || found);
      break;
    }
    case proxy::inspect_error::too_deep:
      // Deeper than the limit somewhere (a JSON error may follow it).
      FUZZ_CHECK(!dom || depth_of(*dom) > proxy::inspector_max_depth);
      break;
    case proxy::inspect_error::duplicate_key: {
      // boost::json keeps one copy of a duplicate: ask a parse that keeps
      // them all (when the text is JSON after the duplicate too).
      const auto tree = mcpgate::fuzz::parse_tree(body, 100000);
      FUZZ_CHECK(!tree || has_duplicate_interesting_key(*tree));
      break;
    }
    case proxy::inspect_error::ok: FUZZ_CHECK(!"refused with inspect_error::ok"); break;
  }
  // Nothing deeper than the limit is accepted, and nothing shallower is
  // refused as too deep.
  if (dom && depth_of(*dom) <= proxy::inspector_max_depth) FUZZ_CHECK(why != proxy::inspect_error::too_deep);
}

// The error the approval rules give one refused tools/call.
struct refusal {
  int code;
  std::string message;
  std::string state;
};

std::optional<refusal> refusal_for(const expected_message& e) {
  const std::string name = e.tool_name.value_or("");
  const auto state = e.tool_name ? state_of(*e.tool_name) : std::nullopt;
  if (!state) return refusal{-32601, "Tool '" + name + "' not found", "unknown"};
  if (*state == "approved") return std::nullopt;
  if (*state == "do_not_use") return refusal{-32002, "Tool '" + name + "' has been disabled by the user", "do_not_use"};
  return refusal{-32001, "Tool '" + name + "' requires approval before it can be called", std::string(*state)};
}

void check_answer(const json::value& answer, const expected_message& e, int code, const std::string& message) {
  FUZZ_CHECK(answer.is_object());
  const json::object& o = answer.get_object();
  FUZZ_CHECK(o.size() == 3);
  FUZZ_CHECK(o.contains("jsonrpc") && o.at("jsonrpc") == "2.0");
  FUZZ_CHECK(o.contains("id") && e.id_value != nullptr && same_json(o.at("id"), *e.id_value));
  FUZZ_CHECK(o.contains("error") && o.at("error").is_object());
  const json::object& error = o.at("error").get_object();
  FUZZ_CHECK(error.contains("code") && error.at("code") == code);
  FUZZ_CHECK(error.contains("message") && error.at("message") == json::string(message));
}

void check_approval(const proxy::inspection& inspected, const std::vector<expected_message>& expected) {
  const proxy::approval_outcome out = proxy::apply_tool_approval(inspected, state_of);

  std::vector<std::optional<refusal>> refusals;
  std::vector<proxy::blocked_call> blocked;
  bool only_tool_calls = true;
  std::size_t requests = 0;
  for (const expected_message& e : expected) {
    refusals.push_back(e.tools_call ? refusal_for(e) : std::nullopt);
    if (refusals.back()) blocked.push_back({e.tool_name.value_or(""), refusals.back()->state});
    only_tool_calls = only_tool_calls && e.tools_call;
    if (e.kind == proxy::message_kind::request) ++requests;
  }

  // The safety property first: a forwarded body calls approved tools only.
  if (out.forward) {
    for (const expected_message& e : expected) {
      if (!e.tools_call) continue;
      FUZZ_CHECK(e.tool_name.has_value());
      FUZZ_CHECK(state_of(*e.tool_name) == std::optional<std::string_view>("approved"));
    }
  }
  FUZZ_CHECK(out.forward == blocked.empty());
  FUZZ_CHECK(out.blocked.size() == blocked.size());
  for (std::size_t i = 0; i < blocked.size(); ++i) {
    FUZZ_CHECK(out.blocked[i].tool_name == blocked[i].tool_name);
    FUZZ_CHECK(out.blocked[i].state == blocked[i].state);
  }
  if (out.forward) {
    FUZZ_CHECK(out.answer.empty());
    return;
  }

  // One answer per request (notifications get none); empty: HTTP 202.
  FUZZ_CHECK(out.answer.empty() == (requests == 0));
  if (out.answer.empty()) return;
  // Written as valid UTF-8 (a lone surrogate only as a \u escape: strict
  // JSON once those are replaced), read back as the peer reads it.
  boost::system::error_code ec;
  (void)json::parse(proxy::lone_surrogates_replaced(out.answer), ec, {}, deep(8));
  FUZZ_CHECK(!ec);
  const auto answer = proxy::read_json(out.answer, deep(8));
  FUZZ_CHECK(answer.has_value());
  const bool all_blocked = only_tool_calls && blocked.size() == expected.size();
  if (!inspected.is_batch) {
    FUZZ_CHECK(refusals.front().has_value());
    check_answer(*answer, expected.front(), refusals.front()->code, refusals.front()->message);
    return;
  }
  FUZZ_CHECK(answer->is_array() && answer->get_array().size() == requests);
  std::size_t at = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    if (expected[i].kind != proxy::message_kind::request) continue;
    const json::value& a = answer->get_array()[at++];
    if (all_blocked) {
      check_answer(a, expected[i], refusals[i]->code, refusals[i]->message);
    } else {
      check_answer(a, expected[i], -32000,
                   "Batch rejected: it holds a tool call that is not allowed; send items individually");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const auto inspected = proxy::inspect_jsonrpc(body);
  if (!inspected) {
    FUZZ_CHECK(&inspected.error().category() == &proxy::inspect_category());
    check_refusal(body, static_cast<proxy::inspect_error>(inspected.error().value()));
    return 0;
  }

  // Accepted: the DOM must agree. (read_json's default depth is 32; the
  // inspector allows 64.)
  const auto dom = proxy::read_json(body, deep(proxy::inspector_max_depth));
  FUZZ_CHECK(dom.has_value());
  std::vector<const json::object*> objects;
  if (dom->is_object()) {
    objects.push_back(&dom->get_object());
  } else {
    FUZZ_CHECK(dom->is_array() && !dom->get_array().empty());
    for (const auto& e : dom->get_array()) {
      FUZZ_CHECK(e.is_object());
      objects.push_back(&e.get_object());
    }
  }
  FUZZ_CHECK(inspected->is_batch == dom->is_array());
  const auto tree = mcpgate::fuzz::parse_tree(body, proxy::inspector_max_depth);
  FUZZ_CHECK(tree.has_value() && !has_duplicate_interesting_key(*tree));
  FUZZ_CHECK(inspected->messages.size() == objects.size());

  std::vector<expected_message> expected;
  for (std::size_t i = 0; i < objects.size(); ++i) {
    const expected_message e = expect(*objects[i]);
    const proxy::message_info& m = inspected->messages[i];
    FUZZ_CHECK(m.has_jsonrpc_2_0 == e.jsonrpc_2_0);
    FUZZ_CHECK(m.method == e.method);
    FUZZ_CHECK(m.id == e.id);
    FUZZ_CHECK(m.kind == e.kind);
    if (e.tools_call) {
      FUZZ_CHECK(m.tool_name == e.tool_name);
    } else {
      FUZZ_CHECK(!m.tool_name.has_value());
    }
    switch (e.id) {
      case proxy::id_kind::string: FUZZ_CHECK(json::string(m.id_text) == e.id_value->get_string()); break;
      case proxy::id_kind::number: {
        // The number exactly as written: it reads back as the same number.
        // (Boost.JSON 1.81 reads some numbers, such as 0e3091, as NaN, which
        // equals nothing: then both readings must be NaN.)
        const auto n = proxy::read_json(m.id_text);
        FUZZ_CHECK(n && n->is_number() && same_json(*n, *e.id_value));
        break;
      }
      default: FUZZ_CHECK(m.id_text.empty()); break;
    }
    // The id as the gateway echoes it reads back as the id that was sent.
    const auto echoed = proxy::read_json(proxy::jsonrpc_id_text(m));
    FUZZ_CHECK(echoed.has_value());
    if (e.id == proxy::id_kind::string || e.id == proxy::id_kind::number || e.id == proxy::id_kind::null) {
      FUZZ_CHECK(same_json(*echoed, *e.id_value));
    } else {
      FUZZ_CHECK(echoed->is_null());
    }
    expected.push_back(e);
  }

  check_approval(*inspected, expected);
  return 0;
}
