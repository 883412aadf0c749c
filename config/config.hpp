// mcpgate's configuration as validated plain structs.
//
// Produced by config/load.hpp from YAML (or as the embedded default), then
// immutable: the daemon turns it into each module's options and shares it as a
// shared_ptr<const config>. yaml-cpp never appears outside config/*.cpp.
// Thread-safety: plain values; safe to read from any thread once built.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mcpgate::config {

struct listen_address {
  std::string host;      // an IP literal: "127.0.0.1", "::1", "0.0.0.0" ("localhost" reads as 127.0.0.1)
  std::uint16_t port{};  // 0 = any free port (tests)
};

struct limits {
  std::size_t max_connections = 10000;
  std::size_t max_body_bytes = 1024 * 1024;
  std::size_t max_header_bytes = 16 * 1024;
  // Concurrent proxied requests (SSE streams included) per installation;
  // beyond it the proxy answers 429.
  std::size_t max_streams_per_installation = 100;
  // Proxied requests in flight across all installations (SSE streams until
  // they end); beyond it new ones are shed: 503 with Retry-After.
  std::size_t max_upstream_requests = 4096;
  // Bytes of message bodies held in memory at once: request bodies being
  // read and non-streamed upstream answers. Beyond it new work is shed: 503
  // with Retry-After, before memory grows.
  std::size_t max_buffered_bytes = 256 * 1024 * 1024;
  // One non-streamed upstream answer (read whole); a larger one is 502.
  std::size_t max_response_bytes = 16 * 1024 * 1024;
};

// A token bucket: `requests_per_second` on average, `burst` at once.
// requests_per_second 0 turns the limit off.
struct rate_limit {
  double requests_per_second = 0;
  std::size_t burst = 0;  // 0: twice the rate, at least 1
};

struct rate_limits {
  // Every request of one API key (management API and proxy). Off by default.
  rate_limit per_key{};
  // Proxied requests to one installation.
  rate_limit per_installation{100, 200};
};

