// The tools REST API of an installation, on both route families: the list
// (ordered, removed tools on request), approval changes (URL-decoded tool
// names, validation, the audit row on disk), refresh and the sync rules
// (new, kept, updated, removed, back again), the handshake as the upstream
// sees it (pages, session, credential), and the sync that install_custom runs
// before answering 201. The upstream is an mcp_upstream on loopback.
#include "mcp_upstream.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <memory>
#include <set>

using namespace mcpgate::it;

namespace {

// Both route families address environment 1.
const std::vector<std::string> families{e1, p1};

const std::string unknown_installation = "01900000-0000-7000-8000-000000000000";

std::string tools_path(const std::string& collection, const std::string& id) {
  return item_of(collection, id) + "/tools";
}
// `encoded_name` goes into the path as given (percent-encoded by the caller).
std::string tool_path(const std::string& collection, const std::string& id, const std::string& encoded_name) {
  return tools_path(collection, id) + "/" + encoded_name;
}
std::string refresh_path(const std::string& collection, const std::string& id) {
  return tools_path(collection, id) + "/refresh";
}

std::vector<mcp_tool> named_tools(std::initializer_list<const char*> names) {
  std::vector<mcp_tool> tools;
  for (const char* n : names) tools.push_back(named(n));
  return tools;
}

// The "results" of a 200 answer of the tools API.
json::array results_of(const reply& r) {
  BOOST_TEST_REQUIRE(r.status == 200u, r);
  BOOST_TEST_REQUIRE(r.header("Content-Type").starts_with("application/json"), r);
  const json::value v = r.json();
  BOOST_TEST_REQUIRE(v.is_object(), r);
  const auto* results = v.as_object().if_contains("results");
  BOOST_TEST_REQUIRE((results != nullptr && results->is_array()), r);
  BOOST_TEST(v.as_object().size() == 1u, "members besides results: " << r);
  return results->as_array();
}

std::vector<std::string> names_of(const json::array& tools) {
  std::vector<std::string> names;
  for (const auto& t : tools) names.push_back(string_of(t, "tool_name"));
  return names;
}

json::object tool_named(const json::array& tools, const std::string& name) {
  for (const auto& t : tools) {
    if (string_of(t, "tool_name") == name) return t.as_object();
  }
  BOOST_TEST_REQUIRE(false, "no tool " << name << " in " << json::serialize(tools));
  return {};
}

bool is_iso_time(const json::value& v) { return v.is_string() && iso8601_micros(v.as_string()).has_value(); }

// Exactly the members of the tool object, each of its type.
boost::test_tools::assertion_result is_tool(const json::value& v) {
  boost::test_tools::assertion_result result(false);
  const auto fail = [&](const std::string& why) {
    result.message() << why << " in " << json::serialize(v);
    return result;
  };
  if (!v.is_object()) return fail("not an object");
  const json::object& o = v.as_object();
  static const std::set<std::string> keys{"id",           "tool_name",   "display_name",   "description",
                                          "input_schema", "annotations", "approval_state", "last_seen_at",
                                          "removed_at",   "created_at",  "updated_at"};
  std::set<std::string> present;
  for (const auto& member : o) present.emplace(member.key());
  if (present != keys) return fail("members differ from the tool object's");
  if (!is_uuid_v7(string_of(o, "id"))) return fail("id is not a UUIDv7");
  for (const char* k : {"tool_name", "display_name", "description"}) {
    if (!o.at(k).is_string()) return fail(std::string(k) + " is not a string");
  }
  if (string_of(o, "tool_name").empty()) return fail("empty tool_name");
  if (!o.at("input_schema").is_object()) return fail("input_schema is not an object");
  if (!o.at("annotations").is_object()) return fail("annotations is not an object");
  const std::string state = string_of(o, "approval_state");
  if (state != "approved" && state != "needs_approval" && state != "do_not_use") return fail("bad approval_state");
  for (const char* k : {"last_seen_at", "created_at", "updated_at"}) {
    if (!is_iso_time(o.at(k))) return fail(std::string(k) + " is not an ISO 8601 UTC time");
  }
  if (!o.at("removed_at").is_null() && !is_iso_time(o.at("removed_at")))
    return fail("removed_at neither null nor a time");
  return true;
}

// An error answer with this status whose JSON body has this "detail".
boost::test_tools::assertion_result has_detail(const reply& r, unsigned status, std::string_view detail) {
  boost::test_tools::assertion_result result(false);
  auto body = json_error_body(r, status);
  if (auto* why = std::get_if<std::string>(&body)) {
    result.message() << *why << "; got " << r;
    return result;
  }
  if (string_of(std::get<json::object>(body), "detail") != detail) {
    result.message() << "expected detail \"" << detail << "\"; got " << r;
    return result;
  }
  return true;
}

std::int64_t tool_count_of(api_client& client, const std::string& id) {
  const reply r = client.get(item_of(e1, id));
  BOOST_TEST_REQUIRE(r.status == 200u, r);
  const json::object body = r.object();  // a copy: if_contains points into it
  const auto* count = body.if_contains("tool_count");
  BOOST_TEST_REQUIRE((count != nullptr && count->is_int64()), r);
  return count->as_int64();
}

reply patch_state(api_client& client, const std::string& collection, const std::string& id,
                  const std::string& encoded_name, std::string_view state) {
  return client.patch(tool_path(collection, id, encoded_name), json::object{{"approval_state", state}});
}

// The JSON-RPC body of a recorded POST ({} when it is not an object).
json::object body_of(const recorded_request& r) {
  boost::system::error_code ec;
  json::value v = json::parse(r.body, ec);
  return !ec && v.is_object() ? v.as_object() : json::object{};
}

// What the upstream received for one sync, request by request: when
// `probed` (an installation no sync has succeeded for yet), the
// server/discover probe in 2026-07-28, which this 2025 upstream answers with
// no 2026 revision; then initialize, notifications/initialized, one
// tools/list per page (the cursors the upstream handed out passed back as
// params.cursor), then DELETE of the session; each with `authorization`
// ("" = no Authorization header) and never the agent's gateway key.
void expect_one_sync(const fake_upstream& upstream, std::size_t pages, const std::string& authorization,
                     const std::string& gateway_key, bool probed = false) {
  const std::size_t first = probed ? 1 : 0;  // the initialize
  std::vector<std::string> expected{"initialize", "notifications/initialized"};
  if (probed) expected.insert(expected.begin(), "server/discover");
  for (std::size_t i = 0; i < pages; ++i) expected.push_back("tools/list");
  expected.push_back("DELETE");
  BOOST_TEST(methods_received(upstream) == expected, boost::test_tools::per_element());

  const auto requests = upstream.requests();
  BOOST_TEST_REQUIRE(requests.size() == expected.size());
  const std::string session = requests.at(first + 1).header("Mcp-Session-Id").value_or("");
  BOOST_TEST(session.starts_with("upstream-session-"),
             "the session the upstream gave was not passed on: " << requests.at(first + 1));
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const recorded_request& r = requests[i];
    BOOST_TEST_CONTEXT("request " << i << ": " << r) {
      if (authorization.empty()) {
        BOOST_TEST(r.header_count("Authorization") == 0u);
      } else {
        BOOST_TEST(r.header_count("Authorization") == 1u);
        BOOST_TEST(r.header("Authorization").value_or("") == authorization);
      }
      for (const auto& [name, value] : r.headers) {
        BOOST_TEST(value.find(gateway_key) == std::string::npos, "the gateway key reached the upstream in " << name);
        BOOST_TEST(value.find("mcpg_") == std::string::npos, "a gateway key reached the upstream in " << name);
      }
      BOOST_TEST(r.body.find("mcpg_") == std::string::npos);
      if (i < first) {
        BOOST_TEST(r.method == "POST");
        BOOST_TEST(r.header("MCP-Protocol-Version").value_or("") == "2026-07-28");
        BOOST_TEST(!r.header("Mcp-Session-Id").has_value());
      } else if (i == first) {
        BOOST_TEST(r.method == "POST");
        BOOST_TEST(!r.header("Mcp-Session-Id").has_value());
        BOOST_TEST(!r.header("MCP-Protocol-Version").has_value());
      } else {
        BOOST_TEST(r.header("Mcp-Session-Id").value_or("<absent>") == session);
      }
    }
  }
  BOOST_TEST(requests.back().method == "DELETE");
  // tools/list page p (from 0) carries the cursor "page-p" the previous page gave.
  for (std::size_t page = 0; page < pages; ++page) {
    BOOST_TEST_CONTEXT("tools/list page " << page + 1) {
      const json::object message = body_of(requests.at(first + 2 + page));
      const json::value* params = message.if_contains("params");
      const json::value* cursor = params && params->is_object() ? params->as_object().if_contains("cursor") : nullptr;
      if (page == 0) {
        BOOST_TEST((cursor == nullptr || cursor->is_null()), json::serialize(message));
      } else {
        BOOST_TEST_REQUIRE(cursor != nullptr, json::serialize(message));
        BOOST_TEST(*cursor == json::value("page-" + std::to_string(page)), json::serialize(message));
      }
    }
  }
}

