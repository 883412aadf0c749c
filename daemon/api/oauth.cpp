#include "daemon/api/oauth.hpp"

#include "auth/api_keys.hpp"
#include "auth/digest.hpp"
#include "common/ids.hpp"
#include "daemon/api/audit.hpp"
#include "daemon/api/grants.hpp"
#include "daemon/api/installations.hpp"
#include "daemon/api/proxy.hpp"
#include "daemon/api/tools.hpp"
#include "oauth/metadata.hpp"

#include <boost/asio/this_coro.hpp>
#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

namespace mcpgate::daemon::api {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

constexpr std::string_view cookie_prefix = "mcpgate_oauth_";
constexpr std::string_view client_name = "mcpgate";

// Lower-case hex SHA-256: how state and cookie hashes are stored.
std::string sha256_hex(std::string_view text) { return auth::hex_of(auth::sha256(text)); }

std::string redirect_uri(const api_context& ctx) { return ctx.public_url + "/api/mcp_store/oauth_redirect/"; }

// The state's cookie: one per flow, so two flows in one browser do not clash.
std::string cookie_name(const std::string& state_hash) {
  return std::string(cookie_prefix) + state_hash.substr(0, 16);
}

api_error flow_error(std::string detail) { return {400, "validation_error", "oauth_failed", std::move(detail), std::nullopt}; }

api_error invalid_state() {
  return {400, "validation_error", "invalid_state", "Invalid or expired OAuth state", std::nullopt};
}

api_error missing_state() {
  return {400, "validation_error", "required", "Missing state parameter", std::string("state")};
}

const std::string* param(const route& r, std::string_view name) {
  for (const auto& [key, value] : r.params) {
    if (key == name) return &value;
  }
  return nullptr;
}

std::string param_or(const route& r, std::string_view name, std::string fallback = {}) {
  const std::string* value = param(r, name);
  return value ? *value : std::move(fallback);
}

// The value of cookie `name` in a Cookie header ("a=1; b=2"), or "".
std::string_view cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const std::size_t end = std::min(header.find(';'), header.size());
    std::string_view pair = header.substr(0, end);
    header.remove_prefix(std::min(end + 1, header.size()));
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    const std::size_t eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name) return pair.substr(eq + 1);
  }
  return {};
}

http_response redirect(std::string location) {
  http_response out = http_response::empty(302);
  out.headers.emplace_back("Location", std::move(location));
  out.headers.emplace_back("Cache-Control", "no-store");
  return out;
}

// Where the browser goes at the end of a flow.
std::string final_location(const api_context& ctx, const registry::oauth_state& state, bool ok,
                           std::string_view error) {
  std::string query = ok ? "status=success" : "status=error&error=" + std::string(error);
  if (state.install_source == "posthog-code" && !state.callback_url.empty()) {
    return state.callback_url + (state.callback_url.find('?') == std::string::npos ? "?" : "&") + query;
  }
  if (!state.installation_id.empty()) query += "&installation_id=" + state.installation_id;
  return ctx.public_url + "/api/mcp_store/oauth_result/?" + query;
}

// The client a flow will use: cached (same client id, or no override), or
// the override with freshly discovered metadata, or a new registration.
struct prepared_client {
  registry::oauth_client client;
  std::string client_secret;  // plaintext, only to be sealed; "" when none
  bool fresh = false;         // store it
};

