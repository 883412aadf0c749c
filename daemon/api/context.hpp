// What every REST handler gets: the shared services and the authenticated caller.
// Thread-safety: api_context is shared, read-only; caller is per request.
#pragma once

#include "auth/secret_box.hpp"
#include "config/config.hpp"
#include "daemon/api/relay.hpp"
#include "daemon/registry_cache.hpp"
#include "daemon/router.hpp"
#include "daemon/store_executor.hpp"
#include "net/url_policy.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/execution_context.hpp>

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

// What the proxy route needs beyond the REST API's services.
struct proxy_options {
  std::chrono::milliseconds first_byte_timeout{180'000};
  std::chrono::milliseconds stream_idle{300'000};
  std::size_t max_streams_per_installation = 100;
  std::size_t max_response_bytes = 16 * 1024 * 1024;  // a non-streamed upstream answer
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

struct api_context {
  store_executor& db;
  net::ssrf_policy ssrf;
  std::string public_url;  // absolute, no trailing slash
  const auth::key_ring& secrets;  // seals credentials before they reach the store
  registry_cache* cache = nullptr;  // forget_installation() after every write
  upstream_pools upstreams;                        // the proxy's outbound pools
  std::shared_ptr<stream_slots> streams;           // GET streams open per installation
  proxy_options proxy;
  std::shared_ptr<running_syncs> syncs = std::make_shared<running_syncs>();
  std::shared_ptr<open_listeners> listeners = std::make_shared<open_listeners>();  // GET streams
  // The template catalog from the config (active and inactive).
  std::shared_ptr<const std::vector<config::template_entry>> templates =
      std::make_shared<const std::vector<config::template_entry>>();
  std::shared_ptr<token_refresher> refresher{};  // OAuth grants (daemon/api/grants.hpp)
  // How long an authorize link (its state and browser cookie) stays usable.
  std::chrono::milliseconds oauth_state_lifetime{600'000};

  // The active template with this id; nullptr when unknown or inactive.
  const config::template_entry* find_template(std::string_view id) const {
    for (const auto& t : *templates) {
      if (t.id == id) return t.is_active ? &t : nullptr;
    }
    return nullptr;
  }
};

// The authenticated caller of one request, and where the request is aimed.
struct caller {
  std::int64_t user_id = 0;
  std::int64_t environment_id = 0;
  std::int64_t project_id = 0;
};

}  // namespace mcpgate::daemon::api
