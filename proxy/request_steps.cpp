// The steps before the upstream is asked: installation, admission,
// inspection, approval, slot; and the audit of forwarded calls.
#include "proxy/steps.hpp"

#include "common/mcp_names.hpp"
#include "common/metrics.hpp"
#include "net/api_error.hpp"
#include "proxy/answers.hpp"
#include "proxy/approval.hpp"
#include "proxy/era.hpp"
#include "registry/audit.hpp"

#include <boost/json/parse.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace mcpgate::proxy {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

bool requests_method(const std::optional<inspection>& message, std::string_view method) {
  if (!message) return false;
  return std::any_of(message->messages.begin(), message->messages.end(), [method](const message_info& m) {
    return m.kind == message_kind::request && m.method && *m.method == method;
  });
}

// The tool names of the tools/call messages in a body (requests and
// notifications alike, as the approval filter treats them); empty, and
// nothing allocated, for a body without one.
std::vector<std::string> tool_calls_of(const std::optional<inspection>& message) {
  std::vector<std::string> names;
  if (!message) return names;
  for (const auto& m : message->messages) {
    if (m.method && *m.method == method_tools_call) names.push_back(m.tool_name.value_or(""));
  }
  return names;
}

// A modern subscriptions/listen request that asked for tool list changes:
// its id (JSON text), which the gateway's notices name until the upstream's
// acknowledgement names the subscription. Parsed whole: a rare request.
std::optional<std::string> tools_subscription(const proxied_call& call) {
  if (!call.modern || !call.message || call.message->is_batch) return std::nullopt;
  const message_info& m = call.message->messages.front();
  if (m.kind != message_kind::request || m.method != method_subscriptions_listen) return std::nullopt;
  boost::system::error_code ec;
  const boost::json::value body = boost::json::parse(call.req.body, ec);
  if (ec) return std::nullopt;
  const auto* params = body.as_object().if_contains("params");
  const auto* filter =
      params != nullptr && params->is_object() ? params->as_object().if_contains("notifications") : nullptr;
  const auto* wanted =
      filter != nullptr && filter->is_object() ? filter->as_object().if_contains("toolsListChanged") : nullptr;
  if (wanted == nullptr || !wanted->is_bool() || !wanted->as_bool()) return std::nullopt;
  return jsonrpc_id_text(m);
}

// The audit records of refused tools/call messages, stored before the
// agent is answered.
asio::awaitable<void> record_blocked(const proxied_call& call, const std::vector<blocked_call>& blocked) {
  const auto now = std::chrono::system_clock::now();
  std::vector<registry::audit_event> events;
  const bool audited = call.settings().audit_calls != call_audit::off;
  for (const auto& b : blocked) {
    metrics::count_tool_call("blocked", b.state);
    spdlog::info("installation {}: tools/call of {} ({}) blocked for user {}", call.inst().id, b.tool_name, b.state,
                 call.who.user_id);
    if (!audited) continue;
    events.push_back(registry::make_audit_event(call.who.user_id, call.who.environment_id, call.inst().id,
                                                registry::audit_tool_call_blocked, json::object{{"state", b.state}},
                                                now, b.tool_name));
  }
  if (events.empty()) co_return;
  const auto insert = [&events](registry::store& s) -> result<void> {
    for (const auto& e : events) {
      if (auto kept = s.insert_audit_event(e); !kept) return kept;
    }
    return {};
  };
  auto kept = co_await call.ctx.db.run(insert);
  if (!kept) {
    spdlog::error("installation {}: audit of a blocked call not stored: {}", call.inst().id, kept.error().message());
  }
}

}  // namespace

asio::awaitable<step_result> find_installation_step(proxied_call& call, const std::string& id) {
  bool ok = true;
  bool cached = false;
  call.entry = cached_installation_of(call.ctx, call.who, id, cached);
  if (!cached) {
    auto finding = find_installation(call.ctx, call.who, id, ok);
    call.entry = co_await std::move(finding);
  }
  if (!ok) co_return net::storage_unavailable(errc::store_failure).to_response();
  if (!call.entry) co_return net::not_found().to_response();
  co_return std::nullopt;
}

