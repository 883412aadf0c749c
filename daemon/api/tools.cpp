#include "daemon/api/tools.hpp"

#include "common/ids.hpp"
#include "common/text.hpp"
#include "daemon/api/request_body.hpp"
#include "net/api_error.hpp"
#include "proxy/installation_cache.hpp"
#include "proxy/json_text.hpp"
#include "proxy/mcp_client.hpp"
#include "proxy/relay.hpp"
#include "proxy/tool_sync.hpp"
#include "registry/audit.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <variant>

namespace mcpgate::daemon::api {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

// A JSON value the registry keeps as text; {} if it is somehow not JSON.
json::value stored_json(const std::string& text) {
  auto v = proxy::read_json(text);
  if (!v) return json::object{};
  return std::move(*v);
}

net::api_error tool_not_found() { return {404, "invalid_request", "not_found", "Tool not found", std::nullopt}; }

json::object results_of(const std::vector<registry::tool>& tools, bool include_removed) {
  json::array results;
  for (const auto& t : tools) {
    if (include_removed || !t.removed_at) results.push_back(tool_json(t));
  }
  return json::object{{"results", std::move(results)}};
}

// ?include_removed=1 (also "true"/"yes", any case).
bool include_removed(const route& r) {
  for (const auto& [key, value] : r.params) {
    if (key == "include_removed") return value == "1" || ascii_iequals(value, "true") || ascii_iequals(value, "yes");
  }
  return false;
}

asio::awaitable<net::http_response> list_tools(const api_context& ctx, const caller& who, const route& r) {
  const bool removed_too = include_removed(r);
  const auto query = [who, &r, removed_too](registry::store& s) -> result<std::vector<registry::tool>> {
    if (auto inst = s.get_installation(who.environment_id, who.user_id, r.installation_id); !inst) {
      return inst.error();
    }
    return s.list_tools(r.installation_id, removed_too);
  };
  auto tools = co_await ctx.db.run(query);
  if (!tools) co_return net::from_error_code(tools.error()).to_response();
  co_return net::http_response::json(200, proxy::write_json(results_of(*tools, true)));
}

// PATCH .../tools/{tool_name} {"approval_state": ...}: the change and its
// audit record in one trip to the store; the cache forgets the installation
// so the very next proxied request enforces the new state.
asio::awaitable<net::http_response> set_approval(const api_context& ctx, const caller& who, const route& r,
                                                 const net::http_request& req) {
  auto body = parse_json_object(req.body);
  if (auto* e = std::get_if<net::api_error>(&body)) co_return e->to_response();
  field_reader fields(std::get<json::object>(body));
  fields.require("approval_state");
  auto state = fields.choice("approval_state", {registry::approval_approved, registry::approval_needs_approval,
                                                registry::approval_do_not_use});
  for (const auto& member : std::get<json::object>(body)) {
    if (member.key() != "approval_state") {
      fields.fail(net::validation_error(std::string(member.key()), "read_only",
                                        "This field cannot be changed; only approval_state may be updated."));
    }
  }
  if (fields.error()) co_return fields.error()->to_response();

  struct changed {
    result<registry::tool> before = errc::not_found;
    result<std::vector<registry::tool>> after = errc::not_found;
    bool tool_missing = false;
  };
  const auto now = std::chrono::system_clock::now();
  const auto change = [who, &r, &state, now](registry::store& s) {
    changed out;
    if (auto inst = s.get_installation(who.environment_id, who.user_id, r.installation_id); !inst) {
      out.before = inst.error();
      return out;
    }
    // The change and its audit record in one transaction: never one without the other.
    const auto audit = [&](const registry::tool& before) {
      return registry::make_audit_event(
          who.user_id, who.environment_id, r.installation_id, registry::audit_tool_approval_changed,
          json::object{{"from", before.approval_state}, {"to", *state}}, now, r.tool_name);
    };
    out.before = s.set_tool_approval(r.installation_id, r.tool_name, *state, now, audit);
    if (!out.before) {
      out.tool_missing = out.before.error() == errc::not_found;
      return out;
    }
    out.after = s.list_tools(r.installation_id, true);
    return out;
  };
  auto done = co_await ctx.db.run(change);
  if (ctx.cache) ctx.cache->forget_installation(r.installation_id);
  if (done.tool_missing) co_return tool_not_found().to_response();
  if (!done.before) co_return net::from_error_code(done.before.error()).to_response();
  if (!done.after) co_return net::from_error_code(done.after.error()).to_response();
  if (done.before->approval_state != *state) {
    ctx.streams->tools_changed(r.installation_id);
    spdlog::info("installation {}: tool {} changed from {} to {} by user {}", r.installation_id, r.tool_name,
                 done.before->approval_state, *state, who.user_id);
  }
  for (const auto& t : *done.after) {
    if (t.tool_name == r.tool_name) co_return net::http_response::json(200, proxy::write_json(tool_json(t)));
  }
  co_return tool_not_found().to_response();  // deleted in between
}

asio::awaitable<net::http_response> refresh_tools(const api_context& ctx, const caller& who, const route& r) {
  bool ok = true;
  auto finding = proxy::find_installation(ctx, who, r.installation_id, ok);
  auto entry = co_await std::move(finding);
  if (!ok) co_return net::storage_unavailable(errc::store_failure).to_response();
  if (!entry) co_return net::not_found().to_response();
  if (!entry->inst.is_enabled) {
    co_return net::api_error{400, "invalid_request", "disabled", "Installation is disabled", std::nullopt}
        .to_response();
  }
  const net::api_error upstream_failed{502, "server_error", "upstream_error",
                                       "Could not refresh tools from the upstream MCP server", std::nullopt};
  if (!entry->upstream) {
    spdlog::warn("installation {}: refresh refused: URL not allowed: {}", entry->inst.id, entry->url_refusal);
    co_return upstream_failed.to_response();
  }
  auto syncing = proxy::sync_tools_now(ctx, entry);
  auto outcome = co_await std::move(syncing);
  if (!outcome.ok) co_return upstream_failed.to_response();
  co_return net::http_response::json(200, proxy::write_json(results_of(outcome.tools, false)));
}

}  // namespace

json::object tool_json(const registry::tool& t) {
  return json::object{
      {"id", t.id},
      {"tool_name", t.tool_name},
      {"display_name", t.display_name},
      {"description", t.description},
      {"input_schema", stored_json(t.input_schema)},
      {"annotations", stored_json(t.annotations)},
      {"approval_state", t.approval_state},
      {"last_seen_at", to_iso8601(t.last_seen_at)},
      {"removed_at", t.removed_at ? json::value(to_iso8601(*t.removed_at)) : json::value(nullptr)},
      {"created_at", to_iso8601(t.created_at)},
      {"updated_at", to_iso8601(t.updated_at)},
  };
}

asio::awaitable<net::http_response> handle_tools(const api_context& ctx, const caller& who, const route& r,
                                                 const net::http_request& req) {
  if (r.resource == resource::tools) co_return co_await list_tools(ctx, who, r);
  if (r.resource == resource::tools_refresh && req.method == "POST") co_return co_await refresh_tools(ctx, who, r);
  co_return co_await set_approval(ctx, who, r, req);  // PATCH .../tools/{name}, "refresh" included
}

}  // namespace mcpgate::daemon::api
