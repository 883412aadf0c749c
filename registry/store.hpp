// The store: durable state behind one interface.
//
// SQLite (WAL) is the embedded backend; PostgreSQL implements the same
// interface for multi-node deployments, so nothing backend-specific appears
// here. Schema migrations are applied by open_*() before it returns.
//
// Thread-safety: a store is NOT safe for concurrent use. The daemon gives it to
// one dedicated thread (daemon/store_executor.hpp) and every call runs there,
// so no event-loop thread ever blocks on the database.
//
// Every call reports failures as values: errc::not_found, errc::already_exists
// (a uniqueness rule), errc::storage_full and errc::storage_read_only (a
// write the storage could not keep, named for its cause), errc::store_failure
// (the database itself failed otherwise).
#pragma once

#include "common/error.hpp"
#include "registry/types.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
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

// Makes the audit record of an approval change from the tool as it was.
using approval_audit = std::function<audit_event(const tool& before)>;

class store {
 public:
  virtual ~store() = default;

  // The schema version after migrations (for `mcpgate migrate` and tests).
  virtual result<int> schema_version() = 0;

  // Whether the store can serve requests (/readyz): it answers a read, and,
  // while writes have been failing (a full disk, a read-only database), a
  // write goes through again. That probe is how the store recovers by
  // itself: a read-only database is reopened for writing once it can be.
  // The error names the cause (storage_full, storage_read_only, ...).
  virtual result<void> check_ready() = 0;

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
  virtual result<page_of<installation>> list_installations(std::int64_t environment_id, std::int64_t user_id,
                                                           page p) = 0;
  virtual result<installation> update_installation(std::int64_t environment_id, std::int64_t user_id,
                                                   std::string_view id, const installation_patch& patch,
                                                   sys_time when) = 0;
  // The caller's installation of `url` in the environment (exact match).
  virtual result<installation> find_installation_by_url(std::int64_t environment_id, std::int64_t user_id,
                                                        std::string_view url) = 0;
  // Removes the installation and everything hanging off it (secrets, tools,
  // its OAuth client and OAuth states).
  virtual result<void> delete_installation(std::int64_t environment_id, std::int64_t user_id, std::string_view id) = 0;

  // Sealed secrets of an installation, by kind ("api_key", "access_token",
  // ...). The store only ever sees sealed bytes (auth/secret_box.hpp).
  virtual result<void> put_secret(std::string_view installation_id, std::string_view kind, std::string_view sealed) = 0;
  virtual result<std::string> get_secret(std::string_view installation_id, std::string_view kind) = 0;

  // OAuth (spec: oauth.md). Callers check the installation's scope first.
  //
  // The installation's OAuth client; put replaces the previous one.
  // get: errc::not_found when none is cached.
  virtual result<void> put_oauth_client(const oauth_client& client) = 0;
  virtual result<oauth_client> get_oauth_client(std::string_view installation_id) = 0;
  // The scope of the cached client, when it is still `client_id` (a step-up
  // that completes); errc::not_found otherwise.
  virtual result<void> set_oauth_client_scope(std::string_view installation_id, std::string_view client_id,
                                              std::string_view scope) = 0;
  // A new flow's state. `state.state_hash` is unique.
  virtual result<void> insert_oauth_state(const oauth_state& state) = 0;
  // Binds an unbound, unused state that has not expired at `now` to the
  // browser holding the cookie whose hash is `binding_hash`, and returns it;
  // errc::not_found otherwise (unknown, already bound, used or expired).
  virtual result<oauth_state> bind_oauth_state(std::string_view state_hash, std::string_view binding_hash,
                                               sys_time now) = 0;
  // The state, when it is bound to the browser whose cookie hash is
  // `binding_hash`, unused and not expired at `now`; errc::not_found
  // otherwise. Changes nothing (the confirm page).
  virtual result<oauth_state> find_bound_oauth_state(std::string_view state_hash, std::string_view binding_hash,
                                                     sys_time now) = 0;
  // The user confirmed on the page: like find_bound_oauth_state, and marks
  // the state confirmed (again is no error). Only a confirmed state can be
  // taken: the confirm step is the server's rule, not only the page's.
  virtual result<oauth_state> confirm_oauth_state(std::string_view state_hash, std::string_view binding_hash,
                                                  sys_time now) = 0;
  // Marks the state used (it can be taken once) and returns it as it was
  // before, when it is confirmed, bound to the browser whose cookie hash is
  // `binding_hash` and has not expired at `now`. errc::not_found otherwise
  // (unknown, used, expired, unbound, unconfirmed or bound to another
  // browser), and then the state is left as it was: a request without the
  // right cookie cannot use up someone else's flow.
  virtual result<oauth_state> take_oauth_state(std::string_view state_hash, std::string_view binding_hash,
                                               sys_time now) = 0;
  // Housekeeping: removes states that expired before `before`; returns how many.
  virtual result<std::int64_t> delete_expired_oauth_states(sys_time before) = 0;
  // A new grant, in one transaction: the sealed access token (kind
  // "access_token"), the sealed refresh token (kind "refresh_token") unless
  // `sealed_refresh` is empty (then the stored one, if any, stays: no
  // rotation), token_issued_at / token_expires_at, and needs_reauth cleared.
  // errc::not_found when the installation is gone.
  virtual result<void> store_grant(std::string_view installation_id, std::string_view sealed_access,
                                   std::string_view sealed_refresh, sys_time issued_at,
                                   std::optional<sys_time> expires_at) = 0;
  // Forgets the grant (access and refresh tokens, their times) and sets
  // needs_reauth to `needs_reauth` (without a reason: an old one goes).
  virtual result<void> clear_grant(std::string_view installation_id, bool needs_reauth) = 0;
  // Sets needs_reauth; `reason` (a sentence for the user) is kept with it,
  // and dropped when the flag is cleared. store_grant clears both.
  virtual result<void> set_needs_reauth(std::string_view installation_id, bool value, std::string_view reason) = 0;
  result<void> set_needs_reauth(std::string_view installation_id, bool value) {
    return set_needs_reauth(installation_id, value, {});
  }
  // An installation of a template's url made by hand becomes the template's
  // when the user installs the template.
  virtual result<void> set_template_id(std::string_view installation_id, std::string_view template_id) = 0;

