// The tools of an installation in the SQLite store: sync_tools (every rule of
// an upstream's tools/list applied), list_tools, set_tool_approval, the
// installation's tool_count, and the schema version 2 tables on new and
// existing files.
#include "store_fixture.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <string>
#include <vector>

namespace mcpgate::registry {
namespace {

using namespace fixture;

listed_tool listed(std::string name, std::string title = "", std::string description = "") {
  listed_tool t;
  t.name = std::move(name);
  t.title = std::move(title);
  t.description = std::move(description);
  t.input_schema = R"({"type":"object"})";
  t.annotations = "{}";
  return t;
}

std::vector<std::string> names(const std::vector<tool>& tools) {
  std::vector<std::string> out;
  for (const auto& t : tools) out.push_back(t.tool_name);
  return out;
}

const tool& find(const std::vector<tool>& tools, std::string_view name) {
  const auto it = std::find_if(tools.begin(), tools.end(), [&](const tool& t) { return t.tool_name == name; });
  BOOST_REQUIRE_MESSAGE(it != tools.end(), "no tool " << name);
  return *it;
}

// The tool_count every read of the installation reports, checked to agree.
std::int64_t tool_count(seeded& s, const installation& i) {
  const auto got = must(s.db->get_installation(i.environment_id, i.user_id, i.id)).tool_count;
  const auto listed_page = must(s.db->list_installations(i.environment_id, i.user_id, {}));
  const auto it = std::find_if(listed_page.items.begin(), listed_page.items.end(), [&](const installation& x) {
    return x.id == i.id;
  });
  BOOST_REQUIRE(it != listed_page.items.end());
  BOOST_TEST(it->tool_count == got);
  return got;
}

// ---------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(tools_sync)

BOOST_AUTO_TEST_CASE(new_tools_are_added_as_needs_approval) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  BOOST_TEST(tool_count(s, i) == 0);
  listed_tool search = listed("search", "Search issues", "Finds issues");
  search.input_schema = R"({"type":"object","properties":{"q":{"type":"string"}}})";
  search.annotations = R"({"readOnlyHint":true})";
  const auto tools = must(s.db->sync_tools(i.id, {search, listed("create")}, at(10)));

  BOOST_TEST(names(tools) == (std::vector<std::string>{"create", "search"}), boost::test_tools::per_element());
  const tool& t = find(tools, "search");
  BOOST_TEST(t.id.size() == 36u);
  BOOST_TEST(t.id[14] == '7');  // UUIDv7
  BOOST_TEST(t.id != find(tools, "create").id);
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
  BOOST_TEST(tool_count(s, i) == 2);

  // What sync returned is what is stored.
  const auto stored = must(s.db->list_tools(i.id, false));
  BOOST_REQUIRE(stored.size() == 2u);
  BOOST_TEST(stored[1].id == t.id);
  BOOST_TEST(stored[1].input_schema == t.input_schema);
}

BOOST_AUTO_TEST_CASE(known_tools_keep_their_state_and_get_the_new_metadata) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  const auto first = must(s.db->sync_tools(i.id, {listed("search", "Old", "old")}, at(10)));
  must(s.db->set_tool_approval(i.id, "search", approval_approved, at(15)));

  listed_tool changed = listed("search", "New", "new");
  changed.input_schema = R"({"type":"object","required":["q"]})";
  changed.annotations = R"({"title":"New"})";
  const auto tools = must(s.db->sync_tools(i.id, {changed}, at(20)));
  BOOST_REQUIRE(tools.size() == 1u);
  const tool& t = tools[0];
  BOOST_TEST(t.id == first[0].id);
  BOOST_TEST(t.approval_state == "approved");
  BOOST_TEST(t.display_name == "New");
  BOOST_TEST(t.description == "new");
  BOOST_TEST(t.input_schema == changed.input_schema);
  BOOST_TEST(t.annotations == changed.annotations);
  BOOST_TEST((t.last_seen_at == at(20)));
  BOOST_TEST((t.updated_at == at(20)));
  BOOST_TEST((t.created_at == at(10)));
  BOOST_TEST(!t.removed_at.has_value());
  BOOST_TEST(tool_count(s, i) == 1);
}

