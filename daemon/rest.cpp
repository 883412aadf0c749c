#include "daemon/rest.hpp"

#include "auth/api_keys.hpp"
#include "common/ids.hpp"
#include "common/log.hpp"
#include "daemon/api/audit.hpp"
#include "daemon/api/errors.hpp"
#include "daemon/api/installations.hpp"
#include "daemon/api/oauth.hpp"
#include "daemon/api/proxy.hpp"
#include "daemon/api/tools.hpp"
#include "daemon/metrics.hpp"
#include "daemon/router.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

namespace mcpgate::daemon {
namespace {

// "Bearer <key>" (scheme case-insensitive); "" when absent or another scheme.
std::string_view bearer_token(std::string_view authorization) {
  constexpr std::string_view scheme = "bearer ";
  if (authorization.size() <= scheme.size() || !iequals(authorization.substr(0, scheme.size()), scheme)) {
    return {};
  }
  auto token = authorization.substr(scheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  return token;
}

bool method_allowed(resource r, std::string_view method) {
  const std::string_view allowed = allowed_methods(r);
  std::size_t start = 0;
  while (start < allowed.size()) {
    std::size_t end = allowed.find(", ", start);
    if (end == std::string_view::npos) end = allowed.size();
    if (allowed.substr(start, end - start) == method) return true;
    start = end + 2;
  }
  return false;
}

// The client's X-Request-Id when it is 1-128 visible ASCII characters, else
// a new time-ordered id.
std::string request_id_of(const http_request& req) {
  const std::string_view given = req.header("X-Request-Id");
  const bool sane = !given.empty() && given.size() <= 128 &&
                    std::all_of(given.begin(), given.end(), [](char c) { return c > 0x20 && c < 0x7f; });
  return sane ? std::string(given) : new_uuid_v7();
}

std::string_view required_scope(resource r, std::string_view method) {
  if (r == resource::installations && method == "POST") return auth::scope_write;
  return auth::scope_read;
}

}  // namespace

rest_api::rest_api(api::api_context ctx) : ctx_(std::move(ctx)) {}

http_response rest_api::error_response(unsigned status, std::string_view target) const {
  const auto r = match_route(target);
  // Answered by the server itself, before any handler: counted here.
  metrics::count_request(r ? route_name(r->resource) : "unknown", status, std::chrono::steady_clock::duration::zero(),
                         false);
  if (status == 503) metrics::count_shed("memory");
  if (r && r->resource == resource::proxy) {  // the proxy's own error body
    switch (status) {
      case 413: return api::proxy_error(413, "Request body too large");
      case 431: return api::proxy_error(431, "Request headers too large");
      case 400: return api::proxy_error(400, "Malformed HTTP request");
      case 503: {
        http_response shed = api::proxy_error(503, "The gateway is overloaded; try again shortly");
        shed.headers.emplace_back("Retry-After", "1");
        return shed;
      }
      default: return api::proxy_error(500, "Internal error");
    }
  }
  switch (status) {
    case 413: return api::payload_too_large().to_response();
    case 431: return api::header_too_large().to_response();
    case 400: return api::bad_request("Malformed HTTP request.").to_response();
    case 503: return api::overloaded(1).to_response();
    default: return api::server_error().to_response();
  }
}

boost::asio::awaitable<http_response> rest_api::handle(http_request& req) const {
  const auto started = std::chrono::steady_clock::now();
  request_record record;
  auto routing = route_request(req, record);
  http_response resp = co_await std::move(routing);
  const auto latency = std::chrono::steady_clock::now() - started;
  metrics::count_request(record.route, resp.status, latency, record.route == "proxy");
  if (spdlog::should_log(spdlog::level::info)) {
    boost::json::object fields;
    fields["request_id"] = request_id_of(req);
    fields["method"] = req.method;
    fields["route"] = record.route;
    fields["status"] = resp.status;
    fields["latency_ms"] = std::chrono::duration<double, std::milli>(latency).count();
    fields["user_id"] = record.user_id;
    if (!record.installation_id.empty()) fields["installation_id"] = record.installation_id;
    log_event(spdlog::level::info, "request", fields);
  }
  co_return resp;
}

boost::asio::awaitable<std::variant<std::shared_ptr<const registry::api_key>, http_response>> rest_api::authenticate(
    const http_request& req, bool hot) const {
  const std::string_view token = bearer_token(req.header("Authorization"));
  if (token.empty()) co_return api::not_authenticated().to_response();
  // The proxy, the hot path, trusts a key it has seen for a moment (see
  // registry_cache.hpp); the management API asks the store every time.
  const auth::key_digest digest = auth::digest_api_key(token);
  std::shared_ptr<const registry::api_key> key;
  if (hot) key = ctx_.cache->find_key(digest);
  if (!key) {
    const auto lookup = [hash = auth::hex_of(digest)](registry::store& s) { return s.find_api_key_by_hash(hash); };
    auto found = co_await ctx_.db.run(lookup);
    if (!found) {
      if (found.error() == errc::not_found) co_return api::authentication_failed().to_response();
      spdlog::error("API key lookup failed: {}", found.error().message());
      co_return api::from_error_code(found.error()).to_response();
    }
    key = hot ? ctx_.cache->put_key(digest, std::move(*found))
              : std::make_shared<const registry::api_key>(std::move(*found));
  }
  co_return key;
}

boost::asio::awaitable<std::optional<http_response>> rest_api::admit(const http_request& req) const {
  const auto r = match_route(req.target);
  // Not an API route (an operator's route, or a 404 the handler gives), or
  // a browser's OAuth route, which takes no key.
  if (!r || is_oauth_browser_route(r->resource)) co_return std::nullopt;
  if (r->resource == resource::proxy) {
    const std::shared_ptr<const api::live_settings> live = ctx_.settings();
    if (auto refused = api::check_rebinding(live->proxy, req)) co_return std::move(*refused);
  }
  auto authenticating = authenticate(req, r->resource == resource::proxy);
  auto authenticated = co_await std::move(authenticating);
  if (auto* refusal = std::get_if<http_response>(&authenticated)) co_return std::move(*refusal);
  co_return std::nullopt;
}

boost::asio::awaitable<http_response> rest_api::route_request(http_request& req, request_record& record) const {
  const auto r = match_route(req.target);
  if (!r) co_return api::not_found().to_response();
  record.route = route_name(r->resource);
  record.installation_id = r->installation_id;
  if (is_oauth_browser_route(r->resource)) {
    // A browser in the middle of an OAuth flow: no API key; the state (and
    // its cookie) is what authorizes the request.
    if (!method_allowed(r->resource, req.method)) {
      auto resp = api::method_not_allowed(req.method).to_response();
      resp.headers.emplace_back("Allow", std::string(allowed_methods(r->resource)));
      co_return resp;
    }
    co_return co_await api::handle_oauth_browser(ctx_, *r, req);
  }
  // The projects, and the proxy's allowed hosts, as of this request.
  const std::shared_ptr<const api::live_settings> live = ctx_.settings();
  if (r->resource == resource::proxy) {
    // The MCP transport's DNS-rebinding defence comes before anything else.
    if (auto refused = api::check_rebinding(live->proxy, req)) co_return std::move(*refused);
  }

  auto authenticating = authenticate(req, r->resource == resource::proxy);
  auto authenticated = co_await std::move(authenticating);
  if (auto* refusal = std::get_if<http_response>(&authenticated)) co_return std::move(*refusal);
  const auto key = std::get<std::shared_ptr<const registry::api_key>>(std::move(authenticated));
  // The key's own rate (off unless configured): 429 with Retry-After.
  if (const auto wait = ctx_.key_limits->take(key->id, live->per_key)) {
    metrics::count_shed("key_rate");
    const auto seconds = static_cast<unsigned>(std::max<long long>(1, (wait->count() + 999) / 1000));
    if (r->resource == resource::proxy) {
      http_response refused = api::proxy_error(429, "Rate limit exceeded for this API key");
      refused.headers.emplace_back("Retry-After", std::to_string(seconds));
      co_return refused;
    }
    co_return api::throttled(seconds).to_response();
  }

  api::caller who;
  who.user_id = key->user_id;
  record.user_id = key->user_id;
  if (r->family == route_family::projects) {
    const config::project* project = live->cfg->find_project(r->scope_id);
    if (!project) co_return api::not_found().to_response();
    who.project_id = project->id;
    who.environment_id = project->id;  // a project's default environment shares its id
  } else {
    const config::project* owner = nullptr;
    const config::environment* env = live->cfg->find_environment(r->scope_id, &owner);
    if (!env) co_return api::not_found().to_response();
    who.project_id = owner->id;
    who.environment_id = env->id;
  }
  if (!auth::allows_project(key->projects, who.project_id)) {
    co_return api::permission_denied("API key does not have access to this project.").to_response();
  }

  if (!method_allowed(r->resource, req.method)) {
    auto resp = api::method_not_allowed(req.method).to_response();
    resp.headers.emplace_back("Allow", std::string(allowed_methods(r->resource)));
    co_return resp;
  }
  const std::string_view scope = required_scope(r->resource, req.method);
  if (!auth::has_scope(key->scopes, scope)) {
    co_return api::permission_denied("API key missing required scope '" + std::string(scope) + "'.")
        .to_response();
  }
  switch (r->resource) {
    case resource::proxy: co_return co_await api::handle_proxy(ctx_, who, *r, req);
    case resource::tools:
    case resource::tool:
    case resource::tools_refresh: co_return co_await api::handle_tools(ctx_, who, *r, req);
    case resource::audit_events: co_return co_await api::handle_audit_events(ctx_, who, *r);
    default: break;
  }
  co_return co_await api::handle_installations(ctx_, who, *r, req);
}

}  // namespace mcpgate::daemon
