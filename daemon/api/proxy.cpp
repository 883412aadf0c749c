#include "daemon/api/proxy.hpp"

#include "common/text.hpp"
#include "common/ids.hpp"
#include "common/log.hpp"
#include "daemon/api/audit.hpp"
#include "daemon/api/errors.hpp"
#include "daemon/api/grants.hpp"
#include "daemon/api/relay.hpp"
#include "daemon/api/tools.hpp"
#include "daemon/metrics.hpp"
#include "net/upstream_exchange.hpp"
#include "proxy/approval.hpp"
#include "proxy/jsonrpc_inspector.hpp"
#include "proxy/mcp_names.hpp"
#include "proxy/tools_filter.hpp"

#include <boost/asio/this_coro.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <charconv>

namespace mcpgate::daemon::api {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using boost::system::error_code;

// Request headers that reach the upstream (plus Mcp-Param-*); everything
// else the agent sent, its Authorization and cookies first, stays here.
constexpr std::array forwarded_headers{
    std::string_view("Content-Type"),
    std::string_view("Accept"),
    proxy::header_mcp_session_id,
    proxy::header_mcp_protocol_version,
    proxy::header_last_event_id,
    proxy::header_mcp_method,
    proxy::header_mcp_name,
};

bool forwarded(std::string_view name) {
  for (const auto allowed : forwarded_headers) {
    if (iequals(name, allowed)) return true;
  }
  const auto prefix = proxy::header_mcp_param_prefix;
  return name.size() > prefix.size() && iequals(name.substr(0, prefix.size()), prefix);
}

bool is_event_stream(std::string_view content_type) {
  constexpr std::string_view sse = "text/event-stream";
  return content_type.size() >= sse.size() && iequals(content_type.substr(0, sse.size()), sse);
}

// The static constant naming a tool's state in cached_installation.
std::string_view state_constant(const registry::tool& t) {
  if (t.removed_at) return tool_state_removed;
  if (t.approval_state == registry::approval_approved) return registry::approval_approved;
  if (t.approval_state == registry::approval_do_not_use) return registry::approval_do_not_use;
  return registry::approval_needs_approval;
}

// The tools/list view of the registry: a tool it has never seen counts as
// needs_approval.
bool hidden_in_list(const proxy_options& options, const cached_installation& entry, std::string_view name) {
  const std::string_view state = entry.tool_state(name).value_or(registry::approval_needs_approval);
  const auto& hide = options.tools_list_hide;
  return std::find(hide.begin(), hide.end(), state) != hide.end();
}

// Known: listed by the last sync (a removed tool listed again has come back).
bool known_tool(const cached_installation& entry, std::string_view name) {
  const auto state = entry.tool_state(name);
  return state && *state != tool_state_removed;
}

bool requests_method(const std::optional<proxy::inspection>& message, std::string_view method) {
  if (!message) return false;
  return std::any_of(message->messages.begin(), message->messages.end(), [method](const proxy::message_info& m) {
    return m.kind == proxy::message_kind::request && m.method && *m.method == method;
  });
}

// The audit records of refused tools/call messages.
asio::awaitable<void> record_blocked(const api_context& ctx, const caller& who, const std::string& installation_id,
                                     const std::vector<proxy::blocked_call>& blocked) {
  const auto now = std::chrono::system_clock::now();
  std::vector<registry::audit_event> events;
  for (const auto& b : blocked) {
    metrics::count_tool_call("blocked", b.state);
    events.push_back(
        make_audit_event(who, installation_id, audit_tool_call_blocked, json::object{{"state", b.state}}, now, b.tool_name));
    spdlog::info("installation {}: tools/call of {} ({}) blocked for user {}", installation_id, b.tool_name, b.state,
                 who.user_id);
  }
  const auto insert = [&events](registry::store& s) -> result<void> {
    for (const auto& e : events) {
      if (auto kept = s.insert_audit_event(e); !kept) return kept;
    }
    return {};
  };
  auto kept = co_await ctx.db.run(insert);
  if (!kept) spdlog::error("installation {}: audit of a blocked call not stored: {}", installation_id, kept.error().message());
}

// The tool names of the tools/call messages in a body (requests and
// notifications alike, as the approval filter treats them); empty, and
// nothing allocated, for a body without one.
std::vector<std::string> tool_calls_of(const std::optional<proxy::inspection>& message) {
  std::vector<std::string> names;
  if (!message) return names;
  for (const auto& m : message->messages) {
    if (m.method && *m.method == "tools/call") names.push_back(m.tool_name.value_or(""));
  }
  return names;
}

// The tool_call_forwarded records of one forwarded body, handed to the audit
// batch without waiting for them (the agent's answer does not wait for the
// insert; a request queued on the store thread later sees them). The detail
// ends with `outcome`: upstream_status, or error when no answer came.
void record_forwarded(const api_context& ctx, const asio::any_io_executor& where, const caller& who,
                      const std::string& installation_id, const std::vector<std::string>& tools,
                      std::chrono::steady_clock::time_point arrived, std::string_view outcome,
                      json::value outcome_value) {
  const auto latency = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - arrived);
  json::object detail{{"decision", "forwarded"}, {"latency_ms", latency.count()}};
  detail[outcome] = std::move(outcome_value);
  const auto now = std::chrono::system_clock::now();
  std::vector<registry::audit_event> events;
  events.reserve(tools.size());
  for (const auto& name : tools) {
    metrics::count_tool_call("forwarded", "approved");  // only approved tools are forwarded
    events.push_back(make_audit_event(who, installation_id, audit_tool_call_forwarded, detail, now, name));
  }
  ctx.forwarded_audit->add(std::move(events), where);
}

