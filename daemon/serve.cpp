#include "daemon/serve.hpp"

#include "common/log.hpp"
#include "common/metrics.hpp"
#include "config/load.hpp"
#include "daemon/http_server.hpp"
#include "daemon/notify.hpp"
#include "daemon/ops.hpp"
#include "daemon/options.hpp"
#include "daemon/rest.hpp"
#include "daemon/setup.hpp"
#include "net/upstream_client.hpp"
#include "proxy/installation_cache.hpp"
#include "proxy/relay.hpp"
#include "proxy/token_refresher.hpp"
#include "proxy/tool_sync.hpp"
#include "registry/audit.hpp"
#include "registry/store_executor.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <thread>

namespace mcpgate::daemon {

namespace asio = boost::asio;

namespace {

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
      listen_url.c_str(),
      cfg.storage.postgres ? "PostgreSQL (storage.postgres)"
                           : std::filesystem::absolute(cfg.storage.sqlite_path).c_str(),
      self.c_str(), config_flag.c_str(), listen_url.c_str());
  std::fflush(stdout);
}

void log_listening(const char* what, const std::vector<asio::ip::tcp::endpoint>& bound) {
  for (const auto& endpoint : bound) {
    spdlog::info("{} on {}", what, url_for_endpoint(endpoint.address().to_string(), endpoint.port()));
  }
}

// The running daemon, put together from the config: storage, the shards,
// the servers, the data path and the REST front, then signals and the
// watchdog. Members are declared (and so destroyed, in reverse) in the order
// they depend on each other.
class gateway {
 public:
  explicit gateway(const config::config& cfg)
      : current_(std::make_shared<const config::config>(cfg)), memory_(cfg.server.limits.max_buffered_bytes) {}

  int run();

 private:
  bool open_storage();
  void make_shards();
  void make_servers();
  bool listen();
  bool make_front();
  void reload();
  void on_signal(const boost::system::error_code& ec, int signo);
  void drain(int signo);
  void start_watchdog();
  void run_shards();

  // The config in force; a reload (SIGHUP) replaces it.
  std::shared_ptr<const config::config> current_;
  // Bytes of bodies held in memory: request bodies (the HTTP server) and
  // non-streamed upstream answers (the proxy) take from the same budget.
  budget memory_;
  std::optional<auth::key_ring> keys_;
  std::unique_ptr<registry::store_executor> db_;

  // One io_context per worker thread (see http_server.hpp); the first also
  // runs the acceptors, signals and timers. The others are kept running by
  // a work guard until the end.
  std::vector<std::unique_ptr<asio::io_context>> shards_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> keep_running_;
  // Set once the loops have stopped: connections still open then (the grace
  // period ran out) are destroyed with the shards, and what they call on the
  // way out must no longer touch the shards.
  std::atomic<bool> loops_over_{false};

  // The REST front exists before the server answers its first request; it
  // is referenced by the handler, which the server only calls while the
  // shards run.
  std::unique_ptr<rest_api> rest_;
  std::unique_ptr<ops_context> ops_;
  std::unique_ptr<http_server> server_;
  std::unique_ptr<http_server> metrics_server_;  // with server.metrics_listen
  std::vector<asio::ip::tcp::endpoint> bound_;
  std::vector<asio::ip::tcp::endpoint> metrics_bound_;
  std::string listen_url_;
  std::string public_url_;

  proxy::installation_cache cache_;
  std::shared_ptr<registry::audit_batch> forwarded_audit_;
  std::shared_ptr<proxy::live_config> live_;

  std::unique_ptr<asio::signal_set> signals_;
  std::unique_ptr<asio::steady_timer> grace_;
  bool stopping_ = false;
  unsigned reloads_ = 0;  // numbered in the log, so a SIGHUP's outcome can be told
  std::unique_ptr<asio::steady_timer> watchdog_;
  std::function<void(const boost::system::error_code&)> on_watchdog_;
};

bool gateway::open_storage() {
  std::string why;
  keys_ = open_key_ring(*current_, why);
  if (!keys_) {
    spdlog::critical("{}", why);
    return false;
  }
  auto store = open_store(*current_, why);
  if (!store) {
    spdlog::critical("{}", why);
    return false;
  }
  db_ = std::make_unique<registry::store_executor>(std::move(store));
  return true;
}

void gateway::make_shards() {
  const unsigned workers =
      current_->server.workers != 0 ? current_->server.workers : std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < workers; ++i) {
    shards_.push_back(std::make_unique<asio::io_context>(1));
    keep_running_.push_back(asio::make_work_guard(*shards_.back()));
  }
}

