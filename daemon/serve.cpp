#include "daemon/serve.hpp"

#include "common/log.hpp"
#include "common/text.hpp"
#include "daemon/api/grants.hpp"
#include "daemon/http_server.hpp"
#include "daemon/registry_cache.hpp"
#include "net/upstream_client.hpp"
#include "daemon/rest.hpp"
#include "daemon/setup.hpp"
#include "daemon/store_executor.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <cctype>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <thread>

namespace mcpgate::daemon {

namespace asio = boost::asio;

namespace {

server_options make_server_options(const config::config& cfg) {
  server_options o;
  for (const auto& l : cfg.server.listen) {
    const std::string host = l.host == "localhost" ? "127.0.0.1" : l.host;
    o.listen.emplace_back(asio::ip::make_address(host), l.port);
  }
  o.max_connections = cfg.server.limits.max_connections;
  o.max_body_bytes = cfg.server.limits.max_body_bytes;
  o.max_header_bytes = cfg.server.limits.max_header_bytes;
  o.idle_timeout = cfg.server.timeouts.idle;
  o.request_timeout = cfg.server.timeouts.request_read;
  return o;
}

// The Host values and origins the proxy answers to (DNS-rebinding defence):
// the public URL's, each listener's (and localhost's for a loopback or
// wildcard listener), and the configured extras.
api::proxy_options make_proxy_options(const config::config& cfg, const std::string& public_url,
                                      const std::vector<asio::ip::tcp::endpoint>& bound) {
  api::proxy_options o;
  o.first_byte_timeout = cfg.server.timeouts.upstream_first_byte;
  o.stream_idle = cfg.server.timeouts.stream_idle;
  o.max_streams_per_installation = cfg.server.limits.max_streams_per_installation;
  o.tools_list_hide = cfg.proxy.tools_list_hide;
  const auto add = [&o](const std::string& scheme, const std::string& authority) {
    o.allowed_hosts.push_back(ascii_lower(authority));
    o.allowed_origins.push_back(ascii_lower(scheme + "://" + authority));
  };
  if (const auto url = net::parse_url(public_url)) {
    const std::string scheme = url->origin.tls ? "https" : "http";
    add(scheme, url->host_header);
    const std::string host = url->origin.host.find(':') != std::string::npos ? "[" + url->origin.host + "]" : url->origin.host;
    add(scheme, host + ":" + std::to_string(url->origin.port));  // the default port spelled out
  }
  for (const auto& endpoint : bound) {
    const auto address = endpoint.address();
    const std::string port = std::to_string(endpoint.port());
    add("http", (address.is_v6() ? "[" + address.to_string() + "]" : address.to_string()) + ":" + port);
    if (address.is_loopback() || address.is_unspecified()) {
      add("http", "localhost:" + port);
      add("http", "127.0.0.1:" + port);
      add("http", "[::1]:" + port);
    }
  }
  for (const auto& h : cfg.server.allowed_hosts) o.allowed_hosts.push_back(ascii_lower(h));
  for (const auto& origin : cfg.server.allowed_origins) o.allowed_origins.push_back(ascii_lower(origin));
  return o;
}

void print_banner(const config::config& cfg, const std::string& listen_url) {
  const std::string config_flag = cfg.source.empty() ? "" : " --config " + cfg.source;
  std::error_code ec;
  std::string self = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  if (ec || self.empty()) self = "mcpgate";
  std::printf(
      "mcpgate listening on %s\n"
      "  database: %s\n"
      "  create an API key:  %s keys create%s --user you --scopes '*'\n"
      "  then try:           curl -H 'Authorization: Bearer <key>' %s/api/projects/1/mcp_server_installations/\n",
      listen_url.c_str(), std::filesystem::absolute(cfg.storage.sqlite_path).c_str(), self.c_str(),
      config_flag.c_str(), listen_url.c_str());
  std::fflush(stdout);
}

}  // namespace

int serve(const config::config& cfg) {
  init_logging(cfg.logging.level);

  std::string why;
  auto keys = open_key_ring(cfg, why);
  if (!keys) {
    spdlog::critical("{}", why);
    return 1;
  }
  auto store = open_store(cfg, why);
  if (!store) {
    spdlog::critical("{}", why);
    return 1;
  }
  store_executor db(std::move(store));

  const unsigned workers = cfg.server.workers != 0
                               ? cfg.server.workers
                               : std::max(1u, std::thread::hardware_concurrency());
  // One io_context per worker thread (see http_server.hpp); the first also
  // runs the acceptors, signals and timers. The others are kept running by
  // a work guard until the end.
  std::vector<std::unique_ptr<asio::io_context>> shards;
  std::vector<asio::io_context*> shard_list;
  for (unsigned i = 0; i < workers; ++i) {
    shards.push_back(std::make_unique<asio::io_context>(1));
    shard_list.push_back(shards.back().get());
  }
  asio::io_context& ioc = *shards.front();
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> keep_running;
  for (auto& shard : shards) keep_running.push_back(asio::make_work_guard(*shard));
  const auto stop_all = [&shards] {
    for (auto& shard : shards) shard->stop();
  };

  auto shared_cfg = std::make_shared<const config::config>(cfg);
  server_options options = make_server_options(cfg);
  // The REST front exists before the server answers its first request; it
  // is referenced by the handler, which the server only calls while the
  // shards run.
  std::unique_ptr<rest_api> rest;
  options.error_response = [&rest](unsigned status, std::string_view target) {
    return rest->error_response(status, target);
  };
  http_server server(shard_list, std::move(options), [&rest](http_request& req) { return rest->handle(req); });

  std::vector<asio::ip::tcp::endpoint> bound;
  try {
    bound = server.listen();
  } catch (const boost::system::system_error& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
  const std::string listen_url = url_for_endpoint(bound.front().address().to_string(), bound.front().port());
  const std::string public_url = cfg.server.public_url.empty() ? listen_url : cfg.server.public_url;
  const net::ssrf_policy ssrf{cfg.upstreams.allow_private_networks, cfg.upstreams.allow_hosts};
  net::client_options client;
  client.policy = ssrf;
  client.connect_timeout = cfg.server.timeouts.upstream_connect;
  client.ca_file = cfg.upstreams.ca_file;
  client.max_idle_per_origin = 256;
  client.single_thread = true;  // each shard has its own pool
  api::upstream_pools pools;
  for (auto& shard : shards) {
    auto pool = net::upstream_pool::create(shard->get_executor(), client);
    if (!pool) {
      spdlog::critical("cannot set up TLS for upstreams (upstreams.ca_file {}): {}", cfg.upstreams.ca_file,
                       pool.error().message());
      return 1;
    }
    pools.add(*shard, std::move(*pool));
  }
  registry_cache cache;
  api::api_context ctx{db, ssrf, public_url, *keys, &cache, std::move(pools), std::make_shared<stream_slots>(),
                       make_proxy_options(cfg, public_url, bound)};
  ctx.templates = std::make_shared<const std::vector<config::template_entry>>(cfg.templates);
  ctx.refresher = std::make_shared<api::token_refresher>();
  ctx.oauth_state_lifetime = cfg.server.timeouts.oauth_state;
  rest = std::make_unique<rest_api>(shared_cfg, std::move(ctx));

  // Stop order: stop accepting, let in-flight requests finish (bounded by
  // shutdown_grace), then stop the loop; the store is flushed after.
  asio::signal_set signals(ioc, SIGINT, SIGTERM, SIGHUP);
  asio::steady_timer grace(ioc);
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int signo) {
        if (ec) return;
        if (signo == SIGHUP) {
          spdlog::warn("SIGHUP received: live reload is not available in this version; restart to apply config changes");
          signals.async_wait(on_signal);
          return;
        }
        spdlog::info("signal {} received: draining {} connection(s)", signo, server.open_connections());
        sd_notify(0, "STOPPING=1");
        grace.expires_after(cfg.server.timeouts.shutdown_grace);
        grace.async_wait([&](const boost::system::error_code& timer_ec) {
          if (timer_ec) return;
          spdlog::warn("shutdown grace period over: closing {} connection(s)", server.open_connections());
          stop_all();
        });
        server.stop([&] {
          spdlog::info("all connections drained");
          stop_all();
        });
      };
  signals.async_wait(on_signal);

  server.start();
  for (const auto& endpoint : bound) {
    spdlog::info("listening on {}", url_for_endpoint(endpoint.address().to_string(), endpoint.port()));
  }
  print_banner(cfg, listen_url);
  sd_notify(0, "READY=1");

  std::vector<std::thread> threads;
  for (unsigned i = 1; i < workers; ++i) threads.emplace_back([shard = shards[i].get()] { shard->run(); });
  ioc.run();
  stop_all();
  for (auto& t : threads) t.join();

  db.stop();
  spdlog::info("stopped");
  return 0;
}

}  // namespace mcpgate::daemon
