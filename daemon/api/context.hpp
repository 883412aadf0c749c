// What every REST handler gets: the shared services and the authenticated caller.
// Thread-safety: api_context is shared, read-only; caller is per request.
#pragma once

#include "auth/secret_box.hpp"
#include "daemon/router.hpp"
#include "daemon/store_executor.hpp"
#include "net/url_policy.hpp"

#include <cstdint>
#include <string>

namespace mcpgate::daemon::api {

struct api_context {
  store_executor& db;
  net::ssrf_policy ssrf;
  std::string public_url;  // absolute, no trailing slash
  const auth::key_ring& secrets;  // seals credentials before they reach the store
};

// The authenticated caller of one request, and where the request is aimed.
struct caller {
  std::int64_t user_id = 0;
  std::int64_t environment_id = 0;
  std::int64_t project_id = 0;
};

}  // namespace mcpgate::daemon::api
