// Turning the config into the pieces every command needs: the data folder,
// the store (migrated, projects synced) and the secret key ring.
// Thread-safety: call from main's thread before anything runs concurrently.
#pragma once

#include "auth/secret_box.hpp"
#include "config/config.hpp"
#include "registry/store.hpp"

#include <memory>
#include <string>

namespace mcpgate::daemon {

// The config's projects and environments as the store records them.
std::vector<registry::project> to_registry(const std::vector<config::project>& projects);

// Opens the SQLite store named by the config, creating its folder (0700) if
// missing, and makes its projects/environments match the config. On failure
// `why` says what went wrong.
std::unique_ptr<registry::store> open_store(const config::config& cfg, std::string& why);

// Loads (or, for the defaulted key file, creates) the secret key ring.
std::optional<auth::key_ring> open_key_ring(const config::config& cfg, std::string& why);

// "http://127.0.0.1:8080" for a bound endpoint, "http://[::1]:8080" for IPv6.
std::string url_for_endpoint(const std::string& host, unsigned short port);

}  // namespace mcpgate::daemon