  // Tools of an installation, ordered by tool_name; removed ones only when
  // `include_removed`. Callers check the installation's scope first.
  virtual result<std::vector<tool>> list_tools(std::string_view installation_id, bool include_removed) = 0;
  // Applies one complete tools/list answer, in one transaction: new names are
  // inserted as needs_approval, known ones keep their state and take the new
  // metadata (and lose removed_at), names not listed get removed_at = `when`
  // and keep their state; the installation's protocol_version becomes
  // `protocol_version` (the revision the answer came in), unless that is
  // empty. The installation's updated_at stays. Returns every tool
  // afterwards (removed included). errc::not_found when the installation is
  // gone.
  virtual result<std::vector<tool>> sync_tools(std::string_view installation_id, const std::vector<listed_tool>& listed,
                                               std::string_view protocol_version, sys_time when) = 0;
  result<std::vector<tool>> sync_tools(std::string_view installation_id, const std::vector<listed_tool>& listed,
                                       sys_time when) {
    return sync_tools(installation_id, listed, {}, when);
  }
  // Sets a tool's approval_state (one of the approval_* constants, else
  // errc::invalid_argument) and returns the tool as it was BEFORE, so the
  // caller can tell whether anything changed; setting the state it already has
  // changes nothing, updated_at included. errc::not_found for an unknown name.
  // `audit`, when set, makes the record of the change from the tool as it
  // was; it is written in the same transaction, so a change is never kept
  // without its record (a record that cannot be written undoes the change).
  virtual result<tool> set_tool_approval(std::string_view installation_id, std::string_view tool_name,
                                         std::string_view state, sys_time when, const approval_audit& audit) = 0;
  result<tool> set_tool_approval(std::string_view installation_id, std::string_view tool_name, std::string_view state,
                                 sys_time when) {
    return set_tool_approval(installation_id, tool_name, state, when, approval_audit{});
  }

  // The audit trail. `event.id` and `created_at` are set by the caller.
  virtual result<void> insert_audit_event(const audit_event& event) = 0;
  // Many records in one transaction (all or none): a write costs the
  // storage about as much for a hundred rows as for one.
  virtual result<void> insert_audit_events(const std::vector<audit_event>& events) = 0;
  // Newest first, scoped to (environment, user).
  virtual result<page_of<audit_event>> list_audit_events(std::int64_t environment_id, std::int64_t user_id,
                                                         const audit_filter& filter, page p) = 0;
};

// Opens (creating if needed) the SQLite database at `path` in WAL mode and
// applies pending migrations. The parent folder must exist.
result<std::unique_ptr<store>> open_sqlite_store(const std::string& path);

// A PostgreSQL database (registry/postgres_store.cpp): one store is one
// connection, so a daemon with several store threads opens one each.
struct postgres_options {
  // A libpq connection string or URI ("host=db dbname=mcpgate user=gw",
  // "postgresql://gw@db/mcpgate"); what it leaves out comes from libpq's
  // environment variables and defaults.
  std::string conninfo;
  // The server cancels a statement that runs longer (0: no limit); a
  // connection attempt gives up after the same time (at least 2 s).
  std::chrono::milliseconds statement_timeout{5000};
  std::string application_name = "mcpgate";
  // More libpq keywords (host, port, user, password, sslmode, ...): they
  // override what the conninfo says.
  std::vector<std::pair<std::string, std::string>> parameters;
};

// Connects and applies pending migrations (under an advisory lock, so nodes
// that start together migrate once). errc::store_failure when the database
// cannot be reached or its schema is newer than this build's.
result<std::unique_ptr<store>> open_postgres_store(const postgres_options& options);

// What find_or_insert_installation() did.
struct found_or_inserted {
  result<installation> row = errc::not_found;
  bool inserted = false;
};

// On the store thread: the user's installation of `fresh.url` when there is
// one, handed to `adopt` (which may update it in the store, or refuse it with
// an error that becomes the row's); else `fresh`, inserted.
template <typename Adopt>
found_or_inserted find_or_insert_installation(store& s, const installation& fresh, Adopt&& adopt) {
  found_or_inserted out;
  out.row = s.find_installation_by_url(fresh.environment_id, fresh.user_id, fresh.url);
  if (out.row) {
    if (result<void> adopted = adopt(s, *out.row); !adopted) out.row = adopted.error();
    return out;
  }
  if (out.row.error() != errc::not_found) return out;
  if (auto kept = s.insert_installation(fresh); !kept) {
    out.row = kept.error();
    return out;
  }
  out.row = fresh;
  out.inserted = true;
  return out;
}

}  // namespace mcpgate::registry
