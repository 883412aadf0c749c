// The SQLite backend of registry::store (store.hpp). Private to the registry:
// only open_sqlite_store() is public.
//
// Thread-safety: one sqlite_store is used by one thread at a time (the store
// executor), so the connection is opened SQLITE_OPEN_NOMUTEX and the statement
// cache is unguarded. Other processes (the `mcpgate keys` CLI) may use the same
// file at once: WAL lets readers run beside the single writer, every write
// transaction takes the write lock up front (BEGIN IMMEDIATE), and a lock held
// elsewhere is waited for up to busy_timeout before errc::store_failure.
//
// No exception leaves a public member: each is a function-try-block that turns
// the only one expected (std::bad_alloc) into errc::store_failure.

#include "registry/store.hpp"

#include "common/ids.hpp"
#include "common/log.hpp"

#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <type_traits>
#include <utility>

namespace mcpgate::registry {
namespace {

using boost::system::error_code;

// ---------------------------------------------------------------------------
// Schema

// Holds the one row saying which migrations have been applied. Idempotent, so
// every open runs it inside the migration transaction.
constexpr const char* version_table_sql =
    "CREATE TABLE IF NOT EXISTS schema_version ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  version INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO schema_version (id, version) VALUES (1, 0);";

// Append only: a migration that has shipped is never edited; a schema change is
// a new entry. Entry i takes the schema from version i to i + 1. Times are unix
// microseconds (common/time.hpp), booleans 0/1.
constexpr const char* migrations[] = {
    // 1: users, keys, projects, environments, installations, secrets.
    R"sql(
CREATE TABLE users (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL
);
CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users (id),
  secret_hash TEXT NOT NULL UNIQUE,
  mask TEXT NOT NULL,
  scopes TEXT NOT NULL,    -- comma-separated
  projects TEXT NOT NULL,  -- comma-separated project ids; empty: every project
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);
CREATE TABLE projects (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL
);
CREATE TABLE environments (
  id INTEGER PRIMARY KEY,
  project_id INTEGER NOT NULL REFERENCES projects (id),
  name TEXT NOT NULL
);
CREATE TABLE installations (
  id TEXT PRIMARY KEY,
  environment_id INTEGER NOT NULL REFERENCES environments (id),
  user_id INTEGER NOT NULL REFERENCES users (id),
  template_id TEXT,
  display_name TEXT NOT NULL,
  url TEXT NOT NULL,
  description TEXT NOT NULL,
  auth_type TEXT NOT NULL,
  is_enabled INTEGER NOT NULL,
  needs_reauth INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE (environment_id, user_id, url)
);
CREATE INDEX installations_newest_first
  ON installations (environment_id, user_id, created_at DESC, id DESC);
CREATE TABLE installation_secrets (
  installation_id TEXT NOT NULL REFERENCES installations (id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  sealed BLOB NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (installation_id, kind)
) WITHOUT ROWID;
)sql",
    // 2: the tools of each installation and the audit trail.
    R"sql(
CREATE TABLE tools (
  id TEXT PRIMARY KEY,
  installation_id TEXT NOT NULL REFERENCES installations (id) ON DELETE CASCADE,
  tool_name TEXT NOT NULL,
  display_name TEXT NOT NULL,
  description TEXT NOT NULL,
  input_schema TEXT NOT NULL,  -- serialized JSON
  annotations TEXT NOT NULL,   -- serialized JSON object
  approval_state TEXT NOT NULL
    CHECK (approval_state IN ('approved', 'needs_approval', 'do_not_use')),
  last_seen_at INTEGER NOT NULL,
  removed_at INTEGER,          -- NULL: listed by the upstream's last tools/list
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE (installation_id, tool_name)  -- also the by-name order of list_tools
);
-- installations.tool_count is counted from this, never stored.
CREATE INDEX tools_active ON tools (installation_id) WHERE removed_at IS NULL;
-- No reference to installations: the history outlives what it is about.
CREATE TABLE audit_events (
  id TEXT PRIMARY KEY,
  environment_id INTEGER NOT NULL REFERENCES environments (id),
  user_id INTEGER NOT NULL REFERENCES users (id),
  installation_id TEXT NOT NULL,
  event_type TEXT NOT NULL,
  tool_name TEXT NOT NULL,
  detail TEXT NOT NULL,        -- serialized JSON object
  created_at INTEGER NOT NULL
);
CREATE INDEX audit_events_newest_first
  ON audit_events (environment_id, user_id, created_at DESC, id DESC);
CREATE INDEX audit_events_by_installation
  ON audit_events (installation_id, created_at DESC, id DESC);
)sql",
    // 3: OAuth grants (spec: oauth.md): token times on the installation, the
    // cached client registration and the started authorization flows.
    R"sql(
ALTER TABLE installations ADD COLUMN token_issued_at INTEGER;   -- NULL: no access token
ALTER TABLE installations ADD COLUMN token_expires_at INTEGER;  -- NULL: none, or no expires_in
CREATE TABLE oauth_clients (
  installation_id TEXT PRIMARY KEY REFERENCES installations (id) ON DELETE CASCADE,
  issuer TEXT NOT NULL,
  authorization_endpoint TEXT NOT NULL,
  token_endpoint TEXT NOT NULL,
  registration_endpoint TEXT NOT NULL,  -- '': the AS has none
  resource TEXT NOT NULL,
  scope TEXT NOT NULL,
  client_id TEXT NOT NULL,
  client_source TEXT NOT NULL,
  token_endpoint_auth_method TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
-- Only the hash of a state token is stored, never the token.
CREATE TABLE oauth_states (
  state_hash TEXT PRIMARY KEY,
  installation_id TEXT NOT NULL REFERENCES installations (id) ON DELETE CASCADE,
  environment_id INTEGER NOT NULL,
  user_id INTEGER NOT NULL,
  verifier_sealed BLOB NOT NULL,
  authorization_url TEXT NOT NULL,
  binding_hash TEXT NOT NULL,  -- '': not bound to a browser yet
  install_source TEXT NOT NULL,
  callback_url TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at INTEGER              -- NULL: not taken yet
);
CREATE INDEX oauth_states_by_expiry ON oauth_states (expires_at);
-- So that deleting an installation finds its states without a scan.
CREATE INDEX oauth_states_by_installation ON oauth_states (installation_id);
)sql",
    // 4: the audit trail without its rowid: the table is the b-tree of its
    // UUIDv7 ids (time-ordered, so a new record goes at its end), and a
    // record costs three b-tree inserts instead of four (rowid table, id
    // index, two list indexes): the proxy writes one for every forwarded
    // call. Still no reference to installations: the history outlives what
    // it is about.
    R"sql(
CREATE TABLE audit_events_v4 (
  id TEXT PRIMARY KEY,         -- UUIDv7
  environment_id INTEGER NOT NULL REFERENCES environments (id),
  user_id INTEGER NOT NULL REFERENCES users (id),
  installation_id TEXT NOT NULL,
  event_type TEXT NOT NULL,
  tool_name TEXT NOT NULL,
  detail TEXT NOT NULL,        -- serialized JSON object
  created_at INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO audit_events_v4 SELECT * FROM audit_events;
DROP TABLE audit_events;
ALTER TABLE audit_events_v4 RENAME TO audit_events;
CREATE INDEX audit_events_newest_first
  ON audit_events (environment_id, user_id, created_at DESC, id DESC);
CREATE INDEX audit_events_by_installation
  ON audit_events (installation_id, created_at DESC, id DESC);
)sql",
    // 5: which MCP revision the upstream spoke in the last tools sync that
    // succeeded, so the next one starts in that era (spec: protocol-2026.md
    // "The tool sync speaks both eras").
    R"sql(
ALTER TABLE installations ADD COLUMN protocol_version TEXT;  -- NULL: no sync has succeeded yet
)sql",
    // 6: OAuth as the 2025-11-25 and 2026-07-28 authorization specs ask
    // (issue 17): why an installation needs re-authentication; whether the
    // AS sends RFC 9207 `iss` with its answers; a flow's own scope (a step-up
    // asks for more than the client's) and whom its confirm page names.
    R"sql(
