// OAuth in the SQLite store: schema version 3 on new and version 2 files,
// find_installation_by_url, the cached OAuth client, authorization-flow states
// (insert, bind, take once, expiry housekeeping), grants (store, rotate,
// clear, needs_reauth) and what delete_installation takes with it.
#include "store_fixture.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace mcpgate::registry {
namespace {

using namespace fixture;

oauth_client client_of(const installation& i, std::string client_id = "client-1") {
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
oauth_state state_of(const installation& i, std::string hash) {
  oauth_state s;
  s.state_hash = std::move(hash);
  s.installation_id = i.id;
  s.environment_id = i.environment_id;
  s.user_id = i.user_id;
  s.verifier_sealed = std::string("sealed\0verifier", 15);  // bytes, NUL included
  s.authorization_url = "https://as.example/authorize?client_id=client-1";
  s.install_source = "posthog-code";
  s.callback_url = "posthog-code://callback";
  s.created_at = at(0);
  s.expires_at = at(600);
  return s;
}

void check_same(const oauth_state& got, const oauth_state& want) {
  BOOST_TEST(got.state_hash == want.state_hash);
  BOOST_TEST(got.installation_id == want.installation_id);
  BOOST_TEST(got.environment_id == want.environment_id);
  BOOST_TEST(got.user_id == want.user_id);
  BOOST_TEST(got.verifier_sealed == want.verifier_sealed);
  BOOST_TEST(got.authorization_url == want.authorization_url);
  BOOST_TEST(got.binding_hash == want.binding_hash);
  BOOST_TEST(got.install_source == want.install_source);
  BOOST_TEST(got.callback_url == want.callback_url);
  BOOST_TEST((got.created_at == want.created_at));
  BOOST_TEST((got.expires_at == want.expires_at));
  BOOST_TEST((got.used_at == want.used_at));
}

installation reread(seeded& s, const installation& i) {
  return must(s.db->get_installation(i.environment_id, i.user_id, i.id));
}

std::string count_of(const std::string& path, const std::string& sql) { return raw_sql(path, sql.c_str()).at(0); }

// ---------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(schema_v3)

constexpr const char* schema_sql =
    "SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_master ORDER BY name";

BOOST_AUTO_TEST_CASE(a_new_file_is_at_version_3_with_the_oauth_tables) {
  temp_db t;
  BOOST_TEST(must(t.open()->schema_version()) == latest_schema);
  const auto tables = raw_sql(t.path, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name");
  BOOST_TEST(std::count(tables.begin(), tables.end(), "oauth_clients") == 1);
  BOOST_TEST(std::count(tables.begin(), tables.end(), "oauth_states") == 1);
  BOOST_TEST(raw_sql(t.path,
                     "SELECT name FROM pragma_index_list('oauth_states')"
                     " WHERE name = 'oauth_states_by_expiry'")
                 .size() == 1u);
  BOOST_TEST(raw_sql(t.path,
                     "SELECT name FROM pragma_table_info('installations')"
                     " WHERE name IN ('token_issued_at', 'token_expires_at')")
                 .size() == 2u);
}

BOOST_AUTO_TEST_CASE(a_version_2_file_is_migrated_and_keeps_its_data) {
  temp_db fresh;
  fresh.open();
  const auto expected_schema = raw_sql(fresh.path, schema_sql);

  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->put_secret(i.id, "api_key", "sealed"));
  listed_tool t;
  t.name = "search";
  t.input_schema = R"({"type":"object"})";
  t.annotations = "{}";
  must(s.db->sync_tools(i.id, {t}, at(5)));
  s.db.reset();
  // Back to exactly what migration 2 left (shipped migrations are never edited).
  raw_sql(s.path, undo_migration_7);
  raw_sql(s.path, undo_migration_6);
  raw_sql(s.path, undo_migration_5);
  raw_sql(s.path, undo_migration_4);
  raw_sql(s.path,
          "DROP TABLE oauth_states; DROP TABLE oauth_clients;"
          " ALTER TABLE installations DROP COLUMN token_expires_at;"
          " ALTER TABLE installations DROP COLUMN token_issued_at;"
          " UPDATE schema_version SET version = 2");
  BOOST_TEST(count_of(s.path, "SELECT count(*) FROM sqlite_master WHERE name LIKE 'oauth%'") == "0");

  auto db = s.open();
  BOOST_TEST(must(db->schema_version()) == latest_schema);
  BOOST_TEST(raw_sql(s.path, schema_sql) == expected_schema, boost::test_tools::per_element());
  const installation got = must(db->get_installation(1, s.alice, i.id));
  BOOST_TEST(got.url == "https://a.example/mcp");
  BOOST_TEST(got.has_credential);
  BOOST_TEST(got.tool_count == 1);
  BOOST_TEST(!got.token_issued_at.has_value());
  BOOST_TEST(!got.token_expires_at.has_value());
  BOOST_TEST(must(db->get_secret(i.id, "api_key")) == "sealed");
  // The new tables work on the migrated file.
  must(db->put_oauth_client(client_of(i)));
  must(db->store_grant(i.id, "access", "refresh", at(10), at(3610)));

  db.reset();
  auto reopened = s.open();
  BOOST_TEST(must(reopened->schema_version()) == latest_schema);
  BOOST_TEST(must(reopened->get_oauth_client(i.id)).client_id == "client-1");
  BOOST_TEST((must(reopened->get_installation(1, s.alice, i.id)).token_issued_at == at(10)));
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(installation_by_url)

BOOST_AUTO_TEST_CASE(finds_the_callers_installation_of_a_url) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  s.add(s.alice, "https://b.example/mcp");
  const installation got = must(s.db->find_installation_by_url(1, s.alice, i.url));
  BOOST_TEST(got.id == i.id);
  BOOST_TEST(got.url == i.url);
  BOOST_TEST(!got.token_issued_at.has_value());
  BOOST_TEST(!got.token_expires_at.has_value());
}

BOOST_AUTO_TEST_CASE(another_users_or_environments_url_is_not_found) {
  seeded s;
  s.add(s.bob, "https://bob.example/mcp");
  s.add(s.alice, "https://staging.example/mcp", 2);
  BOOST_TEST(error_of(s.db->find_installation_by_url(1, s.alice, "https://bob.example/mcp")) == "not_found");
  BOOST_TEST(error_of(s.db->find_installation_by_url(1, s.alice, "https://staging.example/mcp")) == "not_found");
  // Exact match only.
  BOOST_TEST(error_of(s.db->find_installation_by_url(1, s.bob, "https://bob.example/mcp/")) == "not_found");
  BOOST_TEST(must(s.db->find_installation_by_url(1, s.bob, "https://bob.example/mcp")).user_id == s.bob);
}

BOOST_AUTO_TEST_CASE(token_times_given_at_insert_are_read_back) {
  seeded s;
  installation i;
  i.id = new_uuid_v7();
  i.environment_id = 1;
  i.user_id = s.alice;
  i.url = "https://a.example/mcp";
  i.auth_type = "oauth";
  i.token_issued_at = at(1);
  i.token_expires_at = at(2);
  must(s.db->insert_installation(i));
  const installation got = reread(s, i);
  BOOST_TEST((got.token_issued_at == at(1)));
  BOOST_TEST((got.token_expires_at == at(2)));
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(oauth_clients)

BOOST_AUTO_TEST_CASE(put_then_get_returns_every_field) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  oauth_client c = client_of(i);
  c.token_endpoint_auth_method = "client_secret_post";
  c.registration_endpoint = "";
  c.scope = "";
  must(s.db->put_oauth_client(c));
  const oauth_client got = must(s.db->get_oauth_client(i.id));
  BOOST_TEST(got.installation_id == i.id);
  BOOST_TEST(got.issuer == c.issuer);
  BOOST_TEST(got.authorization_endpoint == c.authorization_endpoint);
  BOOST_TEST(got.token_endpoint == c.token_endpoint);
  BOOST_TEST(got.registration_endpoint == "");
  BOOST_TEST(got.resource == i.url);
  BOOST_TEST(got.scope == "");
  BOOST_TEST(got.client_id == "client-1");
  BOOST_TEST(got.client_source == "dynamic");
  BOOST_TEST(got.token_endpoint_auth_method == "client_secret_post");
  BOOST_TEST((got.created_at == at(1)));
}

BOOST_AUTO_TEST_CASE(put_replaces_the_previous_client) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->put_oauth_client(client_of(i, "first")));
  oauth_client second = client_of(i, "second");
  second.issuer = "https://other-as.example";
  second.client_source = "template";
  second.created_at = at(50);
  must(s.db->put_oauth_client(second));
  const oauth_client got = must(s.db->get_oauth_client(i.id));
  BOOST_TEST(got.client_id == "second");
  BOOST_TEST(got.issuer == "https://other-as.example");
  BOOST_TEST(got.client_source == "template");
  BOOST_TEST((got.created_at == at(50)));
  BOOST_TEST(count_of(s.path, "SELECT count(*) FROM oauth_clients") == "1");
}

