#include "proxy/mcp_client.hpp"

#include "proxy/sse.hpp"

#include "common/mcp_names.hpp"
#include "common/text.hpp"
#include "net/upstream_exchange.hpp"
#include "proxy/json_text.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <unordered_set>
#include <utility>
#include <vector>

namespace mcpgate::proxy {

namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using boost::system::error_code;

#ifdef MCPGATE_VERSION
constexpr std::string_view client_version = MCPGATE_VERSION;
#else
constexpr std::string_view client_version = "0.1.0";
#endif

constexpr std::string_view accept_both = "application/json, text/event-stream";
// JSON-RPC "method not found": what a server without tools answers tools/list,
// and a 2026-only server answers initialize.
constexpr std::int64_t method_not_found = -32601;
// A tool's schema nests deeper than Boost.JSON's default limit of 32 allows
// once it sits inside the response envelope.
constexpr std::size_t max_json_depth = 256;
// The DELETE that ends the session is a courtesy: a silent upstream must not
// hold the finished listing back for long.
constexpr std::chrono::milliseconds max_delete_wait{5'000};

class mcp_client_category_impl final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "mcpgate.proxy.mcp_client"; }
  std::string message(int ev) const override {
    switch (static_cast<mcp_client_error>(ev)) {
      case mcp_client_error::ok: return "success";
      case mcp_client_error::unauthorized: return "upstream refused the credential (HTTP 401)";
      case mcp_client_error::http_status: return "upstream answered an HTTP error";
      case mcp_client_error::jsonrpc_error: return "upstream answered a JSON-RPC error";
      case mcp_client_error::malformed_answer: return "upstream answer is not a valid MCP response";
      case mcp_client_error::answer_too_large: return "upstream answer too large";
      case mcp_client_error::too_many_pages: return "upstream tools/list has too many pages";
      case mcp_client_error::cursor_loop: return "upstream tools/list repeated a cursor";
      case mcp_client_error::invalid_credential: return "credential not usable in an HTTP header";
    }
    return "unknown MCP client error";
  }
};

// --- text helpers --------------------------------------------------------------

// What Mcp-Session-Id may hold (visible ASCII, 0x21..0x7E), and what the
// client accepts as a protocol version to echo in a header.
bool is_visible_ascii(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x21 && c <= 0x7E; });
}

// A header value without control characters (no CR/LF injection).
bool is_header_safe(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7F;
  });
}

// "Application/JSON; charset=utf-8" -> "application/json".
std::string media_type(std::string_view content_type) {
  content_type = content_type.substr(0, content_type.find(';'));
  while (!content_type.empty() && (content_type.front() == ' ' || content_type.front() == '\t')) {
    content_type.remove_prefix(1);
  }
  while (!content_type.empty() && (content_type.back() == ' ' || content_type.back() == '\t')) {
    content_type.remove_suffix(1);
  }
  return ascii_lower(content_type);
}

void replace_all(std::string& text, std::string_view what, std::string_view with) {
  if (what.empty()) return;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + with.size())) {
    text.replace(at, what.size(), with);
  }
}

// --- JSON-RPC ----------------------------------------------------------------------

std::optional<json::value> parse_json(std::string_view text) {
  json::parse_options options;
  options.max_depth = max_json_depth;
  return read_json(text, options);  // lone surrogates too, as the upstream's peers read them
}

bool id_matches(const json::object& message, std::int64_t id) {
  const json::value* v = message.if_contains("id");
  if (v == nullptr) return false;
  if (v->is_int64()) return v->get_int64() == id;
  if (v->is_uint64()) return id >= 0 && v->get_uint64() == static_cast<std::uint64_t>(id);
  return false;
}

// The response to request `id` in one JSON-RPC message or batch, if there.
std::optional<json::object> find_response(const json::value& message, std::int64_t id) {
  const auto is_response = [id](const json::object& m) { return !m.contains("method") && id_matches(m, id); };
  if (message.is_object()) {
    if (is_response(message.get_object())) return message.get_object();
  } else if (message.is_array()) {
    for (const auto& item : message.get_array()) {
      if (item.is_object() && is_response(item.get_object())) return item.get_object();
    }
  }
  return std::nullopt;
}