// The installation from the cache for this caller; nullptr with found=true:
// cached, but not this caller's; found=false: not cached.
std::shared_ptr<const cached_installation> cached_installation_of(const api_context& ctx, const caller& who,
                                                                  const std::string& id, bool& found) {
  auto hit = ctx.cache->find_installation(id);
  found = hit != nullptr;
  if (hit && hit->inst.environment_id == who.environment_id && hit->inst.user_id == who.user_id) return hit;
  return nullptr;
}

// "Header: value\r\n" presenting `credential` as the installation does; ""
// without a credential, or when it holds a byte no header value may carry
// (CR and LF would start another header line; NUL, other controls and DEL
// are refused by servers or cut short): such a credential is unusable.
std::string credential_line(const cached_installation& entry, const std::string& credential) {
  if (credential.empty()) return {};
  std::string value = entry.credential_format;
  if (const auto at = value.find("{key}"); at != std::string::npos) value.replace(at, 5, credential);
  if (std::any_of(value.begin(), value.end(), [](char c) { return is_control_char(c); })) return {};
  return entry.credential_header + ": " + value + "\r\n";
}

// The installation from the store (its credential opened), then cached.
// nullptr with ok=true: not found for this caller.
asio::awaitable<std::shared_ptr<const cached_installation>> load_installation(const api_context& ctx,
                                                                            const caller& who,
                                                                            const std::string& id, bool& ok) {
  ok = true;
  const std::uint64_t generation = ctx.cache->generation();
  struct loaded {
    result<registry::installation> inst = errc::not_found;
    result<std::string> sealed = errc::not_found;
    result<std::vector<registry::tool>> tools = errc::not_found;
  };
  const auto query = [who, &id](registry::store& s) {
    loaded out;
    out.inst = s.get_installation(who.environment_id, who.user_id, id);
    if (!out.inst) return out;
    if (out.inst->has_credential) out.sealed = s.get_secret(id, out.inst->auth_type == "oauth" ? "access_token" : "api_key");
    out.tools = s.list_tools(id, true);
    return out;
  };
  auto row = co_await ctx.db.run(query);
  if (!row.inst || !row.tools) {
    const auto& ec = row.inst ? row.tools.error() : row.inst.error();
    if (ec != errc::not_found) {
      spdlog::error("loading installation {} failed: {}", id, ec.message());
      ok = false;
    }
    co_return nullptr;
  }
  auto entry = std::make_shared<cached_installation>();
  entry->inst = std::move(*row.inst);
  for (const auto& t : *row.tools) entry->tool_states.emplace(t.tool_name, state_constant(t));
  if (row.sealed) {
    const std::string context = "installation:" + id + ":" + (entry->inst.auth_type == "oauth" ? "access_token" : "api_key");
    auto opened = ctx.secrets.open(*row.sealed, context);
    if (opened) {
      entry->credential = std::move(*opened);
    } else {
      // Treated as no credential: the agent gets the re-authentication answer.
      spdlog::error("installation {}: the stored credential cannot be opened: {}", id, opened.error().message());
    }
  }
  if (entry->inst.auth_type == "api_key" && entry->inst.template_id) {
    const auto live = ctx.settings();
    for (const auto& t : live->templates) {
      if (t.id != *entry->inst.template_id) continue;
      entry->credential_header = t.api_key_header;
      entry->credential_format = t.api_key_format;
    }
  }
  entry->credential_line = credential_line(*entry, entry->credential);
  const auto verdict = net::check_upstream_url(entry->inst.url, ctx.ssrf);
  if (verdict) entry->upstream = net::parse_url(entry->inst.url);
  if (!entry->upstream) entry->url_refusal = verdict ? "not an absolute http(s) URL" : verdict.reason;
  ctx.cache->put_installation(entry, generation);
  co_return entry;
}

