#include "proxy/token_refresher.hpp"

#include "common/metrics.hpp"
#include "net/await_callback.hpp"
#include "proxy/installation_cache.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <chrono>

namespace mcpgate::proxy {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// Waits between attempts when the AS could not be reached.
constexpr std::chrono::milliseconds backoff[] = {500ms, 1000ms};

// What a refresh needs from the store, read in one hop.
struct grant_material {
  result<registry::oauth_client> client = errc::not_found;
  std::string sealed_client_secret;
  std::string sealed_refresh;
};

// Seals and stores a grant the token endpoint gave; the cache forgets the
// installation. A grant that cannot be stored is a failure: the old one
// stays as it was.
asio::awaitable<refresh_result> store_new_grant(const context& ctx, const std::string& installation_id,
                                                oauth::token_response tokens) {
  refresh_result out;
  const auto now = std::chrono::system_clock::now();
  const std::string sealed_access =
      ctx.secrets.seal(tokens.access_token, secret_context(installation_id, "access_token"));
  const std::string sealed_refresh =
      tokens.refresh_token.empty()
          ? std::string()
          : ctx.secrets.seal(tokens.refresh_token, secret_context(installation_id, "refresh_token"));
  std::optional<sys_time> expires;
  if (tokens.expires_in) expires = now + *tokens.expires_in;
  const auto store = [&](registry::store& s) {
    return s.store_grant(installation_id, sealed_access, sealed_refresh, now, expires);
  };
  auto stored = co_await ctx.db.run(store);
  if (ctx.cache) ctx.cache->forget_installation(installation_id);
  if (!stored) {
    out.detail = "the new grant could not be stored: " + stored.error().message();
    co_return out;
  }
  spdlog::info("installation {}: access token refreshed{}", installation_id,
               tokens.refresh_token.empty() ? "" : " (refresh token rotated)");
  out.status = refresh_status::refreshed;
  out.access_token = std::move(tokens.access_token);
  co_return out;
}

// One refresh, with retries on failures that say nothing about the grant.
asio::awaitable<refresh_result> run_refresh(const context& ctx, std::string installation_id) {
  const auto read = [&installation_id](registry::store& s) {
    grant_material m;
    m.client = s.get_oauth_client(installation_id);
    if (auto secret = s.get_secret(installation_id, "client_secret")) m.sealed_client_secret = std::move(*secret);
    if (auto refresh = s.get_secret(installation_id, "refresh_token")) m.sealed_refresh = std::move(*refresh);
    return m;
  };
  auto material = co_await ctx.db.run(read);
  const auto mark_needs_reauth = [&ctx, &installation_id](std::string reason) -> asio::awaitable<void> {
    const auto mark = [&installation_id, &reason](registry::store& s) {
      return s.set_needs_reauth(installation_id, true, reason);
    };
    auto marked = co_await ctx.db.run(mark);
    if (!marked)
      spdlog::error("installation {}: marking needs_reauth failed: {}", installation_id, marked.error().message());
    if (ctx.cache) ctx.cache->forget_installation(installation_id);
  };

  refresh_result out;
  auto refresh_token =
      material.sealed_refresh.empty()
          ? result<std::string>(errc::not_found)
          : ctx.secrets.open(material.sealed_refresh, secret_context(installation_id, "refresh_token"));
  std::optional<oauth::client_credentials> credentials;
  if (material.client) credentials = open_client_credentials(ctx, *material.client, material.sealed_client_secret);
  if (!material.client || !refresh_token || !credentials) {
    out.status = refresh_status::rejected;
    out.detail = !material.client ? "no OAuth client is cached for the installation"
                 : !refresh_token ? "no usable refresh token is stored"
                                  : "the client secret cannot be opened";
    auto marking = mark_needs_reauth(!refresh_token ? "The access token is no longer accepted and the authorization "
                                                      "server issued no refresh token: sign in again"
                                                    : "The gateway cannot use its OAuth client for this installation: "
                                                      "sign in again");
    co_await std::move(marking);
    co_return out;
  }

  const asio::any_io_executor here = co_await asio::this_coro::executor;
  for (std::size_t attempt = 0;; ++attempt) {
    auto asking = oauth::refresh_token(ctx.upstreams.for_executor(here), material.client->token_endpoint, *credentials,
                                       *refresh_token, material.client->resource, oauth_options(ctx));
    oauth::token_result answer = co_await std::move(asking);
    if (answer.outcome == oauth::token_outcome::ok) {
      auto storing = store_new_grant(ctx, installation_id, std::move(answer.tokens));
      co_return co_await std::move(storing);
    }
    if (answer.outcome == oauth::token_outcome::rejected) {
      spdlog::warn("installation {}: the authorization server refused the refresh ({}): needs re-authentication",
                   installation_id, answer.error);
      out.status = refresh_status::rejected;
      out.detail = "the authorization server refused the refresh: " + answer.error;
      auto marking = mark_needs_reauth("The authorization server refused to refresh the access token (" + answer.error +
                                       "): sign in again");
      co_await std::move(marking);
      co_return out;
    }
    if (attempt == std::size(backoff)) {
      spdlog::warn("installation {}: token refresh failed, will try again on the next request: {}", installation_id,
                   answer.error);
      out.detail = "the token refresh failed: " + answer.error;
      co_return out;
    }
    asio::steady_timer wait(here, backoff[attempt]);
    auto waiting = wait.async_wait(asio::use_awaitable);
    co_await std::move(waiting);
  }
}

}  // namespace