// --- protocol revisions ----------------------------------------------------------------

// A revision of the stateless era: 2026-07-28, or a later one the gateway knows.
bool is_modern_version(std::string_view version) {
  return version >= modern_protocol_version &&
         std::find(known_protocol_versions.begin(), known_protocol_versions.end(), version) !=
             known_protocol_versions.end();
}

// The newest modern revision the gateway speaks that `offered` names; ""
// when none.
std::string newest_modern_version_in(const std::vector<std::string>& offered) {
  for (auto it = known_protocol_versions.rbegin(); it != known_protocol_versions.rend(); ++it) {
    if (is_modern_version(*it) && std::find(offered.begin(), offered.end(), *it) != offered.end()) {
      return std::string(*it);
    }
  }
  return {};
}

// What server/discover asks in: the newest modern revision the gateway knows.
std::string preferred_modern_version() {
  return newest_modern_version_in(std::vector<std::string>(known_protocol_versions.begin(),
                                                           known_protocol_versions.end()));
}

// The strings of a JSON array (other members skipped); empty for anything else.
std::vector<std::string> strings_of(const json::value* array) {
  std::vector<std::string> out;
  if (array == nullptr || !array->is_array()) return out;
  for (const auto& item : array->get_array()) {
    if (item.is_string()) out.emplace_back(item.get_string());
  }
  return out;
}

// --- the session ---------------------------------------------------------------------

struct session {
  std::shared_ptr<net::upstream_pool> pool;
  net::parsed_url url;
  mcp_client_options options;
  std::string authorization;     // "Authorization: Bearer ...\r\n" or ""
  std::string session_id;        // legacy: from the initialize answer
  std::string protocol_version;  // legacy: negotiated, "" until initialize answered; modern: the one spoken
  bool modern = false;           // requests go the 2026 way: _meta and headers, no initialize, no session
  std::int64_t next_id = 1;
};

// Requests from here on go the 2026 way, in `version`.
void speak_modern(session& s, std::string version) {
  s.modern = true;
  s.session_id.clear();
  s.protocol_version = std::move(version);
}

// Requests from here on go the handshake's way (initialize first).
void speak_legacy(session& s) {
  s.modern = false;
  s.session_id.clear();
  s.protocol_version.clear();
}

struct failure {
  error_code ec;
  std::string detail;
};

struct rpc_answer {
  error_code ec;
  std::string detail;
  unsigned status = 0;                   // the HTTP status, once the answer's head arrived
  std::optional<std::int64_t> rpc_code;  // the JSON-RPC error's code, when the answer held one
  std::vector<std::string> supported;    // its data.supported (the versions a -32022 names)
  json::object result;
  std::string session_id;  // the answer's Mcp-Session-Id header
};

net::exchange_options step_options(const session& s) {
  return net::exchange_options{s.options.step_timeout, s.options.step_timeout};
}

json::object client_info() { return json::object{{"name", "mcpgate"}, {"version", client_version}}; }

// The header block of a request: legacy, with the session id and version
// once initialize answered (neither on initialize itself); modern, with the
// version and the method (`method`) on every POST.
std::string request_fields(const session& s, bool post, std::string_view method = {}) {
  std::string fields;
  if (post) {
    fields.append("Content-Type: application/json\r\nAccept: ").append(accept_both).append("\r\n");
  }
  fields.append(s.authorization);
  if (!s.session_id.empty()) fields.append(header_mcp_session_id).append(": ").append(s.session_id).append("\r\n");
  if (!s.protocol_version.empty()) {
    fields.append(header_mcp_protocol_version).append(": ").append(s.protocol_version).append("\r\n");
  }
  if (s.modern && post && !method.empty()) fields.append(header_mcp_method).append(": ").append(method).append("\r\n");
  return fields;
}