BOOST_AUTO_TEST_CASE(an_unchanged_tool_only_moves_last_seen_at) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->sync_tools(i.id, {listed("search", "Search")}, at(10)));
  const auto tools = must(s.db->sync_tools(i.id, {listed("search", "Search")}, at(20)));
  BOOST_REQUIRE(tools.size() == 1u);
  BOOST_TEST((tools[0].last_seen_at == at(20)));
  BOOST_TEST((tools[0].updated_at == at(10)));
}

BOOST_AUTO_TEST_CASE(a_tool_no_longer_listed_is_removed_and_keeps_its_state) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->sync_tools(i.id, {listed("a"), listed("b", "Bee")}, at(10)));
  must(s.db->set_tool_approval(i.id, "b", approval_do_not_use, at(12)));
  BOOST_TEST(tool_count(s, i) == 2);

  const auto tools = must(s.db->sync_tools(i.id, {listed("a")}, at(20)));
  BOOST_TEST(names(tools) == (std::vector<std::string>{"a", "b"}), boost::test_tools::per_element());
  const tool& b = find(tools, "b");
  BOOST_REQUIRE(b.removed_at.has_value());
  BOOST_TEST((*b.removed_at == at(20)));
  BOOST_TEST((b.updated_at == at(20)));
  BOOST_TEST((b.last_seen_at == at(10)));
  BOOST_TEST(b.approval_state == "do_not_use");
  BOOST_TEST(b.display_name == "Bee");
  BOOST_TEST(!find(tools, "a").removed_at.has_value());
  BOOST_TEST(tool_count(s, i) == 1);

  // Still absent: removed_at and updated_at stay as they were.
  const auto again = must(s.db->sync_tools(i.id, {listed("a")}, at(30)));
  const tool& b2 = find(again, "b");
  BOOST_REQUIRE(b2.removed_at.has_value());
  BOOST_TEST((*b2.removed_at == at(20)));
  BOOST_TEST((b2.updated_at == at(20)));
  BOOST_TEST(tool_count(s, i) == 1);
}

BOOST_AUTO_TEST_CASE(a_tool_that_comes_back_is_no_longer_removed) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  const auto first = must(s.db->sync_tools(i.id, {listed("a"), listed("b")}, at(10)));
  must(s.db->set_tool_approval(i.id, "b", approval_approved, at(11)));
  must(s.db->sync_tools(i.id, {listed("a")}, at(20)));
  BOOST_TEST(tool_count(s, i) == 1);

  const auto tools = must(s.db->sync_tools(i.id, {listed("b"), listed("a")}, at(30)));
  const tool& b = find(tools, "b");
  BOOST_TEST(!b.removed_at.has_value());
  BOOST_TEST(b.id == find(first, "b").id);
  BOOST_TEST(b.approval_state == "approved");
  BOOST_TEST((b.last_seen_at == at(30)));
  BOOST_TEST((b.updated_at == at(30)));
  BOOST_TEST((b.created_at == at(10)));
  BOOST_TEST(tool_count(s, i) == 2);
}

BOOST_AUTO_TEST_CASE(an_empty_list_removes_every_tool) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->sync_tools(i.id, {listed("a"), listed("b")}, at(10)));
  const auto tools = must(s.db->sync_tools(i.id, {}, at(20)));
  BOOST_REQUIRE(tools.size() == 2u);
  for (const auto& t : tools) BOOST_TEST(t.removed_at.has_value());
  BOOST_TEST(tool_count(s, i) == 0);
  BOOST_TEST(must(s.db->list_tools(i.id, false)).empty());
  BOOST_TEST(must(s.db->list_tools(i.id, true)).size() == 2u);
}