ALTER TABLE installations ADD COLUMN reauth_reason TEXT;  -- NULL: none given
ALTER TABLE oauth_clients ADD COLUMN iss_parameter_supported INTEGER NOT NULL DEFAULT 0;
ALTER TABLE oauth_states ADD COLUMN scope TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_states ADD COLUMN user_name TEXT NOT NULL DEFAULT '';
)sql",
    // 7: the confirm step is recorded: only a state the user confirmed on
    // the gateway's page can be taken by the callback.
    R"sql(
ALTER TABLE oauth_states ADD COLUMN confirmed_at INTEGER;  -- NULL: not confirmed
)sql",
};

constexpr int latest_version = static_cast<int>(std::size(migrations));

// How long a call waits for a lock another process holds.
constexpr int busy_timeout_ms = 5000;

// Free space the filesystem must have again before a full store is ready.
constexpr std::uint64_t min_free_bytes = 1024 * 1024;

// ---------------------------------------------------------------------------
// Errors

// Why writes to the database at `path` may fail, as far as the storage
// shows it: a read-only filesystem, too little free space, or a file size
// limit (RLIMIT_FSIZE) the database or its WAL has reached.
errc diagnose_storage(const std::string& path) {
  const std::string folder = std::filesystem::path(path).parent_path().string();
  struct statvfs fs {};
  if (::statvfs(folder.empty() ? "." : folder.c_str(), &fs) == 0) {
    if ((fs.f_flag & ST_RDONLY) != 0) return errc::storage_read_only;
    if (static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize < min_free_bytes) return errc::storage_full;
  }
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_FSIZE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    for (const std::string& f : {path, path + "-wal"}) {
      std::error_code ec;
      const auto size = std::filesystem::file_size(f, ec);
      if (!ec && size + 64 * 1024 >= limit.rlim_cur) return errc::storage_full;
    }
  }
  return errc::store_failure;
}

// What a failed call says about the storage underneath: full, read-only, or
// another failure. SQLITE_FULL and SQLITE_READONLY say it themselves; an I/O
// error says it through the system's errno.
errc storage_error(sqlite3* db, int rc) {
  const int primary = rc & 0xFF;
  if (primary == SQLITE_FULL) return errc::storage_full;
  if (primary == SQLITE_READONLY) return errc::storage_read_only;
  if ((primary == SQLITE_IOERR || primary == SQLITE_CANTOPEN) && db != nullptr) {
    const int e = sqlite3_system_errno(db);
    if (e == ENOSPC || e == EDQUOT || e == EFBIG) return errc::storage_full;
    if (e == EROFS) return errc::storage_read_only;
    // The errno SQLite kept may be a later call's (a write fails at commit,
    // then the rollback runs): the storage itself is looked at instead.
    const char* file = sqlite3_db_filename(db, "main");
    if (file != nullptr && *file != '\0') return diagnose_storage(file);
  }
  return errc::store_failure;
}

// Maps a failed SQLite call to errc. Constraint failures are the caller's
// business and are not logged; anything else is logged with SQLite's message,
// which names tables and columns but never bound values (so never a secret).
// REQUIRES: extended result codes are on.
error_code failure(sqlite3* db, int rc, std::string_view what) {
  switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY: return errc::already_exists;
    case SQLITE_CONSTRAINT_FOREIGNKEY:  // the row referred to does not exist
      return errc::not_found;
    default: {
      // A full disk fails every write: one line a second, with a count.
      static summarised_log failed(spdlog::level::err);
      failed("store: {} (sqlite {}) in: {}", sqlite3_errmsg(db), rc, what);
      return storage_error(db, rc);
    }
  }
}

// Whether writes are failing for lack of space or a read-only database, as
// the last write saw it: set by a write that failed so, cleared by one that
// succeeded. Owned by the store; touched on the store thread only.
struct write_health {
  errc failing = errc::ok;

  void saw(const error_code& ec) {
    if (ec == errc::storage_full || ec == errc::storage_read_only) failing = static_cast<errc>(ec.value());
  }
};

// REQUIRES: called from a catch handler.
error_code exception_failure() noexcept {
  try {
    throw;
  } catch (const std::exception& e) {
    spdlog::error("store: {}", e.what());
  } catch (...) {
    spdlog::error("store: unknown exception");
  }
  return errc::store_failure;
}

result<void> exec_script(sqlite3* db, const char* sql, std::string_view what) {
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return failure(db, rc, what);
  return {};
}

// ---------------------------------------------------------------------------
// Handles, statements, transactions

struct db_closer {
  void operator()(sqlite3* db) const noexcept { sqlite3_close(db); }
};
using db_handle = std::unique_ptr<sqlite3, db_closer>;