BOOST_AUTO_TEST_CASE(get_without_a_client_is_not_found) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  BOOST_TEST(error_of(s.db->get_oauth_client(i.id)) == "not_found");
  BOOST_TEST(error_of(s.db->get_oauth_client("no-such-installation")) == "not_found");
}

BOOST_AUTO_TEST_CASE(put_for_an_unknown_installation_is_not_found) {
  seeded s;
  installation ghost;
  ghost.id = new_uuid_v7();
  BOOST_TEST(error_of(s.db->put_oauth_client(client_of(ghost))) == "not_found");
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(oauth_states)

BOOST_AUTO_TEST_CASE(a_state_hash_is_unique) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->insert_oauth_state(state_of(i, "h1")));
  BOOST_TEST(error_of(s.db->insert_oauth_state(state_of(i, "h1"))) == "already_exists");
}

BOOST_AUTO_TEST_CASE(insert_for_an_unknown_installation_is_not_found) {
  seeded s;
  installation ghost;
  ghost.id = new_uuid_v7();
  ghost.environment_id = 1;
  ghost.user_id = s.alice;
  BOOST_TEST(error_of(s.db->insert_oauth_state(state_of(ghost, "h1"))) == "not_found");
}

BOOST_AUTO_TEST_CASE(bind_binds_once_and_returns_the_bound_state) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  oauth_state want = state_of(i, "h1");
  must(s.db->insert_oauth_state(want));
  const oauth_state bound = must(s.db->bind_oauth_state("h1", "cookie-1", at(10)));
  must(s.db->confirm_oauth_state("h1", "cookie-1", at(10)));
  want.binding_hash = "cookie-1";
  check_same(bound, want);
  // Already bound: neither another browser nor the same one can bind again.
  BOOST_TEST(error_of(s.db->bind_oauth_state("h1", "cookie-2", at(11))) == "not_found");
  BOOST_TEST(error_of(s.db->bind_oauth_state("h1", "cookie-1", at(11))) == "not_found");
  // The first binding stays.
  BOOST_TEST(must(s.db->take_oauth_state("h1", "cookie-1", at(12))).binding_hash == "cookie-1");
}

