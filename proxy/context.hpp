// What the data path shares: the services a proxied request, the token
// refresher and the tool sync use, the reloadable settings they read, and
// the caller a request runs for.
//
// Thread-safety: `context` is built once by the composition root (daemon/
// serve.cpp) and then only read; each member says how it may be used from
// several shards. `caller` is per request. live_config may be read and
// replaced from any thread; a reader keeps the snapshot it loaded.
#pragma once

#include "auth/secret_box.hpp"
#include "common/budget.hpp"
#include "common/rate_limit.hpp"
#include "config/config.hpp"
#include "net/url_policy.hpp"
#include "registry/store_executor.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/execution_context.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mcpgate::net {
class upstream_pool;
}

namespace mcpgate::registry {
class audit_batch;
}

namespace mcpgate::proxy {

class installation_cache;  // proxy/installation_cache.hpp
class stream_slots;        // proxy/installation_cache.hpp
class open_streams;        // proxy/relay.hpp
class token_refresher;     // proxy/token_refresher.hpp
class running_syncs;       // proxy/tool_sync.hpp

// Which tools/call messages leave an audit record (config audit.forwarded_calls).
enum class call_audit { all, blocked_only, off };

// The proxy route's settings (from config: server.timeouts, server.limits,
// rate_limits, server.allowed_hosts/origins, proxy.tools_list_hide and
// proxy.filtered_list_ttl,
// audit.forwarded_calls).
struct options {
  std::chrono::milliseconds first_byte_timeout{180'000};
  std::chrono::milliseconds stream_idle{300'000};
  std::size_t max_streams_per_installation = 100;
  std::size_t max_upstream_requests = 4096;           // in flight across all installations
  std::size_t max_response_bytes = 16 * 1024 * 1024;  // a non-streamed upstream answer
  rate per_installation{100, 200};                    // proxied requests to one installation
  // Lower-case Host values and origins the proxy accepts (DNS rebinding).
  std::vector<std::string> allowed_hosts;
  std::vector<std::string> allowed_origins;
  // Tool states whose tools tools/list answers leave out ("removed" among them).
  std::vector<std::string> tools_list_hide{"do_not_use", "removed"};
  // The longest ttlMs a filtered tools/list answer of protocol 2026-07-28 keeps.
  std::chrono::milliseconds filtered_list_ttl{60'000};
  call_audit audit_calls = call_audit::all;
};

// The part of the config a reload (SIGHUP) replaces while requests run. A
// request reads one snapshot and holds it for as long as it uses it, so a
// reload never changes the settings under a request in flight.
struct live_settings {
  std::shared_ptr<const config::config> cfg;  // projects and environments among the rest
  options proxy;
  std::vector<config::template_entry> templates;            // the catalog, active and inactive
  std::chrono::milliseconds oauth_state_lifetime{600'000};  // an authorize link stays usable
  rate per_key{};                                           // every request of one API key; off by default
  std::uint64_t generation = 0;                             // set by live_config::set(): which snapshot this is

  // The active template with this id; nullptr when unknown or inactive.
  // Valid as long as this snapshot.
  const config::template_entry* find_template(std::string_view id) const {
    for (const auto& t : templates) {
      if (t.id == id) return t.is_active ? &t : nullptr;
    }
    return nullptr;
  }
};

// Where the current live_settings are. set() publishes a new snapshot;
// get() returns the newest one. A shard's request path does not load the
// shared pointer itself every time (libstdc++'s atomic<shared_ptr> takes a
// spin lock shared by every thread): it keeps a per-shard copy and checks a
// generation counter, one relaxed atomic load that no writer touches between
// reloads (see snapshot_of).
//
// Thread-safety: any thread.
class live_config {
 public:
  explicit live_config(std::shared_ptr<const live_settings> first) : id_(next_id()) { set(std::move(first)); }
  std::shared_ptr<const live_settings> get() const { return current_.load(std::memory_order_acquire); }
  void set(std::shared_ptr<const live_settings> next) {
    auto stamped = std::make_shared<live_settings>(*next);
    stamped->generation = generation_.load(std::memory_order_relaxed) + 1;
    current_.store(std::move(stamped), std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_release);
  }
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  // Unique among the live_configs of this process (a thread's copy names
  // the one it came from).
  std::uint64_t id() const { return id_; }

 private:
  static std::uint64_t next_id();

  const std::uint64_t id_;
  std::atomic<std::shared_ptr<const live_settings>> current_;
  std::atomic<std::uint64_t> generation_{0};
};

// A thread's copy of the live settings: one per shard thread, refreshed when
// the generation moved. Returns a reference valid until the next call on
// this thread; a request that must keep the settings copies the pointer.
const std::shared_ptr<const live_settings>& snapshot_of(const live_config& live);

// One outbound pool per shard (see daemon/http_server.hpp): a proxied request
// uses the pool of the shard it runs on, so an upstream connection is only
// ever touched by one thread.
class upstream_pools {
 public:
  void add(boost::asio::execution_context& shard, std::shared_ptr<net::upstream_pool> pool) {
    pools_.emplace_back(&shard, std::move(pool));
  }
  // The pool of the shard `ex` runs on; the first one if none matches.
  const std::shared_ptr<net::upstream_pool>& for_executor(const boost::asio::any_io_executor& ex) const {
    const boost::asio::execution_context* shard = &boost::asio::query(ex, boost::asio::execution::context);
    for (const auto& [where, pool] : pools_) {
      if (where == shard) return pool;
    }
    return pools_.front().second;
  }

 private:
  std::vector<std::pair<boost::asio::execution_context*, std::shared_ptr<net::upstream_pool>>> pools_;
};

// The data path's services. Built by the composition root; every member is
// set before the first request (except `memory`, which may be null).
struct context {
  registry::store_executor& db;
  net::ssrf_policy ssrf;
  std::string public_url;                      // absolute, no trailing slash
  const auth::key_ring& secrets;               // seals credentials before they reach the store
  installation_cache* cache = nullptr;         // forget_installation() after every write
  upstream_pools upstreams;                    // the outbound pools, one per shard
  std::shared_ptr<stream_slots> slots;         // requests in flight and streams open, per installation
  std::shared_ptr<live_config> live;           // what a reload may change: settings()
  std::shared_ptr<running_syncs> syncs;        // background tool syncs (proxy/tool_sync.hpp)
  std::shared_ptr<open_streams> streams;       // GET streams, for list_changed (proxy/relay.hpp)
  std::shared_ptr<token_refresher> refresher;  // OAuth grants (proxy/token_refresher.hpp)
  std::shared_ptr<rate_limiter> installation_limits = std::make_shared<rate_limiter>();
  // The tool_call_forwarded records, written in batches (registry/audit.hpp).
  std::shared_ptr<registry::audit_batch> forwarded_audit;
  // Bytes of bodies held in memory, shared with the HTTP server (request
  // bodies); the proxy takes from it for non-streamed answers. May be null.
  budget* memory = nullptr;

  // The current snapshot of the reloadable settings, from this thread's
  // copy; hold it (copy the pointer) while using it across a suspension.
  const std::shared_ptr<const live_settings>& settings() const { return snapshot_of(*live); }
};

// The authenticated caller of one request, and where the request is aimed.
struct caller {
  std::int64_t user_id = 0;
  std::int64_t environment_id = 0;
  std::int64_t project_id = 0;
  std::string user_name;  // shown on an OAuth flow's confirm page
};

}  // namespace mcpgate::proxy
