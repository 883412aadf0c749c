#include "daemon/setup.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <filesystem>
#include <system_error>

namespace mcpgate::daemon {

namespace fs = std::filesystem;

namespace {

bool ensure_private_folder(const fs::path& folder, std::string& why) {
  if (folder.empty()) return true;
  std::error_code ec;
  if (fs::exists(folder, ec)) return true;
  fs::create_directories(folder, ec);
  if (ec) {
    why = "cannot create folder " + folder.string() + ": " + ec.message();
    return false;
  }
  ::chmod(folder.c_str(), 0700);
  return true;
}

}  // namespace

std::vector<registry::project> to_registry(const std::vector<config::project>& projects) {
  std::vector<registry::project> out;
  for (const auto& p : projects) {
    registry::project rp{p.id, p.name, {}};
    for (const auto& e : p.environments) rp.environments.push_back({e.id, p.id, e.name});
    out.push_back(std::move(rp));
  }
  return out;
}

namespace {

// The store the config names: PostgreSQL when storage.postgres is set (one
// connection: the pool of store threads is still to come), else SQLite.
result<std::unique_ptr<registry::store>> open_configured(const config::config& cfg, std::string& where,
                                                         std::string& why) {
  if (cfg.storage.postgres) {
    registry::postgres_options options;
    options.statement_timeout = cfg.storage.postgres->statement_timeout;
    for (auto& [key, value] : config::postgres_parameters(*cfg.storage.postgres)) {
      if (key == "dbname" && options.conninfo.empty()) options.conninfo = std::move(value);
      else if (key != "application_name") options.parameters.emplace_back(std::move(key), std::move(value));
    }
    where = "PostgreSQL";
    return registry::open_postgres_store(options);
  }
  const fs::path path(cfg.storage.sqlite_path);
  where = path.string();
  if (!ensure_private_folder(path.parent_path(), why)) return errc::store_failure;
  return registry::open_sqlite_store(path.string());
}

}  // namespace

std::unique_ptr<registry::store> open_store(const config::config& cfg, std::string& why) {
  std::string where;
  auto opened = open_configured(cfg, where, why);
  if (!opened) {
    if (why.empty()) why = "cannot open the database " + where + ": " + opened.error().message();
    return nullptr;
  }
  auto store = std::move(*opened);
  if (auto synced = store->sync_projects(to_registry(cfg.projects)); !synced) {
    // A full or read-only storage does not stop the gateway: what the store
    // holds is served, changes are refused with 503 until it recovers. The
    // projects are recorded at the next reload or start.
    if (synced.error() == errc::storage_full || synced.error() == errc::storage_read_only) {
      spdlog::warn("cannot record the configured projects ({}): serving what the store holds",
                   synced.error().message());
      return store;
    }
    why = "cannot record the configured projects: " + synced.error().message();
    return nullptr;
  }
  return store;
}

std::optional<auth::key_ring> open_key_ring(const config::config& cfg, std::string& why) {
  auto ring = auth::key_ring::from_files(cfg.secrets.key_files, cfg.secrets.generate_missing);
  if (!ring) {
    why = "cannot load the secret key (" +
          (cfg.secrets.key_files.empty() ? std::string("none configured") : cfg.secrets.key_files.front()) +
          "): " + ring.error().message();
    return std::nullopt;
  }
  return std::move(*ring);
}

std::string url_for_endpoint(const std::string& host, unsigned short port) {
  const bool v6 = host.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace mcpgate::daemon
