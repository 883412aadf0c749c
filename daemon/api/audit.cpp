#include "daemon/api/audit.hpp"

#include "common/log.hpp"

#include "common/ids.hpp"
#include "daemon/api/pagination.hpp"
#include "net/api_error.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>
#include <utility>
#include <variant>

namespace mcpgate::daemon::api {
namespace {

namespace json = boost::json;

// The list's filters from the query. An empty value filters nothing (as
// django-filter does); the last occurrence of a parameter counts.
std::variant<registry::audit_filter, net::api_error> read_filter(const route& r) {
  registry::audit_filter filter;
  for (const auto& [key, value] : r.params) {
    if (key == "installation_id") {
      filter.installation_id = value.empty() ? std::nullopt : std::optional<std::string>(value);
    } else if (key == "event_type") {
      filter.event_type = value.empty() ? std::nullopt : std::optional<std::string>(value);
    }
  }
  if (filter.event_type && std::find(registry::audit_event_types.begin(), registry::audit_event_types.end(),
                                     *filter.event_type) == registry::audit_event_types.end()) {
    std::string valid;
    for (const auto type : registry::audit_event_types) valid.append(valid.empty() ? "" : ", ").append(type);
    return net::validation_error("event_type", "invalid_choice", "event_type must be one of: " + valid + ".");
  }
  return filter;
}

}  // namespace

json::object audit_event_json(const registry::audit_event& e) {
  boost::system::error_code ec;
  json::value detail = json::parse(e.detail, ec);
  if (ec || !detail.is_object()) {
    // Only ever written by the gateway as an object: shown as {} rather than
    // failing the whole page.
    spdlog::warn("audit record {}: detail is not a JSON object", e.id);
    detail = json::object{};
  }
  return json::object{
      {"id", e.id},
      {"event_type", e.event_type},
      {"installation_id", e.installation_id},
      {"tool_name", e.tool_name.empty() ? json::value(nullptr) : json::value(e.tool_name)},
      {"detail", std::move(detail)},
      {"user_id", e.user_id},
      {"created_at", to_iso8601(e.created_at)},
  };
}

boost::asio::awaitable<net::http_response> handle_audit_events(const api_context& ctx, const caller& who,
                                                               const route& r) {
  auto page = read_page(r);
  if (auto* e = std::get_if<net::api_error>(&page)) co_return e->to_response();
  auto filtering = read_filter(r);
  if (auto* e = std::get_if<net::api_error>(&filtering)) co_return e->to_response();
  const auto p = std::get<registry::page>(page);
  const auto filter = std::get<registry::audit_filter>(std::move(filtering));
  const auto query = [who, &filter, p, batch = ctx.forwarded_audit](registry::store& s) {
    if (batch) batch->write_pending(s);  // records of calls already answered are listed too
    return s.list_audit_events(who.environment_id, who.user_id, filter, p);
  };
  auto rows = co_await ctx.db.run(query);
  if (!rows) {
    spdlog::error("listing audit events failed: {}", rows.error().message());
    co_return net::from_error_code(rows.error()).to_response();
  }

  json::array results;
  results.reserve(rows->items.size());
  for (const auto& e : rows->items) results.push_back(audit_event_json(e));
  link_params carried;
  if (filter.installation_id) carried.emplace_back("installation_id", *filter.installation_id);
  if (filter.event_type) carried.emplace_back("event_type", *filter.event_type);
  co_return net::http_response::json(200,
                                     json::serialize(page_body(ctx, r, p, rows->count, std::move(results), carried)));
}

}  // namespace mcpgate::daemon::api