BOOST_AUTO_TEST_CASE(bind_refuses_unknown_expired_and_used_states) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  BOOST_TEST(error_of(s.db->bind_oauth_state("unknown", "cookie", at(10))) == "not_found");

  must(s.db->insert_oauth_state(state_of(i, "expiring")));
  // expires_at is at(600): at that instant the state has expired.
  BOOST_TEST(error_of(s.db->bind_oauth_state("expiring", "cookie", at(600))) == "not_found");
  BOOST_TEST(error_of(s.db->bind_oauth_state("expiring", "cookie", at(700))) == "not_found");
  BOOST_TEST(must(s.db->bind_oauth_state("expiring", "cookie", at(599))).binding_hash == "cookie");
  must(s.db->confirm_oauth_state("expiring", "cookie", at(599)));

  must(s.db->insert_oauth_state(state_of(i, "used")));
  must(s.db->bind_oauth_state("used", "cookie", at(9)));
  must(s.db->confirm_oauth_state("used", "cookie", at(9)));
  must(s.db->take_oauth_state("used", "cookie", at(10)));
  BOOST_TEST(error_of(s.db->bind_oauth_state("used", "cookie", at(11))) == "not_found");
}

BOOST_AUTO_TEST_CASE(bind_to_an_empty_binding_is_refused) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->insert_oauth_state(state_of(i, "h1")));
  BOOST_TEST(error_of(s.db->bind_oauth_state("h1", "", at(10))) == "invalid_argument");
  BOOST_TEST(must(s.db->bind_oauth_state("h1", "cookie", at(10))).binding_hash == "cookie");
  must(s.db->confirm_oauth_state("h1", "cookie", at(10)));
}