// The answer's Content-Length, when it sends a valid one.
std::optional<std::size_t> declared_length(const net::upstream_exchange::response_head& head) {
  const std::string_view text = head.header("Content-Length");
  std::size_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return n;
}

// 429 with Retry-After (whole seconds, at least 1).
http_response too_many(std::chrono::milliseconds wait, std::string_view message) {
  http_response out = proxy_error(429, message);
  out.headers.emplace_back("Retry-After", std::to_string(std::max<long long>(1, (wait.count() + 999) / 1000)));
  return out;
}

// 503 with Retry-After: the gateway sheds new work to stay within its caps.
http_response overloaded_answer() {
  http_response out = proxy_error(503, "The gateway is overloaded; try again shortly");
  out.headers.emplace_back("Retry-After", "1");
  return out;
}

// The gateway's answer in the upstream's place: a JSON-RPC error `error`
// (an object's text) for every request in the body, HTTP 200; nullopt when
// the body holds no request (notifications, responses, or no JSON-RPC body).
std::optional<http_response> jsonrpc_errors(const std::optional<proxy::inspection>& message, const std::string& error) {
  std::vector<std::string> answers;
  if (message) {
    for (const auto& m : message->messages) {
      if (m.kind != proxy::message_kind::request) continue;
      answers.push_back(R"({"jsonrpc":"2.0","id":)" + proxy::jsonrpc_id_text(m) + R"(,"error":)" + error + "}");
    }
  }
  if (answers.empty()) return std::nullopt;
  if (!message->is_batch) return http_response::json(200, std::move(answers.front()));
  std::string batch = "[";
  for (std::size_t i = 0; i < answers.size(); ++i) batch.append(i ? "," : "").append(answers[i]);
  batch += "]";
  return http_response::json(200, std::move(batch));
}

// Spec step 6: no usable upstream credential. Never HTTP 401 (that would
// send the agent into OAuth discovery against the gateway): JSON-RPC
// requests get a JSON-RPC error, anything else 409.
http_response needs_reauth(const api_context& ctx, const registry::installation& inst,
                           const std::optional<proxy::inspection>& message, const std::string& reason) {
  json::object data{{"reason", reason}};
  if (inst.auth_type == "oauth") {
    data["authorize_url"] = ctx.public_url + "/api/environments/" + std::to_string(inst.environment_id) +
                            "/mcp_server_installations/authorize/?installation_id=" + inst.id;
  }
  // Built as text so that a numeric id comes back exactly as written.
  const std::string error = json::serialize(
      json::object{{"code", -32003}, {"message", "Installation needs re-authentication"}, {"data", data}});
  if (auto answer = jsonrpc_errors(message, error)) return std::move(*answer);
  return proxy_error(409, "Installation needs re-authentication: " + reason);
}

// The JSON-RPC error that stands in for an upstream answer to tools/list the
// filter could not read (fail closed: it may list tools the agent must not see).
std::string uninspectable_error() {
  return json::serialize(json::object{
      {"code", -32603},
      {"message", "The upstream's answer could not be inspected"},
      {"data", json::object{{"reason", "The answer to tools/list is not valid JSON, so the gateway cannot filter it"}}}});
}