// The HTTP server (and the separate metrics one): the operator's routes
// (/healthz, /readyz, /metrics) come before the REST API and the proxy, and
// need no key. With server.metrics_listen, /metrics is served there only.
void gateway::make_servers() {
  std::vector<asio::io_context*> shard_list;
  for (auto& shard : shards_) shard_list.push_back(shard.get());
  server_options options = make_server_options(*current_);
  options.memory = &memory_;
  options.error_response = [this](unsigned status, std::string_view target) {
    return rest_->error_response(status, target);
  };
  options.admit = [this](const net::http_request& req) { return rest_->admit(req); };
  const bool separate_metrics = current_->server.metrics_listen.has_value();
  server_ =
      std::make_unique<http_server>(shard_list, std::move(options), [this, separate_metrics](net::http_request& req) {
        const auto route = match_ops_route(req.target);
        if (route && !(separate_metrics && *route == ops_route::metrics)) {
          return handle_ops(*ops_, *route, req);
        }
        return rest_->handle(req);
      });
  ops_ = std::make_unique<ops_context>(ops_context{*db_, [this] { return server_->open_connections(); }});
  if (separate_metrics) {
    config::config only_metrics = *current_;
    only_metrics.server.listen = {*current_->server.metrics_listen};
    metrics_server_ =
        std::make_unique<http_server>(shard_list, make_server_options(only_metrics), [this](net::http_request& req) {
          return handle_ops_listener(*ops_, req);
        });
  }
}

bool gateway::listen() {
  try {
    bound_ = server_->listen();
    if (metrics_server_) metrics_bound_ = metrics_server_->listen();
  } catch (const boost::system::system_error& e) {
    spdlog::critical("{}", e.what());
    return false;
  }
  listen_url_ = url_for_endpoint(bound_.front().address().to_string(), bound_.front().port());
  public_url_ = current_->server.public_url.empty() ? listen_url_ : current_->server.public_url;
  return true;
}

// The data path's services (proxy/context.hpp) and the REST front on them.
bool gateway::make_front() {
  const net::client_options client = make_client_options(*current_);
  proxy::upstream_pools pools;
  for (auto& shard : shards_) {
    auto pool = net::upstream_pool::create(shard->get_executor(), client);
    if (!pool) {
      spdlog::critical("cannot set up TLS for upstreams (upstreams.ca_file {}): {}", current_->upstreams.ca_file,
                       pool.error().message());
      return false;
    }
    pools.add(*shard, std::move(*pool));
  }
  forwarded_audit_ = std::make_shared<registry::audit_batch>(*db_);
  live_ = std::make_shared<proxy::live_config>(make_live_settings(current_, public_url_, bound_));
  proxy::context data_path{
      .db = *db_,
      .ssrf = client.policy,
      .public_url = public_url_,
      .secrets = *keys_,
      .cache = &cache_,
      .upstreams = std::move(pools),
      .slots = std::make_shared<proxy::stream_slots>(),
      .live = live_,
      .syncs = std::make_shared<proxy::running_syncs>(),
      .streams = std::make_shared<proxy::open_streams>(),
      .refresher = std::make_shared<proxy::token_refresher>(),
      .installation_limits = std::make_shared<rate_limiter>(),
      .forwarded_audit = forwarded_audit_,
      .memory = &memory_,
  };
  api::api_context ctx{std::move(data_path), std::make_shared<rate_limiter>()};
  rest_ = std::make_unique<rest_api>(std::move(ctx));
  return true;
}

// A reload validates the file first and changes nothing unless all of it
// is good; then listeners, limits, timeouts, projects, templates and the
// log level change, without touching open connections or streams.
void gateway::reload() {
  notify::reloading();
  const unsigned n = ++reloads_;
  if (current_->source.empty()) {
    spdlog::warn("SIGHUP received: reload #{}: mcpgate runs on the embedded default (no --config), nothing to reload",
                 n);
    notify::ready();
    return;
  }
  spdlog::info("SIGHUP received: reload #{} of {}", n, current_->source);
  const auto rejected = [n](std::string_view why) {
    metrics::count_reload(false);
    spdlog::error("config reload #{} rejected{}: the running config stays in force", n, why);
    notify::ready();
  };
  auto loaded = config::load_file(current_->source);
  if (!loaded.value) {
    for (const auto& p : loaded.problems) spdlog::error("config reload #{}: {}", n, p.to_string());
    return rejected(" (" + std::to_string(loaded.problems.size()) + " problem(s))");
  }
  auto next = std::make_shared<const config::config>(std::move(*loaded.value));
  std::vector<asio::ip::tcp::endpoint> now_bound;
  try {
    now_bound = server_->relisten(endpoints_of(*next));
  } catch (const boost::system::system_error& e) {
    return rejected(std::string(": ") + e.what());
  }
  // Queued before any request of the new config can reach the store (its
  // work runs in order), so a new environment exists there when it is used.
  db_->run_detached([projects = to_registry(next->projects), n](registry::store& s) {
    auto synced = s.sync_projects(projects);
    if (!synced) spdlog::error("config reload #{}: recording the projects failed: {}", n, synced.error().message());
    return synced;
  });
  server_->update(make_server_options(*next));
  memory_.set_limit(next->server.limits.max_buffered_bytes);
  live_->set(make_live_settings(next, public_url_, now_bound));
  cache_.forget_installations();
  set_log_level(next->logging.level);
  for (const auto& what : restart_only_changes(*current_, *next)) {
    spdlog::warn("config reload #{}: {} changed; it takes effect at the next restart", n, what);
  }
  current_ = std::move(next);
  metrics::count_reload(true);
  spdlog::info("config reload #{} applied: {}", n, current_->source);
  notify::ready();
}