BOOST_AUTO_TEST_CASE(take_returns_the_state_as_it_was_and_only_once) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  oauth_state want = state_of(i, "h1");
  must(s.db->insert_oauth_state(want));
  must(s.db->bind_oauth_state("h1", "cookie", at(20)));
  must(s.db->confirm_oauth_state("h1", "cookie", at(20)));
  want.binding_hash = "cookie";
  const oauth_state taken = must(s.db->take_oauth_state("h1", "cookie", at(30)));
  check_same(taken, want);  // used_at still unset: the state as it was before
  BOOST_TEST(count_of(s.path, "SELECT used_at FROM oauth_states WHERE state_hash = 'h1'") ==
             std::to_string(to_unix_micros(at(30))));
  BOOST_TEST(error_of(s.db->take_oauth_state("h1", "cookie", at(31))) == "not_found");
  BOOST_TEST(error_of(s.db->take_oauth_state("unknown", "cookie", at(31))) == "not_found");
}

BOOST_AUTO_TEST_CASE(take_refuses_unbound_expired_and_other_browsers_states_and_leaves_them) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->insert_oauth_state(state_of(i, "h1")));                                    // expires at(600)
  BOOST_TEST(error_of(s.db->take_oauth_state("h1", "cookie", at(10))) == "not_found");  // unbound
  BOOST_TEST(error_of(s.db->take_oauth_state("h1", "", at(10))) == "not_found");
  must(s.db->bind_oauth_state("h1", "cookie", at(20)));
  must(s.db->confirm_oauth_state("h1", "cookie", at(20)));
  BOOST_TEST(error_of(s.db->take_oauth_state("h1", "", at(30))) == "not_found");
  BOOST_TEST(error_of(s.db->take_oauth_state("h1", "other-cookie", at(30))) == "not_found");
  BOOST_TEST(error_of(s.db->take_oauth_state("h1", "cookie", at(600))) == "not_found");  // expired at that instant
  BOOST_TEST(count_of(s.path, "SELECT count(*) FROM oauth_states WHERE used_at IS NULL") == "1");
  // None of the refusals used it up: its browser, in time, still can.
  BOOST_TEST(must(s.db->take_oauth_state("h1", "cookie", at(599))).state_hash == "h1");
}

BOOST_AUTO_TEST_CASE(of_concurrent_takers_on_separate_connections_exactly_one_wins) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->insert_oauth_state(state_of(i, "h1")));
  must(s.db->bind_oauth_state("h1", "cookie", at(5)));
  must(s.db->confirm_oauth_state("h1", "cookie", at(5)));
  s.db.reset();
  std::vector<std::optional<result<oauth_state>>> taken(4);
  {
    std::vector<std::unique_ptr<store>> stores;
    for (std::size_t n = 0; n < taken.size(); ++n) stores.push_back(s.open());
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (std::size_t n = 0; n < taken.size(); ++n) {
      threads.emplace_back([&, n] {
        while (!go.load()) std::this_thread::yield();
        taken[n].emplace(stores[n]->take_oauth_state("h1", "cookie", at(10)));
      });
    }
    go.store(true);
    for (auto& th : threads) th.join();
  }
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

