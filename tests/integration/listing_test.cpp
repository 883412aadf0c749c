// Lists and routes: pagination and its links, concurrent creates, trailing
// slashes, unknown routes and wrong methods.
#include "harness.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include <set>

using namespace mcpgate::it;

namespace {}  // namespace

// ---------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(pagination, default_gateway)

BOOST_AUTO_TEST_CASE(next_and_previous_links_walk_250_installations_newest_first) {
  auto alice = client(create_key("alice", "*"));
  std::vector<std::string> created;  // oldest first
  for (int i = 0; i < 250; ++i) {
    const reply r =
        alice.post(p1, json::object{{"url", "https://example.com/mcp/" + std::to_string(i)}, {"auth_type", "none"}});
    BOOST_TEST_REQUIRE(r.status == 201u, r);
    created.push_back(string_of(r.json(), "id"));
  }
  BOOST_TEST(alice.connections_opened() == 1);
  std::vector<std::string> newest_first(created.rbegin(), created.rend());

  // Forward along `next`.
  std::vector<std::string> seen;
  std::vector<std::string> pages;  // each page's target, in order
  std::string target = p1 + "?limit=100";
  for (int guard = 0; guard < 10; ++guard) {
    pages.push_back(target);
    const reply r = alice.get(target);
    BOOST_TEST_REQUIRE(r.status == 200u, r);
    const json::object page = r.object();
    BOOST_TEST(page.at("count") == 250);
    for (const auto& item : page.at("results").as_array()) seen.push_back(string_of(item, "id"));
    if (page.at("next").is_null()) break;
    target = target_of_link(page.at("next"), base_url());
  }
  BOOST_TEST(pages == (std::vector<std::string>{p1 + "?limit=100", p1 + "?limit=100&offset=100",
                                                p1 + "?limit=100&offset=200"}),
             boost::test_tools::per_element());
  BOOST_TEST(seen.size() == 250u);
  BOOST_TEST(std::set<std::string>(seen.begin(), seen.end()).size() == 250u);
  BOOST_TEST(seen == newest_first, boost::test_tools::per_element());

  // Back along `previous`, from the last page.
  std::vector<std::string> back_pages;
  std::vector<std::vector<std::string>> back_results;
  for (int guard = 0; guard < 10; ++guard) {
    back_pages.push_back(target);
    const reply r = alice.get(target);
    BOOST_TEST_REQUIRE(r.status == 200u, r);
    const json::object page = r.object();
    BOOST_TEST(page.at("count") == 250);
    std::vector<std::string> ids;
    for (const auto& item : page.at("results").as_array()) ids.push_back(string_of(item, "id"));
    back_results.push_back(ids);
    if (page.at("previous").is_null()) break;
    target = target_of_link(page.at("previous"), base_url());
  }
  BOOST_TEST(back_pages == (std::vector<std::string>{p1 + "?limit=100&offset=200", p1 + "?limit=100&offset=100",
                                                     p1 + "?limit=100"}),
             boost::test_tools::per_element());
  std::vector<std::string> rebuilt;
  for (auto it = back_results.rbegin(); it != back_results.rend(); ++it)
    rebuilt.insert(rebuilt.end(), it->begin(), it->end());
  BOOST_TEST(rebuilt == newest_first, boost::test_tools::per_element());

  // The default page is 100, with absolute links built from the listener.
  const reply first = alice.get(p1);
  BOOST_TEST_REQUIRE(first.status == 200u, first);
  const json::object page = first.object();
  BOOST_TEST(page.at("results").as_array().size() == 100u);
  BOOST_TEST(string_of(page, "next") == base_url() + p1 + "?limit=100&offset=100");
  BOOST_TEST(page.at("previous").is_null());

  // A page past the end is empty but still counts everything.
  const reply past = alice.get(p1 + "?offset=1000");
  BOOST_TEST_REQUIRE(past.status == 200u, past);
  BOOST_TEST(past.object().at("count") == 250);
  BOOST_TEST(past.object().at("results") == json::array{});
  BOOST_TEST(past.object().at("next").is_null());

  const reply all = alice.get(p1 + "?limit=1000");
  BOOST_TEST_REQUIRE(all.status == 200u, all);
  BOOST_TEST(all.object().at("results").as_array().size() == 250u);
  BOOST_TEST(all.object().at("next").is_null());

  const reply middle = alice.get(environments_collection(1) + "/?limit=7&offset=3");
  BOOST_TEST_REQUIRE(middle.status == 200u, middle);
  const json::object m = middle.object();
  BOOST_TEST(m.at("results").as_array().size() == 7u);
  BOOST_TEST(string_of(m.at("results").as_array().front(), "id") == newest_first[3]);
  BOOST_TEST(string_of(m, "next") == base_url() + environments_collection(1) + "/?limit=7&offset=10");
  BOOST_TEST(string_of(m, "previous") == base_url() + environments_collection(1) + "/?limit=7");
}