struct stmt_finalizer {
  void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
using stmt_handle = std::unique_ptr<sqlite3_stmt, stmt_finalizer>;

// A parameter bound as BLOB (any string-like one is bound as TEXT).
struct blob {
  std::string_view bytes;
};

template <class T>
inline constexpr bool is_optional = false;
template <class T>
inline constexpr bool is_optional<std::optional<T>> = true;

// SQLITE_STATIC (null; sqlite3.h spells it as an old-style cast): SQLite uses
// the bound bytes where they are, without a copy. Safe because a query is
// used in one full expression, prepare(...).bind(...).exec() (it cannot be
// copied out of it), and its destructor clears the bindings, after which
// nothing reads them: the values outlive every step that reads them.
constexpr sqlite3_destructor_type bound_in_place = nullptr;

// A null data pointer would bind SQL NULL instead of an empty value.
const char* non_null(std::string_view s) noexcept { return s.data() != nullptr ? s.data() : ""; }

// One use of a cached prepared statement: bind, step, read columns. Failures of
// preparing or binding are kept and reported by the first step, so call sites
// chain prepare(...).bind(...).exec(). Resets the statement on destruction so
// it holds no read snapshot afterwards.
class query {
 public:
  query(sqlite3* db, sqlite3_stmt* stmt, write_health* health, error_code error = {}) noexcept
      : db_(db), stmt_(stmt), health_(health), error_(error) {}
  query(query&& other) noexcept
      : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)), health_(other.health_), error_(other.error_) {}
  query& operator=(query&&) = delete;
  ~query() {
    if (stmt_ != nullptr) {
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
    }
  }

  // Binds ?1, ?2, ... in order: std::int64_t, bool, sys_time, blob, strings,
  // std::optional of those (nullopt binds NULL).
  template <class... Args>
  query& bind(const Args&... args) {
    int index = 0;
    (bind_one(++index, args), ...);
    return *this;
  }

  // true: a row is ready to read; false: the statement is done.
  result<bool> step() {
    // in_place_error: error_code is explicitly convertible to bool as well.
    using boost::system::in_place_error;
    if (error_) return {in_place_error, error_};
    column_ = 0;
    switch (const int rc = sqlite3_step(stmt_)) {
      case SQLITE_ROW: return true;
      case SQLITE_DONE:
        // A write outside a transaction has just been kept.
        if (health_ != nullptr && sqlite3_stmt_readonly(stmt_) == 0 && sqlite3_get_autocommit(db_) != 0) {
          health_->failing = errc::ok;
        }
        return false;
      default: {
        const error_code ec = failure(db_, rc, sqlite3_sql(stmt_));
        if (health_ != nullptr) health_->saw(ec);
        return {in_place_error, ec};
      }
    }
  }

  // For statements that return no rows.
  result<void> exec() {
    if (auto r = step(); !r) return r.error();
    return {};
  }

  // The one row selected, read by `read` (query& -> result<T>); errc::not_found
  // when there is none.
  template <class Read>
  auto one(Read read) -> decltype(read(*this)) {
    auto row = step();
    if (!row) return row.error();
    if (!*row) return errc::not_found;
    return read(*this);
  }

  // Every row selected, each read by `read` (query& -> result<T>).
  template <class Read>
  auto all(Read read) -> result<std::vector<typename decltype(read(*this))::value_type>> {
    std::vector<typename decltype(read(*this))::value_type> rows;
    for (;;) {
      auto row = step();
      if (!row) return row.error();
      if (!*row) return rows;
      auto value = read(*this);
      if (!value) return value.error();
      rows.push_back(std::move(*value));
    }
  }

  // Column readers: each reads the next column of the current row.
  std::int64_t int64() { return sqlite3_column_int64(stmt_, column_++); }
  bool boolean() { return int64() != 0; }
  sys_time time() { return from_unix_micros(int64()); }
  std::string text() {  // TEXT or BLOB, byte for byte
    const int i = column_++;
    const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt_, i));
    return data != nullptr ? std::string(data, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, i)))
                           : std::string();
  }
  std::optional<std::string> optional_text() {
    if (next_is_null()) return std::nullopt;
    return text();
  }
  std::optional<sys_time> optional_time() {
    if (next_is_null()) return std::nullopt;
    return time();
  }

 private:
  bool next_is_null() {
    if (sqlite3_column_type(stmt_, column_) != SQLITE_NULL) return false;
    ++column_;
    return true;
  }

  template <class T>
  void bind_one(int i, const T& v) {
    if (error_) return;  // also covers a statement that failed to prepare
    int rc = SQLITE_OK;
    if constexpr (is_optional<T>) {
      if (v) return bind_one(i, *v);
      rc = sqlite3_bind_null(stmt_, i);
    } else if constexpr (std::is_same_v<T, std::int64_t>) {
      rc = sqlite3_bind_int64(stmt_, i, v);
    } else if constexpr (std::is_same_v<T, bool>) {
      rc = sqlite3_bind_int(stmt_, i, v ? 1 : 0);
    } else if constexpr (std::is_same_v<T, sys_time>) {
      rc = sqlite3_bind_int64(stmt_, i, to_unix_micros(v));
    } else if constexpr (std::is_same_v<T, blob>) {
      rc = sqlite3_bind_blob64(stmt_, i, non_null(v.bytes), v.bytes.size(), bound_in_place);
    } else {
      const std::string_view s = v;
      rc = sqlite3_bind_text64(stmt_, i, non_null(s), s.size(), bound_in_place, SQLITE_UTF8);
    }
    if (rc != SQLITE_OK) error_ = failure(db_, rc, sqlite3_sql(stmt_));
  }

  sqlite3* db_;
  sqlite3_stmt* stmt_;  // borrowed from the cache; null when preparing failed
  write_health* health_;
  error_code error_;
  int column_ = 0;
};

// Rolls back unless committed. `write` begins IMMEDIATE: the write lock is
// taken (or waited for) at BEGIN, so a writer never fails half way on a lock
// another process holds, and two processes never both run a migration.
class transaction {
 public:
  enum class kind { read, write };

  static result<transaction> begin(sqlite3* db, kind k, write_health& health) {
    if (auto r = exec_script(db, k == kind::write ? "BEGIN IMMEDIATE" : "BEGIN", "BEGIN"); !r) {
      health.saw(r.error());
      return r.error();
    }
    return transaction(db, health);
  }

  transaction(transaction&& other) noexcept : db_(std::exchange(other.db_, nullptr)), health_(other.health_) {}
  transaction& operator=(transaction&&) = delete;
  ~transaction() {
    // SQLite may already have rolled back on some errors (SQLITE_FULL, ...).
    if (db_ != nullptr && sqlite3_get_autocommit(db_) == 0) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
  }

  result<void> commit() {
    if (auto r = exec_script(db_, "COMMIT", "COMMIT"); !r) {
      health_->saw(r.error());
      return r;
    }
    db_ = nullptr;
    health_->failing = errc::ok;
    return {};
  }

 private:
  transaction(sqlite3* db, write_health& health) noexcept : db_(db), health_(&health) {}
  sqlite3* db_;
  write_health* health_;
};

// ---------------------------------------------------------------------------
// Row readers and column encodings

result<std::int64_t> read_int64(query& r) { return r.int64(); }
result<std::string> read_text(query& r) { return r.text(); }

result<user> read_user(query& r) {
  user u;
  u.id = r.int64();
  u.name = r.text();
  u.created_at = r.time();
  return u;
}

// "a,b" <-> {"a", "b"}; "" <-> {}.
std::vector<std::string> split_list(std::string_view list) {
  std::vector<std::string> items;
  while (!list.empty()) {
    const auto comma = list.find(',');
    items.emplace_back(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
  }
  return items;
}

template <class T>
std::string join_list(const std::vector<T>& items) {
  return fmt::format("{}", fmt::join(items, ","));
}

constexpr std::string_view api_key_select =
    "SELECT k.id, k.user_id, u.name, k.secret_hash, k.mask, k.scopes, k.projects,"
    " k.created_at, k.revoked_at FROM api_keys k JOIN users u ON u.id = k.user_id ";

result<api_key> read_api_key(query& r) {
  api_key k;
  k.id = r.text();
  k.user_id = r.int64();
  k.user_name = r.text();
  k.secret_hash = r.text();
  k.mask = r.text();
  k.scopes = split_list(r.text());
  // A list that does not parse must fail, not shrink: an empty list would mean
  // "every project".
  for (const auto& item : split_list(r.text())) {
    std::int64_t id = 0;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), id);
    if (ec != std::errc() || end != item.data() + item.size()) {
      spdlog::error("store: api key {} has a malformed project list", k.id);
      return errc::store_failure;
    }
    k.projects.push_back(id);
  }
  k.created_at = r.time();
  k.revoked_at = r.optional_time();
  return k;
}

// has_credential: an API key or an access token is stored for it.
constexpr std::string_view installation_select =
    "SELECT i.id, i.environment_id, i.user_id, i.template_id, i.display_name, i.url,"
    " i.description, i.auth_type, i.is_enabled, i.needs_reauth,"
    " EXISTS (SELECT 1 FROM installation_secrets s"
    "   WHERE s.installation_id = i.id AND s.kind IN ('api_key', 'access_token')),"
    " EXISTS (SELECT 1 FROM installation_secrets s"
    "   WHERE s.installation_id = i.id AND s.kind = 'refresh_token'),"
    " i.reauth_reason, i.token_issued_at, i.token_expires_at,"
    " (SELECT count(*) FROM tools t WHERE t.installation_id = i.id AND t.removed_at IS NULL),"
    " i.protocol_version, i.created_at, i.updated_at FROM installations i ";

