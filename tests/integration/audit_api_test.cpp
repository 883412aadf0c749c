// The audit API, GET .../mcp_audit_events on both route families: the
// records of installation changes (create, PATCH, DELETE, install_custom,
// install_template), approval changes and proxied tools/call messages
// (forwarded with their latency, blocked), with their details and never a
// secret; limit/offset pagination and its links, the installation_id and
// event_type filters, the caller's own records only, and the refusals the
// other endpoints give (key, scope, project, method, bad limit/offset).
#include "mcp_upstream.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <set>

using namespace mcpgate::it;

namespace {

const std::string e3 = environments_collection(3);

// The audit collection of a project or environment.
const std::string e1_events = "/api/environments/1/mcp_audit_events";
const std::string p1_events = "/api/projects/1/mcp_audit_events";
const std::string e3_events = "/api/environments/3/mcp_audit_events";

const std::string upstream_key = "sk-upstream-SECRET-4711";

std::string call_body(const json::value& id, std::string_view tool) {
  return json::serialize(json::object{{"jsonrpc", "2.0"},
                                      {"id", id},
                                      {"method", "tools/call"},
                                      {"params", json::object{{"name", tool}, {"arguments", json::object{}}}}});
}

bool is_iso_time(const json::value& v) { return v.is_string() && iso8601_micros(v.as_string()).has_value(); }

// Exactly the members of an audit record, each of its type.
boost::test_tools::assertion_result is_audit_event(const json::value& v) {
  boost::test_tools::assertion_result result(false);
  const auto fail = [&](const std::string& why) {
    result.message() << why << " in " << json::serialize(v);
    return result;
  };
  if (!v.is_object()) return fail("not an object");
  const json::object& o = v.as_object();
  static const std::set<std::string> keys{"id",     "event_type", "installation_id", "tool_name",
                                          "detail", "user_id",    "created_at"};
  std::set<std::string> present;
  for (const auto& member : o) present.emplace(member.key());
  if (present != keys) return fail("members differ from the audit record's");
  if (!is_uuid_v7(string_of(o, "id"))) return fail("id is not a UUIDv7");
  if (string_of(o, "event_type").empty()) return fail("no event_type");
  if (string_of(o, "installation_id").empty()) return fail("no installation_id");
  const json::value& tool = o.at("tool_name");
  if (!tool.is_null() && !(tool.is_string() && !tool.as_string().empty()))
    return fail("tool_name neither null nor a name");
  if (!o.at("detail").is_object()) return fail("detail is not an object");
  if (!o.at("user_id").is_int64() || o.at("user_id").as_int64() <= 0) return fail("user_id is not a positive integer");
  if (!is_iso_time(o.at("created_at"))) return fail("created_at is not an ISO 8601 UTC time");
  return true;
}

// The body of a 200 list answer: {count, next, previous, results} and
// nothing else, every result an audit record.
json::object page_of(const reply& r) {
  BOOST_TEST_REQUIRE(r.status == 200u, r);
  BOOST_TEST_REQUIRE(r.header("Content-Type").starts_with("application/json"), r);
  const json::object page = r.object();
  BOOST_TEST_REQUIRE(page.size() == 4u, r);
  BOOST_TEST_REQUIRE(page.at("count").is_int64(), r);
  BOOST_TEST_REQUIRE((page.at("next").is_null() || page.at("next").is_string()), r);
  BOOST_TEST_REQUIRE((page.at("previous").is_null() || page.at("previous").is_string()), r);
  BOOST_TEST_REQUIRE(page.at("results").is_array(), r);
  for (const auto& e : page.at("results").as_array()) BOOST_TEST(is_audit_event(e));
  return page;
}

json::array results_of(const json::object& page) { return page.at("results").as_array(); }

std::vector<std::string> types_of(const json::array& events) {
  std::vector<std::string> types;
  for (const auto& e : events) types.push_back(string_of(e, "event_type"));
  return types;
}

std::vector<std::string> ids_of(const json::array& events) {
  std::vector<std::string> ids;
  for (const auto& e : events) ids.push_back(string_of(e, "id"));
  return ids;
}

const json::object& detail_of(const json::value& event) { return event.at("detail").as_object(); }

json::value fields(std::initializer_list<std::string_view> names) {
  json::array out;
  for (const auto n : names) out.emplace_back(n);
  return json::object{{"fields", std::move(out)}};
}

// A gateway that reaches loopback upstreams, alice's and bob's keys, and
// one mcp_upstream.
struct audit_fixture : gateway {
  audit_fixture()
      : gateway(proxy_options()),
        alice_key(create_key("alice", "*")),
        bob_key(create_key("bob", "*")),
        alice(client(alice_key)),
        bob(client(bob_key)),
        mcp(upstream) {}

