#include "daemon/api/installations.hpp"

#include "common/ids.hpp"
#include "daemon/api/proxy.hpp"
#include "daemon/api/request_body.hpp"
#include "daemon/api/tools.hpp"

#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

#include <charconv>
#include <variant>

namespace mcpgate::daemon::api {
namespace {

namespace json = boost::json;
using registry::installation;

constexpr std::size_t max_display_name = 200;
constexpr std::size_t max_text = 100'000;  // description: bounded by the body limit anyway
constexpr std::int64_t default_limit = 100;
constexpr std::int64_t max_limit = 1000;

http_response json_response(unsigned status, const json::value& body) {
  return http_response::json(status, json::serialize(body));
}

// Checks the url the way the API documents: absolute http(s), length, SSRF.
void check_url(field_reader& fields, const std::string& url, const net::ssrf_policy& policy) {
  const auto verdict = net::check_upstream_url(url, policy);
  switch (verdict.problem) {
    case net::url_problem::none: return;
    case net::url_problem::too_long:
      fields.fail(validation_error("url", "max_length",
                                   "Ensure this field has no more than " +
                                       std::to_string(net::max_url_length) + " characters."));
      return;
    case net::url_problem::invalid:
      fields.fail(validation_error("url", "invalid", "Enter a valid URL: " + verdict.reason + "."));
      return;
    case net::url_problem::not_allowed:
      fields.fail(validation_error("url", "url_not_allowed", "URL not allowed: " + verdict.reason + "."));
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
std::variant<installation, api_error> read_create(const json::object& body, const api_context& ctx) {
  field_reader fields(body);
  installation inst = read_new_installation(fields, ctx, "display_name");
  if (auto v = fields.boolean("is_enabled")) inst.is_enabled = *v;
  if (fields.error()) return *fields.error();
  return inst;
}

constexpr std::size_t max_secret = 8192;

struct custom_install {
  installation inst;
  std::string api_key;  // "" when none was given
};

// The body of install_custom, validated. The OAuth-only fields are checked
// for type here and used by the OAuth flow.
std::variant<custom_install, api_error> read_install_custom(const json::object& body, const api_context& ctx) {
  field_reader fields(body);
  custom_install out{read_new_installation(fields, ctx, "name"), {}};
  if (auto v = fields.string("api_key", max_secret)) out.api_key = std::move(*v);
  (void)fields.string("client_id", max_secret);
  (void)fields.string("client_secret", max_secret);
  (void)fields.choice("install_source", {"posthog", "posthog-code"});
  (void)fields.string("posthog_code_callback_url", net::max_url_length);
  if (fields.error()) return *fields.error();
  if (out.inst.auth_type == "oauth") {
    return api_error{400, "invalid_request", "not_supported",
                     "OAuth installs are not available in this version of mcpgate.", std::string("auth_type")};
  }
  if (out.inst.auth_type != "api_key") out.api_key.clear();  // "none" carries no credential
  return out;
}

// Where an installation's API key is sealed: binds the blob to its row.
std::string api_key_context(const std::string& installation_id) {
  return "installation:" + installation_id + ":api_key";
}

// The body of a PATCH: only display_name, description and is_enabled.
std::variant<registry::installation_patch, api_error> read_patch(const json::object& body) {
  field_reader fields(body);
  for (const auto& member : body) {
    const std::string_view key = member.key();
    if (key != "display_name" && key != "description" && key != "is_enabled") {
      fields.fail(validation_error(std::string(key), "read_only",
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

std::optional<std::int64_t> parse_non_negative(std::string_view text) {
  std::int64_t value = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value < 0) return std::nullopt;
  return value;
}

std::variant<registry::page, api_error> read_page(const route& r) {
  registry::page p{default_limit, 0};
  for (const auto& [key, text] : r.params) {
    if (key != "limit" && key != "offset") continue;
    const auto value = parse_non_negative(text);
    if (key == "limit") {
      if (!value || *value == 0 || *value > max_limit) {
        return validation_error("limit", "invalid",
                                "limit must be an integer from 1 to " + std::to_string(max_limit) + ".");
      }
      p.limit = *value;
    } else {
      if (!value) return validation_error("offset", "invalid", "offset must be a non-negative integer.");
      p.offset = *value;
    }
  }
  return p;
}

json::value page_link(const api_context& ctx, const route& r, std::int64_t limit, std::int64_t offset) {
  std::string link = ctx.public_url + std::string(r.path) + "?limit=" + std::to_string(limit);
  if (offset > 0) link += "&offset=" + std::to_string(offset);
  return json::value(link);
}

boost::asio::awaitable<http_response> list(const api_context& ctx, const caller& who, const route& r) {
  auto page = read_page(r);
  if (auto* e = std::get_if<api_error>(&page)) co_return e->to_response();
  const auto p = std::get<registry::page>(page);
  const auto query = [who, p](registry::store& s) {
    return s.list_installations(who.environment_id, who.user_id, p);
  };
  auto rows = co_await ctx.db.run(query);
  if (!rows) co_return from_error_code(rows.error()).to_response();

  json::array results;
  for (const auto& inst : rows->items) results.push_back(installation_json(inst, ctx.public_url));
  // Written so that no sum can overflow: offset may be any non-negative int64.
  const bool has_next = p.offset < rows->count - p.limit;
  const bool has_previous = p.offset > 0;
  json::object body{
      {"count", rows->count},
      {"next", has_next ? page_link(ctx, r, p.limit, p.offset + p.limit) : json::value(nullptr)},
      {"previous", has_previous ? page_link(ctx, r, p.limit, std::max<std::int64_t>(0, p.offset - p.limit))
                                : json::value(nullptr)},
      {"results", std::move(results)}};
  co_return json_response(200, body);
}

// Stores a new installation of the caller's, with its API key sealed when one
// is given, and answers 201 with it (400 `unique` on a duplicate url).
// (The strings are taken by value: a caller may start this coroutine in one
// statement and await it in the next.)
boost::asio::awaitable<http_response> insert_new(const api_context& ctx, const caller& who, installation& inst,
                                                 std::string api_key, std::string duplicate_detail) {
  const auto now = std::chrono::system_clock::now();
  inst.id = new_uuid_v7(now);
  inst.environment_id = who.environment_id;
  inst.user_id = who.user_id;
  inst.created_at = inst.updated_at = now;
  inst.has_credential = !api_key.empty();
  const std::string sealed = api_key.empty() ? "" : ctx.secrets.seal(api_key, api_key_context(inst.id));
  const auto insert = [&inst, &sealed](registry::store& s) -> result<void> {
    if (auto done = s.insert_installation(inst); !done) return done;
    if (sealed.empty()) return {};
    auto kept = s.put_secret(inst.id, "api_key", sealed);
    if (!kept) (void)s.delete_installation(inst.environment_id, inst.user_id, inst.id);
    return kept;
  };
  auto stored = co_await ctx.db.run(insert);
  if (!stored) {
    if (stored.error() == errc::already_exists) {
      co_return validation_error("url", "unique", duplicate_detail).to_response();
    }
    spdlog::error("creating an installation failed: {}", stored.error().message());
    co_return from_error_code(stored.error()).to_response();
  }
  spdlog::info("installation {} ({}) created by user {} in environment {}", inst.id, inst.auth_type, who.user_id,
               who.environment_id);
  co_return json_response(201, installation_json(inst, ctx.public_url));
}

boost::asio::awaitable<http_response> create(const api_context& ctx, const caller& who,
                                             const http_request& req) {
  auto body = parse_json_object(req.body);
  if (auto* e = std::get_if<api_error>(&body)) co_return e->to_response();
  auto parsed = read_create(std::get<json::object>(body), ctx);
  if (auto* e = std::get_if<api_error>(&parsed)) co_return e->to_response();
  auto& inst = std::get<installation>(parsed);
  co_return co_await insert_new(ctx, who, inst, "", "mcp server installation with this url already exists.");
}

// install_custom: api_key and none installs answer 201 with the installation
// (the key sealed at rest); duplicate url 400.
boost::asio::awaitable<http_response> install_custom(const api_context& ctx, const caller& who,
                                                     const http_request& req) {
  auto body = parse_json_object(req.body);
  if (auto* e = std::get_if<api_error>(&body)) co_return e->to_response();
  auto parsed = read_install_custom(std::get<json::object>(body), ctx);
  if (auto* e = std::get_if<api_error>(&parsed)) co_return e->to_response();
  auto& custom = std::get<custom_install>(parsed);
  auto inserting = insert_new(ctx, who, custom.inst, custom.api_key, "This server URL is already installed.");
  auto created = co_await std::move(inserting);
  if (created.status != 201 || !custom.inst.is_enabled) co_return created;
  // The tools are synced before answering, so tool_count is right at once; a
  // failed sync does not fail the install (refresh retries it).
  bool ok = true;
  auto finding = find_installation(ctx, who, custom.inst.id, ok);
  auto entry = co_await std::move(finding);
  if (!entry || !entry->upstream) co_return created;
  auto syncing = sync_tools_now(ctx, entry);
  const auto synced = co_await std::move(syncing);
  if (!synced.ok) co_return created;
  custom.inst.tool_count = 0;
  for (const auto& t : synced.tools) custom.inst.tool_count += t.removed_at ? 0 : 1;
  co_return json_response(201, installation_json(custom.inst, ctx.public_url));
}

boost::asio::awaitable<http_response> retrieve(const api_context& ctx, const caller& who,
                                               const std::string& id) {
  const auto query = [who, &id](registry::store& s) {
    return s.get_installation(who.environment_id, who.user_id, id);
  };
  auto row = co_await ctx.db.run(query);
  if (!row) co_return from_error_code(row.error()).to_response();
  co_return json_response(200, installation_json(*row, ctx.public_url));
}

boost::asio::awaitable<http_response> update(const api_context& ctx, const caller& who,
                                             const std::string& id, const http_request& req) {
  auto body = parse_json_object(req.body);
  if (auto* e = std::get_if<api_error>(&body)) co_return e->to_response();
  auto parsed = read_patch(std::get<json::object>(body));
  if (auto* e = std::get_if<api_error>(&parsed)) co_return e->to_response();
  const auto patch = std::get<registry::installation_patch>(parsed);
  const auto change = [who, &id, &patch](registry::store& s) {
    return s.update_installation(who.environment_id, who.user_id, id, patch,
                                 std::chrono::system_clock::now());
  };
  auto row = co_await ctx.db.run(change);
  if (ctx.cache) ctx.cache->forget_installation(id);  // the next proxied request sees the change
  if (!row) co_return from_error_code(row.error()).to_response();
  co_return json_response(200, installation_json(*row, ctx.public_url));
}

boost::asio::awaitable<http_response> remove(const api_context& ctx, const caller& who,
                                             const std::string& id) {
  const auto erase = [who, &id](registry::store& s) {
    return s.delete_installation(who.environment_id, who.user_id, id);
  };
  auto done = co_await ctx.db.run(erase);
  if (ctx.cache) ctx.cache->forget_installation(id);
  if (!done) co_return from_error_code(done.error()).to_response();
  spdlog::info("installation {} deleted by user {}", id, who.user_id);
  co_return http_response::empty(204);
}

}  // namespace

json::object installation_json(const installation& inst, const std::string& public_url) {
  return json::object{
      {"id", inst.id},
      {"template_id", inst.template_id ? json::value(*inst.template_id) : json::value(nullptr)},
      {"name", inst.display_name},
      {"icon_key", ""},
      {"display_name", inst.display_name},
      {"url", inst.url},
      {"description", inst.description},
      {"auth_type", inst.auth_type},
      {"is_enabled", inst.is_enabled},
      {"needs_reauth", inst.needs_reauth},
      {"pending_oauth", inst.auth_type == "oauth" && !inst.has_credential},
      {"proxy_url", public_url + "/api/environments/" + std::to_string(inst.environment_id) +
                        "/mcp_server_installations/" + inst.id + "/proxy/"},
      {"tool_count", inst.tool_count},
      {"created_at", to_iso8601(inst.created_at)},
      {"updated_at", to_iso8601(inst.updated_at)},
  };
}

boost::asio::awaitable<http_response> handle_installations(const api_context& ctx, const caller& who,
                                                           const route& r, const http_request& req) {
  if (r.resource == resource::install_custom) co_return co_await install_custom(ctx, who, req);
  if (r.resource == resource::installations) {
    if (req.method == "POST") co_return co_await create(ctx, who, req);
    co_return co_await list(ctx, who, r);
  }
  if (req.method == "PATCH") co_return co_await update(ctx, who, r.installation_id, req);
  if (req.method == "DELETE") co_return co_await remove(ctx, who, r.installation_id);
  co_return co_await retrieve(ctx, who, r.installation_id);
}

}  // namespace mcpgate::daemon::api