struct timeouts {
  std::chrono::milliseconds upstream_connect{10'000};
  std::chrono::milliseconds upstream_first_byte{180'000};
  std::chrono::milliseconds idle{60'000};            // keep-alive connection with no request
  std::chrono::milliseconds request_read{30'000};    // whole request (headers + body) from a client
  std::chrono::milliseconds shutdown_grace{10'000};  // in-flight work allowed to finish on SIGTERM
  std::chrono::milliseconds stream_idle{300'000};    // proxied SSE stream with no upstream byte
  std::chrono::milliseconds oauth_state{600'000};    // an authorize link (state, cookie) stays usable
};

struct server {
  std::vector<listen_address> listen{{"127.0.0.1", 8080}};
  // When set, /metrics is served here only (with /healthz and /readyz), not
  // on the API listeners. A restart applies a change.
  std::optional<listen_address> metrics_listen;
  // Absolute base URL ("https://gw.example.com"), no trailing slash. Empty:
  // derived from the first listener's bound address at start.
  std::string public_url;
  unsigned workers = 0;  // 0 = one per hardware thread ("auto")
  // DNS-rebinding defence on the proxy route. Host must name public_url's
  // authority, a listener ("127.0.0.1:8080", and "localhost:8080" for a
  // loopback listener) or one of allowed_hosts; an Origin, when sent, must be
  // public_url's origin, a listener's, or one of allowed_origins.
  std::vector<std::string> allowed_hosts;    // "gw.internal:8080"
  std::vector<std::string> allowed_origins;  // "https://app.example.com"
  struct limits limits;
  struct timeouts timeouts;
};

// storage.postgres: a PostgreSQL database shared by every node (issue 18).
// Either `conninfo` (a libpq connection string or URI, literal without a
// password, or ${ENV}), `dsn_file` (a file holding one, read at load), or the
// separate fields; the password only from a file or an environment variable,
// read at load and never shown.
struct postgres {
  std::string conninfo;  // from conninfo or dsn_file
  std::string host;      // a name, an address, or a Unix socket folder
  unsigned port = 0;     // 0: libpq's default (5432)
  std::string dbname;
  std::string user;
  std::string password_file;
  std::string password_env;
  std::string password;     // read at load from password_file or password_env
  std::string sslmode;      // "" (libpq's default, prefer), disable, allow, prefer, require, verify-ca, verify-full
  std::string sslrootcert;  // CA file for verify-ca / verify-full
  unsigned pool_size = 4;   // connections, each on its own store thread
  std::chrono::milliseconds statement_timeout{5'000};
};

struct storage {
  std::string sqlite_path;  // absolute or relative to the working directory
  // Set: the store is this PostgreSQL database, and sqlite_path is unused.
  std::optional<struct postgres> postgres;
};

// The libpq connection parameters of `p`, for PQconnectdbParams with
// expand_dbname set: "dbname" first (the conninfo string or URI when one is
// given, which libpq expands, else the dbname), then the fields that are set
// (they override what the conninfo says), the password when there is one,
// and application_name=mcpgate. Holds the password: never log it.
std::vector<std::pair<std::string, std::string>> postgres_parameters(const postgres& p);

struct secrets {
  // The first seals, all open (rotation). When the config names none, the
  // daemon uses <data_dir>/secret.key and creates it (0600) if missing.
  std::vector<std::string> key_files;
  bool generate_missing = false;  // true only for the defaulted key file
};

struct upstreams {
  bool allow_private_networks = false;
  std::vector<std::string> allow_hosts;  // "127.0.0.1:9000", "*.corp.example", "host"
  std::string ca_file;                   // extra trusted CAs (PEM) besides the system store
};

struct environment {
  std::int64_t id{};
  std::string name;
};

struct project {
  std::int64_t id{};
  std::string name;
  std::vector<environment> environments;  // always contains one with id == project id
};

enum class auth_type { oauth, api_key, none };

struct template_entry {
  std::string id;
  std::string name;
  std::string url;
  std::string docs_url;
  std::string description;
  enum auth_type auth_type = auth_type::oauth;
  std::string icon_key;
  std::string category;  // business, data, design, dev, infra, productivity
  bool is_active = true;
  std::string client_id;
  // oauth: ask for offline_access (a refresh token) when the authorization
  // server lists it in scopes_supported; false never asks.
  bool offline_access = true;
  std::string client_secret_file;  // secrets only by file or ${ENV}
  std::string client_secret_env;
  // The secret itself, read at load from client_secret_file (trailing line
  // breaks dropped) or the environment variable. Never logged or shown.
  std::string client_secret;
  std::string api_key_header = "Authorization";
  std::string api_key_format = "Bearer {key}";
};

struct proxy {
  // Approval states whose tools tools/list answers leave out ("removed":
  // tools the last sync did not see).
  std::vector<std::string> tools_list_hide{"do_not_use", "removed"};
  // A tools/list answer to a request of protocol 2026-07-28 that lost a
  // tool is made private (cacheScope) and keeps at most this ttlMs.
  std::chrono::milliseconds filtered_list_ttl{60'000};
};

struct audit {
  // Which proxied tools/call messages leave an audit record: "all" (blocked
  // and forwarded), "blocked_only", or "off" (none). Approval changes and
  // installation changes are always recorded.
  std::string forwarded_calls = "all";
};

struct logging {
  std::string level = "info";
  std::string format = "json";  // "json" or "text"
};

struct config {
  std::string source;    // the file it came from; "" for the embedded default
  std::string data_dir;  // default home of the database and the key file
  struct server server;
  struct storage storage;
  struct secrets secrets;
  struct upstreams upstreams;
  std::vector<project> projects;
  std::vector<template_entry> templates;
  struct proxy proxy;
  struct rate_limits rate_limits;
  struct audit audit;
  struct logging logging;

  // The environment with this id, and its project; nullptr when unknown.
  const environment* find_environment(std::int64_t id, const project** owner = nullptr) const;
  const project* find_project(std::int64_t id) const;
};

}  // namespace mcpgate::config