asio::awaitable<std::variant<prepared_client, api_error>> prepare_client(const api_context& ctx,
                                                                         const registry::installation& inst,
                                                                         const flow_options& options) {
  const auto read = [id = inst.id](registry::store& s) { return s.get_oauth_client(id); };
  auto cached = co_await ctx.db.run(read);
  if (cached && (!options.client || options.client->client_id == cached->client_id)) {
    prepared_client out;
    out.client = std::move(*cached);
    co_return out;
  }
  if (!cached && cached.error() != errc::not_found) co_return from_error_code(cached.error());

  const asio::any_io_executor here = co_await asio::this_coro::executor;
  auto discovering = oauth::discover(ctx.upstreams.for_executor(here), inst.url, oauth_options(ctx));
  oauth::discovery found = co_await std::move(discovering);
  if (!found.error.empty()) {
    spdlog::warn("installation {}: OAuth discovery failed: {}", inst.id, found.error);
    co_return flow_error("OAuth discovery failed: " + found.error);
  }
  prepared_client out;
  out.fresh = true;
  registry::oauth_client& c = out.client;
  c.installation_id = inst.id;
  c.issuer = found.server.issuer;
  c.authorization_endpoint = found.server.authorization_endpoint;
  c.token_endpoint = found.server.token_endpoint;
  c.registration_endpoint = found.server.registration_endpoint;
  c.resource = found.resource;
  c.scope = found.scope;
  c.created_at = std::chrono::system_clock::now();
  if (options.client) {
    c.client_id = options.client->client_id;
    c.client_source = options.client_source;
    out.client_secret = options.client->client_secret;
    c.token_endpoint_auth_method = "none";
    if (!out.client_secret.empty()) {
      // Basic unless the AS says it only takes the secret in the body.
      const auto& methods = found.server.token_endpoint_auth_methods_supported;
      const bool basic = methods.empty() || std::find(methods.begin(), methods.end(), "client_secret_basic") != methods.end();
      c.token_endpoint_auth_method = basic ? "client_secret_basic" : "client_secret_post";
    }
    co_return out;
  }
  if (found.server.registration_endpoint.empty()) {
    co_return flow_error("This MCP server does not support Dynamic Client Registration (DCR).");
  }
  auto registering = oauth::register_client(ctx.upstreams.for_executor(here), found.server.registration_endpoint,
                                            std::string(client_name), redirect_uri(ctx), found.scope,
                                            oauth_options(ctx));
  oauth::registration reg = co_await std::move(registering);
  if (!reg.error.empty()) {
    spdlog::warn("installation {}: client registration failed: {}", inst.id, reg.error);
    co_return flow_error("Client registration failed: " + reg.error);
  }
  c.client_id = reg.client.client_id;
  c.client_source = "dynamic";
  c.token_endpoint_auth_method = reg.client.token_endpoint_auth_method;
  out.client_secret = reg.client.client_secret;
  spdlog::info("installation {}: registered as OAuth client at {}", inst.id, c.issuer);
  co_return out;
}

const char* result_page_template = R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mcpgate</title></head>
<body><h1>%s</h1><p>%s</p></body></html>
)";

std::string html_page(const std::string& title, const std::string& text) {
  std::string page = result_page_template;
  page.replace(page.find("%s"), 2, title);
  page.replace(page.find("%s"), 2, text);
  return page;
}

http_response result_page(const route& r) {
  const std::string status = param_or(r, "status");
  const std::string error = param_or(r, "error");
  http_response out;
  out.headers.emplace_back("Content-Type", "text/html; charset=utf-8");
  out.headers.emplace_back("Cache-Control", "no-store");
  out.headers.emplace_back("Content-Security-Policy", "default-src 'none'");
  if (status == "success") {
    out.body = html_page("Connected", "The MCP server is connected. You can close this window.");
    return out;
  }
  // Only known codes are shown: the page never echoes what a link says.
  std::string why = "The authorization did not complete.";
  if (error == "cancelled") why = "The authorization was cancelled.";
  else if (error == "token_exchange_failed") why = "The authorization server did not issue a token.";
  else if (error == "authorization_failed") why = "The authorization server reported an error.";
  out.status = 400;
  out.body = html_page("Not connected", why);
  return out;
}

asio::awaitable<http_response> oauth_start(const api_context& ctx, const route& r) {
  const std::string* state = param(r, "state");
  if (!state || state->empty()) co_return missing_state().to_response();
  const std::string hash = sha256_hex(*state);
  const std::string binding = oauth::random_token(32);
  const auto bind = [&hash, binding_hash = sha256_hex(binding)](registry::store& s) {
    return s.bind_oauth_state(hash, binding_hash, std::chrono::system_clock::now());
  };
  auto bound = co_await ctx.db.run(bind);
  if (!bound) {
    if (bound.error() != errc::not_found) co_return from_error_code(bound.error()).to_response();
    co_return invalid_state().to_response();
  }
  http_response out = redirect(bound->authorization_url);
  std::string cookie = cookie_name(hash) + "=" + binding + "; Path=/api/mcp_store/; Max-Age=" +
                       std::to_string(std::max<long long>(1, std::chrono::ceil<std::chrono::seconds>(ctx.settings()->oauth_state_lifetime).count())) + "; HttpOnly; SameSite=Lax";
  if (ctx.public_url.starts_with("https:")) cookie += "; Secure";
  out.headers.emplace_back("Set-Cookie", std::move(cookie));
  co_return out;
}

