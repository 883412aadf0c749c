// The store's contract (store.hpp), checked the same way against every
// backend: SQLite in a temporary folder and PostgreSQL on a server the test
// starts itself (tests/support/postgres_server.hpp), a fresh database per
// test. Each case is a template over the backend; its name says which one
// ran ("...<contract_sqlite>", "...<contract_postgres>"). What only one
// backend has (SQLite's files and migration undo, PostgreSQL's connection
// loss) is tested beside it: sqlite_store_test.cpp and friends, and the
// postgres_only suite at the end.
#include "common/ids.hpp"
#include "registry/store.hpp"
#include "store_fixture.hpp"
#include "support/postgres_server.hpp"

#include <boost/test/unit_test.hpp>
#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace mcpgate::registry {
namespace {

using namespace fixture;

// Where a contract case's store lives; open() is a new connection to it.
struct contract_backend {
  virtual ~contract_backend() = default;
  virtual std::unique_ptr<store> open() = 0;
};

struct contract_sqlite_backend final : contract_backend {
  temp_db file;
  std::unique_ptr<store> open() override { return file.open(); }
};

// The options of a store on `conninfo`, the rest as they come.
postgres_options contract_pg_options(const std::string& conninfo) {
  postgres_options o;
  o.conninfo = conninfo;
  return o;
}

struct contract_postgres_backend final : contract_backend {
  std::string conninfo = test::postgres_server::shared().create_database();
  std::unique_ptr<store> open() override { return must(open_postgres_store(contract_pg_options(conninfo))); }
};

struct contract_sqlite {
  static std::unique_ptr<contract_backend> make() { return std::make_unique<contract_sqlite_backend>(); }
};
struct contract_postgres {
  static std::unique_ptr<contract_backend> make() { return std::make_unique<contract_postgres_backend>(); }
};
using contract_backends = std::tuple<contract_sqlite, contract_postgres>;

// An open store with project 1 (environments 1 and 2) and users alice and bob.
struct contract_store {
  std::unique_ptr<contract_backend> backend;
  std::unique_ptr<store> db;
  std::int64_t alice = 0;
  std::int64_t bob = 0;