failure transport_failure(std::string_view step, const error_code& ec, std::string_view detail, const session& s) {
  std::string text(step);
  if (ec == net::client_error::timeout) {
    text.append(": upstream did not answer within ")
        .append(std::to_string(s.options.step_timeout.count()))
        .append(" ms");
  } else if (ec.category() == net::client_category()) {
    text.append(": ").append(ec.message());
    if (!detail.empty()) text.append(": ").append(printable(detail));
  } else {
    text.append(": upstream connection failed: ").append(ec.message());
  }
  return failure{ec, std::move(text)};
}

std::optional<failure> status_failure(std::string_view step, unsigned status) {
  if (status >= 200 && status < 300) return std::nullopt;
  std::string text = std::string(step) + ": upstream answered HTTP " + std::to_string(status);
  if (status == 401) {
    return failure{make_error_code(mcp_client_error::unauthorized), text + " (credential refused)"};
  }
  return failure{make_error_code(mcp_client_error::http_status), std::move(text)};
}

rpc_answer failed(failure f) {
  rpc_answer out;
  out.ec = f.ec;
  out.detail = std::move(f.detail);
  return out;
}

failure malformed_failure(std::string_view step, std::string_view what) {
  return failure{make_error_code(mcp_client_error::malformed_answer), std::string(step) + ": " + std::string(what)};
}

// A JSON-RPC error object's code and data.supported into `out`; its code and
// message as text for the detail (" -32601: Method not found").
std::string note_error(const json::value& error, rpc_answer& out) {
  std::string text;
  if (!error.is_object()) return text;
  const json::object& e = error.get_object();
  if (const json::value* code = e.if_contains("code"); code != nullptr && code->is_int64()) {
    out.rpc_code = code->get_int64();
    text.append(" ").append(std::to_string(*out.rpc_code));
  }
  if (const json::value* data = e.if_contains("data"); data != nullptr && data->is_object()) {
    out.supported = strings_of(data->get_object().if_contains("supported"));
  }
  if (const json::value* message = e.if_contains("message"); message != nullptr && message->is_string()) {
    text.append(": ").append(printable(message->get_string()));
  }
  return text;
}

// The JSON-RPC response to a call: its result object, or its error.
rpc_answer answer_of(std::string_view method, json::object response, std::string session_id) {
  if (const json::value* error = response.if_contains("error")) {
    rpc_answer out;
    out.ec = make_error_code(mcp_client_error::jsonrpc_error);
    out.detail = std::string(method) + ": upstream answered JSON-RPC error" + note_error(*error, out);
    return out;
  }
  json::value* result = response.if_contains("result");
  if (result == nullptr || !result->is_object()) {
    return failed(malformed_failure(method, "the response has no result object"));
  }
  rpc_answer out;
  out.result = std::move(result->get_object());
  out.session_id = std::move(session_id);
  return out;
}

// What a body holds that the caller looks for (the response to its request).
using message_picker = std::function<std::optional<json::object>(const json::value&)>;

struct picked {
  std::optional<json::object> message;
  failure failed;  // when !message
};

// Reads the body of `exchange`: application/json whole, or text/event-stream
// until an event holds what `pick` looks for (the stream is then closed);
// all of it within max_answer_bytes and the step timeout between pieces.
asio::awaitable<picked> read_body(const session& s, std::shared_ptr<net::upstream_exchange> exchange,
                                  std::string_view method, bool is_sse, message_picker pick) {
  picked out;
  std::string body;  // application/json
  // The answer is bounded by max_answer_bytes as a whole, so each event is too.
  sse_splitter sse(s.options.max_answer_bytes + 1);
  const auto look_at = [&out, &pick](std::string_view raw_event) {
    if (out.message) return;
    if (auto parsed = parse_json(event_data(raw_event))) out.message = pick(*parsed);
  };
  std::size_t total = 0;
  while (!out.message) {
    auto reading = exchange->read_some();
    const auto [read_ec, bytes] = co_await std::move(reading);
    if (read_ec) {
      out.failed = read_ec == net::client_error::timeout
                       ? transport_failure(method, read_ec, {}, s)
                       : failure{read_ec, std::string(method) + ": reading the answer failed: " + read_ec.message()};
      co_return out;
    }
    if (bytes.empty()) break;  // the end
    total += bytes.size();
    if (total > s.options.max_answer_bytes) {
      exchange->cancel();
      out.failed = failure{make_error_code(mcp_client_error::answer_too_large),
                           std::string(method) + ": the answer is larger than " +
                               std::to_string(s.options.max_answer_bytes) + " bytes"};
      co_return out;
    }
    if (!is_sse) {
      body.append(bytes);
      continue;
    }
    sse.feed(bytes);
    while (auto raw = sse.next_event()) look_at(*raw);
  }
  if (!exchange->body_done()) exchange->cancel();  // an SSE stream left open after the response

  if (is_sse) {
    // An event that lacks only its blank line is still taken (more forgiving
    // than a browser, for upstreams that close right after it).
    if (!out.message) look_at(sse.take_remainder());
    if (!out.message) out.failed = malformed_failure(method, "the event stream ended without the response");
    co_return out;
  }
  const auto parsed = parse_json(body);
  if (!parsed) {
    out.failed = malformed_failure(method, "the answer is not valid JSON");
    co_return out;
  }
  out.message = pick(*parsed);
  if (!out.message) out.failed = malformed_failure(method, "the answer is not the JSON-RPC response to the request");
  co_return out;
}

