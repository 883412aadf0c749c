#include "daemon/api/installations.hpp"

#include "common/ids.hpp"
#include "daemon/api/oauth_flow.hpp"
#include "daemon/api/pagination.hpp"
#include "daemon/api/request_body.hpp"
#include "proxy/installation_cache.hpp"
#include "proxy/token_refresher.hpp"
#include "proxy/tool_sync.hpp"
#include "registry/audit.hpp"

#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

#include <variant>

namespace mcpgate::daemon::api {
namespace {

namespace json = boost::json;
using registry::installation;

constexpr std::size_t max_display_name = 200;
constexpr std::size_t max_text = 100'000;  // description: bounded by the body limit anyway

net::http_response json_response(unsigned status, const json::value& body) {
  return net::http_response::json(status, json::serialize(body));
}

// Checks the url the way the API documents: absolute http(s), length, SSRF.
void check_url(field_reader& fields, const std::string& url, const net::ssrf_policy& policy) {
  const auto verdict = net::check_upstream_url(url, policy);
  switch (verdict.problem) {
    case net::url_problem::none: return;
    case net::url_problem::too_long:
      fields.fail(net::validation_error("url", "max_length",
                                        "Ensure this field has no more than " + std::to_string(net::max_url_length) +
                                            " characters."));
      return;
    case net::url_problem::invalid:
      fields.fail(net::validation_error("url", "invalid", "Enter a valid URL: " + verdict.reason + "."));
      return;
    case net::url_problem::not_allowed:
      fields.fail(net::validation_error("url", "url_not_allowed", "URL not allowed: " + verdict.reason + "."));
      return;
  }
}

// The fields every way of creating an installation shares: url (required,
// checked), description, auth_type. `name_field` is where the display name
// comes from ("display_name" for create, "name" for install_custom).
installation read_new_installation(field_reader& fields, const api_context& ctx, std::string_view name_field) {
  installation inst;
  fields.require("url");
  if (auto v = fields.string("url", net::max_url_length * 2, false)) {
    inst.url = std::move(*v);
    check_url(fields, inst.url, ctx.ssrf);
  }
  if (auto v = fields.string(name_field, max_display_name)) inst.display_name = std::move(*v);
  if (auto v = fields.string("description", max_text)) inst.description = std::move(*v);
  if (auto v = fields.choice("auth_type", {"oauth", "api_key", "none"})) inst.auth_type = std::move(*v);
  return inst;
}

// The body of a create request, validated.
std::variant<installation, net::api_error> read_create(const json::object& body, const api_context& ctx) {
  field_reader fields(body);
  installation inst = read_new_installation(fields, ctx, "display_name");
  if (auto v = fields.boolean("is_enabled")) inst.is_enabled = *v;
  if (fields.error()) return *fields.error();
  return inst;
}

constexpr std::size_t max_secret = 8192;

// install_source and posthog_code_callback_url, which every install takes.
void read_flow_fields(field_reader& fields, flow_options& flow) {
  if (auto v = fields.choice("install_source", {"posthog", "posthog-code"})) flow.install_source = std::move(*v);
  if (auto v = fields.string("posthog_code_callback_url", net::max_url_length)) flow.callback_url = std::move(*v);
  if (auto e = check_callback_url(flow.callback_url)) fields.fail(std::move(*e));
}

struct custom_install {
  installation inst;
  std::string api_key;  // "" when none was given
  flow_options flow;    // oauth
};

// The body of install_custom, validated.
std::variant<custom_install, net::api_error> read_install_custom(const json::object& body, const api_context& ctx) {
  field_reader fields(body);
  custom_install out{read_new_installation(fields, ctx, "name"), {}, {}};
  if (auto v = fields.credential("api_key", max_secret)) out.api_key = std::move(*v);
  auto client_id = fields.string("client_id", max_secret);
  auto client_secret = fields.string("client_secret", max_secret);
  read_flow_fields(fields, out.flow);
  if (fields.error()) return *fields.error();
  if (client_id && !client_id->empty()) {
    const std::string secret = client_secret.value_or("");
    out.flow.client = oauth::client_credentials{*client_id, secret, "none"};
    out.flow.client_source = "user";
  } else if (client_secret && !client_secret->empty()) {
    return net::validation_error("client_id", "required", "A client_secret needs its client_id.");
  }
  if (out.inst.auth_type != "api_key") out.api_key.clear();  // oauth and none carry no key
  return out;
}

struct template_install {
  std::string template_id;
  std::string api_key;
  flow_options flow;
};

std::variant<template_install, net::api_error> read_install_template(const json::object& body) {
  field_reader fields(body);
  template_install out;
  fields.require("template_id");
  if (auto v = fields.string("template_id", 200, false)) out.template_id = std::move(*v);
  if (auto v = fields.credential("api_key", max_secret)) out.api_key = std::move(*v);
  read_flow_fields(fields, out.flow);
  if (fields.error()) return *fields.error();
  return out;
}

// Where an installation's API key is sealed: binds the blob to its row.
std::string api_key_context(const std::string& installation_id) {
  return proxy::secret_context(installation_id, "api_key");
}

// The body of a PATCH: only display_name, description and is_enabled.
std::variant<registry::installation_patch, net::api_error> read_patch(const json::object& body) {
  field_reader fields(body);
  for (const auto& member : body) {
    const std::string_view key = member.key();
    if (key != "display_name" && key != "description" && key != "is_enabled") {
      fields.fail(net::validation_error(std::string(key), "read_only",
                                        "This field cannot be changed; only display_name, description "
                                        "and is_enabled may be updated."));
    }
  }
  registry::installation_patch patch;
  patch.display_name = fields.string("display_name", max_display_name);
  patch.description = fields.string("description", max_text);
  patch.is_enabled = fields.boolean("is_enabled");
  if (fields.error()) return *fields.error();
  return patch;
}

boost::asio::awaitable<net::http_response> list(const api_context& ctx, const caller& who, const route& r) {
  auto page = read_page(r);
  if (auto* e = std::get_if<net::api_error>(&page)) co_return e->to_response();
  const auto p = std::get<registry::page>(page);
  const auto query = [who, p](registry::store& s) { return s.list_installations(who.environment_id, who.user_id, p); };
  auto rows = co_await ctx.db.run(query);
  if (!rows) co_return net::from_error_code(rows.error()).to_response();

  json::array results;
  for (const auto& inst : rows->items) results.push_back(installation_json(inst, ctx));
  co_return json_response(200, page_body(ctx, r, p, rows->count, std::move(results)));
}

// Stores a new installation of the caller's, with its API key sealed when one
// is given, and its installation_created record (`source`: how it was made),
// and answers 201 with it (400 `unique` on a duplicate url).
// (The strings are taken by value: a caller may start this coroutine in one
// statement and await it in the next.)
boost::asio::awaitable<net::http_response> insert_new(const api_context& ctx, const caller& who, installation& inst,
                                                      std::string api_key, std::string duplicate_detail,
                                                      std::string source) {
  const auto now = std::chrono::system_clock::now();
  inst.id = new_uuid_v7(now);
  inst.environment_id = who.environment_id;
  inst.user_id = who.user_id;
  inst.created_at = inst.updated_at = now;
  inst.has_credential = !api_key.empty();
  const std::string sealed = api_key.empty() ? "" : ctx.secrets.seal(api_key, api_key_context(inst.id));
  const auto insert = [&inst, &sealed, &who, &source, now](registry::store& s) -> result<void> {
    if (auto done = s.insert_installation(inst); !done) return done;
    if (!sealed.empty()) {
      auto kept = s.put_secret(inst.id, "api_key", sealed);
      if (!kept) {
        (void)s.delete_installation(inst.environment_id, inst.user_id, inst.id);
        return kept;
      }
    }
    registry::store_audit_event(
        s, registry::make_audit_event(who.user_id, who.environment_id, inst.id, registry::audit_installation_created,
                                      registry::installation_created_detail(inst, source), now));
    return {};
  };
  auto stored = co_await ctx.db.run(insert);
  if (!stored) {
    if (stored.error() == errc::already_exists) {
      co_return net::validation_error("url", "unique", duplicate_detail).to_response();
    }
    spdlog::error("creating an installation failed: {}", stored.error().message());
    co_return net::from_error_code(stored.error()).to_response();
  }
  spdlog::info("installation {} ({}) created by user {} in environment {}", inst.id, inst.auth_type, who.user_id,
               who.environment_id);
  co_return json_response(201, installation_json(inst, ctx));
}

boost::asio::awaitable<net::http_response> create(const api_context& ctx, const caller& who,
                                                  const net::http_request& req) {
  auto body = parse_json_object(req.body);
  if (auto* e = std::get_if<net::api_error>(&body)) co_return e->to_response();
  auto parsed = read_create(std::get<json::object>(body), ctx);
  if (auto* e = std::get_if<net::api_error>(&parsed)) co_return e->to_response();
  auto& inst = std::get<installation>(parsed);
  co_return co_await insert_new(ctx, who, inst, "", "mcp server installation with this url already exists.", "create");
}

// Syncs the tools of a stored installation before answering `status` with it,
// so tool_count is right at once; a failed sync does not fail the install
// (refresh retries it).
boost::asio::awaitable<net::http_response> answer_synced(const api_context& ctx, const caller& who, installation inst,
                                                         unsigned status) {
  if (ctx.cache) ctx.cache->forget_installation(inst.id);
  if (inst.is_enabled) {
    bool ok = true;
    auto finding = proxy::find_installation(ctx, who, inst.id, ok);
    auto entry = co_await std::move(finding);
    if (entry) inst = entry->inst;
    if (entry && entry->upstream) {
      auto syncing = proxy::sync_tools_now(ctx, entry);
      const auto synced = co_await std::move(syncing);
      if (synced.ok) {
        inst.tool_count = 0;
        for (const auto& t : synced.tools) inst.tool_count += t.removed_at ? 0 : 1;
        inst.protocol_version = synced.protocol_version;
      }
    }
  }
  co_return json_response(status, installation_json(inst, ctx));
}

boost::asio::awaitable<net::http_response> answer_flow(const api_context& ctx, const caller& who, installation inst,
                                                       bool created_now, flow_options flow) {
  auto starting = start_oauth_flow(ctx, who, std::move(inst), created_now, std::move(flow));
  auto started = co_await std::move(starting);
  if (auto* e = std::get_if<net::api_error>(&started)) co_return e->to_response();
  co_return json_response(200, json::object{{"redirect_url", std::get<std::string>(started)}});
}

// install_custom with auth_type oauth: the user's installation of the url
// (an existing one loses its grant and needs re-authentication), then a flow.
boost::asio::awaitable<net::http_response> install_custom_oauth(const api_context& ctx, const caller& who,
                                                                custom_install custom) {
  const auto now = std::chrono::system_clock::now();
  installation& fresh = custom.inst;
  fresh.id = new_uuid_v7(now);
  fresh.environment_id = who.environment_id;
  fresh.user_id = who.user_id;
  fresh.created_at = fresh.updated_at = now;
  const auto find_or_insert = [&fresh, &who, now](registry::store& s) {
    auto found = registry::find_or_insert_installation(s, fresh,
                                                       [](registry::store& st, installation& existing) -> result<void> {
                                                         // An oauth install of the url starts over; an api_key or none
                                                         // one is a duplicate.
                                                         if (existing.auth_type != "oauth") return errc::already_exists;
                                                         return st.clear_grant(existing.id, true);
                                                       });
    if (found.row) {
      registry::store_audit_event(
          s, found.inserted
                 ? registry::make_audit_event(who.user_id, who.environment_id, fresh.id,
                                              registry::audit_installation_created,
                                              registry::installation_created_detail(fresh, "install_custom"), now)
                 : registry::make_audit_event(who.user_id, who.environment_id, found.row->id,
                                              registry::audit_installation_changed,
                                              json::object{{"fields", json::array{"oauth_grant"}}}, now));
    }
    return found;
  };
  auto found = co_await ctx.db.run(find_or_insert);
  if (!found.row) {
    if (found.row.error() == errc::already_exists) {
      co_return net::validation_error("url", "unique", "This server URL is already installed.").to_response();
    }
    spdlog::error("install_custom (oauth) failed: {}", found.row.error().message());
    co_return net::from_error_code(found.row.error()).to_response();
  }
  if (ctx.cache) ctx.cache->forget_installation(found.row->id);
  if (found.inserted) {
    spdlog::info("installation {} (oauth) created by user {} in environment {}", fresh.id, who.user_id,
                 who.environment_id);
  }
  auto answering = answer_flow(ctx, who, std::move(*found.row), found.inserted, std::move(custom.flow));
  co_return co_await std::move(answering);
}

// install_custom: api_key and none installs answer 201 with the installation
// (the key sealed at rest; duplicate url 400); oauth answers 200 with the
// redirect_url of a new flow.
boost::asio::awaitable<net::http_response> install_custom(const api_context& ctx, const caller& who,
                                                          const net::http_request& req) {
  auto body = parse_json_object(req.body);
  if (auto* e = std::get_if<net::api_error>(&body)) co_return e->to_response();
  auto parsed = read_install_custom(std::get<json::object>(body), ctx);
  if (auto* e = std::get_if<net::api_error>(&parsed)) co_return e->to_response();
  auto& custom = std::get<custom_install>(parsed);
  if (custom.inst.auth_type == "oauth") {
    auto flowing = install_custom_oauth(ctx, who, std::move(custom));
    co_return co_await std::move(flowing);
  }
  auto inserting = insert_new(ctx, who, custom.inst, custom.api_key, "This server URL is already installed.",
                              "install_custom");
  auto created = co_await std::move(inserting);
  if (created.status != 201 || !custom.inst.is_enabled) co_return created;
  auto answering = answer_synced(ctx, who, custom.inst, 201);
  co_return co_await std::move(answering);
}

// install_template: the caller's installation of an active template's url
// (existing or new); api_key (required, overwrites the stored one) and none
// answer 201 with it, oauth answers 200 with the redirect_url of a flow
// that uses the template's client when the admin configured one.
boost::asio::awaitable<net::http_response> install_template(const api_context& ctx, const caller& who,
                                                            const net::http_request& req) {
  auto body = parse_json_object(req.body);
  if (auto* e = std::get_if<net::api_error>(&body)) co_return e->to_response();
  auto parsed = read_install_template(std::get<json::object>(body));
  if (auto* e = std::get_if<net::api_error>(&parsed)) co_return e->to_response();
  auto& request = std::get<template_install>(parsed);
  const auto live = ctx.settings();  // keeps *t alive
  const config::template_entry* t = live->find_template(request.template_id);
  if (!t) co_return net::not_found().to_response();
  if (t->auth_type == config::auth_type::api_key && request.api_key.empty()) {
    co_return net::validation_error("api_key", "required", "This template needs an api_key.").to_response();
  }
  bool created_now = false;
  auto ensuring = ensure_template_installation(ctx, who, *t, created_now);
  auto row = co_await std::move(ensuring);
  if (auto* e = std::get_if<net::api_error>(&row)) co_return e->to_response();
  installation inst = std::move(std::get<installation>(row));

  if (t->auth_type == config::auth_type::oauth) {
    if (!t->client_id.empty()) {
      request.flow.client = oauth::client_credentials{t->client_id, t->client_secret, "none"};
      request.flow.client_source = "template";
    }
    auto answering = answer_flow(ctx, who, std::move(inst), created_now, std::move(request.flow));
    co_return co_await std::move(answering);
  }
  if (inst.auth_type != (t->auth_type == config::auth_type::api_key ? "api_key" : "none")) {
    co_return net::validation_error("template_id", "unique",
                                    "This server URL is already installed with another auth_type.")
        .to_response();
  }
  if (t->auth_type == config::auth_type::api_key) {
    const std::string sealed = ctx.secrets.seal(request.api_key, api_key_context(inst.id));
    const auto keep = [&inst, &sealed, &who, created_now](registry::store& s) {
      auto kept = s.put_secret(inst.id, "api_key", sealed);
      // A new row's key is part of its creation; an existing one's is a change.
      if (kept && !created_now) {
        registry::store_audit_event(s, registry::make_audit_event(who.user_id, who.environment_id, inst.id,
                                                                  registry::audit_installation_changed,
                                                                  json::object{{"fields", json::array{"api_key"}}},
                                                                  std::chrono::system_clock::now()));
      }
      return kept;
    };
    auto kept = co_await ctx.db.run(keep);
    if (!kept) {
      spdlog::error("installation {}: storing the API key failed: {}", inst.id, kept.error().message());
      co_return net::from_error_code(kept.error()).to_response();
    }
    inst.has_credential = true;
    spdlog::info("installation {}: API key {} from template {}", inst.id, created_now ? "stored" : "replaced", t->id);
  }
  auto answering = answer_synced(ctx, who, std::move(inst), 201);
  co_return co_await std::move(answering);
}

boost::asio::awaitable<net::http_response> retrieve(const api_context& ctx, const caller& who, const std::string& id) {
  const auto query = [who, &id](registry::store& s) { return s.get_installation(who.environment_id, who.user_id, id); };
  auto row = co_await ctx.db.run(query);
  if (!row) co_return net::from_error_code(row.error()).to_response();
  co_return json_response(200, installation_json(*row, ctx));
}

boost::asio::awaitable<net::http_response> update(const api_context& ctx, const caller& who, const std::string& id,
                                                  const net::http_request& req) {
  auto body = parse_json_object(req.body);
  if (auto* e = std::get_if<net::api_error>(&body)) co_return e->to_response();
  auto parsed = read_patch(std::get<json::object>(body));
  if (auto* e = std::get_if<net::api_error>(&parsed)) co_return e->to_response();
  const auto patch = std::get<registry::installation_patch>(parsed);
  // The row before the change tells which fields the patch really changes:
  // only those are audited, and a patch that changes nothing is no event.
  const auto change = [who, &id, &patch](registry::store& s) -> result<installation> {
    auto before = s.get_installation(who.environment_id, who.user_id, id);
    if (!before) return before;
    const auto now = std::chrono::system_clock::now();
    auto after = s.update_installation(who.environment_id, who.user_id, id, patch, now);
    if (!after) return after;
    json::array fields;
    if (patch.display_name && *patch.display_name != before->display_name) fields.emplace_back("display_name");
    if (patch.description && *patch.description != before->description) fields.emplace_back("description");
    if (patch.is_enabled && *patch.is_enabled != before->is_enabled) fields.emplace_back("is_enabled");
    if (!fields.empty()) {
      registry::store_audit_event(s, registry::make_audit_event(who.user_id, who.environment_id, id,
                                                                registry::audit_installation_changed,
                                                                json::object{{"fields", std::move(fields)}}, now));
    }
    return after;
  };
  auto row = co_await ctx.db.run(change);
  if (ctx.cache) ctx.cache->forget_installation(id);  // the next proxied request sees the change
  if (!row) co_return net::from_error_code(row.error()).to_response();
  co_return json_response(200, installation_json(*row, ctx));
}

boost::asio::awaitable<net::http_response> remove(const api_context& ctx, const caller& who, const std::string& id) {
  const auto erase = [who, &id](registry::store& s) -> result<void> {
    auto row = s.get_installation(who.environment_id, who.user_id, id);  // for the record's detail
    if (!row) return row.error();
    auto done = s.delete_installation(who.environment_id, who.user_id, id);
    if (done) {
      registry::store_audit_event(
          s, registry::make_audit_event(who.user_id, who.environment_id, id, registry::audit_installation_deleted,
                                        registry::installation_deleted_detail(*row), std::chrono::system_clock::now()));
    }
    return done;
  };
  auto done = co_await ctx.db.run(erase);
  if (ctx.cache) ctx.cache->forget_installation(id);
  if (!done) co_return net::from_error_code(done.error()).to_response();
  spdlog::info("installation {} deleted by user {}", id, who.user_id);
  co_return net::http_response::empty(204);
}

}  // namespace

json::object installation_json(const installation& inst, const api_context& ctx) {
  const std::string& public_url = ctx.public_url;
  const auto live = ctx.settings();  // keeps *t alive
  const config::template_entry* t = nullptr;
  if (inst.template_id) {
    for (const auto& entry : live->templates) t = entry.id == *inst.template_id ? &entry : t;
  }
  const std::string& name = !inst.display_name.empty() || !t ? inst.display_name : t->name;
  const std::optional<std::string> reauth = proxy::reauth_reason(inst, std::chrono::system_clock::now());
  return json::object{
      {"id", inst.id},
      {"template_id", inst.template_id ? json::value(*inst.template_id) : json::value(nullptr)},
      {"name", name},
      {"icon_key", t ? t->icon_key : std::string()},
      {"display_name", inst.display_name},
      {"url", inst.url},
      {"description", inst.description},
      {"auth_type", inst.auth_type},
      {"is_enabled", inst.is_enabled},
      {"needs_reauth", reauth.has_value()},
      {"needs_reauth_reason", reauth ? json::value(*reauth) : json::value(nullptr)},
      {"pending_oauth", inst.auth_type == "oauth" && !inst.has_credential},
      {"proxy_url", public_url + "/api/environments/" + std::to_string(inst.environment_id) +
                        "/mcp_server_installations/" + inst.id + "/proxy/"},
      {"tool_count", inst.tool_count},
      {"protocol_version", inst.protocol_version ? json::value(*inst.protocol_version) : json::value(nullptr)},
      {"created_at", to_iso8601(inst.created_at)},
      {"updated_at", to_iso8601(inst.updated_at)},
  };
}

boost::asio::awaitable<net::http_response> handle_installations(const api_context& ctx, const caller& who,
                                                                const route& r, const net::http_request& req) {
  if (r.resource == resource::install_custom) co_return co_await install_custom(ctx, who, req);
  if (r.resource == resource::install_template) co_return co_await install_template(ctx, who, req);
  if (r.resource == resource::installations) {
    if (req.method == "POST") co_return co_await create(ctx, who, req);
    co_return co_await list(ctx, who, r);
  }
  if (req.method == "PATCH") co_return co_await update(ctx, who, r.installation_id, req);
  if (req.method == "DELETE") co_return co_await remove(ctx, who, r.installation_id);
  co_return co_await retrieve(ctx, who, r.installation_id);
}

}  // namespace mcpgate::daemon::api