// What the callback needs from the store, read in one hop after the state.
struct callback_material {
  result<registry::oauth_client> client = errc::not_found;
  std::string sealed_client_secret;
};

asio::awaitable<http_response> oauth_callback(const api_context& ctx, const route& r, const http_request& req) {
  const std::string* state = param(r, "state");
  if (!state || state->empty()) co_return missing_state().to_response();
  const std::string hash = sha256_hex(*state);
  // Only the browser that opened the start URL holds the cookie; the store
  // takes the state for it alone, so a request without it changes nothing.
  const std::string_view cookie = cookie_value(req.header("Cookie"), cookie_name(hash));
  if (cookie.empty()) {
    spdlog::info("OAuth callback refused: no state cookie (not the browser that started the flow)");
    co_return invalid_state().to_response();
  }
  const auto now = std::chrono::system_clock::now();
  const auto take = [&hash, binding = sha256_hex(cookie), now](registry::store& s) {
    return s.take_oauth_state(hash, binding, now);
  };
  auto taken = co_await ctx.db.run(take);
  if (!taken) {
    if (taken.error() != errc::not_found) co_return from_error_code(taken.error()).to_response();
    spdlog::info("OAuth callback refused: the state is unknown, used, expired or another browser's");
    co_return invalid_state().to_response();
  }
  const registry::oauth_state& st = *taken;
  // The cookie has done its job.
  const std::string clear_cookie = cookie_name(hash) + "=; Path=/api/mcp_store/; Max-Age=0; HttpOnly; SameSite=Lax";
  const auto finish = [&](bool ok, std::string_view error) {
    http_response out = redirect(final_location(ctx, st, ok, error));
    out.headers.emplace_back("Set-Cookie", clear_cookie);
    return out;
  };

  if (const std::string* error = param(r, "error")) {
    spdlog::info("installation {}: the authorization server answered error={}", st.installation_id,
                 error->size() <= 64 ? *error : error->substr(0, 64));
    co_return finish(false, *error == "access_denied" ? "cancelled" : "authorization_failed");
  }
  const std::string* code = param(r, "code");
  if (!code || code->empty()) co_return finish(false, "authorization_failed");

  const auto read = [id = st.installation_id](registry::store& s) {
    callback_material m;
    m.client = s.get_oauth_client(id);
    if (auto secret = s.get_secret(id, "client_secret")) m.sealed_client_secret = std::move(*secret);
    return m;
  };
  auto material = co_await ctx.db.run(read);
  auto verifier = ctx.secrets.open(st.verifier_sealed, "oauth_state:" + hash);
  std::optional<oauth::client_credentials> credentials;
  if (material.client) credentials = open_client_credentials(ctx, *material.client, material.sealed_client_secret);
  if (!material.client || !verifier || !credentials) {
    spdlog::error("installation {}: OAuth callback cannot proceed: the client or verifier is missing",
                  st.installation_id);
    co_return finish(false, "token_exchange_failed");
  }

  const asio::any_io_executor here = co_await asio::this_coro::executor;
  auto exchanging = oauth::exchange_code(ctx.upstreams.for_executor(here), material.client->token_endpoint,
                                         *credentials, *code, *verifier, redirect_uri(ctx),
                                         material.client->resource, oauth_options(ctx));
  oauth::token_result answer = co_await std::move(exchanging);
  if (answer.outcome != oauth::token_outcome::ok) {
    spdlog::warn("installation {}: code exchange failed: {}", st.installation_id, answer.error);
    co_return finish(false, "token_exchange_failed");
  }

  const auto issued = std::chrono::system_clock::now();
  const std::string sealed_access =
      ctx.secrets.seal(answer.tokens.access_token, secret_context(st.installation_id, "access_token"));
  const std::string sealed_refresh =
      answer.tokens.refresh_token.empty()
          ? std::string()
          : ctx.secrets.seal(answer.tokens.refresh_token, secret_context(st.installation_id, "refresh_token"));
  std::optional<sys_time> expires;
  if (answer.tokens.expires_in) expires = issued + *answer.tokens.expires_in;
  const auto store = [&](registry::store& s) -> result<void> {
    // A grant without a refresh token must not leave an older one behind.
    if (sealed_refresh.empty()) {
      if (auto cleared = s.clear_grant(st.installation_id, false); !cleared) return cleared;
    }
    auto granted = s.store_grant(st.installation_id, sealed_access, sealed_refresh, issued, expires);
    if (granted) {
      caller owner;
      owner.user_id = st.user_id;
      owner.environment_id = st.environment_id;
      store_audit_event(s, make_audit_event(owner, st.installation_id, audit_installation_changed,
                                            json::object{{"fields", json::array{"oauth_grant"}}}, issued));
    }
    return granted;
  };
  auto stored = co_await ctx.db.run(store);
  if (ctx.cache) ctx.cache->forget_installation(st.installation_id);
  if (ctx.refresher) ctx.refresher->forget(st.installation_id);
  if (!stored) {
    spdlog::error("installation {}: storing the grant failed: {}", st.installation_id, stored.error().message());
    co_return finish(false, stored.error() == errc::not_found ? "installation_deleted" : "server_error");
  }
  spdlog::info("installation {}: OAuth grant stored for user {}", st.installation_id, st.user_id);

  // The tools, now that the gateway may talk to the upstream.
  caller who;
  who.user_id = st.user_id;
  who.environment_id = st.environment_id;
  bool ok = true;
  auto finding = find_installation(ctx, who, st.installation_id, ok);
  auto entry = co_await std::move(finding);
  if (entry && entry->upstream && entry->inst.is_enabled) {
    auto syncing = sync_tools_now(ctx, entry);
    const auto synced = co_await std::move(syncing);
    if (!synced.ok) spdlog::warn("installation {}: tools sync after OAuth failed: {}", st.installation_id, synced.detail);
  }
  co_return finish(true, "");
}


}  // namespace

