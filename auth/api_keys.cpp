#include "auth/api_keys.hpp"

#include "auth/digest.hpp"
#include "common/ids.hpp"

#include <openssl/crypto.h>

#include <algorithm>

namespace mcpgate::auth {
namespace {

constexpr std::string_view key_prefix = "mcpg_";
constexpr std::size_t key_random_bytes = 32;  // 43 base64url characters

std::string_view trim_spaces(std::string_view s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

}  // namespace

new_api_key generate_api_key() {
  std::string random = random_bytes(key_random_bytes);
  const std::string body = base64url(random);
  OPENSSL_cleanse(random.data(), random.size());
  new_api_key out;
  out.secret = std::string(key_prefix) + body;
  out.hash = hash_api_key(out.secret);
  out.mask = std::string(key_prefix) + body.substr(0, 4) + "..." + body.substr(body.size() - 4);
  return out;
}

std::string hash_api_key(std::string_view secret) { return hex_of(digest_api_key(secret)); }

key_digest digest_api_key(std::string_view secret) {
  // An agent sends the same key on every request: each thread remembers the
  // digests of the last few keys it hashed. The comparison runs in constant
  // time, so a guess learns nothing about a remembered key but whether it
  // is one (which means the guesser holds it already).
  struct remembered {
    std::array<char, 64> secret{};
    std::size_t size = 0;  // 0: empty
    key_digest digest{};
  };
  thread_local std::array<remembered, 4> memo;
  thread_local std::size_t next = 0;
  const bool fits = !secret.empty() && secret.size() <= remembered{}.secret.size();
  if (fits) {
    for (const auto& m : memo) {
      if (m.size == secret.size() && CRYPTO_memcmp(m.secret.data(), secret.data(), secret.size()) == 0) {
        return m.digest;
      }
    }
  }
  const key_digest digest = sha256(secret);
  if (fits) {
    remembered& slot = memo[next++ % memo.size()];
    OPENSSL_cleanse(slot.secret.data(), slot.secret.size());
    std::copy(secret.begin(), secret.end(), slot.secret.begin());
    slot.size = secret.size();
    slot.digest = digest;
  }
  return digest;
}

std::string hex_of(const key_digest& digest) {
  return to_hex({reinterpret_cast<const char*>(digest.data()), digest.size()});
}

std::optional<std::vector<std::string>> parse_scopes(std::string_view csv) {
  std::vector<std::string> scopes;
  while (true) {
    const auto comma = csv.find(',');
    const std::string_view item = trim_spaces(csv.substr(0, comma));
    if (item != scope_read && item != scope_write && item != scope_all) return std::nullopt;
    if (std::find(scopes.begin(), scopes.end(), item) == scopes.end()) scopes.emplace_back(item);
    if (comma == std::string_view::npos) return scopes;
    csv.remove_prefix(comma + 1);
  }
}

bool has_scope(const std::vector<std::string>& granted, std::string_view required) {
  return std::any_of(granted.begin(), granted.end(), [&](const std::string& g) {
    return g == scope_all || g == required || (g == scope_write && required == scope_read);
  });
}

bool allows_project(const std::vector<std::int64_t>& allowed, std::int64_t project_id) {
  return allowed.empty() || std::find(allowed.begin(), allowed.end(), project_id) != allowed.end();
}

}  // namespace mcpgate::auth