result<installation> read_installation(query& r) {
  installation i;
  i.id = r.text();
  i.environment_id = r.int64();
  i.user_id = r.int64();
  i.template_id = r.optional_text();
  i.display_name = r.text();
  i.url = r.text();
  i.description = r.text();
  i.auth_type = r.text();
  i.is_enabled = r.boolean();
  i.needs_reauth = r.boolean();
  i.has_credential = r.boolean();
  i.refreshable = r.boolean();
  i.reauth_reason = r.optional_text().value_or("");
  i.token_issued_at = r.optional_time();
  i.token_expires_at = r.optional_time();
  i.tool_count = r.int64();
  i.protocol_version = r.optional_text();
  i.created_at = r.time();
  i.updated_at = r.time();
  return i;
}

constexpr std::string_view tool_select =
    "SELECT id, installation_id, tool_name, display_name, description, input_schema,"
    " annotations, approval_state, last_seen_at, removed_at, created_at, updated_at FROM tools ";

result<tool> read_tool(query& r) {
  tool t;
  t.id = r.text();
  t.installation_id = r.text();
  t.tool_name = r.text();
  t.display_name = r.text();
  t.description = r.text();
  t.input_schema = r.text();
  t.annotations = r.text();
  t.approval_state = r.text();
  t.last_seen_at = r.time();
  t.removed_at = r.optional_time();
  t.created_at = r.time();
  t.updated_at = r.time();
  return t;
}

constexpr std::string_view oauth_client_select =
    "SELECT installation_id, issuer, authorization_endpoint, token_endpoint,"
    " registration_endpoint, resource, scope, client_id, client_source,"
    " token_endpoint_auth_method, iss_parameter_supported, created_at FROM oauth_clients ";

result<oauth_client> read_oauth_client(query& r) {
  oauth_client c;
  c.installation_id = r.text();
  c.issuer = r.text();
  c.authorization_endpoint = r.text();
  c.token_endpoint = r.text();
  c.registration_endpoint = r.text();
  c.resource = r.text();
  c.scope = r.text();
  c.client_id = r.text();
  c.client_source = r.text();
  c.token_endpoint_auth_method = r.text();
  c.iss_parameter_supported = r.boolean();
  c.created_at = r.time();
  return c;
}

constexpr std::string_view oauth_state_select =
    "SELECT state_hash, installation_id, environment_id, user_id, verifier_sealed,"
    " authorization_url, binding_hash, install_source, callback_url, created_at, expires_at,"
    " used_at, scope, user_name, confirmed_at FROM oauth_states ";

result<oauth_state> read_oauth_state(query& r) {
  oauth_state s;
  s.state_hash = r.text();
  s.installation_id = r.text();
  s.environment_id = r.int64();
  s.user_id = r.int64();
  s.verifier_sealed = r.text();
  s.authorization_url = r.text();
  s.binding_hash = r.text();
  s.install_source = r.text();
  s.callback_url = r.text();
  s.created_at = r.time();
  s.expires_at = r.time();
  s.used_at = r.optional_time();
  s.scope = r.text();
  s.user_name = r.text();
  s.confirmed_at = r.optional_time();
  return s;
}

constexpr std::string_view audit_select =
    "SELECT id, environment_id, user_id, installation_id, event_type, tool_name, detail,"
    " created_at FROM audit_events ";

result<audit_event> read_audit_event(query& r) {
  audit_event e;
  e.id = r.text();
  e.environment_id = r.int64();
  e.user_id = r.int64();
  e.installation_id = r.text();
  e.event_type = r.text();
  e.tool_name = r.text();
  e.detail = r.text();
  e.created_at = r.time();
  return e;
}

bool is_approval_state(std::string_view state) {
  return state == approval_approved || state == approval_needs_approval || state == approval_do_not_use;
}

std::string with(std::string_view head, std::string_view tail) {
  std::string sql(head);
  sql += tail;
  return sql;
}

sys_time now() { return std::chrono::system_clock::now(); }

// Secret kinds of an OAuth grant (installation_secrets.kind).
constexpr std::string_view secret_access_token = "access_token";
constexpr std::string_view secret_refresh_token = "refresh_token";

// ---------------------------------------------------------------------------
// The store

class sqlite_store final : public store {
 public:
  explicit sqlite_store(db_handle db) noexcept : db_(std::move(db)) {}

  // Connection settings, then pending migrations. REQUIRES: called once, first.
  // A read-only database whose schema is current is served read-only:
  // reads work, writes fail with errc::storage_read_only, and check_ready()
  // reopens it once it can be written.
  result<void> initialize(std::string path) {
    path_ = std::move(path);
    if (auto r = connection_settings(); !r) return r;
    if (auto r = migrate(); !r) return r;
    if (sqlite3_db_readonly(db(), "main") == 1) {
      spdlog::warn("store: {} is read-only: changes are refused until it can be written", path_);
      health_.failing = errc::storage_read_only;
    }
    return {};
  }

  result<void> connection_settings() {
    const bool read_only = sqlite3_db_readonly(db(), "main") == 1;
    auto mode = prepare("PRAGMA journal_mode = WAL").one(read_text);
    if (!mode && !read_only) return mode.error();
    if (mode && *mode != "wal") spdlog::warn("store: {} is not in WAL mode (journal_mode={})", path_, *mode);
    return exec_script(db(), "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;", "connection settings");
  }

  result<void> check_ready() override try {
    if (health_.failing == errc::ok) {
      if (auto v = schema_version(); !v) return v.error();
      return {};
    }
    if (sqlite3_db_readonly(db(), "main") == 1) {
      if (auto r = reopen_for_writing(); !r) return r;
    }
    // A small write may still fit where the files have room already (WAL
    // space from before): while the storage still looks full (little free
    // space, or a file size limit reached), it is not ready.
    if (health_.failing == errc::storage_full && diagnose_storage(path_) == errc::storage_full) {
      return errc::storage_full;
    }
    // A write the storage must keep: it clears the failure when it goes through.
    auto tx = begin(transaction::kind::write);
    if (!tx) return tx.error();
    if (auto r = prepare("UPDATE schema_version SET version = version").exec(); !r) return r;
    return tx->commit();
  } catch (...) {
    return exception_failure();
  }

  result<int> schema_version() override try {
    auto version = prepare("SELECT version FROM schema_version").one(read_int64);
    if (!version) return version.error();
    return static_cast<int>(*version);
  } catch (...) {
    return exception_failure();
  }

  result<void> sync_projects(const std::vector<project>& projects) override try {
    auto tx = begin(transaction::kind::write);
    if (!tx) return tx.error();
    for (const auto& p : projects) {
      if (auto r = prepare("INSERT INTO projects (id, name) VALUES (?1, ?2)"
                           " ON CONFLICT (id) DO UPDATE SET name = excluded.name")
                       .bind(p.id, p.name)
                       .exec();
          !r) {
        return r;
      }
      // The nesting is the truth: environment::project_id is not consulted.
      for (const auto& e : p.environments) {
        if (auto r = prepare("INSERT INTO environments (id, project_id, name) VALUES (?1, ?2, ?3)"
                             " ON CONFLICT (id) DO UPDATE"
                             " SET project_id = excluded.project_id, name = excluded.name")
                         .bind(e.id, p.id, e.name)
                         .exec();
            !r) {
          return r;
        }
      }
    }
    return tx->commit();
  } catch (...) {
    return exception_failure();
  }

