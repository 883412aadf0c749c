// The last step: the upstream's answer for the agent.
#include "proxy/steps.hpp"

#include "common/log.hpp"
#include "common/mcp_names.hpp"
#include "common/metrics.hpp"
#include "common/text.hpp"
#include "net/upstream_exchange.hpp"
#include "proxy/answers.hpp"
#include "proxy/relay.hpp"
#include "proxy/tool_sync.hpp"
#include "proxy/tools_filter.hpp"

#include <algorithm>
#include <charconv>

namespace mcpgate::proxy {
namespace {

namespace asio = boost::asio;

bool is_event_stream(std::string_view content_type) {
  constexpr std::string_view sse = "text/event-stream";
  return content_type.size() >= sse.size() && net::iequals(content_type.substr(0, sse.size()), sse);
}

// The tools/list view of the registry: a tool it has never seen counts as
// needs_approval.
bool hidden_in_list(const options& settings, const cached_installation& entry, std::string_view name) {
  const std::string_view state = entry.tool_state(name).value_or(registry::approval_needs_approval);
  const auto& hide = settings.tools_list_hide;
  return std::find(hide.begin(), hide.end(), state) != hide.end();
}

// Known: listed by the last sync (a removed tool listed again has come back).
bool known_tool(const cached_installation& entry, std::string_view name) {
  const auto state = entry.tool_state(name);
  return state && *state != tool_state_removed;
}

// The answer's Content-Length, when it sends a valid one.
std::optional<std::size_t> declared_length(const net::upstream_exchange::response_head& head) {
  const std::string_view text = head.header("Content-Length");
  std::size_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return n;
}

// The answer's head: status, Content-Type and the session id.
net::http_response answer_head(const net::upstream_exchange::response_head& head) {
  net::http_response out;
  out.status = head.status;
  const auto content_type = head.header("Content-Type");
  if (!content_type.empty()) out.headers.emplace_back("Content-Type", std::string(content_type));
  const auto session = head.header(header_mcp_session_id);
  if (!session.empty()) out.headers.emplace_back(std::string(header_mcp_session_id), std::string(session));
  return out;
}

// A modern request's filtered list may be cached only by its agent, and
// not for long (spec: protocol-2026.md, step 5).
std::optional<std::uint64_t> private_ttl(const proxied_call& call) {
  if (!call.modern) return std::nullopt;
  return static_cast<std::uint64_t>(call.settings().filtered_list_ttl.count());
}

// What the relay tells the proxy: the upstream's tool list changed, or it
// listed a tool the registry has not seen: a sync, in the background.
std::function<void()> sync_soon(const proxied_call& call) {
  return [&ctx = call.ctx, entry = call.entry, here = call.here] { sync_tools_in_background(ctx, entry, here); };
}

// An answer that may not end soon, relayed piece by piece: an event stream,
// or an answer of unknown length (chunked JSON, such as a subscriptions/listen
// stream). A GET stream may replay a tools/list answer (Last-Event-ID): its
// events are always looked at; a POST's only when it asked for tools/list;
// a subscription stream that asked for tool list changes gets the gateway's
// notices too.
net::http_response relay_stream(proxied_call& call, net::http_response out, bool sse, std::string prefix = {}) {
  out.headers.emplace_back("Cache-Control", "no-cache");
  out.headers.emplace_back("X-Accel-Buffering", "no");
  relay_hooks hooks;
  hooks.list_changed = sync_soon(call);
  hooks.unseen_tool = hooks.list_changed;
  hooks.hidden = [live = call.live, entry = call.entry](std::string_view name) {
    return hidden_in_list(live->proxy, *entry, name);
  };
  hooks.known = [entry = call.entry](std::string_view name) { return known_tool(*entry, name); };
  const bool get = call.req.method == "GET";
  hooks.uninspectable = uninspectable_message(get ? std::nullopt : call.message);
  hooks.private_ttl_ms = private_ttl(call);
  if (get && sse) {
    out.stream = make_listen_body(call.exchange, std::move(*call.slot), std::move(hooks), call.here, *call.ctx.streams,
                                  call.inst().id);
  } else if (call.subscription) {
    out.stream = make_listen_body(call.exchange, std::move(*call.slot), std::move(hooks), call.here, *call.ctx.streams,
                                  call.inst().id, listen_framing{!sse, call.subscription}, prefix);
  } else {
    // Only an event stream is cut into events (a chunked tools/list answer
    // that is not one was read whole: see streamed()).
    out.stream = make_relay_body(call.exchange, std::move(*call.slot), std::move(hooks), sse && call.lists_tools,
                                 std::move(prefix));
  }
  return out;
}

// An answer whose length is not known in advance (chunked, or until the
// upstream closes) may never end: a subscriptions/listen stream as JSON
// lines. It is read until its first line is complete, then relayed as it
// arrives; one that ends first is an ordinary answer, and one that breaks
// first gets the gateway's 502 as before. A tools/list answer is read whole
// all the same (the filter needs all of it, within max_response_bytes).
bool may_stream(const proxied_call& call) {
  return !call.exchange->body_done() && !declared_length(call.exchange->head()) && !call.lists_tools;
}

// The upstream broke off, answered too much, or the budget ran out: the
// answer the agent gets instead (the exchange cancelled).
net::http_response failed_read(const proxied_call& call, const boost::system::error_code& ec) {
  static summarised_log answer_broke_off;
  answer_broke_off("installation {}: upstream answer broke off: {}", call.inst().id, ec.message());
  const bool timed_out = ec == net::client_error::timeout;
  metrics::count_upstream_error(call.inst().id, timed_out ? "timeout" : "unreachable");
  if (timed_out) return proxy_error(504, "Upstream MCP server timed out");
  return proxy_error(502, "Upstream MCP server unreachable");
}

// Anything but an event stream is small by nature (a JSON-RPC answer): read
// whole (or its first line: see may_stream()). What a large one holds beyond unbudgeted_bytes is taken from the
// gateway's memory budget until it is written (the share is made only then:
// a small answer costs nothing here). nullopt: read into out.body. With
// `until_line`, reading stops at the first piece that completes a line
// (`stopped_at_line`; the rest is streamed: see may_stream()).
asio::awaitable<step_result> read_whole(proxied_call& call, net::http_response& out, bool until_line,
                                        bool& stopped_at_line) {
  const auto& settings = call.settings();
  auto& exchange = *call.exchange;
  std::shared_ptr<budget::share> held;
  const auto hold = [&](std::size_t bytes) {
    if (call.ctx.memory == nullptr || budgeted(bytes) == 0) return true;
    if (!held) held = std::make_shared<budget::share>(*call.ctx.memory);
    return held->grow_to(budgeted(bytes));
  };
  const auto shed = [&]() -> step_result {
    exchange.cancel();
    metrics::count_shed("memory");
    return overloaded_answer();
  };
  if (const auto length = declared_length(exchange.head())) {
    if (!hold(*length)) co_return shed();
    if (*length <= settings.max_response_bytes) out.body.reserve(*length);  // one allocation, no doubling
  }
  for (;;) {
    auto next = exchange.read_some();
    const auto [ec, bytes] = co_await std::move(next);
    if (ec) co_return failed_read(call, ec);
    if (bytes.empty()) break;
    if (out.body.size() + bytes.size() > settings.max_response_bytes) {
      exchange.cancel();
      metrics::count_upstream_error(call.inst().id, "too_large");
      co_return proxy_error(502, "Upstream answer too large");
    }
    if (!hold(std::max(out.body.capacity(), out.body.size() + bytes.size()))) co_return shed();
    out.body.append(bytes);
    if (exchange.body_done()) break;  // saves a round trip to learn it
    if (until_line && bytes.find('\n') != std::string_view::npos) {
      stopped_at_line = true;
      break;
    }
  }
  out.keep = std::move(held);
  co_return std::nullopt;
}

// A whole answer to tools/list loses the tools the agent must not see; one
// that cannot be read is never forwarded (fail closed).
step_result filter_tools_answer(const proxied_call& call, net::http_response& out) {
  const auto& settings = call.settings();
  const auto& entry = call.entry;
  const auto hidden = [&settings, &entry](std::string_view name) { return hidden_in_list(settings, *entry, name); };
  auto answer = filter_tools_list(out.body, hidden, private_ttl(call));
  if (answer.verdict == tools_list_verdict::unreadable) {
    static summarised_log uninspectable;
    uninspectable("installation {}: an answer to tools/list is not valid JSON: not forwarded", call.inst().id);
    metrics::count_upstream_error(call.inst().id, "uninspectable");
    return jsonrpc_errors(call.message, uninspectable_error())
        .value_or(proxy_error(502, "Upstream answer could not be inspected"));
  }
  const bool unseen = std::any_of(answer.names.begin(), answer.names.end(), [&entry](const std::string& n) {
    return !known_tool(*entry, n);
  });
  if (unseen) sync_soon(call)();
  if (answer.filtered) out.body = std::move(*answer.filtered);
  return std::nullopt;
}

}  // namespace

asio::awaitable<net::http_response> answer(proxied_call& call) {
  net::http_response out = answer_head(call.exchange->head());
  if (is_event_stream(call.exchange->head().header("Content-Type")) && !call.exchange->body_done()) {
    co_return relay_stream(call, std::move(out), true);
  }
  bool stream = false;
  auto reading = read_whole(call, out, may_stream(call), stream);
  if (auto failed = co_await std::move(reading)) co_return std::move(*failed);
  if (stream) {
    std::string first = std::move(out.body);
    out.body.clear();
    co_return relay_stream(call, std::move(out), false, std::move(first));
  }
  if (call.lists_tools) {
    if (auto refused = filter_tools_answer(call, out)) co_return std::move(*refused);
  }
  co_return out;
}

}  // namespace mcpgate::proxy