// A JSON-RPC error response in a 4xx body: to request `id`, or to none
// (id null, as servers answer a request they refused before reading it).
std::optional<json::object> find_error(const json::value& message, std::int64_t id) {
  if (!message.is_object()) return std::nullopt;
  const json::object& m = message.get_object();
  const json::value* error = m.if_contains("error");
  if (error == nullptr || !error->is_object() || m.contains("method")) return std::nullopt;
  const json::value* v = m.if_contains("id");
  if (v == nullptr || v->is_null() || id_matches(m, id)) return m;
  return std::nullopt;
}

// An HTTP error status as the answer to request `id`. The JSON-RPC error in
// the body of a 400, 404 or 405 is read too: it tells a server of one era
// from a server of the other (spec: protocol-2026.md).
asio::awaitable<rpc_answer> refused(const session& s, std::shared_ptr<net::upstream_exchange> exchange,
                                    std::string_view method, std::int64_t id) {
  const unsigned status = exchange->head().status;
  rpc_answer out = failed(*status_failure(method, status));
  out.status = status;
  const bool era_status = status == 400 || status == 404 || status == 405;
  if (!era_status || media_type(exchange->head().header("Content-Type")) != "application/json") {
    exchange->cancel();
    co_return out;
  }
  auto reading = read_body(s, exchange, method, false, [id](const json::value& v) { return find_error(v, id); });
  picked body = co_await std::move(reading);
  // The status is the answer; a body that cannot be read only says less.
  if (body.message) {
    out.detail.append(" (JSON-RPC error").append(note_error(body.message->at("error"), out)).append(")");
  }
  co_return out;
}

// One JSON-RPC request and its response: the result object, or a failure.
// In the modern era the params carry the 2026 _meta (spec: protocol-2026.md).
asio::awaitable<rpc_answer> call(session& s, std::string_view method, json::object params) {
  const std::int64_t id = s.next_id++;
  if (s.modern) {
    params["_meta"] = json::object{{meta_protocol_version, s.protocol_version},
                                   {meta_client_capabilities, json::object()},
                                   {meta_client_info, client_info()}};
  }
  json::object message;
  message["jsonrpc"] = jsonrpc_version;
  message["id"] = id;
  message["method"] = method;
  if (!params.empty()) message["params"] = std::move(params);
  net::upstream_exchange::raw_request request{"POST", request_fields(s, true, method), json::serialize(message)};
  auto starting = net::upstream_exchange::start(s.pool, s.url, std::move(request), step_options(s));
  auto started = co_await std::move(starting);
  if (started.ec) co_return failed(transport_failure(method, started.ec, started.detail, s));
  const std::shared_ptr<net::upstream_exchange> exchange = std::move(started.exchange);

  const auto& head = exchange->head();
  if (head.status < 200 || head.status >= 300) {
    if (head.status == 401) {
      exchange->cancel();
      rpc_answer out = failed(*status_failure(method, head.status));
      out.status = head.status;
      co_return out;
    }
    auto refusing = refused(s, exchange, method, id);
    co_return co_await std::move(refusing);
  }
  std::string session_id(head.header(header_mcp_session_id));
  const std::string type = media_type(head.header("Content-Type"));
  const bool is_sse = type == "text/event-stream";
  if (!is_sse && type != "application/json") {
    exchange->cancel();
    if (type.empty()) {
      co_return failed(malformed_failure(method, "upstream answered HTTP " + std::to_string(head.status) +
                                                     " without a JSON-RPC response"));
    }
    co_return failed(malformed_failure(method, "upstream answered with Content-Type '" + printable(type, 100) + "'"));
  }
  const unsigned status = head.status;
  auto reading = read_body(s, exchange, method, is_sse, [id](const json::value& v) { return find_response(v, id); });
  picked body = co_await std::move(reading);
  if (!body.message) co_return failed(std::move(body.failed));
  rpc_answer out = answer_of(method, std::move(*body.message), std::move(session_id));
  out.status = status;
  co_return out;
}