// A gateway that may reach loopback upstreams, alice's key, and one
// mcp_upstream.
struct tools_fixture : proxy_gateway {
  tools_fixture() : key(create_key("alice", "*")), alice(client(key)), mcp(upstream) {}

  // Installs the upstream (api_key "upstream-key") after the install's sync
  // saw `tools`; the upstream's records start empty.
  std::string install_with(std::vector<mcp_tool> tools, const std::string& auth_type = "api_key") {
    mcp.set_tools(std::move(tools));
    return install_mcp(alice, upstream, upstream.url(), auth_type, auth_type == "api_key" ? "upstream-key" : "");
  }

  api_key key;
  api_client alice;
  fake_upstream upstream;
  mcp_upstream mcp;
};

}  // namespace

// ---------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(tools_api_list, tools_fixture)

BOOST_AUTO_TEST_CASE(tools_are_listed_by_name_with_their_metadata_on_both_route_families) {
  mcp_tool search = named("search");
  search.title = "Search the docs";
  search.description = "Full-text search";
  search.input_schema = json::object{{"type", "object"},
                                     {"properties", json::object{{"q", json::object{{"type", "string"}}}}},
                                     {"required", json::array{"q"}}};
  search.annotations = json::object{{"readOnlyHint", true}, {"openWorldHint", false}};
  const std::string id = install_with({named("zeta"), search, named("alpha"), named("Mixed_Case")});

  const json::array tools = results_of(alice.get(tools_path(e1, id)));
  // By tool_name (byte order: upper case first).
  BOOST_TEST(names_of(tools) == (std::vector<std::string>{"Mixed_Case", "alpha", "search", "zeta"}),
             boost::test_tools::per_element());
  for (const auto& t : tools) BOOST_TEST(is_tool(t));
  const json::object got = tool_named(tools, "search");
  BOOST_TEST(string_of(got, "display_name") == "Search the docs");
  BOOST_TEST(string_of(got, "description") == "Full-text search");
  BOOST_TEST(got.at("input_schema") == json::value(search.input_schema), json::serialize(got));
  BOOST_TEST(got.at("annotations") == json::value(search.annotations), json::serialize(got));
  BOOST_TEST(string_of(got, "approval_state") == "needs_approval");
  BOOST_TEST(got.at("removed_at").is_null());
  const json::object plain = tool_named(tools, "zeta");
  BOOST_TEST(plain.at("input_schema") == json::value(json::object{{"type", "object"}}));
  BOOST_TEST(plain.at("annotations") == json::value(json::object{}));

  // The projects family answers the same; so do a trailing slash and
  // include_removed=0 while nothing is removed.
  BOOST_TEST(results_of(alice.get(tools_path(p1, id))) == tools);
  BOOST_TEST(results_of(alice.get(tools_path(e1, id) + "/")) == tools);
  BOOST_TEST(results_of(alice.get(tools_path(p1, id) + "?include_removed=1")) == tools);
  // Listing reads the registry only.
  BOOST_TEST(upstream.request_count() == 0u);
}

