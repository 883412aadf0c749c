#include "daemon/api/oauth_flow.hpp"

#include "auth/api_keys.hpp"
#include "auth/digest.hpp"
#include "common/ids.hpp"
#include "oauth/metadata.hpp"
#include "proxy/installation_cache.hpp"
#include "proxy/token_refresher.hpp"
#include "registry/audit.hpp"

#include <boost/asio/this_coro.hpp>
#include <boost/url/parse.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

namespace mcpgate::daemon::api {

namespace asio = boost::asio;
namespace json = boost::json;

std::string sha256_hex(std::string_view text) { return auth::hex_of(auth::sha256(text)); }

std::string redirect_uri(const api_context& ctx) { return ctx.public_url + "/api/mcp_store/oauth_redirect/"; }

std::string client_metadata_url(const api_context& ctx) { return ctx.public_url + "/oauth/client-metadata.json"; }

bool client_metadata_served(const api_context& ctx) { return ctx.public_url.starts_with("https://"); }

namespace {

// The client name the gateway registers with (dynamic client registration).
constexpr std::string_view client_name = "mcpgate";

net::api_error flow_error(std::string detail) {
  return {400, "validation_error", "oauth_failed", std::move(detail), std::nullopt};
}

// Whether a flow of `inst` may ask for offline_access: yes, unless its
// template says no.
bool offline_access_allowed(const api_context& ctx, const registry::installation& inst) {
  if (!inst.template_id) return true;
  const auto live = ctx.settings();
  const config::template_entry* t = live->find_template(*inst.template_id);
  return t == nullptr || t->offline_access;
}

// `scope` with offline_access added when the AS lists it (SEP-2207: a
// client that wants a refresh token asks for it; some servers, oidc-provider
// among them, issue refresh tokens for nothing else), or taken out when it
// may not be asked for.
std::string scoped_for_offline_access(std::string_view scope, const std::vector<std::string>& listed, bool allowed) {
  if (!allowed) {
    std::string out;
    for (const auto& w : oauth::scope_words(scope)) {
      if (w != "offline_access") out.append(out.empty() ? "" : " ").append(w);
    }
    return out;
  }
  if (std::find(listed.begin(), listed.end(), "offline_access") == listed.end()) return std::string(scope);
  return oauth::scope_union(scope, "offline_access");
}

// The client a flow will use: cached (same client id, or no override), or
// the override with freshly discovered metadata, or a new registration.
struct prepared_client {
  registry::oauth_client client;
  std::string client_secret;  // plaintext, only to be sealed; "" when none
  bool fresh = false;         // store it
};

asio::awaitable<std::variant<prepared_client, net::api_error>> prepare_client(
    const api_context& ctx, const registry::installation& inst, const flow_options& options) {
  const auto read = [id = inst.id](registry::store& s) { return s.get_oauth_client(id); };
  auto cached = co_await ctx.db.run(read);
  const asio::any_io_executor here = co_await asio::this_coro::executor;
  const bool offline_access = offline_access_allowed(ctx, inst);
  if (cached && (!options.client || options.client->client_id == cached->client_id)) {
    prepared_client out;
    out.client = std::move(*cached);
    // What the server says of itself may have changed since the client was
    // cached (or the client predates what the gateway asks now: iss,
    // offline_access): the same client, the server's current metadata.
    auto looking_up =
        oauth::find_server_metadata(ctx.upstreams.for_executor(here), out.client.issuer, proxy::oauth_options(ctx));
    oauth::server_lookup now = co_await std::move(looking_up);
    if (!now.error.empty()) {
      spdlog::warn("installation {}: refreshing the authorization server's metadata failed, using what is cached: {}",
                   inst.id, now.error);
      co_return out;
    }
    registry::oauth_client& c = out.client;
    const std::string scope = scoped_for_offline_access(c.scope, now.server.scopes_supported, offline_access);
    if (c.iss_parameter_supported != now.server.iss_parameter_supported || scope != c.scope ||
        c.authorization_endpoint != now.server.authorization_endpoint ||
        c.token_endpoint != now.server.token_endpoint) {
      c.iss_parameter_supported = now.server.iss_parameter_supported;
      c.scope = scope;
      c.authorization_endpoint = now.server.authorization_endpoint;
      c.token_endpoint = now.server.token_endpoint;
      out.fresh = true;
    }
    co_return out;
  }
  if (!cached && cached.error() != errc::not_found) co_return net::from_error_code(cached.error());

  auto discovering = oauth::discover(ctx.upstreams.for_executor(here), inst.url, proxy::oauth_options(ctx));
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
  c.scope = scoped_for_offline_access(found.scope, found.server.scopes_supported, offline_access);
  c.iss_parameter_supported = found.server.iss_parameter_supported;
  c.created_at = std::chrono::system_clock::now();
  if (options.client) {
    c.client_id = options.client->client_id;
    c.client_source = options.client_source;
    out.client_secret = options.client->client_secret;
    c.token_endpoint_auth_method = "none";
    if (!out.client_secret.empty()) {
      // Basic unless the AS says it only takes the secret in the body.
      const auto& methods = found.server.token_endpoint_auth_methods_supported;
      const bool basic = methods.empty() ||
                         std::find(methods.begin(), methods.end(), "client_secret_basic") != methods.end();
      c.token_endpoint_auth_method = basic ? "client_secret_basic" : "client_secret_post";
    }
    co_return out;
  }
  // Client ID Metadata Documents before registration: nothing to register,
  // and the AS learns who the client is from the gateway's own URL.
  if (found.server.client_id_metadata_document_supported && client_metadata_served(ctx)) {
    c.client_id = client_metadata_url(ctx);
    c.client_source = "metadata_document";
    c.token_endpoint_auth_method = "none";
    spdlog::info("installation {}: using the client ID metadata document at {}", inst.id, c.issuer);
    co_return out;
  }
  if (found.server.registration_endpoint.empty()) {
    co_return flow_error("This MCP server does not support Dynamic Client Registration (DCR).");
  }
  auto registering =
      oauth::register_client(ctx.upstreams.for_executor(here), found.server.registration_endpoint,
                             std::string(client_name), redirect_uri(ctx), c.scope, proxy::oauth_options(ctx));
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

}  // namespace

std::optional<net::api_error> check_callback_url(const std::string& url) {
  if (url.empty()) return std::nullopt;
  const auto refused = [] {
    return net::validation_error(
        "posthog_code_callback_url", "invalid",
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

asio::awaitable<std::variant<std::string, net::api_error>> start_oauth_flow(
    const api_context& ctx, const caller& who, registry::installation inst, bool created_now, flow_options options) {
  const auto forget_row = [&]() -> asio::awaitable<void> {
    if (!created_now) co_return;
    const auto erase = [&](registry::store& s) {
      auto done = s.delete_installation(who.environment_id, who.user_id, inst.id);
      if (done) {
        json::object detail = registry::installation_deleted_detail(inst);
        detail["reason"] = "oauth_flow_failed";
        registry::store_audit_event(s, registry::make_audit_event(who.user_id, who.environment_id, inst.id,
                                                                  registry::audit_installation_deleted, detail,
                                                                  std::chrono::system_clock::now()));
      }
      return done;
    };
    (void)co_await ctx.db.run(erase);
    if (ctx.cache) ctx.cache->forget_installation(inst.id);
  };
  auto preparing = prepare_client(ctx, inst, options);
  auto prepared = co_await std::move(preparing);
  if (auto* e = std::get_if<net::api_error>(&prepared)) {
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
  // A step-up asks for what the grant has and what the upstream wants more.
  row.scope = oauth::scope_union(client.client.scope, options.extra_scope);
  if (!offline_access_allowed(ctx, inst)) row.scope = scoped_for_offline_access(row.scope, {}, false);
  row.user_name = who.user_name;
  oauth::authorization_request request{client.client.client_id, redirect_uri(ctx), state,        pkce.challenge,
                                       client.client.resource,  row.scope,         std::string()};
  // OpenID Connect Core section 11: offline access is granted with consent.
  if (oauth::has_scope(row.scope, "offline_access")) request.prompt = "consent";
  row.authorization_url = oauth::authorization_url(client.client.authorization_endpoint, request);
  row.install_source = options.install_source;
  row.callback_url = options.callback_url;
  row.created_at = now;
  row.expires_at = now + ctx.settings()->oauth_state_lifetime;
  const std::string sealed_secret =
      client.client_secret.empty()
          ? ""
          : ctx.secrets.seal(client.client_secret, proxy::secret_context(inst.id, "client_secret"));
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
    co_return net::from_error_code(saved.error());
  }
  co_return ctx.public_url + "/api/mcp_store/oauth_start/?state=" + state;
}

asio::awaitable<std::variant<registry::installation, net::api_error>> ensure_template_installation(
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
    auto found = registry::find_or_insert_installation(
        s, fresh, [&](registry::store& st, registry::installation& existing) -> result<void> {
          // The url installed with another auth_type is a duplicate; one of ours
          // (by hand or from another template) becomes the template's.
          if (existing.auth_type != fresh.auth_type) return errc::already_exists;
          if (existing.template_id == t.id) return {};
          if (auto adopted = st.set_template_id(existing.id, t.id); !adopted) return adopted;
          existing.template_id = t.id;
          registry::store_audit_event(
              st, registry::make_audit_event(who.user_id, who.environment_id, existing.id,
                                             registry::audit_installation_changed,
                                             json::object{{"fields", json::array{"template_id"}}}, now));
          return {};
        });
    if (found.inserted) {
      registry::store_audit_event(
          s, registry::make_audit_event(who.user_id, who.environment_id, fresh.id, registry::audit_installation_created,
                                        registry::installation_created_detail(fresh, "install_template"), now));
    }
    return found;
  };
  auto found = co_await ctx.db.run(find_or_insert);
  if (!found.row && found.row.error() == errc::already_exists) {
    co_return net::validation_error("template_id", "unique", "This server URL is already installed.");
  }
  if (!found.row) {
    spdlog::error("installing template {} failed: {}", t.id, found.row.error().message());
    co_return net::from_error_code(found.row.error());
  }
  created_now = found.inserted;
  if (ctx.cache) ctx.cache->forget_installation(found.row->id);  // the template's header applies now
  if (created_now) {
    spdlog::info("installation {} ({}) created from template {} by user {} in environment {}", fresh.id,
                 fresh.auth_type, t.id, who.user_id, who.environment_id);
  }
  co_return std::move(*found.row);
}

}  // namespace mcpgate::daemon::api