BOOST_AUTO_TEST_CASE(delete_expired_removes_only_states_expired_before_the_time) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  for (const auto& [hash, expires] :
       std::vector<std::pair<std::string, std::int64_t>>{{"a", 100}, {"b", 200}, {"c", 300}}) {
    oauth_state st = state_of(i, hash);
    st.expires_at = at(expires);
    must(s.db->insert_oauth_state(st));
  }
  must(s.db->bind_oauth_state("a", "cookie", at(40)));
  must(s.db->confirm_oauth_state("a", "cookie", at(40)));
  must(s.db->take_oauth_state("a", "cookie", at(50)));  // used or not, expiry decides

  BOOST_TEST(must(s.db->delete_expired_oauth_states(at(100))) == 0);  // a expires at, not before
  BOOST_TEST(must(s.db->delete_expired_oauth_states(at(201))) == 2);
  BOOST_TEST(must(s.db->delete_expired_oauth_states(at(201))) == 0);
  BOOST_TEST(raw_sql(s.path, "SELECT state_hash FROM oauth_states") == std::vector<std::string>{"c"},
             boost::test_tools::per_element());
  BOOST_TEST(error_of(s.db->bind_oauth_state("b", "cookie", at(10))) == "not_found");
  must(s.db->bind_oauth_state("c", "cookie", at(10)));
  must(s.db->confirm_oauth_state("c", "cookie", at(10)));
  BOOST_TEST(must(s.db->take_oauth_state("c", "cookie", at(10))).state_hash == "c");
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(grants)

BOOST_AUTO_TEST_CASE(store_grant_stores_tokens_and_times_and_clears_needs_reauth) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->set_needs_reauth(i.id, true));
  BOOST_TEST(!reread(s, i).has_credential);

  must(s.db->store_grant(i.id, "sealed-access", "sealed-refresh", at(100), at(3700)));
  const installation got = reread(s, i);
  BOOST_TEST(got.has_credential);
  BOOST_TEST(!got.needs_reauth);
  BOOST_TEST((got.token_issued_at == at(100)));
  BOOST_TEST((got.token_expires_at == at(3700)));
  BOOST_TEST((got.updated_at == at(100)));
  BOOST_TEST((got.created_at == at(0)));
  BOOST_TEST(must(s.db->get_secret(i.id, "access_token")) == "sealed-access");
  BOOST_TEST(must(s.db->get_secret(i.id, "refresh_token")) == "sealed-refresh");
}

BOOST_AUTO_TEST_CASE(a_grant_without_expiry_has_no_expiry_time) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->store_grant(i.id, "a1", "r1", at(100), at(3700)));
  must(s.db->store_grant(i.id, "a2", "", at(200), std::nullopt));
  const installation got = reread(s, i);
  BOOST_TEST((got.token_issued_at == at(200)));
  BOOST_TEST(!got.token_expires_at.has_value());
}

BOOST_AUTO_TEST_CASE(an_empty_refresh_token_keeps_the_stored_one) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->store_grant(i.id, "a1", "r1", at(100), at(3700)));
  must(s.db->store_grant(i.id, "a2", "", at(200), at(3800)));
  BOOST_TEST(must(s.db->get_secret(i.id, "access_token")) == "a2");
  BOOST_TEST(must(s.db->get_secret(i.id, "refresh_token")) == "r1");
  // A returned one replaces it (rotation).
  must(s.db->store_grant(i.id, "a3", "r3", at(300), at(3900)));
  BOOST_TEST(must(s.db->get_secret(i.id, "access_token")) == "a3");
  BOOST_TEST(must(s.db->get_secret(i.id, "refresh_token")) == "r3");
  BOOST_TEST((reread(s, i).token_issued_at == at(300)));
}

BOOST_AUTO_TEST_CASE(a_first_grant_without_refresh_token_stores_none) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->store_grant(i.id, "a1", "", at(100), at(3700)));
  BOOST_TEST(must(s.db->get_secret(i.id, "access_token")) == "a1");
  BOOST_TEST(error_of(s.db->get_secret(i.id, "refresh_token")) == "not_found");
}

BOOST_AUTO_TEST_CASE(store_grant_for_a_gone_installation_is_not_found_and_stores_nothing) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->delete_installation(1, s.alice, i.id));
  BOOST_TEST(error_of(s.db->store_grant(i.id, "a1", "r1", at(100), at(3700))) == "not_found");
  BOOST_TEST(count_of(s.path, "SELECT count(*) FROM installation_secrets") == "0");
}

