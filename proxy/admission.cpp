#include "proxy/admission.hpp"

#include "auth/api_keys.hpp"
#include "common/text.hpp"
#include "net/api_error.hpp"
#include "proxy/answers.hpp"
#include "proxy/installation_cache.hpp"

#include <spdlog/spdlog.h>

namespace mcpgate::proxy {

std::optional<net::http_response> check_rebinding(const options& settings, const net::http_request& req) {
  // The allow-lists are lower case already (daemon/options.cpp).
  const std::string_view host = req.header("Host");
  bool host_ok = false;
  for (const auto& allowed : settings.allowed_hosts) host_ok = host_ok || ascii_iequals(host, allowed);
  if (!host_ok) return proxy_error(403, "Forbidden: Host header not allowed");
  std::string_view origin = req.header("Origin");
  if (origin.empty()) return std::nullopt;  // not a browser
  while (origin.ends_with('/')) origin.remove_suffix(1);
  for (const auto& allowed : settings.allowed_origins) {
    if (ascii_iequals(origin, allowed)) return std::nullopt;
  }
  return proxy_error(403, "Forbidden: Origin not allowed");
}

std::string_view bearer_token(std::string_view authorization) {
  constexpr std::string_view scheme = "bearer ";
  if (authorization.size() <= scheme.size() || !net::iequals(authorization.substr(0, scheme.size()), scheme)) {
    return {};
  }
  auto token = authorization.substr(scheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  return token;
}

boost::asio::awaitable<std::variant<std::shared_ptr<const registry::api_key>, net::http_response>> authenticate(
    const context& ctx, const net::http_request& req, bool cached) {
  const std::string_view token = bearer_token(req.header("Authorization"));
  if (token.empty()) co_return net::not_authenticated().to_response();
  const auth::key_digest digest = auth::digest_api_key(token);
  std::shared_ptr<const registry::api_key> key;
  if (cached) key = ctx.cache->find_key(digest);
  if (!key) {
    const auto lookup = [hash = auth::hex_of(digest)](registry::store& s) { return s.find_api_key_by_hash(hash); };
    auto found = co_await ctx.db.run(lookup);
    if (!found) {
      if (found.error() == errc::not_found) co_return net::authentication_failed().to_response();
      spdlog::error("API key lookup failed: {}", found.error().message());
      co_return net::from_error_code(found.error()).to_response();
    }
    key = cached ? ctx.cache->put_key(digest, std::move(*found))
                 : std::make_shared<const registry::api_key>(std::move(*found));
  }
  co_return key;
}

}  // namespace mcpgate::proxy