  explicit contract_store(std::unique_ptr<contract_backend> b) : backend(std::move(b)), db(backend->open()) {
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

  installation add(std::int64_t user_id, std::string url, sys_time created = at(0), std::int64_t environment_id = 1) {
    auto i = make(user_id, std::move(url), created, environment_id);
    must(db->insert_installation(i));
    return i;
  }

  installation reread(const installation& i) { return must(db->get_installation(i.environment_id, i.user_id, i.id)); }
};

#define CONTRACT_CASE(name) BOOST_AUTO_TEST_CASE_TEMPLATE(name, Backend, contract_backends)
#define CONTRACT_STORE contract_store s(Backend::make())

api_key contract_key(std::int64_t user_id, std::string hash, sys_time created = at(0)) {
  api_key k;
  k.id = new_uuid_v7();
  k.user_id = user_id;
  k.secret_hash = std::move(hash);
  k.mask = "mcpg_abcd...wxyz";
  k.scopes = {"project:read", "project:write"};
  k.projects = {7, 42};
  k.created_at = created;
  return k;
}

listed_tool contract_listed(std::string name, std::string title = "", std::string description = "") {
  listed_tool t;
  t.name = std::move(name);
  t.title = std::move(title);
  t.description = std::move(description);
  t.input_schema = R"({"type":"object"})";
  t.annotations = "{}";
  return t;
}

std::vector<std::string> contract_names(const std::vector<tool>& tools) {
  std::vector<std::string> out;
  for (const auto& t : tools) out.push_back(t.tool_name);
  return out;
}

const tool& contract_find(const std::vector<tool>& tools, std::string_view name) {
  const auto it = std::find_if(tools.begin(), tools.end(), [&](const tool& t) { return t.tool_name == name; });
  BOOST_REQUIRE_MESSAGE(it != tools.end(), "no tool " << name);
  return *it;
}

audit_event contract_event(const installation& about, std::string type, sys_time when, std::string tool_name = "") {
  audit_event e;
  e.id = new_uuid_v7(when);
  e.environment_id = about.environment_id;
  e.user_id = about.user_id;
  e.installation_id = about.id;
  e.event_type = std::move(type);
  e.tool_name = std::move(tool_name);
  e.created_at = when;
  return e;
}

oauth_client contract_client(const installation& i, std::string client_id = "client-1") {
  oauth_client c;
  c.installation_id = i.id;
  c.issuer = "https://as.example";
  c.authorization_endpoint = "https://as.example/authorize";
  c.token_endpoint = "https://as.example/token";
  c.registration_endpoint = "https://as.example/register";
  c.resource = i.url;
  c.scope = "read write";
  c.client_id = std::move(client_id);
  c.client_source = "dynamic";
  c.token_endpoint_auth_method = "none";
  c.created_at = at(1);
  return c;
}

// A state created at at(0) that expires at at(600).
oauth_state contract_state(const installation& i, std::string hash) {
  oauth_state s;
  s.state_hash = std::move(hash);
  s.installation_id = i.id;
  s.environment_id = i.environment_id;
  s.user_id = i.user_id;
  s.verifier_sealed = std::string("sealed\0verifier\xff", 16);  // bytes, NUL included
  s.authorization_url = "https://as.example/authorize?client_id=client-1";
  s.install_source = "posthog-code";
  s.callback_url = "posthog-code://callback";
  s.created_at = at(0);
  s.expires_at = at(600);
  s.scope = "read write admin";
  s.user_name = "alice";
  return s;
}

// ---------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(contract_schema)

CONTRACT_CASE(opening_migrates_to_the_latest_version_and_reopening_keeps_it) {
  auto backend = Backend::make();
  BOOST_TEST(must(backend->open()->schema_version()) == latest_schema);
  BOOST_TEST(must(backend->open()->schema_version()) == latest_schema);
  must(backend->open()->check_ready());
}

CONTRACT_CASE(concurrent_opens_of_a_new_database_migrate_once) {
  auto backend = Backend::make();
  std::vector<std::optional<std::unique_ptr<store>>> opened(4);
  std::vector<std::thread> threads;
  for (auto& slot : opened) threads.emplace_back([&] { slot.emplace(backend->open()); });
  for (auto& th : threads) th.join();
  for (auto& r : opened) BOOST_TEST(must((*r)->schema_version()) == latest_schema);
}

CONTRACT_CASE(data_survives_close_and_reopen) {
  std::unique_ptr<contract_backend> backend;
  std::string id;
  {
    CONTRACT_STORE;
    const auto i = s.add(s.alice, "https://a.example/mcp");
    id = i.id;
    must(s.db->put_secret(id, "api_key", std::string("k\0y", 3)));
    must(s.db->insert_api_key(contract_key(s.alice, "aa11")));
    backend = std::move(s.backend);
  }
  auto db = backend->open();
  const user u = must(db->ensure_user("alice"));
  BOOST_TEST(must(db->get_installation(1, u.id, id)).url == "https://a.example/mcp");
  BOOST_TEST((must(db->get_secret(id, "api_key")) == std::string("k\0y", 3)));
  BOOST_TEST(must(db->find_api_key_by_hash("aa11")).user_name == "alice");
}

CONTRACT_CASE(sync_projects_is_idempotent_and_keeps_environments_the_config_dropped) {
  auto backend = Backend::make();
  auto db = backend->open();
  const user u = must(db->ensure_user("alice"));
  installation i;
  i.id = new_uuid_v7();
  i.environment_id = 5;
  i.user_id = u.id;
  i.url = "https://a.example/mcp";
  BOOST_TEST(error_of(db->insert_installation(i)) == "not_found");  // no environment 5 yet
  const std::vector<project> config{project{1, "acme", {environment{1, 1, "production"}, environment{5, 1, "staging"}}},
                                    project{2, "beta", {environment{2, 2, "production"}}}};
  must(db->sync_projects(config));
  must(db->sync_projects(config));
  must(db->insert_installation(i));
  // Renamed, and environment 5 and project 2 dropped from the config: kept.
  must(db->sync_projects({project{1, "acme-corp", {environment{1, 1, "production"}}}}));
  BOOST_TEST(must(db->get_installation(5, u.id, i.id)).url == i.url);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(contract_users_and_keys)

CONTRACT_CASE(ensure_user_creates_once_by_name) {
  CONTRACT_STORE;
  const user a = must(s.db->ensure_user("alice"));
  const user again = must(s.db->ensure_user("alice"));
  BOOST_TEST(a.id == s.alice);
  BOOST_TEST(again.id == a.id);
  BOOST_TEST(again.name == "alice");
  BOOST_TEST((a.created_at == again.created_at));
  BOOST_TEST(s.alice != s.bob);
}

CONTRACT_CASE(an_api_key_round_trips_with_its_user_name) {
  CONTRACT_STORE;
  const api_key k = contract_key(s.alice, "aa11");
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

  api_key every = contract_key(s.bob, "bb22");
  every.projects.clear();
  every.scopes = {"*"};
  must(s.db->insert_api_key(every));
  const api_key found_every = must(s.db->find_api_key_by_hash("bb22"));
  BOOST_TEST(found_every.projects.empty());
  BOOST_TEST(found_every.scopes == std::vector<std::string>{"*"}, boost::test_tools::per_element());
}

CONTRACT_CASE(key_errors_are_named) {
  CONTRACT_STORE;
  BOOST_TEST(error_of(s.db->find_api_key_by_hash("nope")) == "not_found");
  must(s.db->insert_api_key(contract_key(s.alice, "cc33")));
  BOOST_TEST(error_of(s.db->insert_api_key(contract_key(s.bob, "cc33"))) == "already_exists");
  api_key comma = contract_key(s.alice, "dd44");
  comma.scopes = {"project:read,project:write"};
  BOOST_TEST(error_of(s.db->insert_api_key(comma)) == "invalid_argument");
  BOOST_TEST(error_of(s.db->insert_api_key(contract_key(s.bob + 100, "ee55"))) == "not_found");  // no such user
}

CONTRACT_CASE(a_revoked_key_is_not_found_but_still_listed_oldest_first) {
  CONTRACT_STORE;
  must(s.db->insert_api_key(contract_key(s.bob, "ff01", at(10))));
  const api_key k = contract_key(s.alice, "ff00");
  must(s.db->insert_api_key(k));
  must(s.db->revoke_api_key(k.id, at(60)));
  BOOST_TEST(error_of(s.db->find_api_key_by_hash("ff00")) == "not_found");
  BOOST_TEST(error_of(s.db->revoke_api_key(k.id, at(120))) == "not_found");
  BOOST_TEST(error_of(s.db->revoke_api_key("no-such-key", at(120))) == "not_found");
  const auto keys = must(s.db->list_api_keys());
  BOOST_REQUIRE(keys.size() == 2u);
  BOOST_TEST(keys[0].secret_hash == "ff00");
  BOOST_REQUIRE(keys[0].revoked_at.has_value());
  BOOST_TEST((*keys[0].revoked_at == at(60)));
  BOOST_TEST(keys[1].user_name == "bob");
  BOOST_TEST(!keys[1].revoked_at.has_value());
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(contract_installations)

CONTRACT_CASE(an_installation_round_trips) {
  CONTRACT_STORE;
  installation i = s.make(s.alice, "https://mcp.linear.app/mcp", at(5));
  i.template_id = "linear";
  i.needs_reauth = true;
  i.updated_at = at(6);
  i.token_issued_at = at(7);
  i.token_expires_at = at(3607);
  i.protocol_version = "2025-11-25";
  must(s.db->insert_installation(i));
  const installation got = s.reread(i);
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
  BOOST_TEST(got.reauth_reason == "");
  BOOST_TEST(!got.has_credential);
  BOOST_TEST(!got.refreshable);
  BOOST_TEST(got.tool_count == 0);
  BOOST_TEST((got.token_issued_at == i.token_issued_at));
  BOOST_TEST((got.token_expires_at == i.token_expires_at));
  BOOST_TEST(got.protocol_version.value_or("") == "2025-11-25");
  BOOST_TEST((got.created_at == at(5)));
  BOOST_TEST((got.updated_at == at(6)));

  const auto bare = s.add(s.alice, "https://b.example/mcp");
  const installation plain = s.reread(bare);
  BOOST_TEST(!plain.template_id.has_value());
  BOOST_TEST(!plain.token_issued_at.has_value());
  BOOST_TEST(!plain.token_expires_at.has_value());
  BOOST_TEST(!plain.protocol_version.has_value());
}

CONTRACT_CASE(uniqueness_and_missing_parents_are_named) {
  CONTRACT_STORE;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  BOOST_TEST(error_of(s.db->insert_installation(s.make(s.alice, "https://a.example/mcp"))) == "already_exists");
  auto copy = s.make(s.alice, "https://b.example/mcp");
  copy.id = i.id;
  BOOST_TEST(error_of(s.db->insert_installation(copy)) == "already_exists");
  BOOST_TEST(error_of(s.db->insert_installation(s.make(s.alice, "https://c.example/mcp", at(0), 99))) == "not_found");
  // Another user or environment may have the same url.
  must(s.db->insert_installation(s.make(s.bob, "https://a.example/mcp")));
  must(s.db->insert_installation(s.make(s.alice, "https://a.example/mcp", at(0), 2)));
}

CONTRACT_CASE(another_users_or_environments_installation_is_not_found) {
  CONTRACT_STORE;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  installation_patch patch;
  patch.display_name = "mine now";
  BOOST_TEST(error_of(s.db->get_installation(1, s.bob, i.id)) == "not_found");
  BOOST_TEST(error_of(s.db->get_installation(2, s.alice, i.id)) == "not_found");
  BOOST_TEST(error_of(s.db->update_installation(1, s.bob, i.id, patch, at(9))) == "not_found");
  BOOST_TEST(error_of(s.db->delete_installation(1, s.bob, i.id)) == "not_found");
  BOOST_TEST(error_of(s.db->find_installation_by_url(1, s.bob, i.url)) == "not_found");
  BOOST_TEST(error_of(s.db->find_installation_by_url(2, s.alice, i.url)) == "not_found");
  BOOST_TEST(must(s.db->list_installations(2, s.alice, {})).count == 0);
  BOOST_TEST(must(s.db->list_installations(1, s.bob, {})).count == 0);
  BOOST_TEST(s.reread(i).display_name == "Linear");
}

CONTRACT_CASE(find_by_url_is_an_exact_match) {
  CONTRACT_STORE;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  BOOST_TEST(must(s.db->find_installation_by_url(1, s.alice, "https://a.example/mcp")).id == i.id);
  BOOST_TEST(error_of(s.db->find_installation_by_url(1, s.alice, "https://a.example/MCP")) == "not_found");
  BOOST_TEST(error_of(s.db->find_installation_by_url(1, s.alice, "https://a.example/mcp/")) == "not_found");
}

CONTRACT_CASE(list_pages_newest_first_with_the_total_count) {
  CONTRACT_STORE;
  std::vector<std::string> ids;  // oldest first
  for (int n = 0; n < 25; ++n) ids.push_back(s.add(s.alice, "https://e.example/" + std::to_string(n), at(n)).id);
  s.add(s.bob, "https://e.example/bob", at(100));  // not counted for alice

  const auto first = must(s.db->list_installations(1, s.alice, {10, 0}));
  BOOST_TEST(first.count == 25);
  BOOST_REQUIRE(first.items.size() == 10u);
  BOOST_TEST(first.items[0].id == ids[24]);
  BOOST_TEST(first.items[9].id == ids[15]);
  const auto last = must(s.db->list_installations(1, s.alice, {10, 20}));
  BOOST_TEST(last.count == 25);
  BOOST_REQUIRE(last.items.size() == 5u);
  BOOST_TEST(last.items[4].id == ids[0]);
  const auto beyond = must(s.db->list_installations(1, s.alice, {10, 30}));
  BOOST_TEST(beyond.count == 25);
  BOOST_TEST(beyond.items.empty());
  BOOST_TEST(error_of(s.db->list_installations(1, s.alice, {-1, 0})) == "invalid_argument");
  BOOST_TEST(error_of(s.db->list_installations(1, s.alice, {10, -1})) == "invalid_argument");
}

CONTRACT_CASE(list_breaks_creation_time_ties_by_id_descending) {
  CONTRACT_STORE;
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

CONTRACT_CASE(a_patch_changes_only_the_given_fields_and_updated_at) {
  CONTRACT_STORE;
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
  BOOST_TEST((s.reread(i).updated_at == at(40)));
  BOOST_TEST(error_of(s.db->update_installation(1, s.alice, "no-such-id", patch, at(50))) == "not_found");
}

CONTRACT_CASE(delete_takes_secrets_tools_and_oauth_rows_and_frees_the_url) {
  CONTRACT_STORE;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  const auto other = s.add(s.alice, "https://b.example/mcp");
  must(s.db->put_secret(i.id, "api_key", "sealed"));
  must(s.db->sync_tools(i.id, {contract_listed("a")}, at(1)));
  must(s.db->sync_tools(other.id, {contract_listed("a")}, at(1)));
  must(s.db->put_oauth_client(contract_client(i)));
  must(s.db->insert_oauth_state(contract_state(i, "h1")));
  must(s.db->store_grant(i.id, "access", "refresh", at(2), at(3602)));
  must(s.db->insert_audit_event(contract_event(i, "installation_created", at(1))));
  must(s.db->delete_installation(1, s.alice, i.id));
  BOOST_TEST(error_of(s.db->get_installation(1, s.alice, i.id)) == "not_found");
  BOOST_TEST(error_of(s.db->get_secret(i.id, "api_key")) == "not_found");
  BOOST_TEST(error_of(s.db->get_secret(i.id, "access_token")) == "not_found");
  BOOST_TEST(error_of(s.db->get_oauth_client(i.id)) == "not_found");
  BOOST_TEST(error_of(s.db->bind_oauth_state("h1", "cookie", at(5))) == "not_found");
  BOOST_TEST(must(s.db->list_tools(i.id, true)).empty());
  BOOST_TEST(must(s.db->list_tools(other.id, true)).size() == 1u);
  // The history outlives what it is about.
  BOOST_TEST(must(s.db->list_audit_events(1, s.alice, {}, {})).count == 1);
  BOOST_TEST(error_of(s.db->delete_installation(1, s.alice, i.id)) == "not_found");
  must(s.db->insert_installation(s.make(s.alice, "https://a.example/mcp")));
}

CONTRACT_CASE(set_template_id_adopts_an_installation) {
  CONTRACT_STORE;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->set_template_id(i.id, "linear"));
  BOOST_TEST(s.reread(i).template_id.value_or("") == "linear");
  BOOST_TEST(error_of(s.db->set_template_id("no-such-id", "linear")) == "not_found");
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(contract_secrets)

CONTRACT_CASE(secrets_round_trip_bytes_and_overwrite_by_kind) {
  CONTRACT_STORE;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  std::string every_byte;
  for (int b = 0; b < 256; ++b) every_byte.push_back(static_cast<char>(b));
  must(s.db->put_secret(i.id, "api_key", every_byte));
  BOOST_TEST((must(s.db->get_secret(i.id, "api_key")) == every_byte));
  must(s.db->put_secret(i.id, "access_token", "one"));
  must(s.db->put_secret(i.id, "access_token", "two"));
  must(s.db->put_secret(i.id, "refresh_token", "three"));
  must(s.db->put_secret(i.id, "client_secret", ""));
  BOOST_TEST(must(s.db->get_secret(i.id, "access_token")) == "two");
  BOOST_TEST(must(s.db->get_secret(i.id, "refresh_token")) == "three");
  BOOST_TEST(must(s.db->get_secret(i.id, "client_secret")) == "");
}

CONTRACT_CASE(a_secret_of_an_unknown_installation_or_kind_is_not_found) {
  CONTRACT_STORE;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  BOOST_TEST(error_of(s.db->put_secret("no-such-id", "api_key", "x")) == "not_found");
  BOOST_TEST(error_of(s.db->get_secret(i.id, "api_key")) == "not_found");
}

CONTRACT_CASE(has_credential_means_an_api_key_or_access_token) {
  CONTRACT_STORE;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  const auto j = s.add(s.alice, "https://b.example/mcp");
  must(s.db->put_secret(i.id, "refresh_token", "r"));
  BOOST_TEST(!s.reread(i).has_credential);
  BOOST_TEST(s.reread(i).refreshable);
  must(s.db->put_secret(i.id, "access_token", "a"));
  must(s.db->put_secret(j.id, "api_key", "k"));
  BOOST_TEST(s.reread(i).has_credential);
  for (const auto& item : must(s.db->list_installations(1, s.alice, {})).items) BOOST_TEST(item.has_credential);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(contract_tools)

CONTRACT_CASE(a_sync_adds_keeps_updates_and_removes) {
  CONTRACT_STORE;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  listed_tool search = contract_listed("search", "Search issues", "Finds issues");
  search.input_schema = R"({"type":"object","properties":{"q":{"type":"string"}}})";
  search.annotations = R"({"readOnlyHint":true})";
  const auto first = must(s.db->sync_tools(i.id, {search, contract_listed("create"), contract_listed("b")}, at(10)));
  BOOST_TEST(contract_names(first) == (std::vector<std::string>{"b", "create", "search"}),
             boost::test_tools::per_element());
  const tool& t = contract_find(first, "search");
  BOOST_TEST(t.id.size() == 36u);
  BOOST_TEST(t.installation_id == i.id);
  BOOST_TEST(t.display_name == "Search issues");
  BOOST_TEST(t.description == "Finds issues");
  BOOST_TEST(t.input_schema == search.input_schema);
  BOOST_TEST(t.annotations == search.annotations);
  BOOST_TEST(t.approval_state == "needs_approval");
  BOOST_TEST((t.last_seen_at == at(10)));
  BOOST_TEST((t.created_at == at(10)));
  BOOST_TEST((t.updated_at == at(10)));
  BOOST_TEST(!t.removed_at.has_value());
  BOOST_TEST(s.reread(i).tool_count == 3);
  must(s.db->set_tool_approval(i.id, "search", approval_approved, at(15)));
  must(s.db->set_tool_approval(i.id, "b", approval_do_not_use, at(15)));

  // search changes, create is the same, b is gone.
  listed_tool changed = contract_listed("search", "New", "new");
  const auto second = must(s.db->sync_tools(i.id, {changed, contract_listed("create")}, at(20)));
  const tool& s2 = contract_find(second, "search");
  BOOST_TEST(s2.id == t.id);
  BOOST_TEST(s2.approval_state == "approved");
  BOOST_TEST(s2.display_name == "New");
  BOOST_TEST((s2.updated_at == at(20)));
  BOOST_TEST((s2.created_at == at(10)));
  const tool& c2 = contract_find(second, "create");
  BOOST_TEST((c2.last_seen_at == at(20)));
  BOOST_TEST((c2.updated_at == at(10)));
  const tool& b2 = contract_find(second, "b");
  BOOST_REQUIRE(b2.removed_at.has_value());
  BOOST_TEST((*b2.removed_at == at(20)));
  BOOST_TEST(b2.approval_state == "do_not_use");
  BOOST_TEST(s.reread(i).tool_count == 2);
  BOOST_TEST(must(s.db->list_tools(i.id, false)).size() == 2u);
  BOOST_TEST(must(s.db->list_tools(i.id, true)).size() == 3u);

  // Still absent: unchanged; back again: no longer removed, state kept.
  const auto third = must(s.db->sync_tools(i.id, {changed, contract_listed("create")}, at(30)));
  BOOST_TEST((*contract_find(third, "b").removed_at == at(20)));
  const auto fourth =
      must(s.db->sync_tools(i.id, {changed, contract_listed("create"), contract_listed("b"), changed}, at(40)));
  const tool& b4 = contract_find(fourth, "b");
  BOOST_TEST(!b4.removed_at.has_value());
  BOOST_TEST(b4.approval_state == "do_not_use");
  BOOST_TEST((b4.updated_at == at(40)));
  BOOST_TEST(s.reread(i).tool_count == 3);
  // The installation record itself stays.
  BOOST_TEST((s.reread(i).updated_at == i.updated_at));
}

CONTRACT_CASE(a_name_listed_twice_takes_the_first_and_names_sort_byte_for_byte) {
  CONTRACT_STORE;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  const auto tools = must(s.db->sync_tools(
      i.id, {contract_listed("a", "first"), contract_listed("b"), contract_listed("a", "second")}, at(10)));
  BOOST_TEST(contract_find(tools, "a").display_name == "first");
  BOOST_TEST(tools.size() == 2u);
  std::vector<std::string> unordered{"b", "\xc3\xa4pfel", "B", "a b", "_x", "a", "Z9", "a_b"};
  std::vector<listed_tool> listed;
  for (const auto& n : unordered) listed.push_back(contract_listed(n));
  auto expected = unordered;
  std::sort(expected.begin(), expected.end());
  BOOST_TEST(contract_names(must(s.db->sync_tools(i.id, listed, at(20)))) == expected,
             boost::test_tools::per_element());
  BOOST_TEST(contract_names(must(s.db->list_tools(i.id, false))) == expected, boost::test_tools::per_element());
}

CONTRACT_CASE(the_protocol_version_goes_with_a_sync) {
  CONTRACT_STORE;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->sync_tools(i.id, {contract_listed("a")}, "2026-07-28", at(10)));
  BOOST_TEST(s.reread(i).protocol_version.value_or("") == "2026-07-28");
  must(s.db->sync_tools(i.id, {contract_listed("a")}, at(20)));
  BOOST_TEST(s.reread(i).protocol_version.value_or("") == "2026-07-28");
  BOOST_TEST((s.reread(i).updated_at == i.updated_at));
}

CONTRACT_CASE(sync_of_an_unknown_or_deleted_installation_is_not_found) {
  CONTRACT_STORE;
  BOOST_TEST(error_of(s.db->sync_tools("no-such-id", {contract_listed("a")}, at(10))) == "not_found");
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->delete_installation(1, s.alice, i.id));
  BOOST_TEST(error_of(s.db->sync_tools(i.id, {contract_listed("a")}, at(10))) == "not_found");
  BOOST_TEST(must(s.db->list_tools(i.id, true)).empty());
}

CONTRACT_CASE(set_tool_approval_returns_the_tool_as_it_was) {
  CONTRACT_STORE;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  const auto j = s.add(s.bob, "https://a.example/mcp");
  const auto synced = must(s.db->sync_tools(i.id, {contract_listed("search", "Search")}, at(10)));
  must(s.db->sync_tools(j.id, {contract_listed("search")}, at(10)));
  const tool before = must(s.db->set_tool_approval(i.id, "search", approval_approved, at(20)));
  BOOST_TEST(before.approval_state == "needs_approval");
  BOOST_TEST(before.id == synced[0].id);
  BOOST_TEST((before.updated_at == at(10)));
  const tool now = must(s.db->list_tools(i.id, false)).at(0);
  BOOST_TEST(now.approval_state == "approved");
  BOOST_TEST((now.updated_at == at(20)));
  // The same state again changes nothing, updated_at included.
  BOOST_TEST(must(s.db->set_tool_approval(i.id, "search", approval_approved, at(30))).approval_state == "approved");
  BOOST_TEST((must(s.db->list_tools(i.id, false)).at(0).updated_at == at(20)));
  // Another installation's tool of the same name is its own.
  BOOST_TEST(must(s.db->list_tools(j.id, false)).at(0).approval_state == "needs_approval");
  BOOST_TEST(error_of(s.db->set_tool_approval(i.id, "Search", approval_approved, at(40))) == "not_found");
  BOOST_TEST(error_of(s.db->set_tool_approval("no-such-id", "search", approval_approved, at(40))) == "not_found");
  BOOST_TEST(error_of(s.db->set_tool_approval(i.id, "search", "denied", at(40))) == "invalid_argument");
  BOOST_TEST(must(s.db->list_tools(i.id, false)).at(0).approval_state == "approved");
}

CONTRACT_CASE(an_approval_change_and_its_audit_record_are_one_transaction) {
  CONTRACT_STORE;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->sync_tools(i.id, {contract_listed("search")}, at(10)));
  const auto record = [&](const std::string& id) {
    return [&, id](const tool& before) {
      audit_event e = contract_event(i, "tool_approval_changed", at(20), before.tool_name);
      e.id = id;
      e.detail = R"({"from":")" + before.approval_state + R"("})";
      return e;
    };
  };
  must(s.db->set_tool_approval(i.id, "search", approval_approved, at(20), record("audit-1")));
  auto events = must(s.db->list_audit_events(1, s.alice, {}, {}));
  BOOST_REQUIRE(events.count == 1);
  BOOST_TEST(events.items[0].detail == R"({"from":"needs_approval"})");
  // A record that cannot be written (its id is taken): nothing changes.
  BOOST_TEST(error_of(s.db->set_tool_approval(i.id, "search", approval_do_not_use, at(30), record("audit-1"))) ==
             "already_exists");
  BOOST_TEST(must(s.db->list_tools(i.id, false)).at(0).approval_state == "approved");
  // No change, no record.
  must(s.db->set_tool_approval(i.id, "search", approval_approved, at(40), record("audit-2")));
  BOOST_TEST(must(s.db->list_audit_events(1, s.alice, {}, {})).count == 1);
  // And the store is usable after the failed transaction.
  must(s.db->set_tool_approval(i.id, "search", approval_do_not_use, at(50), record("audit-3")));
  BOOST_TEST(must(s.db->list_audit_events(1, s.alice, {}, {})).count == 2);
}

// Nodes racing on one database: each has its own connection.
CONTRACT_CASE(concurrent_syncs_and_approvals_on_separate_connections_agree) {
  CONTRACT_STORE;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  std::vector<std::unique_ptr<store>> stores;
  for (int n = 0; n < 3; ++n) stores.push_back(s.backend->open());
  const std::vector<listed_tool> listed{contract_listed("a"), contract_listed("b"), contract_listed("c")};
  std::vector<std::optional<result<std::vector<tool>>>> synced(stores.size());
  {
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (std::size_t n = 0; n < stores.size(); ++n) {
      threads.emplace_back([&, n] {
        while (!go.load()) std::this_thread::yield();
        synced[n].emplace(stores[n]->sync_tools(i.id, listed, at(10)));
      });
    }
    go.store(true);
    for (auto& th : threads) th.join();
  }
  for (const auto& r : synced) BOOST_TEST(error_of(*r) == "ok");
  const auto tools = must(s.db->list_tools(i.id, true));
  BOOST_TEST(contract_names(tools) == (std::vector<std::string>{"a", "b", "c"}), boost::test_tools::per_element());

  // Each approval change is recorded with the state it really changed from.
  const std::string_view states[] = {approval_approved, approval_do_not_use, approval_needs_approval};
  {
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (std::size_t n = 0; n < stores.size(); ++n) {
      threads.emplace_back([&, n] {
        while (!go.load()) std::this_thread::yield();
        for (std::size_t round = 0; round < 5; ++round) {
          const std::string_view to = states[(n + round) % 3];
          const auto record = [&](const tool& before) {
            audit_event e = contract_event(i, "tool_approval_changed", at(20), before.tool_name);
            e.detail = before.approval_state + ">" + std::string(to);
            return e;
          };
          must(stores[n]->set_tool_approval(i.id, "a", to, at(20), record));
        }
      });
    }
    go.store(true);
    for (auto& th : threads) th.join();
  }
  // The records chain from needs_approval to the state the tool ends in:
  // each changes something, and each state is left as often as it is
  // entered (the start once more, the end once less). A change made from a
  // state read before another connection's change (a lost update) breaks it.
  const auto events = must(s.db->list_audit_events(1, s.alice, {std::nullopt, "tool_approval_changed"}, {})).items;
  BOOST_TEST(!events.empty());
  std::map<std::string, int> left_minus_entered;
  for (const auto& e : events) {
    const auto arrow = e.detail.find('>');
    BOOST_REQUIRE(arrow != std::string::npos);
    const std::string from = e.detail.substr(0, arrow);
    const std::string to = e.detail.substr(arrow + 1);
    BOOST_TEST(from != to);
    ++left_minus_entered[from];
    --left_minus_entered[to];
  }
  const std::string end_state = must(s.db->list_tools(i.id, false)).at(0).approval_state;
  if (end_state != "needs_approval") {
    BOOST_TEST(left_minus_entered["needs_approval"] == 1);
    BOOST_TEST(left_minus_entered[end_state] == -1);
  }
  for (const auto& [state, balance] : left_minus_entered) {
    if (end_state == "needs_approval" || (state != "needs_approval" && state != end_state)) {
      BOOST_TEST(balance == 0, state);
    }
  }
}

CONTRACT_CASE(concurrent_first_uses_of_a_user_name_make_one_user) {
  auto backend = Backend::make();
  must(backend->open()->sync_projects({}));
  std::vector<std::unique_ptr<store>> stores;
  for (int n = 0; n < 4; ++n) stores.push_back(backend->open());
  std::vector<std::optional<result<user>>> made(stores.size());
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (std::size_t n = 0; n < stores.size(); ++n) {
    threads.emplace_back([&, n] {
      while (!go.load()) std::this_thread::yield();
      made[n].emplace(stores[n]->ensure_user("carol"));
    });
  }
  go.store(true);
  for (auto& th : threads) th.join();
  const auto id = must(std::move(*made[0])).id;
  for (auto& r : made) {
    BOOST_REQUIRE(error_of(*r) == "ok");
    BOOST_TEST((*r)->id == id);
  }
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(contract_audit)

CONTRACT_CASE(an_event_round_trips_newest_first) {
  CONTRACT_STORE;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  audit_event e = contract_event(i, "tool_call_blocked", at(5), "search");
  e.detail = R"({"state":"do_not_use"})";
  must(s.db->insert_audit_event(e));
  audit_event tie_low = contract_event(i, "installation_changed", at(9));
  audit_event tie_high = contract_event(i, "installation_changed", at(9));
  tie_low.id = "00000000-0000-7000-8000-0000000000a1";
  tie_high.id = "00000000-0000-7000-8000-0000000000b2";
  must(s.db->insert_audit_event(tie_low));
  must(s.db->insert_audit_event(tie_high));
  const auto got = must(s.db->list_audit_events(1, s.alice, {}, {}));
  BOOST_REQUIRE(got.items.size() == 3u);
  BOOST_TEST(got.items[0].id == tie_high.id);
  BOOST_TEST(got.items[1].id == tie_low.id);
  BOOST_TEST(tie_low.detail == "{}");
  BOOST_TEST(got.items[1].detail == "{}");
  BOOST_TEST(got.items[1].tool_name == "");
  const audit_event& r = got.items[2];
  BOOST_TEST(r.id == e.id);
  BOOST_TEST(r.environment_id == 1);
  BOOST_TEST(r.user_id == s.alice);
  BOOST_TEST(r.installation_id == i.id);
  BOOST_TEST(r.event_type == "tool_call_blocked");
  BOOST_TEST(r.tool_name == "search");
  BOOST_TEST(r.detail == e.detail);
  BOOST_TEST((r.created_at == at(5)));
}

CONTRACT_CASE(pages_filters_and_scope) {
  CONTRACT_STORE;
  const auto linear = s.add(s.alice, "https://linear.example/mcp");
  const auto github = s.add(s.alice, "https://github.example/mcp");
  const auto bobs = s.add(s.bob, "https://linear.example/mcp");
  const auto staging = s.add(s.alice, "https://linear.example/mcp", at(0), 2);
  std::vector<audit_event> batch;
  for (int n = 0; n < 12; ++n) {
    batch.push_back(contract_event(n % 2 == 0 ? linear : github, n % 3 == 0 ? "tool_call_blocked" : "tool_call",
                                   at(n)));
  }
  batch.push_back(contract_event(bobs, "tool_call", at(50)));
  batch.push_back(contract_event(staging, "tool_call", at(60)));
  must(s.db->insert_audit_events(batch));

  const auto first = must(s.db->list_audit_events(1, s.alice, {}, {5, 0}));
  BOOST_TEST(first.count == 12);
  BOOST_REQUIRE(first.items.size() == 5u);
  BOOST_TEST(first.items[0].id == batch[11].id);
  const auto last = must(s.db->list_audit_events(1, s.alice, {}, {5, 10}));
  BOOST_REQUIRE(last.items.size() == 2u);
  BOOST_TEST(last.items[1].id == batch[0].id);

  const auto by_linear = must(s.db->list_audit_events(1, s.alice, {linear.id, std::nullopt}, {}));
  BOOST_TEST(by_linear.count == 6);
  for (const auto& e : by_linear.items) BOOST_TEST(e.installation_id == linear.id);
  const auto blocked = must(s.db->list_audit_events(1, s.alice, {std::nullopt, "tool_call_blocked"}, {}));
  BOOST_TEST(blocked.count == 4);  // 0, 3, 6, 9
  const auto both = must(s.db->list_audit_events(1, s.alice, {linear.id, "tool_call_blocked"}, {1, 1}));
  BOOST_TEST(both.count == 2);  // 0, 6
  BOOST_REQUIRE(both.items.size() == 1u);
  BOOST_TEST(both.items[0].id == batch[0].id);

  BOOST_TEST(must(s.db->list_audit_events(1, s.bob, {}, {})).count == 1);
  BOOST_TEST(must(s.db->list_audit_events(2, s.alice, {}, {})).count == 1);
  BOOST_TEST(error_of(s.db->list_audit_events(1, s.alice, {}, {-1, 0})) == "invalid_argument");
  BOOST_TEST(error_of(s.db->list_audit_events(1, s.alice, {}, {10, -1})) == "invalid_argument");
}

CONTRACT_CASE(a_batch_is_written_whole_or_not_at_all) {
  CONTRACT_STORE;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->insert_audit_events({}));
  auto taken = contract_event(i, "tool_call", at(1));
  must(s.db->insert_audit_event(taken));
  BOOST_TEST(error_of(s.db->insert_audit_event(taken)) == "already_exists");
  const std::vector<audit_event> batch{contract_event(i, "tool_call", at(2)), taken,
                                       contract_event(i, "tool_call", at(3))};
  BOOST_TEST(error_of(s.db->insert_audit_events(batch)) == "already_exists");
  BOOST_TEST(must(s.db->list_audit_events(1, s.alice, {}, {})).count == 1);
  auto nowhere = contract_event(i, "tool_call", at(4));
  nowhere.environment_id = 99;
  BOOST_TEST(error_of(s.db->insert_audit_event(nowhere)) == "not_found");
  auto nobody = contract_event(i, "tool_call", at(4));
  nobody.user_id = s.bob + 100;
  BOOST_TEST(error_of(s.db->insert_audit_event(nobody)) == "not_found");
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(contract_oauth)

CONTRACT_CASE(a_client_round_trips_and_is_replaced) {
  CONTRACT_STORE;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  BOOST_TEST(error_of(s.db->get_oauth_client(i.id)) == "not_found");
  oauth_client c = contract_client(i);
  c.iss_parameter_supported = true;
  must(s.db->put_oauth_client(c));
  const oauth_client got = must(s.db->get_oauth_client(i.id));
  BOOST_TEST(got.installation_id == i.id);
  BOOST_TEST(got.issuer == c.issuer);
  BOOST_TEST(got.authorization_endpoint == c.authorization_endpoint);
  BOOST_TEST(got.token_endpoint == c.token_endpoint);
  BOOST_TEST(got.registration_endpoint == c.registration_endpoint);
  BOOST_TEST(got.resource == c.resource);
  BOOST_TEST(got.scope == c.scope);
  BOOST_TEST(got.client_id == c.client_id);
  BOOST_TEST(got.client_source == c.client_source);
  BOOST_TEST(got.token_endpoint_auth_method == c.token_endpoint_auth_method);
  BOOST_TEST(got.iss_parameter_supported);
  BOOST_TEST((got.created_at == c.created_at));
  oauth_client again = contract_client(i, "client-2");
  again.registration_endpoint = "";
  must(s.db->put_oauth_client(again));
  const oauth_client replaced = must(s.db->get_oauth_client(i.id));
  BOOST_TEST(replaced.client_id == "client-2");
  BOOST_TEST(replaced.registration_endpoint == "");
  BOOST_TEST(!replaced.iss_parameter_supported);
  oauth_client orphan = contract_client(i);
  orphan.installation_id = "no-such-id";
  BOOST_TEST(error_of(s.db->put_oauth_client(orphan)) == "not_found");
}

CONTRACT_CASE(a_state_is_unique_and_needs_its_installation) {
  CONTRACT_STORE;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->insert_oauth_state(contract_state(i, "h1")));
  BOOST_TEST(error_of(s.db->insert_oauth_state(contract_state(i, "h1"))) == "already_exists");
  oauth_state orphan = contract_state(i, "h2");
  orphan.installation_id = "no-such-id";
  BOOST_TEST(error_of(s.db->insert_oauth_state(orphan)) == "not_found");
}

CONTRACT_CASE(bind_binds_once_and_find_bound_changes_nothing) {
  CONTRACT_STORE;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  const oauth_state want = contract_state(i, "h1");
  must(s.db->insert_oauth_state(want));
  BOOST_TEST(error_of(s.db->find_bound_oauth_state("h1", "cookie", at(5))) == "not_found");
  BOOST_TEST(error_of(s.db->bind_oauth_state("h1", "", at(5))) == "invalid_argument");
  const oauth_state bound = must(s.db->bind_oauth_state("h1", "cookie", at(5)));
  BOOST_TEST(bound.binding_hash == "cookie");
  BOOST_TEST(bound.verifier_sealed == want.verifier_sealed);
  BOOST_TEST(bound.installation_id == i.id);
  BOOST_TEST(bound.environment_id == 1);
  BOOST_TEST(bound.user_id == s.alice);
  BOOST_TEST(bound.authorization_url == want.authorization_url);
  BOOST_TEST(bound.install_source == want.install_source);
  BOOST_TEST(bound.callback_url == want.callback_url);
  BOOST_TEST(bound.scope == want.scope);
  BOOST_TEST(bound.user_name == want.user_name);
  BOOST_TEST((bound.created_at == at(0)));
  BOOST_TEST((bound.expires_at == at(600)));
  BOOST_TEST(!bound.used_at.has_value());
  BOOST_TEST(error_of(s.db->bind_oauth_state("h1", "other", at(6))) == "not_found");
  BOOST_TEST(error_of(s.db->bind_oauth_state("unknown", "cookie", at(6))) == "not_found");
  BOOST_TEST(must(s.db->find_bound_oauth_state("h1", "cookie", at(7))).verifier_sealed == want.verifier_sealed);
  BOOST_TEST(error_of(s.db->find_bound_oauth_state("h1", "other", at(7))) == "not_found");
  BOOST_TEST(error_of(s.db->find_bound_oauth_state("h1", "", at(7))) == "not_found");
  BOOST_TEST(error_of(s.db->find_bound_oauth_state("h1", "cookie", at(600))) == "not_found");  // expired
  BOOST_TEST(must(s.db->find_bound_oauth_state("h1", "cookie", at(8))).binding_hash == "cookie");

  must(s.db->insert_oauth_state(contract_state(i, "h2")));
  BOOST_TEST(error_of(s.db->bind_oauth_state("h2", "cookie", at(600))) == "not_found");  // expired
}

CONTRACT_CASE(take_returns_the_state_as_it_was_once_and_only_to_its_browser) {
  CONTRACT_STORE;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->insert_oauth_state(contract_state(i, "h1")));
  BOOST_TEST(error_of(s.db->take_oauth_state("h1", "", at(5))) == "not_found");        // unbound
  BOOST_TEST(error_of(s.db->take_oauth_state("h1", "cookie", at(5))) == "not_found");  // not bound yet
  must(s.db->bind_oauth_state("h1", "cookie", at(5)));
  BOOST_TEST(error_of(s.db->take_oauth_state("h1", "cookie", at(6))) == "not_found");  // not confirmed yet
  BOOST_TEST(error_of(s.db->confirm_oauth_state("h1", "other", at(6))) == "not_found");
  BOOST_TEST(error_of(s.db->confirm_oauth_state("h1", "cookie", at(600))) == "not_found");  // expired
  BOOST_TEST((must(s.db->confirm_oauth_state("h1", "cookie", at(7))).confirmed_at == at(7)));
  BOOST_TEST((must(s.db->confirm_oauth_state("h1", "cookie", at(8))).confirmed_at == at(7)));  // the first stays
  BOOST_TEST(error_of(s.db->take_oauth_state("h1", "other", at(6))) == "not_found");
  BOOST_TEST(error_of(s.db->take_oauth_state("h1", "cookie", at(600))) == "not_found");  // expired
  // None of the refusals used it up.
  const oauth_state taken = must(s.db->take_oauth_state("h1", "cookie", at(10)));
  BOOST_TEST(taken.state_hash == "h1");
  BOOST_TEST(!taken.used_at.has_value());
  BOOST_TEST(taken.verifier_sealed == contract_state(i, "h1").verifier_sealed);
  BOOST_TEST(taken.scope == "read write admin");
  BOOST_TEST(error_of(s.db->take_oauth_state("h1", "cookie", at(11))) == "not_found");
  BOOST_TEST(error_of(s.db->find_bound_oauth_state("h1", "cookie", at(11))) == "not_found");
  BOOST_TEST(error_of(s.db->bind_oauth_state("h1", "cookie", at(11))) == "not_found");
  BOOST_TEST(error_of(s.db->confirm_oauth_state("h1", "cookie", at(11))) == "not_found");  // used
}

CONTRACT_CASE(a_step_up_widens_only_the_scope_of_the_client_it_was_made_with) {
  CONTRACT_STORE;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  oauth_client c;
  c.installation_id = i.id;
  c.issuer = "https://as.example";
  c.authorization_endpoint = "https://as.example/authorize";
  c.token_endpoint = "https://as.example/token";
  c.resource = i.url;
  c.scope = "read";
  c.client_id = "first";
  c.client_source = "dynamic";
  c.created_at = at(1);
  must(s.db->put_oauth_client(c));
  must(s.db->set_oauth_client_scope(i.id, "first", "read write"));
  BOOST_TEST(must(s.db->get_oauth_client(i.id)).scope == "read write");
  BOOST_TEST(error_of(s.db->set_oauth_client_scope(i.id, "replaced", "x")) == "not_found");
  BOOST_TEST(must(s.db->get_oauth_client(i.id)).scope == "read write");
}

CONTRACT_CASE(of_concurrent_takers_on_separate_connections_exactly_one_wins) {
  CONTRACT_STORE;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  for (int round = 0; round < 5; ++round) {
    const std::string hash = "h" + std::to_string(round);
    must(s.db->insert_oauth_state(contract_state(i, hash)));
    must(s.db->bind_oauth_state(hash, "cookie", at(5)));
    must(s.db->confirm_oauth_state(hash, "cookie", at(5)));
  }
  std::vector<std::unique_ptr<store>> stores;
  for (int n = 0; n < 4; ++n) stores.push_back(s.backend->open());
  for (int round = 0; round < 5; ++round) {
    const std::string hash = "h" + std::to_string(round);
    std::vector<std::optional<result<oauth_state>>> taken(stores.size());
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (std::size_t n = 0; n < stores.size(); ++n) {
      threads.emplace_back([&, n] {
        while (!go.load()) std::this_thread::yield();
        taken[n].emplace(stores[n]->take_oauth_state(hash, "cookie", at(10)));
      });
    }
    go.store(true);
    for (auto& th : threads) th.join();
    int won = 0;
    for (const auto& r : taken) {
      if (error_of(*r) == "ok") {
        ++won;
      } else {
        BOOST_TEST(error_of(*r) == "not_found");
      }
    }
    BOOST_TEST(won == 1);
  }
}

CONTRACT_CASE(delete_expired_removes_only_states_expired_before_the_time) {
  CONTRACT_STORE;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  for (int n = 0; n < 3; ++n) {
    oauth_state st = contract_state(i, "h" + std::to_string(n));
    st.expires_at = at(100 * (n + 1));
    must(s.db->insert_oauth_state(st));
  }
  BOOST_TEST(must(s.db->delete_expired_oauth_states(at(250))) == 2);
  BOOST_TEST(must(s.db->delete_expired_oauth_states(at(250))) == 0);
  must(s.db->bind_oauth_state("h2", "cookie", at(1)));
}

CONTRACT_CASE(a_grant_is_stored_rotated_and_cleared) {
  CONTRACT_STORE;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->set_needs_reauth(i.id, true, "The refresh token was refused."));
  BOOST_TEST(s.reread(i).reauth_reason == "The refresh token was refused.");
  must(s.db->store_grant(i.id, std::string("acc\0ess", 7), "refresh-1", at(10), at(3610)));
  installation got = s.reread(i);
  BOOST_TEST(!got.needs_reauth);
  BOOST_TEST(got.reauth_reason == "");
  BOOST_TEST(got.has_credential);
  BOOST_TEST(got.refreshable);
  BOOST_TEST((got.token_issued_at == std::optional(at(10))));
  BOOST_TEST((got.token_expires_at == std::optional(at(3610))));
  BOOST_TEST((got.updated_at == at(10)));
  BOOST_TEST((must(s.db->get_secret(i.id, "access_token")) == std::string("acc\0ess", 7)));
  // No refresh token in the answer, no expiry: the stored refresh token stays.
  must(s.db->store_grant(i.id, "access-2", "", at(20), std::nullopt));
  got = s.reread(i);
  BOOST_TEST(!got.token_expires_at.has_value());
  BOOST_TEST(must(s.db->get_secret(i.id, "refresh_token")) == "refresh-1");
  BOOST_TEST(must(s.db->get_secret(i.id, "access_token")) == "access-2");
  must(s.db->store_grant(i.id, "access-3", "refresh-2", at(30), at(90)));
  BOOST_TEST(must(s.db->get_secret(i.id, "refresh_token")) == "refresh-2");

