// How an upstream's text/event-stream answer reaches the agent (spec:
// proxy.md "Forwarding" and "Tool approval"):
//
//   relay_body   a POST's stream, relayed piece by piece as it arrives. With
//                `filter` set (the request held a tools/list), it is cut into
//                events instead and an event answering tools/list loses the
//                hidden tools.
//   listen_body  a GET stream (server-initiated messages, or a replay after
//                Last-Event-ID), relayed event by event and filtered like a
//                tools/list answer; the gateway can slip its own
//                notifications/tools/list_changed in between two events.
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

// A body for an upstream SSE answer to a POST. `slot` is held while the
// stream is open.
std::shared_ptr<net::body_source> make_relay_body(std::shared_ptr<net::upstream_exchange> exchange,
                                                  stream_slots::slot slot, relay_hooks hooks, bool filter);

// A body for an upstream GET stream; registered with `streams` under the
// installation's id.
std::shared_ptr<net::body_source> make_listen_body(
    std::shared_ptr<net::upstream_exchange> exchange, stream_slots::slot slot, relay_hooks hooks,
    const boost::asio::any_io_executor& shard, open_streams& streams, const std::string& installation_id);

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
