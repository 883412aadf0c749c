#include "daemon/rest.hpp"

#include "auth/api_keys.hpp"
#include "common/ids.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"
#include "daemon/api/audit.hpp"
#include "daemon/api/installations.hpp"
#include "daemon/api/oauth.hpp"
#include "daemon/api/tools.hpp"
#include "daemon/router.hpp"
#include "net/api_error.hpp"
#include "proxy/admission.hpp"
#include "proxy/answers.hpp"
#include "proxy/route.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

namespace mcpgate::daemon {
namespace {

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
std::string request_id_of(const net::http_request& req) {
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

net::http_response rest_api::error_response(unsigned status, std::string_view target) const {
  const auto r = match_route(target);
  // Answered by the server itself, before any handler: counted here.
  metrics::count_request(r ? route_name(r->resource) : "unknown", status, std::chrono::steady_clock::duration::zero(),
                         false);
  if (status == 503) metrics::count_shed("memory");
  if (r && r->resource == resource::proxy) {  // the proxy's own error body
    switch (status) {
      case 413: return proxy::proxy_error(413, "Request body too large");
      case 431: return proxy::proxy_error(431, "Request headers too large");
      case 400: return proxy::proxy_error(400, "Malformed HTTP request");
      case 503: {
        net::http_response shed = proxy::proxy_error(503, "The gateway is overloaded; try again shortly");
        shed.headers.emplace_back("Retry-After", "1");
        return shed;
      }
      default: return proxy::proxy_error(500, "Internal error");
    }
  }
  switch (status) {
    case 413: return net::payload_too_large().to_response();
    case 431: return net::header_too_large().to_response();
    case 400: return net::bad_request("Malformed HTTP request.").to_response();
    case 503: return net::overloaded(1).to_response();
    default: return net::server_error().to_response();
  }
}

boost::asio::awaitable<net::http_response> rest_api::handle(net::http_request& req) const {
  const auto started = std::chrono::steady_clock::now();
  request_record record;
  auto routing = route_request(req, record);
  net::http_response resp = co_await std::move(routing);
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

boost::asio::awaitable<std::optional<net::http_response>> rest_api::admit(const net::http_request& req) const {
  const auto r = match_route(req.target);
  // Not an API route (an operator's route, or a 404 the handler gives), or
  // a browser's OAuth route, which takes no key.
  if (!r || is_oauth_browser_route(r->resource)) co_return std::nullopt;
  if (r->resource == resource::proxy) {
    const std::shared_ptr<const proxy::live_settings> live = ctx_.settings();
    if (auto refused = proxy::check_rebinding(live->proxy, req)) co_return std::move(*refused);
  }
  auto authenticating = proxy::authenticate(ctx_, req, r->resource == resource::proxy);
  auto authenticated = co_await std::move(authenticating);
  if (auto* refusal = std::get_if<net::http_response>(&authenticated)) co_return std::move(*refusal);
  co_return std::nullopt;
}

boost::asio::awaitable<net::http_response> rest_api::route_request(net::http_request& req,
                                                                   request_record& record) const {
  const auto r = match_route(req.target);
  if (!r) co_return net::not_found().to_response();
  record.route = route_name(r->resource);
  // Kept for the request's log line only: no copy when it is not written.
  if (spdlog::should_log(spdlog::level::info)) record.installation_id = r->installation_id;
  if (is_oauth_browser_route(r->resource)) {
    // A browser in the middle of an OAuth flow: no API key; the state (and
    // its cookie) is what authorizes the request.
    if (!method_allowed(r->resource, req.method)) {
      auto resp = net::method_not_allowed(req.method).to_response();
      resp.headers.emplace_back("Allow", std::string(allowed_methods(r->resource)));
      co_return resp;
    }
    co_return co_await api::handle_oauth_browser(ctx_, *r, req);
  }
  // The projects, and the proxy's allowed hosts, as of this request.
  const std::shared_ptr<const proxy::live_settings> live = ctx_.settings();
  if (r->resource == resource::proxy) {
    // The MCP transport's DNS-rebinding defence comes before anything else.
    if (auto refused = proxy::check_rebinding(live->proxy, req)) co_return std::move(*refused);
  }

  auto authenticating = proxy::authenticate(ctx_, req, r->resource == resource::proxy);
  auto authenticated = co_await std::move(authenticating);
  if (auto* refusal = std::get_if<net::http_response>(&authenticated)) co_return std::move(*refusal);
  const auto key = std::get<std::shared_ptr<const registry::api_key>>(std::move(authenticated));
  // The key's own rate (off unless configured): 429 with Retry-After.
  if (const auto wait = ctx_.key_limits->take(key->id, live->per_key)) {
    metrics::count_shed("key_rate");
    const auto seconds = static_cast<unsigned>(std::max<long long>(1, (wait->count() + 999) / 1000));
    if (r->resource == resource::proxy) {
      net::http_response refused = proxy::proxy_error(429, "Rate limit exceeded for this API key");
      refused.headers.emplace_back("Retry-After", std::to_string(seconds));
      co_return refused;
    }
    co_return net::throttled(seconds).to_response();
  }

  api::caller who;
  who.user_id = key->user_id;
  who.user_name = key->user_name;
  record.user_id = key->user_id;
  if (r->family == route_family::projects) {
    const config::project* project = live->cfg->find_project(r->scope_id);
    if (!project) co_return net::not_found().to_response();
    who.project_id = project->id;
    who.environment_id = project->id;  // a project's default environment shares its id
  } else {
    const config::project* owner = nullptr;
    const config::environment* env = live->cfg->find_environment(r->scope_id, &owner);
    if (!env) co_return net::not_found().to_response();
    who.project_id = owner->id;
    who.environment_id = env->id;
  }
  if (!auth::allows_project(key->projects, who.project_id)) {
    co_return net::permission_denied("API key does not have access to this project.").to_response();
  }

  if (!method_allowed(r->resource, req.method)) {
    auto resp = net::method_not_allowed(req.method).to_response();
    resp.headers.emplace_back("Allow", std::string(allowed_methods(r->resource)));
    co_return resp;
  }
  const std::string_view scope = required_scope(r->resource, req.method);
  if (!auth::has_scope(key->scopes, scope)) {
    co_return net::permission_denied("API key missing required scope '" + std::string(scope) + "'.").to_response();
  }
  switch (r->resource) {
    case resource::proxy: co_return co_await proxy::handle_proxy(ctx_, who, r->installation_id, req);
    case resource::tools:
    case resource::tool:
    case resource::tools_refresh: co_return co_await api::handle_tools(ctx_, who, *r, req);
    case resource::audit_events: co_return co_await api::handle_audit_events(ctx_, who, *r);
    case resource::authorize: co_return co_await api::handle_authorize(ctx_, who, *r);
    case resource::templates: co_return co_await api::handle_templates(ctx_);
    default: break;
  }
  co_return co_await api::handle_installations(ctx_, who, *r, req);
}

}  // namespace mcpgate::daemon