// --- telling the eras apart --------------------------------------------------------------

// The errors only a server of the 2026 revision answers with: a header it
// found wrong (-32020), a capability it requires (-32021), or a version it
// does not take while it names one the gateway speaks the 2026 way (-32022).
bool is_modern_error(const rpc_answer& a) {
  if (a.rpc_code == error_header_mismatch || a.rpc_code == error_missing_capability) return true;
  return a.rpc_code == error_unsupported_version && !newest_modern_version_in(a.supported).empty();
}

// A request sent the 2026 way (server/discover, a stateless tools/list)
// failed as a server of the earlier revisions fails it: HTTP 400, 404 or 405,
// or a JSON-RPC error, unless it is one of the 2026 revision's own errors. A
// legacy server has no such method, or wants a session first; what it
// answers varies (-32601, -32600, -32602, -32000), so no single code is the
// sign. 401, other statuses and transport failures are failures in any era.
bool fails_as_legacy(const rpc_answer& a) {
  if (a.ec == mcp_client_error::jsonrpc_error) return !is_modern_error(a);
  if (a.ec != mcp_client_error::http_status) return false;
  return (a.status == 400 || a.status == 404 || a.status == 405) && !is_modern_error(a);
}

// initialize failed as a server of the 2026 revision only fails it: no such
// method (HTTP 404/405, -32601), or one of the revision's own errors
// (-32020..-32022, a -32022 naming only 2026 versions included).
bool fails_as_modern_only(const rpc_answer& a) {
  if (!a.ec || a.ec == mcp_client_error::unauthorized) return false;
  if (a.rpc_code == method_not_found || a.rpc_code == error_header_mismatch || a.rpc_code == error_missing_capability ||
      a.rpc_code == error_unsupported_version) {
    return true;
  }
  return a.ec == mcp_client_error::http_status && (a.status == 404 || a.status == 405);
}

// --- the steps ---------------------------------------------------------------------------

// notifications/initialized: any 2xx; the body (normally none) is not read.
asio::awaitable<failure> notify_initialized(session& s) {
  json::object message;
  message["jsonrpc"] = jsonrpc_version;
  message["method"] = notification_initialized;
  net::upstream_exchange::raw_request request{"POST", request_fields(s, true), json::serialize(message)};
  auto starting = net::upstream_exchange::start(s.pool, s.url, std::move(request), step_options(s));
  auto started = co_await std::move(starting);
  if (started.ec) co_return transport_failure(notification_initialized, started.ec, started.detail, s);
  const std::shared_ptr<net::upstream_exchange> exchange = std::move(started.exchange);
  auto bad = status_failure(notification_initialized, exchange->head().status);
  if (!exchange->body_done()) exchange->cancel();  // closed rather than read: nothing in it matters
  if (bad) co_return std::move(*bad);
  co_return failure{};
}

