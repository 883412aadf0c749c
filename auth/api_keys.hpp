// Personal API keys: generation, hashing and scope rules.
//
// A key's secret is "mcpg_" followed by 43 base64url characters (256 random
// bits). It is shown once; the store keeps only its SHA-256 (hex), which is
// enough because the secret is high-entropy: nothing to brute-force.
// Thread-safety: pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgate::auth {

inline constexpr std::string_view scope_read = "project:read";
inline constexpr std::string_view scope_write = "project:write";
inline constexpr std::string_view scope_all = "*";

struct new_api_key {
  std::string secret;  // show once, never store
  std::string hash;    // hash_api_key(secret)
  std::string mask;    // "mcpg_abcd...wxyz"
};

new_api_key generate_api_key();

// Lower-case hex SHA-256 of the secret.
std::string hash_api_key(std::string_view secret);

// The same SHA-256, as bytes: what the proxy's key cache is keyed by (no
// allocation); hex_of() gives hash_api_key()'s form of it.
using key_digest = std::array<unsigned char, 32>;
key_digest digest_api_key(std::string_view secret);
std::string hex_of(const key_digest& digest);

// Parses "project:read,project:write" / "*"; nullopt on an unknown or empty
// scope. The result is de-duplicated and keeps the given order.
std::optional<std::vector<std::string>> parse_scopes(std::string_view csv);

// True if `granted` includes `required` ("*" includes everything;
// project:write includes project:read, as a write key can read).
bool has_scope(const std::vector<std::string>& granted, std::string_view required);

// True if a key limited to `allowed` (empty = unlimited) may use `project_id`.
bool allows_project(const std::vector<std::int64_t>& allowed, std::int64_t project_id);

}  // namespace mcpgate::auth