  // All of a caller's events through `target` (one page of up to 1000).
  json::array events(api_client& who, const std::string& target) { return results_of(page_of(who.get(target))); }

  reply rpc(const std::string& installation_id, const std::string& body) {
    return alice.send("POST", proxy_path(e1, installation_id), body, json_headers);
  }

  void set_state(const std::string& installation_id, const std::string& tool, std::string_view state) {
    const reply r = alice.patch(item_of(e1, installation_id) + "/tools/" + tool,
                                json::object{{"approval_state", state}});
    BOOST_TEST_REQUIRE(r.status == 200u, r);
  }

  api_key alice_key;
  api_key bob_key;
  api_client alice;
  api_client bob;
  fake_upstream upstream;
  mcp_upstream mcp;
};

// The upstreams of the template catalog exist before the gateway: its config
// names their ports.
//   keyed    api_key template, an mcp_upstream
//   nometa   oauth template whose server answers 404 to everything (the
//            flow cannot start)
struct template_upstreams {
  template_upstreams() {
    nometa.on_request([](fake_exchange& ex) { ex.respond(404, {{"Content-Type", "text/plain"}}, "not found"); });
  }
  fake_upstream keyed;
  fake_upstream nometa;
};

gateway_options template_options(const template_upstreams& u) {
  gateway_options o = proxy_options();
  o.extra_yaml =
      "templates:\n"
      "  - id: keyed\n"
      "    name: Keyed Service\n"
      "    url: \"" +
      u.keyed.url("/mcp") +
      "\"\n"
      "    auth_type: api_key\n"
      "    category: dev\n"
      "  - id: nometa\n"
      "    name: No Metadata\n"
      "    url: \"" +
      u.nometa.url("/mcp") +
      "\"\n"
      "    auth_type: oauth\n"
      "    category: data\n";
  return o;
}

struct template_fixture : template_upstreams, gateway {
  template_fixture()
      : template_upstreams(), gateway(template_options(*this)), alice(client(create_key("alice", "*"))), mcp(keyed) {
    mcp.set_tools({named("echo")});
  }
  api_client alice;
  mcp_upstream mcp;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(audit_api)

// ---------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(installation_events, audit_fixture)

BOOST_AUTO_TEST_CASE(create_patch_and_delete_are_recorded_with_their_details_and_no_secret) {
  const std::int64_t start = now_micros();
  const json::object one = create_installation(
      alice, e1, json::object{{"url", "https://one.example.com/mcp"}, {"auth_type", "none"}, {"display_name", "One"}});
  const std::string one_id = id_of(one);
  // install_custom with a key, whose tools sync fails (nothing listens).
  const std::string keyed_id =
      install(alice, "http://127.0.0.1:" + std::to_string(closed_port()) + "/mcp", "api_key", upstream_key);

  const std::string item = item_of(e1, one_id);
  reply r = alice.patch(item, json::object{{"display_name", "Renamed"}, {"is_enabled", false}, {"description", ""}});
  BOOST_TEST_REQUIRE(r.status == 200u, r);
  // The same values again change nothing: no record.
  r = alice.patch(item, json::object{{"display_name", "Renamed"}, {"is_enabled", false}});
  BOOST_TEST_REQUIRE(r.status == 200u, r);
  r = alice.patch(item, json::object{});
  BOOST_TEST_REQUIRE(r.status == 200u, r);
  r = alice.patch(item_of(p1, one_id), json::object{{"description", "about it"}});
  BOOST_TEST_REQUIRE(r.status == 200u, r);
  // Refused changes are no changes.
  BOOST_TEST(alice.patch(item, json::object{{"url", "https://two.example.com/mcp"}}).status == 400u);
  BOOST_TEST(alice.patch(item_of(e1, "01900000-0000-7000-8000-000000000000"), json::object{{"description", "x"}})
                 .status == 404u);
  r = alice.del(item_of(e1, keyed_id));
  BOOST_TEST_REQUIRE(r.status == 204u, r);
  BOOST_TEST(alice.del(item_of(e1, keyed_id)).status == 404u);
  const std::int64_t end = now_micros();

  const reply listed = alice.get(e1_events);
  BOOST_TEST(listed.body.find(upstream_key) == std::string::npos, "the API key shows in " << listed.body);
  BOOST_TEST(listed.body.find("mcpg_") == std::string::npos, "a gateway key shows in " << listed.body);
  const json::object page = page_of(listed);
  BOOST_TEST(page.at("count") == 5);
  BOOST_TEST(page.at("next").is_null());
  BOOST_TEST(page.at("previous").is_null());
  const json::array got = results_of(page);
  const std::vector<std::string> expected_types{"installation_deleted", "installation_changed", "installation_changed",
                                                "installation_created", "installation_created"};
  BOOST_TEST_REQUIRE(types_of(got) == expected_types, boost::test_tools::per_element());

  const auto alice_user = gateway_db(data_dir()).user_id("alice");
  BOOST_TEST_REQUIRE(alice_user.has_value(), "no user alice");
  const std::int64_t alice_id = *alice_user;
  std::int64_t previous = end + 1;
  for (const auto& e : got) {
    BOOST_TEST_CONTEXT(json::serialize(e)) {
      BOOST_TEST(e.at("user_id") == alice_id);
      BOOST_TEST(e.at("tool_name").is_null());
      const std::int64_t at = *iso8601_micros(e.at("created_at").as_string());
      BOOST_TEST(at >= start - 1'000'000);
      BOOST_TEST(at <= end + 1'000'000);
      BOOST_TEST(at <= previous, "not newest first");
      previous = at;
    }
  }
  BOOST_TEST(string_of(got[0], "installation_id") == keyed_id);
  BOOST_TEST(detail_of(got[0]) ==
             (json::object{{"auth_type", "api_key"}, {"display_name", "Upstream"}, {"template_id", nullptr}}));
  BOOST_TEST(string_of(got[1], "installation_id") == one_id);
  BOOST_TEST(got[1].at("detail") == fields({"description"}));
  BOOST_TEST(string_of(got[2], "installation_id") == one_id);
  // "description" was sent as it was (""): not a change.
  BOOST_TEST(got[2].at("detail") == fields({"display_name", "is_enabled"}));
  BOOST_TEST(string_of(got[3], "installation_id") == keyed_id);
  BOOST_TEST(detail_of(got[3]) == (json::object{{"auth_type", "api_key"},
                                                {"display_name", "Upstream"},
                                                {"template_id", nullptr},
                                                {"source", "install_custom"}}));
  BOOST_TEST(string_of(got[4], "installation_id") == one_id);
  BOOST_TEST(
      detail_of(got[4]) ==
      (json::object{{"auth_type", "none"}, {"display_name", "One"}, {"template_id", nullptr}, {"source", "create"}}));
  // Nothing else was written: the projects twin reads the same records.
  BOOST_TEST(events(alice, p1_events) == got);
}

BOOST_AUTO_TEST_CASE(a_duplicate_create_records_nothing) {
  create_url(alice, e1, "https://one.example.com/mcp");
  BOOST_TEST(is_validation_error(alice.post(e1, json::object{{"url", "https://one.example.com/mcp"}}), "unique",
                                 "url"));
  BOOST_TEST(alice.post(e1, json::object{{"url", "ftp://one.example.com/mcp"}}).status == 400u);
  BOOST_TEST(types_of(events(alice, e1_events)) == (std::vector<std::string>{"installation_created"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(template_and_oauth_events, template_fixture)

BOOST_AUTO_TEST_CASE(install_template_records_the_creation_and_a_replaced_key_without_its_value) {
  const std::string first_key = "sk-template-FIRST-0001";
  const std::string second_key = "sk-template-SECOND-0002";
  reply r = alice.post(p1 + "/install_template/", json::object{{"template_id", "keyed"}, {"api_key", first_key}});
  BOOST_TEST_REQUIRE(r.status == 201u, r);
  const std::string keyed_id = id_of(r.object());
  r = alice.post(e1 + "/install_template", json::object{{"template_id", "keyed"}, {"api_key", second_key}});
  BOOST_TEST_REQUIRE(r.status == 201u, r);
  BOOST_TEST_REQUIRE(id_of(r.object()) == keyed_id);
  // OAuth installs whose flow cannot start remove the row they made: both
  // the creation and the removal are on record.
  r = alice.post(p1 + "/install_template/", json::object{{"template_id", "nometa"}});
  BOOST_TEST_REQUIRE(r.status == 400u, r);
  r = alice.post(e1 + "/install_custom/",
                 json::object{{"name", "Custom"}, {"url", nometa.url("/other")}, {"auth_type", "oauth"}});
  BOOST_TEST_REQUIRE(r.status == 400u, r);
  BOOST_TEST(count_of(alice, e1) == 1);

  const reply listed = alice.get(e1_events);
  BOOST_TEST(listed.body.find(first_key) == std::string::npos, listed.body);
  BOOST_TEST(listed.body.find(second_key) == std::string::npos, listed.body);
  const json::array got = results_of(page_of(listed));
  const std::vector<std::string> expected_types{"installation_deleted", "installation_created", "installation_deleted",
                                                "installation_created", "installation_changed", "installation_created"};
  BOOST_TEST_REQUIRE(types_of(got) == expected_types, boost::test_tools::per_element());

  BOOST_TEST(string_of(got[5], "installation_id") == keyed_id);
  BOOST_TEST(got[5].at("detail") == (json::object{{"auth_type", "api_key"},
                                                  {"display_name", ""},
                                                  {"template_id", "keyed"},
                                                  {"source", "install_template"}}));
  BOOST_TEST(string_of(got[4], "installation_id") == keyed_id);
  BOOST_TEST(got[4].at("detail") == fields({"api_key"}));

  const std::string nometa_id = string_of(got[3], "installation_id");
  BOOST_TEST(nometa_id != keyed_id);
  BOOST_TEST(got[3].at("detail") == (json::object{{"auth_type", "oauth"},
                                                  {"display_name", ""},
                                                  {"template_id", "nometa"},
                                                  {"source", "install_template"}}));
  BOOST_TEST(string_of(got[2], "installation_id") == nometa_id);
  BOOST_TEST(got[2].at("detail") == (json::object{{"auth_type", "oauth"},
                                                  {"display_name", ""},
                                                  {"template_id", "nometa"},
                                                  {"reason", "oauth_flow_failed"}}));

  const std::string custom_id = string_of(got[1], "installation_id");
  BOOST_TEST(got[1].at("detail") == (json::object{{"auth_type", "oauth"},
                                                  {"display_name", "Custom"},
                                                  {"template_id", nullptr},
                                                  {"source", "install_custom"}}));
  BOOST_TEST(string_of(got[0], "installation_id") == custom_id);
  BOOST_TEST(string_of(detail_of(got[0]), "reason") == "oauth_flow_failed");
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(tool_events, audit_fixture)

BOOST_AUTO_TEST_CASE(an_approval_change_is_recorded_with_from_and_to) {
  mcp.set_tools({named("deploy"), named("read")});
  const std::string id = install_mcp(alice, upstream, upstream.url("/mcp"), "api_key", upstream_key);
  set_state(id, "deploy", "approved");
  set_state(id, "deploy", "approved");  // no change, no record
  set_state(id, "read", "do_not_use");

  const json::array got = events(alice, e1_events + "?event_type=tool_approval_changed");
  BOOST_TEST_REQUIRE(got.size() == 2u);
  BOOST_TEST(string_of(got[0], "tool_name") == "read");
  BOOST_TEST(got[0].at("detail") == (json::object{{"from", "needs_approval"}, {"to", "do_not_use"}}));
  BOOST_TEST(string_of(got[1], "tool_name") == "deploy");
  BOOST_TEST(got[1].at("detail") == (json::object{{"from", "needs_approval"}, {"to", "approved"}}));
  for (const auto& e : got) BOOST_TEST(string_of(e, "installation_id") == id);
}

BOOST_AUTO_TEST_CASE(forwarded_and_blocked_calls_are_recorded_and_other_methods_are_not) {
  mcp.set_tools({named("deploy"), named("read"), named("pending")});
  const std::string id = install_mcp(alice, upstream, upstream.url("/mcp"), "api_key", upstream_key);
  set_state(id, "deploy", "approved");
  set_state(id, "read", "approved");
  const json::array before = events(alice, e1_events);

  const steady::time_point sent = steady::now();
  reply r = rpc(id, call_body(1, "deploy"));
  const std::int64_t round_trip_ms = ms_since(sent);
  BOOST_TEST_REQUIRE(r.status == 200u, r);
  BOOST_TEST(r.body.find("called deploy") != std::string::npos, r);
  r = rpc(id, call_body(2, "pending"));
  BOOST_TEST_REQUIRE(r.status == 200u, r);
  BOOST_TEST(r.body.find("-32001") != std::string::npos, r);
  // Other methods leave no record.
  BOOST_TEST(rpc(id, R"({"jsonrpc":"2.0","id":3,"method":"ping"})").status == 200u);
  BOOST_TEST(rpc(id, R"({"jsonrpc":"2.0","id":4,"method":"tools/list"})").status == 200u);
  // A batch of two allowed calls: one record each.
  r = rpc(id, "[" + call_body(5, "read") + "," + call_body(6, "deploy") + "]");
  BOOST_TEST_REQUIRE(r.status == 200u, r);
  BOOST_TEST(calls_received(upstream, "deploy") == 2u);
  // An upstream that fails still had the call forwarded: its status is kept.
  mcp.set_fail_status(500);
  BOOST_TEST(rpc(id, call_body(7, "read")).status == 500u);

  const reply listed = alice.get(e1_events);
  BOOST_TEST(listed.body.find(upstream_key) == std::string::npos, listed.body);
  const json::array all = results_of(page_of(listed));
  BOOST_TEST_REQUIRE(all.size() == before.size() + 5);
  const json::array got(all.begin(), all.begin() + 5);
  const std::vector<std::string> expected_types{"tool_call_forwarded", "tool_call_forwarded", "tool_call_forwarded",
                                                "tool_call_blocked", "tool_call_forwarded"};
  BOOST_TEST_REQUIRE(types_of(got) == expected_types, boost::test_tools::per_element());
  // The batch's two records (1 and 2) share one moment, so either may come first.
  const std::set<std::string> batch_tools{string_of(got[1], "tool_name"), string_of(got[2], "tool_name")};
  BOOST_TEST((batch_tools == std::set<std::string>{"read", "deploy"}));
  BOOST_TEST(got[1].at("created_at") == got[2].at("created_at"));
  const std::vector<std::string> expected_tools{"read", "", "", "pending", "deploy"};
  for (std::size_t i = 0; i < got.size(); ++i) {
    BOOST_TEST_CONTEXT("event " << i << ": " << json::serialize(got[i])) {
      if (!expected_tools[i].empty()) BOOST_TEST(string_of(got[i], "tool_name") == expected_tools[i]);
      BOOST_TEST(string_of(got[i], "installation_id") == id);
      BOOST_TEST(got[i].at("user_id") == before.front().at("user_id"));
      if (i == 3) {
        BOOST_TEST(got[i].at("detail") == (json::object{{"state", "needs_approval"}}));
        continue;
      }
      const json::object& detail = detail_of(got[i]);
      BOOST_TEST(detail.size() == 3u);
      BOOST_TEST(string_of(detail, "decision") == "forwarded");
      BOOST_TEST_REQUIRE(detail.contains("latency_ms"));
      BOOST_TEST_REQUIRE(detail.at("latency_ms").is_int64());
      BOOST_TEST(detail.at("latency_ms").as_int64() >= 0);
      BOOST_TEST(detail.at("upstream_status") == (i == 0 ? 500 : 200));
    }
  }
  // The first call's latency is within what the agent saw.
  BOOST_TEST(detail_of(got[4]).at("latency_ms").as_int64() <= round_trip_ms);

  // The filters pick them out.
  BOOST_TEST(events(alice, e1_events + "?event_type=tool_call_forwarded").size() == 4u);
  BOOST_TEST(events(alice, e1_events + "?event_type=tool_call_blocked&installation_id=" + id).size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_call_the_upstream_never_answers_is_recorded_with_its_error) {
  mcp.set_tools({named("deploy")});
  const std::string id = install_mcp(alice, upstream, upstream.url("/mcp"), "api_key", upstream_key);
  set_state(id, "deploy", "approved");
  // The upstream hangs up on every request without an answer.
  upstream.on_request([](fake_exchange& ex) { ex.close_connection(); });
  BOOST_TEST(is_proxy_error(rpc(id, call_body(1, "deploy")), 502, "Upstream MCP server unreachable"));
  BOOST_TEST(is_proxy_error(rpc(id, R"({"jsonrpc":"2.0","id":2,"method":"ping"})"), 502,
                            "Upstream MCP server unreachable"));

  const json::array got = events(alice, e1_events + "?installation_id=" + id);
  BOOST_TEST_REQUIRE(types_of(got) == (std::vector<std::string>{"tool_call_forwarded", "tool_approval_changed",
                                                                "installation_created"}),
                     boost::test_tools::per_element());
  BOOST_TEST(string_of(got[0], "tool_name") == "deploy");
  const json::object& detail = detail_of(got[0]);
  BOOST_TEST(detail.size() == 3u, json::serialize(detail));
  BOOST_TEST(string_of(detail, "decision") == "forwarded");
  BOOST_TEST(string_of(detail, "error") == "unreachable");
  BOOST_TEST_REQUIRE(detail.contains("latency_ms"));
  BOOST_TEST((detail.at("latency_ms").is_int64() && detail.at("latency_ms").as_int64() >= 0), json::serialize(detail));
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(listing, audit_fixture)

BOOST_AUTO_TEST_CASE(limit_offset_links_and_count_walk_the_records_newest_first) {
  std::vector<std::string> installations;  // oldest first
  for (int i = 0; i < 5; ++i) {
    installations.push_back(id_of(create_url(alice, e1, "https://example.com/mcp/" + std::to_string(i))));
  }
  for (const int i : {1, 3}) {
    const reply r = alice.patch(item_of(e1, installations[i]), json::object{{"display_name", "n" + std::to_string(i)}});
    BOOST_TEST_REQUIRE(r.status == 200u, r);
  }
  const json::array all = events(alice, e1_events);
  BOOST_TEST_REQUIRE(all.size() == 7u);
  const std::vector<std::string> newest_first = ids_of(all);
  BOOST_TEST(std::set<std::string>(newest_first.begin(), newest_first.end()).size() == 7u);
  BOOST_TEST(string_of(all[0], "installation_id") == installations[3]);
  BOOST_TEST(string_of(all[6], "installation_id") == installations[0]);

  // Forward along next, with a trailing slash that the links keep.
  const std::string base = e1_events + "/";
  std::vector<std::string> pages;
  std::vector<std::string> seen;
  std::string target = base + "?limit=3";
  for (int guard = 0; guard < 10; ++guard) {
    pages.push_back(target);
    const json::object page = page_of(alice.get(target));
    BOOST_TEST(page.at("count") == 7);
    for (const auto& id : ids_of(results_of(page))) seen.push_back(id);
    if (page.at("next").is_null()) break;
    target = target_of_link(page.at("next"), base_url());
  }
  BOOST_TEST(pages ==
                 (std::vector<std::string>{base + "?limit=3", base + "?limit=3&offset=3", base + "?limit=3&offset=6"}),
             boost::test_tools::per_element());
  BOOST_TEST(seen == newest_first, boost::test_tools::per_element());

  // Back along previous.
  const json::object last = page_of(alice.get(base + "?limit=3&offset=6"));
  BOOST_TEST(results_of(last).size() == 1u);
  BOOST_TEST(string_of(last, "previous") == base_url() + base + "?limit=3&offset=3");
  const json::object middle = page_of(alice.get(e1_events + "?offset=2&limit=3"));
  BOOST_TEST(ids_of(results_of(middle)) ==
                 (std::vector<std::string>(newest_first.begin() + 2, newest_first.begin() + 5)),
             boost::test_tools::per_element());
  BOOST_TEST(string_of(middle, "next") == base_url() + e1_events + "?limit=3&offset=5");
  BOOST_TEST(string_of(middle, "previous") == base_url() + e1_events + "?limit=3");

  // The default page holds everything here; a page past the end is empty
  // and still counts.
  const json::object first = page_of(alice.get(e1_events));
  BOOST_TEST(results_of(first).size() == 7u);
  const json::object past = page_of(alice.get(e1_events + "?offset=100"));
  BOOST_TEST(past.at("count") == 7);
  BOOST_TEST(results_of(past).empty());
  BOOST_TEST(past.at("next").is_null());
  BOOST_TEST(string_of(past, "previous") == base_url() + e1_events + "?limit=100");
  const json::object largest = page_of(alice.get(e1_events + "?offset=9223372036854775807"));
  BOOST_TEST(largest.at("count") == 7);
  BOOST_TEST(results_of(largest).empty());
}

BOOST_AUTO_TEST_CASE(filters_by_installation_and_event_type_and_the_links_keep_them) {
  std::vector<std::string> installations;
  for (int i = 0; i < 3; ++i) {
    installations.push_back(id_of(create_url(alice, e1, "https://example.com/mcp/" + std::to_string(i))));
  }
  for (const std::string& id : installations) {
    const reply r = alice.patch(item_of(e1, id), json::object{{"is_enabled", false}});
    BOOST_TEST_REQUIRE(r.status == 200u, r);
  }
  const std::string& middle = installations[1];

  const json::object changed = page_of(alice.get(e1_events + "?event_type=installation_changed&limit=2"));
  BOOST_TEST(changed.at("count") == 3);
  BOOST_TEST(types_of(results_of(changed)) == (std::vector<std::string>(2, "installation_changed")),
             boost::test_tools::per_element());
  BOOST_TEST(string_of(changed, "next") ==
             base_url() + e1_events + "?limit=2&offset=2&event_type=installation_changed");
  const json::object rest = page_of(alice.get(target_of_link(changed.at("next"), base_url())));
  BOOST_TEST_REQUIRE(results_of(rest).size() == 1u);
  BOOST_TEST(string_of(results_of(rest)[0], "installation_id") == installations[0]);
  BOOST_TEST(string_of(rest, "previous") == base_url() + e1_events + "?limit=2&event_type=installation_changed");

  const json::object one = page_of(alice.get(e1_events + "?installation_id=" + middle + "&limit=1"));
  BOOST_TEST(one.at("count") == 2);
  BOOST_TEST(types_of(results_of(one)) == (std::vector<std::string>{"installation_changed"}));
  BOOST_TEST(string_of(one, "next") == base_url() + e1_events + "?limit=1&offset=1&installation_id=" + middle);
  const json::array both = events(alice, e1_events + "?installation_id=" + middle + "&event_type=installation_created");
  BOOST_TEST_REQUIRE(both.size() == 1u);
  BOOST_TEST(string_of(both[0], "installation_id") == middle);
  BOOST_TEST(string_of(both[0], "event_type") == "installation_created");

  // A filter value is percent-decoded, and encoded again in the links.
  const json::object odd = page_of(alice.get(e1_events + "?installation_id=a%26b%20c&limit=1&offset=1"));
  BOOST_TEST(odd.at("count") == 0);
  BOOST_TEST(string_of(odd, "previous") == base_url() + e1_events + "?limit=1&installation_id=a%26b%20c");
  // An unknown installation has no records; an empty filter is no filter.
  BOOST_TEST(page_of(alice.get(e1_events + "?installation_id=01900000-0000-7000-8000-000000000000")).at("count") == 0);
  BOOST_TEST(page_of(alice.get(e1_events + "?installation_id=&event_type=")).at("count") == 6);

  // An unknown event type is a 400 that names the valid ones.
  for (const std::string value : {"nope", "INSTALLATION_CREATED", "installation_created%20"}) {
    BOOST_TEST_CONTEXT(value) {
      const reply r = alice.get(e1_events + "?event_type=" + value);
      BOOST_TEST(is_validation_error(r, "invalid_choice", "event_type"));
      const std::string detail = string_of(r.json(), "detail");
      for (const char* type : {"installation_created", "installation_changed", "installation_deleted",
                               "tool_approval_changed", "tool_call_blocked", "tool_call_forwarded"}) {
        BOOST_TEST(detail.find(type) != std::string::npos, detail);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(a_bad_limit_or_offset_is_400_as_on_the_installations_list) {
  create_url(alice, e1, "https://one.example.com/mcp");
  for (const std::string value : {"0", "1001", "-1", "abc", "", "1.5", "10x", "99999999999999999999999"}) {
    BOOST_TEST_CONTEXT("limit=" << value) {
      const reply r = alice.get(e1_events + "?limit=" + value);
      BOOST_TEST(is_validation_error(r, "invalid", "limit"));
      BOOST_TEST(r.body == alice.get(e1 + "?limit=" + value).body);
    }
  }
  for (const std::string value : {"-1", "abc", "", "2.0", "99999999999999999999999"}) {
    BOOST_TEST_CONTEXT("offset=" << value) {
      const reply r = alice.get(e1_events + "?offset=" + value);
      BOOST_TEST(is_validation_error(r, "invalid", "offset"));
      BOOST_TEST(r.body == alice.get(e1 + "?offset=" + value).body);
    }
  }
  BOOST_TEST(alice.get(e1_events + "?limit=1").status == 200u);
  BOOST_TEST(alice.get(e1_events + "?limit=1000&offset=0").status == 200u);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(scoping, audit_fixture)

BOOST_AUTO_TEST_CASE(the_projects_twin_reads_the_default_environment_and_keeps_its_family_in_links) {
  for (int i = 0; i < 3; ++i) create_url(alice, p1, "https://example.com/mcp/" + std::to_string(i));
  const std::string other_env = id_of(create_url(alice, e3, "https://example.com/mcp/0"));

  const json::object via_projects = page_of(alice.get(p1_events + "?limit=2"));
  const json::object via_environments = page_of(alice.get(e1_events + "?limit=2"));
  BOOST_TEST(via_projects.at("count") == 3);
  BOOST_TEST(via_projects.at("results") == via_environments.at("results"));
  BOOST_TEST(string_of(via_projects, "next") == base_url() + p1_events + "?limit=2&offset=2");
  BOOST_TEST(string_of(via_environments, "next") == base_url() + e1_events + "?limit=2&offset=2");
  BOOST_TEST(page_of(alice.get(p1_events + "/")).at("count") == 3);

  // Environment 3 of project 1 has its own records.
  const json::array e3_events_seen = events(alice, e3_events);
  BOOST_TEST_REQUIRE(e3_events_seen.size() == 1u);
  BOOST_TEST(string_of(e3_events_seen[0], "installation_id") == other_env);
  for (const auto& e : results_of(page_of(alice.get(p1_events)))) {
    BOOST_TEST(string_of(e, "installation_id") != other_env);
  }
  // An unknown project or environment is 404, as everywhere.
  BOOST_TEST(is_error(alice.get("/api/projects/99/mcp_audit_events"), 404, "invalid_request", "not_found"));
  BOOST_TEST(is_error(alice.get("/api/environments/99/mcp_audit_events/"), 404, "invalid_request", "not_found"));
}

BOOST_AUTO_TEST_CASE(a_user_sees_only_their_own_records) {
  const std::string alices = id_of(create_url(alice, e1, "https://example.com/mcp/a"));
  // bob's records are his alone, even about the same url.
  BOOST_TEST(page_of(bob.get(e1_events)).at("count") == 0);
  BOOST_TEST(page_of(bob.get(e1_events + "?installation_id=" + alices)).at("count") == 0);
  const std::string bobs = id_of(create_url(bob, e1, "https://example.com/mcp/a"));
  BOOST_TEST(bob.patch(item_of(e1, alices), json::object{{"display_name", "mine"}}).status == 404u);
  BOOST_TEST(bob.del(item_of(e1, alices)).status == 404u);

  const json::array bob_sees = events(bob, e1_events);
  BOOST_TEST_REQUIRE(bob_sees.size() == 1u);
  BOOST_TEST(string_of(bob_sees[0], "installation_id") == bobs);
  const json::array alice_sees = events(alice, e1_events);
  BOOST_TEST_REQUIRE(alice_sees.size() == 1u);
  BOOST_TEST(string_of(alice_sees[0], "installation_id") == alices);
  BOOST_TEST(alice_sees[0].at("user_id") != bob_sees[0].at("user_id"));
  BOOST_TEST(page_of(alice.get(p1_events + "?installation_id=" + bobs)).at("count") == 0);
}

BOOST_AUTO_TEST_CASE(keys_scopes_projects_and_methods_are_refused_as_on_the_other_endpoints) {
  create_url(alice, e1, "https://example.com/mcp/a");

  // No key, an unknown key: 401.
  api_client nobody = anonymous();
  BOOST_TEST(nobody.get(e1_events).status == 401u);
  BOOST_TEST(nobody.get(e1_events).body == nobody.get(e1).body);
  api_client stranger(port(), "mcpg_not_a_real_key_0000000000000000");
  BOOST_TEST(stranger.get(p1_events).status == 401u);
  BOOST_TEST(stranger.get(p1_events).body == stranger.get(p1).body);

  // A key without project:read (the CLI makes none: rewritten in the store).
  const api_key narrow = create_key("alice", "project:read");
  BOOST_TEST_REQUIRE(gateway_db(data_dir(), gateway_db::access::read_write)
                             .execute("UPDATE api_keys SET scopes = ?1 WHERE id = ?2",
                                      {"feature_flag:read", narrow.id}) == 1,
                     "no key " << narrow.id);
  api_client narrow_client = client(narrow);
  const reply refused = narrow_client.get(e1_events);
  BOOST_TEST(is_error(refused, 403, "authentication_error", "permission_denied"));
  BOOST_TEST(string_of(refused.json(), "detail").find("project:read") != std::string::npos, refused);
  BOOST_TEST(refused.body == narrow_client.get(e1).body);
  BOOST_TEST(narrow_client.get(p1_events + "?limit=1").body == refused.body);
  // project:read and project:write both read the trail.
  for (const char* scopes : {"project:read", "project:write"}) {
    BOOST_TEST_CONTEXT(scopes) {
      auto reader = client(create_key("alice", scopes));
      BOOST_TEST(page_of(reader.get(e1_events)).at("count") == 1);
    }
  }

  // A key limited to project 2: 403 in project 1, its records in project 2.
  auto limited = client(create_key("alice", "*", "2"));
  const reply other_project = limited.get(p1_events);
  BOOST_TEST(is_error(other_project, 403, "authentication_error", "permission_denied"));
  BOOST_TEST(other_project.body == limited.get(p1).body);
  BOOST_TEST(page_of(limited.get("/api/projects/2/mcp_audit_events")).at("count") == 0);

  // Only GET: 405 with Allow.
  for (const char* method : {"POST", "PATCH", "DELETE", "PUT"}) {
    BOOST_TEST_CONTEXT(method) {
      const reply r = alice.send(method, e1_events, method == std::string("POST") ? "{}" : "");
      BOOST_TEST(is_error(r, 405, "invalid_request", "method_not_allowed"));
      BOOST_TEST(r.header("Allow") == "GET");
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE_END()