BOOST_AUTO_TEST_CASE(a_name_listed_twice_takes_the_first) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  const auto tools = must(s.db->sync_tools(i.id, {listed("a", "first"), listed("b"), listed("a", "second")}, at(10)));
  BOOST_TEST(names(tools) == (std::vector<std::string>{"a", "b"}), boost::test_tools::per_element());
  BOOST_TEST(find(tools, "a").display_name == "first");
  BOOST_TEST(tool_count(s, i) == 2);

  // The same for a known name.
  const auto again = must(s.db->sync_tools(i.id, {listed("a", "third"), listed("a", "fourth"), listed("b")}, at(20)));
  BOOST_TEST(find(again, "a").display_name == "third");
}

BOOST_AUTO_TEST_CASE(tools_are_ordered_by_name_byte_for_byte) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  std::vector<std::string> unordered{"b", "\xc3\xa4pfel", "B", "a b", "_x", "a", "Z9", "a_b"};
  std::vector<listed_tool> tools_listed;
  for (const auto& n : unordered) tools_listed.push_back(listed(n));
  auto expected = unordered;
  std::sort(expected.begin(), expected.end());  // std::string compares bytes as unsigned char
  BOOST_TEST(expected.front() == "B");
  BOOST_TEST(expected.back() == "\xc3\xa4pfel");

  BOOST_TEST(names(must(s.db->sync_tools(i.id, tools_listed, at(10)))) == expected, boost::test_tools::per_element());
  BOOST_TEST(names(must(s.db->list_tools(i.id, false))) == expected, boost::test_tools::per_element());
  // Removed ones interleave in the same order when asked for.
  must(s.db->sync_tools(i.id, {listed("a"), listed("b")}, at(20)));
  BOOST_TEST(names(must(s.db->list_tools(i.id, true))) == expected, boost::test_tools::per_element());
  BOOST_TEST(names(must(s.db->list_tools(i.id, false))) == (std::vector<std::string>{"a", "b"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(each_installation_has_its_own_tools) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  const auto j = s.add(s.bob, "https://a.example/mcp");
  const auto mine = must(s.db->sync_tools(i.id, {listed("search"), listed("create")}, at(10)));
  const auto theirs = must(s.db->sync_tools(j.id, {listed("search")}, at(10)));
  BOOST_TEST(find(mine, "search").id != find(theirs, "search").id);
  must(s.db->set_tool_approval(j.id, "search", approval_approved, at(11)));
  BOOST_TEST(find(must(s.db->list_tools(i.id, false)), "search").approval_state == "needs_approval");
  BOOST_TEST(tool_count(s, i) == 2);
  BOOST_TEST(tool_count(s, j) == 1);
  // The schema itself keeps a name unique within an installation.
  BOOST_TEST(raw_sql(s.path,
                     "SELECT count(*) FROM pragma_index_list('tools') i"
                     " JOIN pragma_index_info(i.name) c"
                     " WHERE i.\"unique\" = 1 AND i.origin = 'u'"
                     " AND c.name IN ('installation_id', 'tool_name')")
                 .at(0) == "2");
}

BOOST_AUTO_TEST_CASE(tool_count_shows_on_update_and_list) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->sync_tools(i.id, {listed("a"), listed("b"), listed("c")}, at(10)));
  must(s.db->sync_tools(i.id, {listed("a"), listed("c")}, at(20)));
  installation_patch patch;
  patch.is_enabled = false;
  BOOST_TEST(must(s.db->update_installation(1, s.alice, i.id, patch, at(30))).tool_count == 2);
  BOOST_TEST(must(s.db->list_installations(1, s.alice, {})).items.at(0).tool_count == 2);
}

BOOST_AUTO_TEST_CASE(sync_leaves_the_installation_record_alone) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->sync_tools(i.id, {listed("a")}, at(10)));
  const auto got = must(s.db->get_installation(1, s.alice, i.id));
  BOOST_TEST((got.updated_at == i.updated_at));
  BOOST_TEST(got.display_name == i.display_name);
}