BOOST_AUTO_TEST_CASE(a_bad_limit_or_offset_is_400) {
  auto alice = client(create_key("alice", "*"));
  create_url(alice, p1, "https://one.example.com/mcp");
  for (const std::string value : {"0", "1001", "-1", "abc", "", "1.5", "10x", "99999999999999999999999"}) {
    BOOST_TEST_CONTEXT("limit=" << value) {
      BOOST_TEST(is_validation_error(alice.get(p1 + "?limit=" + value), "invalid", "limit"));
    }
  }
  for (const std::string value : {"-1", "abc", "", "2.0", "99999999999999999999999"}) {
    BOOST_TEST_CONTEXT("offset=" << value) {
      BOOST_TEST(is_validation_error(alice.get(p1 + "?offset=" + value), "invalid", "offset"));
    }
  }
  BOOST_TEST(alice.get(p1 + "?limit=1").status == 200u);
  BOOST_TEST(alice.get(p1 + "?limit=1000&offset=0").status == 200u);
}

BOOST_AUTO_TEST_CASE(the_largest_offset_answers_an_empty_last_page) {
  auto alice = client(create_key("alice", "*"));
  create_url(alice, p1, "https://one.example.com/mcp");
  for (const std::string query : {"?offset=9223372036854775807", "?limit=1000&offset=9223372036854775000"}) {
    BOOST_TEST_CONTEXT(query) {
      const reply r = alice.send("GET", p1 + query);
      BOOST_TEST_REQUIRE(r.status == 200u, r);
      const json::object page = r.object();
      BOOST_TEST(page.at("count") == 1);
      BOOST_TEST(page.at("results") == json::array{});
      BOOST_TEST(page.at("next").is_null());
    }
  }
  // The daemon is still there.
  BOOST_TEST(count_of(alice, p1) == 1);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(concurrency, default_gateway)

BOOST_AUTO_TEST_CASE(concurrent_creates_of_one_url_make_exactly_one_installation) {
  const api_key key = create_key("alice", "*");
  constexpr int clients = 8;
  std::vector<std::unique_ptr<http_connection>> connections;
  for (int i = 0; i < clients; ++i) connections.push_back(std::make_unique<http_connection>(port()));
  const std::string body = R"({"url":"https://race.example.com/mcp","auth_type":"none"})";
  const std::string request = "POST " + p1 + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + key.secret +
                              "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                              "\r\n\r\n" + body;
  // Every request is sent before any answer is read, so they race.
  for (auto& c : connections) BOOST_TEST_REQUIRE(!c->write(request));
  int created = 0, unique = 0;
  for (auto& c : connections) {
    const reply r = c->read();
    if (r.status == 201u) {
      ++created;
    } else {
      BOOST_TEST(is_validation_error(r, "unique", "url"));
      ++unique;
    }
  }
  BOOST_TEST(created == 1);
  BOOST_TEST(unique == clients - 1);
  auto alice = client(key);
  BOOST_TEST(count_of(alice, p1) == 1);

  // Different urls at once all succeed.
  for (int i = 0; i < clients; ++i) {
    const std::string each = R"({"url":"https://race.example.com/)" + std::to_string(i) + R"("})";
    BOOST_TEST_REQUIRE(!connections[static_cast<std::size_t>(i)]->write(
        "POST " + p1 + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + key.secret +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(each.size()) + "\r\n\r\n" + each));
  }
  for (auto& c : connections) BOOST_TEST(c->read().status == 201u);
  BOOST_TEST(count_of(alice, p1) == 1 + clients);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(routing, default_gateway)

BOOST_AUTO_TEST_CASE(a_trailing_slash_is_optional_on_every_route) {
  auto alice = client(create_key("alice", "*"));
  for (const std::string& collection : {p1, environments_collection(1), environments_collection(3)}) {
    BOOST_TEST_CONTEXT(collection) {
      const std::string slash = collection + "/";
      const json::object a = create_url(alice, collection, "https://a.example.com" + collection);
      const json::object b = create_url(alice, slash, "https://b.example.com" + collection);

      const reply without = alice.get(collection);
      const reply with = alice.get(slash);
      BOOST_TEST_REQUIRE(without.status == 200u, without);
      BOOST_TEST_REQUIRE(with.status == 200u, with);
      BOOST_TEST(without.object().at("results") == (json::array{b, a}));
      BOOST_TEST(with.object().at("results") == without.object().at("results"));
      BOOST_TEST(alice.get(slash + "?limit=1").object().at("results").as_array().size() == 1u);

      for (const std::string& item : {item_of(collection, id_of(a)), item_of(collection, id_of(b)) + "/"}) {
        BOOST_TEST_CONTEXT(item) {
          BOOST_TEST(alice.get(item).status == 200u);
          const reply p = alice.patch(item, json::object{{"description", "patched"}});
          BOOST_TEST_REQUIRE(p.status == 200u, p);
          BOOST_TEST(p.object().at("description") == "patched");
          BOOST_TEST(alice.del(item).status == 204u);
          BOOST_TEST(alice.get(item).status == 404u);
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(an_unknown_route_is_404_with_the_not_found_body) {
  auto alice = client(create_key("alice", "*"));
  const std::string id = id_of(create_url(alice, p1, "https://one.example.com/mcp"));
  const json::value not_found =
      json::parse(R"({"type":"invalid_request","code":"not_found","detail":"Not found.","attr":null})");
  for (const std::string& target :
       {std::string("/"), std::string("/api"), std::string("/api/"), std::string("/api/projects/1"),
        std::string("/api/projects/1/"), std::string("/api/projects/1/mcp_server_installation"),
        std::string("/api/projects/1/mcp_servers_installations"),
        std::string("/api/projects/abc/mcp_server_installations"),
        std::string("/api/projects/0/mcp_server_installations"),
        std::string("/api/projects/-1/mcp_server_installations"),
        std::string("/api/projects/1.0/mcp_server_installations"), std::string("/api/teams/1/mcp_server_installations"),
        std::string("/api/projects//mcp_server_installations"),
        std::string("/api/projects/1//mcp_server_installations"),
        std::string("/api/projects/1/mcp_server_installations//"), p1 + "/" + id + "/no/such/thing",
        std::string("/v1/api/projects/1/mcp_server_installations"), std::string("/favicon.ico")}) {
    BOOST_TEST_CONTEXT("GET " << target) {
      const reply r = alice.get(target);
      BOOST_TEST(is_error(r, 404, "invalid_request", "not_found"));
      if (r.status == 404u) BOOST_TEST(r.json() == not_found);
    }
  }
  BOOST_TEST(is_error(alice.post("/api/projects/1/nothing", json::object{{"url", "https://x.example.com/"}}), 404,
                      "invalid_request", "not_found"));
  BOOST_TEST(is_error(alice.send("PUT", "/nothing"), 404, "invalid_request", "not_found"));
}

BOOST_AUTO_TEST_CASE(a_wrong_method_is_405_with_an_allow_header) {
  auto alice = client(create_key("alice", "*"));
  const std::string id = id_of(create_url(alice, p1, "https://one.example.com/mcp"));
  for (const std::string& collection : {p1, p1 + "/", environments_collection(3)}) {
    for (const std::string method : {"PUT", "PATCH", "DELETE", "OPTIONS"}) {
      BOOST_TEST_CONTEXT(method << " " << collection) {
        const reply r = alice.send(method, collection);
        BOOST_TEST(is_error(r, 405, "invalid_request", "method_not_allowed"));
        BOOST_TEST(r.header("Allow") == "GET, POST");
      }
    }
  }
  for (const std::string& item : {item_of(p1, id), item_of(p1, id) + "/"}) {
    for (const std::string method : {"PUT", "POST", "OPTIONS"}) {
      BOOST_TEST_CONTEXT(method << " " << item) {
        const reply r = alice.send(method, item, R"({"display_name":"x"})");
        BOOST_TEST(is_error(r, 405, "invalid_request", "method_not_allowed"));
        BOOST_TEST(r.header("Allow") == "GET, PATCH, DELETE");
      }
    }
  }
  BOOST_TEST(alice.get(item_of(p1, id)).object().at("display_name") == "");
}

BOOST_AUTO_TEST_SUITE_END()
