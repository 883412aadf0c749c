// The audit trail in the SQLite store: insert_audit_event and
// list_audit_events (newest first, filters, pages, scoped to the environment
// and user), and events outliving the installation they are about.
#include "store_fixture.hpp"

#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

namespace mcpgate::registry {
namespace {

using namespace fixture;

struct audited : seeded {
  installation linear = add(alice, "https://linear.example/mcp");
  installation github = add(alice, "https://github.example/mcp");

  audit_event make(std::string type, sys_time when, const installation& about, std::string tool_name = "") const {
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

  audit_event insert(std::string type, sys_time when, const installation& about, std::string tool_name = "") {
    auto e = make(std::move(type), when, about, std::move(tool_name));
    must(db->insert_audit_event(e));
    return e;
  }

  std::vector<std::string> ids(const audit_filter& filter, page p = {}) {
    std::vector<std::string> out;
    for (const auto& e : must(db->list_audit_events(1, alice, filter, p)).items) {
      out.push_back(e.id);
    }
    return out;
  }
};

audit_filter by(std::optional<std::string> installation_id, std::optional<std::string> event_type = std::nullopt) {
  return audit_filter{std::move(installation_id), std::move(event_type)};
}

BOOST_AUTO_TEST_SUITE(audit)

// The proxy's records go in batches: all of a batch, or none of it.
BOOST_AUTO_TEST_CASE(a_batch_is_written_whole_or_not_at_all) {
  audited s;
  std::vector<audit_event> batch;
  for (int i = 0; i < 50; ++i) batch.push_back(s.make("tool_call_forwarded", at(10 + i), s.linear, "echo"));
  must(s.db->insert_audit_events(batch));
  BOOST_TEST(must(s.db->list_audit_events(1, s.alice, {}, {})).count == 50);
  // One record that cannot be written (its id is taken): nothing of the batch is kept.
  std::vector<audit_event> bad{s.make("tool_call_forwarded", at(100), s.github, "echo"), batch[7]};
  BOOST_TEST(error_of(s.db->insert_audit_events(bad)) == "already_exists");
  BOOST_TEST(must(s.db->list_audit_events(1, s.alice, by(s.github.id), {})).count == 0);
  must(s.db->insert_audit_events({}));
}

BOOST_AUTO_TEST_CASE(an_event_round_trips) {
  audited s;
  audit_event e = s.make("tool_approval_changed", at(5), s.linear, "search");
  e.detail = R"({"from":"needs_approval","to":"approved"})";
  must(s.db->insert_audit_event(e));
  const auto found = must(s.db->list_audit_events(1, s.alice, {}, {}));
  BOOST_TEST(found.count == 1);
  BOOST_REQUIRE(found.items.size() == 1u);
  const audit_event& got = found.items[0];
  BOOST_TEST(got.id == e.id);
  BOOST_TEST(got.environment_id == 1);
  BOOST_TEST(got.user_id == s.alice);
  BOOST_TEST(got.installation_id == s.linear.id);
  BOOST_TEST(got.event_type == "tool_approval_changed");
  BOOST_TEST(got.tool_name == "search");
  BOOST_TEST(got.detail == e.detail);
  BOOST_TEST((got.created_at == at(5)));
}

BOOST_AUTO_TEST_CASE(the_default_detail_and_an_empty_tool_name_round_trip) {
  audited s;
  s.insert("installation_created", at(1), s.linear);
  const auto got = must(s.db->list_audit_events(1, s.alice, {}, {})).items.at(0);
  BOOST_TEST(got.detail == "{}");
  BOOST_TEST(got.tool_name == "");
}

BOOST_AUTO_TEST_CASE(events_are_newest_first_then_by_id_descending) {
  audited s;
  const auto e1 = s.insert("installation_created", at(1), s.linear);
  const auto e3 = s.insert("installation_updated", at(3), s.linear);
  const auto e2 = s.insert("installation_created", at(2), s.github);
  auto tie_a = s.make("tool_call_blocked", at(5), s.linear, "x");
  auto tie_b = s.make("tool_call_blocked", at(5), s.linear, "y");
  tie_a.id = "00000000-0000-7000-8000-00000000000a";
  tie_b.id = "00000000-0000-7000-8000-00000000000b";
  must(s.db->insert_audit_event(tie_b));
  must(s.db->insert_audit_event(tie_a));
  BOOST_TEST(s.ids({}) == (std::vector<std::string>{tie_b.id, tie_a.id, e3.id, e2.id, e1.id}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(pages_carry_the_total_count) {
  audited s;
  std::vector<std::string> newest_first;
  for (int n = 0; n < 25; ++n) {
    newest_first.insert(newest_first.begin(), s.insert("tool_call_blocked", at(n), s.linear).id);
  }
  const auto first = must(s.db->list_audit_events(1, s.alice, {}, {10, 0}));
  BOOST_TEST(first.count == 25);
  BOOST_REQUIRE(first.items.size() == 10u);
  BOOST_TEST(first.items[0].id == newest_first[0]);
  BOOST_TEST(first.items[9].id == newest_first[9]);

  const auto last = must(s.db->list_audit_events(1, s.alice, {}, {10, 20}));
  BOOST_TEST(last.count == 25);
  BOOST_REQUIRE(last.items.size() == 5u);
  BOOST_TEST(last.items[0].id == newest_first[20]);
  BOOST_TEST(last.items[4].id == newest_first[24]);

  const auto beyond = must(s.db->list_audit_events(1, s.alice, {}, {10, 30}));
  BOOST_TEST(beyond.count == 25);
  BOOST_TEST(beyond.items.empty());

  const auto none = must(s.db->list_audit_events(1, s.alice, {}, {0, 0}));
  BOOST_TEST(none.count == 25);
  BOOST_TEST(none.items.empty());
}

BOOST_AUTO_TEST_CASE(filters_by_installation_and_event_type) {
  audited s;
  const auto a = s.insert("installation_created", at(1), s.linear);
  const auto b = s.insert("tool_call_blocked", at(2), s.linear, "search");
  const auto c = s.insert("installation_created", at(3), s.github);
  const auto d = s.insert("tool_call_blocked", at(4), s.github, "push");
  const auto e = s.insert("tool_call_blocked", at(5), s.linear, "create");

  BOOST_TEST(s.ids(by(s.linear.id)) == (std::vector<std::string>{e.id, b.id, a.id}), boost::test_tools::per_element());
  BOOST_TEST(s.ids(by(std::nullopt, "installation_created")) == (std::vector<std::string>{c.id, a.id}),
             boost::test_tools::per_element());
  BOOST_TEST(s.ids(by(s.linear.id, "tool_call_blocked")) == (std::vector<std::string>{e.id, b.id}),
             boost::test_tools::per_element());
  BOOST_TEST(s.ids(by(s.github.id, "tool_call_blocked")) == (std::vector<std::string>{d.id}),
             boost::test_tools::per_element());
  BOOST_TEST(s.ids(by("no-such-id")).empty());
  BOOST_TEST(s.ids(by(std::nullopt, "no_such_type")).empty());

  // count follows the filter; pages of a filtered list.
  const auto blocked = must(s.db->list_audit_events(1, s.alice, by(s.linear.id, "tool_call_blocked"), {1, 1}));
  BOOST_TEST(blocked.count == 2);
  BOOST_REQUIRE(blocked.items.size() == 1u);
  BOOST_TEST(blocked.items[0].id == b.id);
  BOOST_TEST(must(s.db->list_audit_events(1, s.alice, by(s.github.id), {})).count == 2);
  BOOST_TEST(must(s.db->list_audit_events(1, s.alice, by(std::nullopt, "tool_call_blocked"), {})).count == 3);
}

BOOST_AUTO_TEST_CASE(events_are_scoped_to_the_environment_and_user) {
  audited s;
  const auto mine = s.insert("installation_created", at(1), s.linear);
  const auto bobs = s.add(s.bob, "https://linear.example/mcp");
  const auto staging = s.add(s.alice, "https://linear.example/mcp", 2);
  const auto theirs = s.insert("installation_created", at(2), bobs);
  const auto elsewhere = s.insert("installation_created", at(3), staging);

  BOOST_TEST(s.ids({}) == (std::vector<std::string>{mine.id}), boost::test_tools::per_element());
  BOOST_TEST(must(s.db->list_audit_events(1, s.alice, {}, {})).count == 1);
  // Filtering by someone else's installation finds nothing either.
  BOOST_TEST(must(s.db->list_audit_events(1, s.alice, by(bobs.id), {})).count == 0);
  BOOST_TEST(must(s.db->list_audit_events(1, s.alice, by(staging.id), {})).count == 0);

  const auto bob_page = must(s.db->list_audit_events(1, s.bob, {}, {}));
  BOOST_REQUIRE(bob_page.items.size() == 1u);
  BOOST_TEST(bob_page.items[0].id == theirs.id);
  const auto staging_page = must(s.db->list_audit_events(2, s.alice, {}, {}));
  BOOST_REQUIRE(staging_page.items.size() == 1u);
  BOOST_TEST(staging_page.items[0].id == elsewhere.id);
  BOOST_TEST(must(s.db->list_audit_events(2, s.bob, {}, {})).count == 0);
}

BOOST_AUTO_TEST_CASE(events_outlive_their_installation) {
  audited s;
  must(s.db->sync_tools(s.linear.id, {listed_tool{"search", "", "", "{}", "{}"}}, at(1)));
  const auto created = s.insert("installation_created", at(1), s.linear);
  const auto changed = s.insert("tool_approval_changed", at(2), s.linear, "search");
  must(s.db->delete_installation(1, s.alice, s.linear.id));
  const auto deleted = s.insert("installation_deleted", at(3), s.linear);
  BOOST_TEST(s.ids(by(s.linear.id)) == (std::vector<std::string>{deleted.id, changed.id, created.id}),
             boost::test_tools::per_element());
  BOOST_TEST(raw_sql(s.path, "SELECT count(*) FROM tools").at(0) == "0");
}

BOOST_AUTO_TEST_CASE(a_duplicate_id_already_exists) {
  audited s;
  const auto e = s.insert("installation_created", at(1), s.linear);
  auto copy = s.make("installation_updated", at(2), s.linear);
  copy.id = e.id;
  BOOST_TEST(error_of(s.db->insert_audit_event(copy)) == "already_exists");
  BOOST_TEST(must(s.db->list_audit_events(1, s.alice, {}, {})).count == 1);
}

BOOST_AUTO_TEST_CASE(an_unknown_environment_or_user_is_not_found) {
  audited s;
  auto e = s.make("installation_created", at(1), s.linear);
  e.environment_id = 99;
  BOOST_TEST(error_of(s.db->insert_audit_event(e)) == "not_found");
  e = s.make("installation_created", at(1), s.linear);
  e.user_id = 9999;
  BOOST_TEST(error_of(s.db->insert_audit_event(e)) == "not_found");
}

BOOST_AUTO_TEST_CASE(a_negative_limit_or_offset_is_an_invalid_argument) {
  audited s;
  BOOST_TEST(error_of(s.db->list_audit_events(1, s.alice, {}, {-1, 0})) == "invalid_argument");
  BOOST_TEST(error_of(s.db->list_audit_events(1, s.alice, {}, {10, -1})) == "invalid_argument");
}

BOOST_AUTO_TEST_CASE(events_survive_close_and_reopen) {
  audited s;
  const auto e = s.insert("tool_call_blocked", at(1), s.linear, "search");
  s.db.reset();
  auto db = s.open();
  const auto found = must(db->list_audit_events(1, s.alice, by(s.linear.id, "tool_call_blocked"), {}));
  BOOST_REQUIRE(found.items.size() == 1u);
  BOOST_TEST(found.items[0].id == e.id);
  BOOST_TEST(found.items[0].tool_name == "search");
}

// Migration 4 (the table without its rowid) keeps every record of a version
// 3 file, and the list reads them as before.
BOOST_AUTO_TEST_CASE(a_version_3_file_keeps_its_records) {
  audited s;
  const auto fresh_schema = raw_sql(s.path, "SELECT sql FROM sqlite_master WHERE name LIKE 'audit%' ORDER BY name");
  const auto a = s.insert("installation_created", at(1), s.linear);
  const auto b = s.insert("tool_call_forwarded", at(2), s.github, "echo");
  const auto c = s.insert("tool_call_blocked", at(2), s.linear, "search");
  s.db.reset();
  raw_sql(s.path, undo_migration_7);
  raw_sql(s.path, undo_migration_6);
  raw_sql(s.path, undo_migration_5);
  raw_sql(s.path, undo_migration_4);
  BOOST_TEST(raw_sql(s.path, "SELECT sql FROM sqlite_master WHERE name = 'audit_events'").at(0).find("WITHOUT ROWID") ==
             std::string::npos);
  BOOST_TEST(raw_sql(s.path, "SELECT count(*) FROM audit_events").at(0) == "3");

  s.db = s.open();
  BOOST_TEST(must(s.db->schema_version()) == latest_schema);
  BOOST_TEST(raw_sql(s.path, "SELECT sql FROM sqlite_master WHERE name LIKE 'audit%' ORDER BY name") == fresh_schema,
             boost::test_tools::per_element());
  // Newest first; at the same time, the greater id first.
  const auto second = b.id > c.id ? b.id : c.id;
  const auto third = b.id > c.id ? c.id : b.id;
  BOOST_TEST(s.ids({}) == (std::vector<std::string>{second, third, a.id}), boost::test_tools::per_element());
  BOOST_TEST(s.ids(by(s.github.id)) == std::vector<std::string>{b.id}, boost::test_tools::per_element());
  const auto got = must(s.db->list_audit_events(1, s.alice, by(s.linear.id, "tool_call_blocked"), {})).items;
  BOOST_REQUIRE(got.size() == 1u);
  BOOST_TEST(got[0].tool_name == "search");
  BOOST_TEST((got[0].created_at == at(2)));
  BOOST_TEST(error_of(s.db->insert_audit_event(b)) == "already_exists");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace mcpgate::registry