BOOST_AUTO_TEST_CASE(store_grant_refuses_an_empty_access_token) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  BOOST_TEST(error_of(s.db->store_grant(i.id, "", "r1", at(100), at(3700))) == "invalid_argument");
  BOOST_TEST(error_of(s.db->get_secret(i.id, "refresh_token")) == "not_found");
}

BOOST_AUTO_TEST_CASE(clear_grant_forgets_tokens_and_times_and_sets_needs_reauth) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->store_grant(i.id, "a1", "r1", at(100), at(3700)));
  must(s.db->clear_grant(i.id, true));
  installation got = reread(s, i);
  BOOST_TEST(!got.has_credential);
  BOOST_TEST(got.needs_reauth);
  BOOST_TEST(!got.token_issued_at.has_value());
  BOOST_TEST(!got.token_expires_at.has_value());
  BOOST_TEST(error_of(s.db->get_secret(i.id, "access_token")) == "not_found");
  BOOST_TEST(error_of(s.db->get_secret(i.id, "refresh_token")) == "not_found");

  must(s.db->store_grant(i.id, "a2", "r2", at(200), at(3800)));
  must(s.db->clear_grant(i.id, false));
  got = reread(s, i);
  BOOST_TEST(!got.needs_reauth);
  BOOST_TEST(!got.has_credential);
}

BOOST_AUTO_TEST_CASE(clear_grant_keeps_other_secrets) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->put_secret(i.id, "client_secret", "sealed-client-secret"));
  must(s.db->store_grant(i.id, "a1", "r1", at(100), at(3700)));
  must(s.db->clear_grant(i.id, true));
  BOOST_TEST(must(s.db->get_secret(i.id, "client_secret")) == "sealed-client-secret");
}

BOOST_AUTO_TEST_CASE(clear_grant_and_set_needs_reauth_of_an_unknown_installation_are_not_found) {
  seeded s;
  BOOST_TEST(error_of(s.db->clear_grant("no-such-installation", true)) == "not_found");
  BOOST_TEST(error_of(s.db->set_needs_reauth("no-such-installation", true)) == "not_found");
}

BOOST_AUTO_TEST_CASE(set_needs_reauth_sets_and_clears_only_the_flag) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->store_grant(i.id, "a1", "r1", at(100), at(3700)));
  must(s.db->set_needs_reauth(i.id, true));
  installation got = reread(s, i);
  BOOST_TEST(got.needs_reauth);
  BOOST_TEST(got.has_credential);
  BOOST_TEST((got.token_expires_at == at(3700)));
  must(s.db->set_needs_reauth(i.id, true));  // setting it again is no error
  must(s.db->set_needs_reauth(i.id, false));
  got = reread(s, i);
  BOOST_TEST(!got.needs_reauth);
  BOOST_TEST(must(s.db->get_secret(i.id, "refresh_token")) == "r1");
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(deleting_an_installation)

BOOST_AUTO_TEST_CASE(removes_its_oauth_client_states_and_grant) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  const auto other = s.add(s.alice, "https://b.example/mcp");
  must(s.db->put_oauth_client(client_of(i)));
  must(s.db->put_oauth_client(client_of(other)));
  must(s.db->insert_oauth_state(state_of(i, "h1")));
  must(s.db->insert_oauth_state(state_of(i, "h2")));
  must(s.db->insert_oauth_state(state_of(other, "h3")));
  must(s.db->bind_oauth_state("h2", "cookie", at(10)));
  must(s.db->confirm_oauth_state("h2", "cookie", at(10)));
  must(s.db->store_grant(i.id, "a1", "r1", at(100), at(3700)));

  must(s.db->delete_installation(1, s.alice, i.id));
  BOOST_TEST(error_of(s.db->get_oauth_client(i.id)) == "not_found");
  BOOST_TEST(error_of(s.db->bind_oauth_state("h1", "cookie", at(20))) == "not_found");
  BOOST_TEST(error_of(s.db->take_oauth_state("h2", "cookie", at(20))) == "not_found");
  BOOST_TEST(error_of(s.db->get_secret(i.id, "access_token")) == "not_found");
  BOOST_TEST(error_of(s.db->get_secret(i.id, "refresh_token")) == "not_found");
  BOOST_TEST(count_of(s.path, "SELECT count(*) FROM oauth_states") == "1");
  BOOST_TEST(count_of(s.path, "SELECT count(*) FROM oauth_clients") == "1");
  // The other installation's are untouched.
  BOOST_TEST(must(s.db->get_oauth_client(other.id)).installation_id == other.id);
  must(s.db->bind_oauth_state("h3", "cookie", at(20)));
  must(s.db->confirm_oauth_state("h3", "cookie", at(20)));
  BOOST_TEST(must(s.db->take_oauth_state("h3", "cookie", at(20))).installation_id == other.id);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
