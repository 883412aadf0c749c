#include "proxy/admission.hpp"

#include "auth/api_keys.hpp"
#include "common/text.hpp"
#include "net/api_error.hpp"
#include "proxy/answers.hpp"
#include "proxy/installation_cache.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
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

namespace {

using key_lookup = std::variant<std::shared_ptr<const registry::api_key>, net::http_response>;

// The key from the store: the key, or the answer refusing the request.
boost::asio::awaitable<key_lookup> read_key(const context& ctx, const auth::key_digest& digest, bool cached) {
  const auto lookup = [hash = auth::hex_of(digest)](registry::store& s) { return s.find_api_key_by_hash(hash); };
  auto found = co_await ctx.db.run(lookup);
  if (!found) {
    if (found.error() == errc::not_found) {
      if (cached) ctx.cache->forget_key(digest);
      co_return net::authentication_failed().to_response();
    }
    spdlog::error("API key lookup failed: {}", found.error().message());
    co_return net::from_error_code(found.error()).to_response();
  }
  if (cached) co_return ctx.cache->put_key(digest, std::move(*found));
  co_return std::make_shared<const registry::api_key>(std::move(*found));
}

// Reads a stale cached key again without anyone waiting for it: the cache
// then holds it afresh, or forgets it when it was revoked.
boost::asio::awaitable<void> refresh_key(const context& ctx, auth::key_digest digest) {
  auto reading = read_key(ctx, digest, true);
  auto outcome = co_await std::move(reading);
  if (auto* refused = std::get_if<net::http_response>(&outcome); refused != nullptr && refused->status != 401) {
    ctx.cache->refresh_failed(digest);  // the store could not say: the next request tries again
  }
}

}  // namespace

boost::asio::awaitable<key_lookup> authenticate(const context& ctx, const net::http_request& req, bool cached) {
  const std::string_view token = bearer_token(req.header("Authorization"));
  if (token.empty()) co_return net::not_authenticated().to_response();
  const auth::key_digest digest = auth::digest_api_key(token);
  if (cached) {
    auto hit = ctx.cache->find_key(digest);
    if (hit.key) {
      // Past its TTL: served while one request reads it again (the hot
      // path never waits behind the store for a key it knows).
      if (hit.stale && ctx.cache->claim_refresh(digest)) {
        const boost::asio::any_io_executor here = co_await boost::asio::this_coro::executor;
        boost::asio::co_spawn(here, refresh_key(ctx, digest), boost::asio::detached);
      }
      co_return std::move(hit.key);
    }
  }
  auto reading = read_key(ctx, digest, cached);
  co_return co_await std::move(reading);
}

}  // namespace mcpgate::proxy
