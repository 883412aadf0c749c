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
#include <optional>
#include <unordered_set>
#include <utility>

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
// JSON-RPC "method not found": what a server without tools answers tools/list.
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

// --- the session ---------------------------------------------------------------------

struct session {
  std::shared_ptr<net::upstream_pool> pool;
  net::parsed_url url;
  mcp_client_options options;
  std::string authorization;     // "Authorization: Bearer ...\r\n" or ""
  std::string session_id;        // from the initialize answer
  std::string protocol_version;  // negotiated; "" until initialize answered
  std::int64_t next_id = 1;
};

struct failure {
  error_code ec;
  std::string detail;
};

struct rpc_answer {
  error_code ec;
  std::string detail;
  std::int64_t rpc_code = 0;  // the JSON-RPC error's code, when ec == jsonrpc_error
  json::object result;
  std::string session_id;  // the answer's Mcp-Session-Id header
};

net::exchange_options step_options(const session& s) {
  return net::exchange_options{s.options.step_timeout, s.options.step_timeout};
}

// The header block of a request after initialize (and of initialize itself,
// where session id and version are still empty).
std::string request_fields(const session& s, bool post) {
  std::string fields;
  if (post) {
    fields.append("Content-Type: application/json\r\nAccept: ").append(accept_both).append("\r\n");
  }
  fields.append(s.authorization);
  if (!s.session_id.empty()) fields.append(header_mcp_session_id).append(": ").append(s.session_id).append("\r\n");
  if (!s.protocol_version.empty()) {
    fields.append(header_mcp_protocol_version).append(": ").append(s.protocol_version).append("\r\n");
  }
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

rpc_answer malformed(std::string_view step, std::string_view what) {
  return failed(failure{make_error_code(mcp_client_error::malformed_answer),
                        std::string(step) + ": " + std::string(what)});
}

// The JSON-RPC response to a call: its result object, or its error.
rpc_answer answer_of(std::string_view method, json::object response, std::string session_id) {
  if (const json::value* error = response.if_contains("error")) {
    rpc_answer out;
    out.ec = make_error_code(mcp_client_error::jsonrpc_error);
    out.detail = std::string(method) + ": upstream answered JSON-RPC error";
    if (error->is_object()) {
      const json::object& e = error->get_object();
      if (const json::value* code = e.if_contains("code"); code != nullptr && code->is_int64()) {
        out.rpc_code = code->get_int64();
        out.detail.append(" ").append(std::to_string(out.rpc_code));
      }
      if (const json::value* text = e.if_contains("message"); text != nullptr && text->is_string()) {
        out.detail.append(": ").append(printable(text->get_string()));
      }
    }
    return out;
  }
  json::value* result = response.if_contains("result");
  if (result == nullptr || !result->is_object()) return malformed(method, "the response has no result object");
  rpc_answer out;
  out.result = std::move(result->get_object());
  out.session_id = std::move(session_id);
  return out;
}

// One JSON-RPC request and its response: the result object, or a failure.
asio::awaitable<rpc_answer> call(session& s, std::string_view method, json::object params) {
  const std::int64_t id = s.next_id++;
  json::object message;
  message["jsonrpc"] = jsonrpc_version;
  message["id"] = id;
  message["method"] = method;
  if (!params.empty()) message["params"] = std::move(params);
  net::upstream_exchange::raw_request request{"POST", request_fields(s, true), json::serialize(message)};
  auto starting = net::upstream_exchange::start(s.pool, s.url, std::move(request), step_options(s));
  auto started = co_await std::move(starting);
  if (started.ec) co_return failed(transport_failure(method, started.ec, started.detail, s));
  const std::shared_ptr<net::upstream_exchange> exchange = std::move(started.exchange);

  const auto& head = exchange->head();
  if (auto bad = status_failure(method, head.status)) {
    exchange->cancel();
    co_return failed(std::move(*bad));
  }
  std::string session_id(head.header(header_mcp_session_id));
  const std::string type = media_type(head.header("Content-Type"));
  const bool is_sse = type == "text/event-stream";
  if (!is_sse && type != "application/json") {
    exchange->cancel();
    if (type.empty()) {
      co_return malformed(method,
                          "upstream answered HTTP " + std::to_string(head.status) + " without a JSON-RPC response");
    }
    co_return malformed(method, "upstream answered with Content-Type '" + printable(type, 100) + "'");
  }

  std::optional<json::object> response;
  std::string body;  // application/json
  // The answer is bounded by max_answer_bytes as a whole, so each event is too.
  sse_splitter sse(s.options.max_answer_bytes + 1);
  const auto look_at = [&response, id](std::string_view raw_event) {
    if (response) return;
    if (auto parsed = parse_json(event_data(raw_event))) response = find_response(*parsed, id);
  };
  const auto look_at_events = [&sse, &look_at] {
    while (auto raw = sse.next_event()) look_at(*raw);
  };
  std::size_t total = 0;
  while (!response) {
    auto reading = exchange->read_some();
    const auto [read_ec, bytes] = co_await std::move(reading);
    if (read_ec) {
      if (read_ec == net::client_error::timeout) co_return failed(transport_failure(method, read_ec, {}, s));
      co_return failed(failure{read_ec, std::string(method) + ": reading the answer failed: " + read_ec.message()});
    }
    if (bytes.empty()) break;  // the end
    total += bytes.size();
    if (total > s.options.max_answer_bytes) {
      exchange->cancel();
      co_return failed(failure{make_error_code(mcp_client_error::answer_too_large),
                               std::string(method) + ": the answer is larger than " +
                                   std::to_string(s.options.max_answer_bytes) + " bytes"});
    }
    if (is_sse) {
      sse.feed(bytes);
      look_at_events();
    } else {
      body.append(bytes);
    }
  }
  if (!exchange->body_done()) exchange->cancel();  // an SSE stream left open after the response

  if (is_sse && !response) {
    // An event that lacks only its blank line is still taken (more forgiving
    // than a browser, for upstreams that close right after it).
    look_at(sse.take_remainder());
    if (!response) co_return malformed(method, "the event stream ended without the response");
  }
  if (!is_sse) {
    const auto parsed = parse_json(body);
    if (!parsed) co_return malformed(method, "the answer is not valid JSON");
    response = find_response(*parsed, id);
    if (!response) co_return malformed(method, "the answer is not the JSON-RPC response to the request");
  }

  co_return answer_of(method, std::move(*response), std::move(session_id));
}

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

// initialize, notifications/initialized, every tools/list page.
asio::awaitable<tools_listing> list_in_session(session& s) {
  json::object init_params;
  init_params["protocolVersion"] = client_protocol_version;
  init_params["capabilities"] = json::object();
  init_params["clientInfo"] = json::object{{"name", "mcpgate"}, {"version", client_version}};
  auto initializing = call(s, method_initialize, std::move(init_params));
  rpc_answer init = co_await std::move(initializing);
  if (init.ec) co_return fail(std::move(init));
  if (!init.session_id.empty()) {
    if (!is_visible_ascii(init.session_id)) {
      co_return fail(failure{make_error_code(mcp_client_error::malformed_answer),
                             "initialize: the Mcp-Session-Id header holds characters other than visible ASCII"});
    }
    s.session_id = std::move(init.session_id);
  }
  s.protocol_version = std::string(client_protocol_version);
  if (const json::value* v = init.result.if_contains("protocolVersion"); v != nullptr && !v->is_null()) {
    if (!v->is_string() || !is_visible_ascii(v->get_string())) {
      co_return fail(failure{make_error_code(mcp_client_error::malformed_answer),
                             "initialize: the result's protocolVersion is not a version string"});
    }
    s.protocol_version = std::string(v->get_string());
  }
  // A server without the tools capability may well refuse tools/list.
  bool declares_tools = true;
  if (const json::value* caps = init.result.if_contains("capabilities"); caps != nullptr && caps->is_object()) {
    declares_tools = caps->get_object().contains("tools");
  }

  auto notifying = notify_initialized(s);
  failure notified = co_await std::move(notifying);
  if (notified.ec) co_return fail(std::move(notified));

  tools_listing out;
  std::unordered_set<std::string> names;
  std::unordered_set<std::string> cursors;
  std::optional<std::string> cursor;
  for (std::size_t page = 1;; ++page) {
    json::object params;
    if (cursor) params["cursor"] = *cursor;
    auto listing = call(s, method_tools_list, std::move(params));
    rpc_answer answer = co_await std::move(listing);
    if (answer.ec) {
      if (!declares_tools && page == 1 && answer.rpc_code == method_not_found) co_return out;  // no tools
      co_return fail(std::move(answer));
    }
    const json::value* tools = answer.result.if_contains("tools");
    if (tools == nullptr || !tools->is_array()) {
      co_return fail(failure{make_error_code(mcp_client_error::malformed_answer),
                             "tools/list: the result has no tools array"});
    }
    for (const auto& item : tools->get_array()) {
      if (!item.is_object()) continue;
      const json::object& entry = item.get_object();
      const json::value* name = entry.if_contains("name");
      if (name == nullptr || !name->is_string() || name->get_string().empty()) continue;
      if (!names.emplace(name->get_string()).second) continue;  // listed twice: the first one stays
      out.tools.push_back(to_listed_tool(entry));
    }

    const json::value* next = answer.result.if_contains("nextCursor");
    if (next == nullptr || next->is_null() || (next->is_string() && next->get_string().empty())) co_return out;
    if (!next->is_string()) {
      co_return fail(failure{make_error_code(mcp_client_error::malformed_answer),
                             "tools/list: nextCursor is not a string"});
    }
    std::string next_cursor(next->get_string());
    if (!cursors.insert(next_cursor).second) {
      co_return fail(failure{make_error_code(mcp_client_error::cursor_loop),
                             "tools/list: the upstream gave a cursor it had given before (page " +
                                 std::to_string(page) + ")"});
    }
    if (page >= s.options.max_pages) {
      co_return fail(failure{make_error_code(mcp_client_error::too_many_pages),
                             "tools/list: still more after " + std::to_string(s.options.max_pages) + " pages"});
    }
    cursor = std::move(next_cursor);
  }
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
  session s{std::move(pool), std::move(url), options, {}, {}, {}, 1};
  if (!credential.empty()) s.authorization = options.credential_header + ": " + value + "\r\n";

  auto listing = list_in_session(s);
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