// The same error as a whole JSON-RPC message, with the id of the body's
// first tools/list request (null when there is none: a GET stream).
std::string uninspectable_message(const std::optional<proxy::inspection>& message) {
  std::string id = "null";
  if (message) {
    for (const auto& m : message->messages) {
      if (m.kind == proxy::message_kind::request && m.method && *m.method == "tools/list") {
        id = proxy::jsonrpc_id_text(m);
        break;
      }
    }
  }
  return R"({"jsonrpc":"2.0","id":)" + id + R"(,"error":)" + uninspectable_error() + "}";
}

}  // namespace

asio::awaitable<std::shared_ptr<const cached_installation>> find_installation(const api_context& ctx,
                                                                            const caller& who,
                                                                            const std::string& id, bool& ok) {
  ok = true;
  bool cached = false;
  auto entry = cached_installation_of(ctx, who, id, cached);
  if (cached) co_return entry;
  auto loading = load_installation(ctx, who, id, ok);
  co_return co_await std::move(loading);
}

http_response proxy_error(unsigned status, std::string_view message) {
  return http_response::json(status, json::serialize(json::object{{"error", message}}));
}

std::optional<http_response> check_rebinding(const proxy_options& options, const http_request& req) {
  // The allow-lists are lower case already (serve.cpp).
  const std::string_view host = req.header("Host");
  bool host_ok = false;
  for (const auto& allowed : options.allowed_hosts) host_ok = host_ok || ascii_iequals(host, allowed);
  if (!host_ok) return proxy_error(403, "Forbidden: Host header not allowed");
  std::string_view origin = req.header("Origin");
  if (origin.empty()) return std::nullopt;  // not a browser
  while (origin.ends_with('/')) origin.remove_suffix(1);
  for (const auto& allowed : options.allowed_origins) {
    if (ascii_iequals(origin, allowed)) return std::nullopt;
  }
  return proxy_error(403, "Forbidden: Origin not allowed");
}

