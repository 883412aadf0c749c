#include "mcp_upstream.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <charconv>
#include <optional>

namespace mcpgate::it {

namespace {

constexpr std::string_view cursor_prefix = "page-";
constexpr std::string_view modern_version = "2026-07-28";

// What one POST is answered with, decided under the state's lock.
struct settings {
  std::vector<mcp_tool> tools;
  std::optional<std::vector<mcp_tool>> modern_tools;  // what 2026 requests list, when not `tools`
  std::size_t page_size = 0;
  bool sse = false;
  unsigned fail_status = 0;
  mcp_era era = mcp_era::legacy;
};

json::object tool_entry(const mcp_tool& t) {
  json::object o{{"name", t.name}, {"inputSchema", t.input_schema}};
  if (!t.title.empty()) o["title"] = t.title;
  if (!t.description.empty()) o["description"] = t.description;
  if (!t.annotations.empty()) o["annotations"] = t.annotations;
  return o;
}

// "page-N" -> N; nullopt for anything else.
std::optional<std::size_t> page_of_cursor(std::string_view cursor) {
  if (!cursor.starts_with(cursor_prefix)) return std::nullopt;
  cursor.remove_prefix(cursor_prefix.size());
  std::size_t n = 0;
  const auto [end, ec] = std::from_chars(cursor.data(), cursor.data() + cursor.size(), n);
  if (ec != std::errc() || end != cursor.data() + cursor.size()) return std::nullopt;
  return n;
}

json::object error_answer(const json::value& id, std::int64_t code, std::string_view message) {
  return json::object{{"jsonrpc", "2.0"}, {"id", id}, {"error", json::object{{"code", code}, {"message", message}}}};
}

json::object tools_list_answer(const json::value& id, const json::object* params, const std::vector<mcp_tool>& all,
                               std::size_t page_size) {
  std::size_t page = 0;
  if (params != nullptr) {
    if (const auto* c = params->if_contains("cursor"); c != nullptr && !c->is_null()) {
      const auto n = c->is_string() ? page_of_cursor(c->get_string()) : std::nullopt;
      if (!n) return error_answer(id, -32602, "Invalid cursor");
      page = *n;
    }
  }
  const std::size_t size = page_size == 0 ? all.size() : page_size;
  const std::size_t first = std::min(all.size(), page * size);
  const std::size_t last = std::min(all.size(), first + size);
  json::array tools;
  for (std::size_t i = first; i < last; ++i) tools.push_back(tool_entry(all[i]));
  json::object result{{"tools", std::move(tools)}};
  if (last < all.size()) result["nextCursor"] = std::string(cursor_prefix) + std::to_string(page + 1);
  return json::object{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}};
}

json::object call_result(const json::object* params);

// The answer to one request message (not called for notifications).
json::object answer_to(const json::object& message, const settings& s) {
  const json::value id = message.contains("id") ? message.at("id") : json::value(nullptr);
  const auto* method = message.if_contains("method");
  const auto* params_value = message.if_contains("params");
  const json::object* params = params_value != nullptr ? params_value->if_object() : nullptr;
  const std::string_view name = method != nullptr && method->is_string() ? std::string_view(method->get_string()) : "";
  const auto result = [&id](json::object r) {
    return json::object{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(r)}};
  };
  if (name == "initialize") {
    json::value version = "2025-06-18";
    if (params != nullptr) {
      if (const auto* v = params->if_contains("protocolVersion"); v != nullptr && v->is_string()) version = *v;
    }
    return result(json::object{{"protocolVersion", version},
                               {"capabilities", json::object{{"tools", json::object{{"listChanged", true}}}}},
                               {"serverInfo", json::object{{"name", "mcp-upstream"}, {"version", "1.0.0"}}}});
  }
  if (name == "tools/list") return tools_list_answer(id, params, s.tools, s.page_size);
  if (name == "tools/call") return result(call_result(params));
  return result(json::object{});
}

json::object call_result(const json::object* params) {
  std::string tool;
  if (params != nullptr) {
    if (const auto* n = params->if_contains("name"); n != nullptr && n->is_string()) tool = n->get_string();
  }
  return json::object{{"content", json::array{json::object{{"type", "text"}, {"text", "called " + tool}}}}};
}

// --- the 2026-07-28 era ------------------------------------------------------------

// The version a request names: its MCP-Protocol-Version header, else its
// params._meta version; "" when neither.
std::string version_named(const recorded_request& request, const json::value& body) {
  if (auto header = request.header("MCP-Protocol-Version")) return *header;
  if (!body.is_object()) return {};
  const auto* params = body.get_object().if_contains("params");
  if (params == nullptr || !params->is_object()) return {};
  const auto* meta = params->get_object().if_contains("_meta");
  return meta != nullptr ? string_of(*meta, "io.modelcontextprotocol/protocolVersion") : std::string();
}