  result<user> ensure_user(std::string_view name) override try {
    if (auto r = prepare("INSERT INTO users (name, created_at) VALUES (?1, ?2)"
                         " ON CONFLICT (name) DO NOTHING")
                     .bind(name, now())
                     .exec();
        !r) {
      return r.error();
    }
    return prepare("SELECT id, name, created_at FROM users WHERE name = ?1").bind(name).one(read_user);
  } catch (...) {
    return exception_failure();
  }

  result<void> insert_api_key(const api_key& key) override try {
    for (const auto& scope : key.scopes) {
      if (scope.empty() || scope.find(',') != std::string::npos) return errc::invalid_argument;
    }
    return prepare(
               "INSERT INTO api_keys (id, user_id, secret_hash, mask, scopes, projects,"
               " created_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")
        .bind(key.id, key.user_id, key.secret_hash, key.mask, join_list(key.scopes), join_list(key.projects),
              key.created_at, key.revoked_at)
        .exec();
  } catch (...) {
    return exception_failure();
  }

  result<api_key> find_api_key_by_hash(std::string_view secret_hash) override try {
    static const std::string sql = with(api_key_select, "WHERE k.secret_hash = ?1 AND k.revoked_at IS NULL");
    return prepare(sql).bind(secret_hash).one(read_api_key);
  } catch (...) {
    return exception_failure();
  }

  result<std::vector<api_key>> list_api_keys() override try {
    static const std::string sql = with(api_key_select, "ORDER BY k.created_at, k.id");
    return prepare(sql).all(read_api_key);
  } catch (...) {
    return exception_failure();
  }

  result<void> revoke_api_key(std::string_view id, sys_time when) override try {
    if (auto r =
            prepare("UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL").bind(id, when).exec();
        !r) {
      return r;
    }
    return changed_or_not_found();
  } catch (...) {
    return exception_failure();
  }

  result<void> insert_installation(const installation& inst) override try {
    return prepare(
               "INSERT INTO installations (id, environment_id, user_id, template_id,"
               " display_name, url, description, auth_type, is_enabled, needs_reauth,"
               " token_issued_at, token_expires_at, created_at, updated_at, protocol_version)"
               " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)")
        .bind(inst.id, inst.environment_id, inst.user_id, inst.template_id, inst.display_name, inst.url,
              inst.description, inst.auth_type, inst.is_enabled, inst.needs_reauth, inst.token_issued_at,
              inst.token_expires_at, inst.created_at, inst.updated_at, inst.protocol_version)
        .exec();
  } catch (...) {
    return exception_failure();
  }

  result<installation> get_installation(std::int64_t environment_id, std::int64_t user_id, std::string_view id) override
      try {
    static const std::string sql =
        with(installation_select, "WHERE i.environment_id = ?1 AND i.user_id = ?2 AND i.id = ?3");
    return prepare(sql).bind(environment_id, user_id, id).one(read_installation);
  } catch (...) {
    return exception_failure();
  }

  result<page_of<installation>> list_installations(std::int64_t environment_id, std::int64_t user_id, page p) override
      try {
    if (p.limit < 0 || p.offset < 0) return errc::invalid_argument;
    // One snapshot, so the count and the page agree.
    auto tx = begin(transaction::kind::read);
    if (!tx) return tx.error();
    auto count = prepare(
                     "SELECT count(*) FROM installations"
                     " WHERE environment_id = ?1 AND user_id = ?2")
                     .bind(environment_id, user_id)
                     .one(read_int64);
    if (!count) return count.error();
    static const std::string sql = with(installation_select,
                                        "WHERE i.environment_id = ?1 AND i.user_id = ?2"
                                        " ORDER BY i.created_at DESC, i.id DESC LIMIT ?3 OFFSET ?4");
    auto items = prepare(sql).bind(environment_id, user_id, p.limit, p.offset).all(read_installation);
    if (!items) return items.error();
    if (auto r = tx->commit(); !r) return r.error();
    return page_of<installation>{*count, std::move(*items)};
  } catch (...) {
    return exception_failure();
  }

  result<installation> update_installation(std::int64_t environment_id, std::int64_t user_id, std::string_view id,
                                           const installation_patch& patch, sys_time when) override try {
    auto tx = begin(transaction::kind::write);
    if (!tx) return tx.error();
    // An unset patch field binds NULL and coalesce() keeps the stored value.
    if (auto r = prepare("UPDATE installations SET display_name = coalesce(?4, display_name),"
                         " description = coalesce(?5, description),"
                         " is_enabled = coalesce(?6, is_enabled), updated_at = ?7"
                         " WHERE environment_id = ?1 AND user_id = ?2 AND id = ?3")
                     .bind(environment_id, user_id, id, patch.display_name, patch.description, patch.is_enabled, when)
                     .exec();
        !r) {
      return r.error();
    }
    if (auto r = changed_or_not_found(); !r) return r.error();
    auto updated = get_installation(environment_id, user_id, id);
    if (!updated) return updated;
    if (auto r = tx->commit(); !r) return r.error();
    return updated;
  } catch (...) {
    return exception_failure();
  }

  result<installation> find_installation_by_url(std::int64_t environment_id, std::int64_t user_id,
                                                std::string_view url) override try {
    static const std::string sql =
        with(installation_select, "WHERE i.environment_id = ?1 AND i.user_id = ?2 AND i.url = ?3");
    return prepare(sql).bind(environment_id, user_id, url).one(read_installation);
  } catch (...) {
    return exception_failure();
  }

  result<void> delete_installation(std::int64_t environment_id, std::int64_t user_id, std::string_view id) override
      try {
    // Secrets, tools, the OAuth client and OAuth states go with it: ON DELETE
    // CASCADE (foreign_keys is on). Audit events stay: they are history.
    if (auto r = prepare("DELETE FROM installations"
                         " WHERE environment_id = ?1 AND user_id = ?2 AND id = ?3")
                     .bind(environment_id, user_id, id)
                     .exec();
        !r) {
      return r;
    }
    return changed_or_not_found();
  } catch (...) {
    return exception_failure();
  }

  result<void> put_secret(std::string_view installation_id, std::string_view kind, std::string_view sealed) override
      try {
    return upsert_secret(installation_id, kind, sealed, now());
  } catch (...) {
    return exception_failure();
  }

  result<std::string> get_secret(std::string_view installation_id, std::string_view kind) override try {
    return prepare(
               "SELECT sealed FROM installation_secrets"
               " WHERE installation_id = ?1 AND kind = ?2")
        .bind(installation_id, kind)
        .one(read_text);
  } catch (...) {
    return exception_failure();
  }