BOOST_AUTO_TEST_CASE(another_users_or_an_unknown_installation_is_404_and_reaches_no_upstream) {
  const std::string id = install_with({named("a")});
  auto bob = client(create_key("bob", "*"));
  for (const auto& collection : families) {
    BOOST_TEST_CONTEXT(collection) {
      BOOST_TEST(is_error(bob.get(tools_path(collection, id)), 404, "invalid_request", "not_found"));
      BOOST_TEST(is_error(patch_state(bob, collection, id, "a", "approved"), 404, "invalid_request", "not_found"));
      BOOST_TEST(is_error(bob.post(refresh_path(collection, id), json::object{}), 404, "invalid_request", "not_found"));
      BOOST_TEST(is_error(alice.get(tools_path(collection, unknown_installation)), 404, "invalid_request",
                          "not_found"));
      BOOST_TEST(is_error(patch_state(alice, collection, unknown_installation, "a", "approved"), 404, "invalid_request",
                          "not_found"));
      BOOST_TEST(is_error(alice.post(refresh_path(collection, unknown_installation), json::object{}), 404,
                          "invalid_request", "not_found"));
    }
  }
  // Environment 3 is another environment of project 1: not there either.
  BOOST_TEST(is_error(alice.get(tools_path(environments_collection(3), id)), 404, "invalid_request", "not_found"));
  BOOST_TEST(upstream.request_count() == 0u);
  // Bob changed nothing.
  BOOST_TEST(string_of(tool_named(results_of(alice.get(tools_path(e1, id))), "a"), "approval_state") ==
             "needs_approval");
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(tools_api_approval, tools_fixture)

BOOST_AUTO_TEST_CASE(patch_sets_each_approval_state_and_answers_the_tool_on_both_route_families) {
  const std::string id = install_with({named("read_file"), named("write_file")});
  const json::object before = tool_named(results_of(alice.get(tools_path(e1, id))), "read_file");
  for (const auto& collection : families) {
    for (const std::string state : {"approved", "do_not_use", "needs_approval", "approved"}) {
      BOOST_TEST_CONTEXT(collection << " -> " << state) {
        const reply r = patch_state(alice, collection, id, "read_file", state);
        BOOST_TEST_REQUIRE(r.status == 200u, r);
        const json::object t = r.object();
        BOOST_TEST(is_tool(t));
        BOOST_TEST(string_of(t, "tool_name") == "read_file");
        BOOST_TEST(string_of(t, "approval_state") == state);
        BOOST_TEST(string_of(t, "id") == string_of(before, "id"));
        // The list shows what the PATCH answered.
        BOOST_TEST(tool_named(results_of(alice.get(tools_path(e1, id))), "read_file") == t);
      }
    }
  }
  // The other tool kept its state; the upstream was not asked.
  BOOST_TEST(string_of(tool_named(results_of(alice.get(tools_path(p1, id))), "write_file"), "approval_state") ==
             "needs_approval");
  BOOST_TEST(upstream.request_count() == 0u);
}

BOOST_AUTO_TEST_CASE(tool_names_in_the_path_are_url_decoded) {
  const std::vector<std::pair<std::string, std::string>> cases{
      {"db.query", "db.query"}, {"my-tool_v2", "my-tool_v2"}, {"with space", "with%20space"},
      {"a/b", "a%2Fb"},         {"caf\xc3\xa9", "caf%C3%A9"}, {"x.y-z_w", "x%2Ey%2Dz%5Fw"},
  };
  std::vector<mcp_tool> tools;
  for (const auto& [name, encoded] : cases) tools.push_back(named(name));
  const std::string id = install_with(std::move(tools));
  BOOST_TEST_REQUIRE(results_of(alice.get(tools_path(e1, id))).size() == cases.size());
  for (const auto& [name, encoded] : cases) {
    BOOST_TEST_CONTEXT("tool " << name << " as " << encoded) {
      const reply r = patch_state(alice, e1, id, encoded, "approved");
      BOOST_TEST_REQUIRE(r.status == 200u, r);
      BOOST_TEST(string_of(r.json(), "tool_name") == name);
      BOOST_TEST(string_of(r.json(), "approval_state") == "approved");
      const reply again = patch_state(alice, p1, id, encoded, "do_not_use");
      BOOST_TEST(again.status == 200u, again);
      BOOST_TEST(string_of(again.json(), "tool_name") == name);
    }
  }
  for (const auto& t : results_of(alice.get(tools_path(e1, id)))) {
    BOOST_TEST(string_of(t, "approval_state") == "do_not_use", json::serialize(t));
  }
}

BOOST_AUTO_TEST_CASE(an_unknown_tool_is_404_tool_not_found) {
  const std::string id = install_with({named("known"), named("gone")});
  // "gone" is removed by a refresh: it is not a tool of the upstream anymore,
  // but the registry still knows it.
  mcp.set_tools({named("known")});
  BOOST_TEST_REQUIRE(alice.post(refresh_path(e1, id), json::object{}).status == 200u);
  for (const auto& collection : families) {
    for (const std::string name : {"unknown", "Known", "know", "known%20", "%C3%A9"}) {
      BOOST_TEST_CONTEXT(collection << " tool " << name) {
        BOOST_TEST(has_detail(patch_state(alice, collection, id, name, "approved"), 404, "Tool not found"));
      }
    }
  }
  const json::array tools = results_of(alice.get(tools_path(e1, id) + "?include_removed=1"));
  BOOST_TEST(names_of(tools) == (std::vector<std::string>{"gone", "known"}), boost::test_tools::per_element());
  BOOST_TEST(string_of(tool_named(tools, "known"), "approval_state") == "needs_approval");
}

BOOST_AUTO_TEST_CASE(a_bad_body_is_400_naming_approval_state_and_changes_nothing) {
  const std::string id = install_with({named("t")});
  const std::string target = tool_path(e1, id, "t");
  const json::object before = tool_named(results_of(alice.get(tools_path(e1, id))), "t");
  for (const json::value& state : {json::value("maybe"), json::value("APPROVED"), json::value("approved "),
                                   json::value(""), json::value(1), json::value(true)}) {
    BOOST_TEST_CONTEXT("approval_state " << json::serialize(state)) {
      BOOST_TEST(is_validation_error(alice.patch(target, json::object{{"approval_state", state}}), "invalid_choice",
                                     "approval_state"));
    }
  }
  BOOST_TEST(is_validation_error(alice.patch(target, json::object{}), "required", "approval_state"));
  for (const std::string member : {"tool_name", "display_name", "removed_at", "id"}) {
    BOOST_TEST_CONTEXT("with " << member) {
      BOOST_TEST(is_validation_error(alice.patch(target, json::object{{"approval_state", "approved"}, {member, "x"}}),
                                     "read_only", member));
    }
  }
  BOOST_TEST(is_error(alice.send("PATCH", target, "{not json"), 400, "invalid_request", "parse_error"));
  BOOST_TEST(tool_named(results_of(alice.get(tools_path(e1, id))), "t") == before);
  BOOST_TEST(string_of(before, "approval_state") == "needs_approval");
}

BOOST_AUTO_TEST_CASE(a_tool_named_refresh_can_be_patched) {
  const std::string id = install_with({named("refresh"), named("other")});
  for (const auto& collection : families) {
    BOOST_TEST_CONTEXT(collection) {
      const reply r = patch_state(alice, collection, id, "refresh", collection == e1 ? "approved" : "do_not_use");
      BOOST_TEST_REQUIRE(r.status == 200u, r);
      BOOST_TEST(string_of(r.json(), "tool_name") == "refresh");
      BOOST_TEST(string_of(r.json(), "approval_state") == (collection == e1 ? "approved" : "do_not_use"));
    }
  }
  BOOST_TEST(upstream.request_count() == 0u);
  // POST to the same path is still the refresh, which keeps the state.
  const json::array refreshed = results_of(alice.post(refresh_path(e1, id), json::object{}));
  BOOST_TEST(names_of(refreshed) == (std::vector<std::string>{"other", "refresh"}), boost::test_tools::per_element());
  BOOST_TEST(string_of(tool_named(refreshed, "refresh"), "approval_state") == "do_not_use");
  BOOST_TEST(upstream.request_count() > 0u);
}

BOOST_AUTO_TEST_CASE(each_effective_approval_change_writes_one_audit_row) {
  const std::string id = install_with({named("deploy"), named("read")});
  // The approval part of the audit trail, read straight from the daemon's
  // database (an install is on record too, as installation_created).
  gateway_db db(data_dir());
  BOOST_TEST(db.audit_rows(id, "tool_approval_changed").empty(), "the install and its sync are no approval changes");

  const std::int64_t start = now_micros();
  BOOST_TEST_REQUIRE(patch_state(alice, e1, id, "deploy", "approved").status == 200u);
  BOOST_TEST_REQUIRE(patch_state(alice, e1, id, "deploy", "approved").status == 200u);  // no change
  BOOST_TEST_REQUIRE(patch_state(alice, p1, id, "deploy", "do_not_use").status == 200u);
  BOOST_TEST_REQUIRE(patch_state(alice, p1, id, "deploy", "do_not_use").status == 200u);  // no change
  // Refused requests change nothing.
  BOOST_TEST_REQUIRE(patch_state(alice, e1, id, "deploy", "maybe").status == 400u);
  BOOST_TEST_REQUIRE(patch_state(alice, e1, id, "missing", "approved").status == 404u);
  auto bob = client(create_key("bob", "*"));
  BOOST_TEST_REQUIRE(patch_state(bob, e1, id, "deploy", "approved").status == 404u);
  // Nor does a refresh.
  BOOST_TEST_REQUIRE(alice.post(refresh_path(e1, id), json::object{}).status == 200u);
  const std::int64_t end = now_micros();

  const auto rows = db.audit_rows(id, "tool_approval_changed");
  BOOST_TEST_REQUIRE(rows.size() == 2u);
  const auto alice_id = db.user_id("alice");
  BOOST_TEST_REQUIRE(alice_id.has_value());
  const std::pair<const char*, const char*> changes[] = {{"needs_approval", "approved"}, {"approved", "do_not_use"}};
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const audit_row& row = rows[i];
    BOOST_TEST_CONTEXT("row " << i) {
      BOOST_TEST(!row.id.empty());
      BOOST_TEST(row.environment_id == 1);
      BOOST_TEST(row.user_id == *alice_id);
      BOOST_TEST(row.installation_id == id);
      BOOST_TEST(row.event_type == "tool_approval_changed");
      BOOST_TEST(row.tool_name == "deploy");
      boost::system::error_code ec;
      const json::value detail = json::parse(row.detail, ec);
      BOOST_TEST_REQUIRE(!ec, "detail is not JSON: " << row.detail);
      BOOST_TEST(detail == json::value(json::object{{"from", changes[i].first}, {"to", changes[i].second}}),
                 row.detail);
      BOOST_TEST(row.created_at >= start - 1'000'000);
      BOOST_TEST(row.created_at <= end + 1'000'000);
    }
  }
  BOOST_TEST(rows[0].id != rows[1].id);
  BOOST_TEST(db.query_int("SELECT count(*) FROM audit_events WHERE event_type = 'tool_approval_changed'") == 2);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(tools_api_refresh, tools_fixture)

BOOST_AUTO_TEST_CASE(refresh_applies_the_sync_rules_and_answers_the_active_tools) {
  mcp_tool kept = named("kept");
  kept.title = "Old title";
  kept.description = "old";
  const std::string id = install_with({kept, named("dropped"), named("plain")});
  BOOST_TEST(tool_count_of(alice, id) == 3);
  BOOST_TEST_REQUIRE(patch_state(alice, e1, id, "kept", "approved").status == 200u);
  BOOST_TEST_REQUIRE(patch_state(alice, e1, id, "dropped", "do_not_use").status == 200u);
  const json::array before = results_of(alice.get(tools_path(e1, id)));

  // The upstream now lists "kept" with new metadata and a new tool, and no
  // longer "dropped".
  kept.title = "New title";
  kept.description = "new";
  kept.input_schema = json::object{{"type", "object"},
                                   {"properties", json::object{{"n", json::object{{"type", "integer"}}}}}};
  kept.annotations = json::object{{"destructiveHint", true}};
  mcp.set_tools({named("plain"), named("added"), kept});
  const json::array refreshed = results_of(alice.post(refresh_path(e1, id), json::object{}));
  BOOST_TEST(names_of(refreshed) == (std::vector<std::string>{"added", "kept", "plain"}),
             boost::test_tools::per_element());
  for (const auto& t : refreshed) {
    BOOST_TEST(is_tool(t));
    BOOST_TEST(t.at("removed_at").is_null());
  }
  const json::object k = tool_named(refreshed, "kept");
  BOOST_TEST(string_of(k, "id") == string_of(tool_named(before, "kept"), "id"));
  BOOST_TEST(string_of(k, "approval_state") == "approved");
  BOOST_TEST(string_of(k, "display_name") == "New title");
  BOOST_TEST(string_of(k, "description") == "new");
  BOOST_TEST(k.at("input_schema") == json::value(kept.input_schema));
  BOOST_TEST(k.at("annotations") == json::value(kept.annotations));
  BOOST_TEST(string_of(tool_named(refreshed, "added"), "approval_state") == "needs_approval");
  BOOST_TEST(string_of(tool_named(refreshed, "plain"), "approval_state") == "needs_approval");

  // The list answers the same; the removed tool only with include_removed.
  BOOST_TEST(results_of(alice.get(tools_path(e1, id))) == refreshed);
  BOOST_TEST(results_of(alice.get(tools_path(p1, id) + "?include_removed=0")) == refreshed);
  const json::array all = results_of(alice.get(tools_path(p1, id) + "?include_removed=1"));
  BOOST_TEST(names_of(all) == (std::vector<std::string>{"added", "dropped", "kept", "plain"}),
             boost::test_tools::per_element());
  const json::object dropped = tool_named(all, "dropped");
  BOOST_TEST(is_tool(dropped));
  BOOST_TEST(is_iso_time(dropped.at("removed_at")), json::serialize(dropped));
  BOOST_TEST(string_of(dropped, "approval_state") == "do_not_use");
  BOOST_TEST(string_of(dropped, "id") == string_of(tool_named(before, "dropped"), "id"));
  BOOST_TEST(tool_count_of(alice, id) == 3);

  // It comes back, through the projects family this time: same id, same state.
  mcp.set_tools({named("plain"), named("added"), kept, named("dropped")});
  const json::array back = results_of(alice.post(refresh_path(p1, id), json::object{}));
  BOOST_TEST(names_of(back) == (std::vector<std::string>{"added", "dropped", "kept", "plain"}),
             boost::test_tools::per_element());
  const json::object returned = tool_named(back, "dropped");
  BOOST_TEST(returned.at("removed_at").is_null(), json::serialize(returned));
  BOOST_TEST(string_of(returned, "approval_state") == "do_not_use");
  BOOST_TEST(string_of(returned, "id") == string_of(dropped, "id"));
  BOOST_TEST(results_of(alice.get(tools_path(e1, id) + "?include_removed=1")) == back);
  BOOST_TEST(tool_count_of(alice, id) == 4);
}

BOOST_AUTO_TEST_CASE(refresh_follows_every_page_with_the_handshake_the_upstream_expects) {
  std::vector<mcp_tool> tools;
  for (int i = 7; i >= 1; --i) tools.push_back(named("tool_" + std::to_string(i)));
  mcp.set_page_size(2);  // 4 pages
  // The install's own sync already follows the pages.
  mcp.set_tools(tools);
  const reply installed = alice.post(e1 + "/install_custom/", json::object{{"name", "Paged"},
                                                                           {"url", upstream.url("/mcp?tenant=7")},
                                                                           {"auth_type", "api_key"},
                                                                           {"api_key", "paged-secret"}});
  BOOST_TEST_REQUIRE(installed.status == 201u, installed);
  BOOST_TEST(installed.object().at("tool_count") == json::value(7));
  BOOST_TEST_CONTEXT("the install's sync") { expect_one_sync(upstream, 4, "Bearer paged-secret", key.secret, true); }
  for (const auto& r : upstream.requests()) BOOST_TEST(r.target == "/mcp?tenant=7", r);
  const std::string id = id_of(installed.object());
  upstream.clear_records();

  // Two more tools: 5 pages.
  tools.push_back(named("tool_8"));
  tools.push_back(named("tool_9"));
  mcp.set_tools(tools);
  const json::array refreshed = results_of(alice.post(refresh_path(e1, id), json::object{}));
  BOOST_TEST(refreshed.size() == 9u);
  BOOST_TEST_CONTEXT("the refresh") { expect_one_sync(upstream, 5, "Bearer paged-secret", key.secret); }
  std::vector<std::string> expected;
  for (int i = 1; i <= 9; ++i) expected.push_back("tool_" + std::to_string(i));
  BOOST_TEST(names_of(results_of(alice.get(tools_path(e1, id)))) == expected, boost::test_tools::per_element());
  BOOST_TEST(tool_count_of(alice, id) == 9);
}

BOOST_AUTO_TEST_CASE(an_auth_type_none_installation_is_synced_without_authorization) {
  mcp.set_tools(named_tools({"b", "a"}));
  const reply installed = alice.post(
      p1 + "/install_custom/",
      json::object{{"name", "Open"}, {"url", upstream.url()}, {"auth_type", "none"}, {"api_key", "ignored-key"}});
  BOOST_TEST_REQUIRE(installed.status == 201u, installed);
  BOOST_TEST(installed.object().at("tool_count") == json::value(2));
  BOOST_TEST_CONTEXT("the install's sync") { expect_one_sync(upstream, 1, "", key.secret, true); }
  upstream.clear_records();
  const std::string id = id_of(installed.object());
  BOOST_TEST(names_of(results_of(alice.post(refresh_path(p1, id), json::object{}))) ==
                 (std::vector<std::string>{"a", "b"}),
             boost::test_tools::per_element());
  BOOST_TEST_CONTEXT("the refresh") { expect_one_sync(upstream, 1, "", key.secret); }
}

BOOST_AUTO_TEST_CASE(answers_sent_as_server_sent_events_are_understood) {
  mcp.set_sse_answers(true);
  mcp.set_page_size(1);
  const std::string id = install_with(named_tools({"one", "two", "three"}));
  BOOST_TEST(tool_count_of(alice, id) == 3);
  mcp.set_tools(named_tools({"one", "four"}));
  BOOST_TEST(names_of(results_of(alice.post(refresh_path(e1, id), json::object{}))) ==
                 (std::vector<std::string>{"four", "one"}),
             boost::test_tools::per_element());
  expect_one_sync(upstream, 2, "Bearer upstream-key", key.secret);
}

BOOST_AUTO_TEST_CASE(a_disabled_installation_is_not_refreshed) {
  const std::string id = install_with({named("t")});
  BOOST_TEST_REQUIRE(alice.patch(item_of(e1, id), json::object{{"is_enabled", false}}).status == 200u);
  mcp.set_tools({named("t"), named("u")});
  for (const auto& collection : families) {
    BOOST_TEST_CONTEXT(collection) {
      BOOST_TEST(has_detail(alice.post(refresh_path(collection, id), json::object{}), 400, "Installation is disabled"));
    }
  }
  BOOST_TEST(upstream.request_count() == 0u);
  BOOST_TEST(names_of(results_of(alice.get(tools_path(e1, id)))) == std::vector<std::string>{"t"});
  // Enabled again, it is.
  BOOST_TEST_REQUIRE(alice.patch(item_of(e1, id), json::object{{"is_enabled", true}}).status == 200u);
  BOOST_TEST(results_of(alice.post(refresh_path(e1, id), json::object{})).size() == 2u);
}

BOOST_AUTO_TEST_CASE(an_upstream_error_is_502_and_the_registry_keeps_what_it_had) {
  const std::string id = install_with({named("a"), named("b"), named("c")});
  BOOST_TEST_REQUIRE(patch_state(alice, e1, id, "a", "approved").status == 200u);
  BOOST_TEST_REQUIRE(patch_state(alice, e1, id, "b", "do_not_use").status == 200u);
  mcp.set_tools({named("a"), named("d")});
  BOOST_TEST_REQUIRE(alice.post(refresh_path(e1, id), json::object{}).status == 200u);  // c, b removed
  const reply before = alice.get(tools_path(e1, id) + "?include_removed=1");
  BOOST_TEST_REQUIRE(results_of(before).size() == 4u);

  // The upstream now answers 500, and would list something else.
  mcp.set_tools({named("z")});
  mcp.set_fail_status(500);
  upstream.clear_records();
  for (const auto& collection : families) {
    BOOST_TEST_CONTEXT(collection) {
      BOOST_TEST(has_detail(alice.post(refresh_path(collection, id), json::object{}), 502,
                            "Could not refresh tools from the upstream MCP server"));
    }
  }
  BOOST_TEST(upstream.request_count() > 0u, "the refresh did not ask the upstream");
  BOOST_TEST(alice.get(tools_path(e1, id) + "?include_removed=1").json() == before.json());
  BOOST_TEST(tool_count_of(alice, id) == 2);
}

BOOST_AUTO_TEST_CASE(an_unreachable_upstream_is_502_and_the_registry_keeps_what_it_had) {
  auto upstream_gone = std::make_unique<fake_upstream>();
  std::string id;
  {
    mcp_upstream gone(*upstream_gone);
    gone.set_tools(named_tools({"x", "y"}));
    id = install_mcp(alice, *upstream_gone, upstream_gone->url(), "none");
  }
  BOOST_TEST_REQUIRE(patch_state(alice, e1, id, "y", "approved").status == 200u);
  const reply before = alice.get(tools_path(e1, id) + "?include_removed=1");
  BOOST_TEST_REQUIRE(results_of(before).size() == 2u);
  upstream_gone.reset();  // its port is closed now

  for (const auto& collection : families) {
    BOOST_TEST_CONTEXT(collection) {
      BOOST_TEST(has_detail(alice.post(refresh_path(collection, id), json::object{}), 502,
                            "Could not refresh tools from the upstream MCP server"));
    }
  }
  BOOST_TEST(alice.get(tools_path(e1, id) + "?include_removed=1").json() == before.json());
  BOOST_TEST(tool_count_of(alice, id) == 2);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(tools_api_install, tools_fixture)

BOOST_AUTO_TEST_CASE(install_custom_syncs_the_tools_before_answering_201) {
  mcp_tool titled = named("lookup");
  titled.title = "Look up";
  mcp.set_tools({named("zz"), titled, named("aa")});
  const reply r = alice.post(
      e1 + "/install_custom/",
      json::object{{"name", "Tools"}, {"url", upstream.url()}, {"auth_type", "api_key"}, {"api_key", "install-key"}});
  BOOST_TEST_REQUIRE(r.status == 201u, r);
  BOOST_TEST(is_installation(r.json()));
  BOOST_TEST(r.object().at("tool_count") == json::value(3), r);
  // The sync was done, whole, before the answer.
  BOOST_TEST_CONTEXT("the install's sync") { expect_one_sync(upstream, 1, "Bearer install-key", key.secret, true); }
  const std::string id = id_of(r.object());
  const json::array tools = results_of(alice.get(tools_path(e1, id)));
  BOOST_TEST(names_of(tools) == (std::vector<std::string>{"aa", "lookup", "zz"}), boost::test_tools::per_element());
  for (const auto& t : tools) {
    BOOST_TEST(is_tool(t));
    BOOST_TEST(string_of(t, "approval_state") == "needs_approval");
  }
  BOOST_TEST(string_of(tool_named(tools, "lookup"), "display_name") == "Look up");
  BOOST_TEST(tool_count_of(alice, id) == 3);
  const reply listed = alice.get(e1);
  BOOST_TEST_REQUIRE(listed.status == 200u, listed);
  BOOST_TEST(listed.object().at("results").as_array().at(0).at("tool_count") == json::value(3), listed);
}

BOOST_AUTO_TEST_CASE(an_upstream_answering_500_does_not_fail_the_install) {
  mcp.set_tools(named_tools({"a", "b"}));
  mcp.set_fail_status(500);
  const reply r = alice.post(
      e1 + "/install_custom/",
      json::object{{"name", "Failing"}, {"url", upstream.url()}, {"auth_type", "api_key"}, {"api_key", "k"}});
  BOOST_TEST_REQUIRE(r.status == 201u, r);
  BOOST_TEST(r.object().at("tool_count") == json::value(0), r);
  BOOST_TEST(upstream.request_count() > 0u, "the install did not try a sync");
  const std::string id = id_of(r.object());
  BOOST_TEST(results_of(alice.get(tools_path(e1, id) + "?include_removed=1")).empty());
  BOOST_TEST(tool_count_of(alice, id) == 0);
  // Once the upstream works, a refresh brings the tools.
  mcp.set_fail_status(0);
  BOOST_TEST(results_of(alice.post(refresh_path(e1, id), json::object{})).size() == 2u);
  BOOST_TEST(tool_count_of(alice, id) == 2);
}

BOOST_AUTO_TEST_CASE(an_unreachable_upstream_does_not_fail_the_install) {
  const std::string url = "http://127.0.0.1:" + std::to_string(closed_port()) + "/mcp";
  for (const std::string auth_type : {"api_key", "none"}) {
    BOOST_TEST_CONTEXT(auth_type) {
      json::object body{{"name", "Nowhere"}, {"url", url + "?" + auth_type}, {"auth_type", auth_type}};
      if (auth_type == "api_key") body["api_key"] = "k";
      const reply r = alice.post(p1 + "/install_custom/", body);
      BOOST_TEST_REQUIRE(r.status == 201u, r);
      BOOST_TEST(r.object().at("tool_count") == json::value(0), r);
      BOOST_TEST(results_of(alice.get(tools_path(e1, id_of(r.object())))).empty());
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