// Ends the session; every outcome is fine.
asio::awaitable<void> end_session(session& s) {
  const auto wait = std::min(s.options.step_timeout, max_delete_wait);
  net::upstream_exchange::raw_request request{"DELETE", request_fields(s, false), {}};
  auto starting = net::upstream_exchange::start(s.pool, s.url, std::move(request), net::exchange_options{wait, wait});
  auto started = co_await std::move(starting);
  if (started.exchange && !started.exchange->body_done()) started.exchange->cancel();
}

registry::listed_tool to_listed_tool(const json::object& entry) {
  registry::listed_tool t;
  t.name = std::string(entry.at("name").get_string());
  const json::object* annotations = nullptr;
  if (const json::value* a = entry.if_contains("annotations"); a != nullptr && a->is_object()) {
    annotations = &a->get_object();
  }
  if (const json::value* title = entry.if_contains("title");
      title != nullptr && title->is_string() && !title->get_string().empty()) {
    t.title = std::string(title->get_string());
  } else if (annotations != nullptr) {
    if (const json::value* at = annotations->if_contains("title"); at != nullptr && at->is_string()) {
      t.title = std::string(at->get_string());
    }
  }
  if (const json::value* d = entry.if_contains("description"); d != nullptr && d->is_string()) {
    t.description = std::string(d->get_string());
  }
  const json::value* schema = entry.if_contains("inputSchema");
  t.input_schema = schema != nullptr && !schema->is_null() ? write_json(*schema) : std::string("{}");
  t.annotations = annotations != nullptr ? write_json(*annotations) : std::string("{}");
  return t;
}

tools_listing fail(failure f) {
  tools_listing out;
  out.ec = f.ec;
  out.detail = std::move(f.detail);
  return out;
}

tools_listing fail(rpc_answer a) { return fail(failure{a.ec, std::move(a.detail)}); }

// A listing in one era, and whether the upstream answered as a server of
// the other one (then the other era is worth a try).
struct attempt {
  tools_listing listing;
  bool other_era = false;  // it failed as a server of the other era fails
  // Modern: the first page came without resultType, which every 2026 result
  // has: a legacy server that lists without a session answers so.
  bool legacy_shaped = false;
};

// Whether the server says it has tools: a server without the tools
// capability may well refuse tools/list. A result without capabilities says
// nothing against it.
bool declares_tools(const json::object& result) {
  const json::value* caps = result.if_contains("capabilities");
  return caps == nullptr || !caps->is_object() || caps->get_object().contains("tools");
}

// The tools of one tools/list page appended to `out`, skipping entries
// without a name and names seen before (`names`).
void take_tools(const json::array& tools, std::unordered_set<std::string>& names, tools_listing& out) {
  for (const auto& item : tools) {
    if (!item.is_object()) continue;
    const json::object& entry = item.get_object();
    const json::value* name = entry.if_contains("name");
    if (name == nullptr || !name->is_string() || name->get_string().empty()) continue;
    if (!names.emplace(name->get_string()).second) continue;  // listed twice: the first one stays
    out.tools.push_back(to_listed_tool(entry));
  }
}

// Every tools/list page, in the session's era. A modern first page that
// fails as a legacy server fails it is `other_era`.
asio::awaitable<attempt> list_pages(session& s, bool with_tools) {
  attempt out;
  std::unordered_set<std::string> names;
  std::unordered_set<std::string> cursors;
  std::optional<std::string> cursor;
  for (std::size_t page = 1;; ++page) {
    json::object params;
    if (cursor) params["cursor"] = *cursor;
    auto listing = call(s, method_tools_list, std::move(params));
    rpc_answer answer = co_await std::move(listing);
    if (answer.ec) {
      if (!with_tools && page == 1 && answer.rpc_code == method_not_found) break;  // no tools
      out.other_era = s.modern && page == 1 && fails_as_legacy(answer);
      out.listing = fail(std::move(answer));
      co_return out;
    }
    const json::value* tools = answer.result.if_contains("tools");
    if (tools == nullptr || !tools->is_array()) {
      out.listing = fail(malformed_failure(method_tools_list, "the result has no tools array"));
      co_return out;
    }
    take_tools(tools->get_array(), names, out.listing);
    if (s.modern && page == 1) out.legacy_shaped = !answer.result.contains("resultType");

    const json::value* next = answer.result.if_contains("nextCursor");
    if (next == nullptr || next->is_null() || (next->is_string() && next->get_string().empty())) break;
    if (!next->is_string()) {
      out.listing = fail(malformed_failure(method_tools_list, "nextCursor is not a string"));
      co_return out;
    }
    std::string next_cursor(next->get_string());
    if (!cursors.insert(next_cursor).second) {
      out.listing = fail(failure{make_error_code(mcp_client_error::cursor_loop),
                                 "tools/list: the upstream gave a cursor it had given before (page " +
                                     std::to_string(page) + ")"});
      co_return out;
    }
    if (page >= s.options.max_pages) {
      out.listing = fail(failure{make_error_code(mcp_client_error::too_many_pages),
                                 "tools/list: still more after " + std::to_string(s.options.max_pages) + " pages"});
      co_return out;
    }
    cursor = std::move(next_cursor);
  }
  out.listing.protocol_version = s.protocol_version;
  co_return out;
}

