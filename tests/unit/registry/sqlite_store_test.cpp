// registry/sqlite_store.cpp through the store interface, on a real database
// file in a temporary folder per test. A second, raw SQLite connection checks
// what the interface cannot show (schema, journal mode, project rows).
#include "common/ids.hpp"
#include "registry/store.hpp"
#include "store_fixture.hpp"

#include <boost/test/unit_test.hpp>
#include <sqlite3.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

namespace mcpgate::registry {
namespace {

using namespace fixture;

// An open store with project 1 (environments 1 and 2) and users alice and bob,
// whose installations are made at a given time (store_fixture.hpp's seeded
// takes an environment instead).
struct populated : temp_db {
  std::unique_ptr<store> db = open();
  std::int64_t alice = 0;
  std::int64_t bob = 0;

  populated() {
    must(db->sync_projects({project{1, "acme", {environment{1, 1, "production"}, environment{2, 1, "staging"}}}}));
    alice = must(db->ensure_user("alice")).id;
    bob = must(db->ensure_user("bob")).id;
  }

  installation make(std::int64_t user_id, std::string url, sys_time created = at(0),
                    std::int64_t environment_id = 1) const {
    installation i;
    i.id = new_uuid_v7();
    i.environment_id = environment_id;
    i.user_id = user_id;
    i.display_name = "Linear";
    i.url = std::move(url);
    i.description = "issues";
    i.auth_type = "api_key";
    i.created_at = created;
    i.updated_at = created;
    return i;
  }