// What a POST is answered with: status and JSON body.
struct modern_reply {
  unsigned status = 200;
  json::object body;
};

modern_reply modern_error(unsigned status, const json::value& id, std::int64_t code, std::string_view message,
                          json::object data = {}) {
  json::object answer = error_answer(id, code, message);
  if (!data.empty()) answer.at("error").as_object()["data"] = std::move(data);
  return modern_reply{status, std::move(answer)};
}

// The revision's header rules: MCP-Protocol-Version equals the _meta
// version, Mcp-Method equals the method (-32020 otherwise).
std::optional<modern_reply> header_mismatch(const recorded_request& request, const json::object& message) {
  const json::value id = message.contains("id") ? message.at("id") : json::value(nullptr);
  const std::string method = string_of(message, "method");
  std::string meta_version;
  if (const auto* params = message.if_contains("params"); params != nullptr && params->is_object()) {
    if (const auto* meta = params->get_object().if_contains("_meta")) {
      meta_version = string_of(*meta, "io.modelcontextprotocol/protocolVersion");
    }
  }
  if (request.header("MCP-Protocol-Version").value_or("") != meta_version) {
    return modern_error(400, id, -32020, "MCP-Protocol-Version header does not match _meta");
  }
  if (request.header("Mcp-Method").value_or("") != method) {
    return modern_error(400, id, -32020, "Mcp-Method header does not match the method");
  }
  return std::nullopt;
}

// A 2026 request's answer (the request names 2026-07-28).
modern_reply modern_answer_to(const recorded_request& request, const json::object& message, const settings& s) {
  if (auto mismatch = header_mismatch(request, message)) return *mismatch;
  const json::value id = message.contains("id") ? message.at("id") : json::value(nullptr);
  const std::string method = string_of(message, "method");
  const auto* params_value = message.if_contains("params");
  const json::object* params = params_value != nullptr ? params_value->if_object() : nullptr;
  json::object result;
  if (method == "server/discover") {
    result = json::object{{"supportedVersions", json::array{modern_version}},
                          {"capabilities", json::object{{"tools", json::object{{"listChanged", true}}}}},
                          {"serverInfo", json::object{{"name", "mcp-upstream"}, {"version", "1.0.0"}}}};
  } else if (method == "tools/list") {
    json::object answer = tools_list_answer(id, params, s.modern_tools ? *s.modern_tools : s.tools, s.page_size);
    if (answer.contains("error")) return modern_reply{400, std::move(answer)};
    result = std::move(answer.at("result").as_object());
    result["ttlMs"] = 60000;
    result["cacheScope"] = "public";
  } else if (method == "tools/call") {
    result = call_result(params);
  } else {
    return modern_error(404, id, -32601, "Method not found");
  }
  result["resultType"] = "complete";
  return modern_reply{200, json::object{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}}};
}

// A POST to the modern-only server that is not a 2026 request.
modern_reply refuse_other_revision(const json::object& message) {
  const json::value id = message.contains("id") ? message.at("id") : json::value(nullptr);
  if (string_of(message, "method") == "initialize") return modern_error(404, id, -32601, "Method not found");
  return modern_error(400, id, -32022, "Unsupported protocol version",
                      json::object{{"supported", json::array{modern_version}}});
}

bool is_request(const json::value& v) { return v.is_object() && v.get_object().contains("id"); }

void send_answer(fake_exchange& ex, const json::value& answer, bool sse, const header_list& extra) {
  const std::string text = json::serialize(answer);
  if (!sse) {
    ex.respond_json(200, text, extra);
    return;
  }
  header_list headers{{"Content-Type", "text/event-stream"}, {"Cache-Control", "no-cache"}};
  headers.insert(headers.end(), extra.begin(), extra.end());
  if (!ex.start_chunked(200, headers)) return;
  if (!ex.write_chunk("event: message\ndata: " + text + "\n\n")) return;
  ex.end_chunked();
}

}  // namespace

struct mcp_upstream::state {
  std::mutex mu;
  settings current;  // guarded by mu
  int sessions = 0;  // guarded by mu: sessions started by initialize

