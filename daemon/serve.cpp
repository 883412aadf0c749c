#include "daemon/serve.hpp"

#include "common/log.hpp"
#include "common/text.hpp"
#include "daemon/api/audit.hpp"
#include "daemon/api/grants.hpp"
#include "daemon/http_server.hpp"
#include "daemon/metrics.hpp"
#include "daemon/notify.hpp"
#include "daemon/ops.hpp"
#include "daemon/registry_cache.hpp"
#include "config/load.hpp"
#include "daemon/rest.hpp"
#include "daemon/setup.hpp"
#include "daemon/store_executor.hpp"
#include "net/upstream_client.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <thread>

namespace mcpgate::daemon {

namespace asio = boost::asio;

namespace {

std::vector<asio::ip::tcp::endpoint> endpoints_of(const config::config& cfg) {
  std::vector<asio::ip::tcp::endpoint> out;
  for (const auto& l : cfg.server.listen) {
    const std::string host = l.host == "localhost" ? "127.0.0.1" : l.host;
    out.emplace_back(asio::ip::make_address(host), l.port);
  }
  return out;
}

server_options make_server_options(const config::config& cfg) {
  server_options o;
  o.listen = endpoints_of(cfg);
  o.max_connections = cfg.server.limits.max_connections;
  o.max_body_bytes = cfg.server.limits.max_body_bytes;
  o.max_header_bytes = cfg.server.limits.max_header_bytes;
  o.idle_timeout = cfg.server.timeouts.idle;
  o.request_timeout = cfg.server.timeouts.request_read;
  return o;
}

rate rate_of(const config::rate_limit& limit) {
  const double burst = limit.burst > 0 ? static_cast<double>(limit.burst) : std::max(1.0, 2 * limit.requests_per_second);
  return rate{limit.requests_per_second, burst};
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
  o.max_upstream_requests = cfg.server.limits.max_upstream_requests;
  o.max_response_bytes = cfg.server.limits.max_response_bytes;
  o.per_installation = rate_of(cfg.rate_limits.per_installation);
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

// The settings the REST API and the proxy read per request (see
// api::live_settings), from a config and the listeners it got.
std::shared_ptr<const api::live_settings> make_live_settings(std::shared_ptr<const config::config> cfg,
                                                             const std::string& public_url,
                                                             const std::vector<asio::ip::tcp::endpoint>& bound) {
  auto live = std::make_shared<api::live_settings>();
  live->proxy = make_proxy_options(*cfg, public_url, bound);
  live->templates = cfg->templates;
  live->oauth_state_lifetime = cfg->server.timeouts.oauth_state;
  live->per_key = rate_of(cfg->rate_limits.per_key);
  live->cfg = std::move(cfg);
  return live;
}

// What a reload leaves as it was (a restart applies it): named in a warning.
std::vector<std::string> restart_only_changes(const config::config& was, const config::config& now) {
  std::vector<std::string> out;
  const auto note = [&out](bool changed, const char* what) {
    if (changed) out.emplace_back(what);
  };
  note(was.data_dir != now.data_dir, "data_dir");
  note(was.storage.sqlite_path != now.storage.sqlite_path, "storage");
  note(was.secrets.key_files != now.secrets.key_files || was.secrets.generate_missing != now.secrets.generate_missing,
       "secrets");
  note(was.server.workers != now.server.workers, "server.workers");
  note(was.server.public_url != now.server.public_url, "server.public_url");
  const auto same_address = [](const std::optional<config::listen_address>& a,
                               const std::optional<config::listen_address>& b) {
    return a.has_value() == b.has_value() && (!a || (a->host == b->host && a->port == b->port));
  };
  note(!same_address(was.server.metrics_listen, now.server.metrics_listen), "server.metrics_listen");
  note(was.server.timeouts.upstream_connect != now.server.timeouts.upstream_connect,
       "server.timeouts.upstream_connect");
  note(was.upstreams.allow_private_networks != now.upstreams.allow_private_networks ||
           was.upstreams.allow_hosts != now.upstreams.allow_hosts || was.upstreams.ca_file != now.upstreams.ca_file,
       "upstreams");
  note(was.logging.format != now.logging.format, "logging.format");
  return out;
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
  init_logging(cfg.logging.level, cfg.logging.format);
  // A write past a file size limit (RLIMIT_FSIZE) is an error the store
  // reports as "storage full", not a reason to kill the daemon.
  std::signal(SIGXFSZ, SIG_IGN);

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
  // Set once the loops have stopped: connections still open then (the grace
  // period ran out) are destroyed with the shards, and what they call on the
  // way out must no longer touch the shards.
  std::atomic<bool> loops_over{false};
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

  // The config in force; a reload (SIGHUP) replaces it.
  auto current = std::make_shared<const config::config>(cfg);
  // Bytes of bodies held in memory: request bodies (the HTTP server) and
  // non-streamed upstream answers (the proxy) take from the same budget.
  budget memory(cfg.server.limits.max_buffered_bytes);
  server_options options = make_server_options(cfg);
  options.memory = &memory;
  // The REST front exists before the server answers its first request; it
  // is referenced by the handler, which the server only calls while the
  // shards run.
  std::unique_ptr<rest_api> rest;
  options.error_response = [&rest](unsigned status, std::string_view target) {
    return rest->error_response(status, target);
  };
  options.admit = [&rest](const http_request& req) { return rest->admit(req); };
  // The operator's routes (/healthz, /readyz, /metrics) come before the REST
  // API and the proxy, and need no key.
  // With server.metrics_listen, /metrics is served there only.
  std::unique_ptr<ops_context> ops;
  const bool separate_metrics = cfg.server.metrics_listen.has_value();
  http_server server(shard_list, std::move(options), [&rest, &ops, separate_metrics](http_request& req) {
    const auto route = match_ops_route(req.target);
    if (route && !(separate_metrics && *route == ops_route::metrics)) return handle_ops(*ops, *route, req);
    return rest->handle(req);
  });
  ops = std::make_unique<ops_context>(ops_context{db, [&server] { return server.open_connections(); }});
  std::unique_ptr<http_server> metrics_server;
  if (separate_metrics) {
    config::config only_metrics = cfg;
    only_metrics.server.listen = {*cfg.server.metrics_listen};
    metrics_server = std::make_unique<http_server>(shard_list, make_server_options(only_metrics),
                                                   [&ops](http_request& req) { return handle_ops_listener(*ops, req); });
  }

  std::vector<asio::ip::tcp::endpoint> bound;
  std::vector<asio::ip::tcp::endpoint> metrics_bound;
  try {
    bound = server.listen();
    if (metrics_server) metrics_bound = metrics_server->listen();
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
  const auto forwarded_audit = std::make_shared<api::audit_batch>(db);
  const auto live = std::make_shared<api::live_config>(make_live_settings(current, public_url, bound));
  api::api_context ctx{db, ssrf, public_url, *keys, &cache, std::move(pools), std::make_shared<stream_slots>(), live};
  ctx.refresher = std::make_shared<api::token_refresher>();
  ctx.memory = &memory;
  ctx.forwarded_audit = forwarded_audit;
  rest = std::make_unique<rest_api>(std::move(ctx));

  // A reload validates the file first and changes nothing unless all of it
  // is good; then listeners, limits, timeouts, projects, templates and the
  // log level change, without touching open connections or streams.
  // Reloads are numbered in the log, so an operator (or a test) can tell
  // which SIGHUP an outcome belongs to.
  unsigned reloads = 0;
  const auto reload = [&] {
    notify::reloading();
    const unsigned n = ++reloads;
    if (current->source.empty()) {
      spdlog::warn("SIGHUP received: reload #{}: mcpgate runs on the embedded default (no --config), nothing to reload", n);
      notify::ready();
      return;
    }
    spdlog::info("SIGHUP received: reload #{} of {}", n, current->source);
    auto loaded = config::load_file(current->source);
    if (!loaded.value) {
      metrics::count_reload(false);
      for (const auto& p : loaded.problems) spdlog::error("config reload #{}: {}", n, p.to_string());
      spdlog::error("config reload #{} rejected ({} problem(s)): the running config stays in force", n,
                    loaded.problems.size());
      notify::ready();
      return;
    }
    auto next = std::make_shared<const config::config>(std::move(*loaded.value));
    std::vector<asio::ip::tcp::endpoint> now_bound;
    try {
      now_bound = server.relisten(endpoints_of(*next));
    } catch (const boost::system::system_error& e) {
      metrics::count_reload(false);
      spdlog::error("config reload #{} rejected: {}: the running config stays in force", n, e.what());
      notify::ready();
      return;
    }
    // Queued before any request of the new config can reach the store (its
    // work runs in order), so a new environment exists there when it is used.
    db.run_detached([projects = to_registry(next->projects), n](registry::store& s) {
      auto synced = s.sync_projects(projects);
      if (!synced) spdlog::error("config reload #{}: recording the projects failed: {}", n, synced.error().message());
      return synced;
    });
    server.update(make_server_options(*next));
    memory.set_limit(next->server.limits.max_buffered_bytes);
    live->set(make_live_settings(next, public_url, now_bound));
    cache.forget_installations();
    set_log_level(next->logging.level);
    for (const auto& what : restart_only_changes(*current, *next)) {
      spdlog::warn("config reload #{}: {} changed; it takes effect at the next restart", n, what);
    }
    current = std::move(next);
    metrics::count_reload(true);
    spdlog::info("config reload #{} applied: {}", n, current->source);
    notify::ready();
  };

  // Stop order: stop accepting, let in-flight requests finish (bounded by
  // shutdown_grace), then stop the loop; the store is flushed after.
  asio::signal_set signals(ioc, SIGINT, SIGTERM, SIGHUP);
  asio::steady_timer grace(ioc);
  bool stopping = false;
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int signo) {
        if (ec) return;
        if (signo == SIGHUP) {
          if (!stopping) reload();
          signals.async_wait(on_signal);
          return;
        }
        if (stopping) return;
        stopping = true;
        spdlog::info("signal {} received: draining {} connection(s)", signo, server.open_connections());
        notify::stopping();
        grace.expires_after(current->server.timeouts.shutdown_grace);
        grace.async_wait([&](const boost::system::error_code& timer_ec) {
          if (timer_ec) return;
          spdlog::warn("shutdown grace period over: closing {} connection(s)", server.open_connections());
          stop_all();
        });
        const auto drained = [&, left = std::make_shared<std::atomic<int>>(metrics_server ? 2 : 1)] {
          if (loops_over.load() || left->fetch_sub(1) != 1) return;
          spdlog::info("all connections drained");
          stop_all();
        };
        server.stop(drained);
        if (metrics_server) metrics_server->stop(drained);
      };
  signals.async_wait(on_signal);

  // The watchdog: WATCHDOG=1 from the first shard's loop, at half of
  // WATCHDOG_USEC, so a stuck loop stops the pings and systemd restarts us.
  asio::steady_timer watchdog(ioc);
  std::function<void(const boost::system::error_code&)> on_watchdog;
  if (const auto every = notify::watchdog_interval()) {
    spdlog::info("systemd watchdog on: WATCHDOG=1 every {} ms", std::chrono::duration_cast<std::chrono::milliseconds>(*every).count());
    on_watchdog = [&, every = *every](const boost::system::error_code& ec) {
      if (ec) return;
      notify::watchdog();
      watchdog.expires_after(every);
      watchdog.async_wait(on_watchdog);
    };
    watchdog.expires_after(std::chrono::microseconds(0));
    watchdog.async_wait(on_watchdog);
  }

  server.start();
  for (const auto& endpoint : bound) {
    spdlog::info("listening on {}", url_for_endpoint(endpoint.address().to_string(), endpoint.port()));
  }
  if (metrics_server) {
    metrics_server->start();
    for (const auto& endpoint : metrics_bound) {
      spdlog::info("metrics listening on {}", url_for_endpoint(endpoint.address().to_string(), endpoint.port()));
    }
  }
  print_banner(cfg, listen_url);
  notify::ready();

  std::vector<std::thread> threads;
  for (unsigned i = 1; i < workers; ++i) threads.emplace_back([shard = shards[i].get()] { shard->run(); });
  ioc.run();
  stop_all();
  for (auto& t : threads) t.join();
  loops_over = true;
  // Audit records still in their batch window go to the store before it stops.
  if (forwarded_audit) forwarded_audit->flush();

  db.stop();
  spdlog::info("stopped");
  return 0;
}

}  // namespace mcpgate::daemon
