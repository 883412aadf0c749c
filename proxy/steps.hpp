// The proxied request as a chain of steps (spec: proxy.md "Forwarding";
// ../README.md "Architecture"). handle_proxy (proxy/route.cpp) runs them in
// this order:
//
//   find_installation   the caller's installation, from the cache or the store
//   admit_installation  enabled; within its rate limit
//   inspect_request     the JSON-RPC body, the mirror headers, the URL
//   approve             tool approval: a refused tools/call never goes upstream
//   ensure_credential   a usable credential; an expired OAuth token refreshed
//   take_slot           the installation's and the gateway's in-flight caps
//   exchange            the upstream exchange, with one replay after a 401
//   record_forwarded    the audit records and metrics of forwarded tools/calls
//   answer              the upstream's answer: streamed, or read and filtered
//
// Each step reads and fills the proxied_call and returns either nothing (the
// chain goes on) or the answer that ends it. A new capability (a protocol
// era, human approval) is a new step or a change inside one.
//
// Thread-safety: a proxied_call belongs to one request, on its connection's
// shard; the steps share only the context's services (each thread-safe).
#pragma once

#include "net/http_types.hpp"
#include "proxy/context.hpp"
#include "proxy/installation_cache.hpp"
#include "proxy/jsonrpc_inspector.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgate::net {
class upstream_exchange;
}

namespace mcpgate::proxy {

// One proxied request as it goes through the chain.
struct proxied_call {
  proxied_call(const context& services, const caller& by, net::http_request& request,
               boost::asio::any_io_executor shard)
      : ctx(services), who(by), req(request), here(std::move(shard)), live(services.settings()) {}

  // Constant for the call.
  const context& ctx;
  const caller& who;
  net::http_request& req;                   // the body moves upstream in `exchange`
  const boost::asio::any_io_executor here;  // the connection's shard
  // The start of the latency a forwarded tools/call's audit record shows.
  const std::chrono::steady_clock::time_point arrived = std::chrono::steady_clock::now();
  // The settings this request keeps to its end, streamed answers included.
  const std::shared_ptr<const live_settings> live;

  // Filled in by the steps, in chain order.
  std::shared_ptr<const cached_installation> entry;  // find_installation
  std::optional<inspection> message;                 // inspect_request: a POST's JSON-RPC body
  bool modern = false;                               // inspect_request: of protocol 2026-07-28 (proxy/era.hpp)
  // inspect_request: a modern subscriptions/listen that asked for tool list
  // changes: its id (JSON text), for the gateway's notices on the stream.
  std::optional<std::string> subscription;
  bool lists_tools = false;                          // inspect_request: the body asks for tools/list
  std::vector<std::string> calls;                    // approve: the tools/call names going upstream
  std::string refreshed;                             // ensure_credential: a newer token than entry's
  std::optional<stream_slots::slot> slot;            // take_slot
  std::shared_ptr<net::upstream_exchange> exchange;  // exchange: the answer's head is in

  const options& settings() const { return live->proxy; }
  const registry::installation& inst() const { return entry->inst; }
};

// nullopt: go on; an answer: send it and stop.
using step_result = std::optional<net::http_response>;

// 404 unless the caller has installation `id` (503 when the store fails).
// A cache hit completes without suspending.
boost::asio::awaitable<step_result> find_installation_step(proxied_call& call, const std::string& id);

// 403 for a disabled installation; 429 beyond the installation's rate.
step_result admit_installation(proxied_call& call);

// The body: a GET or DELETE carries none (400); a POST's must be JSON
// (400). Its protocol era (proxy/era.hpp): an unknown version 400/-32022; a
// modern request's headers per the 2026-07-28 rules (400/-32020), a legacy
// one's mirror headers (Mcp-Method, Mcp-Name) must say what the body says
// (400). The installation's URL must pass the static SSRF check (400).
step_result inspect_request(proxied_call& call);

// Tool approval (spec: proxy.md "Tool approval"): a body with a refused
// tools/call is answered here (each refusal audited) and never forwarded.
boost::asio::awaitable<step_result> approve(proxied_call& call);

// A usable upstream credential (needs_reauth answers otherwise). An OAuth
// token that has expired is refreshed first (single-flight, proxy/
// token_refresher.hpp); one past half its lifetime in the background.
boost::asio::awaitable<step_result> ensure_credential(proxied_call& call);

// A slot of the installation's (429 when full) and of the gateway's (503).
step_result take_slot(proxied_call& call);

// Sends the request upstream with the credential and waits for the answer's
// head. An OAuth installation's 401 refreshes the token and replays the
// request once; a second 401 marks it needs_reauth. Unreachable 502,
// timeout 504 (forwarded calls audited with the error).
boost::asio::awaitable<step_result> exchange(proxied_call& call);

// The tool_call_forwarded audit records and metrics of the body's
// tools/calls, without waiting for the store: the upstream's status, or 0
// and the `error` ("timeout", "unreachable"; static storage) when no
// answer came.
void record_forwarded(const proxied_call& call, unsigned upstream_status, std::string_view error = {});

// The upstream's answer for the agent: an event stream relayed as it comes
// (filtered when it may answer tools/list); anything else read whole within
// the caps, a tools/list answer filtered.
boost::asio::awaitable<net::http_response> answer(proxied_call& call);

}  // namespace mcpgate::proxy
