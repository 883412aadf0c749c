// The steps that talk to the upstream: the credential (with its refresh)
// and the exchange (with its one replay after a 401).
#include "proxy/steps.hpp"

#include "common/log.hpp"
#include "common/mcp_names.hpp"
#include "common/metrics.hpp"
#include "common/text.hpp"
#include "net/upstream_exchange.hpp"
#include "oauth/metadata.hpp"
#include "proxy/answers.hpp"
#include "proxy/token_refresher.hpp"

#include <spdlog/spdlog.h>

#include <array>

namespace mcpgate::proxy {
namespace {

namespace asio = boost::asio;

// Request headers that reach the upstream (plus Mcp-Param-*); everything
// else the agent sent, its Authorization and cookies first, stays here.
constexpr std::array forwarded_headers{
    std::string_view("Content-Type"),
    std::string_view("Accept"),
    header_mcp_session_id,
    header_mcp_protocol_version,
    header_last_event_id,
    header_mcp_method,
    header_mcp_name,
};

bool forwarded(std::string_view name) {
  for (const auto allowed : forwarded_headers) {
    if (net::iequals(name, allowed)) return true;
  }
  const auto prefix = header_mcp_param_prefix;
  return name.size() > prefix.size() && net::iequals(name.substr(0, prefix.size()), prefix);
}

// The agent's header lines that go upstream, as "Name: value\r\n" text.
std::string forwarded_fields(const proxied_call& call) {
  // A batch has nothing for the mirror headers to mirror: not forwarded.
  const bool drop_mirror_headers = call.message && call.message->is_batch;
  std::string fields;
  fields.reserve(256);
  for (const auto& [name, value] : call.req.headers) {
    // A line break in a value (an obs-fold the parser let through) would
    // start a header of the agent's choosing upstream: such a field is dropped.
    if (!forwarded(name) || value.find_first_of("\r\n") != std::string::npos) continue;
    if (drop_mirror_headers && (net::iequals(name, header_mcp_method) || net::iequals(name, header_mcp_name))) {
      continue;
    }
    fields.append(name).append(": ").append(value).append("\r\n");
  }
  return fields;
}

// The scope a 403's `Bearer error="insufficient_scope"` challenge asks for
// (RFC 6750 section 3.1), "" when it names none; nullopt when the 403 is no
// such challenge (it then reaches the agent as the upstream sent it,
// without the WWW-Authenticate field, which is never passed on).
std::optional<std::string> insufficient_scope_challenge(const net::upstream_exchange::response_head& head) {
  for (const auto& [name, value] : head.fields) {
    if (!net::iequals(name, "WWW-Authenticate")) continue;
    if (auto challenge = oauth::parse_bearer_challenge(value); challenge && challenge->error == "insufficient_scope") {
      return challenge->scope;
    }
  }
  return std::nullopt;
}

step_result reauth(const proxied_call& call, const std::string& reason) {
  return needs_reauth(call.ctx.public_url, call.inst(), call.message, reason);
}

// Refreshes the installation's access token, `stale` being the one found
// wanting; on success call.refreshed holds the new one. Written once for
// both occasions: an expired token, and an upstream 401.
asio::awaitable<step_result> refresh_credential(proxied_call& call, const std::string& stale) {
  auto refreshing = call.ctx.refresher->refresh(call.ctx, call.inst().id, stale);
  auto outcome = co_await std::move(refreshing);
  if (outcome.status == refresh_status::rejected) {
    co_return reauth(call, "The authorization server refused to refresh the access token");
  }
  if (outcome.status == refresh_status::failed) {
    metrics::count_upstream_error(call.inst().id, "refresh");
    co_return proxy_error(502, "Could not refresh the upstream access token");
  }
  call.refreshed = std::move(outcome.access_token);
  co_return std::nullopt;
}

// What the exchange's failure to get an answer head becomes.
net::http_response unreachable(const proxied_call& call, const boost::system::error_code& ec,
                               const std::string& detail) {
  if (ec == net::client_error::ssrf_denied || ec == net::client_error::invalid_url) {
    return proxy_error(400, "URL not allowed: " + detail);
  }
  static summarised_log upstream_failed;
  upstream_failed("installation {}: upstream {}: {}", call.inst().id, ec.message(), detail);
  const bool timed_out = ec == net::client_error::timeout;
  record_forwarded(call, 0, timed_out ? "timeout" : "unreachable");
  metrics::count_upstream_error(call.inst().id, timed_out ? "timeout" : "unreachable");
  if (timed_out) return proxy_error(504, "Upstream MCP server timed out");
  return proxy_error(502, "Upstream MCP server unreachable");
}

// A second 401, with a token just refreshed: the grant is no good.
asio::awaitable<net::http_response> refused_twice(const proxied_call& call) {
  const auto mark = [id = call.inst().id](registry::store& s) {
    return s.set_needs_reauth(id, true, "The upstream MCP server rejected a freshly refreshed access token");
  };
  auto marked = co_await call.ctx.db.run(mark);
  if (!marked) {
    spdlog::error("installation {}: marking needs_reauth failed: {}", call.inst().id, marked.error().message());
  }
  call.ctx.cache->forget_installation(call.inst().id);
  spdlog::warn("installation {}: the upstream refused a freshly refreshed token: needs re-authentication",
               call.inst().id);
  co_return *reauth(call, "The upstream MCP server rejected the access token");
}

}  // namespace

asio::awaitable<step_result> ensure_credential(proxied_call& call) {
  const auto& entry = *call.entry;
  const auto& inst = entry.inst;
  const bool oauth = inst.auth_type == "oauth";
  if (oauth && entry.credential.empty()) co_return reauth(call, "The installation has not been authorized yet");
  if (oauth && inst.needs_reauth) {
    co_return reauth(call, inst.reauth_reason.empty() ? std::string(grant_refused_reason) : inst.reauth_reason);
  }
  if (inst.auth_type == "api_key" && entry.credential.empty()) {
    co_return reauth(call, "No API key is stored for this installation");
  }
  if (!entry.credential.empty() && entry.credential_line.empty()) {
    co_return reauth(call, "The stored credential cannot be sent in an HTTP header");
  }
  if (!oauth || !inst.token_expires_at) co_return std::nullopt;
  const auto now = std::chrono::system_clock::now();
  if (now >= *inst.token_expires_at) {
    // A grant without a refresh token ends with its access token.
    if (!inst.refreshable) co_return reauth(call, std::string(grant_expired_reason));
    auto refreshing = refresh_credential(call, entry.credential);
    co_return co_await std::move(refreshing);
  }
  if (inst.refreshable && inst.token_issued_at &&
      now >= *inst.token_issued_at + (*inst.token_expires_at - *inst.token_issued_at) / 2) {
    call.ctx.refresher->refresh_in_background(call.ctx, inst.id, entry.credential, call.here);
  }
  co_return std::nullopt;
}

asio::awaitable<step_result> exchange(proxied_call& call) {
  const auto& entry = *call.entry;
  const bool oauth = entry.inst.auth_type == "oauth";
  std::string fields = forwarded_fields(call);
  // An OAuth request may be sent twice (an upstream 401, a refresh, one
  // replay): its body is kept for that.
  const std::string replay_body = oauth ? call.req.body : std::string();
  const std::string replay_fields = oauth ? fields : std::string();
  const net::exchange_options options{call.settings().first_byte_timeout, call.settings().stream_idle};
  for (bool replay = false;; replay = true) {
    const std::string& credential = call.refreshed.empty() ? entry.credential : call.refreshed;
    // The cached line as it is (no copy per request), or one for a refreshed token.
    const std::string refreshed_line = call.refreshed.empty() ? std::string() : credential_line(entry, call.refreshed);
    const std::string_view credential_header = call.refreshed.empty() ? entry.credential_line : refreshed_line;
    if (!credential.empty() && credential_header.empty()) {
      co_return reauth(call, "The access token cannot be sent in an HTTP header");
    }
    net::upstream_exchange::raw_request upstream_request;
    upstream_request.method = call.req.method == "GET" ? "GET" : call.req.method == "DELETE" ? "DELETE" : "POST";
    upstream_request.fields = replay ? replay_fields : std::move(fields);
    upstream_request.fields.append(credential_header);
    upstream_request.body = replay ? replay_body : std::move(call.req.body);

    auto started = net::upstream_exchange::start(call.ctx.upstreams.for_executor(call.here), *entry.upstream,
                                                 std::move(upstream_request), options);
    auto [ec, detail, opened] = co_await std::move(started);
    if (ec) co_return unreachable(call, ec, detail);
    call.exchange = std::move(opened);
    if (oauth && call.exchange->head().status == 403) {
      if (auto wanted = insufficient_scope_challenge(call.exchange->head())) {
        // Scope step-up: the grant works, but not for this. The agent gets a
        // link to a flow for the wider scope; the grant stays as it is.
        call.exchange->cancel();
        record_forwarded(call, 403, "insufficient_scope");
        spdlog::info("installation {}: the upstream asks for a wider scope: {}", entry.inst.id, printable(*wanted));
        co_return insufficient_scope(call.ctx.public_url, entry.inst, call.message, printable(*wanted, 2048));
      }
    }
    if (call.exchange->head().status != 401) co_return std::nullopt;
    call.exchange->cancel();
    if (!oauth) {
      co_return reauth(call, entry.inst.auth_type == "none" ? "The upstream MCP server requires authentication"
                                                            : "The upstream MCP server rejected the stored credential");
    }
    if (replay) {
      auto marking = refused_twice(call);
      co_return co_await std::move(marking);
    }
    auto refreshing = refresh_credential(call, credential);
    if (auto refused = co_await std::move(refreshing)) co_return refused;
  }
}

}  // namespace mcpgate::proxy
