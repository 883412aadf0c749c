// What every REST handler gets: the shared services and the authenticated caller.
// Thread-safety: api_context is shared, read-only; caller is per request.
#pragma once

#include "auth/secret_box.hpp"
#include "common/budget.hpp"
#include "common/rate_limit.hpp"
#include "config/config.hpp"
#include "daemon/api/relay.hpp"
#include "daemon/registry_cache.hpp"
#include "daemon/router.hpp"
#include "daemon/store_executor.hpp"
#include "net/url_policy.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/execution_context.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

namespace mcpgate::net {
class upstream_pool;
}

namespace mcpgate::daemon::api {

class token_refresher;  // daemon/api/grants.hpp
class audit_batch;      // daemon/api/audit.hpp

// What the proxy route needs beyond the REST API's services.
struct proxy_options {
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
};

// One outbound pool per shard (see http_server.hpp): a proxied request uses
// the pool of the shard it runs on, so an upstream connection is only ever
// touched by one thread.
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

// The part of the config a reload (SIGHUP) replaces while requests run. A
// request reads one snapshot and holds it for as long as it uses it, so a
// reload never changes the settings under a request in flight.
struct live_settings {
  std::shared_ptr<const config::config> cfg;  // projects and environments among the rest
  proxy_options proxy;
  std::vector<config::template_entry> templates;  // the catalog, active and inactive
  std::chrono::milliseconds oauth_state_lifetime{600'000};  // an authorize link stays usable
  rate per_key{};  // every request of one API key; off by default

  // The active template with this id; nullptr when unknown or inactive.
  // Valid as long as this snapshot.
  const config::template_entry* find_template(std::string_view id) const {
    for (const auto& t : templates) {
      if (t.id == id) return t.is_active ? &t : nullptr;
    }
    return nullptr;
  }
};

// Where the current live_settings are. Thread-safety: any thread; set()
// replaces the snapshot atomically, readers keep the one they loaded.
class live_config {
 public:
  explicit live_config(std::shared_ptr<const live_settings> first) : current_(std::move(first)) {}
  std::shared_ptr<const live_settings> get() const { return current_.load(std::memory_order_acquire); }
  void set(std::shared_ptr<const live_settings> next) { current_.store(std::move(next), std::memory_order_release); }

 private:
  std::atomic<std::shared_ptr<const live_settings>> current_;
};

struct api_context {
  store_executor& db;
  net::ssrf_policy ssrf;
  std::string public_url;  // absolute, no trailing slash
  const auth::key_ring& secrets;  // seals credentials before they reach the store
  registry_cache* cache = nullptr;  // forget_installation() after every write
  upstream_pools upstreams;                        // the proxy's outbound pools
  std::shared_ptr<stream_slots> streams;           // GET streams open per installation
  std::shared_ptr<live_config> live;               // what a reload may change: settings()
  std::shared_ptr<running_syncs> syncs = std::make_shared<running_syncs>();
  std::shared_ptr<open_listeners> listeners = std::make_shared<open_listeners>();  // GET streams
  std::shared_ptr<token_refresher> refresher{};  // OAuth grants (daemon/api/grants.hpp)
  // Token buckets: per API key (every request) and per installation (proxy).
  std::shared_ptr<rate_limiter> key_limits = std::make_shared<rate_limiter>();
  std::shared_ptr<rate_limiter> installation_limits = std::make_shared<rate_limiter>();
  // The proxy's tool_call_forwarded records, written in batches (audit.hpp).
  std::shared_ptr<audit_batch> forwarded_audit{};
  // Bytes of bodies held in memory, shared with the HTTP server (request
  // bodies); the proxy takes from it for non-streamed answers. May be null.
  budget* memory = nullptr;

  // The current snapshot of the reloadable settings; hold it while using it.
  std::shared_ptr<const live_settings> settings() const { return live->get(); }
};

// The authenticated caller of one request, and where the request is aimed.
struct caller {
  std::int64_t user_id = 0;
  std::int64_t environment_id = 0;
  std::int64_t project_id = 0;
};

}  // namespace mcpgate::daemon::api
