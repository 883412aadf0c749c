// The installation's protocol_version in the SQLite store: NULL until a tools
// sync records the revision the upstream spoke, written in the same
// transaction as the tools, and schema version 5 on new and version 4 files.
#include "store_fixture.hpp"

#include <boost/test/unit_test.hpp>

#include <optional>
#include <string>
#include <vector>

namespace mcpgate::registry::protocol_version_test {
namespace {

using namespace fixture;

listed_tool tool_named(std::string name) {
  listed_tool t;
  t.name = std::move(name);
  t.input_schema = R"({"type":"object"})";
  t.annotations = "{}";
  return t;
}

// The version as every read of the installation reports it, checked to agree.
std::optional<std::string> version_of(seeded& s, const installation& i) {
  const auto got = must(s.db->get_installation(i.environment_id, i.user_id, i.id)).protocol_version;
  const auto by_url = must(s.db->find_installation_by_url(i.environment_id, i.user_id, i.url)).protocol_version;
  const auto listed = must(s.db->list_installations(i.environment_id, i.user_id, {})).items.at(0).protocol_version;
  BOOST_TEST((by_url == got));
  BOOST_TEST((listed == got));
  return got;
}

constexpr const char* schema_sql =
    "SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_master ORDER BY name";

// ---------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(installation_protocol_version)

BOOST_AUTO_TEST_CASE(a_new_installation_has_none) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  BOOST_TEST(!version_of(s, i).has_value());
}

BOOST_AUTO_TEST_CASE(a_sync_records_the_version_it_was_given_and_leaves_updated_at) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->sync_tools(i.id, {tool_named("a")}, "2026-07-28", at(10)));
  BOOST_TEST(version_of(s, i).value_or("<null>") == "2026-07-28");
  const auto got = must(s.db->get_installation(1, s.alice, i.id));
  BOOST_TEST(got.tool_count == 1);
  BOOST_TEST((got.updated_at == i.updated_at));

  // The upstream went back to the handshake: the next sync says so.
  must(s.db->sync_tools(i.id, {tool_named("a")}, "2025-06-18", at(20)));
  BOOST_TEST(version_of(s, i).value_or("<null>") == "2025-06-18");
}

BOOST_AUTO_TEST_CASE(a_sync_without_a_version_keeps_the_recorded_one) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->sync_tools(i.id, {tool_named("a")}, "2026-07-28", at(10)));
  must(s.db->sync_tools(i.id, {tool_named("a"), tool_named("b")}, at(20)));
  BOOST_TEST(version_of(s, i).value_or("<null>") == "2026-07-28");
  BOOST_TEST(must(s.db->get_installation(1, s.alice, i.id)).tool_count == 2);
}

BOOST_AUTO_TEST_CASE(a_failed_sync_records_no_version) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->sync_tools(i.id, {tool_named("a")}, "2025-06-18", at(10)));
  raw_sql(s.path,
          "CREATE TRIGGER refuse_boom BEFORE INSERT ON tools WHEN NEW.tool_name = 'boom'"
          " BEGIN SELECT RAISE(ABORT, 'refused'); END");
  BOOST_TEST(error_of(s.db->sync_tools(i.id, {tool_named("a"), tool_named("boom")}, "2026-07-28", at(20))) ==
             "store_failure");
  BOOST_TEST(version_of(s, i).value_or("<null>") == "2025-06-18");
}

BOOST_AUTO_TEST_CASE(the_sync_of_another_installation_leaves_this_one_alone) {
  seeded s;
  const auto mine = s.add(s.alice, "https://a.example/mcp");
  const auto theirs = s.add(s.bob, "https://a.example/mcp");
  must(s.db->sync_tools(theirs.id, {tool_named("a")}, "2026-07-28", at(10)));
  BOOST_TEST(!version_of(s, mine).has_value());
  BOOST_TEST(version_of(s, theirs).value_or("<null>") == "2026-07-28");
}

BOOST_AUTO_TEST_CASE(an_inserted_version_round_trips) {
  seeded s;
  installation i;
  i.id = new_uuid_v7();
  i.environment_id = 1;
  i.user_id = s.alice;
  i.url = "https://b.example/mcp";
  i.protocol_version = "2025-03-26";
  i.created_at = i.updated_at = at(0);
  must(s.db->insert_installation(i));
  BOOST_TEST(version_of(s, i).value_or("<null>") == "2025-03-26");
}

BOOST_AUTO_TEST_CASE(a_version_4_file_is_migrated_and_its_installations_have_none_yet) {
  temp_db fresh;
  fresh.open();
  const auto expected_schema = raw_sql(fresh.path, schema_sql);

  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->put_secret(i.id, "api_key", "sealed"));
  must(s.db->sync_tools(i.id, {tool_named("search")}, at(5)));
  s.db.reset();
  // Back to exactly what migration 4 left (shipped migrations are never edited).
  raw_sql(s.path, undo_migration_7);
  raw_sql(s.path, undo_migration_6);
  raw_sql(s.path, undo_migration_5);
  BOOST_TEST(raw_sql(s.path,
                     "SELECT count(*) FROM pragma_table_info('installations')"
                     " WHERE name = 'protocol_version'")
                 .at(0) == "0");

  s.db = s.open();
  BOOST_TEST(must(s.db->schema_version()) == latest_schema);
  BOOST_TEST(raw_sql(s.path, schema_sql) == expected_schema, boost::test_tools::per_element());
  const installation got = must(s.db->get_installation(1, s.alice, i.id));
  BOOST_TEST(got.url == "https://a.example/mcp");
  BOOST_TEST(got.has_credential);
  BOOST_TEST(got.tool_count == 1);
  BOOST_TEST(!got.protocol_version.has_value());

  // The column works on the migrated file, and the version outlives a reopen.
  must(s.db->sync_tools(i.id, {tool_named("search")}, "2026-07-28", at(10)));
  s.db.reset();
  s.db = s.open();
  BOOST_TEST(must(s.db->schema_version()) == latest_schema);
  BOOST_TEST(version_of(s, i).value_or("<null>") == "2026-07-28");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace mcpgate::registry::protocol_version_test