  result<void> put_oauth_client(const oauth_client& client) override try {
    return prepare(
               "INSERT INTO oauth_clients (installation_id, issuer, authorization_endpoint,"
               " token_endpoint, registration_endpoint, resource, scope, client_id, client_source,"
               " token_endpoint_auth_method, created_at, iss_parameter_supported)"
               " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
               " ON CONFLICT (installation_id) DO UPDATE SET issuer = excluded.issuer,"
               " authorization_endpoint = excluded.authorization_endpoint,"
               " token_endpoint = excluded.token_endpoint,"
               " registration_endpoint = excluded.registration_endpoint,"
               " resource = excluded.resource, scope = excluded.scope,"
               " client_id = excluded.client_id, client_source = excluded.client_source,"
               " token_endpoint_auth_method = excluded.token_endpoint_auth_method,"
               " created_at = excluded.created_at,"
               " iss_parameter_supported = excluded.iss_parameter_supported")
        .bind(client.installation_id, client.issuer, client.authorization_endpoint, client.token_endpoint,
              client.registration_endpoint, client.resource, client.scope, client.client_id, client.client_source,
              client.token_endpoint_auth_method, client.created_at, client.iss_parameter_supported)
        .exec();
  } catch (...) {
    return exception_failure();
  }

  result<void> set_oauth_client_scope(std::string_view installation_id, std::string_view client_id,
                                      std::string_view scope) override try {
    if (auto r = prepare("UPDATE oauth_clients SET scope = ?3 WHERE installation_id = ?1 AND client_id = ?2")
                     .bind(installation_id, client_id, scope)
                     .exec();
        !r) {
      return r;
    }
    return changed_or_not_found();
  } catch (...) {
    return exception_failure();
  }

  result<oauth_client> get_oauth_client(std::string_view installation_id) override try {
    static const std::string sql = with(oauth_client_select, "WHERE installation_id = ?1");
    return prepare(sql).bind(installation_id).one(read_oauth_client);
  } catch (...) {
    return exception_failure();
  }

  result<void> insert_oauth_state(const oauth_state& state) override try {
    return prepare(
               "INSERT INTO oauth_states (state_hash, installation_id, environment_id, user_id,"
               " verifier_sealed, authorization_url, binding_hash, install_source, callback_url,"
               " created_at, expires_at, used_at, scope, user_name)"
               " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)")
        .bind(state.state_hash, state.installation_id, state.environment_id, state.user_id, blob{state.verifier_sealed},
              state.authorization_url, state.binding_hash, state.install_source, state.callback_url, state.created_at,
              state.expires_at, state.used_at, state.scope, state.user_name)
        .exec();
  } catch (...) {
    return exception_failure();
  }

  result<oauth_state> bind_oauth_state(std::string_view state_hash, std::string_view binding_hash,
                                       sys_time now) override try {
    // Binding to "" would leave the state bindable by anyone.
    if (binding_hash.empty()) return errc::invalid_argument;
    return update_state(
        "UPDATE oauth_states SET binding_hash = ?2 WHERE state_hash = ?1"
        " AND binding_hash = '' AND used_at IS NULL AND expires_at > ?3",
        state_hash, binding_hash, now);
  } catch (...) {
    return exception_failure();
  }

  result<oauth_state> find_bound_oauth_state(std::string_view state_hash, std::string_view binding_hash,
                                             sys_time now) override try {
    if (binding_hash.empty()) return errc::not_found;
    static const std::string sql =
        with(oauth_state_select, "WHERE state_hash = ?1 AND binding_hash = ?2 AND used_at IS NULL AND expires_at > ?3");
    return prepare(sql).bind(state_hash, binding_hash, now).one(read_oauth_state);
  } catch (...) {
    return exception_failure();
  }

  result<oauth_state> confirm_oauth_state(std::string_view state_hash, std::string_view binding_hash,
                                          sys_time now) override try {
    if (binding_hash.empty()) return errc::not_found;
    return update_state(
        "UPDATE oauth_states SET confirmed_at = coalesce(confirmed_at, ?3) WHERE state_hash = ?1"
        " AND binding_hash = ?2 AND used_at IS NULL AND expires_at > ?3",
        state_hash, binding_hash, now);
  } catch (...) {
    return exception_failure();
  }

  // Runs `update` (?1 state_hash, ?2 binding_hash, ?3 now) and returns the
  // state as it is afterwards, in one write transaction; errc::not_found
  // when the update matched no row.
  result<oauth_state> update_state(const char* update, std::string_view state_hash, std::string_view binding_hash,
                                   sys_time now) {
    auto tx = begin(transaction::kind::write);
    if (!tx) return tx.error();
    if (auto r = prepare(update).bind(state_hash, binding_hash, now).exec(); !r) return r.error();
    if (auto r = changed_or_not_found(); !r) return r.error();
    static const std::string sql = with(oauth_state_select, "WHERE state_hash = ?1");
    auto updated = prepare(sql).bind(state_hash).one(read_oauth_state);
    if (!updated) return updated;
    if (auto r = tx->commit(); !r) return r.error();
    return updated;
  }

  result<oauth_state> take_oauth_state(std::string_view state_hash, std::string_view binding_hash,
                                       sys_time now) override try {
    if (binding_hash.empty()) return errc::not_found;  // an unbound state is nobody's to take
    // The read and the mark share one write transaction (the write lock is
    // taken at BEGIN), so of two takers, in this process or another, exactly
    // one sees the state unused.
    auto tx = begin(transaction::kind::write);
    if (!tx) return tx.error();
    static const std::string sql =
        with(oauth_state_select,
             "WHERE state_hash = ?1 AND binding_hash = ?2 AND used_at IS NULL AND expires_at > ?3"
             " AND confirmed_at IS NOT NULL");
    auto before = prepare(sql).bind(state_hash, binding_hash, now).one(read_oauth_state);
    if (!before) return before;
    if (auto r = prepare("UPDATE oauth_states SET used_at = ?2 WHERE state_hash = ?1").bind(state_hash, now).exec();
        !r) {
      return r.error();
    }
    if (auto r = tx->commit(); !r) return r.error();
    return before;
  } catch (...) {
    return exception_failure();
  }

  result<std::int64_t> delete_expired_oauth_states(sys_time before) override try {
    if (auto r = prepare("DELETE FROM oauth_states WHERE expires_at < ?1").bind(before).exec(); !r) {
      return r.error();
    }
    return std::int64_t{sqlite3_changes64(db())};
  } catch (...) {
    return exception_failure();
  }

  result<void> store_grant(std::string_view installation_id, std::string_view sealed_access,
                           std::string_view sealed_refresh, sys_time issued_at,
                           std::optional<sys_time> expires_at) override try {
    // Sealed bytes are never empty (nonce and tag at least).
    if (sealed_access.empty()) return errc::invalid_argument;
    auto tx = begin(transaction::kind::write);
    if (!tx) return tx.error();
    if (auto r = prepare("UPDATE installations SET token_issued_at = ?2, token_expires_at = ?3,"
                         " needs_reauth = 0, reauth_reason = NULL, updated_at = ?2 WHERE id = ?1")
                     .bind(installation_id, issued_at, expires_at)
                     .exec();
        !r) {
      return r;
    }
    if (auto r = changed_or_not_found(); !r) return r;
    if (auto r = upsert_secret(installation_id, secret_access_token, sealed_access, issued_at); !r) {
      return r;
    }
    // No refresh token in the answer: the stored one stays (no rotation).
    if (!sealed_refresh.empty()) {
      if (auto r = upsert_secret(installation_id, secret_refresh_token, sealed_refresh, issued_at); !r) {
        return r;
      }
    }
    return tx->commit();
  } catch (...) {
    return exception_failure();
  }