  installation add(std::int64_t user_id, std::string url, sys_time created = at(0)) {
    auto i = make(user_id, std::move(url), created);
    must(db->insert_installation(i));
    return i;
  }
};

api_key make_key(std::int64_t user_id, std::string hash) {
  api_key k;
  k.id = new_uuid_v7();
  k.user_id = user_id;
  k.secret_hash = std::move(hash);
  k.mask = "mcpg_abcd...wxyz";
  k.scopes = {"project:read", "project:write"};
  k.projects = {7, 42};
  k.created_at = at(0);
  return k;
}

// ---------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(schema)

BOOST_AUTO_TEST_CASE(migrations_create_the_schema) {
  temp_db t;
  BOOST_TEST(must(t.open()->schema_version()) == latest_schema);
  const std::vector<std::string> expected{"api_keys",       "audit_events",  "environments", "installation_secrets",
                                          "installations",  "oauth_clients", "oauth_states", "projects",
                                          "schema_version", "tools",         "users"};
  BOOST_TEST(raw_sql(t.path, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name") == expected,
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(reopening_keeps_the_schema_version) {
  temp_db t;
  const int first = must(t.open()->schema_version());
  const int second = must(t.open()->schema_version());
  BOOST_TEST(first == second);
  BOOST_TEST(raw_sql(t.path, "SELECT count(*) FROM schema_version").at(0) == "1");
}

BOOST_AUTO_TEST_CASE(concurrent_opens_of_a_new_file_migrate_once) {
  temp_db t;
  std::vector<std::optional<result<std::unique_ptr<store>>>> opened(4);
  std::vector<std::thread> threads;
  for (auto& slot : opened) threads.emplace_back([&] { slot.emplace(open_sqlite_store(t.path)); });
  for (auto& th : threads) th.join();
  for (auto& r : opened) BOOST_TEST(must(must(std::move(*r))->schema_version()) == latest_schema);
}

BOOST_AUTO_TEST_CASE(a_schema_newer_than_the_build_is_refused) {
  temp_db t;
  t.open();
  raw_sql(t.path, "UPDATE schema_version SET version = 99");
  BOOST_TEST(error_of(open_sqlite_store(t.path)) == "store_failure");
}

BOOST_AUTO_TEST_CASE(wal_mode_is_on) {
  temp_db t;
  auto db = t.open();
  BOOST_TEST(fs::exists(t.path + "-wal"));
  BOOST_TEST(raw_sql(t.path, "PRAGMA journal_mode").at(0) == "wal");
}

BOOST_AUTO_TEST_CASE(a_missing_parent_folder_is_a_store_failure) {
  temp_db t;
  BOOST_TEST(error_of(open_sqlite_store((t.dir / "missing" / "x.db").string())) == "store_failure");
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(users_and_keys)

BOOST_AUTO_TEST_CASE(ensure_user_creates_once_by_name) {
  temp_db t;
  auto db = t.open();
  const user a = must(db->ensure_user("alice"));
  const user again = must(db->ensure_user("alice"));
  const user b = must(db->ensure_user("bob"));
  BOOST_TEST(a.id == again.id);
  BOOST_TEST(again.name == "alice");
  BOOST_TEST((a.created_at == again.created_at));
  BOOST_TEST(a.id != b.id);
}

BOOST_AUTO_TEST_CASE(api_key_round_trips_with_its_user_name) {
  populated s;
  const api_key k = make_key(s.alice, "aa11");
  must(s.db->insert_api_key(k));
  const api_key found = must(s.db->find_api_key_by_hash("aa11"));
  BOOST_TEST(found.id == k.id);
  BOOST_TEST(found.user_id == s.alice);
  BOOST_TEST(found.user_name == "alice");
  BOOST_TEST(found.mask == k.mask);
  BOOST_TEST(found.scopes == k.scopes, boost::test_tools::per_element());
  BOOST_TEST(found.projects == k.projects, boost::test_tools::per_element());
  BOOST_TEST((found.created_at == k.created_at));
  BOOST_TEST(!found.revoked_at.has_value());
}

BOOST_AUTO_TEST_CASE(key_without_project_limit_round_trips_as_empty) {
  populated s;
  api_key k = make_key(s.alice, "bb22");
  k.projects.clear();
  k.scopes = {"*"};
  must(s.db->insert_api_key(k));
  const api_key found = must(s.db->find_api_key_by_hash("bb22"));
  BOOST_TEST(found.projects.empty());
  BOOST_TEST(found.scopes == std::vector<std::string>{"*"}, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(unknown_key_hash_is_not_found) {
  populated s;
  BOOST_TEST(error_of(s.db->find_api_key_by_hash("nope")) == "not_found");
}

BOOST_AUTO_TEST_CASE(duplicate_key_hash_already_exists) {
  populated s;
  must(s.db->insert_api_key(make_key(s.alice, "cc33")));
  BOOST_TEST(error_of(s.db->insert_api_key(make_key(s.bob, "cc33"))) == "already_exists");
}

BOOST_AUTO_TEST_CASE(scope_with_a_comma_is_an_invalid_argument) {
  populated s;
  api_key k = make_key(s.alice, "dd44");
  k.scopes = {"project:read,project:write"};
  BOOST_TEST(error_of(s.db->insert_api_key(k)) == "invalid_argument");
}

BOOST_AUTO_TEST_CASE(revoked_key_is_not_found_but_still_listed) {
  populated s;
  const api_key k = make_key(s.alice, "ee55");
  must(s.db->insert_api_key(k));
  must(s.db->revoke_api_key(k.id, at(60)));
  BOOST_TEST(error_of(s.db->find_api_key_by_hash("ee55")) == "not_found");
  BOOST_TEST(error_of(s.db->revoke_api_key(k.id, at(120))) == "not_found");
  const auto keys = must(s.db->list_api_keys());
  BOOST_REQUIRE(keys.size() == 1u);
  BOOST_REQUIRE(keys[0].revoked_at.has_value());
  BOOST_TEST((*keys[0].revoked_at == at(60)));
}

BOOST_AUTO_TEST_CASE(list_api_keys_is_oldest_first) {
  populated s;
  api_key late = make_key(s.bob, "ff01");
  late.created_at = at(10);
  must(s.db->insert_api_key(late));
  must(s.db->insert_api_key(make_key(s.alice, "ff00")));
  const auto keys = must(s.db->list_api_keys());
  BOOST_REQUIRE(keys.size() == 2u);
  BOOST_TEST(keys[0].secret_hash == "ff00");
  BOOST_TEST(keys[1].user_name == "bob");
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(installations)

BOOST_AUTO_TEST_CASE(installation_round_trips) {
  populated s;
  installation i = s.make(s.alice, "https://mcp.linear.app/mcp", at(5));
  i.template_id = "linear";
  i.needs_reauth = true;
  i.updated_at = at(6);
  must(s.db->insert_installation(i));
  const installation got = must(s.db->get_installation(1, s.alice, i.id));
  BOOST_TEST(got.id == i.id);
  BOOST_TEST(got.environment_id == 1);
  BOOST_TEST(got.user_id == s.alice);
  BOOST_TEST(got.template_id.value_or("") == "linear");
  BOOST_TEST(got.display_name == i.display_name);
  BOOST_TEST(got.url == i.url);
  BOOST_TEST(got.description == i.description);
  BOOST_TEST(got.auth_type == "api_key");
  BOOST_TEST(got.is_enabled);
  BOOST_TEST(got.needs_reauth);
  BOOST_TEST(!got.has_credential);
  BOOST_TEST(got.tool_count == 0);
  BOOST_TEST((got.created_at == at(5)));
  BOOST_TEST((got.updated_at == at(6)));
}

BOOST_AUTO_TEST_CASE(missing_template_id_reads_back_as_null) {
  populated s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  BOOST_TEST(!must(s.db->get_installation(1, s.alice, i.id)).template_id.has_value());
}

BOOST_AUTO_TEST_CASE(duplicate_url_for_the_same_user_and_environment_already_exists) {
  populated s;
  s.add(s.alice, "https://a.example/mcp");
  BOOST_TEST(error_of(s.db->insert_installation(s.make(s.alice, "https://a.example/mcp"))) == "already_exists");
}

BOOST_AUTO_TEST_CASE(another_user_or_environment_may_have_the_same_url) {
  populated s;
  s.add(s.alice, "https://a.example/mcp");
  must(s.db->insert_installation(s.make(s.bob, "https://a.example/mcp")));
  must(s.db->insert_installation(s.make(s.alice, "https://a.example/mcp", at(0), 2)));
}

BOOST_AUTO_TEST_CASE(duplicate_id_already_exists) {
  populated s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  auto copy = s.make(s.alice, "https://b.example/mcp");
  copy.id = i.id;
  BOOST_TEST(error_of(s.db->insert_installation(copy)) == "already_exists");
}

BOOST_AUTO_TEST_CASE(unknown_environment_is_not_found) {
  populated s;
  BOOST_TEST(error_of(s.db->insert_installation(s.make(s.alice, "https://a.example/mcp", at(0), 99))) == "not_found");
}

BOOST_AUTO_TEST_CASE(another_users_installation_is_not_found) {
  populated s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  installation_patch patch;
  patch.display_name = "mine now";
  BOOST_TEST(error_of(s.db->get_installation(1, s.bob, i.id)) == "not_found");
  BOOST_TEST(error_of(s.db->update_installation(1, s.bob, i.id, patch, at(9))) == "not_found");
  BOOST_TEST(error_of(s.db->delete_installation(1, s.bob, i.id)) == "not_found");
  BOOST_TEST(must(s.db->get_installation(1, s.alice, i.id)).display_name == "Linear");
}

BOOST_AUTO_TEST_CASE(installation_in_another_environment_is_not_found) {
  populated s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  BOOST_TEST(error_of(s.db->get_installation(2, s.alice, i.id)) == "not_found");
  BOOST_TEST(must(s.db->list_installations(2, s.alice, {})).count == 0);
}

BOOST_AUTO_TEST_CASE(list_pages_newest_first_with_the_total_count) {
  populated s;
  std::vector<std::string> ids;  // oldest first
  for (int n = 0; n < 25; ++n) {
    ids.push_back(s.add(s.alice, "https://e.example/" + std::to_string(n), at(n)).id);
  }
  s.add(s.bob, "https://e.example/bob", at(100));  // not counted for alice

  const auto first = must(s.db->list_installations(1, s.alice, {10, 0}));
  BOOST_TEST(first.count == 25);
  BOOST_REQUIRE(first.items.size() == 10u);
  BOOST_TEST(first.items[0].id == ids[24]);
  BOOST_TEST(first.items[9].id == ids[15]);

  const auto last = must(s.db->list_installations(1, s.alice, {10, 20}));
  BOOST_TEST(last.count == 25);
  BOOST_REQUIRE(last.items.size() == 5u);
  BOOST_TEST(last.items[0].id == ids[4]);
  BOOST_TEST(last.items[4].id == ids[0]);

  const auto beyond = must(s.db->list_installations(1, s.alice, {10, 30}));
  BOOST_TEST(beyond.count == 25);
  BOOST_TEST(beyond.items.empty());
}

BOOST_AUTO_TEST_CASE(list_breaks_creation_time_ties_by_id_descending) {
  populated s;
  auto a = s.make(s.alice, "https://a.example/mcp", at(1));
  auto b = s.make(s.alice, "https://b.example/mcp", at(1));
  a.id = "00000000-0000-7000-8000-00000000000a";
  b.id = "00000000-0000-7000-8000-00000000000b";
  must(s.db->insert_installation(a));
  must(s.db->insert_installation(b));
  const auto page = must(s.db->list_installations(1, s.alice, {}));
  BOOST_REQUIRE(page.items.size() == 2u);
  BOOST_TEST(page.items[0].id == b.id);
}

BOOST_AUTO_TEST_CASE(negative_limit_or_offset_is_an_invalid_argument) {
  populated s;
  BOOST_TEST(error_of(s.db->list_installations(1, s.alice, {-1, 0})) == "invalid_argument");
  BOOST_TEST(error_of(s.db->list_installations(1, s.alice, {10, -1})) == "invalid_argument");
}

BOOST_AUTO_TEST_CASE(patch_changes_only_the_given_fields_and_updated_at) {
  populated s;
  const auto i = s.add(s.alice, "https://a.example/mcp", at(0));
  installation_patch patch;
  patch.is_enabled = false;
  const installation updated = must(s.db->update_installation(1, s.alice, i.id, patch, at(30)));
  BOOST_TEST(!updated.is_enabled);
  BOOST_TEST(updated.display_name == i.display_name);
  BOOST_TEST(updated.description == i.description);
  BOOST_TEST((updated.updated_at == at(30)));
  BOOST_TEST((updated.created_at == at(0)));

  patch = {};
  patch.display_name = "Renamed";
  patch.description = "";
  const installation again = must(s.db->update_installation(1, s.alice, i.id, patch, at(40)));
  BOOST_TEST(again.display_name == "Renamed");
  BOOST_TEST(again.description == "");
  BOOST_TEST(!again.is_enabled);
  BOOST_TEST((again.updated_at == at(40)));
  const installation stored = must(s.db->get_installation(1, s.alice, i.id));
  BOOST_TEST(stored.display_name == "Renamed");
  BOOST_TEST(stored.url == i.url);
}

BOOST_AUTO_TEST_CASE(delete_removes_the_installation_and_its_secrets) {
  populated s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->put_secret(i.id, "api_key", "sealed"));
  must(s.db->delete_installation(1, s.alice, i.id));
  BOOST_TEST(error_of(s.db->get_installation(1, s.alice, i.id)) == "not_found");
  BOOST_TEST(error_of(s.db->get_secret(i.id, "api_key")) == "not_found");
  BOOST_TEST(raw_sql(s.path, "SELECT count(*) FROM installation_secrets").at(0) == "0");
  BOOST_TEST(error_of(s.db->delete_installation(1, s.alice, i.id)) == "not_found");
}

BOOST_AUTO_TEST_CASE(the_url_is_free_again_after_delete) {
  populated s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->delete_installation(1, s.alice, i.id));
  must(s.db->insert_installation(s.make(s.alice, "https://a.example/mcp")));
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(secrets)

BOOST_AUTO_TEST_CASE(secret_round_trips_bytes_with_nuls) {
  populated s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  const std::string sealed("\x00\x01sealed\x00\xff\x80tail\x00", 16);
  must(s.db->put_secret(i.id, "api_key", sealed));
  const std::string got = must(s.db->get_secret(i.id, "api_key"));
  BOOST_TEST(got.size() == sealed.size());
  BOOST_TEST((got == sealed));
}

BOOST_AUTO_TEST_CASE(put_secret_overwrites_the_same_kind) {
  populated s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->put_secret(i.id, "access_token", "one"));
  must(s.db->put_secret(i.id, "access_token", "two"));
  must(s.db->put_secret(i.id, "refresh_token", "three"));
  BOOST_TEST(must(s.db->get_secret(i.id, "access_token")) == "two");
  BOOST_TEST(must(s.db->get_secret(i.id, "refresh_token")) == "three");
}

BOOST_AUTO_TEST_CASE(empty_secret_round_trips) {
  populated s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->put_secret(i.id, "client_secret", ""));
  BOOST_TEST(must(s.db->get_secret(i.id, "client_secret")) == "");
}

BOOST_AUTO_TEST_CASE(secret_of_unknown_installation_or_kind_is_not_found) {
  populated s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  BOOST_TEST(error_of(s.db->put_secret("no-such-id", "api_key", "x")) == "not_found");
  BOOST_TEST(error_of(s.db->get_secret(i.id, "api_key")) == "not_found");
}

BOOST_AUTO_TEST_CASE(has_credential_means_an_api_key_or_access_token) {
  populated s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  const auto j = s.add(s.alice, "https://b.example/mcp");
  must(s.db->put_secret(i.id, "refresh_token", "r"));
  BOOST_TEST(!must(s.db->get_installation(1, s.alice, i.id)).has_credential);
  must(s.db->put_secret(i.id, "access_token", "a"));
  must(s.db->put_secret(j.id, "api_key", "k"));
  BOOST_TEST(must(s.db->get_installation(1, s.alice, i.id)).has_credential);
  for (const auto& item : must(s.db->list_installations(1, s.alice, {})).items) {
    BOOST_TEST(item.has_credential);
  }
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(durability_and_projects)

BOOST_AUTO_TEST_CASE(data_survives_close_and_reopen) {
  temp_db t;
  std::string id;
  {
    auto db = t.open();
    must(db->sync_projects({project{1, "acme", {environment{1, 1, "production"}}}}));
    const user u = must(db->ensure_user("alice"));
    installation i;
    i.id = id = new_uuid_v7();
    i.environment_id = 1;
    i.user_id = u.id;
    i.url = "https://a.example/mcp";
    must(db->insert_installation(i));
    must(db->put_secret(id, "api_key", std::string("k\0y", 3)));
    must(db->insert_api_key(make_key(u.id, "aa11")));
  }
  auto db = t.open();
  const user u = must(db->ensure_user("alice"));
  BOOST_TEST(must(db->get_installation(1, u.id, id)).url == "https://a.example/mcp");
  BOOST_TEST((must(db->get_secret(id, "api_key")) == std::string("k\0y", 3)));
  BOOST_TEST(must(db->find_api_key_by_hash("aa11")).user_name == "alice");
}

BOOST_AUTO_TEST_CASE(sync_projects_is_idempotent_and_renames) {
  temp_db t;
  auto db = t.open();
  const std::vector<project> config{project{1, "acme", {environment{1, 1, "production"}, environment{5, 1, "staging"}}},
                                    project{2, "beta", {environment{2, 2, "production"}}}};
  must(db->sync_projects(config));
  must(db->sync_projects(config));
  const char* projects_sql = "SELECT id || ':' || name FROM projects ORDER BY id";
  const char* environments_sql = "SELECT id || ':' || project_id || ':' || name FROM environments ORDER BY id";
  BOOST_TEST(raw_sql(t.path, projects_sql) == (std::vector<std::string>{"1:acme", "2:beta"}),
             boost::test_tools::per_element());
  BOOST_TEST(raw_sql(t.path, environments_sql) ==
                 (std::vector<std::string>{"1:1:production", "2:2:production", "5:1:staging"}),
             boost::test_tools::per_element());

  // Rename project 1 and environment 5; drop project 2 from the config.
  must(db->sync_projects({project{1, "acme-corp", {environment{1, 1, "production"}, environment{5, 1, "qa"}}}}));
  BOOST_TEST(raw_sql(t.path, projects_sql) == (std::vector<std::string>{"1:acme-corp", "2:beta"}),
             boost::test_tools::per_element());
  BOOST_TEST(raw_sql(t.path, environments_sql) ==
                 (std::vector<std::string>{"1:1:production", "2:2:production", "5:1:qa"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace mcpgate::registry