std::optional<api_error> check_callback_url(const std::string& url) {
  if (url.empty()) return std::nullopt;
  const auto refused = [] {
    return validation_error("posthog_code_callback_url", "invalid",
                            "The callback URL must use the posthog-code: or array: scheme, or http on a loopback address.");
  };
  const auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return refused();
  const std::string scheme(parsed->scheme());
  if (scheme == "posthog-code" || scheme == "array") return std::nullopt;
  if (scheme != "http" || !parsed->has_authority() || parsed->has_userinfo()) return refused();
  switch (parsed->host_type()) {
    case boost::urls::host_type::ipv4:
      if (parsed->host_ipv4_address().to_bytes()[0] == 127) return std::nullopt;
      break;
    case boost::urls::host_type::ipv6:
      if (parsed->host_ipv6_address().is_loopback()) return std::nullopt;
      break;
    case boost::urls::host_type::name:
      if (parsed->encoded_host() == "localhost") return std::nullopt;
      break;
    default: break;
  }
  return refused();
}

asio::awaitable<std::variant<std::string, api_error>> start_oauth_flow(const api_context& ctx, const caller& who,
                                                                      registry::installation inst, bool created_now,
                                                                      flow_options options) {
  const auto forget_row = [&]() -> asio::awaitable<void> {
    if (!created_now) co_return;
    const auto erase = [&](registry::store& s) {
      auto done = s.delete_installation(who.environment_id, who.user_id, inst.id);
      if (done) {
        json::object detail = installation_deleted_detail(inst);
        detail["reason"] = "oauth_flow_failed";
        store_audit_event(s, make_audit_event(who, inst.id, audit_installation_deleted, detail,
                                              std::chrono::system_clock::now()));
      }
      return done;
    };
    (void)co_await ctx.db.run(erase);
    if (ctx.cache) ctx.cache->forget_installation(inst.id);
  };
  auto preparing = prepare_client(ctx, inst, options);
  auto prepared = co_await std::move(preparing);
  if (auto* e = std::get_if<api_error>(&prepared)) {
    auto forgetting = forget_row();
    co_await std::move(forgetting);
    co_return *e;
  }
  auto& client = std::get<prepared_client>(prepared);

  const std::string state = oauth::random_token(32);
  const oauth::pkce_pair pkce = oauth::make_pkce();
  const auto now = std::chrono::system_clock::now();
  registry::oauth_state row;
  row.state_hash = sha256_hex(state);
  row.installation_id = inst.id;
  row.environment_id = who.environment_id;
  row.user_id = who.user_id;
  row.verifier_sealed = ctx.secrets.seal(pkce.verifier, "oauth_state:" + row.state_hash);
  row.authorization_url = oauth::authorization_url(
      client.client.authorization_endpoint,
      {client.client.client_id, redirect_uri(ctx), state, pkce.challenge, client.client.resource, client.client.scope});
  row.install_source = options.install_source;
  row.callback_url = options.callback_url;
  row.created_at = now;
  row.expires_at = now + ctx.settings()->oauth_state_lifetime;
  const std::string sealed_secret =
      client.client_secret.empty() ? "" : ctx.secrets.seal(client.client_secret, secret_context(inst.id, "client_secret"));
  const auto save = [&](registry::store& s) -> result<void> {
    if (client.fresh) {
      if (auto kept = s.put_oauth_client(client.client); !kept) return kept;
      if (!sealed_secret.empty()) {
        if (auto kept = s.put_secret(inst.id, "client_secret", sealed_secret); !kept) return kept;
      }
    }
    (void)s.delete_expired_oauth_states(now);
    return s.insert_oauth_state(row);
  };
  auto saved = co_await ctx.db.run(save);
  if (!saved) {
    spdlog::error("installation {}: starting the OAuth flow failed: {}", inst.id, saved.error().message());
    auto forgetting = forget_row();
    co_await std::move(forgetting);
    co_return from_error_code(saved.error());
  }
  co_return ctx.public_url + "/api/mcp_store/oauth_start/?state=" + state;
}

