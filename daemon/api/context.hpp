// What every REST handler gets: the shared services and the authenticated caller.
// Thread-safety: api_context is shared, read-only; caller is per request.
#pragma once

#include "auth/secret_box.hpp"
#include "daemon/registry_cache.hpp"
#include "daemon/router.hpp"
#include "daemon/store_executor.hpp"
#include "net/url_policy.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mcpgate::net {
class upstream_pool;
}

namespace mcpgate::daemon::api {

// What the proxy route needs beyond the REST API's services.
struct proxy_options {
  std::chrono::milliseconds first_byte_timeout{180'000};
  std::chrono::milliseconds stream_idle{300'000};
  std::size_t max_streams_per_installation = 100;
  std::size_t max_response_bytes = 16 * 1024 * 1024;  // a non-streamed upstream answer
  // Lower-case Host values and origins the proxy accepts (DNS rebinding).
  std::vector<std::string> allowed_hosts;
  std::vector<std::string> allowed_origins;
};

struct api_context {
  store_executor& db;
  net::ssrf_policy ssrf;
  std::string public_url;  // absolute, no trailing slash
  const auth::key_ring& secrets;  // seals credentials before they reach the store
  registry_cache* cache = nullptr;  // forget_installation() after every write
  std::shared_ptr<net::upstream_pool> upstreams;  // the proxy's outbound pool
  std::shared_ptr<stream_slots> streams;           // GET streams open per installation
  proxy_options proxy;
};

// The authenticated caller of one request, and where the request is aimed.
struct caller {
  std::int64_t user_id = 0;
  std::int64_t environment_id = 0;
  std::int64_t project_id = 0;
};

}  // namespace mcpgate::daemon::api