void gateway::on_signal(const boost::system::error_code& ec, int signo) {
  if (ec) return;
  if (signo == SIGHUP) {
    if (!stopping_) reload();
    signals_->async_wait([this](const boost::system::error_code& e, int s) { on_signal(e, s); });
    return;
  }
  if (!stopping_) drain(signo);
}

// Stop order: stop accepting, let in-flight requests finish (bounded by
// shutdown_grace), then stop the loops; the store is flushed after.
void gateway::drain(int signo) {
  stopping_ = true;
  spdlog::info("signal {} received: draining {} connection(s)", signo, server_->open_connections());
  notify::stopping();
  const auto stop_all = [this] {
    for (auto& shard : shards_) shard->stop();
  };
  grace_->expires_after(current_->server.timeouts.shutdown_grace);
  grace_->async_wait([this, stop_all](const boost::system::error_code& timer_ec) {
    if (timer_ec) return;
    spdlog::warn("shutdown grace period over: closing {} connection(s)", server_->open_connections());
    stop_all();
  });
  const auto drained = [this, stop_all, left = std::make_shared<std::atomic<int>>(metrics_server_ ? 2 : 1)] {
    if (loops_over_.load() || left->fetch_sub(1) != 1) return;
    spdlog::info("all connections drained");
    stop_all();
  };
  server_->stop(drained);
  if (metrics_server_) metrics_server_->stop(drained);
}

// The watchdog: WATCHDOG=1 from the first shard's loop, at half of
// WATCHDOG_USEC, so a stuck loop stops the pings and systemd restarts us.
void gateway::start_watchdog() {
  const auto every = notify::watchdog_interval();
  if (!every) return;
  spdlog::info("systemd watchdog on: WATCHDOG=1 every {} ms",
               std::chrono::duration_cast<std::chrono::milliseconds>(*every).count());
  watchdog_ = std::make_unique<asio::steady_timer>(*shards_.front());
  on_watchdog_ = [this, every = *every](const boost::system::error_code& ec) {
    if (ec) return;
    notify::watchdog();
    watchdog_->expires_after(every);
    watchdog_->async_wait(on_watchdog_);
  };
  watchdog_->expires_after(std::chrono::microseconds(0));
  watchdog_->async_wait(on_watchdog_);
}

void gateway::run_shards() {
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < shards_.size(); ++i) threads.emplace_back([shard = shards_[i].get()] { shard->run(); });
  shards_.front()->run();
  for (auto& shard : shards_) shard->stop();
  for (auto& t : threads) t.join();
  loops_over_ = true;
}

int gateway::run() {
  if (!open_storage()) return 1;
  make_shards();
  make_servers();
  if (!listen() || !make_front()) return 1;
  asio::io_context& first = *shards_.front();
  signals_ = std::make_unique<asio::signal_set>(first, SIGINT, SIGTERM, SIGHUP);
  grace_ = std::make_unique<asio::steady_timer>(first);
  signals_->async_wait([this](const boost::system::error_code& ec, int signo) { on_signal(ec, signo); });
  start_watchdog();

  server_->start();
  log_listening("listening", bound_);
  if (metrics_server_) {
    metrics_server_->start();
    log_listening("metrics listening", metrics_bound_);
  }
  print_banner(*current_, listen_url_);
  notify::ready();

  run_shards();
  // Audit records still in their batch window go to the store before it stops.
  forwarded_audit_->flush();
  db_->stop();
  spdlog::info("stopped");
  return 0;
}

}  // namespace

int serve(const config::config& cfg) {
  init_logging(cfg.logging.level, cfg.logging.format);
  // A write past a file size limit (RLIMIT_FSIZE) is an error the store
  // reports as "storage full", not a reason to kill the daemon.
  std::signal(SIGXFSZ, SIG_IGN);
  gateway running(cfg);
  return running.run();
}

}  // namespace mcpgate::daemon
