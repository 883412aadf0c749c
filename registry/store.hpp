// The store: durable state behind one interface.
//
// SQLite (WAL) is the embedded backend; PostgreSQL will implement the same
// interface for multi-node deployments, so nothing backend-specific appears
// here. Schema migrations are applied by open_*() before it returns.
//
// Thread-safety: a store is NOT safe for concurrent use. The daemon gives it to
// one dedicated thread (daemon/store_executor.hpp) and every call runs there,
// so no event-loop thread ever blocks on the database.
//
// Every call reports failures as values: errc::not_found, errc::already_exists
// (a uniqueness rule), errc::store_failure (the database itself failed).
#pragma once

#include "common/error.hpp"
#include "registry/types.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgate::registry {

struct page {
  std::int64_t limit = 100;
  std::int64_t offset = 0;
};

template <class T>
struct page_of {
  std::int64_t count = 0;  // total matching, not just this page
  std::vector<T> items;
};

class store {
 public:
  virtual ~store() = default;

  // The schema version after migrations (for `mcpgate migrate` and tests).
  virtual result<int> schema_version() = 0;

  // Projects and environments come from the config; this makes the store's
  // copy equal to it (inserting new ones, renaming changed ones). Rows the
  // config no longer names are kept, so their installations survive an edit.
  virtual result<void> sync_projects(const std::vector<project>& projects) = 0;

  // Users are created on first use by name.
  virtual result<user> ensure_user(std::string_view name) = 0;

  // API keys. `key.id`, `created_at` are set by the caller.
  virtual result<void> insert_api_key(const api_key& key) = 0;
  // Only keys not revoked; errc::not_found otherwise.
  virtual result<api_key> find_api_key_by_hash(std::string_view secret_hash) = 0;
  virtual result<std::vector<api_key>> list_api_keys() = 0;
  // errc::not_found when no such key or already revoked.
  virtual result<void> revoke_api_key(std::string_view id, sys_time when) = 0;

  // Installations, always scoped to (environment, user): another user's row is
  // errc::not_found. insert: errc::already_exists when the user already has
  // this url in this environment.
  virtual result<void> insert_installation(const installation& inst) = 0;
  virtual result<installation> get_installation(std::int64_t environment_id, std::int64_t user_id,
                                                std::string_view id) = 0;
  // Newest first (created_at, then id, descending).
  virtual result<page_of<installation>> list_installations(std::int64_t environment_id,
                                                           std::int64_t user_id, page p) = 0;
  virtual result<installation> update_installation(std::int64_t environment_id,
                                                   std::int64_t user_id, std::string_view id,
                                                   const installation_patch& patch,
                                                   sys_time when) = 0;
  // Removes the installation and everything hanging off it (secrets, later
  // tools, and later OAuth states).
  virtual result<void> delete_installation(std::int64_t environment_id, std::int64_t user_id,
                                           std::string_view id) = 0;

  // Sealed secrets of an installation, by kind ("api_key", "access_token",
  // ...). The store only ever sees sealed bytes (auth/secret_box.hpp).
  virtual result<void> put_secret(std::string_view installation_id, std::string_view kind,
                                  std::string_view sealed) = 0;
  virtual result<std::string> get_secret(std::string_view installation_id,
                                         std::string_view kind) = 0;

  // Tools of an installation, ordered by tool_name; removed ones only when
  // `include_removed`. Callers check the installation's scope first.
  virtual result<std::vector<tool>> list_tools(std::string_view installation_id,
                                               bool include_removed) = 0;
  // Applies one complete tools/list answer, in one transaction: new names are
  // inserted as needs_approval, known ones keep their state and take the new
  // metadata (and lose removed_at), names not listed get removed_at = `when`
  // and keep their state. Returns every tool afterwards (removed included).
  // errc::not_found when the installation is gone.
  virtual result<std::vector<tool>> sync_tools(std::string_view installation_id,
                                               const std::vector<listed_tool>& listed,
                                               sys_time when) = 0;
  // Sets a tool's approval_state (one of the approval_* constants, else
  // errc::invalid_argument) and returns the tool as it was BEFORE, so the
  // caller can tell whether anything changed; setting the state it already has
  // changes nothing, updated_at included. errc::not_found for an unknown name.
  virtual result<tool> set_tool_approval(std::string_view installation_id,
                                         std::string_view tool_name, std::string_view state,
                                         sys_time when) = 0;

  // The audit trail. `event.id` and `created_at` are set by the caller.
  virtual result<void> insert_audit_event(const audit_event& event) = 0;
  // Newest first, scoped to (environment, user).
  virtual result<page_of<audit_event>> list_audit_events(std::int64_t environment_id,
                                                         std::int64_t user_id,
                                                         const audit_filter& filter,
                                                         page p) = 0;
};

// Opens (creating if needed) the SQLite database at `path` in WAL mode and
// applies pending migrations. The parent folder must exist.
result<std::unique_ptr<store>> open_sqlite_store(const std::string& path);

}  // namespace mcpgate::registry
