#include "daemon/options.hpp"

#include "common/text.hpp"

#include <algorithm>

namespace mcpgate::daemon {

namespace asio = boost::asio;

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

namespace {

rate rate_of(const config::rate_limit& limit) {
  const double burst = limit.burst > 0 ? static_cast<double>(limit.burst)
                                       : std::max(1.0, 2 * limit.requests_per_second);
  return rate{limit.requests_per_second, burst};
}

}  // namespace

net::client_options make_client_options(const config::config& cfg) {
  net::client_options client;
  client.policy = net::ssrf_policy{cfg.upstreams.allow_private_networks, cfg.upstreams.allow_hosts};
  client.connect_timeout = cfg.server.timeouts.upstream_connect;
  client.ca_file = cfg.upstreams.ca_file;
  client.max_idle_per_origin = 256;
  client.single_thread = true;  // each shard has its own pool
  return client;
}

proxy::options make_proxy_options(const config::config& cfg, const std::string& public_url,
                                  const std::vector<asio::ip::tcp::endpoint>& bound) {
  proxy::options o;
  o.first_byte_timeout = cfg.server.timeouts.upstream_first_byte;
  o.stream_idle = cfg.server.timeouts.stream_idle;
  o.max_streams_per_installation = cfg.server.limits.max_streams_per_installation;
  o.max_upstream_requests = cfg.server.limits.max_upstream_requests;
  o.max_response_bytes = cfg.server.limits.max_response_bytes;
  o.per_installation = rate_of(cfg.rate_limits.per_installation);
  o.tools_list_hide = cfg.proxy.tools_list_hide;
  o.filtered_list_ttl = cfg.proxy.filtered_list_ttl;
  o.audit_calls = cfg.audit.forwarded_calls == "off"            ? proxy::call_audit::off
                  : cfg.audit.forwarded_calls == "blocked_only" ? proxy::call_audit::blocked_only
                                                                : proxy::call_audit::all;
  const auto add = [&o](const std::string& scheme, const std::string& authority) {
    o.allowed_hosts.push_back(ascii_lower(authority));
    o.allowed_origins.push_back(ascii_lower(scheme + "://" + authority));
  };
  if (const auto url = net::parse_url(public_url)) {
    const std::string scheme = url->origin.tls ? "https" : "http";
    add(scheme, url->host_header);
    const std::string host =
        url->origin.host.find(':') != std::string::npos ? "[" + url->origin.host + "]" : url->origin.host;
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

std::shared_ptr<const proxy::live_settings> make_live_settings(
    std::shared_ptr<const config::config> cfg, const std::string& public_url,
    const std::vector<asio::ip::tcp::endpoint>& bound) {
  auto live = std::make_shared<proxy::live_settings>();
  live->proxy = make_proxy_options(*cfg, public_url, bound);
  live->templates = cfg->templates;
  live->oauth_state_lifetime = cfg->server.timeouts.oauth_state;
  live->per_key = rate_of(cfg->rate_limits.per_key);
  live->cfg = std::move(cfg);
  return live;
}

std::vector<std::string> restart_only_changes(const config::config& was, const config::config& now) {
  std::vector<std::string> out;
  const auto note = [&out](bool changed, const char* what) {
    if (changed) out.emplace_back(what);
  };
  note(was.data_dir != now.data_dir, "data_dir");
  const auto postgres_of = [](const config::config& c) {
    return c.storage.postgres ? config::postgres_parameters(*c.storage.postgres)
                              : std::vector<std::pair<std::string, std::string>>{};
  };
  note(was.storage.sqlite_path != now.storage.sqlite_path || postgres_of(was) != postgres_of(now), "storage");
  note(was.secrets.key_files != now.secrets.key_files || was.secrets.generate_missing != now.secrets.generate_missing,
       "secrets");
  note(was.server.workers != now.server.workers, "server.workers");
  note(was.server.public_url != now.server.public_url, "server.public_url");
  const auto same_address =
      [](const std::optional<config::listen_address>& a, const std::optional<config::listen_address>& b) {
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

}  // namespace mcpgate::daemon
