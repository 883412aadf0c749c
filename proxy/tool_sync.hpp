// The tool sync: the gateway lists an installation's tools upstream (its own
// MCP client, proxy/mcp_client.hpp) with the installation's credential and
// applies the answer to the registry (spec: management-api.md "Refresh
// rules"). Install and POST .../tools/refresh run it and wait; the proxy
// starts it in the background when an upstream announces a new tool list or
// lists a tool the registry has not seen.
//
// Thread-safety: sync_tools_now runs on a shard (it uses that shard's
// upstream pool); running_syncs may be used from any thread.
#pragma once

#include "proxy/context.hpp"
#include "proxy/installation_cache.hpp"
#include "registry/types.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

namespace mcpgate::proxy {

// Installations whose tools are being synced in the background, so that a
// burst of triggers starts one sync. Thread-safety: any thread.
class running_syncs {
 public:
  // false when one is running for `installation_id` already.
  bool try_start(const std::string& installation_id) {
    std::lock_guard lock(mu_);
    return running_.insert(installation_id).second;
  }
  void finish(const std::string& installation_id) {
    std::lock_guard lock(mu_);
    running_.erase(installation_id);
  }

 private:
  std::mutex mu_;
  std::unordered_set<std::string> running_;  // guarded by mu_
};

struct sync_outcome {
  bool ok = false;
  std::string detail;                 // when !ok: what failed (for logs; never holds a credential)
  std::vector<registry::tool> tools;  // when ok: every tool afterwards, removed ones included
  std::string protocol_version;       // when ok: the revision the upstream spoke, now recorded
};

// Lists the upstream's tools with the installation's credential, starting
// in the era its recorded protocol_version names (probing when there is
// none), and applies the answer to the registry with the revision it came
// in; the cache forgets the installation so the next request sees the new
// states, tool_count and protocol_version. A failure changes nothing.
// REQUIRES: entry.upstream is set; runs on a shard (its upstream pool).
boost::asio::awaitable<sync_outcome> sync_tools_now(const context& ctx,
                                                    std::shared_ptr<const cached_installation> entry);

// Starts sync_tools_now on `shard` without waiting for it, unless one is
// already running for this installation (the proxy path may ask many times
// in a row). Failures are logged.
void sync_tools_in_background(const context& ctx, std::shared_ptr<const cached_installation> entry,
                              const boost::asio::any_io_executor& shard);

}  // namespace mcpgate::proxy