// The legacy era: initialize (2025-06-18), notifications/initialized, every
// tools/list page in the session. An initialize that fails as a 2026-only
// server fails it is `other_era`.
asio::awaitable<attempt> list_in_session(session& s) {
  speak_legacy(s);
  json::object init_params;
  init_params["protocolVersion"] = client_protocol_version;
  init_params["capabilities"] = json::object();
  init_params["clientInfo"] = client_info();
  auto initializing = call(s, method_initialize, std::move(init_params));
  rpc_answer init = co_await std::move(initializing);
  if (init.ec) {
    const bool other_era = fails_as_modern_only(init);
    co_return attempt{fail(std::move(init)), other_era};
  }
  if (!init.session_id.empty()) {
    if (!is_visible_ascii(init.session_id)) {
      co_return attempt{fail(malformed_failure(method_initialize,
                                               "the Mcp-Session-Id header holds characters other than visible ASCII"))};
    }
    s.session_id = std::move(init.session_id);
  }
  s.protocol_version = std::string(client_protocol_version);
  if (const json::value* v = init.result.if_contains("protocolVersion"); v != nullptr && !v->is_null()) {
    if (!v->is_string() || !is_visible_ascii(v->get_string())) {
      co_return attempt{
          fail(malformed_failure(method_initialize, "the result's protocolVersion is not a version string"))};
    }
    s.protocol_version = std::string(v->get_string());
  }

  auto notifying = notify_initialized(s);
  failure notified = co_await std::move(notifying);
  if (notified.ec) co_return attempt{fail(std::move(notified))};
  auto listing = list_pages(s, declares_tools(init.result));
  co_return co_await std::move(listing);
}

// What server/discover said about the upstream.
struct discovery {
  enum class era { modern, legacy, failed } said = era::failed;
  bool with_tools = true;  // modern: the capabilities name tools (or say nothing)
  rpc_answer answer;       // failed: why
};

// server/discover in the newest modern revision. A result naming a modern
// revision the gateway speaks makes the session modern in it; a failure as
// a legacy server fails, or a result naming none, points at the handshake.
asio::awaitable<discovery> discover(session& s) {
  speak_modern(s, preferred_modern_version());
  auto discovering = call(s, method_server_discover, json::object());
  discovery out;
  out.answer = co_await std::move(discovering);
  if (out.answer.ec) {
    out.said = fails_as_legacy(out.answer) ? discovery::era::legacy : discovery::era::failed;
    co_return out;
  }
  std::string version = newest_modern_version_in(strings_of(out.answer.result.if_contains("supportedVersions")));
  if (version.empty()) {
    out.said = discovery::era::legacy;  // a server of the earlier revisions, however it answered
    co_return out;
  }
  speak_modern(s, std::move(version));
  out.said = discovery::era::modern;
  out.with_tools = declares_tools(out.answer.result);
  co_return out;
}

