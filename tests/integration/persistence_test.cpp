// What the daemon keeps on disk: data across a restart, links from the
// configured public URL, and no plaintext key secret in the database.
#include "harness.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>

using namespace mcpgate::it;

namespace {

struct public_url_gateway : gateway {
  public_url_gateway()
      : gateway([] {
          gateway_options o;
          o.public_url = "https://gw.example.test";
          return o;
        }()) {}
};
}  // namespace

BOOST_FIXTURE_TEST_SUITE(persistence, public_url_gateway)

BOOST_AUTO_TEST_CASE(links_are_built_from_the_public_url) {
  auto alice = client(create_key("alice", "*"));
  const json::object o = create_url(alice, p1, "https://one.example.com/mcp");
  create_url(alice, p1, "https://two.example.com/mcp");
  BOOST_TEST(string_of(o, "proxy_url") ==
             "https://gw.example.test/api/environments/1/mcp_server_installations/" + id_of(o) + "/proxy/");
  const reply r = alice.get(p1 + "?limit=1");
  BOOST_TEST_REQUIRE(r.status == 200u, r);
  BOOST_TEST(string_of(r.json(), "next") == "https://gw.example.test" + p1 + "?limit=1&offset=1");
}

BOOST_AUTO_TEST_CASE(installations_and_keys_survive_a_restart) {
  const api_key key = create_key("alice", "*");
  auto alice = client(key);
  const json::object a = create_installation(
      alice, p1, json::object{{"url", "https://a.example.com/mcp"}, {"display_name", "A"}, {"auth_type", "api_key"}});
  const json::object b = create_url(alice, environments_collection(3), "https://b.example.com/mcp");
  const json::object c = create_url(alice, p1, "https://c.example.com/mcp");
  BOOST_TEST_REQUIRE(alice.patch(item_of(p1, id_of(a)), json::object{{"is_enabled", false}}).status == 200u);
  BOOST_TEST_REQUIRE(alice.del(item_of(p1, id_of(c))).status == 204u);
  const json::value list1 = alice.get(p1).json();
  const json::value list3 = alice.get(environments_collection(3)).json();
  const json::value one = alice.get(item_of(p1, id_of(a))).json();
  const std::string secret_key = read_file(data_dir() / "secret.key");
  BOOST_TEST_REQUIRE(!secret_key.empty());

  restart();

  auto again = client(key);
  const reply l1 = again.get(p1);
  BOOST_TEST_REQUIRE(l1.status == 200u, l1);
  BOOST_TEST(l1.json() == list1);
  BOOST_TEST(again.get(environments_collection(3)).json() == list3);
  BOOST_TEST(again.get(item_of(p1, id_of(a))).json() == one);
  BOOST_TEST(again.get(item_of(environments_collection(3), id_of(b))).object() == b);
  BOOST_TEST(again.get(item_of(p1, id_of(c))).status == 404u);
  BOOST_TEST(list1.at("count") == 1);
  BOOST_TEST(read_file(data_dir() / "secret.key") == secret_key);
  // Still writable, and the unique rule still holds.
  BOOST_TEST(is_validation_error(again.post(p1, body_with_url("https://a.example.com/mcp")), "unique", "url"));
  BOOST_TEST(again.post(p1, body_with_url("https://c.example.com/mcp")).status == 201u);
}

BOOST_AUTO_TEST_CASE(the_key_secret_is_never_stored_or_logged_in_plaintext) {
  const api_key key = create_key("alice", "*");
  auto alice = client(key);
  create_url(alice, p1, "https://one.example.com/mcp");
  BOOST_TEST(alice.get(p1).status == 200u);
  BOOST_TEST(anonymous().send("GET", p1, "", {{"Authorization", "Bearer " + key.secret + "x"}}).status == 401u);

  const auto scan = [&](const char* when) {
    BOOST_TEST_CONTEXT(when) {
      std::string all;
      for (const char* name : {"mcpgate.db", "mcpgate.db-wal", "mcpgate.db-shm"}) {
        const std::string bytes = read_file(data_dir() / name);
        BOOST_TEST(bytes.find(key.secret) == std::string::npos, name << " contains the secret");
        // Nor without its prefix.
        BOOST_TEST(bytes.find(key.secret.substr(5)) == std::string::npos, name << " contains the secret");
        all += bytes;
      }
      // The files do hold the key's record (so this scan reads the right files).
      BOOST_TEST(all.find(key.id) != std::string::npos);
    }
  };
  scan("while running");
  BOOST_TEST(process().err().find(key.secret.substr(5)) == std::string::npos);
  BOOST_TEST(process().out().find(key.secret.substr(5)) == std::string::npos);
  stop();
  scan("after stop");

  struct stat st {};
  BOOST_TEST_REQUIRE(::stat((data_dir() / "secret.key").c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 07777) == 0600u);
  BOOST_TEST_REQUIRE(::stat(data_dir().c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 07777) == 0700u);
}

BOOST_AUTO_TEST_SUITE_END()