// Migration 6 (issue 17): why re-authentication is needed, RFC 9207 support
// of the AS, a flow's own scope and user name, the confirm page's lookup.
BOOST_AUTO_TEST_SUITE(schema_v6)

BOOST_AUTO_TEST_CASE(a_version_5_file_is_migrated_and_its_rows_get_the_defaults) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->put_oauth_client(client_of(i)));
  must(s.db->insert_oauth_state(state_of(i, "h1")));
  must(s.db->store_grant(i.id, "a1", "r1", at(100), at(3700)));
  s.db.reset();
  raw_sql(s.path, undo_migration_7);
  raw_sql(s.path, undo_migration_6);
  BOOST_TEST(count_of(s.path, "SELECT count(*) FROM pragma_table_info('oauth_states') WHERE name = 'scope'") == "0");

  auto db = s.open();
  BOOST_TEST(must(db->schema_version()) == latest_schema);
  BOOST_TEST(!must(db->get_oauth_client(i.id)).iss_parameter_supported);
  const installation got = must(db->get_installation(1, s.alice, i.id));
  BOOST_TEST(got.reauth_reason == "");
  BOOST_TEST(got.refreshable);
  const oauth_state st = must(db->bind_oauth_state("h1", "cookie", at(10)));
  must(db->confirm_oauth_state("h1", "cookie", at(10)));
  BOOST_TEST(st.scope == "");
  BOOST_TEST(st.user_name == "");
}

BOOST_AUTO_TEST_CASE(the_iss_flag_scope_and_user_name_are_kept) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  oauth_client c = client_of(i);
  c.iss_parameter_supported = true;
  must(s.db->put_oauth_client(c));
  BOOST_TEST(must(s.db->get_oauth_client(i.id)).iss_parameter_supported);
  c.iss_parameter_supported = false;
  must(s.db->put_oauth_client(c));  // a new discovery replaces it
  BOOST_TEST(!must(s.db->get_oauth_client(i.id)).iss_parameter_supported);

  oauth_state want = state_of(i, "h1");
  want.scope = "read write offline_access";
  want.user_name = "alice";
  must(s.db->insert_oauth_state(want));
  const oauth_state bound = must(s.db->bind_oauth_state("h1", "cookie", at(10)));
  must(s.db->confirm_oauth_state("h1", "cookie", at(10)));
  BOOST_TEST(bound.scope == "read write offline_access");
  BOOST_TEST(bound.user_name == "alice");
}

BOOST_AUTO_TEST_CASE(find_bound_reads_the_browsers_unused_state_and_changes_nothing) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->insert_oauth_state(state_of(i, "h1")));                                          // expires at(600)
  BOOST_TEST(error_of(s.db->find_bound_oauth_state("h1", "cookie", at(10))) == "not_found");  // unbound
  must(s.db->bind_oauth_state("h1", "cookie", at(10)));
  must(s.db->confirm_oauth_state("h1", "cookie", at(10)));
  BOOST_TEST(must(s.db->find_bound_oauth_state("h1", "cookie", at(20))).binding_hash == "cookie");
  BOOST_TEST(must(s.db->find_bound_oauth_state("h1", "cookie", at(21))).state_hash == "h1");  // again
  BOOST_TEST(error_of(s.db->find_bound_oauth_state("h1", "other", at(20))) == "not_found");
  BOOST_TEST(error_of(s.db->find_bound_oauth_state("h1", "", at(20))) == "not_found");
  BOOST_TEST(error_of(s.db->find_bound_oauth_state("h1", "cookie", at(600))) == "not_found");  // expired
  BOOST_TEST(error_of(s.db->find_bound_oauth_state("unknown", "cookie", at(20))) == "not_found");
  // Nothing was used up: the callback still takes it, once; then it is gone.
  must(s.db->take_oauth_state("h1", "cookie", at(30)));
  BOOST_TEST(error_of(s.db->find_bound_oauth_state("h1", "cookie", at(31))) == "not_found");
}

