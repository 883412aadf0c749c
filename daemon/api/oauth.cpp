#include "daemon/api/oauth.hpp"

#include "auth/api_keys.hpp"
#include "auth/digest.hpp"
#include "common/ids.hpp"
#include "common/text.hpp"
#include "oauth/metadata.hpp"
#include "proxy/installation_cache.hpp"
#include "proxy/token_refresher.hpp"
#include "proxy/tool_sync.hpp"
#include "registry/audit.hpp"

#include <boost/asio/this_coro.hpp>
#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/parse_query.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

namespace mcpgate::daemon::api {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

constexpr std::string_view cookie_prefix = "mcpgate_oauth_";

// The state's cookie: one per flow, so two flows in one browser do not clash.
std::string cookie_name(const std::string& state_hash) { return std::string(cookie_prefix) + state_hash.substr(0, 16); }

net::api_error invalid_state() {
  return {400, "validation_error", "invalid_state", "Invalid or expired OAuth state", std::nullopt};
}

net::api_error missing_state() {
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

// RFC 6749 section 3.3: scope-tokens of %x21 / %x23-5B / %x5D-7E, separated
// by spaces; "" is valid (nothing to add).
bool valid_scope(std::string_view scope) {
  if (scope.size() > 2048) return false;
  return std::all_of(scope.begin(), scope.end(),
                     [](char c) { return c == ' ' || (c >= 0x21 && c <= 0x7e && c != '"' && c != '\\'); });
}

net::http_response redirect(std::string location) {
  net::http_response out = net::http_response::empty(302);
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

net::http_response result_page(std::string_view status, std::string_view error) {
  net::http_response out;
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
  else if (error == "issuer_mismatch")
    why =
        "The answer did not come from the authorization server this sign-in was sent to (RFC 9207). Nothing was "
        "stored.";
  out.status = 400;
  out.body = html_page("Not connected", why);
  return out;
}

// Text for an HTML page: the five characters that could end an element or
// an attribute value are escaped.
std::string html_text(std::string_view text, std::size_t limit = 400) {
  std::string out;
  out.reserve(text.size());
  for (const char c : printable(text, limit)) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

// The confirm form's token: derived from the browser's binding cookie, so
// only a page that could read the gateway's answer (same origin) knows it.
std::string confirm_token(std::string_view binding) {
  return sha256_hex("mcpgate-oauth-confirm:" + std::string(binding));
}

std::string start_cookie(const api_context& ctx, const std::string& hash, const std::string& binding) {
  std::string cookie = cookie_name(hash) + "=" + binding + "; Path=/api/mcp_store/; Max-Age=" +
                       std::to_string(std::max<long long>(
                           1, std::chrono::ceil<std::chrono::seconds>(ctx.settings()->oauth_state_lifetime).count())) +
                       "; HttpOnly; SameSite=Lax";
  if (ctx.public_url.starts_with("https:")) cookie += "; Secure";
  return cookie;
}

// What the confirm page shows besides the state.
struct confirm_material {
  result<registry::installation> inst = errc::not_found;
  result<registry::oauth_client> client = errc::not_found;
};

// The page a start URL answers (spec: oauth.md "Starting a flow"): which
// installation, which gateway user and which authorization server the
// grant is for, and one button that POSTs the confirmation back. Nothing
// has gone to the authorization server yet.
net::http_response confirm_page(const api_context& ctx, const registry::oauth_state& st, const confirm_material& m,
                                const std::string& state, std::string_view binding) {
  const registry::installation* inst = m.inst ? &*m.inst : nullptr;
  const std::string name = inst ? (inst->display_name.empty() ? inst->url : inst->display_name) : st.installation_id;
  const std::string issuer = m.client ? m.client->issuer : std::string("the authorization server");
  std::string page;
  page.reserve(2048);
  page += "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>mcpgate: connect ";
  page += html_text(name);
  page += "</title></head>\n<body><h1>Connect an MCP server</h1>\n<p>You are about to sign in at <b>";
  page += html_text(issuer);
  page += "</b>. The access it grants will be stored in mcpgate for:</p>\n<ul>\n<li>Installation: <b>";
  page += html_text(name);
  page += "</b>";
  if (inst) page += " (" + html_text(inst->url) + ")";
  page += ", id " + html_text(st.installation_id) + "</li>\n<li>Gateway user: <b>";
  page += html_text(st.user_name.empty() ? "user " + std::to_string(st.user_id) : st.user_name);
  page += "</b> (id " + std::to_string(st.user_id) + "), environment " + std::to_string(st.environment_id) + "</li>\n";
  // Whole: a scope cut short could hide what is asked for.
  if (!st.scope.empty()) page += "<li>Access asked for: " + html_text(st.scope, st.scope.size()) + "</li>\n";
  page +=
      "</ul>\n<p>Continue only if you started this yourself, from your own agent or tool. If someone sent you "
      "this link, close this window: whoever holds that installation would act with your account.</p>\n";
  page += "<form method=\"post\" action=\"" + html_text(ctx.public_url) + "/api/mcp_store/oauth_start/\">\n";
  page += "<input type=\"hidden\" name=\"state\" value=\"" + html_text(state) + "\">\n";
  page += "<input type=\"hidden\" name=\"csrf\" value=\"" + confirm_token(binding) + "\">\n";
  page += "<button type=\"submit\">Continue to " + html_text(issuer) + "</button>\n</form>\n</body></html>\n";
  net::http_response out;
  out.headers.emplace_back("Content-Type", "text/html; charset=utf-8");
  out.headers.emplace_back("Cache-Control", "no-store");
  // No script, no frame: the button cannot be clicked through another site.
  out.headers.emplace_back("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
  out.headers.emplace_back("X-Frame-Options", "DENY");
  // same-origin, not no-referrer: with no-referrer a browser sends
  // "Origin: null" on the form's POST, which the check below must refuse.
  // The 303 to the authorization server carries no Referer either way.
  out.headers.emplace_back("Referrer-Policy", "same-origin");
  out.body = std::move(page);
  return out;
}

net::api_error unconfirmed(std::string detail) { return net::permission_denied(std::move(detail)); }

// GET: the first browser binds the flow (a cookie) and sees the confirm
// page; the same browser may load it again; any other is refused.
asio::awaitable<net::http_response> oauth_start(const api_context& ctx, const route& r, const net::http_request& req) {
  const std::string* state = param(r, "state");
  if (!state || state->empty()) co_return missing_state().to_response();
  const std::string hash = sha256_hex(*state);
  const auto now = std::chrono::system_clock::now();
  std::string binding(cookie_value(req.header("Cookie"), cookie_name(hash)));
  const bool fresh = binding.empty();
  if (fresh) binding = oauth::random_token(32);
  const auto read = [&hash, &binding, fresh, now](registry::store& s) {
    std::pair<result<registry::oauth_state>, confirm_material> out{errc::not_found, {}};
    const std::string binding_hash = sha256_hex(binding);
    out.first = fresh ? s.bind_oauth_state(hash, binding_hash, now) : s.find_bound_oauth_state(hash, binding_hash, now);
    if (out.first) {
      out.second.inst = s.get_installation(out.first->environment_id, out.first->user_id, out.first->installation_id);
      out.second.client = s.get_oauth_client(out.first->installation_id);
    }
    return out;
  };
  auto [bound, material] = co_await ctx.db.run(read);
  if (!bound) {
    if (bound.error() != errc::not_found) co_return net::from_error_code(bound.error()).to_response();
    co_return invalid_state().to_response();
  }
  net::http_response out = confirm_page(ctx, *bound, material, *state, binding);
  if (fresh) out.headers.emplace_back("Set-Cookie", start_cookie(ctx, hash, binding));
  co_return out;
}

// The value of `name` in an application/x-www-form-urlencoded body, or "".
std::string form_field(std::string_view body, std::string_view name) {
  const auto params = boost::urls::parse_query(body);
  if (!params) return {};
  for (const auto& p : *params) {
    if (p.key == name && p.has_value) return p.value.decode();
  }
  return {};
}

// POST: the confirm button. Only the page's own form can send it: the
// cookie (SameSite=Lax: not sent on another site's POST), the token the page
// carried, and, when the browser says where the form was, this origin.
asio::awaitable<net::http_response> oauth_confirm(const api_context& ctx, const net::http_request& req) {
  // A browser names the page's origin; "null" (a privacy setting, or a
  // page that sends no referrer) names none, like a client that sends no
  // Origin: the cookie and the page's token below are what decide.
  const std::string_view origin = req.header("Origin");
  if (!origin.empty() && origin != "null" && origin != oauth::origin_of(ctx.public_url)) {
    spdlog::info("OAuth confirm refused: a form on another origin ({})", printable(origin, 100));
    co_return unconfirmed("The confirmation must come from mcpgate's own page.").to_response();
  }
  if (req.header("Sec-Fetch-Site") == "cross-site") {
    co_return unconfirmed("The confirmation must come from mcpgate's own page.").to_response();
  }
  const std::string state = form_field(req.body, "state");
  if (state.empty()) co_return missing_state().to_response();
  const std::string hash = sha256_hex(state);
  const std::string binding(cookie_value(req.header("Cookie"), cookie_name(hash)));
  if (binding.empty() || form_field(req.body, "csrf") != confirm_token(binding)) {
    spdlog::info("OAuth confirm refused: without the browser's cookie or the page's token");
    co_return unconfirmed("The confirmation must come from mcpgate's own page, in the browser that opened it.")
        .to_response();
  }
  // Recorded: the callback takes only a state its user confirmed here.
  const auto find = [&hash, binding_hash = sha256_hex(binding)](registry::store& s) {
    return s.confirm_oauth_state(hash, binding_hash, std::chrono::system_clock::now());
  };
  auto found = co_await ctx.db.run(find);
  if (!found) {
    if (found.error() != errc::not_found) co_return net::from_error_code(found.error()).to_response();
    co_return invalid_state().to_response();
  }
  net::http_response out = redirect(found->authorization_url);
  out.status = 303;  // after a POST: the browser GETs the authorization server
  co_return out;
}

// The Client ID Metadata Document (served only where it can be used: an
// https public URL; elsewhere 404).
net::http_response client_metadata(const api_context& ctx) {
  if (!client_metadata_served(ctx)) return net::not_found().to_response();
  net::http_response out = net::http_response::json(
      200, oauth::client_metadata_document(client_metadata_url(ctx), "mcpgate", redirect_uri(ctx)));
  out.headers.emplace_back("Cache-Control", "public, max-age=3600");
  return out;
}

// What the callback needs from the store, read in one hop after the state.
struct callback_material {
  result<registry::oauth_client> client = errc::not_found;
  std::string sealed_client_secret;
};

asio::awaitable<net::http_response> oauth_callback(const api_context& ctx, const route& r,
                                                   const net::http_request& req) {
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
    if (taken.error() != errc::not_found) co_return net::from_error_code(taken.error()).to_response();
    spdlog::info("OAuth callback refused: the state is unknown, used, expired or another browser's");
    co_return invalid_state().to_response();
  }
  const registry::oauth_state& st = *taken;
  // The cookie has done its job.
  const std::string clear_cookie = cookie_name(hash) + "=; Path=/api/mcp_store/; Max-Age=0; HttpOnly; SameSite=Lax";
  const auto finish = [&](bool ok, std::string_view error) {
    net::http_response out = redirect(final_location(ctx, st, ok, error));
    out.headers.emplace_back("Set-Cookie", clear_cookie);
    return out;
  };

  const auto read = [id = st.installation_id](registry::store& s) {
    callback_material m;
    m.client = s.get_oauth_client(id);
    if (auto secret = s.get_secret(id, "client_secret")) m.sealed_client_secret = std::move(*secret);
    return m;
  };
  auto material = co_await ctx.db.run(read);
  // RFC 9207: an answer must come from the server the flow went to (a
  // mix-up attack hands the browser another server's code). Required when
  // the AS says it sends `iss`; checked whenever one is there.
  if (material.client) {
    const std::string* iss = param(r, "iss");
    if ((material.client->iss_parameter_supported && !iss) || (iss && *iss != material.client->issuer)) {
      spdlog::warn("installation {}: OAuth callback refused: iss {} is not the issuer {}", st.installation_id,
                   iss ? printable(*iss, 200) : std::string("(missing)"), material.client->issuer);
      // posthog-code hears of it at its callback, like any failure; the
      // gateway's own page says it with a 400.
      if (st.install_source == "posthog-code" && !st.callback_url.empty()) co_return finish(false, "issuer_mismatch");
      net::http_response out = result_page("error", "issuer_mismatch");
      out.headers.emplace_back("Set-Cookie", clear_cookie);
      co_return out;
    }
  }

  if (const std::string* error = param(r, "error")) {
    spdlog::info("installation {}: the authorization server answered error={}", st.installation_id,
                 error->size() <= 64 ? *error : error->substr(0, 64));
    co_return finish(false, *error == "access_denied" ? "cancelled" : "authorization_failed");
  }
  const std::string* code = param(r, "code");
  if (!code || code->empty()) co_return finish(false, "authorization_failed");
  auto verifier = ctx.secrets.open(st.verifier_sealed, "oauth_state:" + hash);
  std::optional<oauth::client_credentials> credentials;
  if (material.client)
    credentials = proxy::open_client_credentials(ctx, *material.client, material.sealed_client_secret);
  if (!material.client || !verifier || !credentials) {
    spdlog::error("installation {}: OAuth callback cannot proceed: the client or verifier is missing",
                  st.installation_id);
    co_return finish(false, "token_exchange_failed");
  }

  const asio::any_io_executor here = co_await asio::this_coro::executor;
  auto exchanging =
      oauth::exchange_code(ctx.upstreams.for_executor(here), material.client->token_endpoint, *credentials, *code,
                           *verifier, redirect_uri(ctx), material.client->resource, proxy::oauth_options(ctx));
  oauth::token_result answer = co_await std::move(exchanging);
  if (answer.outcome != oauth::token_outcome::ok) {
    spdlog::warn("installation {}: code exchange failed: {}", st.installation_id, answer.error);
    co_return finish(false, "token_exchange_failed");
  }

  const auto issued = std::chrono::system_clock::now();
  const std::string sealed_access =
      ctx.secrets.seal(answer.tokens.access_token, proxy::secret_context(st.installation_id, "access_token"));
  const std::string sealed_refresh =
      answer.tokens.refresh_token.empty()
          ? std::string()
          : ctx.secrets.seal(answer.tokens.refresh_token, proxy::secret_context(st.installation_id, "refresh_token"));
  std::optional<sys_time> expires;
  if (answer.tokens.expires_in) expires = issued + *answer.tokens.expires_in;
  const auto store = [&](registry::store& s) -> result<void> {
    // A grant without a refresh token must not leave an older one behind.
    if (sealed_refresh.empty()) {
      if (auto cleared = s.clear_grant(st.installation_id, false); !cleared) return cleared;
    }
    auto granted = s.store_grant(st.installation_id, sealed_access, sealed_refresh, issued, expires);
    // A step-up's wider scope is the client's from now on.
    // (Only if the client is still the one the flow used.)
    if (granted && !st.scope.empty() && st.scope != material.client->scope) {
      if (auto kept = s.set_oauth_client_scope(st.installation_id, material.client->client_id, st.scope);
          !kept && kept.error() != errc::not_found) {
        return kept;
      }
    }
    if (granted) {
      caller owner;
      owner.user_id = st.user_id;
      owner.environment_id = st.environment_id;
      registry::store_audit_event(
          s, registry::make_audit_event(owner.user_id, owner.environment_id, st.installation_id,
                                        registry::audit_installation_changed,
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
  if (sealed_refresh.empty() && expires) {
    spdlog::warn(
        "installation {}: the authorization server issued no refresh token: the user must sign in again "
        "when the access token expires",
        st.installation_id);
  }

  // The tools, now that the gateway may talk to the upstream.
  caller who;
  who.user_id = st.user_id;
  who.environment_id = st.environment_id;
  bool ok = true;
  auto finding = proxy::find_installation(ctx, who, st.installation_id, ok);
  auto entry = co_await std::move(finding);
  if (entry && entry->upstream && entry->inst.is_enabled) {
    auto syncing = proxy::sync_tools_now(ctx, entry);
    const auto synced = co_await std::move(syncing);
    if (!synced.ok)
      spdlog::warn("installation {}: tools sync after OAuth failed: {}", st.installation_id, synced.detail);
  }
  co_return finish(true, "");
}

}  // namespace

asio::awaitable<net::http_response> handle_templates(const api_context& ctx) {
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
  co_return net::http_response::json(200, json::serialize(json::object{{"results", std::move(results)}}));
}

asio::awaitable<net::http_response> handle_authorize(const api_context& ctx, const caller& who, const route& r) {
  const auto live = ctx.settings();  // keeps the template alive for the whole request
  const std::string* template_id = param(r, "template_id");
  const std::string* installation_id = param(r, "installation_id");
  if ((template_id == nullptr) == (installation_id == nullptr)) {
    co_return net::bad_request("Pass exactly one of template_id or installation_id").to_response();
  }
  flow_options options;
  options.install_source = param_or(r, "install_source", "posthog");
  if (options.install_source != "posthog" && options.install_source != "posthog-code") {
    co_return net::validation_error("install_source", "invalid_choice",
                                    "\"" + options.install_source + "\" is not a valid choice.")
        .to_response();
  }
  options.callback_url = param_or(r, "posthog_code_callback_url");
  if (auto e = check_callback_url(options.callback_url)) co_return e->to_response();
  // A step-up (the -32003 insufficient_scope answer links here): scopes to
  // ask for on top of the installation's.
  options.extra_scope = param_or(r, "scope");
  if (!valid_scope(options.extra_scope)) {
    co_return net::validation_error("scope", "invalid", "Expected scope tokens separated by spaces.").to_response();
  }

  registry::installation inst;
  bool created_now = false;
  if (installation_id) {
    const auto read = [&who, id = *installation_id](registry::store& s) {
      return s.get_installation(who.environment_id, who.user_id, id);
    };
    auto row = co_await ctx.db.run(read);
    if (!row) co_return net::from_error_code(row.error()).to_response();
    if (row->auth_type != "oauth") co_return net::bad_request("This installation does not use OAuth.").to_response();
    inst = std::move(*row);
  } else {
    const config::template_entry* t = live->find_template(*template_id);
    if (!t) co_return net::not_found().to_response();
    if (t->auth_type != config::auth_type::oauth)
      co_return net::bad_request("This template does not use OAuth.").to_response();
    auto ensuring = ensure_template_installation(ctx, who, *t, created_now);
    auto row = co_await std::move(ensuring);
    if (auto* e = std::get_if<net::api_error>(&row)) co_return e->to_response();
    inst = std::move(std::get<registry::installation>(row));
    if (!t->client_id.empty()) {
      options.client = oauth::client_credentials{t->client_id, t->client_secret, "none"};
      options.client_source = "template";
    }
  }
  auto starting = start_oauth_flow(ctx, who, std::move(inst), created_now, std::move(options));
  auto started = co_await std::move(starting);
  if (auto* e = std::get_if<net::api_error>(&started)) co_return e->to_response();
  co_return redirect(std::move(std::get<std::string>(started)));
}

asio::awaitable<net::http_response> handle_oauth_browser(const api_context& ctx, const route& r,
                                                         const net::http_request& req) {
  switch (r.resource) {
    case resource::oauth_start:
      if (req.method == "POST") co_return co_await oauth_confirm(ctx, req);
      co_return co_await oauth_start(ctx, r, req);
    case resource::oauth_callback: co_return co_await oauth_callback(ctx, r, req);
    case resource::client_metadata: co_return client_metadata(ctx);
    default: co_return result_page(param_or(r, "status"), param_or(r, "error"));
  }
}

}  // namespace mcpgate::daemon::api
