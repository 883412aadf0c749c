#include "registry/audit.hpp"

#include "common/ids.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

#include <utility>

namespace mcpgate::registry {

namespace json = boost::json;

audit_event make_audit_event(std::int64_t user_id, std::int64_t environment_id, std::string installation_id,
                             std::string_view event_type, std::string detail_text, sys_time when,
                             std::string tool_name) {
  audit_event e;
  e.id = new_uuid_v7(when);
  e.environment_id = environment_id;
  e.user_id = user_id;
  e.installation_id = std::move(installation_id);
  e.event_type = std::string(event_type);
  e.tool_name = std::move(tool_name);
  e.detail = std::move(detail_text);
  e.created_at = when;
  return e;
}

audit_event make_audit_event(std::int64_t user_id, std::int64_t environment_id, std::string installation_id,
                             std::string_view event_type, const json::object& detail, sys_time when,
                             std::string tool_name) {
  return make_audit_event(user_id, environment_id, std::move(installation_id), event_type, json::serialize(detail),
                          when, std::move(tool_name));
}

namespace {

json::object installation_summary(const installation& inst) {
  return json::object{
      {"auth_type", inst.auth_type},
      {"display_name", inst.display_name},
      {"template_id", inst.template_id ? json::value(*inst.template_id) : json::value(nullptr)},
  };
}

}  // namespace

json::object installation_created_detail(const installation& inst, std::string_view source) {
  json::object detail = installation_summary(inst);
  detail["source"] = source;
  return detail;
}

json::object installation_deleted_detail(const installation& inst) { return installation_summary(inst); }

void store_audit_event(store& s, const audit_event& event) {
  if (auto kept = s.insert_audit_event(event); !kept) {
    spdlog::error("installation {}: the audit record {} was not stored: {}", event.installation_id, event.event_type,
                  kept.error().message());
  }
}

void audit_batch::add(std::vector<audit_event> events, const boost::asio::any_io_executor& where) {
  bool write_now = false;
  bool start_window = false;
  std::size_t dropped = 0;
  {
    std::lock_guard lock(mu_);
    if (pending_.size() + events.size() > max_pending) {
      dropped = events.size();
    } else if (pending_.empty()) {
      pending_ = std::move(events);
    } else {
      pending_.insert(pending_.end(), std::make_move_iterator(events.begin()), std::make_move_iterator(events.end()));
    }
    if (!write_queued_ && pending_.size() >= max_records) {
      write_queued_ = write_now = true;
    } else if (!write_queued_ && !pending_.empty() && !timed_) {
      timed_ = start_window = true;
    }
  }
  if (dropped != 0) {
    metrics::count_audit_dropped(dropped);
    static summarised_log lost;
    lost("{} audit record(s) of forwarded calls dropped: {} are waiting for the store already", dropped, max_pending);
  }
  if (write_now) post_write();
  if (!start_window) return;
  auto timer = std::make_shared<boost::asio::steady_timer>(where, window);
  timer->async_wait([self = shared_from_this(), timer](const boost::system::error_code&) {
    {
      std::lock_guard lock(self->mu_);
      if (std::exchange(self->write_queued_, true)) return;  // one is on its way already
    }
    self->post_write();
  });
}

void audit_batch::flush() { post_write(); }

void audit_batch::post_write() {
  db_.run_detached([self = shared_from_this()](store& s) { self->write_pending(s); });
}

void audit_batch::write_pending(store& s) {
  std::vector<audit_event> batch;
  {
    std::lock_guard lock(mu_);
    batch.swap(pending_);
    timed_ = false;
    write_queued_ = false;
  }
  if (batch.empty()) return;
  if (auto kept = s.insert_audit_events(batch); !kept) {
    static summarised_log lost(spdlog::level::err);
    lost("{} audit record(s) of forwarded calls were not stored: {}", batch.size(), kept.error().message());
  }
}

}  // namespace mcpgate::registry