asio::awaitable<http_response> handle_proxy(const api_context& ctx, const caller& who, const route& r,
                                            http_request& req) {
  // The start of the latency a forwarded tools/call's audit record shows.
  const auto arrived = std::chrono::steady_clock::now();
  // The settings this request keeps to its end, streamed answers included.
  const std::shared_ptr<const live_settings> live = ctx.settings();
  const proxy_options& settings = live->proxy;
  // 1. The installation belongs to the caller (404 otherwise, as the REST API).
  // A cache hit (every request after the first) needs no coroutine of its own.
  bool ok = true;
  bool cached = false;
  auto entry = cached_installation_of(ctx, who, r.installation_id, cached);
  if (!cached) {
    auto finding = find_installation(ctx, who, r.installation_id, ok);
    entry = co_await std::move(finding);
  }
  if (!ok) co_return storage_unavailable(errc::store_failure).to_response();
  if (!entry) co_return not_found().to_response();
  const registry::installation& inst = entry->inst;

  // 2. Disabled.
  if (!inst.is_enabled) co_return proxy_error(403, "Server is disabled");

  // 2b. Fairness, before any work: the installation's rate (429). (The
  //     gateway's memory is guarded where it grows: a large answer takes
  //     from the budget as it arrives; small ones never need it.)
  if (const auto wait = ctx.installation_limits->take(inst.id, settings.per_installation)) {
    metrics::count_shed("installation_rate");
    co_return too_many(*wait, "Rate limit exceeded for this installation");
  }

  // 3. The body: one JSON-RPC message or a batch (the size limit was applied
  //    while reading it: 413 from the HTTP server). GET and DELETE carry
  //    none; one that does is refused, never forwarded unchecked.
  if (req.method != "POST" && !req.body.empty()) {
    co_return proxy_error(400, "A " + std::string(req.method) + " request must not have a body");
  }
  std::optional<proxy::inspection> message;
  if (req.method == "POST") {
    auto inspected = proxy::inspect_jsonrpc(req.body);
    if (!inspected) co_return proxy_error(400, "Request body must be valid JSON");
    message = std::move(*inspected);
  }

  // 3b. The mirror headers (Mcp-Method, Mcp-Name) must say what the checked
  //     body says: an upstream may route on them. A batch has nothing for
  //     them to mirror, so they are not forwarded with one.
  const bool drop_mirror_headers = message && message->is_batch;
  if (message && !message->is_batch) {
    const proxy::message_info& m = message->messages.front();
    const std::string_view method_header = req.header(proxy::header_mcp_method);
    const std::string_view name_header = req.header(proxy::header_mcp_name);
    if (!method_header.empty() && (!m.method || method_header != *m.method)) {
      co_return proxy_error(400, "Mcp-Method header does not match the request body");
    }
    if (!name_header.empty() && m.method && *m.method == "tools/call" && (!m.tool_name || name_header != *m.tool_name)) {
      co_return proxy_error(400, "Mcp-Name header does not match the request body");
    }
  }

  // 4. The URL's static SSRF check; every resolved address is checked again
  //    at connect time, before any byte leaves.
  if (!entry->upstream) co_return proxy_error(400, "URL not allowed: " + entry->url_refusal);

  // 5. Tool approval: a refused tools/call never reaches the upstream.
  if (message) {
    const auto state_of = [&entry](std::string_view name) -> std::optional<std::string_view> {
      const auto state = entry->tool_state(name);
      if (!state || *state == tool_state_removed) return std::nullopt;
      return state;
    };
    auto outcome = proxy::apply_tool_approval(*message, state_of);
    if (!outcome.forward) {
      auto recording = record_blocked(ctx, who, inst.id, outcome.blocked);
      co_await std::move(recording);
      if (outcome.answer.empty()) co_return http_response::empty(202);  // notifications only
      co_return http_response::json(200, std::move(outcome.answer));
    }
  }
  const bool lists_tools = requests_method(message, "tools/list");
  // The tools/call messages going upstream, each audited once the upstream
  // answers (or fails to).
  const std::vector<std::string> calls = tool_calls_of(message);

  // 6. A usable upstream credential. An OAuth access token that has expired
  //    is refreshed first; one past half its lifetime is refreshed in the
  //    background while it is still used.
  const asio::any_io_executor here = co_await asio::this_coro::executor;
  const bool oauth = inst.auth_type == "oauth";
  if (oauth && entry->credential.empty()) {
    co_return needs_reauth(ctx, inst, message, "The installation has not been authorized yet");
  }
  if (oauth && inst.needs_reauth) {
    co_return needs_reauth(ctx, inst, message, "The authorization server no longer accepts the stored grant");
  }
  if (inst.auth_type == "api_key" && entry->credential.empty()) {
    co_return needs_reauth(ctx, inst, message, "No API key is stored for this installation");
  }
  if (!entry->credential.empty() && entry->credential_line.empty()) {
    co_return needs_reauth(ctx, inst, message, "The stored credential cannot be sent in an HTTP header");
  }
  std::string refreshed;  // a newer access token than the cached entry's
  if (oauth && inst.token_expires_at) {
    const auto now = std::chrono::system_clock::now();
    if (now >= *inst.token_expires_at) {
      auto refreshing = ctx.refresher->refresh(ctx, inst.id, entry->credential);
      auto outcome = co_await std::move(refreshing);
      if (outcome.status == refresh_status::rejected) {
        co_return needs_reauth(ctx, inst, message, "The authorization server refused to refresh the access token");
      }
      if (outcome.status == refresh_status::failed) {
        metrics::count_upstream_error(inst.id, "refresh");
        co_return proxy_error(502, "Could not refresh the upstream access token");
      }
      refreshed = std::move(outcome.access_token);
    } else if (inst.token_issued_at && now >= *inst.token_issued_at + (*inst.token_expires_at - *inst.token_issued_at) / 2) {
      ctx.refresher->refresh_in_background(ctx, inst.id, entry->credential, here);
    }
  }

  // Every request in flight, and every stream until it ends, holds a slot
  // of its installation's and of the gateway's.
  stream_slots::refusal full = stream_slots::refusal::installation_full;
  auto slot = ctx.streams->acquire(inst.id, settings.max_streams_per_installation, settings.max_upstream_requests, &full);
  if (!slot && full == stream_slots::refusal::all_full) {
    metrics::count_shed("upstream_requests");
    co_return overloaded_answer();
  }
  if (!slot) co_return proxy_error(429, "Too many concurrent requests for this installation");

  std::string fields;
  fields.reserve(256);
  for (const auto& [name, value] : req.headers) {
    // A line break in a value (an obs-fold the parser let through) would
    // start a header of the agent's choosing upstream: such a field is dropped.
    if (!forwarded(name) || value.find_first_of("\r\n") != std::string::npos) continue;
    if (drop_mirror_headers && (iequals(name, proxy::header_mcp_method) || iequals(name, proxy::header_mcp_name))) {
      continue;
    }
    fields.append(name).append(": ").append(value).append("\r\n");
  }
  // An OAuth request may be sent twice (an upstream 401, a refresh, one
  // replay): its body is kept for that.
  const std::string replay_body = oauth ? req.body : std::string();
  const std::string replay_fields = oauth ? fields : std::string();
  const net::exchange_options options{settings.first_byte_timeout, settings.stream_idle};
  std::shared_ptr<net::upstream_exchange> exchange;
  for (bool replay = false;; replay = true) {
    const std::string& credential = refreshed.empty() ? entry->credential : refreshed;
    std::string credential_header = refreshed.empty() ? entry->credential_line : credential_line(*entry, refreshed);
    if (!credential.empty() && credential_header.empty()) {
      co_return needs_reauth(ctx, inst, message, "The access token cannot be sent in an HTTP header");
    }
    net::upstream_exchange::raw_request upstream_request;
    upstream_request.method = req.method == "GET" ? "GET" : req.method == "DELETE" ? "DELETE" : "POST";
    upstream_request.fields = replay ? replay_fields : std::move(fields);
    upstream_request.fields.append(credential_header);
    upstream_request.body = replay ? replay_body : std::move(req.body);

    auto started = net::upstream_exchange::start(ctx.upstreams.for_executor(here), *entry->upstream,
                                                 std::move(upstream_request), options);
    auto [ec, detail, opened] = co_await std::move(started);
    if (ec) {
      if (ec == net::client_error::ssrf_denied || ec == net::client_error::invalid_url) {
        co_return proxy_error(400, "URL not allowed: " + detail);
      }
      static summarised_log upstream_failed;
      upstream_failed("installation {}: upstream {}: {}", inst.id, ec.message(), detail);
      const bool timed_out = ec == net::client_error::timeout;
      if (!calls.empty()) {
        record_forwarded(ctx, here, who, inst.id, calls, arrived, "error", timed_out ? "timeout" : "unreachable");
      }
      metrics::count_upstream_error(inst.id, timed_out ? "timeout" : "unreachable");
      if (timed_out) co_return proxy_error(504, "Upstream MCP server timed out");
      co_return proxy_error(502, "Upstream MCP server unreachable");
    }
    exchange = std::move(opened);
    if (exchange->head().status != 401) break;
    exchange->cancel();
    if (!oauth) {
      co_return needs_reauth(ctx, inst, message,
                             inst.auth_type == "none" ? "The upstream MCP server requires authentication"
                                                      : "The upstream MCP server rejected the stored credential");
    }
    if (replay) {
      // Refused again with a token just refreshed: the grant is no good.
      const auto mark = [id = inst.id](registry::store& s) { return s.set_needs_reauth(id, true); };
      auto marked = co_await ctx.db.run(mark);
      if (!marked) spdlog::error("installation {}: marking needs_reauth failed: {}", inst.id, marked.error().message());
      ctx.cache->forget_installation(inst.id);
      spdlog::warn("installation {}: the upstream refused a freshly refreshed token: needs re-authentication", inst.id);
      co_return needs_reauth(ctx, inst, message, "The upstream MCP server rejected the access token");
    }
    auto refreshing = ctx.refresher->refresh(ctx, inst.id, credential);
    auto outcome = co_await std::move(refreshing);
    if (outcome.status == refresh_status::rejected) {
      co_return needs_reauth(ctx, inst, message, "The authorization server refused to refresh the access token");
    }
    if (outcome.status == refresh_status::failed) {
      metrics::count_upstream_error(inst.id, "refresh");
      co_return proxy_error(502, "Could not refresh the upstream access token");
    }
    refreshed = std::move(outcome.access_token);
  }

  const auto& head = exchange->head();
  if (!calls.empty()) record_forwarded(ctx, here, who, inst.id, calls, arrived, "upstream_status", head.status);
  http_response out;
  out.status = head.status;
  const auto content_type = head.header("Content-Type");
  if (!content_type.empty()) out.headers.emplace_back("Content-Type", std::string(content_type));
  const auto session = head.header(proxy::header_mcp_session_id);
  if (!session.empty()) out.headers.emplace_back(std::string(proxy::header_mcp_session_id), std::string(session));

  // What the relay tells the proxy: the upstream's tool list changed, or it
  // listed a tool the registry has not seen: a sync, in the background.
  const auto sync_soon = [&ctx, entry, here] { sync_tools_in_background(ctx, entry, here); };
  if (is_event_stream(content_type) && !exchange->body_done()) {
    out.headers.emplace_back("Cache-Control", "no-cache");
    out.headers.emplace_back("X-Accel-Buffering", "no");
    relay_hooks hooks;
    hooks.list_changed = sync_soon;
    hooks.unseen_tool = sync_soon;
    hooks.hidden = [live, entry](std::string_view name) { return hidden_in_list(live->proxy, *entry, name); };
    hooks.known = [entry](std::string_view name) { return known_tool(*entry, name); };
    hooks.uninspectable = uninspectable_message(req.method == "GET" ? std::nullopt : message);
    // A GET stream may replay a tools/list answer (Last-Event-ID): its events
    // are always looked at; a POST's only when it asked for tools/list.
    if (req.method == "GET") {
      out.stream = make_listen_body(exchange, std::move(*slot), std::move(hooks), here, *ctx.listeners, inst.id);
    } else {
      out.stream = make_relay_body(exchange, std::move(*slot), std::move(hooks), lists_tools);
    }
    co_return out;
  }

  // Anything else is small by nature (a JSON-RPC answer): read it whole.
  // What a large one holds beyond unbudgeted_bytes is taken from the
  // gateway's memory budget until it is written (the share is made only
  // then: a small answer costs nothing here).
  std::shared_ptr<budget::share> held;
  const auto hold = [&](std::size_t bytes) {
    if (ctx.memory == nullptr || budgeted(bytes) == 0) return true;
    if (!held) held = std::make_shared<budget::share>(*ctx.memory);
    return held->grow_to(budgeted(bytes));
  };
  if (const auto length = declared_length(head)) {
    if (!hold(*length)) {
      exchange->cancel();
      metrics::count_shed("memory");
      co_return overloaded_answer();
    }
    if (*length <= settings.max_response_bytes) out.body.reserve(*length);  // one allocation, no doubling
  }
  for (;;) {
    auto next = exchange->read_some();
    const auto [piece_ec, bytes] = co_await std::move(next);
    if (piece_ec) {
      static summarised_log answer_broke_off;
      answer_broke_off("installation {}: upstream answer broke off: {}", inst.id, piece_ec.message());
      const bool timed_out = piece_ec == net::client_error::timeout;
      metrics::count_upstream_error(inst.id, timed_out ? "timeout" : "unreachable");
      if (timed_out) co_return proxy_error(504, "Upstream MCP server timed out");
      co_return proxy_error(502, "Upstream MCP server unreachable");
    }
    if (bytes.empty()) break;
    if (out.body.size() + bytes.size() > settings.max_response_bytes) {
      exchange->cancel();
      metrics::count_upstream_error(inst.id, "too_large");
      co_return proxy_error(502, "Upstream answer too large");
    }
    if (!hold(std::max(out.body.capacity(), out.body.size() + bytes.size()))) {
      exchange->cancel();
      metrics::count_shed("memory");
      co_return overloaded_answer();
    }
    out.body.append(bytes);
    if (exchange->body_done()) break;  // saves a round trip to learn it
  }
  if (lists_tools) {
    const auto hidden = [&settings, &entry](std::string_view name) { return hidden_in_list(settings, *entry, name); };
    auto answer = proxy::filter_tools_list(out.body, hidden);
    if (answer.verdict == proxy::tools_list_verdict::unreadable) {
      static summarised_log uninspectable;
      uninspectable("installation {}: an answer to tools/list is not valid JSON: not forwarded", inst.id);
      metrics::count_upstream_error(inst.id, "uninspectable");
      co_return jsonrpc_errors(message, uninspectable_error()).value_or(proxy_error(502, "Upstream answer could not be inspected"));
    }
    const bool unseen = std::any_of(answer.names.begin(), answer.names.end(),
                                    [&entry](const std::string& n) { return !known_tool(*entry, n); });
    if (unseen) sync_soon();
    if (answer.filtered) out.body = std::move(*answer.filtered);
  }
  out.keep = std::move(held);
  co_return out;
}

}  // namespace mcpgate::daemon::api
