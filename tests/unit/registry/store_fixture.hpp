// Helpers shared by the SQLite store's tests: a database
// file in a temporary folder, a seeded store, and a raw SQLite connection for
// what the interface cannot show.
#pragma once

#include "common/ids.hpp"
#include "registry/store.hpp"

#include <boost/test/unit_test.hpp>
#include <sqlite3.h>

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mcpgate::registry::fixture {

namespace fs = std::filesystem;

template <class T>
T must(result<T> r) {
  BOOST_REQUIRE_MESSAGE(r.has_value(), r.error().message());
  return std::move(*r);
}

inline void must(const result<void>& r) { BOOST_REQUIRE_MESSAGE(r.has_value(), r.error().message()); }

// "ok" for a value, else the name of the error (which must be one of ours), so
// BOOST_TEST(error_of(r) == "not_found") prints something readable.
template <class T>
std::string error_of(const result<T>& r) {
  if (r.has_value()) return "ok";
  BOOST_REQUIRE(r.error().category() == mcpgate_category());
  switch (static_cast<errc>(r.error().value())) {
    case errc::ok: return "ok";
    case errc::not_found: return "not_found";
    case errc::already_exists: return "already_exists";
    case errc::invalid_argument: return "invalid_argument";
    case errc::store_failure: return "store_failure";
    case errc::crypto_failure: return "crypto_failure";
    case errc::io_failure: return "io_failure";
    case errc::not_supported: return "not_supported";
    case errc::storage_full: return "storage_full";
    case errc::storage_read_only: return "storage_read_only";
    case errc::overloaded: return "overloaded";
  }
  return "errc " + std::to_string(r.error().value());
}

// The schema version this build's migrations end at.
inline constexpr int latest_schema = 7;

// Undoes migration 7 (the confirm step of an OAuth flow).
inline constexpr const char* undo_migration_7 =
    "ALTER TABLE oauth_states DROP COLUMN confirmed_at; UPDATE schema_version SET version = 6;";

// Undoes migration 6 (issue 17's OAuth columns).
inline constexpr const char* undo_migration_6 =
    "ALTER TABLE installations DROP COLUMN reauth_reason;"
    " ALTER TABLE oauth_clients DROP COLUMN iss_parameter_supported;"
    " ALTER TABLE oauth_states DROP COLUMN scope;"
    " ALTER TABLE oauth_states DROP COLUMN user_name;"
    " UPDATE schema_version SET version = 5;";

// Undoes migration 5: installations without protocol_version, exactly as
// migration 3 left the table (its text is never edited).
inline constexpr const char* undo_migration_5 =
    "ALTER TABLE installations DROP COLUMN protocol_version;"
    " UPDATE schema_version SET version = 4;";

// Undoes migration 4: the audit trail back to exactly the table migration 2
// made (its text is never edited), rows included.
inline constexpr const char* undo_migration_4 =
    "CREATE TABLE audit_events_v2 ("
    "  id TEXT PRIMARY KEY,"
    "  environment_id INTEGER NOT NULL REFERENCES environments (id),"
    "  user_id INTEGER NOT NULL REFERENCES users (id),"
    "  installation_id TEXT NOT NULL,"
    "  event_type TEXT NOT NULL,"
    "  tool_name TEXT NOT NULL,"
    "  detail TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL);"
    " INSERT INTO audit_events_v2 SELECT id, environment_id, user_id, installation_id, event_type, tool_name,"
    "  detail, created_at FROM audit_events;"
    " DROP TABLE audit_events;"
    " ALTER TABLE audit_events_v2 RENAME TO audit_events;"
    " CREATE INDEX audit_events_newest_first ON audit_events (environment_id, user_id, created_at DESC, id DESC);"
    " CREATE INDEX audit_events_by_installation ON audit_events (installation_id, created_at DESC, id DESC);"
    " UPDATE schema_version SET version = 3;";

inline sys_time at(std::int64_t seconds) { return from_unix_micros(1'700'000'000'000'000 + seconds * 1'000'000); }

// Runs `sql` on its own raw connection; the first column of each row, as text.
inline std::vector<std::string> raw_sql(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  BOOST_REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  std::vector<std::string> rows;
  auto collect = [](void* out, int, char** values, char**) {
    static_cast<std::vector<std::string>*>(out)->emplace_back(values[0] ? values[0] : "NULL");
    return 0;
  };
  const int rc = sqlite3_exec(db, sql, collect, &rows, nullptr);
  const std::string message = sqlite3_errmsg(db);
  sqlite3_close(db);
  BOOST_REQUIRE_MESSAGE(rc == SQLITE_OK, message);
  return rows;
}

// A database file in a fresh temporary folder, removed at the end.
struct temp_db {
  fs::path dir = fs::temp_directory_path() / ("mcpgate-registry-" + new_uuid_v7());
  std::string path = (dir / "mcpgate.db").string();

  temp_db() { fs::create_directories(dir); }
  ~temp_db() {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }
  temp_db(const temp_db&) = delete;
  temp_db& operator=(const temp_db&) = delete;

  std::unique_ptr<store> open() const { return must(open_sqlite_store(path)); }
};

// An open store with project 1 (environments 1 and 2) and users alice and bob.
struct seeded : temp_db {
  std::unique_ptr<store> db = open();
  std::int64_t alice = 0;
  std::int64_t bob = 0;

  seeded() {
    must(db->sync_projects({project{1, "acme", {environment{1, 1, "production"}, environment{2, 1, "staging"}}}}));
    alice = must(db->ensure_user("alice")).id;
    bob = must(db->ensure_user("bob")).id;
  }

  installation add(std::int64_t user_id, std::string url, std::int64_t environment_id = 1) {
    installation i;
    i.id = new_uuid_v7();
    i.environment_id = environment_id;
    i.user_id = user_id;
    i.display_name = "Linear";
    i.url = std::move(url);
    i.auth_type = "api_key";
    i.created_at = at(0);
    i.updated_at = at(0);
    must(db->insert_installation(i));
    return i;
  }
};

}  // namespace mcpgate::registry::fixture
