// The operator's endpoints, outside the REST API and without an API key:
//   GET /healthz  200 {"status":"ok"} while the process serves requests
//   GET /readyz   200 {"status":"ready"} when the store answers and a config
//                 is loaded; 503 {"status":"unavailable","reason":...} otherwise
//   GET /metrics  the Prometheus text format (daemon/metrics.hpp)
// Nothing here reveals a secret. Thread-safety: stateless; runs on the
// connection's shard and hops to the store thread for /readyz.
#pragma once

#include "net/http_types.hpp"
#include "registry/store_executor.hpp"

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <optional>
#include <string_view>

namespace mcpgate::daemon {

enum class ops_route { healthz, readyz, metrics };

// The operator route `target` names (a query is ignored); nullopt for any
// other target.
std::optional<ops_route> match_ops_route(std::string_view target);

struct ops_context {
  registry::store_executor& db;
  std::function<std::size_t()> open_connections;
};

// Answers an operator route; 405 with Allow: GET for another method.
boost::asio::awaitable<net::http_response> handle_ops(const ops_context& ctx, ops_route route,
                                                      const net::http_request& req);

// The whole of the metrics listener (server.metrics_listen): the operator
// routes, 404 for anything else.
boost::asio::awaitable<net::http_response> handle_ops_listener(const ops_context& ctx, const net::http_request& req);

}  // namespace mcpgate::daemon