  void serve(fake_exchange& ex) {
    const recorded_request& request = ex.request();
    settings s;
    {
      std::lock_guard lock(mu);
      s = current;
    }
    if (s.era == mcp_era::modern && request.method != "POST") {
      ex.respond(405, {{"Allow", "POST"}}, "");  // no stream, no session to end
      return;
    }
    if (request.method == "DELETE") {
      ex.respond(200, {}, "");
      return;
    }
    if (request.method != "POST") {
      ex.respond(405, {{"Allow", "POST, DELETE"}}, "");
      return;
    }
    if (s.fail_status != 0) {
      ex.respond_json(s.fail_status, R"({"error":"scripted failure"})");
      return;
    }
    boost::system::error_code ec;
    const json::value body = json::parse(request.body, ec);
    if (ec || !(body.is_object() || body.is_array())) {
      ex.respond_json(400, R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}})");
      return;
    }
    const bool modern_request = s.era != mcp_era::legacy && version_named(request, body) == modern_version;
    if (modern_request || s.era == mcp_era::modern) {
      serve_modern(ex, body, s, modern_request);
      return;
    }
    serve_legacy(ex, body, s);
  }

  void serve_legacy(fake_exchange& ex, const json::value& body, const settings& s) {
    header_list extra;
    if (body.is_object()) {
      if (!is_request(body)) {
        ex.respond(202, {}, "");
        return;
      }
      const json::object& message = body.get_object();
      if (string_of(body, "method") == "initialize") {
        std::lock_guard lock(mu);
        extra.emplace_back("Mcp-Session-Id", "upstream-session-" + std::to_string(++sessions));
      }
      send_answer(ex, answer_to(message, s), s.sse, extra);
      return;
    }
    json::array answers;
    for (const auto& item : body.get_array()) {
      if (is_request(item)) answers.push_back(answer_to(item.get_object(), s));
    }
    if (answers.empty()) {
      ex.respond(202, {}, "");
      return;
    }
    send_answer(ex, answers, s.sse, extra);
  }

  // `modern_request`: the POST names 2026-07-28; else the server is
  // modern-only and refuses it.
  static void serve_modern(fake_exchange& ex, const json::value& body, const settings& s, bool modern_request) {
    if (body.is_array()) {
      ex.respond_json(400,
                      R"({"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Batches are not supported"}})");
      return;
    }
    if (!is_request(body)) {
      ex.respond(202, {}, "");
      return;
    }
    const json::object& message = body.get_object();
    const modern_reply reply = modern_request ? modern_answer_to(ex.request(), message, s)
                                              : refuse_other_revision(message);
    if (reply.status == 200) {
      send_answer(ex, reply.body, s.sse, {});
    } else {
      ex.respond_json(reply.status, json::serialize(reply.body));
    }
  }
};

mcp_upstream::mcp_upstream(fake_upstream& server) : server_(server), state_(std::make_shared<state>()) {
  // The handler holds the state, so a request still being answered when this
  // object goes keeps it alive.
  server_.on_request([st = state_](fake_exchange& ex) { st->serve(ex); });
}

mcp_upstream::~mcp_upstream() { server_.on_request(fake_upstream::answer_default); }

void mcp_upstream::set_tools(std::vector<mcp_tool> tools) {
  std::lock_guard lock(state_->mu);
  state_->current.tools = std::move(tools);
}

void mcp_upstream::set_page_size(std::size_t n) {
  std::lock_guard lock(state_->mu);
  state_->current.page_size = n;
}

void mcp_upstream::set_sse_answers(bool on) {
  std::lock_guard lock(state_->mu);
  state_->current.sse = on;
}

void mcp_upstream::set_fail_status(unsigned status) {
  std::lock_guard lock(state_->mu);
  state_->current.fail_status = status;
}

void mcp_upstream::set_era(mcp_era era) {
  std::lock_guard lock(state_->mu);
  state_->current.era = era;
}

void mcp_upstream::set_modern_tools(std::vector<mcp_tool> tools) {
  std::lock_guard lock(state_->mu);
  state_->current.modern_tools = std::move(tools);
}

namespace {

// The JSON-RPC messages of a recorded POST body ("" entries for what is not one).
std::vector<json::value> messages_of(const recorded_request& r) {
  boost::system::error_code ec;
  json::value body = json::parse(r.body, ec);
  if (ec) return {json::value()};
  if (body.is_array()) return std::vector<json::value>(body.get_array().begin(), body.get_array().end());
  return {std::move(body)};
}

}  // namespace

std::vector<std::string> methods_received(const fake_upstream& server) {
  std::vector<std::string> methods;
  for (const recorded_request& r : server.requests()) {
    if (r.method != "POST") {
      methods.push_back(r.method);
      continue;
    }
    for (const json::value& m : messages_of(r)) methods.push_back(string_of(m, "method"));
  }
  return methods;
}

std::size_t calls_received(const fake_upstream& server, const std::string& tool_name) {
  std::size_t calls = 0;
  for (const recorded_request& r : server.requests()) {
    if (r.method != "POST") continue;
    for (const json::value& m : messages_of(r)) {
      if (string_of(m, "method") != "tools/call") continue;
      const auto* params = m.as_object().if_contains("params");
      if (params != nullptr && string_of(*params, "name") == tool_name) ++calls;
    }
  }
  return calls;
}

std::string install_mcp(api_client& client, fake_upstream& server, const std::string& url, const std::string& auth_type,
                        const std::string& api_key) {
  const std::string id = install(client, url, auth_type, api_key);
  server.clear_records();
  return id;
}

}  // namespace mcpgate::it