  must(s.db->put_secret(i.id, "client_secret", "cs"));
  must(s.db->clear_grant(i.id, true));
  got = s.reread(i);
  BOOST_TEST(got.needs_reauth);
  BOOST_TEST(!got.has_credential);
  BOOST_TEST(!got.refreshable);
  BOOST_TEST(!got.token_issued_at.has_value());
  BOOST_TEST(!got.token_expires_at.has_value());
  BOOST_TEST(error_of(s.db->get_secret(i.id, "access_token")) == "not_found");
  BOOST_TEST(error_of(s.db->get_secret(i.id, "refresh_token")) == "not_found");
  BOOST_TEST(must(s.db->get_secret(i.id, "client_secret")) == "cs");
}

CONTRACT_CASE(grant_errors_are_named_and_change_nothing) {
  CONTRACT_STORE;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  BOOST_TEST(error_of(s.db->store_grant(i.id, "", "r", at(1), std::nullopt)) == "invalid_argument");
  BOOST_TEST(error_of(s.db->store_grant("no-such-id", "a", "r", at(1), std::nullopt)) == "not_found");
  BOOST_TEST(error_of(s.db->get_secret("no-such-id", "access_token")) == "not_found");
  BOOST_TEST(error_of(s.db->clear_grant("no-such-id", true)) == "not_found");
  BOOST_TEST(error_of(s.db->set_needs_reauth("no-such-id", true)) == "not_found");
  BOOST_TEST(!s.reread(i).has_credential);
}

CONTRACT_CASE(needs_reauth_keeps_its_reason_until_cleared) {
  CONTRACT_STORE;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->set_needs_reauth(i.id, true, "Sign in again."));
  installation got = s.reread(i);
  BOOST_TEST(got.needs_reauth);
  BOOST_TEST(got.reauth_reason == "Sign in again.");
  must(s.db->set_needs_reauth(i.id, true));
  BOOST_TEST(s.reread(i).reauth_reason == "");
  must(s.db->set_needs_reauth(i.id, true, "Again."));
  must(s.db->set_needs_reauth(i.id, false, "ignored"));
  got = s.reread(i);
  BOOST_TEST(!got.needs_reauth);
  BOOST_TEST(got.reauth_reason == "");
  BOOST_TEST((got.updated_at == i.updated_at));
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
// PostgreSQL only: what the SQLite tests check with their raw connection, and
// a database that goes away and comes back.
BOOST_AUTO_TEST_SUITE(postgres_only)

// Runs `sql` on a connection of its own; the first column of the first row.
std::string contract_pg_sql(const std::string& conninfo, const char* sql) {
  std::unique_ptr<PGconn, decltype(&PQfinish)> c(PQconnectdb(conninfo.c_str()), &PQfinish);
  BOOST_REQUIRE_MESSAGE(PQstatus(c.get()) == CONNECTION_OK, PQerrorMessage(c.get()));
  std::unique_ptr<PGresult, decltype(&PQclear)> r(PQexec(c.get(), sql), &PQclear);
  const auto status = PQresultStatus(r.get());
  BOOST_REQUIRE_MESSAGE(status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK, PQresultErrorMessage(r.get()));
  return PQntuples(r.get()) > 0 ? PQgetvalue(r.get(), 0, 0) : "";
}

BOOST_AUTO_TEST_CASE(the_schema_has_the_tables_and_one_version_row) {
  contract_postgres_backend b;
  b.open();
  BOOST_TEST(contract_pg_sql(b.conninfo,
                             "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables"
                             " WHERE schemaname = 'public'") ==
             "api_keys,audit_events,environments,installation_secrets,installations,oauth_clients,oauth_states,"
             "projects,schema_version,tools,users");
  BOOST_TEST(contract_pg_sql(b.conninfo, "SELECT count(*) || ':' || max(version) FROM schema_version") ==
             "1:" + std::to_string(latest_schema));
}

BOOST_AUTO_TEST_CASE(a_schema_newer_than_the_build_is_refused) {
  contract_postgres_backend b;
  b.open();
  contract_pg_sql(b.conninfo, "UPDATE schema_version SET version = 99");
  BOOST_TEST(error_of(open_postgres_store(contract_pg_options(b.conninfo))) == "store_failure");
}

// PostgreSQL's TEXT cannot hold a NUL (SQLite's can): refused, not cut short.
BOOST_AUTO_TEST_CASE(a_text_with_a_nul_is_an_invalid_argument) {
  contract_store s(contract_postgres::make());
  const auto i = s.add(s.alice, "https://a.example/mcp");
  BOOST_TEST(error_of(s.db->sync_tools(i.id, {contract_listed(std::string("a\0b", 3))}, at(1))) == "invalid_argument");
  BOOST_TEST(must(s.db->list_tools(i.id, true)).empty());
  // Sealed bytes are BYTEA: any byte goes.
  must(s.db->put_secret(i.id, "api_key", std::string("a\0b", 3)));
}

BOOST_AUTO_TEST_CASE(an_unreachable_database_fails_at_once) {
  postgres_options options;
  options.conninfo = "host=/nonexistent-folder port=5432 dbname=x user=x";
  const auto started = std::chrono::steady_clock::now();
  BOOST_TEST(error_of(open_postgres_store(options)) == "store_failure");
  BOOST_TEST((std::chrono::steady_clock::now() - started < std::chrono::seconds(3)));
}

BOOST_AUTO_TEST_CASE(a_statement_past_the_timeout_fails) {
  contract_postgres_backend b;
  postgres_options options = contract_pg_options(b.conninfo);
  options.statement_timeout = std::chrono::milliseconds(200);
  auto db = must(open_postgres_store(options));
  const user u = must(db->ensure_user("alice"));
  // Another connection holds the users table: ensure_user's insert waits for
  // the lock until the statement timeout.
  std::unique_ptr<PGconn, decltype(&PQfinish)> holder(PQconnectdb(b.conninfo.c_str()), &PQfinish);
  BOOST_REQUIRE(PQstatus(holder.get()) == CONNECTION_OK);
  PQclear(PQexec(holder.get(), "BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE"));
  const auto started = std::chrono::steady_clock::now();
  BOOST_TEST(error_of(db->ensure_user("bob")) == "store_failure");
  BOOST_TEST((std::chrono::steady_clock::now() - started < std::chrono::seconds(3)));
  PQclear(PQexec(holder.get(), "ROLLBACK"));
  BOOST_TEST(must(db->ensure_user("alice")).id == u.id);
}

BOOST_AUTO_TEST_CASE(a_lost_database_fails_fast_and_the_store_reconnects) {
  contract_postgres_backend b;
  auto db = b.open();
  auto other = b.open();
  const user u = must(db->ensure_user("alice"));
  auto& server = test::postgres_server::shared();
  server.stop();
  const auto started = std::chrono::steady_clock::now();
  BOOST_TEST(error_of(db->ensure_user("alice")) == "store_failure");
  BOOST_TEST(error_of(db->check_ready()) == "store_failure");
  BOOST_TEST(error_of(db->list_api_keys()) == "store_failure");
  BOOST_TEST(error_of(db->schema_version()) == "store_failure");
  BOOST_TEST((std::chrono::steady_clock::now() - started < std::chrono::seconds(3)));
  server.start();
  must(db->check_ready());
  BOOST_TEST(must(db->ensure_user("alice")).id == u.id);
  // A connection that saw nothing of it notices at its next call.
  BOOST_TEST(must(other->ensure_user("alice")).id == u.id);
  BOOST_TEST(must(other->list_api_keys()).empty());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace mcpgate::registry