asio::awaitable<std::variant<registry::installation, api_error>> ensure_template_installation(
    const api_context& ctx, const caller& who, const config::template_entry& t, bool& created_now) {
  created_now = false;
  const auto now = std::chrono::system_clock::now();
  registry::installation fresh;
  fresh.id = new_uuid_v7(now);
  fresh.environment_id = who.environment_id;
  fresh.user_id = who.user_id;
  fresh.template_id = t.id;
  fresh.url = t.url;
  fresh.description = t.description;
  fresh.auth_type = t.auth_type == config::auth_type::oauth     ? "oauth"
                    : t.auth_type == config::auth_type::api_key ? "api_key"
                                                                : "none";
  fresh.created_at = fresh.updated_at = now;
  const auto find_or_insert = [&fresh, &t, &who, now](registry::store& s) {
    auto found = find_or_insert_installation(s, fresh, [&](registry::store& st, registry::installation& existing) -> result<void> {
      // The url installed with another auth_type is a duplicate; one of ours
      // (by hand or from another template) becomes the template's.
      if (existing.auth_type != fresh.auth_type) return errc::already_exists;
      if (existing.template_id == t.id) return {};
      if (auto adopted = st.set_template_id(existing.id, t.id); !adopted) return adopted;
      existing.template_id = t.id;
      store_audit_event(st, make_audit_event(who, existing.id, audit_installation_changed,
                                             json::object{{"fields", json::array{"template_id"}}}, now));
      return {};
    });
    if (found.inserted) {
      store_audit_event(s, make_audit_event(who, fresh.id, audit_installation_created,
                                            installation_created_detail(fresh, "install_template"), now));
    }
    return found;
  };
  auto found = co_await ctx.db.run(find_or_insert);
  if (!found.row && found.row.error() == errc::already_exists) {
    co_return validation_error("template_id", "unique", "This server URL is already installed.");
  }
  if (!found.row) {
    spdlog::error("installing template {} failed: {}", t.id, found.row.error().message());
    co_return from_error_code(found.row.error());
  }
  created_now = found.inserted;
  if (ctx.cache) ctx.cache->forget_installation(found.row->id);  // the template's header applies now
  if (created_now) {
    spdlog::info("installation {} ({}) created from template {} by user {} in environment {}", fresh.id,
                 fresh.auth_type, t.id, who.user_id, who.environment_id);
  }
  co_return std::move(*found.row);
}

