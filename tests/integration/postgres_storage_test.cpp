// The daemon on PostgreSQL (issue 18): storage.postgres in the config, a
// database of the test's own PostgreSQL server (tests/support), and what a
// user sees: the API works, and what one gateway process stored a second one
// on the same database serves. Not yet: several nodes at once (the cluster
// tests of issue 18).
#include "fake_upstream.hpp"

#include "support/postgres_server.hpp"

#include <boost/test/unit_test.hpp>

using namespace mcpgate::it;

namespace {

gateway_options on_postgres(const std::string& conninfo) {
  gateway_options o;
  o.extra_yaml = "storage:\n  postgres: { conninfo: \"" + conninfo + "\", statement_timeout: 5s }\n";
  return o;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(postgres_storage)

BOOST_AUTO_TEST_CASE(a_gateway_on_postgresql_serves_what_an_earlier_process_stored) {
  const std::string conninfo = mcpgate::test::postgres_server::shared().create_database();
  api_key key;
  std::string id;
  {
    gateway first(on_postgres(conninfo));
    key = first.create_key("alice", "*");
    auto alice = first.client(key);
    const json::object created = create_url(alice, p1, "https://pg.example.com/mcp");
    id = id_of(created);
    BOOST_TEST(string_of(created, "url") == "https://pg.example.com/mcp");
    BOOST_TEST(count_of(alice, p1) == 1);
    // Nothing went to a SQLite file.
    BOOST_TEST(!fs::exists(first.data_dir() / "mcpgate.db"));
  }
  // Another process (its own data folder) on the same database: the key and
  // the installation are there.
  gateway second(on_postgres(conninfo));
  auto alice = second.client(key);
  const reply got = alice.get(item_of(p1, id));
  BOOST_TEST_REQUIRE(got.status == 200u, got);
  BOOST_TEST(string_of(got.json(), "url") == "https://pg.example.com/mcp", got);
  BOOST_TEST(alice.get("/readyz").status == 200u);
  // A database of its own per test: another one is empty.
  gateway elsewhere(on_postgres(mcpgate::test::postgres_server::shared().create_database()));
  BOOST_TEST(elsewhere.client(elsewhere.create_key("alice", "*")).get(p1).json().at("count") == json::value(0));
}

BOOST_AUTO_TEST_SUITE_END()