BOOST_AUTO_TEST_CASE(only_a_confirmed_state_can_be_taken_and_only_its_browser_confirms) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->insert_oauth_state(state_of(i, "h1")));                                       // expires at(600)
  BOOST_TEST(error_of(s.db->confirm_oauth_state("h1", "cookie", at(10))) == "not_found");  // unbound
  must(s.db->bind_oauth_state("h1", "cookie", at(10)));
  // Bound but not confirmed: the callback cannot take it.
  BOOST_TEST(error_of(s.db->take_oauth_state("h1", "cookie", at(11))) == "not_found");
  BOOST_TEST(error_of(s.db->confirm_oauth_state("h1", "other", at(12))) == "not_found");
  BOOST_TEST(error_of(s.db->confirm_oauth_state("h1", "", at(12))) == "not_found");
  BOOST_TEST(error_of(s.db->confirm_oauth_state("h1", "cookie", at(600))) == "not_found");  // expired
  BOOST_TEST(!must(s.db->find_bound_oauth_state("h1", "cookie", at(12))).confirmed_at.has_value());
  BOOST_TEST((must(s.db->confirm_oauth_state("h1", "cookie", at(13))).confirmed_at == at(13)));
  BOOST_TEST((must(s.db->confirm_oauth_state("h1", "cookie", at(14))).confirmed_at == at(13)));  // the first stays
  BOOST_TEST(must(s.db->take_oauth_state("h1", "cookie", at(15))).state_hash == "h1");
  BOOST_TEST(error_of(s.db->confirm_oauth_state("h1", "cookie", at(16))) == "not_found");  // used
}

BOOST_AUTO_TEST_CASE(a_step_up_widens_the_scope_of_the_client_it_was_made_with_only) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->put_oauth_client(client_of(i, "first")));
  must(s.db->set_oauth_client_scope(i.id, "first", "read write admin"));
  BOOST_TEST(must(s.db->get_oauth_client(i.id)).scope == "read write admin");
  // The client was replaced in the meantime: nothing changes.
  BOOST_TEST(error_of(s.db->set_oauth_client_scope(i.id, "gone", "x")) == "not_found");
  BOOST_TEST(must(s.db->get_oauth_client(i.id)).scope == "read write admin");
  BOOST_TEST(error_of(s.db->set_oauth_client_scope("no-such-installation", "first", "x")) == "not_found");
}

BOOST_AUTO_TEST_CASE(a_reason_goes_with_needs_reauth_and_a_new_grant_clears_both) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->store_grant(i.id, "a1", "", at(100), at(3700)));
  BOOST_TEST(!reread(s, i).refreshable);  // no refresh token came with it
  must(s.db->set_needs_reauth(i.id, true, "The authorization server refused to refresh"));
  installation got = reread(s, i);
  BOOST_TEST(got.needs_reauth);
  BOOST_TEST(got.reauth_reason == "The authorization server refused to refresh");
  must(s.db->set_needs_reauth(i.id, false, "ignored when clearing"));
  got = reread(s, i);
  BOOST_TEST(!got.needs_reauth);
  BOOST_TEST(got.reauth_reason == "");
  must(s.db->set_needs_reauth(i.id, true, "again"));
  must(s.db->store_grant(i.id, "a2", "r2", at(200), at(3800)));
  got = reread(s, i);
  BOOST_TEST(!got.needs_reauth);
  BOOST_TEST(got.reauth_reason == "");
  BOOST_TEST(got.refreshable);
  // clear_grant forgets the refresh token too, and an old reason.
  must(s.db->set_needs_reauth(i.id, true, "old"));
  must(s.db->clear_grant(i.id, true));
  BOOST_TEST(!reread(s, i).refreshable);
  BOOST_TEST(reread(s, i).needs_reauth);
  BOOST_TEST(reread(s, i).reauth_reason == "");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace mcpgate::registry