BOOST_AUTO_TEST_CASE(sync_of_an_unknown_or_deleted_installation_is_not_found) {
  seeded s;
  BOOST_TEST(error_of(s.db->sync_tools("no-such-id", {listed("a")}, at(10))) == "not_found");
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->delete_installation(1, s.alice, i.id));
  BOOST_TEST(error_of(s.db->sync_tools(i.id, {listed("a")}, at(10))) == "not_found");
  BOOST_TEST(raw_sql(s.path, "SELECT count(*) FROM tools").at(0) == "0");
}

BOOST_AUTO_TEST_CASE(a_failed_sync_changes_nothing) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->sync_tools(i.id, {listed("a", "A"), listed("b")}, at(10)));
  // Make the database refuse one insert, after the sync already changed rows.
  raw_sql(s.path,
          "CREATE TRIGGER refuse_boom BEFORE INSERT ON tools WHEN NEW.tool_name = 'boom'"
          " BEGIN SELECT RAISE(ABORT, 'refused'); END");
  BOOST_TEST(error_of(s.db->sync_tools(i.id, {listed("a", "A2"), listed("new"), listed("boom")}, at(20))) ==
             "store_failure");
  const auto tools = must(s.db->list_tools(i.id, true));
  BOOST_TEST(names(tools) == (std::vector<std::string>{"a", "b"}), boost::test_tools::per_element());
  BOOST_TEST(find(tools, "a").display_name == "A");
  BOOST_TEST((find(tools, "a").last_seen_at == at(10)));
  BOOST_TEST(!find(tools, "b").removed_at.has_value());
  BOOST_TEST(tool_count(s, i) == 2);
}

BOOST_AUTO_TEST_CASE(list_tools_of_an_installation_without_tools_is_empty) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  BOOST_TEST(must(s.db->list_tools(i.id, true)).empty());
  BOOST_TEST(must(s.db->list_tools("no-such-id", true)).empty());
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(tools_approval)

BOOST_AUTO_TEST_CASE(set_tool_approval_returns_the_previous_state) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  const auto synced = must(s.db->sync_tools(i.id, {listed("search", "Search")}, at(10)));

  const tool before = must(s.db->set_tool_approval(i.id, "search", approval_approved, at(20)));
  BOOST_TEST(before.approval_state == "needs_approval");
  BOOST_TEST(before.id == synced[0].id);
  BOOST_TEST(before.display_name == "Search");
  BOOST_TEST((before.updated_at == at(10)));
  const tool now = must(s.db->list_tools(i.id, false)).at(0);
  BOOST_TEST(now.approval_state == "approved");
  BOOST_TEST((now.updated_at == at(20)));
  BOOST_TEST((now.last_seen_at == at(10)));

  BOOST_TEST(must(s.db->set_tool_approval(i.id, "search", approval_do_not_use, at(30))).approval_state == "approved");
  BOOST_TEST(must(s.db->set_tool_approval(i.id, "search", approval_needs_approval, at(40))).approval_state ==
             "do_not_use");
  BOOST_TEST(must(s.db->list_tools(i.id, false)).at(0).approval_state == "needs_approval");
}

BOOST_AUTO_TEST_CASE(setting_the_state_a_tool_has_changes_nothing) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->sync_tools(i.id, {listed("search")}, at(10)));
  must(s.db->set_tool_approval(i.id, "search", approval_approved, at(20)));
  const tool before = must(s.db->set_tool_approval(i.id, "search", approval_approved, at(30)));
  BOOST_TEST(before.approval_state == "approved");
  const tool now = must(s.db->list_tools(i.id, false)).at(0);
  BOOST_TEST(now.approval_state == "approved");
  BOOST_TEST((now.updated_at == at(20)));
}