step_result admit_installation(proxied_call& call) {
  if (!call.inst().is_enabled) return proxy_error(403, "Server is disabled");
  // Fairness, before any work. (The gateway's memory is guarded where it
  // grows: a large answer takes from the budget as it arrives.)
  if (const auto wait = call.ctx.installation_limits->take(call.inst().id, call.settings().per_installation)) {
    metrics::count_shed("installation_rate");
    return too_many(*wait, "Rate limit exceeded for this installation");
  }
  return std::nullopt;
}

step_result inspect_request(proxied_call& call) {
  // The size limit was applied while reading (413 from the HTTP server).
  // GET and DELETE carry no body; one that does is refused, never
  // forwarded unchecked.
  if (call.req.method != "POST" && !call.req.body.empty()) {
    return proxy_error(400, "A " + std::string(call.req.method) + " request must not have a body");
  }
  if (call.req.method == "POST") {
    auto inspected = inspect_jsonrpc(call.req.body);
    if (!inspected) return proxy_error(400, "Request body must be valid JSON");
    call.message = std::move(*inspected);
  }
  if (call.message) {
    const protocol_headers headers{call.req.header(header_mcp_protocol_version), call.req.header(header_mcp_method),
                                   call.req.header(header_mcp_name)};
    era_check seen = check_protocol(*call.message, headers, call.inst().protocol_version.value_or(""));
    if (seen.refusal) return net::http_response::json(seen.refusal->status, std::move(seen.refusal->body));
    call.modern = seen.era == protocol_era::modern;
    call.subscription = tools_subscription(call);
  }
  // The URL's static SSRF check; every resolved address is checked again at
  // connect time, before any byte leaves.
  if (!call.entry->upstream) return proxy_error(400, "URL not allowed: " + call.entry->url_refusal);
  call.lists_tools = requests_method(call.message, method_tools_list);
  return std::nullopt;
}

asio::awaitable<step_result> approve(proxied_call& call) {
  if (!call.message) co_return std::nullopt;
  const auto& entry = *call.entry;
  const auto state_of = [&entry](std::string_view name) -> std::optional<std::string_view> {
    const auto state = entry.tool_state(name);
    if (!state || *state == tool_state_removed) return std::nullopt;
    return state;
  };
  auto outcome =
      apply_tool_approval(*call.message, state_of, call.modern ? protocol_era::modern : protocol_era::legacy);
  if (outcome.forward) {
    call.calls = tool_calls_of(call.message);
    co_return std::nullopt;
  }
  auto recording = record_blocked(call, outcome.blocked);
  co_await std::move(recording);
  if (outcome.answer.empty()) co_return net::http_response::empty(202);  // notifications only
  co_return net::http_response::json(200, std::move(outcome.answer));
}

step_result take_slot(proxied_call& call) {
  // Every request in flight, and every stream until it ends, holds a slot
  // of its installation's and of the gateway's.
  stream_slots::refusal full = stream_slots::refusal::installation_full;
  const auto& settings = call.settings();
  auto taken = call.ctx.slots->acquire(call.inst().id, settings.max_streams_per_installation,
                                       settings.max_upstream_requests, &full);
  if (taken) {
    call.slot.emplace(std::move(*taken));
    return std::nullopt;
  }
  if (full == stream_slots::refusal::all_full) {
    metrics::count_shed("upstream_requests");
    return overloaded_answer();
  }
  return proxy_error(429, "Too many concurrent requests for this installation");
}

void record_forwarded(const proxied_call& call, unsigned upstream_status, std::string_view error) {
  if (call.calls.empty()) return;
  for (std::size_t i = 0; i < call.calls.size(); ++i) {
    metrics::count_tool_call("forwarded", "approved");  // only approved tools are forwarded
  }
  if (!call.ctx.forwarded_audit || call.settings().audit_calls != call_audit::all) return;
  registry::forwarded_call record;
  record.user_id = call.who.user_id;
  record.environment_id = call.who.environment_id;
  record.when = std::chrono::system_clock::now();
  record.latency_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - call.arrived).count();
  record.upstream_status = upstream_status;
  record.error = error;
  record.installation_id = call.inst().id;
  for (const auto& name : call.calls) {
    record.tool_name = name;
    call.ctx.forwarded_audit->add(record, call.here);
  }
}

}  // namespace mcpgate::proxy
