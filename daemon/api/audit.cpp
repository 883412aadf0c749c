#include "daemon/api/audit.hpp"

#include "common/log.hpp"

#include "common/ids.hpp"
#include "daemon/api/errors.hpp"
#include "daemon/api/pagination.hpp"

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
std::variant<registry::audit_filter, api_error> read_filter(const route& r) {
  registry::audit_filter filter;
  for (const auto& [key, value] : r.params) {
    if (key == "installation_id") {
      filter.installation_id = value.empty() ? std::nullopt : std::optional<std::string>(value);
    } else if (key == "event_type") {
      filter.event_type = value.empty() ? std::nullopt : std::optional<std::string>(value);
    }
  }
  if (filter.event_type &&
      std::find(audit_event_types.begin(), audit_event_types.end(), *filter.event_type) == audit_event_types.end()) {
    std::string valid;
    for (const auto type : audit_event_types) valid.append(valid.empty() ? "" : ", ").append(type);
    return validation_error("event_type", "invalid_choice", "event_type must be one of: " + valid + ".");
  }
  return filter;
}

}  // namespace

registry::audit_event make_audit_event(const caller& who, std::string installation_id, std::string_view event_type,
                                       const json::object& detail, sys_time when, std::string tool_name) {
  registry::audit_event e;
  e.id = new_uuid_v7(when);
  e.environment_id = who.environment_id;
  e.user_id = who.user_id;
  e.installation_id = std::move(installation_id);
  e.event_type = std::string(event_type);
  e.tool_name = std::move(tool_name);
  e.detail = json::serialize(detail);
  e.created_at = when;
  return e;
}

namespace {

json::object installation_summary(const registry::installation& inst) {
  return json::object{
      {"auth_type", inst.auth_type},
      {"display_name", inst.display_name},
      {"template_id", inst.template_id ? json::value(*inst.template_id) : json::value(nullptr)},
  };
}

}  // namespace

json::object installation_created_detail(const registry::installation& inst, std::string_view source) {
  json::object detail = installation_summary(inst);
  detail["source"] = source;
  return detail;
}

json::object installation_deleted_detail(const registry::installation& inst) { return installation_summary(inst); }

void store_audit_event(registry::store& s, const registry::audit_event& event) {
  if (auto kept = s.insert_audit_event(event); !kept) {
    spdlog::error("installation {}: the audit record {} was not stored: {}", event.installation_id, event.event_type,
                  kept.error().message());
  }
}

void audit_batch::add(std::vector<registry::audit_event> events, const boost::asio::any_io_executor& where) {
  bool start_window = false;
  bool full = false;
  {
    std::lock_guard lock(mu_);
    if (pending_.empty()) {
      pending_ = std::move(events);
    } else {
      pending_.insert(pending_.end(), std::make_move_iterator(events.begin()), std::make_move_iterator(events.end()));
    }
    full = pending_.size() >= max_records;
    start_window = !full && !std::exchange(timed_, true);
  }
  if (full) {
    queue_write();
    return;
  }
  if (!start_window) return;
  auto timer = std::make_shared<boost::asio::steady_timer>(where, window);
  timer->async_wait([self = shared_from_this(), timer](const boost::system::error_code&) { self->queue_write(); });
}

void audit_batch::flush() { queue_write(); }

void audit_batch::queue_write() {
  db_.run_detached([self = shared_from_this()](registry::store& s) { self->write_pending(s); });
}

void audit_batch::write_pending(registry::store& s) {
  std::vector<registry::audit_event> batch;
  {
    std::lock_guard lock(mu_);
    batch.swap(pending_);
    timed_ = false;
  }
  if (batch.empty()) return;
  if (auto kept = s.insert_audit_events(batch); !kept) {
    static summarised_log lost(spdlog::level::err);
    lost("{} audit record(s) of forwarded calls were not stored: {}", batch.size(), kept.error().message());
  }
}

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

boost::asio::awaitable<http_response> handle_audit_events(const api_context& ctx, const caller& who, const route& r) {
  auto page = read_page(r);
  if (auto* e = std::get_if<api_error>(&page)) co_return e->to_response();
  auto filtering = read_filter(r);
  if (auto* e = std::get_if<api_error>(&filtering)) co_return e->to_response();
  const auto p = std::get<registry::page>(page);
  const auto filter = std::get<registry::audit_filter>(std::move(filtering));
  const auto query = [who, &filter, p, batch = ctx.forwarded_audit](registry::store& s) {
    if (batch) batch->write_pending(s);  // records of calls already answered are listed too
    return s.list_audit_events(who.environment_id, who.user_id, filter, p);
  };
  auto rows = co_await ctx.db.run(query);
  if (!rows) {
    spdlog::error("listing audit events failed: {}", rows.error().message());
    co_return from_error_code(rows.error()).to_response();
  }

  json::array results;
  results.reserve(rows->items.size());
  for (const auto& e : rows->items) results.push_back(audit_event_json(e));
  link_params carried;
  if (filter.installation_id) carried.emplace_back("installation_id", *filter.installation_id);
  if (filter.event_type) carried.emplace_back("event_type", *filter.event_type);
  co_return http_response::json(200, json::serialize(page_body(ctx, r, p, rows->count, std::move(results), carried)));
}

}  // namespace mcpgate::daemon::api
