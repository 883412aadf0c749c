// Who may do what: API keys (missing, unknown, revoked), scopes, project
// restrictions, the order of the checks, and per-user/per-environment tenancy.
#include "harness.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

using namespace mcpgate::it;

namespace {}  // namespace

// ---------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(authentication, default_gateway)

BOOST_AUTO_TEST_CASE(a_request_without_a_key_is_401_not_authenticated) {
  auto alice = client(create_key("alice", "*"));
  const std::string item = item_of(p1, id_of(create_url(alice, p1, "https://one.example.com/mcp")));
  auto nobody = anonymous();
  const auto check = [&](const header_list& headers) {
    BOOST_TEST(is_error(nobody.send("GET", p1, "", headers), 401, "authentication_error", "not_authenticated"));
    BOOST_TEST(is_error(nobody.send("POST", p1, R"({"url":"https://x.example.com/"})", headers), 401,
                        "authentication_error", "not_authenticated"));
    BOOST_TEST(is_error(nobody.send("GET", item, "", headers), 401, "authentication_error", "not_authenticated"));
    BOOST_TEST(is_error(nobody.send("PATCH", item, R"({"display_name":"x"})", headers), 401, "authentication_error",
                        "not_authenticated"));
    BOOST_TEST(is_error(nobody.send("DELETE", item, "", headers), 401, "authentication_error", "not_authenticated"));
  };
  BOOST_TEST_CONTEXT("no Authorization header") { check({}); }
  BOOST_TEST_CONTEXT("another scheme") { check({{"Authorization", "Basic YWxpY2U6c2VjcmV0"}}); }
  BOOST_TEST_CONTEXT("Bearer without a key") { check({{"Authorization", "Bearer "}}); }
  // Nothing was changed by the rejected requests.
  BOOST_TEST(alice.get(item).status == 200u);
  BOOST_TEST(count_of(alice, p1) == 1);
}

BOOST_AUTO_TEST_CASE(an_unknown_key_is_401_authentication_failed) {
  const api_key real = create_key("alice", "*");
  auto stranger = anonymous();
  for (const std::string& token : {std::string("mcpg_unknown"), real.secret + "x", real.secret.substr(0, 20)}) {
    BOOST_TEST_CONTEXT("token " << token) {
      BOOST_TEST(is_error(stranger.send("GET", p1, "", {{"Authorization", "Bearer " + token}}), 401,
                          "authentication_error", "authentication_failed"));
    }
  }
}

BOOST_AUTO_TEST_CASE(a_key_revoked_while_the_daemon_runs_is_401_on_the_next_request) {
  const api_key key = create_key("alice", "*");
  const api_key other = create_key("alice", "*");
  auto alice = client(key);
  const std::string item = item_of(p1, id_of(create_url(alice, p1, "https://one.example.com/mcp")));
  BOOST_TEST_REQUIRE(alice.get(p1).status == 200u);

  revoke_key(key.id);

  // Same keep-alive connection: the key is checked on every request.
  BOOST_TEST(is_error(alice.get(p1), 401, "authentication_error", "authentication_failed"));
  BOOST_TEST(is_error(alice.get(item), 401, "authentication_error", "authentication_failed"));
  BOOST_TEST(is_error(alice.post(p1, body_with_url("https://two.example.com/")), 401, "authentication_error",
                      "authentication_failed"));
  BOOST_TEST(alice.connections_opened() == 1);
  // The user's other key still works and sees the installation.
  auto still = client(other);
  BOOST_TEST(still.get(item).status == 200u);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(authorization, default_gateway)

BOOST_AUTO_TEST_CASE(a_read_scope_key_cannot_create_but_can_read_update_and_delete) {
  auto writer = client(create_key("alice", "*"));
  auto reader = client(create_key("alice", "project:read"));
  const json::object created = create_url(writer, p1, "https://one.example.com/mcp");
  const std::string item = item_of(p1, id_of(created));

  const reply denied = reader.post(p1, body_with_url("https://two.example.com/mcp"));
  BOOST_TEST(is_error(denied, 403, "authentication_error", "permission_denied"));
  BOOST_TEST(string_of(denied.json(), "detail").find("project:write") != std::string::npos, denied);
  BOOST_TEST(count_of(writer, p1) == 1);

  const reply list = reader.get(p1);
  BOOST_TEST_REQUIRE(list.status == 200u, list);
  BOOST_TEST(list.object().at("results") == (json::array{created}));
  const reply one = reader.get(item);
  BOOST_TEST(one.status == 200u, one);
  const reply patched = reader.patch(item, json::object{{"display_name", "Renamed"}});
  BOOST_TEST_REQUIRE(patched.status == 200u, patched);
  BOOST_TEST(patched.object().at("display_name") == "Renamed");
  const reply deleted = reader.del(item);
  BOOST_TEST(deleted.status == 204u, deleted);
  BOOST_TEST(writer.get(item).status == 404u);
}

BOOST_AUTO_TEST_CASE(a_write_scope_key_can_create_and_read) {
  auto writer = client(create_key("alice", "project:write"));
  const json::object created = create_url(writer, p1, "https://one.example.com/mcp");
  BOOST_TEST(writer.get(p1).status == 200u);
  BOOST_TEST(writer.get(item_of(p1, id_of(created))).status == 200u);
  auto both = client(create_key("alice", "project:read,project:write"));
  BOOST_TEST(both.post(p1, body_with_url("https://two.example.com/mcp")).status == 201u);
}

BOOST_AUTO_TEST_CASE(a_key_limited_to_project_2_is_403_elsewhere) {
  auto full = client(create_key("alice", "*"));
  auto limited = client(create_key("alice", "*", "2"));
  const std::string id1 = id_of(create_url(full, p1, "https://one.example.com/mcp"));
  const std::string id3 = id_of(create_url(full, environments_collection(3), "https://three.example.com/mcp"));

  for (const std::string& collection : {p1, environments_collection(1), environments_collection(3)}) {
    BOOST_TEST_CONTEXT(collection) {
      const std::string id = collection == environments_collection(3) ? id3 : id1;
      const std::string item = item_of(collection, id);
      BOOST_TEST(is_error(limited.get(collection), 403, "authentication_error", "permission_denied"));
      BOOST_TEST(is_error(limited.post(collection, body_with_url("https://new.example.com/")), 403,
                          "authentication_error", "permission_denied"));
      BOOST_TEST(is_error(limited.get(item), 403, "authentication_error", "permission_denied"));
      BOOST_TEST(is_error(limited.patch(item, json::object{{"display_name", "x"}}), 403, "authentication_error",
                          "permission_denied"));
      BOOST_TEST(is_error(limited.del(item), 403, "authentication_error", "permission_denied"));
    }
  }
  BOOST_TEST(count_of(full, p1) == 1);
  BOOST_TEST(count_of(full, environments_collection(3)) == 1);

  // Project 2 is allowed, through both route families.
  const json::object in2 = create_url(limited, projects_collection(2), "https://two.example.com/mcp");
  BOOST_TEST(limited.get(item_of(environments_collection(2), id_of(in2))).status == 200u);
  BOOST_TEST(count_of(limited, environments_collection(2)) == 1);
}

BOOST_AUTO_TEST_CASE(an_unknown_project_or_environment_is_404) {
  auto alice = client(create_key("alice", "*"));
  auto limited = client(create_key("alice", "*", "2"));
  // Environment 3 exists, but only as an environment: there is no project 3.
  for (const std::string& collection : {environments_collection(99), projects_collection(99), projects_collection(3)}) {
    BOOST_TEST_CONTEXT(collection) {
      BOOST_TEST(is_error(alice.get(collection), 404, "invalid_request", "not_found"));
      BOOST_TEST(is_error(alice.post(collection, body_with_url("https://x.example.com/")), 404, "invalid_request",
                          "not_found"));
      BOOST_TEST(is_error(alice.get(item_of(collection, "01900000-0000-7000-8000-000000000000")), 404,
                          "invalid_request", "not_found"));
      // The environment is checked before the key's project restriction.
      BOOST_TEST(is_error(limited.get(collection), 404, "invalid_request", "not_found"));
    }
  }
}

BOOST_AUTO_TEST_CASE(checks_run_in_the_documented_order) {
  auto nobody = anonymous();
  auto reader = client(create_key("alice", "project:read"));
  auto limited = client(create_key("alice", "project:read", "2"));
  // route before key
  BOOST_TEST(is_error(nobody.get("/api/projects/1/nothing_here"), 404, "invalid_request", "not_found"));
  // key before environment
  BOOST_TEST(is_error(nobody.get(environments_collection(99)), 401, "authentication_error", "not_authenticated"));
  // key before method
  BOOST_TEST(is_error(nobody.send("PUT", p1), 401, "authentication_error", "not_authenticated"));
  // environment before project restriction and method
  BOOST_TEST(is_error(limited.send("PUT", environments_collection(99)), 404, "invalid_request", "not_found"));
  // project restriction before method
  BOOST_TEST(is_error(limited.send("PUT", p1), 403, "authentication_error", "permission_denied"));
  // method before scope
  const reply put = reader.send("PUT", p1, R"({"url":"https://x.example.com/"})");
  BOOST_TEST(is_error(put, 405, "invalid_request", "method_not_allowed"));
  BOOST_TEST(put.header("Allow") == "GET, POST");
  // scope before body validation
  BOOST_TEST(is_error(reader.send("POST", p1, "{not json"), 403, "authentication_error", "permission_denied"));
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(tenancy, default_gateway)

BOOST_AUTO_TEST_CASE(another_users_installation_is_404_and_not_listed) {
  auto alice = client(create_key("alice", "*"));
  auto bob = client(create_key("bob", "*"));
  const json::object created = create_url(alice, p1, "https://shared.example.com/mcp");
  const std::string item = item_of(p1, id_of(created));

  BOOST_TEST(is_error(bob.get(item), 404, "invalid_request", "not_found"));
  BOOST_TEST(is_error(bob.patch(item, json::object{{"display_name", "stolen"}}), 404, "invalid_request", "not_found"));
  BOOST_TEST(is_error(bob.del(item), 404, "invalid_request", "not_found"));
  BOOST_TEST(is_error(bob.get(item_of(environments_collection(1), id_of(created))), 404, "invalid_request",
                      "not_found"));
  const reply bobs = bob.get(p1);
  BOOST_TEST_REQUIRE(bobs.status == 200u, bobs);
  BOOST_TEST(bobs.object().at("count") == 0);
  BOOST_TEST(bobs.object().at("results") == json::array{});

  // Alice's installation is untouched.
  const reply mine = alice.get(item);
  BOOST_TEST_REQUIRE(mine.status == 200u, mine);
  BOOST_TEST(mine.object() == created);

  // The same url is unique per user, so bob may install it too.
  const json::object his = create_url(bob, p1, "https://shared.example.com/mcp");
  BOOST_TEST(id_of(his) != id_of(created));
  BOOST_TEST(count_of(alice, p1) == 1);
  BOOST_TEST(count_of(bob, p1) == 1);
}

BOOST_AUTO_TEST_CASE(project_and_environment_routes_address_the_same_data) {
  auto alice = client(create_key("alice", "*"));
  const json::object a = create_url(alice, p1, "https://a.example.com/mcp");
  const json::object b = create_url(alice, e1, "https://b.example.com/mcp");
  BOOST_TEST(a.at("proxy_url").as_string().find("/api/environments/1/") != json::string::npos);
  BOOST_TEST(b.at("proxy_url").as_string().find("/api/environments/1/") != json::string::npos);

  const reply by_project = alice.get(p1);
  const reply by_environment = alice.get(e1);
  BOOST_TEST_REQUIRE(by_project.status == 200u, by_project);
  BOOST_TEST_REQUIRE(by_environment.status == 200u, by_environment);
  BOOST_TEST(by_project.object().at("results") == (json::array{b, a}));
  BOOST_TEST(by_project.object().at("results") == by_environment.object().at("results"));
  BOOST_TEST(by_project.object().at("count") == by_environment.object().at("count"));

  for (const json::object& o : {a, b}) {
    const reply x = alice.get(item_of(p1, id_of(o)));
    const reply y = alice.get(item_of(e1, id_of(o)));
    BOOST_TEST_REQUIRE(x.status == 200u, x);
    BOOST_TEST_REQUIRE(y.status == 200u, y);
    BOOST_TEST(x.object() == y.object());
    BOOST_TEST(x.object() == o);
  }
  // A change through one family is seen through the other.
  BOOST_TEST(alice.patch(item_of(e1, id_of(a)), json::object{{"display_name", "via env"}}).status == 200u);
  BOOST_TEST(alice.get(item_of(p1, id_of(a))).object().at("display_name") == "via env");
  BOOST_TEST(alice.del(item_of(p1, id_of(b))).status == 204u);
  BOOST_TEST(alice.get(item_of(e1, id_of(b))).status == 404u);
  // The url is unique across both families: they are one environment.
  BOOST_TEST(is_validation_error(alice.post(e1, body_with_url("https://a.example.com/mcp")), "unique", "url"));
}

BOOST_AUTO_TEST_CASE(environment_3_is_not_visible_under_project_1) {
  auto alice = client(create_key("alice", "*"));
  const std::string e3 = environments_collection(3);
  const json::object staging = create_url(alice, e3, "https://same.example.com/mcp");
  BOOST_TEST(string_of(staging, "proxy_url") ==
             base_url() + "/api/environments/3/mcp_server_installations/" + id_of(staging) + "/proxy/");

  BOOST_TEST(count_of(alice, p1) == 0);
  BOOST_TEST(count_of(alice, environments_collection(1)) == 0);
  BOOST_TEST(is_error(alice.get(item_of(p1, id_of(staging))), 404, "invalid_request", "not_found"));
  BOOST_TEST(is_error(alice.patch(item_of(p1, id_of(staging)), json::object{{"is_enabled", false}}), 404,
                      "invalid_request", "not_found"));
  BOOST_TEST(is_error(alice.del(item_of(p1, id_of(staging))), 404, "invalid_request", "not_found"));

  const reply there = alice.get(e3);
  BOOST_TEST_REQUIRE(there.status == 200u, there);
  BOOST_TEST(there.object().at("results") == (json::array{staging}));
  BOOST_TEST(alice.get(item_of(e3, id_of(staging))).object() == staging);

  // The same url in another environment is a different installation.
  const json::object production = create_url(alice, p1, "https://same.example.com/mcp");
  BOOST_TEST(id_of(production) != id_of(staging));
  BOOST_TEST(count_of(alice, e3) == 1);
}

BOOST_AUTO_TEST_SUITE_END()