asio::awaitable<http_response> handle_templates(const api_context& ctx) {
  json::array results;
  const auto live = ctx.settings();
  for (const auto& t : live->templates) {
    if (!t.is_active) continue;
    const char* auth = t.auth_type == config::auth_type::oauth     ? "oauth"
                       : t.auth_type == config::auth_type::api_key ? "api_key"
                                                                   : "none";
    results.push_back(json::object{{"id", t.id},
                                   {"name", t.name},
                                   {"url", t.url},
                                   {"docs_url", t.docs_url},
                                   {"description", t.description},
                                   {"auth_type", auth},
                                   {"icon_key", t.icon_key},
                                   {"category", t.category}});
  }
  co_return http_response::json(200, json::serialize(json::object{{"results", std::move(results)}}));
}

asio::awaitable<http_response> handle_authorize(const api_context& ctx, const caller& who, const route& r) {
  const auto live = ctx.settings();  // keeps the template alive for the whole request
  const std::string* template_id = param(r, "template_id");
  const std::string* installation_id = param(r, "installation_id");
  if ((template_id == nullptr) == (installation_id == nullptr)) {
    co_return bad_request("Pass exactly one of template_id or installation_id").to_response();
  }
  flow_options options;
  options.install_source = param_or(r, "install_source", "posthog");
  if (options.install_source != "posthog" && options.install_source != "posthog-code") {
    co_return validation_error("install_source", "invalid_choice", "\"" + options.install_source + "\" is not a valid choice.")
        .to_response();
  }
  options.callback_url = param_or(r, "posthog_code_callback_url");
  if (auto e = check_callback_url(options.callback_url)) co_return e->to_response();

  registry::installation inst;
  bool created_now = false;
  if (installation_id) {
    const auto read = [&who, id = *installation_id](registry::store& s) {
      return s.get_installation(who.environment_id, who.user_id, id);
    };
    auto row = co_await ctx.db.run(read);
    if (!row) co_return from_error_code(row.error()).to_response();
    if (row->auth_type != "oauth") co_return bad_request("This installation does not use OAuth.").to_response();
    inst = std::move(*row);
  } else {
    const config::template_entry* t = live->find_template(*template_id);
    if (!t) co_return not_found().to_response();
    if (t->auth_type != config::auth_type::oauth) co_return bad_request("This template does not use OAuth.").to_response();
    auto ensuring = ensure_template_installation(ctx, who, *t, created_now);
    auto row = co_await std::move(ensuring);
    if (auto* e = std::get_if<api_error>(&row)) co_return e->to_response();
    inst = std::move(std::get<registry::installation>(row));
    if (!t->client_id.empty()) {
      options.client = oauth::client_credentials{t->client_id, t->client_secret, "none"};
      options.client_source = "template";
    }
  }
  auto starting = start_oauth_flow(ctx, who, std::move(inst), created_now, std::move(options));
  auto started = co_await std::move(starting);
  if (auto* e = std::get_if<api_error>(&started)) co_return e->to_response();
  co_return redirect(std::move(std::get<std::string>(started)));
}

asio::awaitable<http_response> handle_oauth_browser(const api_context& ctx, const route& r, const http_request& req) {
  switch (r.resource) {
    case resource::oauth_start: co_return co_await oauth_start(ctx, r);
    case resource::oauth_callback: co_return co_await oauth_callback(ctx, r, req);
    default: co_return result_page(r);
  }
}

}  // namespace mcpgate::daemon::api