  result<void> clear_grant(std::string_view installation_id, bool needs_reauth) override try {
    auto tx = begin(transaction::kind::write);
    if (!tx) return tx.error();
    if (auto r = prepare("UPDATE installations SET token_issued_at = NULL,"
                         " token_expires_at = NULL, needs_reauth = ?2, reauth_reason = NULL WHERE id = ?1")
                     .bind(installation_id, needs_reauth)
                     .exec();
        !r) {
      return r;
    }
    if (auto r = changed_or_not_found(); !r) return r;
    if (auto r = prepare("DELETE FROM installation_secrets"
                         " WHERE installation_id = ?1 AND kind IN (?2, ?3)")
                     .bind(installation_id, secret_access_token, secret_refresh_token)
                     .exec();
        !r) {
      return r;
    }
    return tx->commit();
  } catch (...) {
    return exception_failure();
  }

  result<void> set_needs_reauth(std::string_view installation_id, bool value, std::string_view reason) override try {
    const std::optional<std::string_view> why = value && !reason.empty() ? std::optional(reason) : std::nullopt;
    if (auto r = prepare("UPDATE installations SET needs_reauth = ?2, reauth_reason = ?3 WHERE id = ?1")
                     .bind(installation_id, value, why)
                     .exec();
        !r) {
      return r;
    }
    return changed_or_not_found();
  } catch (...) {
    return exception_failure();
  }

  result<void> set_template_id(std::string_view installation_id, std::string_view template_id) override try {
    if (auto r = prepare("UPDATE installations SET template_id = ?2 WHERE id = ?1")
                     .bind(installation_id, template_id)
                     .exec();
        !r) {
      return r;
    }
    return changed_or_not_found();
  } catch (...) {
    return exception_failure();
  }

  result<std::vector<tool>> list_tools(std::string_view installation_id, bool include_removed) override try {
    static const std::string sql =
        with(tool_select, "WHERE installation_id = ?1 AND (?2 OR removed_at IS NULL) ORDER BY tool_name");
    return prepare(sql).bind(installation_id, include_removed).all(read_tool);
  } catch (...) {
    return exception_failure();
  }

  result<std::vector<tool>> sync_tools(std::string_view installation_id, const std::vector<listed_tool>& listed,
                                       std::string_view protocol_version, sys_time when) override try {
    auto tx = begin(transaction::kind::write);
    if (!tx) return tx.error();
    if (auto r = prepare("SELECT 1 FROM installations WHERE id = ?1").bind(installation_id).one(read_int64); !r) {
      return r.error();
    }
    // With the tools, so that a recorded era always belongs to a stored list.
    if (!protocol_version.empty()) {
      if (auto r = prepare("UPDATE installations SET protocol_version = ?2 WHERE id = ?1")
                       .bind(installation_id, protocol_version)
                       .exec();
          !r) {
        return r.error();
      }
    }
    auto known_names =
        prepare("SELECT tool_name FROM tools WHERE installation_id = ?1").bind(installation_id).all(read_text);
    if (!known_names) return known_names.error();
    const std::set<std::string, std::less<>> known(known_names->begin(), known_names->end());

    std::set<std::string_view> seen;  // a name listed twice: the first wins
    for (const auto& t : listed) {
      if (!seen.insert(t.name).second) continue;
      if (known.contains(t.name)) {
        // updated_at moves only when something besides last_seen_at changes
        // (the right-hand sides read the row as it was).
        if (auto r = prepare("UPDATE tools SET updated_at = CASE WHEN removed_at IS NOT NULL"
                             "   OR display_name IS NOT ?3 OR description IS NOT ?4"
                             "   OR input_schema IS NOT ?5 OR annotations IS NOT ?6"
                             "   THEN ?7 ELSE updated_at END,"
                             " display_name = ?3, description = ?4, input_schema = ?5,"
                             " annotations = ?6, last_seen_at = ?7, removed_at = NULL"
                             " WHERE installation_id = ?1 AND tool_name = ?2")
                         .bind(installation_id, t.name, t.title, t.description, t.input_schema, t.annotations, when)
                         .exec();
            !r) {
          return r.error();
        }
      } else if (auto r = prepare("INSERT INTO tools (id, installation_id, tool_name, display_name,"
                                  " description, input_schema, annotations, approval_state,"
                                  " last_seen_at, removed_at, created_at, updated_at)"
                                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL, ?9, ?9)")
                              .bind(new_uuid_v7(when), installation_id, t.name, t.title, t.description, t.input_schema,
                                    t.annotations, approval_needs_approval, when)
                              .exec();
                 !r) {
        return r.error();
      }
    }
    for (const auto& name : known) {
      if (seen.contains(name)) continue;
      if (auto r = prepare("UPDATE tools SET removed_at = ?3, updated_at = ?3"
                           " WHERE installation_id = ?1 AND tool_name = ?2 AND removed_at IS NULL")
                       .bind(installation_id, name, when)
                       .exec();
          !r) {
        return r.error();
      }
    }
    auto tools = list_tools(installation_id, true);
    if (!tools) return tools;
    if (auto r = tx->commit(); !r) return r.error();
    return tools;
  } catch (...) {
    return exception_failure();
  }

  result<tool> set_tool_approval(std::string_view installation_id, std::string_view tool_name, std::string_view state,
                                 sys_time when, const approval_audit& audit) override try {
    if (!is_approval_state(state)) return errc::invalid_argument;
    auto tx = begin(transaction::kind::write);
    if (!tx) return tx.error();
    static const std::string sql = with(tool_select, "WHERE installation_id = ?1 AND tool_name = ?2");
    auto before = prepare(sql).bind(installation_id, tool_name).one(read_tool);
    if (!before) return before;
    // Setting the state it has already changes nothing, updated_at included.
    if (before->approval_state != state) {
      if (auto r = prepare("UPDATE tools SET approval_state = ?2, updated_at = ?3 WHERE id = ?1")
                       .bind(before->id, state, when)
                       .exec();
          !r) {
        return r.error();
      }
      if (audit) {
        if (auto r = insert_audit_event(audit(*before)); !r) return r.error();
      }
    }
    if (auto r = tx->commit(); !r) return r.error();
    return before;
  } catch (...) {
    return exception_failure();
  }

  result<void> insert_audit_event(const audit_event& event) override try {
    return prepare(
               "INSERT INTO audit_events (id, environment_id, user_id, installation_id,"
               " event_type, tool_name, detail, created_at)"
               " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")
        .bind(event.id, event.environment_id, event.user_id, event.installation_id, event.event_type, event.tool_name,
              event.detail, event.created_at)
        .exec();
  } catch (...) {
    return exception_failure();
  }

  result<void> insert_audit_events(const std::vector<audit_event>& events) override try {
    if (events.empty()) return {};
    auto tx = begin(transaction::kind::write);
    if (!tx) return tx.error();
    for (const auto& e : events) {
      if (auto r = insert_audit_event(e); !r) return r;
    }
    return tx->commit();
  } catch (...) {
    return exception_failure();
  }