// No era known: discover first, then the era the answer points at.
asio::awaitable<attempt> probe(session& s) {
  auto discovering = discover(s);
  discovery found = co_await std::move(discovering);
  if (found.said == discovery::era::failed) co_return attempt{fail(std::move(found.answer))};
  if (found.said == discovery::era::modern) {
    auto listing = list_pages(s, found.with_tools);
    co_return co_await std::move(listing);
  }
  auto listing = list_in_session(s);
  co_return co_await std::move(listing);
}

// The recorded era is modern: straight to the stateless tools/list; when
// that fails as a legacy server fails it, or is answered in the legacy form,
// probe again.
asio::awaitable<tools_listing> list_as_modern(session& s, std::string version) {
  speak_modern(s, std::move(version));
  auto listing = list_pages(s, true);
  attempt stateless = co_await std::move(listing);
  if (!stateless.other_era && !stateless.legacy_shaped) co_return std::move(stateless.listing);
  auto probing = probe(s);
  co_return (co_await std::move(probing)).listing;
}

// The recorded era is legacy (or unknown to this build): the handshake;
// when initialize fails as a 2026-only server fails it, server/discover.
asio::awaitable<tools_listing> list_as_legacy(session& s) {
  auto listing = list_in_session(s);
  attempt handshake = co_await std::move(listing);
  if (!handshake.other_era) co_return std::move(handshake.listing);
  auto discovering = discover(s);
  discovery found = co_await std::move(discovering);
  if (found.said == discovery::era::failed) co_return fail(std::move(found.answer));
  // Neither era answered: the handshake's failure is the one to report.
  if (found.said == discovery::era::legacy) co_return std::move(handshake.listing);
  auto stateless = list_pages(s, found.with_tools);
  co_return (co_await std::move(stateless)).listing;
}

asio::awaitable<tools_listing> list_in_either_era(session& s) {
  const std::string known = s.options.known_version;
  if (known.empty()) {
    auto probing = probe(s);
    co_return (co_await std::move(probing)).listing;
  }
  if (is_modern_version(known)) {
    auto listing = list_as_modern(s, known);
    co_return co_await std::move(listing);
  }
  auto listing = list_as_legacy(s);
  co_return co_await std::move(listing);
}

asio::awaitable<tools_listing> run_listing(std::shared_ptr<net::upstream_pool> pool, net::parsed_url url,
                                           std::string credential, mcp_client_options options) {
  if (!is_header_safe(credential)) {
    co_return fail(failure{make_error_code(mcp_client_error::invalid_credential),
                           "the credential holds characters an HTTP header cannot carry"});
  }
  std::string value = options.credential_format;
  if (const auto at = value.find("{key}"); at != std::string::npos) value.replace(at, 5, credential);
  if (!credential.empty() && (!is_header_safe(value) || !is_header_safe(options.credential_header))) {
    co_return fail(failure{make_error_code(mcp_client_error::invalid_credential),
                           "the credential header cannot be sent as configured"});
  }
  session s;
  s.pool = std::move(pool);
  s.url = std::move(url);
  s.options = std::move(options);
  if (!credential.empty()) s.authorization = s.options.credential_header + ": " + value + "\r\n";

  auto listing = list_in_either_era(s);
  tools_listing out = co_await std::move(listing);
  // End the session, unless the upstream stopped answering (it would only
  // delay the outcome).
  if (!s.session_id.empty() && out.ec != net::client_error::timeout) {
    auto ending = end_session(s);
    co_await std::move(ending);
  }
  // The upstream's own words (a JSON-RPC error message) could echo it.
  if (!credential.empty()) replace_all(out.detail, credential, "[redacted]");
  co_return out;
}

}  // namespace

const boost::system::error_category& mcp_client_category() noexcept {
  static const mcp_client_category_impl instance;
  return instance;
}

asio::awaitable<tools_listing> list_upstream_tools(std::shared_ptr<net::upstream_pool> pool, const net::parsed_url& url,
                                                   std::string credential, mcp_client_options options) {
  // Not a coroutine itself: `url` is copied into the operation now, so the
  // caller's may go before the awaiting ends.
  return run_listing(std::move(pool), url, std::move(credential), options);
}

}  // namespace mcpgate::proxy
