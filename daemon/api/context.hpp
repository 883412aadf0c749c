// What every REST handler gets: the data path's services (proxy/context.hpp),
// what only the REST front uses, and the authenticated caller.
// Thread-safety: api_context is shared, read-only; caller is per request.
#pragma once

#include "common/rate_limit.hpp"
#include "daemon/router.hpp"
#include "proxy/context.hpp"

#include <memory>

namespace mcpgate::daemon::api {

using proxy::caller;
using proxy::live_settings;

struct api_context : proxy::context {
  // Token buckets per API key (every request, REST and proxy alike).
  std::shared_ptr<rate_limiter> key_limits = std::make_shared<rate_limiter>();
};

}  // namespace mcpgate::daemon::api