std::optional<std::string> reauth_reason(const registry::installation& inst, sys_time now) {
  if (inst.auth_type != "oauth") return std::nullopt;
  if (inst.needs_reauth) return inst.reauth_reason.empty() ? std::string(grant_refused_reason) : inst.reauth_reason;
  if (inst.has_credential && !inst.refreshable && inst.token_expires_at && now >= *inst.token_expires_at) {
    return std::string(grant_expired_reason);
  }
  return std::nullopt;
}

std::string secret_context(const std::string& installation_id, std::string_view kind) {
  return "installation:" + installation_id + ":" + std::string(kind);
}

oauth::client_options oauth_options(const context& ctx) {
  oauth::client_options options;
  options.allow_http = ctx.ssrf.allow_private_networks;
  return options;
}

std::optional<oauth::client_credentials> open_client_credentials(
    const context& ctx, const registry::oauth_client& client, const std::string& sealed_secret) {
  oauth::client_credentials out;
  out.client_id = client.client_id;
  out.auth_method = client.token_endpoint_auth_method;
  if (!sealed_secret.empty()) {
    auto secret = ctx.secrets.open(sealed_secret, secret_context(client.installation_id, "client_secret"));
    if (!secret) return std::nullopt;
    out.client_secret = std::move(*secret);
  }
  return out;
}

asio::awaitable<refresh_result> token_refresher::refresh(const context& ctx, std::string installation_id,
                                                         std::string stale_token) {
  {
    std::lock_guard lock(mu_);
    const auto latest = latest_token_.find(installation_id);
    if (latest != latest_token_.end() && latest->second != stale_token && !running_.contains(installation_id)) {
      refresh_result already;
      already.status = refresh_status::refreshed;
      already.access_token = latest->second;
      co_return already;
    }
  }
  const asio::any_io_executor here = co_await asio::this_coro::executor;
  auto outcome = net::await_callback<refresh_result>([&](auto done) {
    join_or_start(ctx, installation_id, here, std::move(done));
  });
  auto [result] = co_await std::move(outcome);
  co_return result;
}

void token_refresher::refresh_in_background(const context& ctx, const std::string& installation_id,
                                            const std::string& current_token, const asio::any_io_executor& shard) {
  {
    std::lock_guard lock(mu_);
    const auto latest = latest_token_.find(installation_id);
    if (latest != latest_token_.end() && latest->second != current_token) return;
  }
  join_or_start(ctx, installation_id, shard, nullptr);
}

void token_refresher::forget(const std::string& installation_id) {
  std::lock_guard lock(mu_);
  latest_token_.erase(installation_id);
}

void token_refresher::join_or_start(const context& ctx, const std::string& installation_id,
                                    const asio::any_io_executor& shard, waiter w) {
  {
    std::lock_guard lock(mu_);
    auto [it, fresh] = running_.try_emplace(installation_id);
    if (w) it->second.waiters.push_back(std::move(w));
    if (!fresh) return;
  }
  asio::co_spawn(shard, run_job(ctx, installation_id), asio::detached);
}

asio::awaitable<void> token_refresher::run_job(const context& ctx, std::string installation_id) {
  auto refreshing = run_refresh(ctx, installation_id);
  const refresh_result outcome = co_await std::move(refreshing);
  finish(installation_id, outcome);
}

void token_refresher::finish(const std::string& installation_id, const refresh_result& result) {
  metrics::count_refresh(result.status == refresh_status::refreshed  ? "refreshed"
                         : result.status == refresh_status::rejected ? "rejected"
                                                                     : "failed");
  std::vector<waiter> waiters;
  {
    std::lock_guard lock(mu_);
    auto it = running_.find(installation_id);
    if (it != running_.end()) {
      waiters = std::move(it->second.waiters);
      running_.erase(it);
    }
    if (result.status == refresh_status::refreshed) latest_token_[installation_id] = result.access_token;
    else latest_token_.erase(installation_id);
  }
  for (auto& w : waiters) w(result);
}

}  // namespace mcpgate::proxy
