#include "registry/audit.hpp"

#include "common/ids.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <iterator>
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

void make_forwarded_event(const forwarded_call& call, audit_event& out) {
  out.id = new_uuid_v7(call.when);
  out.environment_id = call.environment_id;
  out.user_id = call.user_id;
  out.installation_id = call.installation_id;
  out.event_type = audit_tool_call_forwarded;
  out.tool_name = call.tool_name;
  // {"decision":"forwarded","latency_ms":N,"upstream_status":S} or
  // ..."error":"timeout"}: fixed members whose values need no escaping.
  out.detail.clear();
  auto to = std::back_inserter(out.detail);
  if (call.upstream_status != 0) {
    fmt::format_to(to, R"({{"decision":"forwarded","latency_ms":{},"upstream_status":{}}})", call.latency_ms,
                   call.upstream_status);
  } else {
    fmt::format_to(to, R"({{"decision":"forwarded","latency_ms":{},"error":"{}"}})", call.latency_ms, call.error);
  }
  out.created_at = call.when;
}

namespace {

// A buffer that once held a burst is not kept for the next batch: past this
// many slots its memory goes back.
constexpr std::size_t kept_slots = 4 * audit_batch::max_records;

}  // namespace

void audit_batch::add(const forwarded_call& call, const boost::asio::any_io_executor& where) {
  bool write_now = false;
  bool start_window = false;
  bool dropped = false;
  {
    std::lock_guard lock(mu_);
    if (count_ >= max_pending) {
      dropped = true;
    } else {
      if (count_ == pending_.size()) pending_.emplace_back();
      slot& s = pending_[count_++];
      s.installation_id.assign(call.installation_id);  // a used slot's strings keep their room
      s.tool_name.assign(call.tool_name);
      s.call = call;
      s.call.installation_id = {};  // the strings above hold them (a view into a slot
      s.call.tool_name = {};        // would not survive the vector moving it)
      if (!write_queued_ && count_ >= max_records) {
        write_queued_ = write_now = true;
      } else if (!write_queued_ && !timed_) {
        timed_ = start_window = true;
      }
    }
  }
  if (dropped) {
    metrics::count_audit_dropped(1);
    static summarised_log lost;
    lost("audit records of forwarded calls dropped: {} are waiting for the store already", max_pending);
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
  std::vector<slot> batch;
  std::size_t n = 0;
  {
    std::lock_guard lock(mu_);
    batch.swap(spare_);
    batch.swap(pending_);  // pending_ is now the spare buffer, batch what waited
    n = std::exchange(count_, 0);
    timed_ = false;
    write_queued_ = false;
  }
  if (n != 0) {
    rows_.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      forwarded_call call = batch[i].call;
      call.installation_id = batch[i].installation_id;
      call.tool_name = batch[i].tool_name;
      make_forwarded_event(call, rows_[i]);
    }
    if (auto kept = s.insert_audit_events(rows_); !kept) {
      static summarised_log lost(spdlog::level::err);
      lost("{} audit record(s) of forwarded calls were not stored: {}", n, kept.error().message());
    }
    if (rows_.size() > kept_slots) std::vector<audit_event>().swap(rows_);
  }
  if (batch.size() > kept_slots) return;  // its memory goes back
  std::lock_guard lock(mu_);
  if (spare_.empty()) spare_.swap(batch);
}

}  // namespace mcpgate::registry
