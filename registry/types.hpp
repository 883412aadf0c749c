// The registry's records: what the store keeps, as plain values.
// Thread-safety: plain values.
#pragma once

#include "common/time.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mcpgate::registry {

struct user {
  std::int64_t id{};
  std::string name;
  sys_time created_at{};
};

// A personal API key. Only the SHA-256 hash of the secret is ever stored.
struct api_key {
  std::string id;                    // UUIDv7, public
  std::int64_t user_id{};
  std::string user_name;             // joined from users, for display
  std::string secret_hash;           // lower-case hex SHA-256 of the secret
  std::string mask;                  // "mcpg_abcd...wxyz": enough to recognise it
  std::vector<std::string> scopes;   // "project:read", "project:write", "*"
  std::vector<std::int64_t> projects;  // empty: every project
  sys_time created_at{};
  std::optional<sys_time> revoked_at;
};

struct environment {
  std::int64_t id{};
  std::int64_t project_id{};
  std::string name;
};

struct project {
  std::int64_t id{};
  std::string name;
  std::vector<environment> environments;
};

struct installation {
  std::string id;                // UUIDv7
  std::int64_t environment_id{};
  std::int64_t user_id{};
  std::optional<std::string> template_id;
  std::string display_name;
  std::string url;
  std::string description;
  std::string auth_type = "oauth";  // "oauth", "api_key", "none"
  bool is_enabled = true;
  bool needs_reauth = false;
  bool has_credential = false;   // an API key or access token is stored (sealed)
  std::int64_t tool_count = 0;   // tools not marked removed
  sys_time created_at{};
  sys_time updated_at{};
};

// The fields PATCH may change; unset members stay as they are.
struct installation_patch {
  std::optional<std::string> display_name;
  std::optional<std::string> description;
  std::optional<bool> is_enabled;
};

}  // namespace mcpgate::registry
