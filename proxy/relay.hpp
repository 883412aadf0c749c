// How an upstream's streamed answer reaches the agent (spec: proxy.md
// "Forwarding" and "Tool approval"; protocol-2026.md steps 3 and 6):
//
//   relay_body   a POST's stream, relayed piece by piece as it arrives. With
//                `filter` set (the request held a tools/list), it is cut into
//                events instead and an event answering tools/list loses the
//                hidden tools.
//   listen_body  a GET stream (server-initiated messages, or a replay after
//                Last-Event-ID), or a 2026-07-28 subscriptions/listen answer
//                (SSE, or JSON lines) that asked for tool list changes,
//                relayed message by message and filtered like a tools/list
//                answer; the gateway can slip its own
//                notifications/tools/list_changed in between two messages.
//
// Both watch for notifications/tools/list_changed from the upstream and
// call `list_changed` when they see it (a plain substring match: a false
// positive only costs a sync).
//
// open_streams keeps the GET streams open per installation, so an approval
// change can reach them from any shard.
//
// Thread-safety: a body runs on the shard of its connection (next(),
// cancel() and everything they call); open_streams may be used from any
// thread and posts to each stream's shard.
#pragma once

#include "net/http_types.hpp"
#include "proxy/installation_cache.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace mcpgate::net {
class upstream_exchange;
}

namespace mcpgate::proxy {

// What a relayed stream reports back to the proxy.
struct relay_hooks {
  std::function<void()> list_changed;  // the upstream announced a new tool list
  // A tools/list answer named a tool the registry does not have (filtered
  // streams only).
  std::function<void()> unseen_tool;
  // Filter mode: true for a tool the agent must not see.
  std::function<bool(std::string_view)> hidden;
  // Filter mode: true when the registry knows the tool.
  std::function<bool(std::string_view)> known;
  // Filter mode: the JSON-RPC message (text) sent in place of an event that
  // may answer tools/list but is not valid JSON (fail closed).
  std::string uninspectable;
  // Filter mode, for a request of protocol 2026-07-28: a filtered list
  // becomes private with at most this ttlMs (tools_filter.hpp).
  std::optional<std::uint64_t> private_ttl_ms;
};

// The SSE event the gateway sends on a GET stream after an approval change.
const std::string& list_changed_event();

class listen_body;

class open_streams {
 public:
  void add(const std::string& installation_id, const std::shared_ptr<listen_body>& stream);
  // Every GET stream open on the installation gets list_changed_event (at
  // the next event boundary). Streams that ended are forgotten.
  void tools_changed(const std::string& installation_id);

 private:
  std::mutex mu_;
  std::unordered_map<std::string, std::vector<std::weak_ptr<listen_body>>> streams_;  // guarded by mu_
};

// A body for an upstream's streamed answer to a POST. `slot` is held while
// the stream is open. `prefix`: the answer's bytes read before it was known
// to be a stream (they go first; only without `filter`).
std::shared_ptr<net::body_source> make_relay_body(std::shared_ptr<net::upstream_exchange> exchange,
                                                  stream_slots::slot slot, relay_hooks hooks, bool filter,
                                                  std::string prefix = {});

// How a listen stream frames its messages, and whose subscription it is.
struct listen_framing {
  bool lines = false;  // chunked JSON, one message per line; else SSE events
  // A 2026-07-28 subscriptions/listen stream that asked for tool list
  // changes: the id (JSON text) the gateway's notices carry in
  // _meta["io.modelcontextprotocol/subscriptionId"] until the upstream's
  // acknowledgement names another. nullopt: a GET stream (list_changed_event).
  std::optional<std::string> subscription_id;
};

// A body for an upstream GET stream or a modern subscription stream;
// registered with `streams` under the installation's id.
std::shared_ptr<net::body_source> make_listen_body(
    std::shared_ptr<net::upstream_exchange> exchange, stream_slots::slot slot, relay_hooks hooks,
    const boost::asio::any_io_executor& shard, open_streams& streams, const std::string& installation_id,
    const listen_framing& framing = {}, std::string_view prefix = {});

// Scans pieces of a stream for notifications/tools/list_changed, also when
// the text is cut between two pieces.
class list_changed_scanner {
 public:
  // True when the text ends in this piece (or straddles into it).
  bool feed(std::string_view piece);

 private:
  std::string tail_;  // the last bytes of the previous piece, shorter than the needle
};

}  // namespace mcpgate::proxy