  result<page_of<audit_event>> list_audit_events(std::int64_t environment_id, std::int64_t user_id,
                                                 const audit_filter& filter, page p) override try {
    if (p.limit < 0 || p.offset < 0) return errc::invalid_argument;
    // One statement text per combination of filters (so each can use its
    // index), numbering only the parameters it has: ?1 environment, ?2 user,
    // then the filters set, then limit and offset.
    std::string where = "WHERE environment_id = ?1 AND user_id = ?2";
    int n = 2;
    if (filter.installation_id) where += fmt::format(" AND installation_id = ?{}", ++n);
    if (filter.event_type) where += fmt::format(" AND event_type = ?{}", ++n);
    const std::string count_sql = with("SELECT count(*) FROM audit_events ", where);
    const std::string page_sql =
        with(audit_select,
             fmt::format("{} ORDER BY created_at DESC, id DESC LIMIT ?{} OFFSET ?{}", where, n + 1, n + 2));

    // One snapshot, so the count and the page agree.
    auto tx = begin(transaction::kind::read);
    if (!tx) return tx.error();
    auto run = [&](const auto&... filters) -> result<page_of<audit_event>> {
      auto count = prepare(count_sql).bind(environment_id, user_id, filters...).one(read_int64);
      if (!count) return count.error();
      auto items = prepare(page_sql).bind(environment_id, user_id, filters..., p.limit, p.offset).all(read_audit_event);
      if (!items) return items.error();
      return page_of<audit_event>{*count, std::move(*items)};
    };
    auto found = filter.installation_id && filter.event_type ? run(*filter.installation_id, *filter.event_type)
                 : filter.installation_id                    ? run(*filter.installation_id)
                 : filter.event_type                         ? run(*filter.event_type)
                                                             : run();
    if (!found) return found;
    if (auto r = tx->commit(); !r) return r.error();
    return found;
  } catch (...) {
    return exception_failure();
  }

 private:
  sqlite3* db() const noexcept { return db_.get(); }

  // A query on the cached statement for `sql`, prepared on first use.
  // REQUIRES: no other live query uses the same `sql`.
  query prepare(std::string_view sql) {
    auto it = statements_.find(sql);
    if (it == statements_.end()) {
      sqlite3_stmt* raw = nullptr;
      const int rc =
          sqlite3_prepare_v3(db(), sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
      stmt_handle stmt(raw);
      if (rc != SQLITE_OK) return query(db(), nullptr, &health_, failure(db(), rc, sql));
      it = statements_.emplace(std::string(sql), std::move(stmt)).first;
    }
    return query(db(), it->second.get(), &health_);
  }

  result<transaction> begin(transaction::kind k) { return transaction::begin(db(), k, health_); }

  // errc::not_found when the installation does not exist (foreign key).
  result<void> upsert_secret(std::string_view installation_id, std::string_view kind, std::string_view sealed,
                             sys_time when) {
    return prepare(
               "INSERT INTO installation_secrets (installation_id, kind, sealed, updated_at)"
               " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (installation_id, kind)"
               " DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at")
        .bind(installation_id, kind, blob{sealed}, when)
        .exec();
  }

  // After an UPDATE or DELETE: errc::not_found when it matched no row.
  result<void> changed_or_not_found() {
    if (sqlite3_changes64(db()) == 0) return errc::not_found;
    return {};
  }

  // True when the schema is at this build's version already: opening needs
  // no write then (so a read-only database can still be served).
  bool schema_current() {
    auto exists =
        prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").one(read_int64);
    if (!exists || *exists == 0) return false;
    auto version = schema_version();
    return version && *version == latest_version;
  }

  // Applies pending migrations, each in its own IMMEDIATE transaction that
  // re-reads the version, so a concurrent opener waits and then skips it.
  result<void> migrate() {
    if (schema_current()) return {};
    for (;;) {
      auto tx = begin(transaction::kind::write);
      if (!tx) return tx.error();
      if (auto r = exec_script(db(), version_table_sql, "schema_version table"); !r) return r;
      auto version = schema_version();
      if (!version) return version.error();
      if (*version == latest_version) return tx->commit();
      if (*version > latest_version || *version < 0) {
        spdlog::error("store: schema version {} is not one this build knows (latest {})", *version, latest_version);
        return errc::store_failure;
      }
      const int next = *version + 1;
      if (auto r = exec_script(db(), migrations[*version], fmt::format("migration {}", next)); !r) {
        return r;
      }
      if (auto r = prepare("UPDATE schema_version SET version = ?1").bind(std::int64_t{next}).exec(); !r) {
        return r;
      }
      if (auto r = tx->commit(); !r) return r;
      spdlog::info("store: schema migrated to version {}", next);
    }
  }

  // A read-only database (opened so, or its writes refused) opened again
  // for writing: errc::storage_read_only while it still cannot be.
  result<void> reopen_for_writing() {
    sqlite3* raw = nullptr;
    const int rc = sqlite3_open_v2(path_.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
    db_handle fresh(raw);
    if (rc != SQLITE_OK || sqlite3_db_readonly(raw, "main") != 0) return errc::storage_read_only;
    sqlite3_extended_result_codes(raw, 1);
    sqlite3_busy_timeout(raw, busy_timeout_ms);
    statements_.clear();  // prepared on the old connection
    db_ = std::move(fresh);
    if (auto r = connection_settings(); !r) return r;
    spdlog::info("store: {} is writable again", path_);
    return {};
  }

  // Declared first so it is destroyed last: statements are finalized before
  // the connection closes.
  db_handle db_;
  // Prepared statements by SQL text.
  std::map<std::string, stmt_handle, std::less<>> statements_;
  std::string path_;
  write_health health_;
};

}  // namespace

namespace {

result<std::unique_ptr<store>> open_with(const std::string& name, int flags, const std::string& path) {
  // No memory statistics: with them every allocation SQLite makes takes a
  // process-wide mutex. Only possible before SQLite initialises (the first
  // open); later calls are refused, harmlessly.
  static const int no_memstatus = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  (void)no_memstatus;
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(name.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  db_handle db(raw);  // closed on every path, even when opening failed
  if (rc != SQLITE_OK) return failure(raw, rc, path);
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, busy_timeout_ms);
  auto s = std::make_unique<sqlite_store>(std::move(db));
  if (auto r = s->initialize(path); !r) return r.error();
  return std::unique_ptr<store>(std::move(s));
}

bool on_read_only_filesystem(const std::string& path) {
  struct statvfs fs {};
  const std::string folder = std::filesystem::path(path).parent_path().string();
  return ::statvfs(folder.empty() ? "." : folder.c_str(), &fs) == 0 && (fs.f_flag & ST_RDONLY) != 0;
}

// "file:" URI of a path, for URI parameters: anything but unreserved
// characters and '/' percent-encoded.
std::string file_uri(const std::string& path) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out = "file:";
  for (const char c : path) {
    const auto u = static_cast<unsigned char>(c);
    const bool plain = (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || c == '/' ||
                       c == '-' || c == '_' || c == '.' || c == '~';
    if (plain) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(digits[u >> 4]);
      out.push_back(digits[u & 15]);
    }
  }
  return out;
}

}  // namespace

result<std::unique_ptr<store>> open_sqlite_store(const std::string& path) try {
  auto opened = open_with(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, path);
  if (opened) return opened;
  // A WAL database on a read-only filesystem cannot be opened the usual way
  // once a clean stop removed its -wal and -shm files. Opened immutable, it
  // is served read-only (writes fail with errc::storage_read_only) until
  // check_ready() can reopen it for writing.
  std::error_code exists_ec;
  if (!std::filesystem::exists(path, exists_ec)) return opened;
  if (opened.error() != errc::storage_read_only && !on_read_only_filesystem(path)) return opened;
  auto read_only = open_with(file_uri(path) + "?immutable=1", SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, path);
  if (!read_only) return opened;
  spdlog::warn("store: {} could not be opened for writing ({}); serving it read-only", path, opened.error().message());
  return read_only;
} catch (...) {
  return exception_failure();
}

}  // namespace mcpgate::registry
