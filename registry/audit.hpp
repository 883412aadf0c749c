// The audit trail's records (spec: operations.md "Audit trail"): the event
// types, how a record is made, and how records reach the store: one at a
// time with the change they record, or, for the proxy's forwarded calls, in
// batches (audit_batch).
//
// Event types and the members of their detail object. A detail never holds a
// secret or a secret's value; it names a changed credential ("api_key",
// "oauth_grant") without its value. Installation URLs are left out too: some
// servers take a key in the query string.
//   installation_created   source ("create", "install_custom", "install_template"),
//                          auth_type, display_name, template_id (string or null)
//   installation_changed   fields: the names of what changed, e.g. ["display_name","is_enabled"],
//                          ["api_key"], ["oauth_grant"], ["template_id"]
//   installation_deleted   auth_type, display_name, template_id, and reason
//                          "oauth_flow_failed" when a failed install removed the row it made
//   tool_approval_changed  from, to (approval states); tool_name set
//   tool_call_blocked      state ("needs_approval", "do_not_use", "unknown"); tool_name set
//   tool_call_forwarded    decision "forwarded", latency_ms (from the request reaching the
//                          proxy to the upstream's answer head), and
//                          upstream_status, or error ("timeout", "unreachable") when
//                          no answer came; tool_name set
//
// Recording: a handler that changes the registry stores the record in the same
// trip to the store thread (store_audit_event, on that thread); the proxy path
// hands its records to an audit_batch, which writes them without making
// anyone wait, many to a transaction. A record that cannot be stored is
// logged and never fails the request.
//
// Thread-safety: make_audit_event and the detail builders are pure;
// store_audit_event runs on the store thread; audit_batch says its own.
#pragma once

#include "common/time.hpp"
#include "registry/store.hpp"
#include "registry/store_executor.hpp"
#include "registry/types.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/json/object.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgate::registry {

inline constexpr std::string_view audit_installation_created = "installation_created";
inline constexpr std::string_view audit_installation_changed = "installation_changed";
inline constexpr std::string_view audit_installation_deleted = "installation_deleted";
inline constexpr std::string_view audit_tool_approval_changed = "tool_approval_changed";
inline constexpr std::string_view audit_tool_call_blocked = "tool_call_blocked";
inline constexpr std::string_view audit_tool_call_forwarded = "tool_call_forwarded";

// Every event type, in the order the list's 400 names them.
inline constexpr std::array audit_event_types{
    audit_installation_created,  audit_installation_changed, audit_installation_deleted,
    audit_tool_approval_changed, audit_tool_call_blocked,    audit_tool_call_forwarded,
};

// A record of the user's (in the environment) about `installation_id`, made at `when` (id: a UUIDv7
// of `when`); `tool_name` "" when it is not about a tool.
audit_event make_audit_event(std::int64_t user_id, std::int64_t environment_id, std::string installation_id,
                             std::string_view event_type, const boost::json::object& detail, sys_time when,
                             std::string tool_name = {});

// The same with a detail already written as JSON object text (the proxy
// path writes its few fixed members itself rather than build a DOM).
audit_event make_audit_event(std::int64_t user_id, std::int64_t environment_id, std::string installation_id,
                             std::string_view event_type, std::string detail_text, sys_time when,
                             std::string tool_name = {});

// The detail of installation_created (`source`: "create", "install_custom" or
// "install_template") and of installation_deleted.
boost::json::object installation_created_detail(const installation& inst, std::string_view source);
boost::json::object installation_deleted_detail(const installation& inst);

// Stores `event`; a failure is logged, never returned: an audit write never
// fails the request it records. REQUIRES: on the store thread.
void store_audit_event(store& s, const audit_event& event);

// A forwarded tools/call as the proxy path hands it over: numbers and two
// views. The store thread makes it a tool_call_forwarded record (its id and
// detail text), so the proxy path builds no record itself.
struct forwarded_call {
  std::int64_t user_id{};
  std::int64_t environment_id{};
  std::string_view installation_id;  // viewed: audit_batch::add copies it
  std::string_view tool_name;        // viewed: audit_batch::add copies it
  sys_time when{};
  std::int64_t latency_ms{};
  unsigned upstream_status = 0;  // 0: no answer came, and `error` says why
  std::string_view error;        // "timeout" or "unreachable": a string with static storage
};

// The tool_call_forwarded record of `call`, written into `out` (its strings
// reuse their room).
void make_forwarded_event(const forwarded_call& call, audit_event& out);

// Records of forwarded calls, written on the store thread in batches, one
// transaction each: a batch is written `window` after its first record
// arrives, or at once when it holds max_records. A commit writes every page
// it touched (the table's and its index's), so a record alone costs about a
// commit: a call audited one by one once cut the proxy to a third of nginx's
// throughput; in batches a record costs a fraction of one.
//
// Cheap to add to: a record goes into a slot of a buffer that batches reuse
// (its strings keep their room), so a steady stream of calls allocates
// nothing here.
//
// Bounded: at most max_pending records wait; beyond that add() drops what
// it is given (counted in mcpgate_audit_records_dropped_total, with a
// summarised warning) rather than grow or make the proxy wait.
//
// Visibility: the audit API calls write_pending() on the store thread
// before it reads, so a record of a call that was answered is always in the
// list; readers of the database file itself see it within `window`.
// flush() writes what is pending (at shutdown, before the store stops). A
// SIGKILL loses at most `window` of these records.
//
// Thread-safety: add() and flush() from any thread; write_pending() on the
// store thread.
class audit_batch : public std::enable_shared_from_this<audit_batch> {
 public:
  static constexpr std::chrono::milliseconds window{20};
  static constexpr std::size_t max_records = 1000;
  static constexpr std::size_t max_pending = 100'000;

  explicit audit_batch(store_executor& db) : db_(db) {}
  // Copies `call` into the batch (under its lock: a copy into a slot's
  // strings, no allocation once they have room). `where`: an executor to
  // time the window on (the caller's shard).
  void add(const forwarded_call& call, const boost::asio::any_io_executor& where);
  void flush();
  // REQUIRES: on the store thread.
  void write_pending(store& s);

 private:
  void post_write();

  store_executor& db_;
  std::mutex mu_;
  // pending_[0, count_) wait; slots past count_ keep their strings' room.
  // A waiting record: `call` without its views, which the strings hold.
  struct slot {
    forwarded_call call;
    std::string installation_id;
    std::string tool_name;
  };
  std::vector<slot> pending_;      // guarded by mu_
  std::size_t count_ = 0;          // guarded by mu_
  std::vector<slot> spare_;        // guarded by mu_: the buffer the last write emptied
  bool timed_ = false;             // guarded by mu_: a window is running for pending_
  bool write_queued_ = false;      // guarded by mu_: a write_pending() is on its way to the store thread
  std::vector<audit_event> rows_;  // store thread only: the records of the batch being written
};

}  // namespace mcpgate::registry
