#include "daemon/ops.hpp"

#include "common/log.hpp"
#include "common/metrics.hpp"

#include <boost/json/serialize.hpp>

#include <spdlog/spdlog.h>

#include <string>

namespace mcpgate::daemon {

std::optional<ops_route> match_ops_route(std::string_view target) {
  const std::string_view path = target.substr(0, target.find('?'));
  if (path == "/healthz") return ops_route::healthz;
  if (path == "/readyz") return ops_route::readyz;
  if (path == "/metrics") return ops_route::metrics;
  return std::nullopt;
}

boost::asio::awaitable<net::http_response> handle_ops(const ops_context& ctx, ops_route route,
                                                      const net::http_request& req) {
  if (req.method != "GET" && req.method != "HEAD") {
    net::http_response refused = net::http_response::json(405, R"({"status":"method not allowed"})");
    refused.headers.emplace_back("Allow", "GET");
    co_return refused;
  }
  switch (route) {
    case ops_route::healthz: co_return net::http_response::json(200, R"({"status":"ok"})");
    case ops_route::readyz: {
      // The store answers, and takes writes again if they have been failing
      // (the probe is also how it recovers: see store::check_ready).
      const auto ask = [](registry::store& s) { return s.check_ready(); };
      auto asking = ctx.db.run(ask);
      auto answered = co_await std::move(asking);
      if (!answered) {
        static summarised_log not_ready;
        not_ready("readiness check: the store is not ready: {}", answered.error().message());
        const auto& ec = answered.error();
        const char* reason = ec == errc::storage_full        ? "storage full"
                             : ec == errc::storage_read_only ? "storage read-only"
                                                             : "the store did not answer";
        co_return net::http_response::json(
            503, boost::json::serialize(boost::json::object{{"status", "unavailable"}, {"reason", reason}}));
      }
      co_return net::http_response::json(200, R"({"status":"ready"})");
    }
    case ops_route::metrics: {
      net::http_response out;
      out.status = 200;
      out.body = metrics::render(ctx.open_connections(), MCPGATE_VERSION);
      out.headers.emplace_back("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
      co_return out;
    }
  }
  co_return net::http_response::empty(404);
}

boost::asio::awaitable<net::http_response> handle_ops_listener(const ops_context& ctx, const net::http_request& req) {
  const auto route = match_ops_route(req.target);
  if (!route) co_return net::http_response::json(404, R"({"status":"not found"})");
  auto answering = handle_ops(ctx, *route, req);
  co_return co_await std::move(answering);
}

}  // namespace mcpgate::daemon
