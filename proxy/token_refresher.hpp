// OAuth grants on the proxy path: refreshing an installation's access token
// (spec: oauth.md "Refresh", proxy.md step 6).
//
//   auto op = ctx.refresher->refresh(ctx, inst.id, failed_token);
//   refresh_result r = co_await std::move(op);
//   if (r.status == refresh_status::refreshed) ... r.access_token ...
//
// At most one refresh runs per installation: callers that arrive while one is
// in flight wait for its outcome, on whichever shard they run. A refresh
//   - reads the cached OAuth client and the sealed refresh token from the
//     store, and asks the token endpoint (grant_type=refresh_token, resource);
//   - on success seals and stores the new access token, and the new refresh
//     token when the AS rotated it (else the old one stays), clears
//     needs_reauth and makes the cache forget the installation;
//   - when the AS rejects it (4xx: invalid_grant, revoked...) or there is no
//     refresh token, marks the installation needs_reauth;
//   - on a network failure, a timeout or a 5xx, tries again with backoff
//     (0.5 s, 1 s) and, if it still fails, reports `failed` without marking
//     needs_reauth: the grant may be fine once the AS is back.
//
// Thread-safety: token_refresher may be used from every shard at once.
#pragma once

#include "oauth/client.hpp"
#include "proxy/context.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace mcpgate::proxy {

enum class refresh_status {
  refreshed,
  rejected,  // the grant is unusable: needs_reauth is set
  failed,    // could not reach a verdict (network, AS down): nothing marked
};

struct refresh_result {
  refresh_status status = refresh_status::failed;
  std::string access_token;  // when refreshed
  std::string detail;        // when not: why (never holds a token)
};

// Why an oauth installation needs the user to sign in again, for the API's
// needs_reauth_reason and the -32003 answer's data.reason.
inline constexpr std::string_view grant_refused_reason =
    "The authorization server no longer accepts the stored grant: sign in again";
inline constexpr std::string_view grant_expired_reason =
    "The access token expired and the authorization server issued no refresh token (offline access was not "
    "granted): sign in again";
// nullopt when the installation's grant is usable (or it is no oauth
// installation): else the stored reason, grant_refused_reason when none was
// stored, or grant_expired_reason once a grant without a refresh token has
// expired at `now` (nothing is stored for that: it follows from the grant).
std::optional<std::string> reauth_reason(const registry::installation& inst, sys_time now);

// The context a credential of an installation is sealed under.
std::string secret_context(const std::string& installation_id, std::string_view kind);

// The OAuth client options the daemon uses: https endpoints required unless
// private upstreams are allowed (loopback test setups).
oauth::client_options oauth_options(const context& ctx);

// The token endpoint credentials of an installation's cached OAuth client.
// `sealed_secret` is the stored "client_secret" secret, or "" when none.
std::optional<oauth::client_credentials> open_client_credentials(
    const context& ctx, const registry::oauth_client& client, const std::string& sealed_secret);

class token_refresher {
 public:
  // `stale_token`: the access token the caller found wanting (expired, or
  // refused by the upstream); "" when it has none. When another refresh has
  // replaced that token in the meantime, its successor is returned at once.
  boost::asio::awaitable<refresh_result> refresh(const context& ctx, std::string installation_id,
                                                 std::string stale_token);

  // Starts a refresh without waiting for it (a token past half its
  // lifetime); nothing when one is running already, or when a refresh has
  // replaced `current_token` already.
  void refresh_in_background(const context& ctx, const std::string& installation_id, const std::string& current_token,
                             const boost::asio::any_io_executor& shard);

  // A new grant came from elsewhere (the OAuth callback): what the last
  // refresh produced is no longer the newest token.
  void forget(const std::string& installation_id);

 private:
  using waiter = std::function<void(refresh_result)>;
  struct job {
    std::vector<waiter> waiters;
  };
  // Starts the job's coroutine on `shard` when none is running; `w` (may be
  // empty) hears the outcome.
  void join_or_start(const context& ctx, const std::string& installation_id, const boost::asio::any_io_executor& shard,
                     waiter w);
  boost::asio::awaitable<void> run_job(const context& ctx, std::string installation_id);
  void finish(const std::string& installation_id, const refresh_result& result);

  std::mutex mu_;
  std::map<std::string, job> running_;               // guarded by mu_
  std::map<std::string, std::string> latest_token_;  // guarded by mu_: the last token a refresh produced
};

}  // namespace mcpgate::proxy