BOOST_AUTO_TEST_CASE(a_removed_tool_may_be_set_and_stays_removed) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->sync_tools(i.id, {listed("a"), listed("gone")}, at(10)));
  must(s.db->sync_tools(i.id, {listed("a")}, at(20)));
  BOOST_TEST(must(s.db->set_tool_approval(i.id, "gone", approval_do_not_use, at(30))).approval_state ==
             "needs_approval");
  const tool gone = find(must(s.db->list_tools(i.id, true)), "gone");
  BOOST_TEST(gone.approval_state == "do_not_use");
  BOOST_TEST(gone.removed_at.has_value());
  BOOST_TEST(tool_count(s, i) == 1);
}

BOOST_AUTO_TEST_CASE(an_unknown_tool_is_not_found) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  const auto j = s.add(s.alice, "https://b.example/mcp");
  must(s.db->sync_tools(j.id, {listed("search")}, at(10)));
  BOOST_TEST(error_of(s.db->set_tool_approval(i.id, "search", approval_approved, at(20))) == "not_found");
  BOOST_TEST(error_of(s.db->set_tool_approval(j.id, "Search", approval_approved, at(20))) == "not_found");
  BOOST_TEST(error_of(s.db->set_tool_approval("no-such-id", "search", approval_approved, at(20))) == "not_found");
  BOOST_TEST(must(s.db->list_tools(j.id, false)).at(0).approval_state == "needs_approval");
}

BOOST_AUTO_TEST_CASE(a_state_that_is_not_one_of_the_three_is_an_invalid_argument) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->sync_tools(i.id, {listed("search")}, at(10)));
  for (const char* bad : {"", "Approved", "approved ", "denied"}) {
    BOOST_TEST(error_of(s.db->set_tool_approval(i.id, "search", bad, at(20))) == "invalid_argument");
  }
  // Checked before the tool is looked up.
  BOOST_TEST(error_of(s.db->set_tool_approval(i.id, "nope", "denied", at(20))) == "invalid_argument");
  const tool t = must(s.db->list_tools(i.id, false)).at(0);
  BOOST_TEST(t.approval_state == "needs_approval");
  BOOST_TEST((t.updated_at == at(10)));
}

BOOST_AUTO_TEST_CASE(deleting_the_installation_deletes_its_tools_only) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  const auto j = s.add(s.alice, "https://b.example/mcp");
  must(s.db->sync_tools(i.id, {listed("a"), listed("b")}, at(10)));
  must(s.db->sync_tools(i.id, {listed("a")}, at(11)));  // a removed one too
  must(s.db->sync_tools(j.id, {listed("a")}, at(10)));
  must(s.db->delete_installation(1, s.alice, i.id));
  BOOST_TEST(must(s.db->list_tools(i.id, true)).empty());
  BOOST_TEST(must(s.db->list_tools(j.id, true)).size() == 1u);
  BOOST_TEST(raw_sql(s.path, "SELECT count(*) FROM tools").at(0) == "1");
  BOOST_TEST(error_of(s.db->set_tool_approval(i.id, "a", approval_approved, at(20))) == "not_found");
}

// The change and its audit record are one transaction: a record that cannot
// be written undoes the change, and a change is never kept without it.
BOOST_AUTO_TEST_CASE(an_approval_change_and_its_audit_record_are_one_transaction) {
  seeded s;
  const auto i = s.add(s.alice, "https://a.example/mcp");
  must(s.db->sync_tools(i.id, {listed("search")}, at(10)));
  const auto record = [&](const std::string& id) {
    return [&, id](const tool& before) {
      audit_event e;
      e.id = id;
      e.environment_id = 1;
      e.user_id = s.alice;
      e.installation_id = i.id;
      e.event_type = "tool_approval_changed";
      e.tool_name = before.tool_name;
      e.detail = R"({"from":")" + before.approval_state + R"(","to":"approved"})";
      e.created_at = at(20);
      return e;
    };
  };
  const tool before = must(s.db->set_tool_approval(i.id, "search", approval_approved, at(20), record("audit-1")));
  BOOST_TEST(before.approval_state == "needs_approval");
  BOOST_TEST(raw_sql(s.path, "SELECT detail FROM audit_events WHERE id = 'audit-1'").at(0) ==
             R"({"from":"needs_approval","to":"approved"})");

  // A record that cannot be written (its id is taken): nothing changes.
  BOOST_TEST(error_of(s.db->set_tool_approval(i.id, "search", approval_do_not_use, at(30), record("audit-1"))) ==
             "already_exists");
  BOOST_TEST(must(s.db->list_tools(i.id, false)).at(0).approval_state == "approved");
  BOOST_TEST(raw_sql(s.path, "SELECT count(*) FROM audit_events").at(0) == "1");

  // No change, no record.
  must(s.db->set_tool_approval(i.id, "search", approval_approved, at(40), record("audit-2")));
  BOOST_TEST(raw_sql(s.path, "SELECT count(*) FROM audit_events").at(0) == "1");
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(schema_v2)

constexpr const char* schema_sql =
    "SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_master ORDER BY name";

BOOST_AUTO_TEST_CASE(a_new_file_has_the_tools_and_audit_tables) {
  temp_db t;
  BOOST_TEST(must(t.open()->schema_version()) >= 2);
  const auto tables = raw_sql(t.path, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name");
  BOOST_TEST(std::count(tables.begin(), tables.end(), "tools") == 1);
  BOOST_TEST(std::count(tables.begin(), tables.end(), "audit_events") == 1);
}

BOOST_AUTO_TEST_CASE(a_version_1_file_is_migrated_and_keeps_its_data) {
  temp_db fresh;
  fresh.open();
  const auto expected_schema = raw_sql(fresh.path, schema_sql);

  temp_db t;
  std::string id;
  std::int64_t alice = 0;
  {
    auto db = t.open();
    must(db->sync_projects({project{1, "acme", {environment{1, 1, "production"}}}}));
    alice = must(db->ensure_user("alice")).id;
    installation i;
    i.id = id = new_uuid_v7();
    i.environment_id = 1;
    i.user_id = alice;
    i.url = "https://a.example/mcp";
    must(db->insert_installation(i));
    must(db->put_secret(id, "api_key", "sealed"));
  }
  // Back to exactly what migration 1 left (its text is never edited): undo
  // migration 5, then 3 and 2 (4 only rebuilt audit_events, which goes).
  raw_sql(t.path, undo_migration_7);
  raw_sql(t.path, undo_migration_6);
  raw_sql(t.path, undo_migration_5);
  raw_sql(t.path,
          "DROP TABLE oauth_states; DROP TABLE oauth_clients;"
          " ALTER TABLE installations DROP COLUMN token_expires_at;"
          " ALTER TABLE installations DROP COLUMN token_issued_at;"
          " DROP TABLE tools; DROP TABLE audit_events; UPDATE schema_version SET version = 1");
  BOOST_TEST(raw_sql(t.path,
                     "SELECT count(*) FROM sqlite_master WHERE name LIKE '%tool%'"
                     " OR name LIKE 'audit%'")
                 .at(0) == "0");

  auto db = t.open();
  BOOST_TEST(must(db->schema_version()) == latest_schema);
  BOOST_TEST(raw_sql(t.path, schema_sql) == expected_schema, boost::test_tools::per_element());
  const installation got = must(db->get_installation(1, alice, id));
  BOOST_TEST(got.url == "https://a.example/mcp");
  BOOST_TEST(got.has_credential);
  BOOST_TEST(got.tool_count == 0);
  must(db->sync_tools(id, {listed("a")}, at(10)));
  BOOST_TEST(must(db->get_installation(1, alice, id)).tool_count == 1);

  // And again: nothing left to apply, the tools are still there.
  db.reset();
  auto reopened = t.open();
  BOOST_TEST(must(reopened->schema_version()) == latest_schema);
  BOOST_TEST(must(reopened->list_tools(id, false)).size() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace mcpgate::registry
